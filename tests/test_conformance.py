"""The Ollama API double against a real Ollama server: the same requests, the same answers.

Marked ``live``: it runs with the live suite against ``--ollama-host`` (a real Ollama 0.9.3,
see tests/real_ollama.py) and starts the double itself, at the server's version (0.9.3) and as
a CPU-only host, on loopback. Both get the same models, created from the same tiny GGUF
(tests/fixtures_gguf.py) uploaded through ``/api/blobs``; then every case of :data:`CASES`
sends one request to both and compares

* the status code and the kind of body (JSON, NDJSON stream, text, none);
* the shape of the body: the set of keys, recursively, and the JSON type of every value
  (numbers are one type: Go writes ``10000`` where Python writes ``10000.0``); a stream is
  compared by the shapes of its lines and of its last line;
* every ``error`` text, exactly, after two legitimate differences are written the same way:
  digests (``sha256:<digest>``) and the server's models folder (``<models>/blobs/``);
* the values a case names in ``view`` (details, capabilities, a create's status lines, ...).

Not compared: token counts and generated text (the double counts words, the server its
vocabulary), timings, timestamps, digests, and ``/api/ps`` ``size`` (the double's figure is
not Ollama's memory estimate; see the double's ``Runner``).

    python -m tests.real_ollama start --port 11520
    pytest -m live --ollama-host http://127.0.0.1:11520 tests/test_conformance.py
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_gguf import write_tiny_llama
from tests.ollama_double import OllamaDouble

pytestmark = pytest.mark.live

VERSION = "0.9.3"  # the version this table was checked against (the double is set to it)
RUN = uuid.uuid4().hex[:8]
P = f"conformance-{RUN}"  # every model this test makes starts with it
BASE = f"{P}-base"  # created from the GGUF on both before the cases run
MISSING = f"{P}-missing"
TEMPLATE = "{{ if .System }}{{ .System }} {{ end }}{{ .Prompt }}"  # one line of Go template
SYSTEM = f"You answer briefly ({RUN})."  # unique per run: no layer of another run is reused
PARAMETERS = {"num_ctx": 2048, "temperature": 0.5, "stop": [f"<end-{RUN}>", "###"], "seed": 7}
MESSAGES = [{"role": "user", "content": f"hello {RUN}"}, {"role": "assistant", "content": "hi there"}]
ZERO_DIGEST = "sha256:" + "0" * 64


@dataclass(frozen=True)
class Req:
    """One HTTP request: ``body`` is JSON (dict/list), raw text (str) or raw bytes, or None."""

    method: str
    path: str
    body: Any = None


@dataclass(frozen=True)
class Answer:
    status: int
    kind: str  # json | ndjson | text | empty
    body: Any  # parsed JSON, a list of parsed lines, or the text


@dataclass(frozen=True)
class Case:
    name: str
    req: Req
    before: tuple[Req, ...] = ()  # sent to both first; their answers are not compared
    select: Callable[[Any], Any] | None = None  # the part of the body compared (default: all)
    view: Callable[[Any], Any] | None = None  # values that must be equal
    #: an error text as far as it must agree (default: all of it)
    error: Callable[[str], str] = field(default=lambda e: e)
    ignore: frozenset[str] = field(default_factory=frozenset)  # keys left out of the shape


def _mine(body: Any) -> Any:
    """``/api/tags`` or ``/api/ps`` with only this run's models (a live server may have others)."""
    return {"models": [m for m in body.get("models", []) if str(m.get("name", "")).startswith(P)]}


def _details_by_name(body: Any) -> Any:
    return {m["name"]: m["details"] for m in body["models"]}


def _statuses(lines: Any) -> Any:
    return [normalise(json.dumps(x, sort_keys=True)) for x in lines]


def _final(keys: tuple[str, ...]) -> Callable[[Any], Any]:
    def view(body: Any) -> Any:
        last = body[-1] if isinstance(body, list) else body
        return {k: last.get(k) for k in keys}

    return view


def _dedup(items: list[Any]) -> list[Any]:
    """Repeated progress lines once (a quantize reports its progress as often as it likes)."""
    return [x for i, x in enumerate(items) if i == 0 or x != items[i - 1]]


