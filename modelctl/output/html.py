"""HTML pages from the Jinja templates shipped in ``modelctl/output/templates`` (autoescape on).

The writers prepare the data (numbers formatted, chart geometry computed); the markup and its
CSS live in the templates, readable and changeable in one place. Every page is self-contained:
inline CSS and SVG, no script, and a Content-Security-Policy that forbids every fetch.
jinja2 is imported on the first page rendered, never for text or JSON output.
"""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent / "templates"

_BACKTICKS = re.compile(r"`([^`\n]+)`")


def _code(text: object) -> Any:
    """Text with ``code`` spans written as <code> (escaped first: nothing else becomes markup)."""
    from markupsafe import Markup, escape

    return Markup(_BACKTICKS.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(str(text)))))


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["code"] = _code
    return env


def render_page(name: str, **context: Any) -> str:
    """The template ``name`` rendered with ``context`` (and ``generated``, the time in UTC)."""
    context.setdefault("generated", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    return str(_environment().get_template(name).render(**context))
