"""Small shared modules every room may use: bounded file reading and atomic writes (``files``), the caps
on what modelctl reads (``limits``), values written for people (``units``), the events jobs report
(``events``), the one escaping rule for terminal text (``escape``) and what JSON output is, as a type
(``jsontypes``).

May import: ``modelctl.errors`` and Ollama's wire formats (``modelctl.ollama.wire``); nothing that speaks
HTTP, no profile, Modelfile, memory or job module, never click or the writers.
Private: the library face is ``modelctl.api``; nothing here is public (``__all__`` is empty).
"""

__all__: list[str] = []
