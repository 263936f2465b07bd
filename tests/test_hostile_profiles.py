"""Class 6 of issue 10: profiles that are valid YAML but absurd.

Deep nesting and huge integers are errors with a position; a wide `extends` fan-out reads each
file once (so it ends quickly) and the number of files, the chain depth and the total size are
bounded, each with its own message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelctl.errors import ProfileError
from modelctl.profile import yamlio
from modelctl.profile.profile import load_profile
from tests.fixtures_double import run_cli
from tests.fixtures_hostile import HANG, assert_refused


def validate(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = run_cli("validate", *args, cwd=tmp_path, env=env, timeout=HANG)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("from: x\nparameters: " + "[" * 900 + "]" * 900 + "\n", "p.yaml:2:77: parameters[0]"),
        ("from: x\nsystem: " + "{a: " * 900 + "1" + "}" * 900 + "\n", "p.yaml:2:"),
        ("from: x\n" + "".join(" " * i + f"k{i}:\n" for i in range(900)) + " " * 900 + "v: 1\n", "p.yaml:67:"),
        ("from: x\nparameters: " + "[" * 100000 + "]" * 100000 + "\n", "p.yaml:2:"),  # libyaml's own bound
    ],
)
def test_nesting_deeper_than_the_cap_is_an_error_with_a_position(tmp_path: Path, text: str, where: str) -> None:
    (tmp_path / "p.yaml").write_text(text)
    proc = run_cli("validate", "p.yaml", cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, where, "nest")


@pytest.mark.parametrize(
    ("value", "digits"),
    [("9" * 4301, "4,301"), ("-" + "1" * 5000, "5,000"), ("0x" + "f" * 20000, "24,083"), ("0o" + "7" * 9000, "8,128")],
)
def test_a_huge_integer_is_an_error_at_its_field(tmp_path: Path, value: str, digits: str) -> None:
    (tmp_path / "p.yaml").write_text(f"from: x\nparameters:\n  num_ctx: {value}\n")
    proc = run_cli("validate", "p.yaml", cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, "p.yaml:3:12: parameters.num_ctx:", digits, "MODELCTL_MAX_INT_DIGITS")


def test_a_huge_integer_as_a_key_or_in_a_list_is_named_too(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("from: x\n? " + "9" * 5000 + "\n: 1\n")  # an explicit key may be long
    assert_refused(run_cli("validate", "p.yaml", cwd=tmp_path, timeout=HANG), 1, "p.yaml:2:3", "unknown key")
    (tmp_path / "q.yaml").write_text("from: x\nlicense: [a, " + "9" * 5000 + "]\n")
    assert_refused(run_cli("validate", "q.yaml", cwd=tmp_path, timeout=HANG), 1, "q.yaml:2:14: license[1]")


def test_an_integer_at_the_cap_is_still_read(tmp_path: Path) -> None:
    assert yamlio.load("n: " + "9" * 4300, "x").data["n"] == int("9" * 4300)
    assert yamlio.reads_as_string("1" * 9000) is False  # written back quoted by `import`


def fan_out(tmp_path: Path, layers: int, width: int) -> Path:
    """``layers`` layers of ``width`` files, each extending every file of the layer below:
    width ** layers paths through the graph, width * layers files."""
    (tmp_path / "l0_0.yaml").write_text("from: llama3.2\nparameters: {top_k: 1}\n")
    below = ["l0_0.yaml"]
    for layer in range(1, layers + 1):
        names = [f"l{layer}_{i}.yaml" for i in range(width)]
        for i, name in enumerate(names):
            extends = ", ".join(below)
            (tmp_path / name).write_text(f"extends: [{extends}]\nparameters: {{top_k: {layer * 100 + i}}}\n")
        below = names
    top = tmp_path / "top.yaml"
    top.write_text(f"extends: [{', '.join(below)}]\n")
    return top


def test_a_wide_fan_out_reads_each_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = fan_out(tmp_path, layers=12, width=6)  # 6**12 (two billion) paths, 73 files
    reads: dict[str, int] = {}
    real = yamlio.read_text

    def counting(path: Path, *, what: str = "profile") -> str:
        reads[str(path)] = reads.get(str(path), 0) + 1
        return real(path, what=what)

    monkeypatch.setattr(yamlio, "read_text", counting)
    loaded = load_profile(str(top))
    assert len(reads) == 74 and set(reads.values()) == {1}
    assert loaded.profile.parameters.as_dict()["top_k"] == 1205  # the last file of the last layer wins
    assert loaded.origins["parameters.top_k"].endswith("l12_5.yaml")
    assert loaded.origins["from"].endswith("l0_0.yaml")


def test_a_wide_fan_out_ends_quickly_through_the_cli(tmp_path: Path) -> None:
    fan_out(tmp_path, layers=30, width=8)  # 8**30 paths, 241 files
    proc = run_cli("validate", "top.yaml", cwd=tmp_path, timeout=HANG)
    assert proc.returncode == 0, proc.stderr


def test_too_many_files_through_extends_is_an_error_at_the_extends_line(tmp_path: Path) -> None:
    fan_out(tmp_path, layers=10, width=8)  # 81 files
    proc = run_cli("validate", "top.yaml", cwd=tmp_path, env={"MODELCTL_MAX_EXTENDS_FILES": "40"}, timeout=HANG)
    assert_refused(proc, 1, "extends: extends reaches more than 40 files (MODELCTL_MAX_EXTENDS_FILES)")


def test_a_chain_deeper_than_the_cap_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "c0.yaml").write_text("from: llama3.2\n")
    for i in range(1, 40):
        (tmp_path / f"c{i}.yaml").write_text(f"extends: c{i - 1}.yaml\n")
    assert_refused(run_cli("validate", "c39.yaml", cwd=tmp_path, timeout=HANG), 1, "extends nests deeper than 32 files")
    assert run_cli("validate", "c31.yaml", cwd=tmp_path, timeout=HANG).returncode == 0  # 32 files: fine
    raised = run_cli("validate", "c39.yaml", cwd=tmp_path, env={"MODELCTL_MAX_EXTENDS_DEPTH": "40"}, timeout=HANG)
    assert raised.returncode == 0, raised.stderr


def test_a_file_reused_deeper_down_still_counts_its_whole_chain(tmp_path: Path) -> None:
    """A file first reached through a short path, then through a long one: the depth of the
    long path counts, though the file is not read again."""
    (tmp_path / "base.yaml").write_text("from: llama3.2\n")
    for i in range(1, 6):
        (tmp_path / f"b{i}.yaml").write_text(f"extends: {'base' if i == 1 else f'b{i - 1}'}.yaml\n")
    (tmp_path / "long.yaml").write_text("extends: b5.yaml\n")
    (tmp_path / "top.yaml").write_text("extends: [b1.yaml, long.yaml]\n")
    proc = run_cli("validate", "top.yaml", cwd=tmp_path, env={"MODELCTL_MAX_EXTENDS_DEPTH": "6"}, timeout=HANG)
    assert_refused(proc, 1, "extends nests deeper than 6 files")


def test_the_total_size_of_a_profile_is_capped(tmp_path: Path) -> None:
    padding = "#" + "x" * 3000 + "\n"
    (tmp_path / "a.yaml").write_text("from: llama3.2\n" + padding)
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n" + padding)
    (tmp_path / "c.yaml").write_text("extends: b.yaml\n" + padding)
    env = {"MODELCTL_MAX_PROFILE_TOTAL_BYTES": "8KiB"}
    assert_refused(run_cli("validate", "c.yaml", cwd=tmp_path, env=env, timeout=HANG), 1, "8,192 bytes together")
    assert run_cli("validate", "b.yaml", cwd=tmp_path, env=env, timeout=HANG).returncode == 0


def test_a_cycle_through_a_fan_out_is_still_named(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: [b.yaml, c.yaml]\nfrom: x\n")
    (tmp_path / "b.yaml").write_text("from: y\n")
    (tmp_path / "c.yaml").write_text("extends: [b.yaml, a.yaml]\n")
    with pytest.raises(ProfileError) as ei:
        load_profile(str(tmp_path / "a.yaml"))
    assert "extends cycle: a.yaml -> c.yaml -> a.yaml" in ei.value.message.replace(str(tmp_path) + "/", "")


def test_set_overrides_do_not_leak_into_a_shared_base(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("from: llama3.2\nparameters: {top_k: 5}\n")
    (tmp_path / "p.yaml").write_text("extends: base.yaml\n")
    assert load_profile(str(tmp_path / "p.yaml"), ("top_k=9",)).profile.parameters.as_dict()["top_k"] == 9
    assert load_profile(str(tmp_path / "p.yaml")).profile.parameters.as_dict()["top_k"] == 5


def test_deep_nesting_in_a_prompts_file(tmp_path: Path, closed_port_url: str) -> None:
    (tmp_path / "p.yaml").write_text("from: llama3.2\n")
    (tmp_path / "prompts.yaml").write_text("- prompt: hi\n  expect: " + "[" * 500 + "]" * 500 + "\n")
    proc = run_cli("compare", "p.yaml", "--prompts", "prompts.yaml", host=closed_port_url, cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, "prompts.yaml:2:", "nested deeper than 64 levels")
