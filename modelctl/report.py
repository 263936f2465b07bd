"""The report of a deployed model: data (shared JSON keys), text rendering and warnings.

Sources: ``/api/show`` (facts, stored parameters, system, template), ``/api/tags`` (size
on disk), and after ``--verify`` ``/api/ps`` (the context length the runner really uses,
size in memory, CPU/GPU split). The stored parameters come back as a text block in Go
syntax (random order, ``%#v`` numbers such as ``1e+06``, one line per ``stop`` entry);
:func:`parse_parameters` reads it back into typed values.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelctl.errors import Diagnostic
from modelctl.output import Result, human_bytes
from modelctl.params import BY_NAME

# What the server uses when no num_ctx is stored (reference: Ollama's server/routes.go Serve).
SERVER_DEFAULT_CONTEXT = "server default (OLLAMA_CONTEXT_LENGTH, else 4096 / 32768 / 262144 by total VRAM)"

# ---------------------------------------------------------------------------------------------
# /api/show "parameters" text
# ---------------------------------------------------------------------------------------------

_SIMPLE_ESCAPES = {
    "a": 0x07,
    "b": 0x08,
    "f": 0x0C,
    "n": 0x0A,
    "r": 0x0D,
    "t": 0x09,
    "v": 0x0B,
    "\\": 0x5C,
    '"': 0x22,
    "'": 0x27,
}


def go_unquote(text: str) -> str:
    """Undo Go's ``strconv.Quote`` (what ``%#v`` writes for a string).

    ``\\xNN`` and octal escapes are bytes (as in Go), ``\\uNNNN``/``\\UNNNNNNNN`` code points;
    the result is decoded as UTF-8 with invalid sequences replaced, as Go would print them.
    Raises ValueError for text that is not a complete double-quoted Go string.
    """
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"not a Go double-quoted string: {text!r}")
    body = text[1:-1]
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("dangling backslash")
        esc = body[i + 1]
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
            i += 2
        elif esc == "x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif esc in "01234567":
            out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        elif esc == "u":
            out += chr(int(body[i + 2 : i + 6], 16)).encode("utf-8", "surrogatepass")
            i += 6
        elif esc == "U":
            out += chr(int(body[i + 2 : i + 10], 16)).encode("utf-8", "surrogatepass")
            i += 10
        else:
            raise ValueError(f"unknown escape \\{esc}")
    return out.decode("utf-8", "replace")


def _go_scalar(raw: str) -> Any:
    """A ``%#v`` value: a quoted string, true/false, or a float64 (``4096``, ``0.7``, ``1e+06``)."""
    if raw.startswith('"'):
        return go_unquote(raw)
    if raw in ("true", "false"):
        return raw == "true"
    if raw in ("NaN", "+Inf", "-Inf"):
        return float(raw.replace("Inf", "inf"))
    try:
        return float(raw)
    except ValueError:
        return raw  # something newer than this parser: keep it as text


def _typed(name: str, value: Any) -> Any:
    """Give a catalogue parameter its catalogue type (the server keeps JSON float64s)."""
    param = BY_NAME.get(name)
    if param is None or isinstance(value, str):
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            return int(value)
        return value
    if param.type == "int" and isinstance(value, float) and math.isfinite(value):
        return int(value)
    if param.type == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def parse_parameters(text: str | None) -> dict[str, Any]:
    """Parse /api/show ``parameters`` into ``{name: value}``.

    Each line is the name padded to 30 columns, a space, then a Go-syntax value. ``stop``
    (and any other name that repeats) accumulates into a list in line order; catalogue
    parameters get their catalogue type (ints as int, floats as float, stop as a list).
    The order of the result is the catalogue order, then the rest by name.
    """
    values: dict[str, Any] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        name = parts[0]
        raw = parts[1].strip() if len(parts) > 1 else ""
        value = _typed(name, _go_scalar(raw))
        is_list = name == "stop" or (BY_NAME.get(name) is not None and BY_NAME[name].type == "list[str]")
        if is_list:
            values.setdefault(name, []).append(value)
        elif name in values:
            prev = values[name]
            values[name] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            values[name] = value
    return order_parameters(values)


