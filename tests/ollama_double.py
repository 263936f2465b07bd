"""A stateful Ollama API double on a real loopback socket, for end-to-end tests.

It speaks the parts of Ollama's REST API modelctl uses, with Ollama's field names,
status codes and error strings (see docs/server.md and the project's Ollama reference):
``/``, ``/api/version``, ``/api/tags``, ``/api/show``, ``/api/create`` (JSON form),
``/api/blobs/<digest>`` (HEAD/POST), ``/api/ps``, ``/api/generate``, ``/api/chat``,
``/api/pull``, ``/api/delete``, ``/api/copy``.

Generation counts tokens with a simple deterministic tokenizer (one token per word, plus
PROMPT_OVERHEAD for the template; see :func:`count_tokens`) and fits each prompt into the
runner's context as the server's version does (:func:`fit_prompt`: ``truncate``, ``shift``,
``num_keep``, the refusals of ``truncate: false``; ``/api/chat`` drops whole messages first),
so ``prompt_eval_count`` shows a cut prompt the way Ollama's does; ``raw: true`` skips the
template.

State lives in :class:`DoubleState` (``double.state``): models, blobs (files in a
temporary directory), loaded runners, a small pull "registry", generation knobs and
fault-injection switches (:class:`Faults`). Tests flip them directly::

    double.state.version = "0.5.4"
    double.state.faults.fail["/api/show"] = (500, "boom")
    double.state.faults.cut_after["/api/create"] = 2

Versions: ``state.version`` (default DEFAULT_VERSION) switches every rule that differs between
Ollama releases (the ``*_SINCE`` constants, each citing its Go source). At 0.9.3 the double is
checked against a real 0.9.3 server by tests/test_conformance.py (``pytest -m live``): request
bodies are read as Go's json.Decoder reads them (its texts for bad JSON), create errors are
stream lines, and the answers carry the fields 0.9.3 sends. ``state.vram_fraction = 0.0`` is a
CPU-only host (``size_vram`` 0). ``/api/ps`` ``size`` is the weights plus an f16 KV cache of one
slot at the runner's context: not Ollama's own memory estimate (0.9.3 reports 44,298,496 bytes
for the 2-layer tiny llama at num_ctx 2048 with 2 slots).

Run by hand: ``python -m tests.ollama_double --port 11500`` (then
``OLLAMA_HOST=127.0.0.1:11500 modelctl ...``).

Test-only code: it imports the ``gguf`` package to read the metadata of uploaded GGUF
blobs, the way Ollama itself does when it creates a model from files.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import math
import os
import random
import re
import shutil
import socket
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, TypeVar

# --------------------------------------------------------------------------------------------
# Ollama facts the double reproduces

DEFAULT_VERSION = "0.12.6"
DEFAULT_TEMPLATE = "{{ .Prompt }}"
REGISTRY_HOST = "registry.ollama.ai"
LIBRARY_NAMESPACE = "library"
MODELS_DIR = "/root/.ollama/models"  # only used in texts (FROM lines, error messages)

#: general.file_type number -> Ollama's FileType string (fs/ggml/type.go)
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 32: "BF16",
}  # fmt: skip
#: quantize values /api/create accepts (upper-cased), -> file_type number
QUANTIZE_TYPES: dict[str, int] = {
    "F32": 0,
    "F16": 1,
    "BF16": 32,
    "Q8_0": 7,
    "Q4_K_S": 14,
    "Q4_K_M": 15,
    "Q4_K": 15,
}

INT_OPTIONS = {
    "num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread", "draft_num_predict", "num_keep",
    "seed", "num_predict", "top_k", "repeat_last_n",
}  # fmt: skip
FLOAT_OPTIONS = {
    "temperature", "top_p", "min_p", "typical_p", "repeat_penalty", "presence_penalty", "frequency_penalty",
}  # fmt: skip
BOOL_OPTIONS = {"use_mmap"}
LIST_OPTIONS = {"stop"}
RUNNER_OPTIONS = (
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "use_mmap",
    "num_thread",
    "draft_num_predict",
)

#: api.DefaultOptions (num_ctx comes from the server's default, DoubleState.default_num_ctx)
DEFAULT_OPTIONS: dict[str, Any] = {
    "num_batch": 512, "num_gpu": -1, "main_gpu": None, "use_mmap": None, "num_thread": 0,
    "draft_num_predict": 4, "num_keep": 4, "seed": -1, "num_predict": -1, "top_k": 40, "top_p": 0.9,
    "min_p": 0.0, "typical_p": 1.0, "repeat_last_n": 64, "temperature": 0.8, "repeat_penalty": 1.0,
    "presence_penalty": 0.0, "frequency_penalty": 0.0, "stop": None,
}  # fmt: skip

#: The double's tokenizer, deterministic and simple: one token per whitespace-separated word of
#: the rendered prompt, plus PROMPT_OVERHEAD tokens for BOS and the template's own markers
#: (RAW_OVERHEAD, BOS alone, for ``raw: true``). Every model "adds BOS", which a cut keeps.
PROMPT_OVERHEAD = 4
RAW_OVERHEAD = 1
TRUNCATE_SINCE = (0, 12, 6)  # the `truncate` and `shift` request fields
LLAMA_SERVER_SINCE = (0, 30, 0)  # llama-server: one token of headroom, its own refusal text
HALF_CUT_SINCE = (0, 30, 11)  # contextShiftPromptLimit: a cut keeps num_keep and about half
PS_CONTEXT_SINCE = (0, 10, 0)  # /api/ps context_length (api/types.go ProcessModelResponse)
TAGS_EXTRAS_SINCE = (0, 30, 0)  # /api/tags capabilities and details.context_length/embedding_length
ARRAYS_NULL_SINCE = (0, 6, 7)  # /api/show without verbose: GGUF arrays unread, so null (fs/ggml/gguf.go newArray)
SHOW_UNQUALIFIED_SINCE = (0, 15, 0)  # before: /api/show of an invalid name is 500 "invalid model path"
CHAT_LOOKUP_SINCE = (0, 12, 0)  # before: /api/chat of a missing model fails in scheduleRunner ("try pulling it first")
THINK_CHECK_SINCE = (0, 12, 5)  # the handlers refuse `think` for a model without it ('"x" does not support thinking')
GGUF_COPY_SINCE = (0, 30, 0)  # user GGUFs validated and copied with llama-quantize ("validating GGUF model")
BF16_QUANTIZE_SINCE = (0, 30, 0)  # quantize from BF16 sources too
RUNNER_TOO_LONG = "the input length exceeds the context length"  # the Go runners' 400
SHIFT_OFF_TOO_LONG = (
    "the prompt is longer than the context length currently available to the model; shorten the prompt, "
    "adjust the context length in settings, or use a model with a longer context length"
)

VOCAB = tuple(
    (  # noqa: SIM905
        "the a model answer is quick brown fox jumps over lazy dog recipe saffron panna cotta tomato basil "
        "garlic onion pepper salt bread butter cheese lemon honey sugar flour egg milk cream and with then "
        "slowly bake stir serve taste fresh warm cold sweet sour bitter spicy crisp golden river mountain "
        "light shadow quiet storm harbor lantern copper velvet orbit signal"
    ).split(" ")
)

_NAME_PART = {
    "host": re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,349}$"),
    "namespace": re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,79}$"),
    "model": re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$"),
    "tag": re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$"),
}
_BLOB_DIGEST_RE = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")
_GO_DURATION_RE = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_GO_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
FOREVER = timedelta(days=365 * 290)


class HTTPFail(Exception):
    """An Ollama error: HTTP status + ``{"error": message}`` (or an in-stream error line)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Cut(Exception):
    """Fault injection: drop the connection now."""


# --------------------------------------------------------------------------------------------
# Formatting helpers (Go's fmt/strconv, as Ollama prints them)


def go_float(v: float) -> str:
    """Go's ``%v`` of a float64 (strconv.FormatFloat(v, 'g', -1, 64)): ``4096``, ``0.7``, ``1e+06``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    sign = "-" if v < 0 else ""
    mant, _, exp_s = repr(abs(float(v))).partition("e")  # repr gives the shortest round-trip digits
    int_part, _, frac = mant.partition(".")
    all_digits = int_part + frac
    stripped = all_digits.lstrip("0")
    dp = len(int_part) - (len(all_digits) - len(stripped)) + (int(exp_s) if exp_s else 0)
    digits = stripped.rstrip("0") or "0"
    x = dp - 1  # decimal exponent of the first significant digit
    if x < -4 or x >= 6:  # shortest 'g' uses precision 6 for this decision
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if x < 0:
        return f"{sign}0.{'0' * (-x - 1)}{digits}"
    if len(digits) <= x + 1:
        return sign + digits + "0" * (x + 1 - len(digits))
    return f"{sign}{digits[: x + 1]}.{digits[x + 1 :]}"


def go_quote(s: str) -> str:
    """Go's ``%#v`` of a string (strconv.Quote)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}[ch])
        elif ch.isprintable() and ch not in "\u00a0\u2028\u2029":
            out.append(ch)
        elif o < 0x80:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def go_value(v: Any, sharp: bool) -> str:
    """``%#v`` (sharp) or ``%v`` of a JSON-decoded value, numbers as float64."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return go_float(float(v))
    if isinstance(v, str):
        return go_quote(v) if sharp else v
    if v is None:
        return "<nil>"
    if isinstance(v, list):
        return "[" + " ".join(go_value(x, False) for x in v) + "]"
    return "map[...]"


def modelfile_quote(s: str) -> str:
    """parser.quote: quotes only for line feeds or a leading/trailing space."""
    if "\n" in s or s.startswith(" ") or s.endswith(" "):
        return f'"""{s}"""' if '"' in s else f'"{s}"'
    return s


def human_number(n: int) -> str:
    """Ollama's format.HumanNumber (parameter_size)."""
    if n >= 1_000_000_000:
        v = n / 1e9
        return f"{v:.0f}B" if v == math.floor(v) else f"{v:.1f}B"
    if n >= 1_000_000:
        v = n / 1e6
        return f"{v:.0f}M" if v == math.floor(v) else f"{v:.2f}M"
    if n >= 1_000:
        return f"{n / 1e3:.0f}K"
    return str(n)


