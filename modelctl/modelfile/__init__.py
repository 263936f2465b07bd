"""Modelfiles: Ollama's grammar exactly (``grammar``: parse, ``CreateRequest`` semantics, quoting), the
sandboxed Jinja render and its round-trip proof (``render``, ``sandbox``), Go's template check
(``gotemplate``) and Modelfile -> profile import (``importer``).

May import: ``modelctl.errors``, ``modelctl.common``, ``modelctl.profile.profile`` and Ollama's wire formats
(``modelctl.ollama.wire``); never Ollama's network modules, never ``modelctl.memory.memory`` or a job, never
click or the writers.
Private: the library face is ``modelctl.api``; nothing here is public (``__all__`` is empty).
"""

__all__: list[str] = []