def order_parameters(values: Mapping[str, Any]) -> dict[str, Any]:
    from modelctl.params import ORDER

    return {k: values[k] for k in sorted(values, key=lambda k: (ORDER.get(k, len(ORDER)), k))}


# ---------------------------------------------------------------------------------------------
# Comparing values the way the server stores them
# ---------------------------------------------------------------------------------------------


def f32(x: float) -> float:
    """``x`` rounded to float32, the precision Ollama keeps float options at."""
    try:
        return float(struct.unpack("<f", struct.pack("<f", float(x)))[0])
    except OverflowError:
        return math.copysign(math.inf, x)


def same_value(name: str, a: Any, b: Any) -> bool:
    """Equal as stored: floats at float32 precision, ints exactly, stop lists as sets."""
    if a is None or b is None:
        return a is b
    param = BY_NAME.get(name)
    if isinstance(a, list) or isinstance(b, list):
        la = a if isinstance(a, list) else [a]
        lb = b if isinstance(b, list) else [b]
        return sorted(map(str, la)) == sorted(map(str, lb))
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and isinstance(a, bool) == isinstance(b, bool)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if param is not None and param.type == "int":
            return int(a) == int(b) and float(a).is_integer() and float(b).is_integer()
        fa, fb = f32(float(a)), f32(float(b))
        return fa == fb or (math.isnan(fa) and math.isnan(fb))
    return bool(a == b)


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _short(value)
    if isinstance(value, list):
        return "[" + ", ".join(_quote_str(v) if isinstance(v, str) else format_value(v) for v in value) + "]"
    if isinstance(value, str):
        return _quote_str(value)
    return str(value)


def _short(x: float) -> str:
    """The shortest text that reads back as the same float32 (0.7, not 0.699999988...)."""
    if not math.isfinite(x):
        return str(x)
    for digits in range(1, 18):
        text = f"{x:.{digits}g}"
        if f32(float(text)) == f32(x):
            return text
    return repr(x)