def rfc3339(t: datetime, *, utc: bool = False) -> str:
    """Go's RFC3339Nano (trailing zeros of the fraction trimmed); local offset unless ``utc``."""
    t = t.astimezone(timezone.utc) if utc else t.astimezone()
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{t.microsecond:06d}000".rstrip("0")
    off = t.utcoffset() or timedelta(0)
    if off == timedelta(0):
        tz = "Z"
    else:
        mins = int(off.total_seconds() // 60)
        sign = "+" if mins >= 0 else "-"
        tz = f"{sign}{abs(mins) // 60:02d}:{abs(mins) % 60:02d}"
    return f"{base}{'.' + frac if frac else ''}{tz}"


def parse_go_duration(s: str) -> float:
    """time.ParseDuration -> seconds; ValueError with Go's message when invalid."""
    orig = s
    if s in ("0", "+0", "-0"):
        return 0.0
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    total, pos = 0.0, 0
    while pos < len(s):
        m = _GO_DURATION_RE.match(s, pos)
        if not m:
            if re.match(r"^[0-9.]+$", s[pos:]):
                raise ValueError(f'time: missing unit in duration "{orig}"')
            raise ValueError(f'time: invalid duration "{orig}"')
        total += float(m.group(1)) * _GO_DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


# --------------------------------------------------------------------------------------------
# Request bodies as Ollama reads them: gin's ShouldBindJSON, i.e. one value read by Go's
# json.Decoder into the request struct (api/types.go at v0.9.3). The decoder reads the first
# value only (anything after it is ignored), answers "unexpected EOF" for a value cut short,
# Go's scanner texts for a syntax error, and "json: cannot unmarshal ..." for a value of the
# wrong type; an empty body is io.EOF, which the handlers answer "missing request body".

#: Go type names of request fields by JSON key (api/types.go); "*Duration" is keep_alive's own decoder
_GO_STRING, _GO_BOOL, _GO_ANY_MAP = "string", "bool", "map[string]interface {}"
_MESSAGE_FIELDS = {"role": _GO_STRING, "content": _GO_STRING, "thinking": _GO_STRING, "images": "[]api.ImageData"}
REQUEST_TYPES: dict[str, dict[str, str]] = {
    "ShowRequest": {"model": _GO_STRING, "system": _GO_STRING, "template": _GO_STRING, "verbose": _GO_BOOL,
                    "options": _GO_ANY_MAP, "name": _GO_STRING},
    "CreateRequest": {"model": _GO_STRING, "stream": _GO_BOOL, "quantize": _GO_STRING, "from": _GO_STRING,
                      "files": "map[string]string", "adapters": "map[string]string", "template": _GO_STRING,
                      "system": _GO_STRING, "parameters": _GO_ANY_MAP, "messages": "[]api.Message",
                      "name": _GO_STRING, "quantization": _GO_STRING},
    "GenerateRequest": {"model": _GO_STRING, "prompt": _GO_STRING, "suffix": _GO_STRING, "system": _GO_STRING,
                        "template": _GO_STRING, "context": "[]int", "stream": _GO_BOOL, "raw": _GO_BOOL,
                        "keep_alive": "*Duration", "images": "[]api.ImageData", "options": _GO_ANY_MAP,
                        "think": _GO_BOOL},
    "ChatRequest": {"model": _GO_STRING, "messages": "[]api.Message", "stream": _GO_BOOL, "keep_alive": "*Duration",
                    "options": _GO_ANY_MAP, "think": _GO_BOOL},
    "DeleteRequest": {"model": _GO_STRING, "name": _GO_STRING},
    "CopyRequest": {"source": _GO_STRING, "destination": _GO_STRING},
    "PullRequest": {"model": _GO_STRING, "insecure": _GO_BOOL, "username": _GO_STRING, "password": _GO_STRING,
                    "stream": _GO_BOOL, "name": _GO_STRING},
    "PushRequest": {"model": _GO_STRING, "insecure": _GO_BOOL, "username": _GO_STRING, "password": _GO_STRING,
                    "stream": _GO_BOOL, "name": _GO_STRING},  # api/types.go at v0.9.3: the same fields as a pull
}  # fmt: skip


class _GoSyntax(Exception):
    pass


def _go_quote_char(c: str) -> str:
    """encoding/json's quoteChar."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    return "'" + go_quote(c)[1:-1] + "'"


class _GoScanner:
    """The first JSON value of a text, checked as encoding/json's scanner does (its error texts)."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def _peek(self) -> str:
        if self.i >= len(self.s):
            raise _GoSyntax("unexpected EOF")
        return self.s[self.i]

    def _ws(self) -> str:
        while self._peek() in " \t\r\n":
            self.i += 1
        return self.s[self.i]

    def _bad(self, c: str, where: str) -> _GoSyntax:
        return _GoSyntax(f"invalid character {_go_quote_char(c)} {where}")

    def value(self) -> None:
        c = self._ws()
        if c == "{":
            self._object()
        elif c == "[":
            self._array()
        elif c == '"':
            self._string()
        elif c == "-" or c.isdigit():
            self._number()
        elif c in "tfn":
            self._literal({"t": "true", "f": "false", "n": "null"}[c])
        else:
            raise self._bad(c, "looking for beginning of value")

    def _object(self) -> None:
        self.i += 1
        if self._ws() == "}":
            self.i += 1
            return
        while True:
            c = self._ws()
            if c != '"':
                raise self._bad(c, "looking for beginning of object key string")
            self._string()
            c = self._ws()
            if c != ":":
                raise self._bad(c, "after object key")
            self.i += 1
            self.value()
            c = self._ws()
            self.i += 1
            if c == "}":
                return
            if c != ",":
                raise self._bad(c, "after object key:value pair")

    def _array(self) -> None:
        self.i += 1
        if self._ws() == "]":
            self.i += 1
            return
        while True:
            self.value()
            c = self._ws()
            self.i += 1
            if c == "]":
                return
            if c != ",":
                raise self._bad(c, "after array element")

    def _string(self) -> None:
        self.i += 1
        while True:
            c = self._peek()
            self.i += 1
            if c == '"':
                return
            if c == "\\":
                e = self._peek()
                self.i += 1
                if e == "u":
                    for _ in range(4):
                        h = self._peek()
                        if h not in "0123456789abcdefABCDEF":
                            raise self._bad(h, "in \\u hexadecimal character escape")
                        self.i += 1
                elif e not in '"\\/bfnrt':
                    raise self._bad(e, "in string escape code")
            elif ord(c) < 0x20:
                raise self._bad(c, "in string literal")

    def _digits(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isdigit():
            self.i += 1

    def _number(self) -> None:
        if self.s[self.i] == "-":
            self.i += 1
            if not self._peek().isdigit():
                raise self._bad(self._peek(), "in numeric literal")
        if self.s[self.i] == "0":
            self.i += 1
        else:
            self._digits()
        # at the end of the input a number is complete (the scanner's eof)
        if self.i < len(self.s) and self.s[self.i] == ".":
            self.i += 1
            if not self._peek().isdigit():
                raise self._bad(self._peek(), "after decimal point in numeric literal")
            self._digits()
        if self.i < len(self.s) and self.s[self.i] in "eE":
            self.i += 1
            if self._peek() in "+-":
                self.i += 1
            if not self._peek().isdigit():
                raise self._bad(self._peek(), "in exponent of numeric literal")
            self._digits()

    def _literal(self, word: str) -> None:
        for expect in word:
            c = self._peek()
            if c != expect:
                raise self._bad(c, f"in literal {word} (expecting {_go_quote_char(expect)})")
            self.i += 1


def _go_kind(v: Any) -> str:
    """The JSON kind encoding/json names in an UnmarshalTypeError."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(v), "value")


def _check_go_type(v: Any, gotype: str, where: str) -> str | None:
    """The UnmarshalTypeError text of ``v`` into a field of Go type ``gotype`` (None when it fits)."""
    if v is None:
        return None  # null leaves any Go value as it is

    def bad(kind: str, typ: str = gotype, w: str = where) -> str:
        return f"json: cannot unmarshal {kind} into Go struct field {w} of type {typ}"

    simple = {_GO_STRING: str, _GO_BOOL: bool}
    if gotype in simple:
        ok = isinstance(v, simple[gotype]) and (gotype == _GO_BOOL or not isinstance(v, bool))
        return None if ok else bad(_go_kind(v))
    if gotype.startswith("map["):
        if not isinstance(v, dict):
            return bad(_go_kind(v))
        if gotype == "map[string]string":
            return next(
                (bad(_go_kind(x), _GO_STRING) for x in v.values() if x is not None and not isinstance(x, str)), None
            )
        return None
    if gotype.startswith("[]"):
        if not isinstance(v, list):
            return bad(_go_kind(v))
        for x in v:
            err = _check_go_element(x, gotype[2:], where)
            if err:
                return err
    return None


def _check_go_element(x: Any, elem: str, where: str) -> str | None:
    if x is None:
        return None
    if elem == "api.Message":
        if not isinstance(x, dict):
            return f"json: cannot unmarshal {_go_kind(x)} into Go struct field {where} of type {elem}"
        for k, t in _MESSAGE_FIELDS.items():
            err = _check_go_type(x.get(k), t, f"{where}.{k}")
            if err:
                return err
        return None
    if elem == "int":
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            return f"json: cannot unmarshal {_go_kind(x)} into Go struct field {where} of type int"
        if isinstance(x, float) and not x.is_integer():
            return f"json: cannot unmarshal number {go_float(x)} into Go struct field {where} of type int"
        return None
    if elem == "api.ImageData" and not isinstance(x, str):  # base64 text
        return f"json: cannot unmarshal {_go_kind(x)} into Go struct field {where} of type {elem}"
    return None


def _go_type_name(v: Any) -> str:
    """Go's %T of a decoded JSON value (api.Duration's "Unsupported type" message)."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, list):
        return "[]interface {}"
    return "map[string]interface {}" if isinstance(v, dict) else type(v).__name__


def go_decode_request(raw: bytes, gotype: str) -> dict[str, Any]:
    """A request body as ``c.ShouldBindJSON(&api.<gotype>)`` reads it; HTTPFail(400) with Go's text."""
    text = raw.decode("utf-8", "replace")
    if not text.strip(" \t\r\n"):
        raise HTTPFail(400, "missing request body")
    scanner = _GoScanner(text)
    try:
        scanner.value()
    except _GoSyntax as exc:
        raise HTTPFail(400, str(exc)) from None
    obj = json.loads(text[: scanner.i])
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise HTTPFail(400, f"json: cannot unmarshal {_go_kind(obj)} into Go value of type api.{gotype}")
    fields = REQUEST_TYPES[gotype]
    first: str | None = None
    for key, v in obj.items():
        typ = fields.get(key)
        if typ == "*Duration":
            if v is not None and not isinstance(v, (int, float, str)) or isinstance(v, bool):
                raise HTTPFail(400, f"Unsupported type: '{_go_type_name(v)}'")  # an Unmarshaler's error stops at once
            if isinstance(v, str):
                try:
                    parse_go_duration(v)
                except ValueError as exc:
                    raise HTTPFail(400, str(exc)) from None
        elif typ is not None and first is None:
            first = _check_go_type(v, typ, f"{gotype}.{key}")
    if first:
        raise HTTPFail(400, first)
    return obj


# --------------------------------------------------------------------------------------------
# Model names (types/model/name.go, simplified)


@dataclass(frozen=True)
class Name:
    host: str
    namespace: str
    model: str
    tag: str

    @property
    def key(self) -> str:  # matching is case-insensitive
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}".lower()

    @property
    def short(self) -> str:  # DisplayShortest
        if self.host == REGISTRY_HOST and self.namespace == LIBRARY_NAMESPACE:
            return f"{self.model}:{self.tag}"
        if self.host == REGISTRY_HOST:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"


def parse_name(s: str) -> Name | None:
    """A fully qualified name, or None when Ollama would call it invalid."""
    if not s or s != s.strip():
        return None
    s = s.split("@", 1)[0]
    tag = "latest"
    slash = s.rfind("/")
    colon = s.rfind(":")
    if colon > slash:
        s, tag = s[:colon], s[colon + 1 :]
    parts = s.split("/")
    if len(parts) > 3 or any(p == "" for p in parts):
        return None
    model = parts[-1]
    namespace = parts[-2] if len(parts) >= 2 else LIBRARY_NAMESPACE
    host = parts[-3] if len(parts) == 3 else REGISTRY_HOST
    checks = {"host": host, "namespace": namespace, "model": model, "tag": tag}
    if not all(_NAME_PART[k].match(v) for k, v in checks.items()):
        return None
    return Name(host, namespace, model, tag)


def existing_name(state: DoubleState, n: Name) -> Name:
    """getExistingName (server/routes.go at v0.9.3): each part of the name takes the spelling an
    existing model's part has when they differ only in case, so a create, copy or pull over
    "Chef" when "chef" exists keeps "chef"."""
    parts = {"host": n.host, "namespace": n.namespace, "model": n.model, "tag": n.tag}
    with state.lock:
        for m in state.models.values():
            for part, value in parts.items():
                theirs = getattr(m.name, part)
                if value != theirs and value.lower() == theirs.lower():
                    parts[part] = theirs
    return Name(**parts)


def fs_valid_path(p: str) -> bool:
    """Go's io/fs.ValidPath."""
    if p == ".":
        return True
    if not p or p.startswith("/") or p.endswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in p.split("/"))


# --------------------------------------------------------------------------------------------
# State


@dataclass
class Model:
    name: Name
    model_info: dict[str, Any]
    details: dict[str, Any]
    size: int
    parameters: dict[str, Any] = field(default_factory=dict)
    template: str = DEFAULT_TEMPLATE
    system: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    license: list[str] = field(default_factory=list)
    adapters: list[str] = field(default_factory=list)
    projectors: list[str] = field(default_factory=list)  # digests of projector GGUFs (vision encoders)
    drafts: list[str] = field(default_factory=list)  # digests of draft-model layers (DRAFT; the last is used)
    requires: str = ""
    renderer: str = ""
    parser: str = ""
    capabilities: list[str] = field(default_factory=lambda: ["completion"])
    tensors: list[dict[str, Any]] = field(default_factory=list)
    weights_digest: str = ""
    modified_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    #: the manifest's layers in order, (kind, digest); kind is the media type's last part
    #: (model, projector, adapter, template, system, license, params, messages)
    layers: list[tuple[str, str]] = field(default_factory=list)
    #: made by a create whose ``from`` failed (server/create.go goes on without base layers):
    #: listed by /api/tags, unknown to /api/show, unable to generate
    orphan: bool = False

    @property
    def layer_digests(self) -> list[str]:
        return [d for _, d in self.layers]

    @property
    def architecture(self) -> str:
        return str(self.model_info.get("general.architecture", ""))

    @property
    def trained_context(self) -> int | None:
        v = self.model_info.get(f"{self.architecture}.context_length")
        return int(v) if isinstance(v, (int, float)) else None

    @property
    def runner_key(self) -> str:
        """What Ollama's scheduler keys a loaded runner by: the weights file (``ModelPath``)."""
        return self.weights_digest or "name:" + self.name.key

    @property
    def digest(self) -> str:
        payload = json.dumps([self.weights_digest, self.layer_digests, self.parameters, self.system,
                              self.template, self.messages, self.license, self.adapters, self.projectors,
                              self.drafts, self.requires, self.renderer, self.parser], sort_keys=True)  # fmt: skip
        return hashlib.sha256(payload.encode()).hexdigest()

    def copy_as(self, name: Name) -> Model:
        return Model(
            name=name,
            model_info=json.loads(json.dumps(self.model_info)),
            details=dict(self.details),
            size=self.size,
            parameters=json.loads(json.dumps(self.parameters)),
            template=self.template,
            system=self.system,
            messages=[dict(m) for m in self.messages],
            license=list(self.license),
            adapters=list(self.adapters),
            projectors=list(self.projectors),
            drafts=list(self.drafts),
            requires=self.requires,
            renderer=self.renderer,
            parser=self.parser,
            capabilities=list(self.capabilities),
            tensors=[dict(t) for t in self.tensors],
            weights_digest=self.weights_digest,
            layers=list(self.layers),
            orphan=self.orphan,
        )


