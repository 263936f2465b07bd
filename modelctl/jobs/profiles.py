"""Profiles as the jobs load them: the profile room's loader, then what the base model's facts add
(``num_ctx_above_trained``: a num_ctx above a local GGUF's trained context, read from its header by
``modelctl.memory.facts``). Every job that loads a profile goes through here, so every command that
shows a profile's warnings shows that one too, in text and in JSON ``warnings``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from modelctl.errors import Diagnostic
from modelctl.modelfile import render as _render
from modelctl.modelfile.render import Rendered
from modelctl.profile import profile as _profile
from modelctl.profile.profile import LoadedProfile


def load_profile(
    ref: str, overrides: Sequence[str] = (), *, text: str | None = None, local_files: bool = True
) -> LoadedProfile:
    """:func:`modelctl.profile.profile.load_profile` with the warnings the base model's facts add."""
    loaded = _profile.load_profile(ref, overrides, text=text, local_files=local_files)
    loaded.warnings += _trained_context_warnings(loaded)
    return loaded


def render_profile(
    ref: str,
    overrides: Sequence[str] = (),
    *,
    template: str | None = None,
    target_dir: Path | None = None,
    local_files: bool = True,
) -> Rendered:
    """:func:`modelctl.modelfile.render.render_profile` with the warnings the base model's facts add."""
    rendered = _render.render_profile(ref, overrides, template=template, target_dir=target_dir, local_files=local_files)
    rendered.loaded.warnings += _trained_context_warnings(rendered.loaded)
    return rendered


def _trained_context_warnings(loaded: LoadedProfile) -> list[Diagnostic]:
    """:func:`modelctl.memory.facts.trained_context_warnings`; its module (GGUF headers) is loaded only
    for a profile whose base is a local file: a model name has no header to read."""
    if loaded.profile.base_path() is None:
        return []
    from modelctl.memory.facts import trained_context_warnings

    return trained_context_warnings(loaded)