def _quote_str(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Report data
# ---------------------------------------------------------------------------------------------

REPORT_KEYS = (
    "name",
    "host",
    "base",
    "architecture",
    "parameter_count",
    "parameter_size",
    "quantization",
    "context_length",
    "embedding_length",
    "block_count",
    "head_count",
    "head_count_kv",
    "capabilities",
    "parameters",
    "size_bytes",
)


@dataclass
class RuntimeInfo:
    """What /api/ps says about the loaded runner (after --verify)."""

    context_length: int | None
    size: int | None
    size_vram: int | None
    loaded_before: bool

    def to_dict(self) -> dict[str, Any]:
        cpu = None
        if self.size is not None and self.size_vram is not None:
            cpu = max(self.size - self.size_vram, 0)
        return {
            "context_length": self.context_length,
            "size": self.size,
            "size_vram": self.size_vram,
            "size_cpu": cpu,
            "processor": processor_text(self.size, self.size_vram),
            "loaded_before": self.loaded_before,
        }


def processor_text(size: int | None, size_vram: int | None) -> str | None:
    """As ``ollama ps`` shows it: ``100% GPU``, ``100% CPU`` or ``48%/52% CPU/GPU``."""
    if not size:
        return None
    vram = size_vram or 0
    if vram <= 0:
        return "100% CPU"
    if vram >= size:
        return "100% GPU"
    gpu = round(vram * 100 / size)
    return f"{100 - gpu}%/{gpu}% CPU/GPU"


@dataclass
class Report:
    """One deployed model as modelctl reports it (``data`` is the JSON object)."""

    data: dict[str, Any]
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.data.get("name") or "")

    def text(self) -> str:
        return render_text(self.data)


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def render_text(d: Mapping[str, Any]) -> str:
    """The human report: one fact per line, aligned."""
    ctx = d.get("context_length") or {}
    rows: list[tuple[str, str]] = []
    rows.append(("host", str(d.get("host") or "-")))
    rows.append(("base", str(d.get("base") or "-")))
    rows.append(("architecture", str(d.get("architecture") or "-")))
    size = d.get("parameter_size")
    count = d.get("parameter_count")
    params_text = size or "-"
    if count:
        params_text = f"{params_text} ({_num(count)})"
    rows.append(("parameters", str(params_text)))
    rows.append(("quantization", str(d.get("quantization") or "-")))
    configured = ctx.get("configured")
    conf_text = _num(configured) if configured is not None else "not set: " + SERVER_DEFAULT_CONTEXT
    rows.append(("context trained", _num(ctx.get("trained"))))
    rows.append(("context configured", conf_text))
    runtime = ctx.get("runtime")
    rows.append(("context runtime", _num(runtime) if runtime is not None else "- (not loaded; use --verify)"))
    rows.append(("embedding length", _num(d.get("embedding_length"))))
    rows.append(("layers", _num(d.get("block_count"))))
    heads = _num(d.get("head_count"))
    kv = d.get("head_count_kv")
    rows.append(("attention heads", f"{heads} (KV heads {_num(kv)})" if kv is not None else heads))
    caps = d.get("capabilities") or []
    rows.append(("capabilities", ", ".join(caps) if caps else "-"))
    rows.append(("size on disk", human_bytes(d.get("size_bytes")) if d.get("size_bytes") else "-"))
    mem = d.get("memory")
    if isinstance(mem, Mapping):
        total = mem.get("total_bytes") or mem.get("total")
        at = mem.get("num_ctx")
        effective = mem.get("effective_num_ctx")
        at_text = _num(at)
        if isinstance(effective, int) and isinstance(at, int) and effective != at:
            # The estimate counts the KV cache for the context Ollama really allocates.
            at_text = f"{_num(effective)} (capped from {_num(at)})"
        if total is not None:
            rows.append(("memory (estimate)", f"{human_bytes(total)} at num_ctx {at_text}"))
    rt = d.get("runtime")
    if isinstance(rt, Mapping) and rt.get("size") is not None:
        rows.append(
            (
                "loaded",
                f"{human_bytes(rt.get('size'))} in memory, {human_bytes(rt.get('size_vram') or 0)} in VRAM"
                f" ({rt.get('processor') or '-'})",
            )
        )
    rows.append(("system", _set_text(d.get("system_set"), d.get("system_length"))))
    rows.append(("template", _set_text(d.get("template_set"), d.get("template_length"))))
    width = max(len(k) for k, _ in rows)
    lines = [str(d.get("name") or "?")]
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    params = d.get("parameters") or {}
    if params:
        lines.append("  stored parameters:")
        pw = max(len(k) for k in params)
        inherited = set(d.get("inherited_parameters") or ())
        for k, v in params.items():
            mark = "  (inherited from the base)" if k in inherited else ""
            lines.append(f"    {k.ljust(pw)}  {format_value(v)}{mark}")
    else:
        lines.append("  stored parameters: none")
    return "\n".join(lines) + "\n"


def _set_text(flag: Any, length: Any) -> str:
    if flag:
        return f"set ({length} characters)" if length is not None else "set"
    return "not set"


def _tag_name(name: str) -> str:
    """``llama3`` -> ``llama3:latest`` (how /api/tags and /api/ps spell names)."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else name + ":latest"


def same_model_name(a: str, b: str) -> bool:
    return _tag_name(a).lower() == _tag_name(b).lower()


def find_entry(listing: Mapping[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The /api/tags or /api/ps entry for ``name`` (``:latest`` implied, case-insensitive)."""
    for entry in (listing or {}).get("models") or []:
        if not isinstance(entry, Mapping):
            continue
        for key in ("name", "model"):
            value = entry.get(key)
            if isinstance(value, str) and same_model_name(value, name):
                return dict(entry)
    return None


_FROM_BLOB = re.compile(r"^(FROM|ADAPTER)\s+\S*?sha256[-:]([0-9a-fA-F]{64})\s*$", re.MULTILINE)


