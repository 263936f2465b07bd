"""Ollama: the one place that speaks HTTP (``server``, ``session``, ``_httpx``), the shape of its
answers (``answers``), the types of its requests and answers (``shapes``), its wire formats (``wire``:
Go quoting, float32, names, digests, versions), host addresses (``hosts``), prompt truncation by
version (``truncation``) and registries (``registry``).

May import: ``modelctl.errors``, ``modelctl.common`` and the parameter catalogue
(``modelctl.profile.params``); never a job, never click or the writers. The wire-format modules
(``wire``, ``hosts``, ``answers``, ``truncation``, ``registry``) import no network module, so profiles
and Modelfiles may use them.
Private: the library face is ``modelctl.api``; nothing here is public (``__all__`` is empty).
"""

__all__: list[str] = []