@dataclass
class Runner:
    """A loaded runner, like ``runnerRef`` in Ollama's ``server/sched.go``.

    Keyed in ``DoubleState.runners`` by the weights (``Model.runner_key``): every model built
    on the same weights shares it while its load-time options, adapters and projectors match.
    ``/api/ps`` shows it under the model whose request loaded it (name, digest, details
    as they were then).
    """

    model_key: str  # Name.key of the model whose request loaded it
    options: dict[str, Any]  # the runner options it was loaded with (num_ctx = the effective one)
    context_length: int
    size: int
    size_vram: int
    expires_at: datetime
    loaded_at: float = field(default_factory=time.monotonic)
    name: str = ""  # short name of the loading model (what /api/ps shows)
    digest: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    adapters: list[str] = field(default_factory=list)
    projectors: list[str] = field(default_factory=list)
    trained_context: int | None = None
    num_ctx_auto: bool = False  # num_ctx came from the server default (neither model nor request)
    num_batch_auto: bool = False
    context_shift: bool = True  # a launch attribute from 0.30.0: a request with another `shift` reloads
    inflight: int = 0  # requests using it (Ollama's refCount): it is not unloaded while > 0
    loading: bool = False
    unload_when_idle: bool = False  # keep_alive 0 arrived while requests were running


@dataclass
class Faults:
    """Fault-injection switches, keyed by endpoint path (e.g. ``"/api/create"``)."""

    #: answer ``status`` with ``{"error": message}`` instead of handling the request
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: sleep this many seconds before answering (to trip a client read timeout)
    delay: dict[str, float] = field(default_factory=dict)
    #: send K NDJSON lines, then drop the connection without finishing the chunked body
    cut_after: dict[str, int] = field(default_factory=dict)
    #: replace the NDJSON line with this 0-based index by a malformed one
    malformed_at: dict[str, int] = field(default_factory=dict)
    #: after K lines, stall for S seconds before the next one: {path: (K, S)}
    stall_after: dict[str, tuple[int, float]] = field(default_factory=dict)
    #: /api/create: report this error in-stream (HTTP 200) after ``create_error_after`` lines
    create_error: str | None = None
    create_error_after: int = 1

    def clear(self) -> None:
        self.fail.clear()
        self.delay.clear()
        self.cut_after.clear()
        self.malformed_at.clear()
        self.stall_after.clear()
        self.create_error = None
        self.create_error_after = 1


@dataclass
class DoubleState:
    """Everything the double knows; tests read and flip these fields directly."""

    blob_dir: str
    version: str = DEFAULT_VERSION
    models: dict[str, Model] = field(default_factory=dict)  # Name.key -> Model
    registry: dict[str, Model] = field(default_factory=dict)  # what /api/pull can fetch
    http_registries: set[str] = field(default_factory=set)  # registry hosts (host:port, lower) served over http
    runners: dict[str, Runner] = field(default_factory=dict)  # Model.runner_key (weights) -> runner
    layer_blobs: set[str] = field(default_factory=set)  # digests of the layers creates have written
    faults: Faults = field(default_factory=Faults)
    # server settings
    default_num_ctx: int = 4096  # OLLAMA_CONTEXT_LENGTH / the VRAM-based default
    default_keep_alive: float = 300.0  # seconds (OLLAMA_KEEP_ALIVE)
    parallel: int = 1  # OLLAMA_NUM_PARALLEL: requests per model at once; the rest wait
    max_queue: int = 512  # OLLAMA_MAX_QUEUE: more waiting requests than this get 503
    vram_fraction: float = 1.0  # size_vram = size * vram_fraction in /api/ps; 0.0 is a CPU-only host
    shuffle_parameters: bool = True  # /api/show parameters/modelfile in random order, like Go maps
    api_latency: float = 0.0  # seconds slept before answering any request (every endpoint)
    # generation knobs
    latency: float = 0.0  # seconds slept at the start of each generate/chat request
    token_delay: float = 0.0  # seconds slept between streamed tokens
    load_delay: float = 0.0  # seconds slept when a runner (re)loads
    nondeterministic: bool = False  # output varies between calls even with a fixed seed
    eval_ns_per_token: int = 20_000_000  # reported eval speed (50 tokens/s)
    prompt_ns_per_token: int = 500_000
    load_ns: int = 250_000_000  # reported load_duration for a (re)load
    # observations
    requests: list[dict[str, Any]] = field(default_factory=list)
    load_count: int = 0
    loads: list[str] = field(default_factory=list)  # short names, one per (re)load
    inflight: dict[str, int] = field(default_factory=dict)  # Name.key -> requests running
    waiting: int = 0
    max_inflight: dict[str, int] = field(default_factory=dict)  # Name.key -> most at once
    active: int = 0  # requests being handled now (every endpoint)
    max_active: int = 0  # the most handled at once
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    cond: threading.Condition = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cond = threading.Condition(self.lock)

    # -- conveniences for tests -------------------------------------------------------------

    def get(self, name: str) -> Model | None:
        n = parse_name(name)
        return self.models.get(n.key) if n else None

    def add_model(self, model: Model) -> Model:
        with self.lock:
            self.models[model.name.key] = model
        return model

    def install(self, name: str, *, as_name: str | None = None) -> Model:
        """Copy a registry model into the local models (as if pulled)."""
        src = self.registry[parse_name(name).key]  # type: ignore[union-attr]
        n = parse_name(as_name or name)
        assert n is not None
        return self.add_model(src.copy_as(n))

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.blob_dir, digest.replace(":", "-", 1))

    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def add_blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(self.blob_path(digest), "wb") as f:
            f.write(data)
        return digest

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def repull(self, name: str) -> Model:
        """Publish a new version of registry model ``name`` (new weights, so a new digest) and
        pull it, as ``ollama pull`` after an upstream update does; returns the local model."""
        n = parse_name(name)
        assert n is not None
        with self.lock:
            old = self.registry[n.key]
            new = old.copy_as(old.name)
            new.weights_digest = "sha256:" + hashlib.sha256(f"{old.weights_digest}:next".encode()).hexdigest()
            new.layers = [("model", new.weights_digest)] + new.layers[1:]
            new.modified_at = datetime.now(timezone.utc)
            self.registry[n.key] = new
            local = new.copy_as(n)
            local.modified_at = datetime.now(timezone.utc)
            self.models[n.key] = local
        return local

    def runner_of(self, name: str) -> Runner | None:
        """The runner a request for ``name`` would find (the one of its weights), if loaded."""
        m = self.get(name)
        return self.runners.get(m.runner_key) if m is not None else None


# --------------------------------------------------------------------------------------------
# The preloaded pull registry


def _library_model(
    name: str,
    arch: str,
    *,
    file_type: int,
    context: int,
    embedding: int,
    blocks: int,
    heads: int,
    heads_kv: int,
    size: int,
    capabilities: list[str],
    ff: int,
    vocab: int,
    tied: bool = True,
    parameters: dict[str, Any] | None = None,
    template: str = DEFAULT_TEMPLATE,
    system: str = "",
    license: list[str] | None = None,
) -> Model:
    n = parse_name(name)
    assert n is not None
    qtype = FILE_TYPES.get(file_type, "unknown")
    tensors = _transformer_tensors(embedding, vocab, ff, blocks, heads, heads_kv, qtype, tied)
    params = sum(math.prod(t["shape"]) for t in tensors)  # Ollama computes it from the tensors
    info: dict[str, Any] = {
        "general.architecture": arch,
        "general.basename": n.model,
        "general.file_type": file_type,
        "general.parameter_count": params,
        "general.quantization_version": 2,
        f"{arch}.context_length": context,
        f"{arch}.embedding_length": embedding,
        f"{arch}.block_count": blocks,
        f"{arch}.attention.head_count": heads,
        f"{arch}.attention.head_count_kv": heads_kv,
        f"{arch}.feed_forward_length": ff,
        f"{arch}.rope.freq_base": 500000,
        f"{arch}.attention.layer_norm_rms_epsilon": 1e-05,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": arch,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
        f"{arch}.vocab_size": vocab,
        "tokenizer.ggml.tokens": [f"tok{i}" for i in range(12)],
        "tokenizer.ggml.token_type": [1] * 12,
        "tokenizer.ggml.merges": [f"t {i}" for i in range(8)],
    }
    weights = "sha256:" + hashlib.sha256(f"weights:{name}".encode()).hexdigest()
    return Model(
        name=n,
        model_info=info,
        details={
            "parent_model": "",
            "format": "gguf",
            "family": arch,
            "families": [arch],
            "parameter_size": human_number(params),
            "quantization_level": qtype,
        },
        size=size,
        parameters=dict(parameters or {}),
        template=template,
        system=system,
        license=list(license or []),
        capabilities=capabilities,
        tensors=tensors,
        weights_digest=weights,
        layers=[("model", weights)],
        modified_at=datetime(2025, 9, 1, 12, 0, 0, tzinfo=timezone.utc),
    )


def _transformer_tensors(
    emb: int, vocab: int, ff: int, blocks: int, heads: int, heads_kv: int, qtype: str, tied: bool
) -> list[dict[str, Any]]:
    """A realistic tensor list (names, ggml types, shapes in ne order) for a llama-like model."""
    if qtype in ("Q4_K_M", "Q4_K_S"):
        main, high = "Q4_K", "Q6_K"
    else:
        main = high = qtype
    kv_dim = emb * heads_kv // heads

    def t(name: str, typ: str, *shape: int) -> dict[str, Any]:
        return {"name": name, "type": typ, "shape": list(shape)}

    out = [t("token_embd.weight", high, emb, vocab), t("rope_freqs.weight", "F32", 64)]
    for i in range(blocks):
        b = f"blk.{i}."
        out += [
            t(b + "attn_norm.weight", "F32", emb),
            t(b + "attn_q.weight", main, emb, emb),
            t(b + "attn_k.weight", main, emb, kv_dim),
            t(b + "attn_v.weight", high, emb, kv_dim),
            t(b + "attn_output.weight", main, emb, emb),
            t(b + "ffn_norm.weight", "F32", emb),
            t(b + "ffn_gate.weight", main, emb, ff),
            t(b + "ffn_up.weight", main, emb, ff),
            t(b + "ffn_down.weight", high, ff, emb),
        ]
    out.append(t("output_norm.weight", "F32", emb))
    if not tied:
        out.append(t("output.weight", high, emb, vocab))
    return out