def modelfile_blobs(show: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Digests of the FROM and ADAPTER blob lines of /api/show's generated Modelfile."""
    froms: list[str] = []
    adapters: list[str] = []
    for kind, hexdigest in _FROM_BLOB.findall(str(show.get("modelfile") or "")):
        (froms if kind == "FROM" else adapters).append("sha256:" + hexdigest.lower())
    return froms, adapters


# ---------------------------------------------------------------------------------------------
# Building the report
# ---------------------------------------------------------------------------------------------


def _facts(show: Mapping[str, Any], tags_entry: Mapping[str, Any] | None, name: str, host: str) -> Any:
    """facts.ModelFacts from /api/show (+ the /api/tags entry)."""
    from modelctl.facts import facts_from_show

    return facts_from_show(dict(show), dict(tags_entry) if tags_entry is not None else None, name=name, host=host)


def build_report(
    show: Mapping[str, Any],
    *,
    name: str,
    host: str,
    tags_entry: Mapping[str, Any] | None = None,
    profile_parameters: Mapping[str, Any] | None = None,
    base_show: Mapping[str, Any] | None = None,
    profile_known: bool = False,
) -> Report:
    """The report of a deployed model, with warnings.

    ``profile_parameters`` (what the profile sends) enables the profile warnings: values
    the server stored differently, and parameters inherited from the base that the profile
    does not set (the base's stored parameters, when ``base_show`` is given; otherwise
    every stored parameter the profile does not set).
    """
    facts = _facts(show, tags_entry, name, host)
    data: dict[str, Any] = facts.to_dict()
    data["name"] = name
    data["host"] = host
    stored = parse_parameters(show.get("parameters"))
    data["parameters"] = stored
    ctx = dict(data.get("context_length") or {})
    configured = stored.get("num_ctx")
    ctx["configured"] = int(configured) if isinstance(configured, (int, float)) else None
    ctx.setdefault("trained", None)
    ctx.setdefault("runtime", None)
    data["context_length"] = ctx
    data["context_length_source"] = "model" if ctx["configured"] is not None else "server default"
    system = show.get("system") or ""
    template = show.get("template") or ""
    data["system_set"] = bool(system)
    data["system_length"] = len(system) if system else None
    data["template_set"] = bool(template)
    data["template_length"] = len(template) if template else None
    if tags_entry is not None and data.get("size_bytes") is None:
        size = tags_entry.get("size")
        data["size_bytes"] = int(size) if isinstance(size, (int, float)) else None
    from modelctl.memory import estimate_or_none

    data["memory"] = estimate_or_none(facts, ctx["configured"])

    warnings: list[Diagnostic] = []
    trained = ctx.get("trained")
    if isinstance(trained, int) and ctx["configured"] is not None and ctx["configured"] > trained:
        warnings.append(
            Diagnostic(
                "num_ctx_above_trained",
                f"num_ctx {ctx['configured']} is above the trained context {trained}; "
                f"Ollama will clamp it to {trained}",
                field="parameters.num_ctx",
            )
        )
    if profile_known and profile_parameters is not None:
        ours = dict(profile_parameters)
        inherited = {k: v for k, v in stored.items() if k not in ours}
        if base_show is not None:
            base_params = parse_parameters(base_show.get("parameters"))
            inherited = {k: v for k, v in inherited.items() if k in base_params}
        if inherited:
            listing = ", ".join(f"{k}={format_value(v)}" for k, v in inherited.items())
            warnings.append(
                Diagnostic(
                    "inherited_parameters",
                    f"parameters inherited from the base that the profile does not set: {listing}",
                    field="parameters",
                )
            )
        for key, want in ours.items():
            if key not in stored:
                warnings.append(
                    Diagnostic(
                        "not_stored",
                        f"the server did not store {key} (the profile sets {format_value(want)})",
                        field=f"parameters.{key}",
                    )
                )
            elif not same_value(key, stored[key], want):
                warnings.append(
                    Diagnostic(
                        "stored_differently",
                        f"the server stored {key} = {format_value(stored[key])}, the profile says {format_value(want)}",
                        field=f"parameters.{key}",
                    )
                )
        data["inherited_parameters"] = sorted(inherited)
    return Report(data, warnings)


def _apply_runtime(report: Report, entry: Mapping[str, Any], *, loaded_before: bool) -> RuntimeInfo:
    """Put an /api/ps entry into the report (``runtime`` and ``context_length.runtime``)."""
    rt_ctx = entry.get("context_length")
    size = entry.get("size")
    vram = entry.get("size_vram")
    runtime = RuntimeInfo(
        context_length=int(rt_ctx) if isinstance(rt_ctx, (int, float)) else None,
        size=size if isinstance(size, int) else None,
        size_vram=vram if isinstance(vram, int) else None,
        loaded_before=loaded_before,
    )
    report.data["runtime"] = runtime.to_dict()
    report.data.setdefault("context_length", {})["runtime"] = runtime.context_length
    return runtime


def runtime_if_loaded(client: Any, report: Report) -> None:
    """Fill the runtime facts from /api/ps when the model is already loaded (no load, no check)."""
    entry = find_entry(client.ps(), report.name)
    if entry is not None:
        _apply_runtime(report, entry, loaded_before=True)


_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")


def parse_rfc3339(text: Any) -> Any:
    """An aware datetime from Go's RFC3339Nano text (nanoseconds cut to micro); None if not one."""
    from datetime import datetime

    m = _RFC3339.match(text) if isinstance(text, str) else None
    if m is None:
        return None
    date, clock, frac, zone = m.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}.{(frac or '0')[:6].ljust(6, '0')}{zone}")
    except ValueError:
        return None


