"""A chat with one profile's model (``run`` without a prompt on a terminal): the core of it.

A :class:`ChatSession` keeps the conversation (every finished turn), the settings changed
during the session (``/set parameter``, ``/set system``, as ``ollama run`` has them) and the
target from :func:`modelctl.jobs.run.resolve_target`. One turn is one streamed ``/api/chat``
request through :func:`modelctl.jobs.run.run_request`. ``/save`` derives a profile with
:func:`modelctl.profile.derive.derive_profile`. No terminal I/O here: the loop that reads lines and
prints tokens is ``modelctl/output/chat.py``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

from modelctl.errors import Diagnostic, InvalidInput, ModelctlError
from modelctl.jobs.run import (
    RunOptions,
    RunResult,
    Target,
    build_request,
    require_truncate,
    resolve_target,
    run_request,
    running_context,
    too_long,
)
from modelctl.ollama.server import OllamaClient, PromptTooLong
from modelctl.ollama.wire import float32_shortest, go_parse_bool, go_parse_float32, go_parse_int, parse_parameters
from modelctl.profile.derive import DerivedProfile, derive_profile
from modelctl.profile.params import BY_NAME, REMOVED_BY_NAME, check_value, removed_message, suggest

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import ChatMessage, ChatRequest, GenerateRequest
    from modelctl.profile.params import Params, ParamValue


def parse_setting(name: str, words: Sequence[str]) -> ParamValue:
    """``/set parameter NAME VALUE...`` as ``ollama run`` reads it (Ollama's number and bool
    syntax; ``stop`` takes several words), checked against the parameter catalogue."""
    param = BY_NAME.get(name)
    if param is None:
        if name in REMOVED_BY_NAME:
            raise InvalidInput(removed_message(name), field=name)
        hint = suggest(name)
        raise InvalidInput(f"unknown parameter '{name}'" + (f" (did you mean '{hint}'?)" if hint else ""), field=name)
    if not words:
        raise InvalidInput(f"{name} needs a value", field=name)
    if param.type == "list[str]":
        return list(words)
    if len(words) != 1:
        raise InvalidInput(f"{name} takes one value, got {len(words)}", field=name)
    readers: dict[str, Callable[[str], int | float | bool | None]] = {
        "int": go_parse_int,
        "float": go_parse_float32,
        "bool": go_parse_bool,
    }
    value = readers[param.type](words[0])
    if value is None:
        raise InvalidInput(f"invalid {param.type} value [{words[0]}]", field=name)
    problem = check_value(param, value) if param.type != "bool" else None
    if problem:
        raise InvalidInput(f"{words[0]} {problem}", field=name)
    # A float as the shortest text of its float32 (0.3, not 0.30000001192092896): what Ollama
    # keeps, and what a saved profile should say.
    return float32_shortest(value) if param.type == "float" else value


@dataclass
class ChatSession:
    """One conversation with ``target`` through ``client``; see the module docstring."""

    client: OllamaClient
    target: Target
    history: list[ChatMessage] = field(default_factory=list)
    options: Params = field(default_factory=dict)  # set during the session
    system: str | None = None  # set during the session (None: the model's or the profile's)
    truncate: bool = True  # False (--no-truncate): an over-long conversation is an error, not cut

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ChatSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def warnings(self) -> list[Diagnostic]:
        return self.target.warnings

    # -- settings ------------------------------------------------------------------------------

    def set_parameter(self, name: str, words: Sequence[str]) -> ParamValue:
        """Set a parameter for the rest of the session; its typed value."""
        value = parse_setting(name, words)
        self.options[name] = value
        return value

    def set_system(self, text: str) -> None:
        self.system = text

    def clear(self) -> None:
        """Forget the conversation (the settings stay)."""
        self.history.clear()

    def model_parameters(self) -> Params:
        """The parameters stored with the model (``/api/show``), as ``/show parameters`` lists them."""
        return parse_parameters((self.target.show or {}).get("parameters"))

    def user_parameters(self) -> Params:
        """What this session sends with each request: ``--set``/``--seed`` and ``/set parameter``."""
        return {**self.target.options, **self.options}

    def system_prompt(self) -> str:
        """The system prompt in force: set in the session, else the profile's or the model's."""
        if self.system is not None:
            return self.system
        return self.target.system or str((self.target.show or {}).get("system") or "")

    # -- a turn --------------------------------------------------------------------------------

    def request(self, prompt: str) -> GenerateRequest | ChatRequest:
        """The ``/api/chat`` body of the next turn: the history, then ``prompt``."""
        turn = dataclasses.replace(
            self.target,
            use_chat=True,
            messages=[*self.target.messages, *self.history],
            options=self.user_parameters(),
        )
        return build_request(turn, prompt, system=self.system, truncate=self.truncate)

    def send(self, prompt: str, on_token: Callable[[str], None] | None = None) -> RunResult:
        """One turn, streamed. A finished answer joins the history; an interrupted one does not
        (Ctrl-C: KeyboardInterrupt propagates, and the question stays, as in ``ollama run``); a
        turn the server failed leaves no trace (ModelctlError propagates)."""
        if not prompt.strip():
            raise InvalidInput("the message is empty")
        body = self.request(prompt)
        self.history.append({"role": "user", "content": prompt})
        try:
            result = run_request(self.client, body, on_token=on_token)
        except PromptTooLong as exc:
            self.history.pop()
            context = running_context(self.client, self.target.model)
            raise too_long(exc, prompt, self.client.display_host, label="the conversation", context=context) from None
        except ModelctlError:
            self.history.pop()
            raise
        self.history.append({"role": "assistant", "content": result.text})
        return result

    # -- /save ---------------------------------------------------------------------------------

    def derive(self, path: str | os.PathLike[str], *, replace: bool = False) -> DerivedProfile:
        """The session's settings as a profile at ``path`` (extending the profile the chat began
        with, or built on the model): only what differs. Written by :meth:`DerivedProfile.save`;
        an existing file only with ``replace`` (``/save! FILE``)."""
        loaded = self.target.loaded
        return derive_profile(
            loaded,
            path,
            parameters=self.user_parameters(),
            system=self.system,
            from_model=None if loaded is not None else self.target.model,
            replace=replace,
            replace_hint=f"/save! {path}",
        )


def open_chat(
    ref: str,
    options: RunOptions | None = None,
    *,
    host: str | None = None,
    timeout: float | None = None,
) -> ChatSession:
    """A chat with PROFILE's model (or a plain model), with ``run``'s options: the target resolved
    and looked up on the server (ModelNotFound, with a did-you-mean, when it is not there). Close it
    when done."""
    o = options or RunOptions()
    client = OllamaClient(host, timeout=timeout)
    try:
        if not o.truncate:
            require_truncate(client)
        target = resolve_target(ref, client, overrides=o.overrides, seed=o.seed, ephemeral=o.ephemeral)
    except BaseException:
        client.close()
        raise
    return ChatSession(client, target, truncate=o.truncate)
