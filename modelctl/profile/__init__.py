"""Profiles: profile files (``profile``: YAML with positions, ``extends``, ``--set``, validation), YAML
1.2 with positions (``yamlio``), the parameter catalogue (``params``), derived profiles (``derive``),
prompts files (``prompts``), host inventories (``inventory``) and model-name suggestions (``names``).

May import: ``modelctl.errors``, ``modelctl.common``, ``modelctl.modelfile.grammar`` and Ollama's wire formats
(``modelctl.ollama.wire``, ``hosts``, ``registry``); never Ollama's network modules (``server``,
``session``, ``_httpx``), never ``modelctl.memory.memory`` or a job, never click or the writers.
Private: the library face is ``modelctl.api``; nothing here is public (``__all__`` is empty).
"""

__all__: list[str] = []
