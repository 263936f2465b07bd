"""Running a profile (or a model) once: the request, the stream, the timings.

``run`` and the ``compare`` run matrix share this module:

* :func:`resolve_target` turns ``PROFILE|MODEL`` into a :class:`Target` — which model to
  call, on which endpoint (chat when the profile has messages, else generate), and what
  travels with each request (only the ``--set``/``--seed`` overrides for a built model;
  the whole profile for ``--ephemeral``).
* :func:`build_request` makes the JSON body for one prompt.
* :func:`run_request` streams it through :class:`modelctl.ollama.server.OllamaClient`, measuring
  time to first token from the request start to the first non-empty chunk.
* :func:`run` is the ``run`` command's job: one prompt, tokens reported as events.
* :func:`too_long` turns the server's refusal of an over-long prompt (``--no-truncate``) into
  one message with the prompt, its length and the context.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelctl.common.events import EventSink, Notice, Token, ignore
from modelctl.common.jsontypes import JSONObject, json_of
from modelctl.errors import Diagnostic, InvalidInput, JobResult, ModelctlError, ServerError
from modelctl.jobs.profiles import load_profile
from modelctl.memory.facts import facts_from_show
from modelctl.ollama.answers import METRIC_KEYS
from modelctl.ollama.hosts import HostRef
from modelctl.ollama.server import ModelNotFound, OllamaClient, PromptTooLong
from modelctl.ollama.session import client_for
from modelctl.ollama.truncation import TRUNCATE_SINCE, knows_truncate, largest_uncut, was_cut
from modelctl.ollama.wire import model_key, parse_parameters
from modelctl.profile.names import missing_model_message, model_hint
from modelctl.profile.params import BY_NAME, check_value, suggest
from modelctl.profile.profile import SET_SOURCE, LoadedProfile, is_profile_ref

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import ChatMessage, ChatRequest, Chunk, GenerateRequest, ShowResponse
    from modelctl.profile.params import Params, ParamValue

# --------------------------------------------------------------------------- targets


@dataclass
class Target:
    """Where one profile's (or model's) requests go and what travels with each of them."""

    ref: str  # as the user wrote it
    label: str  # column name in reports: the profile's name, or the model name
    model: str  # the model the requests name
    ephemeral: bool
    use_chat: bool
    loaded: LoadedProfile | None = None
    system: str | None = None  # sent with every request (ephemeral, or --set system=)
    template: str | None = None  # sent with generate requests (ephemeral, or --set template=)
    messages: list[ChatMessage] = field(default_factory=list)  # prepended (ephemeral only)
    options: Params = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)
    show: ShowResponse | None = None  # /api/show of the model, when fetched

    @property
    def endpoint(self) -> str:
        return "chat" if self.use_chat else "generate"

    @property
    def profile_path(self) -> str | None:
        return str(self.loaded.path) if self.loaded is not None else None

    @property
    def base(self) -> str | None:
        """The base model (profile ``from``, or the show answer's parent)."""
        if self.loaded is not None:
            return str(self.loaded.profile.from_)
        if self.show:
            parent = (self.show.get("details") or {}).get("parent_model")
            if parent:
                return str(parent)
        return None

    def to_dict(self) -> JSONObject:
        return {
            "ref": self.ref,
            "label": self.label,
            "model": self.model,
            "profile": self.profile_path,
            "ephemeral": self.ephemeral,
            "endpoint": self.endpoint,
            "options": self.options,
        }


def parse_model_overrides(overrides: Sequence[str]) -> tuple[Params, dict[str, str]]:
    """``--set`` for a plain model name: ``[parameters.]NAME=VALUE``, ``system=...``, ``template=...``.

    Values are read as YAML-ish scalars (``0.2``, ``true``, ``[a, b]`` for stop) and checked
    against the parameter catalogue. Returns (options, text fields).
    """
    options: Params = {}
    texts: dict[str, str] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"--set expects KEY=VALUE, got {item!r}", field="--set")
        if key in ("system", "template"):
            texts[key] = raw
            continue
        name = key.removeprefix("parameters.")
        param = BY_NAME.get(name)
        if param is None:
            hint = suggest(name)
            extra = f"; did you mean '{hint}'?" if hint else ""
            raise InvalidInput(f"unknown parameter '{name}'{extra}", field=f"--set {key}")
        value = _scalar(raw, param.type, key)
        why = None if param.type in ("bool", "list[str]") else check_value(param, value)
        if why:
            raise InvalidInput(f"{value!r} {why}", field=f"--set {key}")
        options[name] = value
    return options, texts


