"""Shared test configuration.

Fixture modules are ``tests/fixtures_*.py``; each is loaded as a pytest plugin, so an
area's fixtures (the Ollama API double, tiny GGUF files, the live-server option) stay
in their own file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = sorted(f"tests.{p.stem}" for p in Path(__file__).parent.glob("fixtures_*.py"))

# Shared machines are noisy: no per-example deadline; CI runs a fixed, moderate budget.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=200)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=300, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

#: The real server for the ``live`` suite, read before any test isolates the environment.
LIVE_OLLAMA_HOST = os.environ.get("OLLAMA_HOST")


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test (and every CLI subprocess it starts) sees a fresh HOME and state folder and no
    OLLAMA_* or MODELCTL_* variable from the developer's shell: nothing is read from or written
    to the real home, and no test talks to a server it was not given."""
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith(("OLLAMA_", "MODELCTL_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache"), ("XDG_STATE_HOME", ".local/state")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("MODELCTL_STATE_DIR", str(home / "state"))
    yield home
