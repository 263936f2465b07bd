"""`modelctl --help` stays light: click and the standard library only (design.md §8)."""

from __future__ import annotations

import os
import subprocess
import sys

HEAVY = ("pydantic", "jinja2", "httpx", "ollama", "yaml", "ruamel", "numpy", "gguf", "rich", "httpcore")


CLI = "import sys; from modelctl.cli import main; sys.argv = ['modelctl', *sys.argv[1:]]; main()"

#: What `modelctl --help` may import beyond `import click`: the group module, and what click
#: itself loads to format help (textwrap, and locale through gettext).
HELP_EXTRA = {"modelctl", "modelctl.cli", "textwrap", "click._textwrap", "locale", "_locale"}


def full_module_names(code: str, *argv: str) -> set[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *argv], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    mods = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "click" in mods  # the parse found real import lines, so an empty set cannot pass
    return mods


def imported_modules(*argv: str) -> set[str]:
    return {name.split(".")[0] for name in full_module_names(CLI, *argv)}


def test_help_imports_only_click_and_the_command_table() -> None:
    """`--help` lists the commands from cli.py's table: no command module, no shutil."""
    baseline = full_module_names("import click")
    extra = full_module_names(CLI, "--help") - baseline
    assert extra <= HELP_EXTRA, sorted(extra - HELP_EXTRA)
    assert {"modelctl", "modelctl.cli"} <= extra


def test_help_imports_no_heavy_dependency() -> None:
    mods = imported_modules("--help")
    assert not (mods & set(HEAVY)), sorted(mods & set(HEAVY))


def test_each_command_help_is_light() -> None:
    from modelctl.cli import COMMANDS

    for name in COMMANDS:
        mods = imported_modules(name, "--help")
        assert not (mods & set(HEAVY)), (name, sorted(mods & set(HEAVY)))


def test_every_registered_command_imports() -> None:
    import importlib

    from modelctl.cli import COMMANDS

    for spec, _summary in COMMANDS.values():
        module, attr = spec.split(":")
        assert getattr(importlib.import_module(module), attr) is not None


def test_inspect_imports_only_what_it_reads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`inspect FILE.gguf` reads a header: no profile model, template engine, HTTP client, YAML or numpy."""
    from tests.fixtures_gguf import write_tiny_llama

    gguf = write_tiny_llama(tmp_path / "tiny.gguf")
    mods = imported_modules("inspect", str(gguf), "--format", "json")
    assert {"modelctl"} <= mods
    full = full_module_names(CLI, "inspect", str(gguf))
    assert {"modelctl.memory.facts", "modelctl.memory.gguf", "modelctl.output.facts"} <= full  # the command really ran
    heavy = {"pydantic", "jinja2", "httpx", "httpcore", "yaml", "numpy", "gguf", "hashlib"}  # hashlib: OpenSSL
    assert not (mods & heavy), sorted(mods & heavy)