def remaining_keep_alive(expires_at: Any, *, default: str | float, now: Any = None) -> str | float:
    """The ``keep_alive`` that leaves a loaded runner's expiry (an /api/ps ``expires_at``) as it is.

    ``-1`` (forever) when it expires more than a century from now (Ollama stores a negative
    keep_alive as the largest duration, about 292 years); whole seconds otherwise;
    ``default`` when the time cannot be read or has passed.
    """
    from datetime import datetime, timezone

    when = parse_rfc3339(expires_at)
    if when is None:
        return default
    left = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if left > 100 * 365 * 86400:
        return -1
    if left <= 0:
        return default
    return int(math.ceil(left))


def verify_runtime(client: Any, report: Report, *, keep_alive: str = "30s") -> str | None:
    """Load the model, read /api/ps, fill ``context_length.runtime``; unload if it was not loaded.

    Returns why the runtime context differs from the configured one (None when it does not,
    or when nothing is configured: then the runtime value is the server default).

    Ollama keys loaded runners by the weights file: when another model on the same weights
    is loaded with the same load-time options, the load reuses that runner and /api/ps lists
    it under the other model's name. That runner is then read, and never unloaded here.
    """
    name = report.name
    before = find_entry(client.ps(), name)
    entry: dict[str, Any] | None = None
    shared_with: str | None = None
    load_keep_alive: str | float = keep_alive
    if before is not None:
        # Any request resets the runner's expiry: keep the one its user chose (e.g. 10m, -1).
        load_keep_alive = remaining_keep_alive(before.get("expires_at"), default=keep_alive)
    try:
        for _ in client.generate({"model": name, "prompt": "", "keep_alive": load_keep_alive, "stream": True}):
            pass
        after = client.ps()
        entry = find_entry(after, name)
        if entry is None:
            entry, shared_with = _shared_runner(client, name, after)
    finally:
        if before is None and shared_with is None:
            try:
                for _ in client.generate({"model": name, "keep_alive": 0, "stream": True}):
                    pass
            except Exception:  # unloading is a courtesy; the verify result stands
                pass
    if entry is None:
        return f"{name} did not show up in /api/ps after loading it"
    runtime = _apply_runtime(report, entry, loaded_before=before is not None or shared_with is not None)
    ctx = report.data["context_length"]
    configured = ctx.get("configured")
    trained = ctx.get("trained")
    if configured is None or runtime.context_length is None or runtime.context_length == configured:
        if runtime.context_length is None:
            return "the server did not report the runner's context length (Ollama before 0.9.7?)"
        return None
    trained_int = trained if isinstance(trained, int) else None
    return runtime_reason(int(configured), runtime.context_length, trained_int)