def _scalar(raw: str, kind: str, key: str) -> ParamValue:
    text = raw.strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            low = text.lower()
            if low in ("true", "false"):
                return low == "true"
            raise ValueError(text)
        # list[str]: a JSON list, or one stop string
        if text.startswith("["):
            value = json.loads(text)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
            raise ValueError(text)
        return [raw]
    except ValueError:
        raise InvalidInput(f"{raw!r} is not a valid {kind}", field=f"--set {key}") from None


def not_built_error(target_ref: str, model: str, host: str) -> ModelNotFound:
    return ModelNotFound(
        f"model '{model}' is not built on {host}: run `modelctl build {target_ref}` first, "
        f"or add --ephemeral to send the profile's settings with each request",
        model=model,
    )


def resolve_target(
    ref: str,
    client: OllamaClient | None,
    *,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    ephemeral: bool = False,
    check_built: bool = True,
    loaded: LoadedProfile | None = None,
) -> Target:
    """Work out where requests for ``ref`` go. Raises ProfileError, InvalidInput or ModelNotFound.

    ``loaded`` skips loading when the caller already has the profile (compare). With a
    ``client`` and ``check_built``, the model is looked up (``Target.show``).
    """
    if loaded is None and is_profile_ref(ref):
        loaded = load_profile(ref, overrides)
    if loaded is None:
        target = _model_target(ref, overrides, seed, ephemeral)
    elif ephemeral:
        target = _ephemeral_target(ref, loaded, seed)
    else:
        target = _built_target(ref, loaded, seed)
    if client is not None and check_built:
        try:
            target.show = client.show(target.model)
        except ModelNotFound:
            raise _missing(ref, target, client) from None
        if loaded is None:  # a model with stored messages is asked through /api/chat
            target.use_chat = bool(target.show.get("messages"))
    return target


def _missing(ref: str, target: Target, client: OllamaClient) -> ModelNotFound:
    """Why the model is missing; a did-you-mean instead of pull advice when a name on the server is near."""
    host = client.display_host
    if target.loaded is None:
        advice = f"pull it (`ollama pull {ref}`) or name a profile"
        return ModelNotFound(missing_model_message(client, ref, pull_advice=advice), model=ref)
    if target.ephemeral:
        hint = model_hint(client, target.model, profiles=False)
        return ModelNotFound(
            f"base model '{target.model}' of {ref} is not on {host}: "
            + (hint or f"pull it (`ollama pull {target.model}`) or build the profile"),
            model=target.model,
        )
    return not_built_error(ref, target.model, host)


def _model_target(ref: str, overrides: Sequence[str], seed: int | None, ephemeral: bool) -> Target:
    """A plain model name: only the ``--set``/``--seed`` overrides travel with the requests."""
    if ephemeral:
        raise InvalidInput(f"--ephemeral needs a profile; {ref!r} is a model name", field="--ephemeral")
    options, texts = parse_model_overrides(overrides)
    if seed is not None:
        options["seed"] = seed
    return Target(ref, ref, ref, False, False, None, texts.get("system"), texts.get("template"), [], options)


def _ephemeral_target(ref: str, loaded: LoadedProfile, seed: int | None) -> Target:
    """The whole profile travels with each request to its base model."""
    prof = loaded.profile
    base_path = prof.base_path()
    if base_path is not None:
        raise InvalidInput(
            f"cannot run --ephemeral: the base model is a local file ({base_path}), which only a "
            f"build can upload; run `modelctl build {ref}` and drop --ephemeral",
            file=str(loaded.path),
            field="from",
        )
    if prof.adapters:
        raise InvalidInput(
            "cannot run --ephemeral: adapters are applied only when the model is built; "
            f"run `modelctl build {ref}` and drop --ephemeral",
            file=str(loaded.path),
            field="adapters",
        )
    options = prof.parameters.as_dict()
    if seed is not None:
        options["seed"] = seed
    messages: list[ChatMessage] = [{"role": m.role, "content": m.content} for m in prof.messages]
    warnings = list(loaded.warnings)
    if messages and prof.template:
        warnings.append(
            Diagnostic(
                "ephemeral_template",
                "/api/chat takes no template: the profile's template is not applied with --ephemeral "
                "(build the profile to use it)",
                str(loaded.path),
                field="template",
            )
        )
    return Target(
        ref,
        prof.name,
        str(prof.from_),
        True,
        bool(messages),
        loaded,
        prof.system,
        prof.template,
        messages,
        options,
        warnings,
    )


