"""Jobs: each command's work as a function that takes typed input and returns a typed result (build,
fleet, plan, drift, lock, show, housekeeping, validate, lint, run, chat, compare with its table, matrix
and sweep, probe, explain, estimate, residency, model import). They never print and never pick an exit
code.

May import: every core room (``modelctl.errors``, ``common``, ``profile``, ``modelfile``, ``ollama``,
``memory``); never ``modelctl.api``, click, the commands or the writers.
Private: the library face is ``modelctl.api``; nothing here is public (``__all__`` is empty).
"""

__all__: list[str] = []
