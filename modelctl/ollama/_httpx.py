"""httpx and httpcore, without httpx's command-line client.

httpx's package imports its own command-line client (``httpx._main``), which imports rich and
pygments: some 60 ms, and rich on every run that talks to a server, piped or not. modelctl never
uses that client, and rich is for terminals only (output/term.py): the client is marked absent
before httpx is first imported, and httpx falls back to its stub. Import httpx from here.
"""

from __future__ import annotations

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpcore as httpcore  # noqa: E402
import httpx as httpx  # noqa: E402
