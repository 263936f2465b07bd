"""THE catalogue of Ollama parameters: the one source of truth.

Validation (profile.py), the ``params`` command, the JSON Schema and docs/parameters.md
are all generated from this table. Facts come from Ollama's ``api/types.go``
(``Options``, ``Runner``, ``DefaultOptions``, ``deprecatedParameters``) as summarised in
the project's reference notes; versions name the Ollama release that changed them.

Standard library only (and errors.py): ``modelctl params`` must not import pydantic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic, InvalidInput

ParamType = Literal["int", "float", "bool", "list[str]"]
Level = Literal["load", "request"]
#: One value of a parameter line: what a Modelfile's ``PARAMETER`` and a server's ``parameters`` hold.
ParamScalar: TypeAlias = "int | float | bool | str"
#: A parameter's value: the catalogue's types (an int, a float, a bool, ``stop``'s list of text), and
#: the text or list a server's ``parameters`` may hold for a name modelctl does not know.
ParamValue: TypeAlias = "int | float | bool | str | list[str] | list[ParamScalar]"
#: Parameters by name: a profile's, the ``options`` of a request, a model's ``parameters`` on a server.
Params: TypeAlias = "dict[str, ParamValue]"

FLOAT32_MAX = 3.4028234663852886e38  # Ollama parses PARAMETER floats with ParseFloat(v, 32)
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: The num_ctx Ollama picks when nothing sets it, on a machine with less than ~24 GiB of VRAM.
DEFAULT_NUM_CTX = 4096

#: The KV cache types Ollama's OLLAMA_KV_CACHE_TYPE takes (v0.9.3 fs/ggml/ggml.go kvCacheBytesPerElement,
#: anything else is f16), the quantized ones needing flash attention: the one list (inventories' facts,
#: explain's and estimate's --kv-cache, the memory model and its table). estimate also models llama.cpp's
#: f32, which Ollama does not set.
KV_CACHE_TYPES: tuple[str, ...] = ("f16", "q8_0", "q4_0")


@dataclass(frozen=True)
class Param:
    name: str
    type: ParamType
    default: Any  # Ollama's default; None when the server decides or leaves it unset
    default_note: str  # how to read the default, for humans
    level: Level  # "load": a Runner option (changing it reloads the model); "request": per request
    meaning: str
    minimum: float | None = None
    maximum: float | None = None
    since: str | None = None  # Ollama version that introduced it, where that matters
    warn_above: float | None = None  # legal, but risky: validate warns
    warn_below: float | None = None

    @property
    def range_text(self) -> str:
        if self.type in ("bool", "list[str]"):
            return "-"
        # int64 limits are the type's own bounds, not a meaningful range: show them as open
        minimum = None if self.minimum is None or self.minimum <= INT64_MIN else self.minimum
        maximum = None if self.maximum is None or self.maximum >= INT64_MAX else self.maximum
        if minimum is None and maximum is None:
            return "any"
        if maximum is None:
            return f">= {_num(minimum)}"  # type: ignore[arg-type]
        if minimum is None:
            return f"<= {_num(maximum)}"
        return f"{_num(minimum)} .. {_num(maximum)}"

    def to_dict(self) -> JSONObject:
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "default_note": self.default_note,
            "level": self.level,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "range": self.range_text,
            "since": self.since,
            "meaning": self.meaning,
        }


@dataclass(frozen=True)
class RemovedParam:
    name: str
    removed_in: str
    instead: str  # what to use instead
    cli_behaviour: str  # what `ollama create` does with it today

    def to_dict(self) -> JSONObject:
        return {
            "name": self.name,
            "removed_in": self.removed_in,
            "instead": self.instead,
            "ollama_create": self.cli_behaviour,
        }


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# Catalogue order is also the order in which rendered Modelfiles list PARAMETER lines:
# load-time (runner) options first, then prediction, then sampling.
CATALOGUE: tuple[Param, ...] = (
    Param(
        "num_ctx",
        "int",
        None,
        "chosen by the server: OLLAMA_CONTEXT_LENGTH, else 4096 / 32768 / 262144 by total VRAM",
        "load",
        "Size of the context window in tokens (clamped to the model's trained length).",
        minimum=1,
        maximum=INT64_MAX,
    ),
    Param(
        "num_batch", "int", 512, "512", "load", "Prompt-processing batch size in tokens.", minimum=1, maximum=INT64_MAX
    ),
    Param(
        "num_gpu",
        "int",
        -1,
        "-1 (let the runner decide)",
        "load",
        "Number of layers to offload to the GPU; 0 = CPU only, -1 = automatic.",
        minimum=-1,
        maximum=INT64_MAX,
    ),
    Param("main_gpu", "int", None, "unset", "load", "Index of the single GPU to use.", minimum=0, maximum=INT64_MAX),
    Param(
        "use_mmap", "bool", None, "unset (automatic)", "load", "Memory-map the weights; false reads them into memory."
    ),
    Param(
        "num_thread",
        "int",
        0,
        "0 (automatic)",
        "load",
        "CPU threads for computation; 0 = automatic.",
        minimum=0,
        maximum=INT64_MAX,
    ),
    Param(
        "draft_num_predict",
        "int",
        4,
        "4 (0 when the model has no draft)",
        "load",
        "Maximum speculative tokens per step with a draft model; 0 disables.",
        minimum=0,
        maximum=INT64_MAX,
        since="0.30.0",
    ),
    Param(
        "num_keep",
        "int",
        4,
        "4",
        "request",
        "Tokens of the prompt kept when the context shifts.",
        minimum=-1,
        maximum=INT64_MAX,
    ),
    Param(
        "seed",
        "int",
        -1,
        "-1 (random)",
        "request",
        "Random seed; the same seed and prompt give the same text.",
        minimum=INT64_MIN,
        maximum=INT64_MAX,
    ),
    Param(
        "num_predict",
        "int",
        -1,
        "-1 (no limit: 10 x num_ctx)",
        "request",
        "Maximum tokens to generate; -1 = until done, -2 = fill the context.",
        minimum=-2,
        maximum=INT64_MAX,
    ),
    Param(
        "top_k",
        "int",
        40,
        "40",
        "request",
        "Sample only from the K most likely tokens; 0 disables.",
        minimum=0,
        maximum=INT64_MAX,
    ),
    Param(
        "top_p",
        "float",
        0.9,
        "0.9",
        "request",
        "Nucleus sampling: keep the smallest set of tokens whose probability sums to P.",
        minimum=0.0,
        maximum=1.0,
    ),
    Param(
        "min_p",
        "float",
        0.0,
        "0.0",
        "request",
        "Drop tokens less likely than P x the most likely token.",
        minimum=0.0,
        maximum=1.0,
    ),
    Param(
        "typical_p", "float", 1.0, "1.0", "request", "Locally typical sampling; 1.0 disables.", minimum=0.0, maximum=1.0
    ),
    Param(
        "repeat_last_n",
        "int",
        64,
        "64",
        "request",
        "How many recent tokens the repetition penalties look at; 0 = off, -1 = num_ctx.",
        minimum=-1,
        maximum=INT64_MAX,
    ),
    Param(
        "temperature",
        "float",
        0.8,
        "0.8",
        "request",
        "Randomness of sampling; 0 = always the most likely token.",
        minimum=0.0,
        warn_above=2.0,
    ),
    Param(
        "repeat_penalty",
        "float",
        1.0,
        "1.0 (1.1 before Ollama 0.32.10)",
        "request",
        "Penalty for repeating recent tokens; 1.0 = off.",
        minimum=0.0,
        warn_above=2.0,
    ),
    Param(
        "presence_penalty",
        "float",
        0.0,
        "0.0",
        "request",
        "Penalty for tokens that already appeared at all.",
        warn_above=2.0,
        warn_below=-2.0,
    ),
    Param(
        "frequency_penalty",
        "float",
        0.0,
        "0.0",
        "request",
        "Penalty growing with how often a token already appeared.",
        warn_above=2.0,
        warn_below=-2.0,
    ),
    Param(
        "stop",
        "list[str]",
        None,
        "the model's own stop tokens",
        "request",
        "Stop sequences; setting any replaces the model's own list.",
    ),
)

BY_NAME: dict[str, Param] = {p.name: p for p in CATALOGUE}
ORDER: dict[str, int] = {p.name: i for i, p in enumerate(CATALOGUE)}

REMOVED: tuple[RemovedParam, ...] = (
    RemovedParam("penalize_newline", "0.5.5", "nothing (newlines are no longer special)", "warns and drops it"),
    RemovedParam("low_vram", "0.6.9", "num_gpu / num_batch", "warns and drops it"),
    RemovedParam("f16_kv", "0.6.9", "the server's OLLAMA_KV_CACHE_TYPE", "warns and drops it"),
    RemovedParam("logits_all", "0.6.9", "nothing", "warns and drops it"),
    RemovedParam("vocab_only", "0.6.9", "nothing", "warns and drops it"),
    RemovedParam("use_mlock", "0.6.9", "use_mmap", "warns and drops it"),
    RemovedParam("mirostat", "0.6.9", "temperature, top_p or min_p", "warns and drops it"),
    RemovedParam("mirostat_tau", "0.6.9", "temperature, top_p or min_p", "warns and drops it"),
    RemovedParam("mirostat_eta", "0.6.9", "temperature, top_p or min_p", "warns and drops it"),
    RemovedParam("numa", "0.3.4", "nothing (the runner handles NUMA)", "fails: unknown parameter"),
    RemovedParam("tfs_z", "0.5.2", "min_p", "fails: unknown parameter"),
    RemovedParam("num_gqa", "0.1.35", "nothing (read from the model file)", "fails: unknown parameter"),
    RemovedParam("rope_frequency_base", "0.1.35", "nothing (read from the model file)", "fails: unknown parameter"),
    RemovedParam("rope_frequency_scale", "0.1.35", "nothing (read from the model file)", "fails: unknown parameter"),
    RemovedParam("embedding_only", "0.1.28", "an embedding model and /api/embed", "fails: unknown parameter"),
)
REMOVED_BY_NAME: dict[str, RemovedParam] = {r.name: r for r in REMOVED}

# Names that `ollama create` drops with a warning (the rest of REMOVED are errors there).
CLI_DEPRECATED: frozenset[str] = frozenset(r.name for r in REMOVED if r.cli_behaviour.startswith("warns"))


def lookup(name: str) -> Param | RemovedParam:
    """A current or removed parameter by name; InvalidInput with a did-you-mean otherwise."""
    if name in BY_NAME:
        return BY_NAME[name]
    if name in REMOVED_BY_NAME:
        return REMOVED_BY_NAME[name]
    hint = suggest(name, [*BY_NAME, *REMOVED_BY_NAME])
    raise InvalidInput(
        f"unknown parameter '{name}'" + (f" (did you mean '{hint}'?)" if hint else ""),
        field=name,
        code="unknown_parameter",
    )


def removed_message(name: str) -> str:
    r = REMOVED_BY_NAME[name]
    return f"'{name}' was removed in Ollama {r.removed_in}; use {r.instead} instead"


def removed_dropped_message(name: str) -> str:
    """What ``import`` says of a removed parameter it drops (``ollama create`` warns or refuses)."""
    r = REMOVED_BY_NAME[name]
    refused = "" if name in CLI_DEPRECATED else " (`ollama create` refuses it: unknown parameter)"
    return f"parameter {name} was removed in Ollama {r.removed_in}, dropped; use {r.instead}{refused}"


def suggest(name: str, candidates: Iterable[str] | None = None, *, cutoff: float = 0.7) -> str | None:
    """A did-you-mean for a misspelt name (``temprature`` -> ``temperature``, ``FROM`` -> ``from``).

    Case is ignored (a candidate differing only in case wins outright); the candidate is
    returned as written. The one home for did-you-mean: profile keys, parameters, prompts-file
    keys, profile and model names all ask here.
    """
    import difflib  # here, not at the top: `estimate --help` imports this module

    pool = list(candidates) if candidates is not None else list(BY_NAME)
    folded: dict[str, str] = {}
    for c in pool:
        folded.setdefault(c.casefold(), c)
    key = name.casefold()
    if key in folded:
        return folded[key]
    found = difflib.get_close_matches(key, list(folded), n=1, cutoff=cutoff)
    return folded[found[0]] if found else None


def check_value(param: Param, value: Any) -> str | None:
    """Why ``value`` is not acceptable for ``param``, or None. Types must already be right."""
    if param.type == "float":
        if not math.isfinite(float(value)):
            return "must be a finite number (Ollama cannot send NaN or Inf)"
        if abs(float(value)) > FLOAT32_MAX:
            return "is outside the 32-bit float range Ollama reads parameters with"
    if param.type in ("int", "float"):
        if param.minimum is not None and value < param.minimum:
            return f"must be >= {_num(param.minimum)}"
        if param.maximum is not None and value > param.maximum:
            return f"must be <= {_num(param.maximum)}"
    return None


def risk(param: Param, value: Any) -> str | None:
    """A warning for a legal but risky value, or None."""
    if param.type in ("int", "float"):
        if param.warn_above is not None and value > param.warn_above:
            return f"{_num(value)} is unusually high (above {_num(param.warn_above)}); output may be incoherent"
        if param.warn_below is not None and value < param.warn_below:
            return f"{_num(value)} is unusually low (below {_num(param.warn_below)})"
    return None


def typed_parameters(params: Mapping[str, object], warnings: list[Diagnostic] | None = None) -> Params:
    """Catalogue-typed values only, in catalogue order: ints, floats, bools, ``stop`` as a list.

    What the server receives must have these types: ``/api/create`` stores anything, and a
    string ``num_ctx`` breaks every later request to the model. Names Ollama's CLI drops are
    dropped with a warning; unknown or removed names and values of the wrong type are refused.
    """
    out: Params = {}
    for name, value in params.items():
        param = BY_NAME.get(name)
        if param is None:
            if name not in CLI_DEPRECATED:
                removed = " (removed from Ollama)" if name in REMOVED_BY_NAME else ""
                raise InvalidInput(f"unknown parameter '{name}'{removed}", field=f"parameters.{name}")
            if warnings is not None:
                warnings.append(
                    Diagnostic(
                        "deprecated_parameter",
                        f"parameter {name} is deprecated; not sent",
                        field=f"parameters.{name}",
                    )
                )
            continue
        out[name] = _typed_value(param, value)
    return {k: out[k] for k in sorted(out, key=lambda k: ORDER[k])}


def stored_value_problem(name: str, value: object) -> str | None:
    """Why a value a server stored for catalogue parameter ``name`` cannot be a profile's (wrong
    type, out of range), or None. ``/api/create`` stores anything it is sent."""
    param = BY_NAME[name]
    try:
        typed = _typed_value(param, value)
    except InvalidInput as exc:
        return exc.message
    if param.type in ("int", "float"):
        return check_value(param, typed)
    return None


def _typed_value(param: Param, value: object) -> ParamValue:
    where = f"parameters.{param.name}"
    if param.type == "int":
        if isinstance(value, float) and not isinstance(value, bool) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"invalid int value [{value}]", field=where)
        return int(value)
    if param.type == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput(f"invalid float value [{value}]", field=where)
        return float(value)
    if param.type == "bool":
        if not isinstance(value, bool):
            raise InvalidInput(f"invalid bool value [{value}]", field=where)
        return value
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [value]
    texts = [s for s in items if isinstance(s, str)]
    if len(texts) != len(items):
        raise InvalidInput("stop must be a list of strings", field=where)
    return texts
