"""Shared test configuration.

Fixture modules are ``tests/fixtures_*.py``; each is loaded as a pytest plugin, so an
area's fixtures (the Ollama API double, tiny GGUF files, the live-server option) stay
in their own file.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

pytest_plugins = sorted(f"tests.{p.stem}" for p in Path(__file__).parent.glob("fixtures_*.py"))

# Shared machines are noisy: no per-example deadline; CI runs a fixed, moderate budget.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=200)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=300, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")
