"""`modelctl --help` stays light: click and the standard library only (design.md §8)."""

from __future__ import annotations

import os
import subprocess
import sys

HEAVY = ("pydantic", "jinja2", "httpx", "ollama", "yaml", "ruamel", "numpy", "gguf", "rich", "httpcore")


def imported_modules(*argv: str) -> set[str]:
    code = "import sys; from modelctl.cli import main; sys.argv = ['modelctl', *sys.argv[1:]]; main()"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *argv], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    mods = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            mods.add(name.split(".")[0])
    assert "click" in mods  # the parse found real import lines, so an empty set cannot pass
    return mods


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