def _show_view(body: Any) -> Any:
    """What /api/show says of a model, with the random-order blocks sorted."""
    return {
        "details": body.get("details"),
        "capabilities": body.get("capabilities"),
        "template": body.get("template"),
        "system": body.get("system"),
        "license": body.get("license"),
        "messages": body.get("messages"),
        "parameters": sorted((body.get("parameters") or "").splitlines()),
        "modelfile": sorted(normalise(body.get("modelfile") or "").splitlines()),
        "model_info": body.get("model_info"),
        "tensors": body.get("tensors"),
    }


def _pull_error(text: str) -> str:
    """A failed pull as far as both can agree: the double has no registry, the server a closed proxy."""
    return text.split(":")[0]


def _gen(path: str, model: str, **extra: Any) -> Req:
    if path == "/api/chat":
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "tell me a story"}]}
    else:
        body = {"model": model, "prompt": "tell me a story"}
    body.update(extra)
    return Req("POST", path, body)


def _create(name: str, **fields: Any) -> Req:
    return Req("POST", "/api/create", {"model": name, **fields})


def _bad_json_cases() -> list[Case]:
    """Malformed bodies: Go's decoder decides the texts (encoding/json behind gin's ShouldBindJSON)."""
    bodies = {
        "syntax": "{bad",
        "truncated": '{"model": "x"',
        "not-json": "not json",
        "empty": "",
        "array": "[1, 2]",
        "wrong-field-type": '{"model": 5}',
    }
    out = []
    for path, method in (
        ("/api/show", "POST"),
        ("/api/create", "POST"),
        ("/api/generate", "POST"),
        ("/api/chat", "POST"),
        ("/api/delete", "DELETE"),
        ("/api/copy", "POST"),
        ("/api/pull", "POST"),
    ):
        for label, raw in bodies.items():
            if label == "wrong-field-type" and path == "/api/copy":
                raw = '{"source": 5}'
            out.append(Case(f"bad-json {path} {label}", Req(method, path, raw)))
    more = {
        "value-missing": '{"model": }',
        "trailing-comma": '{"model": "x",}',
        "bad-escape": '{"model": "\\x"}',
        "key-without-colon": '{"a" 1}',
        "pair-without-comma": '{"a": 1 "b": 2}',
        "array-without-comma": '{"model": "x", "images": ["a" "b"]}',
        "string-top-level": '"model"',
        "bool-field": '{"model": "x", "stream": "no"}',
        "messages-not-a-list": '{"model": "x", "messages": "hi"}',
        "message-role-number": '{"model": "x", "messages": [{"role": 5, "content": "hi"}]}',
        "options-not-an-object": '{"model": "x", "options": [1]}',
        "keep-alive-bool": '{"model": "x", "keep_alive": true}',
        "keep-alive-bad-duration": '{"model": "x", "keep_alive": "soon"}',
        "keep-alive-list": '{"model": "x", "keep_alive": [1]}',
    }
    out += [Case(f"bad-json /api/chat {label}", Req("POST", "/api/chat", raw)) for label, raw in more.items()]
    return out