def _built_target(ref: str, loaded: LoadedProfile, seed: int | None) -> Target:
    """A built model: the server already holds the profile's settings; send only overrides."""
    prof = loaded.profile
    origins = loaded.origins
    options = {k: v for k, v in prof.parameters.as_dict().items() if origins.get(f"parameters.{k}") == SET_SOURCE}
    if seed is not None:
        options["seed"] = seed
    system = prof.system if origins.get("system") == SET_SOURCE else None
    template = prof.template if origins.get("template") == SET_SOURCE else None
    use_chat = bool(prof.messages)
    warnings = list(loaded.warnings)
    if use_chat and template is not None:
        warnings.append(
            Diagnostic("chat_template", "/api/chat takes no template: --set template is ignored", field="template")
        )
    return Target(ref, prof.name, prof.name, False, use_chat, loaded, system, template, [], options, warnings)


# --------------------------------------------------------------------------- one request


def build_request(
    target: Target,
    prompt: str,
    *,
    system: str | None = None,
    seed: int | None = None,
    stream: bool = True,
    truncate: bool = True,
) -> GenerateRequest | ChatRequest:
    """The JSON body for one prompt. ``system`` (a prompts-file override) beats the target's.
    ``truncate=False`` asks the server to refuse a prompt longer than the context instead of
    cutting it (``shift`` is left alone: it also changes long generations, and the runner)."""
    options = dict(target.options)
    if seed is not None:
        options["seed"] = seed
    sys_text = system if system is not None else target.system
    body: GenerateRequest | ChatRequest
    if target.use_chat:
        # Like Ollama's ChatHandler: the history first, the system prompt in front of it
        # unless the history already opens with one (an override replaces that one).
        history = [m.copy() for m in target.messages]
        opens_with_system = bool(history) and history[0]["role"] == "system"
        if system is not None and opens_with_system:
            history = history[1:]
            opens_with_system = False
        messages: list[ChatMessage] = []
        if sys_text and not opens_with_system:
            messages.append({"role": "system", "content": sys_text})
        messages += history
        messages.append({"role": "user", "content": prompt})
        body = {"model": target.model, "stream": stream, "messages": messages}
    else:
        generate: GenerateRequest = {"model": target.model, "stream": stream, "prompt": prompt}
        if sys_text:
            generate["system"] = sys_text
        if target.template:
            generate["template"] = target.template
        body = generate
    if options:
        body["options"] = options
    if not truncate:
        body["truncate"] = False
    return body


@dataclass
class RunResult:
    """One finished (or interrupted) generation with its metrics."""

    endpoint: str
    model: str
    text: str = ""
    thinking: str = ""
    done: bool = False
    done_reason: str | None = None
    metrics: dict[str, int] = field(default_factory=dict)
    ttft_s: float | None = None  # request start -> first non-empty chunk
    wall_s: float = 0.0  # request start -> last chunk
    chunks: int = 0

    @property
    def eval_count(self) -> int | None:
        return self.metrics.get("eval_count")

    @property
    def tokens_per_s(self) -> float | None:
        n, d = self.metrics.get("eval_count"), self.metrics.get("eval_duration")
        return n / d * 1e9 if n and d else None

    @property
    def prompt_tokens_per_s(self) -> float | None:
        n, d = self.metrics.get("prompt_eval_count"), self.metrics.get("prompt_eval_duration")
        return n / d * 1e9 if n and d else None

    @property
    def load_s(self) -> float | None:
        ld = self.metrics.get("load_duration")
        return ld / 1e9 if ld is not None else None

    def to_dict(self) -> JSONObject:
        return {
            "model": self.model,
            "endpoint": self.endpoint,
            "response": self.text,
            "thinking": self.thinking or None,
            "done": self.done,
            "done_reason": self.done_reason,
            "metrics": {k: self.metrics.get(k) for k in METRIC_KEYS},
            "ttft_ms": None if self.ttft_s is None else round(self.ttft_s * 1000, 3),
            "wall_ms": round(self.wall_s * 1000, 3),
            "tokens_per_s": _round(self.tokens_per_s),
            "prompt_tokens_per_s": _round(self.prompt_tokens_per_s),
        }


