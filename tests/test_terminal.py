"""Output on a terminal is drawn by rich (tables, coloured diagnostics); output to a pipe, a file
or in JSON never imports rich; NO_COLOR turns colour off."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures_double import cli_env
from tests.fixtures_pty import RICH_PROBE, PtyProcess, plain


def _rich_when_piped(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "rich-modules.txt"
    env = cli_env(None, {"TERM": "xterm-256color"})
    env.pop("NO_COLOR", None)
    subprocess.run(
        [sys.executable, "-c", RICH_PROBE, str(out), *args], env=env, cwd=tmp_path, capture_output=True, timeout=60
    )
    return out.read_text(encoding="utf-8")


def _rich_on_a_terminal(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    out = tmp_path / "rich-modules.txt"
    full = cli_env(None, {"TERM": "xterm-256color", **(env or {})})
    if "NO_COLOR" not in (env or {}):
        full.pop("NO_COLOR", None)
    p = PtyProcess([sys.executable, "-c", RICH_PROBE, str(out), *args], env=full, cwd=tmp_path)
    p.wait()
    return out.read_text(encoding="utf-8"), p.output


def test_piped_and_json_output_never_import_rich(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("from: x\nparameters: {temprature: 1}\n", encoding="utf-8")
    assert _rich_when_piped(tmp_path, "params") == ""
    assert _rich_when_piped(tmp_path, "validate", "bad.yaml") == ""
    loaded, _ = _rich_on_a_terminal(tmp_path, "params", "--format", "json")
    assert loaded == ""


def test_a_terminal_gets_rich_tables_and_coloured_diagnostics(tmp_path: Path) -> None:
    loaded, out = _rich_on_a_terminal(tmp_path, "params")
    assert "rich.table" in loaded.split()
    text = plain(out)
    assert "─" in text and "-----" not in text  # rich's rule under the header, not the plain one
    assert "\x1b[1m" in out  # a bold header
    (tmp_path / "bad.yaml").write_text("from: x\nparameters: {temprature: 1}\n", encoding="utf-8")
    _, out = _rich_on_a_terminal(tmp_path, "validate", "bad.yaml")
    assert "\x1b[1;31merror\x1b[0m: bad.yaml:2:14" in out


#: An SGR escape that sets a colour (30-37, 38;..., 90-97): what NO_COLOR forbids (bold is not a colour).
_COLOUR = re.compile(r"\x1b\[(?:[0-9]+;)*(?:3[0-8]|9[0-7])(?:;[0-9]+)*m")


def test_no_color_keeps_a_terminal_without_colour(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("from: x\nparameters: {temprature: 1}\n", encoding="utf-8")
    _, out = _rich_on_a_terminal(tmp_path, "validate", "bad.yaml", env={"NO_COLOR": "1"})
    assert "\x1b[" not in out and "error: bad.yaml:2:14" in out
    _, out = _rich_on_a_terminal(tmp_path, "params", env={"NO_COLOR": "1"})
    assert not _COLOUR.search(out) and "─" in out


def test_shell_completion_offers_commands_and_profile_names(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "creative.yaml").write_text("from: llama3.2:3b\n", encoding="utf-8")

    def complete(words: str, cword: int) -> list[str]:
        env = cli_env(None, {"_MODELCTL_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
        r = subprocess.run([sys.executable, "-m", "modelctl"], env=env, cwd=tmp_path, capture_output=True, text=True)
        return r.stdout.splitlines()

    assert complete("modelctl bu", 1) == ["plain,build"]
    for command in ("build", "plan", "validate", "render", "show", "run", "compare", "estimate", "explain", "probe"):
        assert "plain,creative" in complete(f"modelctl {command} cre", 2), command
    assert "plain,--dry-run" in complete("modelctl rm --dr", 2)


def test_params_keeps_whole_columns_when_piped(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "modelctl", "params"], env=cli_env(None, {"COLUMNS": "60"}), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0 and "…" not in r.stdout
    assert "Sampling temperature" in r.stdout or max(len(line) for line in r.stdout.splitlines()) > 60