CASES: list[Case] = [
    Case("version", Req("GET", "/api/version"), view=lambda b: b),
    Case("tags", Req("GET", "/api/tags"), select=_mine, view=_details_by_name),
    Case("show", Req("POST", "/api/show", {"model": BASE}), view=_show_view),
    Case("show verbose", Req("POST", "/api/show", {"model": BASE, "verbose": True}), view=_show_view),
    Case("show name field", Req("POST", "/api/show", {"name": BASE}), view=_show_view),
    Case("show with system", Req("POST", "/api/show", {"model": BASE, "system": "other"}), view=_show_view),
    Case("show missing", Req("POST", "/api/show", {"model": MISSING})),
    Case("show no model", Req("POST", "/api/show", {})),
    Case("show invalid name", Req("POST", "/api/show", {"model": "bad name!"})),
    # -- create ---------------------------------------------------------------------------------
    Case(
        "create from files, streamed",
        _create(
            f"{P}-files",
            files="<gguf>",
            parameters=PARAMETERS,
            system=SYSTEM,
            template=TEMPLATE,
            messages=MESSAGES,
            license=f"MIT {RUN}",
        ),  # fmt: skip
        view=_statuses,
    ),
    Case("create from files, not streamed", _create(f"{P}-files2", files="<gguf>", stream=False), view=lambda b: b),
    Case(
        "create again, same fields",
        _create(
            f"{P}-files",
            files="<gguf>",
            parameters=PARAMETERS,
            system=SYSTEM,
            template=TEMPLATE,
            messages=MESSAGES,
            license=f"MIT {RUN}",
        ),
        before=(
            _create(
                f"{P}-files",
                files="<gguf>",
                parameters=PARAMETERS,
                system=SYSTEM,
                template=TEMPLATE,
                messages=MESSAGES,
                license=f"MIT {RUN}",
            ),
        ),
        view=_statuses,
    ),  # fmt: skip
    Case(
        "create from a model",
        _create(f"{P}-child", **{"from": BASE}, parameters={"temperature": 0.9}, system=f"child {RUN}"),
        view=_statuses,
    ),  # fmt: skip
    Case("create from a model, nothing new", _create(f"{P}-same", **{"from": BASE}), view=_statuses),
    Case(
        "show of a child",
        Req("POST", "/api/show", {"model": f"{P}-child2"}),
        before=(
            _create(
                f"{P}-child2", **{"from": BASE}, parameters={"top_k": 5}, messages=[{"role": "user", "content": "x"}]
            ),
        ),
        view=_show_view,
    ),  # fmt: skip
    Case(
        "create from a missing base",
        _create(f"{P}-orphan", **{"from": f"{P}-nobase"}),
        # The pull fails on both, for different reasons (no registry; a closed proxy): only the kind is compared.
        view=lambda b: [normalise(x.get("status") or "error: " + _pull_error(x["error"])) for x in b],
        error=_pull_error,
    ),
    Case(
        "tags with an orphan",
        Req("GET", "/api/tags"),
        before=(_create(f"{P}-orphan2", **{"from": f"{P}-nobase2"}),),
        select=_mine,
        view=_details_by_name,
    ),  # fmt: skip
    Case(
        "show of an orphan",
        Req("POST", "/api/show", {"model": f"{P}-orphan3"}),
        before=(_create(f"{P}-orphan3", **{"from": f"{P}-nobase3"}),),
    ),  # fmt: skip
    Case(
        "generate on an orphan",
        _gen("/api/generate", f"{P}-orphan4"),
        before=(_create(f"{P}-orphan4", **{"from": f"{P}-nobase4"}),),
    ),  # fmt: skip
    Case("create, parameters not an object", _create(f"{P}-bad", **{"from": BASE}, parameters="oops")),
    Case("create, messages not a list", _create(f"{P}-bad", **{"from": BASE}, messages={"role": "user"})),
    Case("create, files not an object", _create(f"{P}-bad", files=["a.gguf"])),
    Case(
        "create, num_ctx a string (accepted)",
        _create(f"{P}-strctx", **{"from": BASE}, parameters={"num_ctx": "big"}),
        view=_statuses,
    ),  # fmt: skip
    Case(
        "generate with a stored string num_ctx",
        _gen("/api/generate", f"{P}-strctx2"),
        before=(_create(f"{P}-strctx2", **{"from": BASE}, parameters={"num_ctx": "big"}),),
    ),  # fmt: skip
    Case("create, neither from nor files", _create(f"{P}-bad", system="x")),
    Case("create, neither from nor files, not streamed", _create(f"{P}-bad", system="x", stream=False)),
    Case("create, absolute file path", _create(f"{P}-bad", files={"/abs.gguf": ZERO_DIGEST})),
    Case("create, missing blob", _create(f"{P}-bad", files={"model.gguf": ZERO_DIGEST})),
    Case("create, invalid name", _create("bad name!", **{"from": BASE})),
    Case("create, bad template", _create(f"{P}-bad", **{"from": BASE}, template="{{ .Prompt ")),
    # -- generate / chat --------------------------------------------------------------------------
    Case(
        "generate, not streamed",
        _gen("/api/generate", BASE, stream=False, options={"num_predict": 4, "seed": 1}),
        view=_final(("model", "done", "done_reason")),
        ignore=frozenset({"context"}),
    ),  # fmt: skip
    Case(
        "generate, streamed",
        _gen("/api/generate", BASE, options={"num_predict": 3, "temperature": 0.1}),
        view=_final(("model", "done", "done_reason")),
        ignore=frozenset({"context"}),
    ),  # fmt: skip
    Case(
        "chat, not streamed",
        _gen("/api/chat", BASE, stream=False, options={"num_predict": 4, "top_k": 3}),
        view=_final(("model", "done", "done_reason")),
    ),  # fmt: skip
    Case(
        "chat, streamed",
        _gen("/api/chat", BASE, options={"num_predict": 3, "num_ctx": 1024}),
        view=_final(("model", "done", "done_reason")),
    ),  # fmt: skip
    Case(
        "generate, load",
        Req("POST", "/api/generate", {"model": BASE}),
        view=_final(("model", "done", "done_reason", "response")),
    ),
    Case(
        "chat, load",
        Req("POST", "/api/chat", {"model": BASE}),
        view=_final(("model", "done", "done_reason", "message")),
    ),
    Case(
        "generate, unload",
        Req("POST", "/api/generate", {"model": BASE, "keep_alive": 0}),
        view=_final(("model", "done", "done_reason", "response")),
    ),  # fmt: skip
    Case(
        "chat, unload",
        Req("POST", "/api/chat", {"model": BASE, "keep_alive": 0}),
        view=_final(("model", "done", "done_reason", "message")),
    ),  # fmt: skip
    Case("generate, missing model", _gen("/api/generate", MISSING)),
    Case("chat, missing model", _gen("/api/chat", MISSING)),
    Case("generate, missing model, not streamed", _gen("/api/generate", MISSING, stream=False)),
    Case("chat, missing model, bad option", _gen("/api/chat", MISSING, options={"temperature": "hot"})),
    Case("chat, invalid name", _gen("/api/chat", "bad name!")),
    Case("generate, invalid name", _gen("/api/generate", "bad name!")),
    Case("generate, no model", Req("POST", "/api/generate", {"prompt": "hi"})),
    Case("chat, no model", Req("POST", "/api/chat", {"messages": [{"role": "user", "content": "hi"}]})),
    Case("generate, num_ctx a string", _gen("/api/generate", BASE, options={"num_ctx": "big"})),
    Case("generate, temperature a string", _gen("/api/generate", BASE, options={"temperature": "hot"})),
    Case("chat, temperature a string", _gen("/api/chat", BASE, options={"temperature": "hot"})),
    Case("chat, stop a string", _gen("/api/chat", BASE, options={"stop": "###"})),
    Case("chat, stop with a number", _gen("/api/chat", BASE, options={"stop": ["a", 1]})),
    Case("generate, use_mmap a string", _gen("/api/generate", BASE, options={"use_mmap": "yes"})),
    Case("generate, raw with system", _gen("/api/generate", BASE, raw=True, system="s")),
    Case("generate, keep_alive bad", _gen("/api/generate", BASE, keep_alive="soon")),
    # -- ps ---------------------------------------------------------------------------------------
    Case(
        "ps after a load",
        Req("GET", "/api/ps"),
        before=(Req("POST", "/api/generate", {"model": BASE}),),
        select=_mine,
        view=lambda b: {m["name"]: (m["details"], m["size_vram"]) for m in b["models"]},
    ),  # fmt: skip
    # -- copy / delete ----------------------------------------------------------------------------
    Case("copy", Req("POST", "/api/copy", {"source": BASE, "destination": f"{P}-copy"})),
    Case("copy, missing source", Req("POST", "/api/copy", {"source": MISSING, "destination": f"{P}-copy2"})),
    Case("copy, invalid destination", Req("POST", "/api/copy", {"source": BASE, "destination": "bad name!"})),
    Case(
        "delete",
        Req("DELETE", "/api/delete", {"model": f"{P}-del"}),
        before=(Req("POST", "/api/copy", {"source": BASE, "destination": f"{P}-del"}),),
    ),  # fmt: skip
    Case("delete, missing", Req("DELETE", "/api/delete", {"model": MISSING})),
    Case("delete, invalid name", Req("DELETE", "/api/delete", {"model": "bad name!"})),
    Case(
        "show after delete",
        Req("POST", "/api/show", {"model": f"{P}-del2"}),
        before=(
            Req("POST", "/api/copy", {"source": BASE, "destination": f"{P}-del2"}),
            Req("DELETE", "/api/delete", {"model": f"{P}-del2"}),
        ),
    ),  # fmt: skip
    Case(
        "copy onto an existing model",
        Req("POST", "/api/copy", {"source": BASE, "destination": f"{P}-files2"}),
        before=(_create(f"{P}-files2", files="<gguf>"),),
    ),  # fmt: skip
    Case(
        "show of a copy",
        Req("POST", "/api/show", {"model": f"{P}-copy3"}),
        before=(
            Req("POST", "/api/copy", {"source": f"{P}-child3", "destination": f"{P}-copy3"}),
            _create(f"{P}-child3", **{"from": BASE}),
        ),
        view=_show_view,
    ),  # fmt: skip
    Case(
        "blob HEAD after its only model is deleted",
        Req("HEAD", "/api/blobs/<gguf-q>"),
        before=(
            Req("POST", "/api/blobs/<gguf-q>", "<gguf-q-bytes>"),
            _create(f"{P}-q", files="<gguf-q>"),
            Req("DELETE", "/api/delete", {"model": f"{P}-q"}),
        ),
    ),  # fmt: skip
    # -- more create ------------------------------------------------------------------------------
    Case(
        "create, quantize from files",
        _create(f"{P}-q8", files="<gguf>", quantize="q8_0"),
        view=lambda b: _dedup([normalise(x.get("status", "")) for x in b]),
    ),  # fmt: skip
    Case(
        "show of a quantized model",
        Req("POST", "/api/show", {"model": f"{P}-q8b"}),
        before=(_create(f"{P}-q8b", files="<gguf>", quantize="q8_0"),),
        view=_show_view,
    ),  # fmt: skip
    Case(
        "create, quantize a quantized model",
        _create(f"{P}-q8c", **{"from": f"{P}-q8b"}, quantize="q4_K_M"),
        before=(_create(f"{P}-q8b", files="<gguf>", quantize="q8_0"),),
    ),  # fmt: skip
    Case("create, unknown quantize type", _create(f"{P}-bad", files="<gguf>", quantize="q5_0")),
    Case("create, missing adapter blob", _create(f"{P}-bad", **{"from": BASE}, adapters={"a.gguf": ZERO_DIGEST})),
    Case(
        "create, two adapters",
        _create(f"{P}-bad", **{"from": BASE}, adapters={"a.gguf": ZERO_DIGEST, "b.gguf": ZERO_DIGEST}),
    ),  # fmt: skip
    Case(
        "create, a file that is not a GGUF",
        _create(f"{P}-bad", files={"a.gguf": "<text-blob>"}),
        before=(Req("POST", "/api/blobs/<text-blob>", b"hello, not a model"),),
    ),  # fmt: skip
    Case("create, license list", _create(f"{P}-lic", **{"from": BASE}, license=["A", "B"]), view=_statuses),
    Case(
        "show with licenses",
        Req("POST", "/api/show", {"model": f"{P}-lic2"}),
        before=(_create(f"{P}-lic2", **{"from": BASE}, license=["A", "B"]),),
        view=_show_view,
    ),  # fmt: skip
    # -- more generate ----------------------------------------------------------------------------
    Case(
        "generate with system and template",
        _gen("/api/generate", BASE, stream=False, system="s", template="{{ .Prompt }}", options={"num_predict": 2}),
        view=_final(("model", "done")),
        ignore=frozenset({"context"}),
    ),  # fmt: skip
    Case(
        "generate raw",
        _gen("/api/generate", BASE, stream=False, raw=True, options={"num_predict": 2}),
        view=_final(("model", "done")),
    ),  # fmt: skip
    Case(
        "generate format json",
        _gen("/api/generate", BASE, stream=False, format="json", options={"num_predict": 2}),
        view=_final(("model", "done")),
        ignore=frozenset({"context"}),
    ),  # fmt: skip
    Case("generate think on a model without it", _gen("/api/generate", BASE, think=True)),
    Case(
        "chat with tools on a model without them",
        _gen(
            "/api/chat",
            BASE,
            tools=[
                {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
            ],
        ),
    ),
    Case("generate with suffix", _gen("/api/generate", BASE, suffix="end")),
    Case(
        "chat, system message first",
        Req(
            "POST",
            "/api/chat",
            {
                "model": BASE,
                "stream": False,
                "options": {"num_predict": 2},
                "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}],
            },
        ),
        view=_final(("model", "done")),
    ),  # fmt: skip
    Case(
        "generate, keep_alive negative then ps",
        Req("GET", "/api/ps"),
        before=(Req("POST", "/api/generate", {"model": BASE, "keep_alive": -1}),),
        select=_mine,
        view=lambda b: sorted(m["name"] for m in b["models"]),
    ),  # fmt: skip
    Case("root", Req("GET", "/")),
    Case("root HEAD", Req("HEAD", "/")),
    Case("version HEAD", Req("HEAD", "/api/version")),
    Case("pull, invalid name", Req("POST", "/api/pull", {"model": "bad name!"})),
    Case("pull, no name", Req("POST", "/api/pull", {})),
    Case(
        "show of a stored string num_ctx",
        Req("POST", "/api/show", {"model": f"{P}-strctx3"}),
        before=(_create(f"{P}-strctx3", **{"from": BASE}, parameters={"num_ctx": "big", "bogus": [1, "a"]}),),
        view=_show_view,
    ),  # fmt: skip
    Case(
        "generate with an unknown stored parameter",
        _gen("/api/generate", f"{P}-unknown", stream=False, options={"num_predict": 2}),
        before=(_create(f"{P}-unknown", **{"from": BASE}, parameters={"bogus": 1}),),
        view=_final(("done",)),
    ),  # fmt: skip
    Case("show by another case", Req("POST", "/api/show", {"model": BASE.upper()}), view=_show_view),
    Case(
        "create over another case, then tags",
        Req("GET", "/api/tags"),
        before=(_create(f"{P}-case", **{"from": BASE}), _create(f"{P}-CASE", **{"from": BASE}, system="x")),
        select=_mine,
        view=lambda b: sorted(m["name"] for m in b["models"]),
    ),  # fmt: skip
    Case(
        "delete by another case",
        Req("DELETE", "/api/delete", {"model": f"{P}-DEL3"}),
        before=(Req("POST", "/api/copy", {"source": BASE, "destination": f"{P}-del3"}),),
    ),  # fmt: skip
    Case("copy to itself", Req("POST", "/api/copy", {"source": BASE, "destination": BASE})),
    Case(
        "show of a model without template or system",
        Req("POST", "/api/show", {"model": f"{P}-plain"}),
        before=(_create(f"{P}-plain", files="<gguf>"),),
        view=_show_view,
    ),  # fmt: skip
    Case(
        "show of messages with upper-case roles",
        Req("POST", "/api/show", {"model": f"{P}-roles"}),
        before=(
            _create(
                f"{P}-roles",
                **{"from": BASE},
                messages=[{"role": "USER", "content": "a"}, {"role": "Assistant", "content": "b"}],
            ),
        ),
        view=_show_view,
    ),  # fmt: skip
    Case(
        "chat with upper-case stored roles",
        _gen("/api/chat", f"{P}-roles2", stream=False, options={"num_predict": 2}),
        before=(_create(f"{P}-roles2", **{"from": BASE}, messages=[{"role": "USER", "content": "a"}]),),
        view=_final(("done",)),
    ),  # fmt: skip
    Case(
        "show of a stored string stop",
        Req("POST", "/api/show", {"model": f"{P}-stop"}),
        before=(_create(f"{P}-stop", **{"from": BASE}, parameters={"stop": "x"}),),
        view=_show_view,
    ),  # fmt: skip
    Case(
        "generate with a stored string stop",
        _gen("/api/generate", f"{P}-stop2"),
        before=(_create(f"{P}-stop2", **{"from": BASE}, parameters={"stop": "x"}),),
    ),  # fmt: skip
    Case(
        "pull, missing",
        Req("POST", "/api/pull", {"model": f"{P}-nothere"}),
        error=_pull_error,
        view=lambda b: [x.get("status") or "error: " + _pull_error(x["error"]) for x in b],
    ),  # fmt: skip
    Case(
        "pull, missing, not streamed",
        Req("POST", "/api/pull", {"model": f"{P}-nothere", "stream": False}),
        error=_pull_error,
    ),  # fmt: skip
    # -- blobs ------------------------------------------------------------------------------------
    Case("blob HEAD, present", Req("HEAD", "/api/blobs/<gguf>")),
    Case("blob HEAD, absent", Req("HEAD", f"/api/blobs/{ZERO_DIGEST}")),
    Case("blob HEAD, bad digest", Req("HEAD", "/api/blobs/sha256-nothex")),
    Case("blob GET", Req("GET", f"/api/blobs/{ZERO_DIGEST}")),
    Case("blob POST, digest mismatch", Req("POST", f"/api/blobs/{ZERO_DIGEST}", b"abc")),
    Case("blob POST, present", Req("POST", "/api/blobs/<gguf>", b"abc")),
    Case("unknown path", Req("GET", "/api/nothing")),
    *[
        Case(f"{m} {p}", Req(m, p))
        for m, p in (
            ("GET", "/api/create"),
            ("POST", "/api/tags"),
            ("PUT", "/api/show"),
            ("GET", "/api/delete"),
            ("POST", "/api/version"),
            ("POST", "/"),
        )
    ],
    *_bad_json_cases(),
]

_DIGEST = re.compile(r"sha256[:-][0-9a-f]{64}")
_MODELS_DIR = re.compile(r"[^\s\"]*/blobs/sha256")


def normalise(text: str) -> str:
    """A text with the differences that are legitimate written the same way on both sides."""
    return _DIGEST.sub("sha256:<digest>", _MODELS_DIR.sub("<models>/blobs/sha256", text))


def shape(v: Any, ignore: frozenset[str] = frozenset()) -> Any:
    """The keys and JSON types of a value, recursively; a list by the set of its elements' shapes."""
    if isinstance(v, dict):
        return {k: shape(x, ignore) for k, x in sorted(v.items()) if k not in ignore}
    if isinstance(v, list):
        return sorted({json.dumps(shape(x, ignore), sort_keys=True) for x in v})
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return "null" if v is None else type(v).__name__


Blobs = dict[str, tuple[str, bytes]]  # "<name>" -> (digest, bytes)


def _substitute(value: Any, blobs: Blobs, key: str = "") -> Any:
    """Placeholders: ``files="<gguf>"`` is ``{"tiny.gguf": digest}``; another ``"<name>"`` its digest."""
    if isinstance(value, str) and value in blobs:
        digest = blobs[value][0]
        return {"tiny.gguf": digest} if key == "files" else digest
    if isinstance(value, dict):
        return {k: _substitute(v, blobs, k) for k, v in value.items()}
    return value


def send(client: Any, req: Req, blobs: Blobs) -> Answer:
    kw: dict[str, Any] = {}
    body = _substitute(req.body, blobs)
    if isinstance(body, str) and body.endswith("-bytes>") and body.replace("-bytes>", ">") in blobs:
        body = blobs[body.replace("-bytes>", ">")][1]
    if isinstance(body, (dict, list)):
        kw["content"] = json.dumps(body).encode()
    elif isinstance(body, str):
        kw["content"] = body.encode()
    elif isinstance(body, bytes):
        kw["content"] = body
    path = req.path
    for name, (digest, _) in blobs.items():
        path = path.replace(name, digest)
    r = client.request(req.method, path, **kw)
    ctype = r.headers.get("content-type", "").split(";")[0].strip()
    text = r.text
    if not text:
        return Answer(r.status_code, "empty", None)
    if ctype == "application/x-ndjson":
        return Answer(r.status_code, "ndjson", [json.loads(line) for line in text.splitlines() if line.strip()])
    if ctype == "application/json":
        return Answer(r.status_code, "json", json.loads(text))
    return Answer(r.status_code, "text", text)


def _errors(a: Answer, case: Case) -> list[str]:
    items = a.body if a.kind == "ndjson" else [a.body] if a.kind == "json" else []
    return [case.error(normalise(str(x["error"]))) for x in items if isinstance(x, dict) and "error" in x]


def differences(case: Case, double: Answer, real: Answer) -> list[str]:
    """What the double said differently, one line each (empty when it answered as the server did)."""
    out = []
    if double.status != real.status:
        out.append(f"status: double {double.status}, server {real.status}")
    if double.kind != real.kind:
        out.append(f"body kind: double {double.kind}, server {real.kind}")
    if _errors(double, case) != _errors(real, case):
        out.append(f"errors: double {_errors(double, case)}, server {_errors(real, case)}")
    if double.kind == real.kind and double.kind in ("json", "ndjson"):
        d, r = (case.select(a.body) if case.select else a.body for a in (double, real))
        if double.kind == "ndjson":
            # the last line, and the other lines when both have some (a model of noise may stream
            # no text at all: an incomplete UTF-8 sequence is held back)
            d_shape = {"last": shape(d[-1] if d else None, case.ignore)}
            r_shape = {"last": shape(r[-1] if r else None, case.ignore)}
            if len(d) > 1 and len(r) > 1:
                d_shape["others"], r_shape["others"] = shape(d[:-1], case.ignore), shape(r[:-1], case.ignore)
        else:
            d_shape, r_shape = shape(d, case.ignore), shape(r, case.ignore)
        if d_shape != r_shape:
            out.append(f"shape: double {json.dumps(d_shape)}, server {json.dumps(r_shape)}")
        if case.view is not None and double.status == real.status == 200:
            out += _value_differences(case.view(d), case.view(r))
    elif double.kind == real.kind == "text" and double.body != real.body:
        out.append(f"text: double {double.body!r}, server {real.body!r}")
    return out


def _value_differences(double: Any, real: Any) -> list[str]:
    """The values of a view that differ: key by key when both are objects."""
    dv, rv = (json.loads(normalise(json.dumps(v))) for v in (double, real))
    if dv == rv:
        return []
    if isinstance(dv, dict) and isinstance(rv, dict):
        keys = sorted(set(dv) | set(rv))
        return [f"values[{k}]: double {json.dumps(dv.get(k))}, server {json.dumps(rv.get(k))}"
                for k in keys if dv.get(k) != rv.get(k)]  # fmt: skip
    return [f"values: double {json.dumps(dv)}, server {json.dumps(rv)}"]


@dataclass
class Pair:
    """The real server and the double, each with a client, and the GGUF's digest."""

    real: Any
    double: Any
    blobs: Blobs
    the_double: OllamaDouble


@pytest.fixture(scope="module")
def pair(live_host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    import httpx

    real = httpx.Client(base_url=live_host, timeout=120)
    version = real.get("/api/version").json()["version"]
    if version != VERSION:
        real.close()
        pytest.skip(f"the conformance table is for Ollama {VERSION}; {live_host} runs {version}")
    folder = Path(tmp_path_factory.mktemp("conformance"))
    blobs: Blobs = {}
    for name, path, kw in (
        ("<gguf>", folder / "tiny.gguf", {}),
        ("<gguf-q>", folder / "tiny-q.gguf", {"name": f"tiny-{RUN}"}),  # its own blob: only one model uses it
    ):
        data = write_tiny_llama(path, context_length=2048, **kw).read_bytes()
        blobs[name] = ("sha256:" + hashlib.sha256(data).hexdigest(), data)
    text = f"hello, not a model {RUN}".encode()
    blobs["<text-blob>"] = ("sha256:" + hashlib.sha256(text).hexdigest(), text)
    d = OllamaDouble()
    d.state.version = VERSION
    d.state.vram_fraction = 0.0  # the server is a CPU-only host: nothing in VRAM
    d.start()
    double = httpx.Client(base_url=d.url, timeout=120)
    try:
        for client in (real, double):
            digest, data = blobs["<gguf>"]
            assert client.post(f"/api/blobs/{digest}", content=data).status_code in (200, 201)
            setup = _create(BASE, files="<gguf>", parameters=PARAMETERS, system=SYSTEM, template=TEMPLATE,
                            messages=MESSAGES, stream=False)  # fmt: skip
            answer = send(client, setup, blobs)
            assert answer.status == 200, answer
        yield Pair(real, double, blobs, d)
    finally:
        with contextlib.suppress(Exception):
            for m in _mine(real.get("/api/tags").json())["models"]:
                real.post("/api/generate", json={"model": m["name"], "keep_alive": 0})
                real.request("DELETE", "/api/delete", json={"model": m["name"]})
        real.close()
        double.close()
        d.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_double_answers_as_the_server(pair: Pair, case: Case) -> None:
    for req in case.before:
        send(pair.real, req, pair.blobs)
        send(pair.double, req, pair.blobs)
    real = send(pair.real, case.req, pair.blobs)
    double = send(pair.double, case.req, pair.blobs)
    diff = differences(case, double, real)
    assert not diff, f"{case.name}: {case.req.method} {case.req.path} {case.req.body!r}\n  " + "\n  ".join(diff)


def test_cases_have_unique_names() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


def test_differences_name_what_differs() -> None:
    """The comparison itself: a status, an error text and a key set that differ are each reported;
    digests and the models folder are not differences."""
    case = Case("x", Req("GET", "/"))
    a = Answer(404, "json", {"error": "model 'a' not found"})
    b = Answer(400, "json", {"error": "model is required"})
    diff = differences(case, a, b)
    assert any(d.startswith("status:") for d in diff) and any(d.startswith("errors:") for d in diff)
    assert differences(case, Answer(200, "json", {"a": 1, "b": [1]}), Answer(200, "json", {"a": 2})) == [
        'shape: double {"a": "number", "b": ["\\"number\\""]}, server {"a": "number"}'
    ]
    same = differences(
        case,
        Answer(500, "json", {"error": f"open /x/models/blobs/sha256-{'a' * 64}: no such file"}),
        Answer(500, "json", {"error": f"open /y/blobs/sha256-{'b' * 64}: no such file"}),
    )
    assert same == []
