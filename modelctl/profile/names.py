"""Names that forgive typos: what to say when a server has no model of the name given.

The rules live where they belong (``params.suggest`` is the did-you-mean, ``wire`` knows how
Ollama matches model names, ``profile`` where profiles are found); this module puts them
together for a model name a server does not have: the closest models it does have, else the
closest profile name. Advice to pull a model is given only when nothing on the server is
near the name: a typo is never sent to the registry on modelctl's word.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from modelctl.errors import ModelctlError
from modelctl.ollama.wire import listed_names, near_models
from modelctl.profile.params import suggest
from modelctl.profile.profile import profile_names


class OllamaClient(Protocol):
    """What the hints read of a server's client (``modelctl.ollama.server.OllamaClient``): its model list
    and the host as shown. A protocol, so that profiles never import the HTTP layer."""

    @property
    def display_host(self) -> str: ...

    def tags(self) -> Mapping[str, object]: ...


def model_hint(client: OllamaClient, name: str, *, profiles: bool = True) -> str | None:
    """``did you mean 'llama3.2:3b'?`` (or ``... the profile 'creative'?``) for a model ``name`` the
    server at ``client`` does not have; None when nothing is near (or the list cannot be read)."""
    try:
        names = listed_names(client.tags())
    except ModelctlError:
        names = []
    near = near_models(name, names)
    if near:
        return "did you mean " + " or ".join(f"'{n}'" for n in near) + "?"
    if profiles:
        profile = suggest(name, profile_names())
        if profile is not None:
            return f"did you mean the profile '{profile}'?"
    return None


def missing_model_message(client: OllamaClient, name: str, *, pull_advice: str, profiles: bool = True) -> str:
    """``model 'x' not found on HOST`` followed by the did-you-mean, or else by ``pull_advice``."""
    hint = model_hint(client, name, profiles=profiles)
    return f"model '{name}' not found on {client.display_host}: " + (hint if hint is not None else pull_advice)
