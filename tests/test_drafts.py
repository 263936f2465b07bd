"""Several DRAFT lines, as Ollama's parser/parser.go CreateRequest handles them since v0.30.0 (the
release where DRAFT left --experimental): every path is checked (it must exist and must not be a
FROM path) and the files of all of them are sent together as draft_files. Before this, modelctl
kept only the last DRAFT line: an earlier missing path, or one equal to FROM, went unnoticed and
its files were not sent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from modelctl.errors import InvalidInput
from modelctl.jobs.build import assemble
from modelctl.modelfile.grammar import parse_modelfile
from modelctl.modelfile.importer import spec_to_profile_data


def digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def weights(path: Path, fill: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + fill * 64)
    return path


def test_every_draft_line_is_kept_in_order() -> None:
    spec = parse_modelfile("FROM base\nDRAFT ./a.gguf\nDRAFT ./b\nDRAFT ./a.gguf\n")
    assert spec.drafts == ["./a.gguf", "./b", "./a.gguf"]
    assert spec.draft == "./a.gguf"  # the last, what a profile's single `draft` is
    assert [w.code for w in spec.warnings] == []


def test_the_files_of_all_drafts_are_sent_together(tmp_path: Path) -> None:
    model = weights(tmp_path / "m.gguf", b"\x01")
    one = weights(tmp_path / "d1" / "draft.gguf", b"\x02")
    two = weights(tmp_path / "d2" / "draft.gguf", b"\x03")
    spec = parse_modelfile("FROM ./m.gguf\nDRAFT ./d1/draft.gguf\nDRAFT ./d2/draft.gguf\nDRAFT ./d1/draft.gguf\n")
    plan = assemble(spec, name="m", base_dir=tmp_path)
    # keyed relative to the folder holding them all (cmd.createRequestFileNames); the repeat once
    assert plan.request["draft_files"] == {"d1/draft.gguf": digest(one), "d2/draft.gguf": digest(two)}
    assert plan.request["files"] == {"m.gguf": digest(model)}
    assert [b.kind for b in plan.blobs] == ["files", "draft_files", "draft_files"]


def test_an_earlier_draft_must_exist(tmp_path: Path) -> None:
    weights(tmp_path / "m.gguf", b"\x01")
    weights(tmp_path / "d.gguf", b"\x02")
    spec = parse_modelfile("FROM ./m.gguf\nDRAFT ./gone.gguf\nDRAFT ./d.gguf\n")
    with pytest.raises(InvalidInput, match="draft model not found: .*gone.gguf") as info:
        assemble(spec, name="m", base_dir=tmp_path)
    assert info.value.field == "draft"


def test_no_draft_may_be_a_from_path(tmp_path: Path) -> None:
    weights(tmp_path / "m.gguf", b"\x01")
    weights(tmp_path / "d.gguf", b"\x02")
    (tmp_path / "link.gguf").symlink_to(tmp_path / "m.gguf")
    for text in (
        "FROM ./m.gguf\nDRAFT ./link.gguf\nDRAFT ./d.gguf\n",
        "DRAFT ./d.gguf\nDRAFT ./m.gguf\nFROM ./m.gguf\n",
    ):
        with pytest.raises(InvalidInput, match="DRAFT must not reference the same local path as FROM"):
            assemble(parse_modelfile(text), name="m", base_dir=tmp_path)


def test_no_local_files_names_every_draft(tmp_path: Path) -> None:
    spec = parse_modelfile("FROM base\nDRAFT ./a.gguf\nDRAFT ./b.gguf\n")
    plan = assemble(spec, name="m", base_dir=tmp_path, local_files=False)
    assert [(b.kind, b.path.name) for b in plan.blobs] == [("draft_files", "a.gguf"), ("draft_files", "b.gguf")]


def test_import_keeps_the_last_draft_and_says_so(tmp_path: Path) -> None:
    spec = parse_modelfile("FROM base\nDRAFT ./a.gguf\nDRAFT ./b.gguf\n")
    warnings: list = []
    data = spec_to_profile_data(spec, modelfile_dir=tmp_path, output_dir=tmp_path, warnings=warnings)
    assert data["draft"] == "./b.gguf"
    assert [w.code for w in warnings] == ["several_drafts"]
    assert "2 DRAFT lines: Ollama sends the files of all of them" in warnings[0].message


def test_a_template_that_adds_a_draft_line_fails_the_round_trip(tmp_path: Path) -> None:
    from modelctl.errors import CheckFailed
    from modelctl.modelfile.render import render
    from modelctl.profile.profile import load_profile

    weights(tmp_path / "d.gguf", b"\x02")
    weights(tmp_path / "e.gguf", b"\x03")
    (tmp_path / "p.yaml").write_text("from: llama3.2:3b\ndraft: ./d.gguf\n")
    (tmp_path / "t.j2").write_text("FROM {{ from_ }}\nDRAFT ./e.gguf\nDRAFT {{ draft }}\n")  # the profile's is last
    loaded = load_profile(str(tmp_path / "p.yaml"))
    assert "DRAFT" in render(loaded).text  # the shipped template: one DRAFT line, round trip holds
    with pytest.raises(CheckFailed) as info:  # the extra file would be sent: not what the profile says
        render(loaded, template=str(tmp_path / "t.j2"))
    assert info.value.field == "draft"