LLAMA3_TEMPLATE = (
    "<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>"
    "{{ range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
    "{{ .Content }}<|eot_id|>{{ end }}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)


def default_registry() -> dict[str, Model]:
    """The pull registry. Its models are shared between doubles: treat them as read-only
    (pull/install/create copy them into ``state.models``)."""
    return dict(_registry_models())


@functools.lru_cache(maxsize=1)
def _registry_models() -> dict[str, Model]:
    models = [
        _library_model(
            "llama3.2:3b", "llama", file_type=15, ff=8192, vocab=128256, context=131072, embedding=3072,
            blocks=28, heads=24, heads_kv=8, size=2019393189, capabilities=["completion", "tools"],
            parameters={"stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]},
            template=LLAMA3_TEMPLATE, license=["LLAMA 3.2 COMMUNITY LICENSE AGREEMENT"],
        ),
        _library_model(
            "llama3.2:1b", "llama", file_type=15, ff=8192, vocab=128256, context=131072, embedding=2048,
            blocks=16, heads=32, heads_kv=8, size=1321098329, capabilities=["completion", "tools"],
            parameters={"stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]},
            template=LLAMA3_TEMPLATE, license=["LLAMA 3.2 COMMUNITY LICENSE AGREEMENT"],
        ),
        _library_model(
            "qwen3:8b", "qwen3", file_type=15, ff=12288, vocab=151936, tied=False, context=40960,
            embedding=4096, blocks=36, heads=32, heads_kv=8, size=5225376047,
            capabilities=["completion", "tools", "thinking"],
            parameters={"temperature": 0.6, "top_k": 20, "top_p": 0.95, "repeat_penalty": 1,
                        "stop": ["<|im_start|>", "<|im_end|>"]},
            license=["Apache License 2.0"],
        ),
        _library_model(
            "smollm2:135m-instruct-fp16", "llama", file_type=1, ff=1536, vocab=49152, context=8192,
            embedding=576, blocks=30, heads=9, heads_kv=3, size=270898528, capabilities=["completion"],
            license=["Apache License 2.0"],
        ),
        _library_model(
            "nomic-embed-text:latest", "nomic-bert", file_type=1, ff=3072, vocab=30522, context=2048,
            embedding=768, blocks=12, heads=12, heads_kv=12, size=274302450, capabilities=["embedding"],
            license=["Apache License 2.0"],
        ),
    ]  # fmt: skip
    reg = {m.name.key: m for m in models}
    latest = models[0].copy_as(parse_name("llama3.2:latest"))  # type: ignore[arg-type]
    reg[latest.name.key] = latest
    return reg


# --------------------------------------------------------------------------------------------
# GGUF metadata (test-only dependency)


def read_gguf(path: str) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """(model_info, tensors, parameter_count) of a GGUF file, the way /api/show reports them."""
    from gguf import GGUFReader, GGUFValueType  # test-only dependency

    reader = GGUFReader(path)
    info: dict[str, Any] = {}
    for key, f in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.name", "tokenizer.chat_template"):
            continue
        v = f.contents()
        info[key] = _float32(_plain(v)) if f.types and f.types[-1] == GGUFValueType.FLOAT32 else _plain(v)
    tensors = []
    count = 0
    for t in reader.tensors:
        count += int(t.n_elements)
        tensors.append({"name": t.name, "type": t.tensor_type.name, "shape": [int(x) for x in t.shape]})
    info["general.parameter_count"] = count  # Ollama computes it from the tensors
    return info, tensors, count


def _float32(v: Any) -> Any:
    """A GGUF float32 as Go writes it in JSON: its shortest float32 digits, a whole one without a
    point. Arrays (vocabulary scores: 100k+ values) stay as read: only verbose shows them."""
    if isinstance(v, list):
        return v
    import numpy as np  # test-only dependency (with gguf)

    f = float(str(np.float32(v)))
    return int(f) if f.is_integer() else f


def _plain(v: Any) -> Any:
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


# --------------------------------------------------------------------------------------------
# Option handling (api.Options.FromMap)


def apply_options(opts: dict[str, Any], incoming: dict[str, Any] | None) -> None:
    for key, val in (incoming or {}).items():
        if val is None:
            continue
        if key in INT_OPTIONS:
            if isinstance(val, bool) or not isinstance(val, (int, float)):
                raise HTTPFail(500, f'option "{key}" must be of type integer')
            opts[key] = int(val)
        elif key in FLOAT_OPTIONS:
            if isinstance(val, bool) or not isinstance(val, (int, float)):
                raise HTTPFail(500, f'option "{key}" must be of type float32')
            opts[key] = float(val)
        elif key in BOOL_OPTIONS:
            if not isinstance(val, bool):
                raise HTTPFail(500, f'option "{key}" must be of type boolean')
            opts[key] = val
        elif key in LIST_OPTIONS:
            if not isinstance(val, list):
                raise HTTPFail(500, f'option "{key}" must be of type array')
            if not all(isinstance(x, str) for x in val):
                raise HTTPFail(500, f'option "{key}" must be of an array of strings')
            opts[key] = list(val)
        # unknown names are ignored (a server-log warning in Ollama)


# --------------------------------------------------------------------------------------------
# The HTTP layer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def state(self) -> DoubleState:
        return self.server.state

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size_line = self.rfile.readline().strip()
                size = int(size_line.split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes, ctype: str = "application/json; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode())

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _request_json(self, raw: bytes, gotype: str) -> dict[str, Any]:
        """The body as Ollama's handler binds it into ``api.<gotype>`` (see go_decode_request)."""
        return go_decode_request(raw, gotype)

    def _sleep(self, seconds: float) -> None:
        """Sleep; when the double is stopped meanwhile, the request dies with the server."""
        if seconds > 0 and self.server.stopping.wait(seconds):
            raise _Cut()
        if self.server.stopping.is_set():
            raise _Cut()

    # -- streaming with fault injection ------------------------------------------------------

    def _stream(self, path: str, events: Iterator[dict[str, Any]], stream: bool, *, go_channel: bool = False) -> None:
        """Ollama's streamResponse / waitForStream around an event generator.

        ``go_channel``: every error of the events is a line of the stream, as when a handler's
        goroutine sends it on its channel (``/api/create``); one sent with a status (400) carries
        it as a field, ``{"error": ..., "status": 400}`` (server/create.go at v0.9.3)."""
        if not stream:
            self._wait_for_stream(events)
            return
        started = False
        n = 0
        faults = self.state.faults
        try:
            try:
                for ev in events:
                    if self.server.stopping.is_set():
                        raise _Cut()
                    if not started:
                        self._start_chunked()
                        started = True
                    if path in faults.cut_after and n >= faults.cut_after[path]:
                        raise _Cut()
                    stall = faults.stall_after.get(path)
                    if stall is not None and n == stall[0]:
                        self._sleep(stall[1])
                    line = json.dumps(ev, ensure_ascii=False)
                    if faults.malformed_at.get(path) == n:
                        line = line[: max(1, len(line) // 2)] + "<<not json"
                    self._chunk((line + "\n").encode())
                    n += 1
            except HTTPFail as exc:
                if not started and not go_channel:
                    self._error(exc.status, exc.message)
                    return
                started = self._error_line(exc, started, go_channel)
            if not started:
                self._start_chunked()
            if path in faults.cut_after and n >= faults.cut_after[path]:
                raise _Cut()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except _Cut:
            self._drop()

    def _wait_for_stream(self, events: Iterator[dict[str, Any]]) -> None:
        """``stream: false``: the last event, or the first error with its status."""
        last: dict[str, Any] | None = None
        try:
            for ev in events:
                last = ev
        except HTTPFail as exc:
            self._error(exc.status, exc.message)
            return
        self._json(200, last if last is not None else {})

    def _error_line(self, exc: HTTPFail, started: bool, go_channel: bool) -> bool:
        """An error as the stream's next line (starting the stream if needed); returns True."""
        if not started:
            self._start_chunked()
        line: dict[str, Any] = {"error": exc.message}
        if go_channel and exc.status == 400:
            line["status"] = 400
        self._chunk((json.dumps(line) + "\n").encode())
        return True

    def _start_chunked(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- dispatch ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        if self.server.stopping.is_set():  # a stopped server answers nothing
            self._drop()
            return
        path = self.path.split("?", 1)[0]
        method = self.command
        blob_post_unread = method == "POST" and path.startswith("/api/blobs/")
        raw = b"" if blob_post_unread else self._body()
        try:
            parsed = json.loads(raw) if raw.strip() else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            parsed = None
        with self.state.lock:
            self.state.requests.append(
                {"method": method, "path": path, "json": parsed, "headers": dict(self.headers.items())}
            )
        key = "/api/blobs" if path.startswith("/api/blobs/") else path
        with self.state.lock:
            self.state.active += 1
            self.state.max_active = max(self.state.max_active, self.state.active)
        try:
            self._route(method, path, key, raw, blob_post_unread)
        finally:
            with self.state.lock:
                self.state.active -= 1

    def _route(self, method: str, path: str, key: str, raw: bytes, blob_post_unread: bool) -> None:
        faults = self.state.faults
        fail = faults.fail.get(path) or faults.fail.get(key)
        try:
            self._sleep(self.state.api_latency + faults.delay.get(path, faults.delay.get(key, 0.0)))
            if fail is not None:
                if blob_post_unread:
                    self._body()
                self._error(fail[0], fail[1])
                return
            routes: dict[tuple[str, str], Callable[[bytes], None]] = {
                ("GET", "/"): self._root,
                ("HEAD", "/"): self._root,
                ("GET", "/api/version"): self._version,
                ("HEAD", "/api/version"): self._version,
                ("GET", "/api/tags"): self._tags,
                ("HEAD", "/api/tags"): self._tags,
                ("GET", "/api/ps"): self._ps,
                ("POST", "/api/show"): self._show,
                ("POST", "/api/create"): self._create,
                ("POST", "/api/pull"): self._pull,
                ("POST", "/api/generate"): self._generate,
                ("POST", "/api/chat"): self._chat,
                ("DELETE", "/api/delete"): self._delete,
                ("POST", "/api/copy"): self._copy,
                ("POST", "/api/push"): self._push,
            }
            if path.startswith("/api/blobs/") and method in ("HEAD", "POST"):
                self._blob(path[len("/api/blobs/") :])
                return
            handler = routes.get((method, path))
            if handler is None and (path.startswith("/api/blobs/") or path in {p for _, p in routes}):
                # gin (HandleMethodNotAllowed): a known path asked with another method
                if blob_post_unread:
                    self._body()
                self._send(405, b"405 method not allowed", "text/plain")
                return
            if handler is None:
                if blob_post_unread:
                    self._body()
                self._send(404, b"404 page not found", "text/plain")
                return
            handler(raw)
        except HTTPFail as exc:
            self._error(exc.status, exc.message)
        except _Cut:
            self._drop()
        except OSError:  # the client went away (broken pipe, reset) or the double was stopped
            self.close_connection = True

    # -- simple endpoints -------------------------------------------------------------------

    def _root(self, raw: bytes) -> None:
        self._send(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _version(self, raw: bytes) -> None:
        self._json(200, {"version": self.state.version})

    def _tags(self, raw: bytes) -> None:
        with self.state.lock:
            models = sorted(self.state.models.values(), key=lambda m: m.modified_at, reverse=True)
            out = []
            extras = not _version_before(self.state.version, TAGS_EXTRAS_SINCE)
            for m in models:
                # ListHandler fills the details from the config: parent_model stays "" (server/routes.go)
                details = {**m.details, "parent_model": ""}
                entry = {
                    "name": m.name.short,
                    "model": m.name.short,
                    "modified_at": rfc3339(m.modified_at),
                    "size": m.size,
                    "digest": m.digest,
                    "details": details,
                }
                if extras:
                    if m.trained_context is not None:
                        details["context_length"] = m.trained_context
                    emb = m.model_info.get(f"{m.architecture}.embedding_length")
                    if isinstance(emb, (int, float)):
                        details["embedding_length"] = int(emb)
                    entry["capabilities"] = list(m.capabilities)
                out.append(entry)
        self._json(200, {"models": out})

    def _expire_runners(self) -> None:
        now = datetime.now(timezone.utc)
        with self.state.lock:  # a runner in use is not unloaded (its expiry timer starts when idle)
            for k in [k for k, r in self.state.runners.items() if r.expires_at <= now and r.inflight <= 0]:
                del self.state.runners[k]

    def _ps(self, raw: bytes) -> None:
        self._expire_runners()
        with self.state.lock:
            rows: list[tuple[datetime, dict[str, Any]]] = []
            for r in self.state.runners.values():
                # One entry per runner, under the model that loaded it (runnerRef.model), even
                # when other models on the same weights use it, or that model is gone since.
                details = {k: v for k, v in r.details.items() if k != "parent_model"}
                details["parent_model"] = ""
                entry = {
                    "name": r.name,
                    "model": r.name,
                    "size": r.size,
                    "digest": r.digest,
                    "details": details,
                    "expires_at": rfc3339(r.expires_at),
                    "size_vram": r.size_vram,
                }
                if not _version_before(self.state.version, PS_CONTEXT_SINCE):
                    entry["context_length"] = r.context_length
                rows.append((r.expires_at, entry))
            rows.sort(key=lambda row: row[0], reverse=True)  # longest remaining first
        self._json(200, {"models": [row[1] for row in rows]})

    def _model_or_404(self, name: str, fmt: str = "model '{}' not found") -> Model:
        n = parse_name(name)
        m = self.state.models.get(n.key) if n else None
        if m is None:
            raise HTTPFail(404, fmt.format(name))
        return m

    # -- show ---------------------------------------------------------------------------------

    def _show(self, raw: bytes) -> None:
        req = self._request_json(raw, "ShowRequest")
        name = req.get("model") or req.get("name") or ""
        if not name:
            raise HTTPFail(400, "model is required")
        if parse_name(name) is None:
            if _version_before(self.state.version, SHOW_UNQUALIFIED_SINCE):
                raise HTTPFail(500, "invalid model path")  # GetModelInfo's ErrModelPathInvalid (server/routes.go)
            raise HTTPFail(400, "invalid model name")
        with self.state.lock:
            m = self._model_or_404(name)
            if m.orphan:  # no model layer: GetModel fails as for a missing model
                raise HTTPFail(404, f"model '{name}' not found")
            self._json(200, show_response(m, self.state, verbose=bool(req.get("verbose")),
                                          system=req.get("system") or ""))  # fmt: skip

    # -- blobs --------------------------------------------------------------------------------

    def _blob(self, digest: str) -> None:
        if not _BLOB_DIGEST_RE.match(digest):
            if self.command == "POST":
                self._body()
            raise HTTPFail(400, "invalid digest format")
        exists = self.state.has_blob(digest)
        if self.command == "HEAD":
            if exists:
                self._send(200, b"")
            else:
                self._error(404, f'blob "{digest}" not found')
            return
        if exists:
            self._body()  # Ollama does not read it; we must, to keep the connection usable
            self._send(200, b"")
            return
        h = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.state.blob_dir, prefix="partial-")
        try:
            with os.fdopen(fd, "wb") as out:
                for block in self._iter_body():
                    h.update(block)
                    out.write(block)
            got = "sha256:" + h.hexdigest()
            if got != digest:
                raise HTTPFail(400, f'digest mismatch, expected "{digest}", got "{got}"')
            os.replace(tmp, self.state.blob_path(digest))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._send(201, b"")

    def _iter_body(self) -> Iterator[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            yield self._body()
            return
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            block = self.rfile.read(min(left, 1 << 16))
            if not block:
                break
            left -= len(block)
            yield block

    # -- create -------------------------------------------------------------------------------

    def _create(self, raw: bytes) -> None:
        req = self._request_json(raw, "CreateRequest")
        files = req.get("files") or {}
        adapters = req.get("adapters") or {}
        shapes = {"files": dict, "adapters": dict, "parameters": dict, "messages": list, "info": dict}
        for fname, typ in shapes.items():
            val = req.get(fname)
            if val is not None and not isinstance(val, typ):
                gotype = (
                    "map[string]string"
                    if fname in ("files", "adapters")
                    else ("map[string]interface {}" if typ is dict else "[]api.Message")
                )
                raise HTTPFail(
                    400,
                    f"json: cannot unmarshal {_json_kind(val)} into Go struct field CreateRequest.{fname} "
                    f"of type {gotype}",
                )
        for path, digest in files.items():
            if not fs_valid_path(path):
                raise HTTPFail(400, "file path must be relative")
            if not digest:
                raise HTTPFail(400, "invalid digest format")
        for digest in adapters.values():
            if not digest:
                raise HTTPFail(400, "invalid digest format")
        self._check_drafts(req)
        name = parse_name(req.get("model") or req.get("name") or "")
        if name is None:
            raise HTTPFail(400, "invalid model name")
        name = existing_name(self.state, name)
        stream = req.get("stream") is not False
        self._stream("/api/create", create_events(self.state, req, name, self._sleep), stream, go_channel=True)

    def _check_drafts(self, req: dict[str, Any]) -> None:
        """``draft_files``/``draft_quantize`` (v0.30+; older servers do not know the fields)."""
        if _version_before(self.state.version, DRAFT_SINCE):
            return
        drafts = req.get("draft_files")
        if drafts is not None and not isinstance(drafts, dict):
            raise HTTPFail(
                400,
                f"json: cannot unmarshal {_json_kind(drafts)} into Go struct field CreateRequest.draft_files "
                "of type map[string]string",
            )
        for path, digest in (drafts or {}).items():
            if not fs_valid_path(path):
                raise HTTPFail(400, "file path must be relative")
            if not digest:
                raise HTTPFail(400, "invalid digest format")
        if req.get("draft_quantize") and not drafts:
            raise HTTPFail(400, "--draft-quantize requires a DRAFT model")

    # -- pull ---------------------------------------------------------------------------------

    def _pull(self, raw: bytes) -> None:
        req = self._request_json(raw, "PullRequest")
        name = parse_name(req.get("model") or req.get("name") or "")
        if name is None:
            raise HTTPFail(400, "invalid model name")
        name = existing_name(self.state, name)
        stream = req.get("stream") is not False
        self._stream("/api/pull", pull_events(self.state, name, insecure=req.get("insecure") is True), stream)

    def _push(self, raw: bytes) -> None:
        req = self._request_json(raw, "PushRequest")
        name = parse_name(req.get("model") or req.get("name") or "")
        if name is None:
            raise HTTPFail(400, "invalid model name")
        stream = req.get("stream") is not False
        self._stream("/api/push", push_events(self.state, name, insecure=req.get("insecure") is True), stream)

    # -- delete / copy ------------------------------------------------------------------------

    def _delete(self, raw: bytes) -> None:
        req = self._request_json(raw, "DeleteRequest")
        raw_name = req.get("model") or req.get("name") or ""
        n = parse_name(raw_name)
        if n is None:
            raise HTTPFail(400, f'name "{raw_name}" is invalid')
        with self.state.lock:
            if n.key not in self.state.models:
                raise HTTPFail(404, f"model '{raw_name}' not found")
            gone = self.state.models.pop(n.key)  # loaded runners stay (DeleteHandler leaves the scheduler alone)
            self._remove_layers(gone)
        self._send(200, b"")

    def _remove_layers(self, gone: Model) -> None:
        """Manifest.RemoveLayers (server/manifest.go): a layer no other model uses is deleted, its
        blob too (an uploaded GGUF a later create would reuse must be uploaded again)."""
        used = {d for m in self.state.models.values() for d in (m.layer_digests or [m.weights_digest])}
        for digest in set(gone.layer_digests or [gone.weights_digest]) - used:
            self.state.layer_blobs.discard(digest)
            if digest and self.state.has_blob(digest):
                os.unlink(self.state.blob_path(digest))

    def _copy(self, raw: bytes) -> None:
        req = self._request_json(raw, "CopyRequest")
        src, dst = req.get("source") or "", req.get("destination") or ""
        ns, nd = parse_name(src), parse_name(dst)
        if ns is None:
            raise HTTPFail(400, f'source "{src}" is invalid')
        if nd is None:
            raise HTTPFail(400, f'destination "{dst}" is invalid')
        with self.state.lock:
            m = self.state.models.get(ns.key)
            if m is None:
                raise HTTPFail(404, f'model "{src}" not found')
            nd = existing_name(self.state, nd)
            copy = m.copy_as(nd)
            copy.modified_at = datetime.now(timezone.utc)
            self.state.models[nd.key] = copy
        self._send(200, b"")

    # -- generate / chat ----------------------------------------------------------------------

    def _generate(self, raw: bytes) -> None:
        self._generation(raw, chat=False)

    def _chat(self, raw: bytes) -> None:
        self._generation(raw, chat=True)

    def _generation(self, raw: bytes, *, chat: bool) -> None:
        started = time.monotonic()
        req = self._request_json(raw, "ChatRequest" if chat else "GenerateRequest")
        name = req.get("model") or ""
        top = req.get("top_logprobs") or 0
        if not isinstance(top, int) or not 0 <= top <= 20:
            raise HTTPFail(400, "top_logprobs must be between 0 and 20")
        keep_alive = parse_keep_alive(req.get("keep_alive"), self.state.default_keep_alive)
        n = parse_name(name)
        with self.state.lock:
            m = self.state.models.get(n.key) if n else None
        if m is None:
            raise self._missing_model(name, chat=chat, unload=not req.get("messages") and req.get("keep_alive") == 0)
        what = "chat" if chat else "generate"
        if "completion" not in m.capabilities:
            raise HTTPFail(400, f'"{name}" does not support {what}')
        self._check_capabilities(m, req, name, chat=chat)
        if not chat and req.get("raw") and (req.get("template") or req.get("system") or req.get("context")):
            raise HTTPFail(400, "raw mode does not support template, system, or context")
        messages = req.get("messages") or []
        prompt = req.get("prompt") or ""
        opts = {"num_ctx": self.state.default_num_ctx, **DEFAULT_OPTIONS}
        req_opts = req.get("options") if isinstance(req.get("options"), dict) else None
        apply_options(opts, m.parameters)
        apply_options(opts, req_opts)
        adjust_options(opts, m, req_opts)
        # Left to the server on both layers: the scheduler may pick it (numCtxAuto, numBatchAuto).
        auto = {k: all((src or {}).get(k) is None for src in (m.parameters, req_opts))
                for k in ("num_ctx", "num_batch")}  # fmt: skip
        # `shift` picks how the runner is launched (0.30.0+: another value reloads it); older
        # servers ignore it, as they ignore `truncate`.
        shift = req.get("shift") is not False or _version_before(self.state.version, TRUNCATE_SINCE)
        self._sleep(self.state.latency)
        stream = req.get("stream") is not False
        created = rfc3339(datetime.now(timezone.utc), utc=True)
        base = {"model": name, "created_at": created}
        empty = not messages if chat else not prompt
        if empty:
            if keep_alive == 0:
                self._unload(m)
                reason = "unload"
            else:
                r, _ = self._acquire(m, opts, keep_alive, auto, shift=shift)
                self._release(r, keep_alive)
                reason = "load"
            obj = dict(base)
            if chat:
                obj["message"] = {"role": "assistant", "content": ""}
            else:
                obj["response"] = ""
            obj.update({"done": True, "done_reason": reason})
            self._json(200, obj)
            return
        key = m.name.key
        r, load_ns = self._acquire(m, opts, keep_alive, auto, shift=shift)
        try:
            with self.state.cond:
                cur = self.state.inflight.get(key, 0) + 1
                self.state.inflight[key] = cur
                self.state.max_inflight[key] = max(cur, self.state.max_inflight.get(key, 0))
            try:
                events = generation_events(
                    self.state, m, req, opts, chat=chat, base=base, load_ns=load_ns, started=started,
                    sleep=self._sleep,
                )  # fmt: skip
                self._stream("/api/chat" if chat else "/api/generate", events, stream)
            finally:
                with self.state.cond:
                    self.state.inflight[key] -= 1
        finally:
            self._release(r, keep_alive)

    def _check_capabilities(self, m: Model, req: dict[str, Any], name: str, *, chat: bool) -> None:
        """What the request needs beyond completion: tools (chat), insert (a suffix), thinking.

        scheduleRunner's Model.CheckCapabilities (server/images.go, server/routes.go at v0.9.3)
        answers 400 "<full name> does not support <each missing, one a line>"; from 0.12.5 the
        handlers refuse thinking themselves, naming the model as requested.
        """
        early_think = not _version_before(self.state.version, THINK_CHECK_SINCE)
        if early_think and req.get("think") and "thinking" not in m.capabilities:
            raise HTTPFail(400, f'"{name}" does not support thinking')
        wants = [("tools", bool(req.get("tools")) and chat), ("insert", bool(req.get("suffix")) and not chat)]
        wants.append(("thinking", bool(req.get("think")) and not early_think))
        missing = [cap for cap, wanted in wants if wanted and cap not in m.capabilities]
        if missing:
            full = f"{m.name.host}/{m.name.namespace}/{m.name.model}:{m.name.tag}"
            raise HTTPFail(400, f"{full} does not support " + "\n".join(missing))

    def _missing_model(self, name: str, *, chat: bool, unload: bool) -> HTTPFail:
        """The answer for a model the server lacks. /api/chat (server/routes.go ChatHandler at v0.9.3):
        an invalid name is 400 "model is required"; before 0.12.0 a valid one reaches the scheduler,
        whose handleScheduleError says "try pulling it first" (except for an unload, which looks
        the model up first)."""
        if chat and not unload:
            if parse_name(name) is None:
                return HTTPFail(400, "model is required")
            if _version_before(self.state.version, CHAT_LOOKUP_SINCE):
                return HTTPFail(404, f'model "{name}" not found, try pulling it first')
        return HTTPFail(404, f"model '{name}' not found")

    def _acquire(
        self, m: Model, opts: dict[str, Any], keep_alive: float, auto: dict[str, bool], *, shift: bool = True
    ) -> tuple[Runner, int]:
        """A slot on a runner for ``m`` with these load-time options; the reported load_duration (ns).

        Like Ollama's scheduler: the runner of ``m``'s weights serves the request when
        ``needs_reload`` says it can (at most ``parallel`` requests at once, the rest wait);
        otherwise it is replaced once its running requests end. Requests beyond ``max_queue``
        waiting get 503.
        """
        st = self.state
        rkey = m.runner_key
        want = {k: opts.get(k) for k in RUNNER_OPTIONS}
        expires = datetime.now(timezone.utc) + (FOREVER if keep_alive < 0 else timedelta(seconds=keep_alive))
        with st.cond:
            if st.waiting >= st.max_queue:
                raise HTTPFail(503, "server busy, please try again.  maximum pending requests exceeded")
            st.waiting += 1
            try:
                while True:
                    self._expire_runners()
                    r = st.runners.get(rkey)
                    stale = r is not None and needs_reload(
                        r, m, want, ctx_auto=auto["num_ctx"], batch_auto=auto["num_batch"]
                    )
                    if r is not None and not _version_before(st.version, LLAMA_SERVER_SINCE):
                        stale = stale or r.context_shift != shift
                    if r is None or (stale and r.inflight <= 0):
                        r = self._new_runner(m, want, expires, auto)
                        r.context_shift = shift
                        st.runners[rkey] = r
                        st.load_count += 1
                        st.loads.append(m.name.short)
                        fresh = True
                        break
                    if not stale and not r.loading and r.inflight < max(1, st.parallel):
                        fresh = False
                        break
                    st.cond.wait(0.05)
            finally:
                st.waiting -= 1
            r.inflight += 1
            r.unload_when_idle = False
            if not fresh:
                r.expires_at = max(r.expires_at, expires) if keep_alive < 0 else expires
        if not fresh:
            return r, 150_000
        try:
            self._sleep(st.load_delay)
        except BaseException:
            self._release(r, keep_alive)
            raise
        finally:
            with st.cond:
                r.loading = False
                st.cond.notify_all()
        return r, st.load_ns + int(st.load_delay * 1e9)

    def _new_runner(self, m: Model, want: dict[str, Any], expires: datetime, auto: dict[str, bool]) -> Runner:
        ctx = effective_context(want["num_ctx"], m.trained_context)
        size = m.size + kv_cache_bytes(m, ctx)
        return Runner(
            model_key=m.name.key,
            options={**want, "num_ctx": ctx},
            context_length=ctx,
            size=size,
            size_vram=int(size * self.state.vram_fraction),
            expires_at=expires,
            name=m.name.short,
            digest=m.digest,
            details=dict(m.details),
            adapters=list(m.adapters),
            projectors=list(m.projectors),
            trained_context=m.trained_context,
            num_ctx_auto=auto["num_ctx"],
            num_batch_auto=auto["num_batch"],
            loading=True,
        )

    def _release(self, r: Runner, keep_alive: float) -> None:
        """A request is done with ``r``; keep_alive 0 unloads it once nobody uses it."""
        st = self.state
        with st.cond:
            r.inflight -= 1
            if keep_alive == 0:
                r.unload_when_idle = True
            if r.inflight <= 0 and r.unload_when_idle:
                rkey = next((k for k, v in st.runners.items() if v is r), None)
                if rkey is not None:
                    del st.runners[rkey]
            st.cond.notify_all()

    def _unload(self, m: Model) -> None:
        """``expireRunner``: unload the runner of ``m``'s weights now, or when its requests end."""
        st = self.state
        with st.cond:
            r = st.runners.get(m.runner_key)
            if r is None:
                return
            if r.inflight <= 0:
                del st.runners[m.runner_key]
            else:
                r.unload_when_idle = True
            st.cond.notify_all()


def _is_projector(info: dict[str, Any]) -> bool:
    kind = str(info.get("general.type", "")).lower()
    return kind in ("projector", "mmproj") or info.get("general.architecture") == "clip"


def needs_reload(r: Runner, m: Model, want: dict[str, Any], *, ctx_auto: bool, batch_auto: bool) -> bool:
    """``runnerRef.needsReload``: adapters, projectors or load-time options differ.

    ``want`` holds the request's runner options. As in Ollama, num_ctx is compared after
    capping it at the trained context; num_ctx (num_batch) left to the server on both sides
    counts as equal; a request with num_gpu < 0 accepts any layer split.
    """
    if r.adapters != m.adapters or r.projectors != m.projectors:
        return True
    have = dict(r.options)
    new = dict(want)
    new["num_ctx"] = effective_context(new["num_ctx"], r.trained_context)
    if r.num_ctx_auto and ctx_auto:
        new["num_ctx"] = have["num_ctx"]
    if r.num_batch_auto and batch_auto:
        new["num_batch"] = have["num_batch"]
    if new.get("num_gpu") is not None and new["num_gpu"] < 0:
        have["num_gpu"] = new["num_gpu"] = -1
    return have != new


def adjust_options(opts: dict[str, Any], m: Model, req_opts: dict[str, Any] | None) -> None:
    """What Ollama does to the combined options before scheduling: draft_num_predict is 0 for a
    model without a draft unless the model or request sets it (server/routes.go
    modelOptionsWithEmbeddingBatchDefault); num_ctx is at least 4, and at least 2048 for a vision
    model (server/sched.go getRunner)."""
    if not m.drafts and all("draft_num_predict" not in (src or {}) for src in (m.parameters, req_opts)):
        opts["draft_num_predict"] = 0
    if isinstance(opts.get("num_ctx"), int):
        opts["num_ctx"] = max(4, opts["num_ctx"])
        if "vision" in m.capabilities:
            opts["num_ctx"] = max(2048, opts["num_ctx"])


def effective_context(num_ctx: Any, trained: int | None) -> int:
    """num_ctx as the runner uses it: at least 4, at most the trained context (llm/server.go)."""
    ctx = max(4, int(num_ctx))
    return min(ctx, trained) if trained else ctx


def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object" if isinstance(v, dict) else "value"


def parse_keep_alive(value: Any, default: float) -> float:
    """api.Duration: seconds (negative = forever), or a Go duration string; 400 otherwise."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise HTTPFail(400, "Unsupported type: 'bool'")
    if isinstance(value, (int, float)):
        return -1.0 if value < 0 else float(value)
    if isinstance(value, str):
        try:
            secs = parse_go_duration(value)
        except ValueError as exc:
            raise HTTPFail(400, str(exc)) from None
        return -1.0 if secs < 0 else secs
    raise HTTPFail(400, f"Unsupported type: '{_go_type_name(value)}'")


def kv_cache_bytes(m: Model, ctx: int) -> int:
    arch = m.architecture
    blocks = int(m.model_info.get(f"{arch}.block_count") or 0)
    emb = int(m.model_info.get(f"{arch}.embedding_length") or 0)
    heads = m.model_info.get(f"{arch}.attention.head_count") or 1
    heads_kv = m.model_info.get(f"{arch}.attention.head_count_kv") or heads
    if isinstance(heads, list) or isinstance(heads_kv, list):
        heads, heads_kv = 1, 1
    kv_dim = emb * int(heads_kv) // max(1, int(heads))
    return 2 * blocks * ctx * kv_dim * 2  # K and V, f16


# --------------------------------------------------------------------------------------------
# /api/show


def show_response(m: Model, state: DoubleState, *, verbose: bool = False, system: str = "") -> dict[str, Any]:
    info = {}
    # Without verbose the GGUF is read with arrays left unread: since 0.6.7 every non-empty
    # array is then null (fs/ggml/gguf.go newArray at v0.9.3); before, long arrays were [].
    unread_null = not _version_before(state.version, ARRAYS_NULL_SINCE)
    for k, v in m.model_info.items():
        if isinstance(v, list) and not verbose and (v if unread_null else len(v) > 5):
            v = None if unread_null else []
        info[k] = v
    params = list(m.parameters.items())
    if state.shuffle_parameters:
        random.shuffle(params)
    lines = []
    for k, v in params:
        for item in v if isinstance(v, list) else [v]:
            lines.append(f"{k:<30} {go_value(item, True)}")
    resp: dict[str, Any] = {
        "license": "\n".join(m.license),
        "modelfile": modelfile_text(m, params, system or m.system),
        "parameters": "\n".join(lines),
        "template": m.template,
        "details": dict(m.details),
        "model_info": info,
        "tensors": [dict(t) for t in m.tensors],
        "capabilities": list(m.capabilities),
        "modified_at": rfc3339(m.modified_at),
    }
    if system or m.system:
        resp["system"] = system or m.system
    if m.messages:
        resp["messages"] = [{"role": x.get("role", ""), "content": x.get("content", "")} for x in m.messages]
    if m.requires:
        resp["requires"] = m.requires
    if not resp["license"]:
        del resp["license"]
    if not resp["parameters"]:
        del resp["parameters"]
    return resp


def modelfile_text(m: Model, params: list[tuple[str, Any]], system: str) -> str:
    out = [
        '# Modelfile generated by "ollama show"',
        "# To build a new Modelfile based on this, replace FROM with:",
        f"# FROM {m.name.short}",
        "",
        f"FROM {MODELS_DIR}/blobs/{m.weights_digest.replace(':', '-')}",
    ]
    out += [f"ADAPTER {MODELS_DIR}/blobs/{a.replace(':', '-')}" for a in m.adapters]
    if m.drafts:  # Model.DraftPath: the last draft layer
        out.append(f"DRAFT {MODELS_DIR}/blobs/{m.drafts[-1].replace(':', '-')}")
    out += [f"FROM {MODELS_DIR}/blobs/{p.replace(':', '-')}" for p in m.projectors]
    out.append(f"TEMPLATE {modelfile_quote(m.template)}")
    if system:
        out.append(f"SYSTEM {modelfile_quote(system)}")
    if m.renderer:
        out.append(f"RENDERER {modelfile_quote(m.renderer)}")
    if m.parser:
        out.append(f"PARSER {modelfile_quote(m.parser)}")
    for k, v in params:
        for item in v if isinstance(v, list) else [v]:
            out.append(f"PARAMETER {k} {modelfile_quote(go_value(item, False))}")
    out += [f"LICENSE {modelfile_quote(lic)}" for lic in m.license]
    out += [f"MESSAGE {x.get('role', '')} {modelfile_quote(str(x.get('content', '')))}" for x in m.messages]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# /api/pull and /api/create


def pull_events(state: DoubleState, name: Name, *, insecure: bool = False) -> Iterator[dict[str, Any]]:
    yield {"status": "pulling manifest"}
    if name.host.lower() in state.http_registries and not insecure:
        # Ollama asks a registry over https unless the request says insecure (server/images.go
        # makeRequest); Go's text when a plain http registry (itself in Go) answers the TLS hello.
        url = f"https://{name.host}/v2/{name.namespace}/{name.model}/manifests/{name.tag}"
        raise HTTPFail(500, f'pull model manifest: Get "{url}": http: server gave HTTP response to HTTPS client')
    src = state.registry.get(name.key)
    if src is None:
        raise HTTPFail(500, "pull model manifest: file does not exist")
    layers = [(src.weights_digest, src.size)] + [
        ("sha256:" + hashlib.sha256(f"{part}:{src.name.key}".encode()).hexdigest(), size)
        for part, size in (("template", len(src.template)), ("license", 1000), ("params", 96))
    ]
    for digest, size in layers:
        for done in (0, size // 2, size):
            yield {"status": f"pulling {digest[7:19]}", "digest": digest, "total": size, "completed": done}
    yield {"status": "verifying sha256 digest"}
    yield {"status": "writing manifest"}
    with state.lock:
        local = src.copy_as(name)
        local.modified_at = datetime.now(timezone.utc)
        state.models[name.key] = local
    yield {"status": "success"}


def push_events(state: DoubleState, name: Name, *, insecure: bool = False) -> Iterator[dict[str, Any]]:
    """``/api/push`` (server/images.go PushModel, v0.9.3): each layer, then the manifest; the model
    lands in the double's registry, where a pull finds it. An http registry needs ``insecure``."""
    yield {"status": "retrieving manifest"}
    with state.lock:
        m = state.models.get(name.key)
    if m is None:
        raise HTTPFail(404, f"model {name.key!r} not found")  # Ollama: "file does not exist" (500)
    if name.host.lower() in state.http_registries and not insecure:
        url = f"https://{name.host}/v2/{name.namespace}/{name.model}/blobs/{m.weights_digest}"
        raise HTTPFail(500, f'Head "{url}": http: server gave HTTP response to HTTPS client')
    yield {"status": f"pushing {m.weights_digest[7:19]}", "digest": m.weights_digest, "total": m.size, "completed": 0}
    yield {
        "status": f"pushing {m.weights_digest[7:19]}",
        "digest": m.weights_digest,
        "total": m.size,
        "completed": m.size,
    }
    yield {"status": "pushing manifest"}
    with state.lock:
        state.registry[name.key] = m.copy_as(name)
    yield {"status": "success"}


def _check_template(template: str) -> None:
    depth = 0
    i = 0
    while i < len(template):
        if template.startswith("{{", i):
            depth += 1
            if depth > 1:
                raise HTTPFail(400, 'template error: template: :1: unexpected "{" in command')
            i += 2
        elif template.startswith("}}", i):
            if depth == 0:
                i += 2
                continue
            depth -= 1
            i += 2
        else:
            i += 1
    if depth:
        raise HTTPFail(400, "template error: template: :1: unclosed action")


def _capabilities(m: Model, base_caps: list[str] | None, template_changed: bool) -> list[str]:
    """Model.Capabilities(), roughly: from the weights (embedding or completion) and the template."""
    arch = m.architecture
    embedding = (base_caps is not None and "embedding" in base_caps) or f"{arch}.pooling_type" in m.model_info
    caps = ["embedding"] if embedding else ["completion"]
    if embedding:
        return caps
    for cap, marker in (("tools", ".Tools"), ("insert", ".Suffix"), ("thinking", ".Think")):
        if marker in m.template if (template_changed or base_caps is None) else cap in (base_caps or []):
            caps.append(cap)
    if base_caps and "vision" in base_caps:
        caps.append("vision")
    return caps


def _version_before(version: str, since: tuple[int, int, int]) -> bool:
    """True when a release version is older than ``since`` (dev builds, 0.0.0, count as new)."""
    parts = version.split("-", 1)[0].split(".")
    try:
        nums = tuple(int(p) for p in (parts + ["0", "0", "0"])[:3])
    except ValueError:
        return False
    return nums != (0, 0, 0) and nums < since


_T = TypeVar("_T")

#: ``emit(event)``: one event into the /api/create stream (or the injected ``faults.create_error``)
_Emit = Callable[[dict[str, Any]], dict[str, Any]]
#: a step of /api/create: yields stream events, returns its result
_CreateStep = Generator[dict[str, Any], None, _T]


def create_events(
    state: DoubleState, req: dict[str, Any], name: Name, sleep: Callable[[float], None]
) -> Iterator[dict[str, Any]]:
    """The /api/create stream (server/create.go), one step per helper.

    The new model starts as a copy of ``from`` or is read from ``files``; its weights may be
    rewritten (quantize, or the copy of user GGUFs); adapters and the request's fields go on
    top; the manifest stores it under ``name``. Errors are ``HTTPFail``: before the first
    event the handler answers with the status, after it the error goes in-stream.
    """
    emit = _create_emitter(state.faults)
    base, new = yield from _create_base(state, req, name, emit)
    reused = set(new.layer_digests)  # base layers: "using existing layer" (NewLayerFromLayer)
    yield from _rewrite_weights(state, new, req, from_files=base is None and not new.orphan, emit=emit)
    _add_adapters(state, new, req.get("adapters") or {})
    reused |= {d for k, d in new.layers if k == "adapter"}
    yield from _add_drafts(state, new, req, emit)
    created = _merge_request(state, new, req)
    new.capabilities = (
        [] if new.orphan else _capabilities(new, base.capabilities if base is not None else None, "template" in created)
    )
    new.modified_at = datetime.now(timezone.utc)
    yield from _write_manifest(state, name, new, reused, emit)


def _create_emitter(faults: Faults) -> _Emit:
    """Passes events through, counting them: once ``faults.create_error_after`` have gone out,
    the next one raises ``faults.create_error`` instead (read at each event, so tests may flip it)."""
    sent = 0

    def emit(ev: dict[str, Any]) -> dict[str, Any]:
        nonlocal sent
        sent += 1
        if faults.create_error is not None and sent > faults.create_error_after:
            raise HTTPFail(500, faults.create_error)
        return ev

    return emit


# -- the model to start from: ``from`` or ``files`` ----------------------------------------------


def _create_base(
    state: DoubleState, req: dict[str, Any], name: Name, emit: _Emit
) -> _CreateStep[tuple[Model | None, Model]]:
    """(base, new): ``new`` is a copy of the ``from`` model, or read from ``files`` (then base is None)."""
    from_ = req.get("from") or ""
    files: dict[str, str] = req.get("files") or {}
    if from_:
        try:
            base = yield from _resolve_from(state, from_, emit)
        except HTTPFail as exc:
            # server/create.go (v0.9.3 and every later tag): a failed `from` sends its error and goes
            # on without base layers; the model written then has no weights. Only a stream sees it:
            # without one, waitForStream answers the error and the rest never runs.
            if req.get("stream") is False or exc.status == 400:
                raise
            yield {"error": exc.message}
            return None, _orphan_model(name)
        new = base.copy_as(name)
        new.details["parent_model"] = base.name.short
        if not new.layers:
            new.layers = _field_layers(new)
        return base, new
    if files:
        new = yield from _model_from_files(state, files, name, emit)
        return None, new
    raise HTTPFail(400, "neither 'from' or 'files' was specified")


def _orphan_model(name: Name) -> Model:
    """What a create whose ``from`` failed writes: a manifest without a model layer."""
    details = {"parent_model": "", "format": "", "family": "", "families": None, "parameter_size": "",
               "quantization_level": ""}  # fmt: skip
    return Model(name=name, model_info={}, details=details, size=0, capabilities=[], orphan=True)


def _field_layers(m: Model) -> list[tuple[str, str]]:
    """The layers of a model made without a create (the registry's, a test's): weights, then its fields."""
    layers = [("model", m.weights_digest)] if m.weights_digest else []
    layers += [("projector", d) for d in m.projectors] + [("adapter", d) for d in m.adapters]
    contents = [("template", m.template if m.template != DEFAULT_TEMPLATE else ""), ("system", m.system)]
    contents += [("license", lic) for lic in m.license]
    contents += [("params", _go_json(m.parameters) if m.parameters else "")]
    contents += [("messages", _go_json(m.messages) if m.messages else "")]
    return layers + [(kind, _content_digest(text)) for kind, text in contents if text]


def _go_json(v: Any) -> str:
    """A layer's JSON as Go's json.Encoder writes it (sorted keys, a final newline); only its digest matters."""
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def _content_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _resolve_from(state: DoubleState, from_: str, emit: _Emit) -> _CreateStep[Model]:
    """The ``from`` model: a local one, or pulled first (its pull events go into the stream)."""
    fn = parse_name(from_)
    if fn is None:
        raise HTTPFail(400, "invalid model name")
    with state.lock:
        base = state.models.get(fn.key)
    if base is None:
        for ev in pull_events(state, fn):
            yield emit(ev)
        base = state.models[fn.key]
    return base


class _GGUFBlob(NamedTuple):
    """One of the request's ``files``, read from its blob."""

    key: str  # the file name in ``files``
    digest: str
    info: dict[str, Any]  # model_info
    tensors: list[dict[str, Any]]
    parameter_count: int
    size: int


def _model_from_files(state: DoubleState, files: dict[str, str], name: Name, emit: _Emit) -> _CreateStep[Model]:
    """``files``: every name must be a GGUF; each blob is read in name order, one event each."""
    keys = sorted(files)
    for key in keys:
        if not key.endswith(".gguf") and not _is_gguf_blob(state, files[key]):
            # detectModelTypeFromFiles: a name without .gguf is read for GGUF's magic (the double handles GGUF only)
            raise HTTPFail(400, "unknown type")
    blobs: list[_GGUFBlob] = []
    for key in keys:
        yield emit({"status": "parsing GGUF"})
        blobs.append(_read_gguf_blob(state, key, files[key]))
    return _model_from_ggufs(name, blobs)


def _is_gguf_blob(state: DoubleState, digest: str) -> bool:
    if not _BLOB_DIGEST_RE.match(digest or "") or not state.has_blob(digest):
        return False
    with open(state.blob_path(digest), "rb") as f:
        return f.read(4) == b"GGUF"


def _read_gguf_blob(state: DoubleState, key: str, digest: str) -> _GGUFBlob:
    """Check a ``files`` digest and its blob, then read its GGUF metadata."""
    if not _BLOB_DIGEST_RE.match(digest):
        raise HTTPFail(500, "invalid digest format")
    path = state.blob_path(digest)
    if not os.path.exists(path):
        raise HTTPFail(500, f"open {MODELS_DIR}/blobs/{digest.replace(':', '-')}: no such file or directory")
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise HTTPFail(400, "supplied file was not in GGUF format")
    try:
        return _GGUFBlob(key, digest, *read_gguf(path), os.path.getsize(path))
    except Exception as exc:  # a truncated or odd GGUF
        raise HTTPFail(500, f"failed to decode GGUF: {exc}") from None


def _model_from_ggufs(name: Name, blobs: list[_GGUFBlob]) -> Model:
    """A new model from the read ``files``: the weights are the first non-projector GGUF.

    A projector GGUF (general.type projector/mmproj, or a clip encoder) is a separate layer
    the runner loads next to the weights (create.go isProjectorGGUF).
    """
    projectors = [b for b in blobs if _is_projector(b.info)]
    weights = next((b for b in blobs if not _is_projector(b.info)), blobs[0])
    arch = str(weights.info.get("general.architecture", ""))
    ftype = weights.info.get("general.file_type")
    return Model(
        name=name,
        model_info=weights.info,
        details={
            "parent_model": weights.key,
            "format": "gguf",
            "family": arch,
            "families": [arch],
            "parameter_size": human_number(weights.parameter_count),
            "quantization_level": FILE_TYPES.get(int(ftype), "unknown") if ftype is not None else "unknown",
        },
        size=sum(b.size for b in blobs),
        tensors=weights.tensors,
        weights_digest=weights.digest,
        layers=[("projector" if _is_projector(b.info) else "model", b.digest) for b in blobs],
        projectors=[b.digest for b in projectors if b.digest != weights.digest],
    )


# -- the weights: quantize, or copy user GGUFs -----------------------------------------------------


def _rewrite_weights(
    state: DoubleState, new: Model, req: dict[str, Any], *, from_files: bool, emit: _Emit
) -> _CreateStep[None]:
    """Quantize the weights, or else (from ``files``, v0.30+) validate and copy them; a rewritten
    weights file has no parent model. Before 0.30 a model from files keeps the blob as its
    weights, and its parent_model is the blob's path (the layer's ``From``, server/create.go
    ggufLayers -> NewLayerFromLayer at v0.9.3)."""
    if new.orphan:
        return
    old = new.weights_digest
    rewritten = yield from _quantize(state, new, req, emit)
    if from_files and not rewritten and not _version_before(state.version, GGUF_COPY_SINCE):
        total = new.size
        yield emit({"status": "validating GGUF model", "digest": "0000000000000000000", "total": total,
                    "completed": total})  # fmt: skip
        rewritten = True
    if rewritten:
        new.details["parent_model"] = ""
        new.layers = [(k, new.weights_digest if d == old else d) for k, d in new.layers]
    elif from_files:
        new.details["parent_model"] = f"{MODELS_DIR}/blobs/{new.weights_digest.replace(':', '-')}"


def _quantize(state: DoubleState, new: Model, req: dict[str, Any], emit: _Emit) -> _CreateStep[bool]:
    """``quantize`` (createModel): accepted types, F16/BF16/F32 sources only, no-op when equal.

    Returns whether the weights were rewritten.
    """
    quant = str(req.get("quantize") or req.get("quantization") or "").upper()
    if not quant:
        return False
    if quant not in QUANTIZE_TYPES:
        raise HTTPFail(
            500,
            f"unsupported quantization type {quant} - supported types are F32, F16, Q4_K_S, Q4_K_M, Q8_0",
        )
    src_type = new.details.get("quantization_level")
    if _version_before(state.version, BF16_QUANTIZE_SINCE):  # server/create.go createModel at v0.9.3
        if src_type not in ("F16", "F32"):
            raise HTTPFail(500, "quantization is only supported for F16 and F32 models")
    elif src_type not in ("F16", "BF16", "F32"):
        raise HTTPFail(500, "quantization is only supported for F16, BF16 and F32 models")
    want = FILE_TYPES[QUANTIZE_TYPES[quant]]
    if src_type == want:
        return False
    total = new.size
    for frac in (0.0, 0.5, 1.0):
        status = f"quantizing {src_type} model to {quant}"
        yield emit({"status": status, "digest": "0000000000000000000",
                    "total": total, "completed": int(total * frac)})  # fmt: skip
    yield emit({"status": "verifying conversion"})
    new.details["quantization_level"] = want
    new.model_info["general.file_type"] = QUANTIZE_TYPES[quant]
    quantized = [{**t, "type": _quantized_type(t, want)} for t in new.tensors]
    new.tensors = sorted(quantized, key=functools.cmp_to_key(_go_tensor_order))
    new.size = max(1, total * (9 if want == "Q8_0" else 5) // 16) if want.startswith("Q") else total
    new.weights_digest = "sha256:" + hashlib.sha256(f"{new.weights_digest}:{want}".encode()).hexdigest()
    return True


def _go_tensor_order(a: dict[str, Any], b: dict[str, Any]) -> int:
    """The order WriteGGUF writes tensors in (fs/ggml/gguf.go at v0.9.3): by block number when
    both are in a block above 0, else by name (block 0 counts as none there)."""

    def block(t: dict[str, Any]) -> int:
        parts = str(t["name"]).split(".")
        return int(parts[1]) if parts[0] == "blk" and len(parts) > 1 and parts[1].isdigit() else -1

    i, j = block(a), block(b)
    if i > 0 and j > 0:
        return (i > j) - (i < j)
    return (a["name"] > b["name"]) - (a["name"] < b["name"])


def _quantized_type(t: dict[str, Any], want: str) -> str:
    """A tensor's type after a quantize (llama.cpp's choice, simplified): vectors stay as they
    are; to Q8_0 every matrix is Q8_0 (seen on 0.9.3); to a K-quant a matrix whose rows are not
    a multiple of 256 falls back to Q5_0 (the output to Q8_0), else Q4_K (output, embeddings Q6_K)."""
    if len(t.get("shape", [])) < 2 or not want.startswith("Q"):
        return str(t.get("type", ""))
    if want == "Q8_0":
        return "Q8_0"
    high = t["name"] in ("output.weight", "token_embd.weight")
    if int(t["shape"][0]) % 256:
        return "Q8_0" if t["name"] == "output.weight" else "Q5_0"
    return "Q6_K" if high else "Q4_K"


def _add_adapters(state: DoubleState, new: Model, adapters: dict[str, str]) -> None:
    """``adapters``: at most one, and its blob must exist."""
    if len(adapters) > 1:
        raise HTTPFail(400, "only one adapter is currently supported")
    for digest in adapters.values():
        if not state.has_blob(digest):  # every adapter error is sent with status 400 (server/create.go)
            raise HTTPFail(400, f"open {MODELS_DIR}/blobs/{digest.replace(':', '-')}: no such file or directory")
        new.adapters.append(digest)
        new.layers.append(("adapter", digest))


DRAFT_SINCE = (0, 30, 0)  # draft_files and draft_quantize


def _add_drafts(state: DoubleState, new: Model, req: dict[str, Any], emit: _Emit) -> _CreateStep[None]:
    """``draft_files`` (v0.30+): GGUF blobs become a draft layer after the base's layers;
    ``draft_quantize`` rewrites it (only from an unquantized draft)."""
    drafts: dict[str, str] = req.get("draft_files") or {}
    if not drafts or _version_before(state.version, DRAFT_SINCE):
        return
    quant = str(req.get("draft_quantize") or "").upper()
    for key in sorted(drafts):
        if not key.endswith(".gguf"):
            raise HTTPFail(400, "unknown type")
        yield emit({"status": "parsing GGUF"})
        blob = _read_gguf_blob(state, key, drafts[key])
        digest = blob.digest
        if quant:
            if quant not in QUANTIZE_TYPES:
                raise HTTPFail(500, f"unsupported quantization type {quant}")
            ftype = blob.info.get("general.file_type")
            if FILE_TYPES.get(int(ftype) if ftype is not None else -1) not in ("F16", "BF16", "F32"):
                raise HTTPFail(500, "draft quantization requires an unquantized draft model")
            yield emit({"status": f"quantizing draft model to {quant}"})
            digest = "sha256:" + hashlib.sha256(f"{digest}:{quant}".encode()).hexdigest()
        new.drafts.append(digest)


# -- the from-merge: request fields on top of the base ----------------------------------------------


def _replace_layer(m: Model, kind: str, content: str) -> None:
    """removeLayer then append: the new layer goes last (server/create.go)."""
    m.layers = [(k, d) for k, d in m.layers if k != kind]
    if content:
        m.layers.append((kind, _content_digest(content)))


def _set_template(m: Model, template: str) -> None:
    _check_template(template)
    m.template = template
    _replace_layer(m, "template", template)


def _set_system(m: Model, system: str) -> None:
    m.system = system
    _replace_layer(m, "system", system)


def _merge_parameters(m: Model, params: dict[str, Any]) -> None:
    """setParameters: the base's keys the request lacks are kept; a non-empty result is a new last layer."""
    merged = dict(m.parameters)
    merged.update(params)
    m.parameters = merged
    if merged:
        _replace_layer(m, "params", _go_json(merged))


def _set_messages(m: Model, msgs: list[dict[str, Any]]) -> None:
    m.messages = [{**x, "role": str(x.get("role", "")).lower()} for x in msgs]
    _replace_layer(m, "messages", _go_json(msgs))


def _add_license(m: Model, lic: str | list[Any]) -> None:
    added = [lic] if isinstance(lic, str) else [str(x) for x in lic]
    m.license = m.license + added
    m.layers += [("license", _content_digest(x)) for x in added]  # setLicense appends, never replaces


class _MergedField(NamedTuple):
    """A request field that, when given, changes the new model (and its layers)."""

    key: str  # the CreateRequest field
    apply: Callable[[Model, Any], None]
    given: Callable[[Any], bool] = bool  # absent or empty: the base's value stays


#: setTemplate, setSystem, setLicense, setParameters, setMessages: createModel's order (server/create.go)
_MERGED_FIELDS: tuple[_MergedField, ...] = (
    _MergedField("template", _set_template),
    _MergedField("system", _set_system),
    _MergedField("license", _add_license),
    # setParameters runs even without new parameters: the base's layer moves last
    _MergedField("parameters", _merge_parameters, given=lambda v: True),
    _MergedField("messages", _set_messages),
)

#: fields set without a layer, by servers from this version on (older ones ignore them)
_VERSIONED_FIELDS: dict[str, tuple[int, int, int]] = {
    "requires": (0, 14, 0),  # REQUIRES arrived in 0.14.0
    "renderer": (0, 12, 0),  # RENDERER and PARSER in 0.12.0
    "parser": (0, 12, 0),
}


def _merge_request(state: DoubleState, new: Model, req: dict[str, Any]) -> set[str]:
    """Apply the request's fields to ``new``; returns the fields given."""
    given = set()
    for f in _MERGED_FIELDS:
        value = req.get(f.key)
        if f.given(value):
            f.apply(new, value if f.key != "parameters" else (value if isinstance(value, dict) else {}))
            given.add(f.key)
    for key, since in _VERSIONED_FIELDS.items():
        if req.get(key) and not _version_before(state.version, since):
            setattr(new, key, str(req[key]))
    return given


# -- the manifest ---------------------------------------------------------------------------------


def _write_manifest(
    state: DoubleState, name: Name, new: Model, reused: set[str], emit: _Emit
) -> Iterator[dict[str, Any]]:
    """One status per layer, in the manifest's order: the base's and the uploaded blobs are
    "using existing layer"; a layer written now is "creating new layer" unless a blob with its
    content is already there (server/layer.go NewLayer). Then the manifest stores ``new``."""
    for _, digest in new.layers:
        known = digest in reused or digest in state.layer_blobs or state.has_blob(digest)
        yield emit({"status": f"{'using existing' if known else 'creating new'} layer {digest}"})
        state.layer_blobs.add(digest)
    yield emit({"status": "writing manifest"})
    with state.lock:
        # Ollama's create leaves loaded runners alone: the next request compares its options
        # with the runner's and reloads when they differ.
        state.models[name.key] = new
    yield emit({"status": "success"})


# --------------------------------------------------------------------------------------------
# /api/generate and /api/chat


def generate_text(state: DoubleState, model: str, material: Any, opts: dict[str, Any]) -> list[str]:
    """Deterministic tokens for (model, prompt material, sampling options, seed)."""
    sampling = {k: v for k, v in opts.items() if k not in RUNNER_OPTIONS and k not in ("num_predict", "stop")}
    seed = opts.get("seed")
    salt = ""
    if seed is None or int(seed) < 0 or state.nondeterministic:
        salt = os.urandom(8).hex()
    payload = json.dumps([model, material, sampling, salt], sort_keys=True, default=str)
    rng = random.Random(hashlib.sha256(payload.encode()).digest())
    n = rng.randint(12, 40)
    words = [rng.choice(VOCAB) for _ in range(n)]
    tokens = [words[0].capitalize()] + [" " + w for w in words[1:]]
    tokens[-1] += "."
    return tokens


def count_tokens(text: str) -> int:
    """The double's tokenizer: one token per whitespace-separated word."""
    return len(text.split())


def _chat_tokens(msgs: list[dict[str, Any]]) -> int:
    return PROMPT_OVERHEAD + sum(count_tokens(str(x.get("content", ""))) for x in msgs)


def chat_messages(msgs: list[dict[str, Any]], num_ctx: int) -> list[dict[str, Any]]:
    """``chatPrompt`` with truncation on: whole messages dropped from the front (the system
    messages among them kept, the last message always) until the rendered prompt fits num_ctx."""
    for i in range(len(msgs)):
        kept = [x for x in msgs[:i] if x.get("role") == "system"] + msgs[i:]
        if _chat_tokens(kept) <= num_ctx or i == len(msgs) - 1:
            return kept
    return msgs


def _rendered(m: Model, req: dict[str, Any], *, chat: bool, num_ctx: int, truncate: bool) -> tuple[dict[str, Any], int]:
    """(what the answer is generated from, the rendered prompt's tokens) of one request."""
    if chat:
        msgs = [dict(x) for x in m.messages] + [dict(x) for x in req.get("messages") or []]
        if m.system and (not msgs or msgs[0].get("role") != "system"):
            msgs.insert(0, {"role": "system", "content": m.system})
        if truncate:
            msgs = chat_messages(msgs, num_ctx)
        return {"template": m.template, "messages": msgs}, _chat_tokens(msgs)
    prompt = str(req.get("prompt", ""))
    if req.get("raw"):  # the prompt as given: no template, no system prompt, no history
        return {"raw": prompt}, RAW_OVERHEAD + count_tokens(prompt)
    system = req.get("system") or m.system
    history = m.messages if not req.get("context") else []
    material = {"template": req.get("template") or m.template, "system": system, "messages": history,
                "prompt": prompt}  # fmt: skip
    words = count_tokens(prompt) + count_tokens(system) + sum(count_tokens(str(x.get("content", ""))) for x in history)
    return material, PROMPT_OVERHEAD + words


def fit_prompt(state: DoubleState, n: int, num_ctx: int, num_keep: int, truncate: bool, shift: bool) -> int:
    """The tokens of an ``n``-token prompt the runner evaluates (its ``prompt_eval_count``), as
    Ollama's runner of ``state.version`` fits it into ``num_ctx`` (docs: modelctl/ollama/truncation.py).

    Go runners (before 0.30.0) take up to num_ctx tokens and cut a longer prompt to num_ctx
    (num_keep, then the latter part); llama-server (0.30.0+) takes up to num_ctx - 1 and cuts
    to num_ctx - 1, from 0.30.11 to num_keep + BOS and the latter part down to
    ``contextShiftPromptLimit``, or refuses when ``shift`` is off. With ``truncate: false`` an
    over-long prompt is HTTP 400: the Go runner's text, or llama-server's JSON passed on as text.
    """
    go_runner = _version_before(state.version, LLAMA_SERVER_SINCE)
    if n <= (num_ctx if go_runner else num_ctx - 1):
        return n
    if not truncate:
        if go_runner:
            raise HTTPFail(400, RUNNER_TOO_LONG)
        message = f"request ({n} tokens) exceeds the available context size ({num_ctx} tokens), try increasing it"
        body = {"error": {"code": 400, "message": message, "type": "exceed_context_size_error",
                          "n_prompt_tokens": n, "n_ctx": num_ctx}}  # fmt: skip
        raise HTTPFail(400, json.dumps(body, separators=(",", ":")))
    if go_runner:
        return num_ctx
    if _version_before(state.version, HALF_CUT_SINCE):
        return num_ctx - 1
    if not shift:
        raise HTTPFail(400, SHIFT_OFF_TOO_LONG)
    keep = min((n if num_keep < 0 else num_keep) + 1, num_ctx - 1)  # + BOS
    return num_ctx - max((num_ctx - keep) // 2, 1)


def generation_events(
    state: DoubleState,
    m: Model,
    req: dict[str, Any],
    opts: dict[str, Any],
    *,
    chat: bool,
    base: dict[str, Any],
    load_ns: int,
    started: float,
    sleep: Callable[[float], None],
) -> Iterator[dict[str, Any]]:
    # Unset `truncate`/`shift` mean true; servers before 0.12.6 ignore both and always cut.
    old = _version_before(state.version, TRUNCATE_SINCE)
    truncate, shift = (req.get(k) is not False or old for k in ("truncate", "shift"))
    num_ctx = effective_context(opts.get("num_ctx") or state.default_num_ctx, m.trained_context)
    material, n_tokens = _rendered(m, req, chat=chat, num_ctx=num_ctx, truncate=truncate)
    prompt_eval_count = fit_prompt(state, n_tokens, num_ctx, int(opts.get("num_keep", 4)), truncate, shift)
    tokens = generate_text(state, m.name.short, material, opts)
    limit = int(opts.get("num_predict") or -1)
    if limit < 0 or limit > 10 * num_ctx:
        limit = 10 * num_ctx
    reason = "stop"
    if 0 < limit < len(tokens):
        tokens, reason = tokens[:limit], "length"
    stops = [s for s in (opts.get("stop") or []) if s]
    pieces: list[str] = []
    text = ""
    eval_count = 0
    for tok in tokens:
        eval_count += 1
        candidate = text + tok
        hit = min((candidate.find(s) for s in stops if s in candidate), default=-1)
        if hit >= 0:
            if hit > len(text):
                pieces.append(candidate[len(text) : hit])
            text = candidate[:hit]
            reason = "stop"
            break
        pieces.append(tok)
        text = candidate
    stream = req.get("stream") is not False
    gen_started = time.monotonic()
    for piece in pieces if stream else []:
        chunk = dict(base)
        if chat:
            chunk["message"] = {"role": "assistant", "content": piece}
        else:
            chunk["response"] = piece
        chunk["done"] = False
        yield chunk
        sleep(state.token_delay)
    if not stream:
        sleep(state.token_delay * len(pieces))
    measured = time.monotonic() - gen_started
    prompt_ns = prompt_eval_count * state.prompt_ns_per_token
    eval_ns = eval_count * state.eval_ns_per_token + int(measured * 1e9)
    total = load_ns + prompt_ns + eval_ns + int((time.monotonic() - started) * 1e9)
    final = dict(base)
    content = "" if stream else "".join(pieces)
    if chat:
        final["message"] = {"role": "assistant", "content": content}
    else:
        final["response"] = content
    final.update({"done": True, "done_reason": reason})
    if not chat and not req.get("raw"):  # a raw prompt gets no context back (server/routes.go GenerateHandler)
        final["context"] = [zlib.crc32(p.encode()) & 0x7FFF for p in pieces[:8]] or [1]
    final.update(
        {
            "total_duration": total,
            "load_duration": load_ns,
            "prompt_eval_count": prompt_eval_count,
            "prompt_eval_duration": prompt_ns,
            "eval_count": eval_count,
            "eval_duration": eval_ns,
        }
    )
    yield final


# --------------------------------------------------------------------------------------------
# Server lifecycle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], state: DoubleState, verbose: bool = False) -> None:
        self.state = state
        self.verbose = verbose
        self.stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return not self.stopping.is_set()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()


class OllamaDouble:
    """Start/stop the double; ``url``, ``host`` (``127.0.0.1:PORT``), ``state``."""

    def __init__(self, port: int = 0, *, state: DoubleState | None = None, verbose: bool = False) -> None:
        self._tmp: str | None = None
        if state is None:
            self._tmp = tempfile.mkdtemp(prefix="ollama-double-")
            state = DoubleState(blob_dir=self._tmp, registry=default_registry())
        self.state = state
        self._server = _Server(("127.0.0.1", port), state, verbose)
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> OllamaDouble:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.002}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Die like a killed server: in-flight requests are cut, later connections refused."""
        self._server.stopping.set()  # first: no new request is answered, sleeping handlers abort
        self._server.close_all()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self._server.close_all()

    def close(self) -> None:
        self.stop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> OllamaDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # conveniences
    def install(self, name: str, *, as_name: str | None = None) -> Model:
        return self.state.install(name, as_name=as_name)

    def run_cli(self, *args: str, **kwargs: Any) -> Any:
        """``python -m modelctl *args`` against this double (see tests/fixtures_double.run_cli)."""
        from tests.fixtures_double import run_cli

        kwargs.setdefault("host", self.host)
        return run_cli(*args, **kwargs)


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on (connection refused)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.ollama_double", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=11500, help="port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--version", dest="server_version", default=DEFAULT_VERSION, help="version to report")
    ap.add_argument("--num-ctx", type=int, default=4096, help="server default num_ctx")
    ap.add_argument("--install", action="append", default=[], metavar="MODEL",
                    help="preinstall a registry model (repeatable), e.g. llama3.2:3b")  # fmt: skip
    ap.add_argument("--token-delay", type=float, default=0.0, help="seconds between streamed tokens")
    ap.add_argument("--verbose", action="store_true", help="log every request")
    args = ap.parse_args(argv)
    d = OllamaDouble(args.port, verbose=args.verbose)
    d.state.version = args.server_version
    d.state.default_num_ctx = args.num_ctx
    d.state.token_delay = args.token_delay
    for name in args.install:
        d.install(name)
    d.start()
    names = ", ".join(sorted(m.name.short for m in d.state.registry.values()))
    print(f"Ollama API double listening on {d.url} (version {d.state.version}); registry: {names}", flush=True)
    print(f"try: OLLAMA_HOST={d.host} python -m modelctl ...   (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        d.close()


if __name__ == "__main__":
    main()