def _shared_runner(client: Any, name: str, ps: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The /api/ps entry of another model whose weights (FROM blobs) and adapters are ours."""
    from modelctl.errors import ModelctlError

    try:
        mine = modelfile_blobs(client.show(name))
    except ModelctlError:
        return None, None
    if not mine[0]:
        return None, None
    for e in ps.get("models") or []:
        other = e.get("name") or e.get("model")
        if not isinstance(other, str):
            continue
        try:
            theirs = modelfile_blobs(client.show(other))
        except ModelctlError:
            continue
        if sorted(theirs[0]) == sorted(mine[0]) and sorted(theirs[1]) == sorted(mine[1]):
            return e, other
    return None, None


def runtime_reason(configured: int, runtime: int, trained: int | None) -> str:
    """Why Ollama runs the model with ``runtime`` tokens of context instead of ``configured``."""
    head = f"runtime context {runtime} differs from the configured num_ctx {configured}"
    if trained is not None and configured > trained and runtime <= trained:
        return f"{head}: Ollama clamped it to the model's trained context length {trained}"
    if runtime < configured:
        return (
            f"{head}: Ollama lowered it, most likely because the KV cache for {configured} tokens "
            "did not fit in memory (see `modelctl estimate`), or a server setting "
            "(OLLAMA_CONTEXT_LENGTH, parallel slots) limits it"
        )
    if configured > 0 and runtime % configured == 0:
        return (
            f"{head}: the runner holds {runtime // configured} parallel slots of {configured} tokens "
            "(OLLAMA_NUM_PARALLEL)"
        )
    return f"{head}: Ollama raised it (a minimum for this model, e.g. 2048 for vision models)"


def _is_profile_ref(ref: str) -> bool:
    """A path to an existing file, a *.yaml/*.yml name, or a name found among the profiles."""
    from pathlib import Path

    if ref.endswith((".yaml", ".yml")) or Path(ref).expanduser().is_file():
        return True
    if "/" in ref or ":" in ref:
        return False  # `namespace/model` and `model:tag` are model names
    from modelctl.errors import ProfileError
    from modelctl.profile import resolve_ref

    try:
        resolve_ref(ref)
    except ProfileError:
        return False
    return True


def run_show(ref: str, *, verify: bool = False, host: str | None = None, timeout: float | None = None) -> Result:
    """Everything `modelctl show` does; returns an output.Result."""
    from modelctl.errors import ExitCode
    from modelctl.server import ModelNotFound, OllamaClient

    profile_params: dict[str, Any] | None = None
    base_name: str | None = None
    profile_warnings: list[Diagnostic] = []
    if ref.lower().endswith(".gguf"):
        from pathlib import Path

        if Path(ref).expanduser().is_file():
            from modelctl.errors import InvalidInput

            raise InvalidInput(
                "a local GGUF file, not a deployed model or a profile: "
                f"`modelctl inspect {ref}` reads its facts, `modelctl estimate {ref}` its memory",
                file=ref,
            )
    if _is_profile_ref(ref):
        from modelctl.build import typed_parameters
        from modelctl.profile import load_profile

        loaded = load_profile(ref)
        name = loaded.profile.name
        profile_params = typed_parameters(loaded.profile.parameters.as_dict(), profile_warnings)
        if loaded.profile.base_path() is None:
            base_name = loaded.profile.from_
    else:
        name = ref
    with OllamaClient(host, timeout=timeout) as client:
        try:
            show = client.show(name)
        except ModelNotFound as exc:
            hint = f" (build it with `modelctl build {ref}`)" if profile_params is not None else ""
            raise ModelNotFound(
                f"model {name} is not on the server at {client.display_host}{hint}", model=name
            ) from exc
        tags = client.tags()
        base_show = None
        if base_name:
            try:
                base_show = client.show(base_name)
            except ModelNotFound:
                base_show = None
        report = build_report(
            show,
            name=name,
            host=client.display_host,
            tags_entry=find_entry(tags, name),
            profile_parameters=profile_params,
            base_show=base_show,
            profile_known=profile_params is not None,
        )
        problem = verify_runtime(client, report) if verify else None
        if not verify:
            runtime_if_loaded(client, report)
    errors = []
    if problem:
        errors.append(Diagnostic("verify_failed", f"{name}: {problem}", field="parameters.num_ctx"))
    if verify:
        report.data["verify"] = {"ok": problem is None, "problem": problem}

    def text() -> str:
        out = report.text()
        if verify:
            out += f"  verify: FAILED: {problem}\n" if problem else "  verify: ok\n"
        return out

    return Result(
        data=report.data,
        text=text,
        ok=problem is None,
        exit_code=ExitCode.INVALID if problem else ExitCode.OK,
        warnings=profile_warnings + report.warnings,
        errors=errors,
    )
