"""Running a profile (or a model) once: the request, the stream, the timings.

``run`` and the ``compare`` run matrix share this module:

* :func:`resolve_target` turns ``PROFILE|MODEL`` into a :class:`Target` — which model to
  call, on which endpoint (chat when the profile has messages, else generate), and what
  travels with each request (only the ``--set``/``--seed`` overrides for a built model;
  the whole profile for ``--ephemeral``).
* :func:`build_request` makes the JSON body for one prompt.
* :func:`execute` streams it through :class:`modelctl.server.OllamaClient`, measuring time
  to first token from the request start to the first non-empty chunk.

Heavy modules (httpx via server.py, pydantic via profile.py) are imported lazily.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelctl.errors import Diagnostic, InvalidInput, ServerError

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.profile import LoadedProfile
    from modelctl.server import OllamaClient

METRIC_KEYS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


# --------------------------------------------------------------------------- durations


def go_duration(ns: int | float | None) -> str:
    """Format nanoseconds the way Go's ``time.Duration.String`` does (``1.5s``, ``12.3ms``, ``1m2s``).

    ``ollama run --verbose`` prints durations with it; ``run --verbose`` mirrors that.
    """
    if ns is None:
        return "-"
    n = int(ns)
    if n == 0:
        return "0s"
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n < 1_000:
        return f"{sign}{n}ns"
    if n < 1_000_000:
        return f"{sign}{_trim(n / 1_000)}µs"
    if n < 1_000_000_000:
        return f"{sign}{_trim(n / 1_000_000)}ms"
    hours, rem = divmod(n, 3_600 * 10**9)
    minutes, rem = divmod(rem, 60 * 10**9)
    secs, frac = divmod(rem, 10**9)
    sec_text = str(secs) + (("." + f"{frac:09d}".rstrip("0")) if frac else "")
    if hours:
        return f"{sign}{hours}h{minutes}m{sec_text}s"
    if minutes:
        return f"{sign}{minutes}m{sec_text}s"
    return f"{sign}{sec_text}s"


def _trim(x: float) -> str:
    text = f"{x:.9f}".rstrip("0").rstrip(".")
    # Go prints at most the digits the integer nanoseconds carry; 9 decimals is plenty here.
    return text


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
    messages: list[dict[str, str]] = field(default_factory=list)  # prepended (ephemeral only)
    options: dict[str, Any] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)
    show: dict[str, Any] | None = None  # /api/show of the model, when fetched

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "label": self.label,
            "model": self.model,
            "profile": self.profile_path,
            "ephemeral": self.ephemeral,
            "endpoint": self.endpoint,
            "options": self.options,
        }


def looks_like_profile(ref: str) -> bool:
    """True when ``ref`` names a profile (a YAML path, or a name found by ``resolve_ref``)."""
    p = Path(ref)
    if p.suffix.lower() in (".yaml", ".yml") or p.is_file():
        return True
    try:
        from modelctl.profile import resolve_ref

        resolved = resolve_ref(ref)
    except Exception:  # noqa: BLE001 - any failure to resolve means "not a profile name"
        return False
    return Path(resolved).is_file()


def parse_model_overrides(overrides: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``--set`` for a plain model name: ``[parameters.]NAME=VALUE``, ``system=...``, ``template=...``.

    Values are read as YAML-ish scalars (``0.2``, ``true``, ``[a, b]`` for stop) and checked
    against the parameter catalogue. Returns (options, text fields).
    """
    from modelctl.params import BY_NAME, check_value, suggest

    options: dict[str, Any] = {}
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


def _scalar(raw: str, kind: str, key: str) -> Any:
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


