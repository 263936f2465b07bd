"""modelctl: Ollama parameter profiles kept in git.

The package is importable without click; the CLI lives in :mod:`modelctl.cli`.
Heavy dependencies (pydantic, jinja2, httpx, ollama) are imported by the modules
that need them, never here, so that ``modelctl --help`` starts fast.
"""

__version__ = "0.1.0"
