"""``render -o FILE`` and ``import -o FILE`` make a file (a Modelfile, a profile): with
``--format json`` the file still gets it, and the JSON envelope goes to stdout."""

from __future__ import annotations

import json
from pathlib import Path

from modelctl.profile.profile import load_profile
from tests.fixtures_double import run_cli


def test_import_json_writes_the_profile_to_the_file_and_the_envelope_to_stdout(tmp_path: Path) -> None:
    (tmp_path / "Modelfile").write_text('FROM base:tiny\nSYSTEM """Say "hi"."""\nPARAMETER top_k 3\n')
    proc = run_cli("import", "Modelfile", "-o", "mine.yaml", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["command"] == "import" and doc["data"]["output"] == "mine.yaml"
    written = (tmp_path / "mine.yaml").read_text(encoding="utf-8")
    assert written == doc["data"]["profile"]
    prof = load_profile(str(tmp_path / "mine.yaml")).profile
    assert prof.from_ == "base:tiny" and prof.system == 'Say "hi".' and prof.parameters.as_dict()["top_k"] == 3


def test_render_json_writes_the_modelfile_to_the_file_and_the_envelope_to_stdout(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("name: p\nfrom: base:tiny\nparameters: {temperature: 0.5}\n")
    proc = run_cli("render", "p.yaml", "-o", "Modelfile", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    written = (tmp_path / "Modelfile").read_text(encoding="utf-8")
    assert written == doc["data"]["modelfile"] and "PARAMETER temperature 0.5\n" in written


def test_a_failed_import_writes_no_file(tmp_path: Path) -> None:
    (tmp_path / "Modelfile").write_text("PARAMETER top_k 3\n")  # no FROM
    proc = run_cli("import", "Modelfile", "-o", "mine.yaml", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1 and json.loads(proc.stdout)["ok"] is False
    assert not (tmp_path / "mine.yaml").exists()