def _round(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


def run_request(
    client: OllamaClient,
    body: GenerateRequest | ChatRequest,
    *,
    on_token: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    result: RunResult | None = None,
) -> RunResult:
    """Send one request and consume its stream. Errors propagate (ServerError / ServerUnreachable).

    Pass ``result`` to keep what arrived when the stream is interrupted (Ctrl-C).
    """
    chat = "messages" in body
    res = result if result is not None else RunResult("chat" if chat else "generate", str(body.get("model")))
    res.endpoint = "chat" if chat else "generate"
    res.model = str(body.get("model"))
    text_parts: list[str] = []
    think_parts: list[str] = []
    start = clock()
    stream: Iterator[Chunk] = client.chat(body) if "messages" in body else client.generate(body)
    try:
        for chunk in stream:
            res.chunks += 1
            piece, thought = _pieces(chunk, chat)
            if (piece or thought) and res.ttft_s is None:
                res.ttft_s = clock() - start
            if piece:
                text_parts.append(piece)
                if on_token is not None:
                    on_token(piece)
            if thought:
                think_parts.append(thought)
            if chunk.get("done"):
                _finish(res, chunk)
    finally:
        res.wall_s = clock() - start
        res.text = "".join(text_parts)
        res.thinking = "".join(think_parts)
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return res


def _pieces(chunk: Chunk, chat: bool) -> tuple[str, str]:
    """(answer text, thinking text) of one streamed chunk (server.py checked their types)."""
    if chat:
        message = chunk.get("message") or {}
        return message.get("content") or "", message.get("thinking") or ""
    return chunk.get("response") or "", chunk.get("thinking") or ""


def _finish(res: RunResult, chunk: Chunk) -> None:
    res.done = True
    res.done_reason = chunk.get("done_reason") or None
    for k in METRIC_KEYS:
        v = chunk.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            res.metrics[k] = int(v)


# --------------------------------------------------------------------------- over-long prompts


def require_truncate(client: OllamaClient, what: str = "--no-truncate") -> str:
    """The server's version when it honours ``truncate: false``; ServerError for an older one
    (``what`` names what needs it)."""
    version = client.version()
    if not knows_truncate(version):
        raise ServerError(
            f"Ollama at {client.display_host} is version {version}, which ignores `truncate` (added in "
            f"{TRUNCATE_SINCE}) and cuts an over-long prompt without a word: upgrade Ollama to use {what}"
        )
    return version


def running_context(client: OllamaClient, model: str) -> int | None:
    """The context the loaded runner of ``model`` uses (``/api/ps`` ``context_length``), or None."""
    try:
        ps = client.ps()
    except ModelctlError:
        return None
    for entry in ps.get("models") or []:
        name, ctx = entry.get("name") or entry.get("model"), entry.get("context_length")
        if isinstance(name, str) and model_key(name) == model_key(model) and isinstance(ctx, int):
            return ctx
    return None


def context_settings(target: Target) -> tuple[int | None, int]:
    """(num_ctx, num_keep) a target's requests run with as far as modelctl knows: the request's
    options, else the model's stored parameters (num_ctx capped at the trained context; None
    when the server picks it), num_keep defaulting to Ollama's 4."""
    show = target.show or {}
    stored = parse_parameters(show.get("parameters")) if isinstance(show.get("parameters"), str) else {}
    values = {**stored, **target.options}
    num_ctx, num_keep = values.get("num_ctx"), values.get("num_keep")
    trained = facts_from_show(show).context_trained if show else None
    if isinstance(num_ctx, int) and trained:
        num_ctx = min(num_ctx, trained)
    return (num_ctx if isinstance(num_ctx, int) else None), (num_keep if isinstance(num_keep, int) else 4)


def cut_note(count: int | None, num_ctx: int | None, num_keep: int, version: str | None) -> str | None:
    """What a ``prompt_eval_count`` that shows a cut prompt means, or None (no sign of a cut)."""
    if count is None or num_ctx is None or not was_cut(count, num_ctx, num_keep, version):
        return None
    # Up to 0.30.10 a cut prompt is as long as the longest uncut one: the count cannot tell them apart.
    exact = ", unless it was exactly that long" if count == largest_uncut(num_ctx, version) else ""
    return (
        f"the server cut the prompt to fit the context{exact}: prompt_eval_count {count} is what Ollama keeps of "
        f"a longer prompt with num_ctx {num_ctx} (num_keep {num_keep}, then the latter part); --no-truncate makes "
        "it an error instead"
    )


def too_long(
    exc: PromptTooLong, prompt: str, host: str, *, label: str | None = None, context: int | None = None
) -> PromptTooLong:
    """The server's refusal of an over-long prompt as one message: which prompt, its length
    (characters, and tokens when the server counted them), the context (the server's figure,
    else ``context``), and what to do."""
    text = " ".join(prompt.split())
    shown = label or repr(text if len(text) <= 40 else text[:39] + "…")
    tokens = exc.refusal.prompt_tokens
    length = f"{len(prompt):,} characters" + (f", {tokens:,} tokens by the server's count" if tokens else "")
    ctx = exc.refusal.context or context
    where = f"the context of {ctx:,} tokens" if ctx else "the model's context"
    return PromptTooLong(
        f"prompt {shown} ({length}) is longer than {where}: the server refused it instead of cutting it "
        f"(--no-truncate); shorten the prompt or raise num_ctx (HTTP {exc.status} from {host})",
        refusal=exc.refusal,
        status=exc.status,
    )


def prompt_cut(client: OllamaClient, target: Target, result: RunResult) -> str | None:
    """Why ``result``'s ``prompt_eval_count`` shows a cut prompt, or None. The running context
    (``/api/ps``) stands in for a num_ctx the server picked, and the server's version is asked
    only when the count is one a cut could leave."""
    count = result.metrics.get("prompt_eval_count")
    num_ctx, num_keep = context_settings(target)
    if count is None:
        return None
    if num_ctx is None:
        num_ctx = running_context(client, target.model)
    if cut_note(count, num_ctx, num_keep, None) is None:
        return None
    try:
        version: str | None = client.version()
    except ModelctlError:
        version = None
    return cut_note(count, num_ctx, num_keep, version)


# --------------------------------------------------------------------------- the job


@dataclass
class RunReport(JobResult):
    """One ``run``: where the prompt went, the exact request, and what came back."""

    target: Target
    request: GenerateRequest | ChatRequest
    result: RunResult
    warnings: list[Diagnostic] = field(default_factory=list)

    def to_dict(self) -> JSONObject:
        return {"target": self.target.to_dict(), "request": json_of(self.request), **self.result.to_dict()}


@dataclass(kw_only=True, frozen=True)
class RunOptions:
    """Every setting of ``run`` and of a chat (``open_chat``), once."""

    ephemeral: bool = False  # send the profile's settings to its base model (no build needed)
    overrides: Sequence[str] = ()  # --set values
    seed: int | None = None  # the sampler's seed (default: the profile's, else random)
    truncate: bool = True  # False (--no-truncate): a prompt longer than the context is PromptTooLong, not cut


def run(
    ref: str,
    prompt: str,
    options: RunOptions | None = None,
    *,
    host: HostRef = None,
    timeout: float | None = None,
    on_event: EventSink = ignore,
) -> RunReport:
    """Generate an answer to ``prompt`` with PROFILE's model (or a plain model), streaming
    ``Token`` events. The target's warnings come first as ``Notice`` events (and in the report).
    ``options.truncate=False`` (``--no-truncate``): a prompt longer than the context is a
    :class:`PromptTooLong` error instead of being cut by the server.

    KeyboardInterrupt propagates; what streamed until then was already reported as tokens.
    """
    o = options or RunOptions()
    if not prompt.strip():
        raise InvalidInput("the prompt is empty", field="PROMPT")
    with client_for(host, timeout) as client:
        if not o.truncate:
            require_truncate(client)
        target = resolve_target(ref, client, overrides=o.overrides, seed=o.seed, ephemeral=o.ephemeral)
        request = build_request(target, prompt, truncate=o.truncate)
        for w in target.warnings:
            on_event(Notice(w))
        result = RunResult(target.endpoint, target.model)
        try:
            run_request(client, request, on_token=lambda piece: on_event(Token(piece)), result=result)
        except PromptTooLong as exc:
            context = running_context(client, target.model)
            raise too_long(exc, prompt, client.display_host, context=context) from None
        report = RunReport(target, request, result, list(target.warnings))
        cut = prompt_cut(client, target, result)
        if cut is not None:
            report.warnings.append(Diagnostic("prompt_truncated", cut))
    if result.done_reason == "length":
        report.warnings.append(
            Diagnostic(
                "truncated", "the answer stopped at the token limit (done_reason=length; see num_predict/num_ctx)"
            )
        )
    return report
