"""An output never replaces an input: ``-o`` refuses a file the command read (compared by
identity: through a link or a hard link too), and --save-best and chat's /save refuse an
existing file unless told to replace it (--force, /save!)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from modelctl.jobs.chat import open_chat
from modelctl.output.chat import ChatLoop
from tests.fixtures_compare import invoke
from tests.ollama_double import OllamaDouble

BASE = "name: base\nfrom: llama3.2:3b\nparameters:\n  temperature: 0.3\n"
CHILD = "name: child\nextends: base.yaml\nsystem: Be brief.\n"
TEMPLATE = (Path(__file__).resolve().parent.parent / "templates" / "Modelfile.j2").read_text(encoding="utf-8")
MODELFILE = "FROM llama3.2:3b\nPARAMETER temperature 0.5\n"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    for name, text in {"base.yaml": BASE, "child.yaml": CHILD, "t.j2": TEMPLATE, "Modelfile": MODELFILE}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    os.symlink("base.yaml", tmp_path / "link.yaml")
    os.link(tmp_path / "child.yaml", tmp_path / "hard.yaml")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "output", "read"),
    [
        (("validate", "base.yaml"), "base.yaml", "the profile file"),
        (("validate", "child.yaml"), "base.yaml", "the profile file"),  # its `extends`
        (("validate", "child.yaml"), "link.yaml", "the profile file"),  # a link to its `extends`
        (("validate", "child.yaml"), "hard.yaml", "the profile file"),  # a hard link to it
        (("render", "child.yaml"), "base.yaml", "the profile file"),
        (("render", "child.yaml", "--template", "t.j2"), "t.j2", "the template file"),
        (("import", "Modelfile"), "Modelfile", "the Modelfile"),
        (("explain", "base.yaml"), "base.yaml", "the profile file"),
    ],
)
def test_o_never_overwrites_a_file_the_command_reads(work: Path, args: tuple[str, ...], output: str, read: str) -> None:
    before = {p.name: p.read_bytes() for p in work.iterdir() if p.is_file()}
    r = invoke(*args, "-o", output, cwd=work)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"error: {output}: -o would overwrite {read} "), r.stderr
    assert "that this command reads" in r.stderr
    assert {p.name: p.read_bytes() for p in work.iterdir() if p.is_file()} == before  # nothing replaced


def test_o_writes_a_file_the_command_does_not_read(work: Path) -> None:
    (work / "out.txt").write_text("old report\n", encoding="utf-8")
    r = invoke("validate", "child.yaml", "-o", "out.txt", cwd=work)
    assert r.returncode == 0, r.stderr
    assert (work / "out.txt").read_text(encoding="utf-8") != "old report\n"


def test_build_o_refuses_the_lock_file_it_reads(ollama_double: OllamaDouble, work: Path) -> None:
    ollama_double.install("llama3.2:3b")
    assert invoke("build", "base.yaml", "--lock", "m.lock", host=ollama_double.url, cwd=work).returncode == 0
    lock = (work / "m.lock").read_bytes()
    r = invoke("build", "base.yaml", "--lock", "m.lock", "-o", "m.lock", host=ollama_double.url, cwd=work)
    assert r.returncode == 1 and "-o would overwrite the lock file m.lock" in r.stderr, r.stderr
    assert (work / "m.lock").read_bytes() == lock


def test_save_best_refuses_an_existing_file_unless_forced(built_double: OllamaDouble, chef_dir: Path) -> None:
    precise = chef_dir / "profiles" / "precise.yaml"
    kept = chef_dir / "profiles" / "creative.yaml"
    before = kept.read_bytes()
    args = ("compare", "profiles/precise.yaml", "--prompt", "Soup?", "--sweep", "temperature=0.1,0.9")
    r = invoke(*args, "--save-best", "profiles/creative.yaml", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 1, r.stderr
    assert "profiles/creative.yaml exists: not replaced (to replace it: --force)" in r.stderr
    assert kept.read_bytes() == before and not built_double.state.calls("/api/generate")  # before anything ran
    r = invoke(*args, "--save-best", "profiles/creative.yaml", "--force", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    assert "extends: precise.yaml" in kept.read_text(encoding="utf-8")
    assert precise.exists()
    assert invoke("compare", "precise", "--force", cwd=chef_dir).returncode == 2  # --force needs --save-best


def test_save_best_refuses_the_prompts_file_even_when_forced(built_double: OllamaDouble, chef_dir: Path) -> None:
    before = (chef_dir / "prompts.yaml").read_bytes()
    r = invoke(
        "compare", "profiles/precise.yaml", "--prompts", "prompts.yaml", "--sweep", "temperature=0.1,0.9",
        "--save-best", "prompts.yaml", "--force", host=built_double.url, cwd=chef_dir,
    )  # fmt: skip
    assert r.returncode == 1 and "--save-best would overwrite the prompts file prompts.yaml" in r.stderr, r.stderr
    assert (chef_dir / "prompts.yaml").read_bytes() == before


def test_chat_save_refuses_an_existing_profile_and_save_bang_replaces_it(
    built_double: OllamaDouble, chef_dir: Path
) -> None:
    precise = chef_dir / "profiles" / "precise.yaml"
    before = precise.read_bytes()
    lines = iter(["/set parameter temperature 0.9", f"/save {precise}", f"/save! {precise}"])

    def read(_prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    out = io.StringIO()
    session = open_chat(str(chef_dir / "profiles" / "creative.yaml"), host=built_double.url)
    try:
        ChatLoop(session, read=read, out=out).run()
    finally:
        session.close()
    said = out.getvalue()
    assert f"{precise} exists: not replaced (to replace it: /save! {precise})" in said, said
    assert f"Saved {precise}: creative.yaml with temperature 0.9" in said, said
    assert precise.read_bytes() != before and "extends: creative.yaml" in precise.read_text(encoding="utf-8")


@pytest.mark.parametrize(("command", "fmt"), [("validate", "json"), ("validate", "sarif"), ("explain", "json")])
def test_a_failed_runs_report_never_replaces_an_input(work: Path, command: str, fmt: str) -> None:
    """A run that fails writes its failure report to -o (docs/ci.md), but never over a file it read."""
    (work / "bad.yaml").write_text("name: bad\nfrom: llama3.2:3b\nextends: missing.yaml\n", encoding="utf-8")
    before = (work / "bad.yaml").read_bytes()
    r = invoke(command, "bad.yaml", "--format", fmt, "-o", "bad.yaml", cwd=work)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "-o would overwrite the profile file" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert (work / "bad.yaml").read_bytes() == before


def test_a_failed_render_leaves_its_artifact_unwritten_and_says_so_on_stdout(work: Path) -> None:
    """render's -o FILE is the Modelfile it makes: a failed run writes no envelope there (it goes to stdout)."""
    (work / "bad.yaml").write_text("name: bad\nfrom: llama3.2:3b\nextends: missing.yaml\n", encoding="utf-8")
    r = invoke("render", "bad.yaml", "--format", "json", "-o", "Modelfile.out", cwd=work)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert not (work / "Modelfile.out").exists()
    assert '"ok": false' in r.stdout and "missing.yaml" in r.stderr