def not_built_error(target_ref: str, model: str, host: str) -> ServerError:
    from modelctl.server import ModelNotFound

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

    ``loaded`` skips loading when the caller already has the profile (compare).
    """
    from modelctl.server import ModelNotFound

    if loaded is None and looks_like_profile(ref):
        from modelctl.profile import load_profile

        loaded = load_profile(ref, overrides)
    if loaded is None:
        # A plain model name.
        if ephemeral:
            raise InvalidInput(f"--ephemeral needs a profile; {ref!r} is a model name", field="--ephemeral")
        options, texts = parse_model_overrides(overrides)
        if seed is not None:
            options["seed"] = seed
        show = None
        if client is not None and check_built:
            try:
                show = client.show(ref)
            except ModelNotFound:
                raise ModelNotFound(
                    f"model '{ref}' not found on {client.display_host}: pull it (`ollama pull {ref}`) "
                    f"or name a profile",
                    model=ref,
                ) from None
        use_chat = bool(show and show.get("messages"))
        return Target(
            ref, ref, ref, False, use_chat, None, texts.get("system"), texts.get("template"), [], options, [], show
        )

    prof = loaded.profile
    warnings = list(loaded.warnings)
    params = prof.parameters.as_dict()
    if ephemeral:
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
        options = dict(params)
        if seed is not None:
            options["seed"] = seed
        messages = [{"role": m.role, "content": m.content} for m in prof.messages]
        use_chat = bool(messages)
        if use_chat and prof.template:
            warnings.append(
                Diagnostic(
                    "ephemeral_template",
                    "/api/chat takes no template: the profile's template is not applied with --ephemeral "
                    "(build the profile to use it)",
                    str(loaded.path),
                    field="template",
                )
            )
        target = Target(
            ref,
            prof.name,
            str(prof.from_),
            True,
            use_chat,
            loaded,
            prof.system,
            prof.template,
            messages,
            options,
            warnings,
        )
        if client is not None and check_built:
            try:
                target.show = client.show(target.model)
            except ModelNotFound:
                raise ModelNotFound(
                    f"base model '{target.model}' of {ref} is not on {client.display_host}: "
                    f"pull it (`ollama pull {target.model}`) or build the profile",
                    model=target.model,
                ) from None
        return target

    # A built model: the server already holds the profile's settings; send only overrides.
    origins = loaded.origins
    options = {k: v for k, v in params.items() if origins.get(f"parameters.{k}") == "--set"}
    if seed is not None:
        options["seed"] = seed
    system = prof.system if origins.get("system") == "--set" else None
    template = prof.template if origins.get("template") == "--set" else None
    use_chat = bool(prof.messages)
    if use_chat and template is not None:
        warnings.append(
            Diagnostic("chat_template", "/api/chat takes no template: --set template is ignored", field="template")
        )
    target = Target(ref, prof.name, prof.name, False, use_chat, loaded, system, template, [], options, warnings)
    if client is not None and check_built:
        try:
            target.show = client.show(prof.name)
        except ModelNotFound:
            raise not_built_error(ref, prof.name, client.display_host) from None
    return target


# --------------------------------------------------------------------------- one request


def build_request(
    target: Target,
    prompt: str,
    *,
    system: str | None = None,
    seed: int | None = None,
    stream: bool = True,
) -> dict[str, Any]:
    """The JSON body for one prompt. ``system`` (a prompts-file override) beats the target's."""
    options = dict(target.options)
    if seed is not None:
        options["seed"] = seed
    sys_text = system if system is not None else target.system
    body: dict[str, Any] = {"model": target.model, "stream": stream}
    if target.use_chat:
        # Like Ollama's ChatHandler: the history first, the system prompt in front of it
        # unless the history already opens with one (an override replaces that one).
        history = [dict(m) for m in target.messages]
        opens_with_system = bool(history) and history[0]["role"] == "system"
        if system is not None and opens_with_system:
            history = history[1:]
            opens_with_system = False
        messages: list[dict[str, str]] = []
        if sys_text and not opens_with_system:
            messages.append({"role": "system", "content": sys_text})
        messages += history
        messages.append({"role": "user", "content": prompt})
        body["messages"] = messages
    else:
        body["prompt"] = prompt
        if sys_text:
            body["system"] = sys_text
        if target.template:
            body["template"] = target.template
    if options:
        body["options"] = options
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

    def to_dict(self) -> dict[str, Any]:
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


def execute(
    client: OllamaClient,
    body: dict[str, Any],
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
    stream: Iterator[dict[str, Any]] = client.chat(body) if chat else client.generate(body)
    try:
        for chunk in stream:
            res.chunks += 1
            if chat:
                msg = chunk.get("message") or {}
                piece = msg.get("content") or ""
                thought = msg.get("thinking") or ""
            else:
                piece = chunk.get("response") or ""
                thought = chunk.get("thinking") or ""
            if (piece or thought) and res.ttft_s is None:
                res.ttft_s = clock() - start
            if piece:
                text_parts.append(piece)
                if on_token is not None:
                    on_token(piece)
            if thought:
                think_parts.append(thought)
            if chunk.get("done"):
                res.done = True
                res.done_reason = chunk.get("done_reason") or None
                for k in METRIC_KEYS:
                    v = chunk.get(k)
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        res.metrics[k] = int(v)
    finally:
        res.wall_s = clock() - start
        res.text = "".join(text_parts)
        res.thinking = "".join(think_parts)
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return res


def verbose_lines(res: RunResult) -> list[str]:
    """What ``ollama run --verbose`` prints (same labels and formats), plus TTFT and done_reason."""
    m = res.metrics
    out: list[str] = []
    if m.get("total_duration"):
        out.append(f"total duration:       {go_duration(m['total_duration'])}")
    if m.get("load_duration"):
        out.append(f"load duration:        {go_duration(m['load_duration'])}")
    if m.get("prompt_eval_count"):
        out.append(f"prompt eval count:    {m['prompt_eval_count']} token(s)")
    if m.get("prompt_eval_duration"):
        out.append(f"prompt eval duration: {go_duration(m['prompt_eval_duration'])}")
        rate = (m.get("prompt_eval_count") or 0) / (m["prompt_eval_duration"] / 1e9)
        out.append(f"prompt eval rate:     {rate:.2f} tokens/s")
    if m.get("eval_count"):
        out.append(f"eval count:           {m['eval_count']} token(s)")
    if m.get("eval_duration"):
        out.append(f"eval duration:        {go_duration(m['eval_duration'])}")
        rate = (m.get("eval_count") or 0) / (m["eval_duration"] / 1e9)
        out.append(f"eval rate:            {rate:.2f} tokens/s")
    ttft = "-" if res.ttft_s is None else go_duration(round(res.ttft_s * 1e9))
    out.append(f"time to first token:  {ttft}")
    out.append(f"done reason:          {res.done_reason or '-'}")
    return out
