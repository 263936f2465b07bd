"""Models and memory: the GGUF reader (``gguf``), model facts from a GGUF file or ``/api/show``
(``facts``), which layers keep a cache and how wide (``layers``), what llama.cpp allocates under
Ollama by version (``memory``), layers on a GPU
(``offload``) and the options a runner really uses (``effective``).

May import: ``modelctl.errors``, ``modelctl.common``, ``modelctl.profile.profile`` and ``modelctl.ollama``;
never a job, never click or the writers.
Private: the library face is ``modelctl.api``; nothing here is public (``__all__`` is empty).
"""

__all__: list[str] = []
