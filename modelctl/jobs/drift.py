"""Drift: how a deployed model differs from the request a profile makes. One rule, two users:
``build``'s up-to-date check and ``plan``'s diff call :func:`differences`, so they never disagree.

The deployed model is read from its ``/api/show`` (and the base model's, for what a ``from``
model inherits): the stored parameters, system, template, messages, license, requires, the
blob lines of the generated Modelfile (FROM weights and projectors, ADAPTER, DRAFT) and its
RENDERER/PARSER lines (``/api/show`` does not fill those two fields). docs/plan.md has the
rule field by field; docs/build.md explains the build records that prove a match when the
server rewrote the weights.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from modelctl.common.jsontypes import JSONObject
from modelctl.errors import ModelfileError
from modelctl.modelfile.grammar import Command, parse
from modelctl.ollama.wire import as_sent, modelfile_blobs, older_than, parse_parameters, same_value

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import CreateRequest, ShowResponse
    from modelctl.profile.params import Params, ParamValue

Action = Literal["+", "-", "~"]
#: The create fields older servers do not store.
NewField = Literal["renderer", "parser", "requires", "draft_files", "draft_quantize"]

#: The first Ollama release that stores each create field (reference/ollama.md §8); older
#: servers drop the field without a word, so it is neither compared nor, for DRAFT, sent.
FEATURE_SINCE: dict[NewField, str] = {
    "renderer": "0.12.0",
    "parser": "0.12.0",
    "requires": "0.14.0",
    "draft_files": "0.30.0",
    "draft_quantize": "0.30.0",
}

QUANT_ALIASES = {"Q4_K": "Q4_K_M"}


@dataclass(frozen=True)
class Difference:
    """One field where the deployed model is not what the request makes.

    ``action``: ``+`` the model lacks it (it will be added), ``-`` the model has it and the
    profile does not (it will go), ``~`` both have it with other values. ``wanted`` and
    ``found`` are the values as the server stores them (floats at float32 precision, a
    ``stop`` list in the profile's order for ``wanted``); ``note`` says why when a value
    alone does not.
    """

    field: str
    action: Action
    wanted: Any = None
    found: Any = None
    note: str = ""

    def reason(self) -> str:
        """One line, for ``build``'s "rebuilt because ..."."""
        if self.note:
            return self.note
        if self.action == "+":
            return f"{self.field} is not on the deployed model (the profile sets {_short(self.wanted)})"
        if self.action == "-":
            return f"{self.field} is on the deployed model ({_short(self.found)}) but not in the profile"
        return f"{self.field} is {_short(self.found)}, the profile says {_short(self.wanted)}"

    def to_dict(self) -> JSONObject:
        return {
            "field": self.field,
            "action": self.action,
            "wanted": self.wanted,
            "found": self.found,
            "note": self.note,
        }


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -------------------------------------------------------------------------------------------
# What /api/show says, read once
# -------------------------------------------------------------------------------------------

_BLOB_HEX = re.compile(r"sha256[-:]([0-9a-fA-F]{64})\s*$")
_NAMED_LINE = re.compile(r"^(RENDERER|PARSER) (.+)$", re.MULTILINE)


@dataclass
class Deployed:
    """The parts of a model's /api/show that the rule compares."""

    froms: list[str]  # blob digests of the FROM lines: weights, then projectors
    adapters: list[str]
    drafts: list[str]
    renderer: str
    parser: str
    template_line: str | None  # the TEMPLATE of the generated Modelfile
    licenses: list[str] | None = None  # its LICENSE lines, one per layer (None: the Modelfile is unreadable)
    adapter_lines: list[str] = field(default_factory=list)  # its ADAPTER arguments (blob paths on the server)


def _commands(text: str) -> list[Command] | None:
    try:
        return parse(text)
    except ModelfileError:  # a generated Modelfile can be unparseable (ollama.md §1.12)
        return None


def blob_digest(path: str) -> str | None:
    """``sha256:<hex>`` of a blob path in a generated Modelfile (``.../blobs/sha256-<hex>``), or None."""
    m = _BLOB_HEX.search(path)
    return "sha256:" + m.group(1).lower() if m is not None else None


def read_deployed(show: ShowResponse | None) -> Deployed:
    """Blob digests, renderer, parser and TEMPLATE line of a model's /api/show (empty for None)."""
    show = show or {}
    text = show.get("modelfile") or ""
    froms, adapters = modelfile_blobs(show)
    drafts: list[str] = []
    named = {"renderer": str(show.get("renderer") or ""), "parser": str(show.get("parser") or "")}
    template: str | None = None
    commands = _commands(text or "") if text else None
    licenses = [c.args for c in commands if c.name == "license"] if commands is not None else None
    adapter_lines = [c.args for c in commands if c.name == "adapter"] if commands is not None else []
    if commands is not None:
        for cmd in commands:
            if cmd.name == "draft" and (m := _BLOB_HEX.search(cmd.args)):
                drafts.append("sha256:" + m.group(1).lower())
            elif cmd.name in named and not named[cmd.name]:
                named[cmd.name] = cmd.args
            elif cmd.name == "template":
                template = cmd.args
    elif text:
        for kind, value in _NAMED_LINE.findall(text):
            named[kind.lower()] = named[kind.lower()] or value.strip()
    return Deployed(froms, adapters, drafts, named["renderer"], named["parser"], template, licenses, adapter_lines)


# -------------------------------------------------------------------------------------------
# The rule
# -------------------------------------------------------------------------------------------


def request_fingerprint(request: CreateRequest) -> str:
    """A digest of every field of a create request (blob digests included), order-independent."""
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def supported_request(request: CreateRequest, version: str | None) -> CreateRequest:
    """``request`` without the fields a server of ``version`` does not store."""
    out = request.copy()
    for key, since in FEATURE_SINCE.items():
        if older_than(version, since):
            out.pop(key, None)
    return out


def unsupported_fields(request: CreateRequest, version: str | None) -> list[NewField]:
    return [k for k in request if k in FEATURE_SINCE and request[k] and older_than(version, FEATURE_SINCE[k])]


def differences(
    request: CreateRequest,
    deployed: ShowResponse,
    base: ShowResponse | None,
    *,
    record: Mapping[str, object] | None = None,
    version: str | None = None,
) -> list[Difference]:
    """Why the deployed model (its /api/show) is not what ``request`` makes; empty = in sync.

    ``base`` is the base model's /api/show (None when the request has no ``from``, or the base
    is not on the server). ``record`` is what modelctl noted when it created the deployed
    manifest (a build record or a lock entry: ``fingerprint``, ``base_blobs``): the same
    request fingerprint proves a match even where the server rewrote the weights, unless the
    base model changed since. ``version`` is the server's: fields it does not store are not
    compared. The rule, field by field, is in docs/plan.md.
    """
    if record is not None and record.get("fingerprint") == request_fingerprint(request):
        return _record_differences(request, base, record)
    request = supported_request(request, version)
    have = read_deployed(deployed)
    base_have = read_deployed(base) if base is not None else None
    return (
        _weight_differences(request, deployed, have, base_have)
        + _parameter_differences(request, deployed, base)
        + _text_differences(request, deployed, base, have)
        + _named_differences(request, have, base_have)
    )


def _record_differences(
    request: CreateRequest, base: ShowResponse | None, record: Mapping[str, object]
) -> list[Difference]:
    """Exactly what modelctl created: only a base model re-pulled since makes it stale."""
    from_name = request.get("from")
    if base is None or not from_name:
        return []
    now = sorted(modelfile_blobs(base)[0])
    blobs = record.get("base_blobs")
    then = sorted(str(b) for b in blobs) if isinstance(blobs, list) else []
    if now == then:
        return []
    return [Difference("from", "~", now, then, f"the base model {from_name} changed since the last build")]


def _weight_differences(
    request: CreateRequest, deployed: ShowResponse, have: Deployed, base: Deployed | None
) -> list[Difference]:
    diffs: list[Difference] = []
    weights = _weights_difference(request, have.froms, base.froms if base is not None else None)
    if weights is not None:
        diffs.append(weights)
    quantize = request.get("quantize")
    if quantize:
        want_q = QUANT_ALIASES.get(str(quantize).upper(), str(quantize).upper())
        have_q = str(((deployed.get("details") or {}).get("quantization_level")) or "").upper()
        if have_q != want_q:
            diffs.append(Difference("quantize", "~", want_q, have_q or None))
    from_name = request.get("from")
    ours = list((request.get("adapters") or {}).values())
    want_adapters = (base.adapters if (from_name and base is not None) else []) + ours
    if sorted(have.adapters) != sorted(want_adapters):
        diffs.append(Difference("adapters", _action(want_adapters, have.adapters), want_adapters, have.adapters))
    diffs += _draft_differences(request, have, base)
    return diffs


def _action(wanted: Any, found: Any) -> Action:
    if not found:
        return "+"
    if not wanted:
        return "-"
    return "~"


def _weights_difference(request: CreateRequest, deployed: list[str], base: list[str] | None) -> Difference | None:
    """Why the deployed FROM blobs are not the ones the request makes (None when they are)."""
    from_name, quantize = request.get("from"), request.get("quantize")
    if from_name:
        if base is None:
            return Difference(
                "from", "+", from_name, None, f"the base model {from_name} is not on the server (it will be pulled)"
            )
        if quantize:
            return Difference(
                "from",
                "~",
                from_name,
                deployed,
                "the server quantized the weights: they cannot be compared with the base's",
            )
        if not deployed or sorted(deployed) != sorted(base):
            return Difference(
                "from",
                "~",
                base,
                deployed,
                f"the weights differ from the base model {from_name}'s (was the base updated?)",
            )
        return None
    files = list((request.get("files") or {}).values())
    if quantize:
        return Difference(
            "from", "~", files, deployed, "the server quantized the weights: they cannot be compared with the files"
        )
    if sorted(deployed) != sorted(files):
        return Difference(
            "from",
            "~",
            files,
            deployed,
            "the deployed weights are not the local files (changed, or rewritten by the server)",
        )
    return None


def _draft_differences(request: CreateRequest, have: Deployed, base: Deployed | None) -> list[Difference]:
    ours = list((request.get("draft_files") or {}).values())
    want = ours if ours else (base.drafts if (request.get("from") and base is not None) else [])
    if ours and request.get("draft_quantize"):
        return [Difference("draft", "~", ours, have.drafts, "the server quantized the draft: it cannot be compared")]
    # Ollama shows one DRAFT line (the last draft layer): it must be one of ours.
    if set(have.drafts) == set(want) or (have.drafts and set(have.drafts) <= set(want)):
        return []
    return [Difference("draft", _action(want, have.drafts), want, have.drafts)]


def expected_parameters(request: CreateRequest, base: ShowResponse | None) -> Params:
    """What the server stores: the base's parameters, then ours key by key (lists replace)."""
    merged: Params = {}
    if request.get("from") and base is not None:
        merged.update(parse_parameters(base.get("parameters")))
    merged.update(request.get("parameters") or {})
    return merged


def _as_stored(value: ParamValue) -> ParamValue:
    """A value as the server keeps it (floats at float32 precision), for showing."""
    if isinstance(value, list):
        return [as_sent(v) for v in value]
    return as_sent(value)


def _parameter_differences(
    request: CreateRequest, deployed: ShowResponse, base: ShowResponse | None
) -> list[Difference]:
    diffs: list[Difference] = []
    stored = parse_parameters(deployed.get("parameters"))
    expected = expected_parameters(request, base)
    for key in list(expected) + [k for k in stored if k not in expected]:
        name = f"parameters.{key}"
        if key not in stored:
            diffs.append(Difference(name, "+", _as_stored(expected[key]), None))
        elif key not in expected:
            diffs.append(Difference(name, "-", None, _as_stored(stored[key])))
        elif not same_value(key, stored[key], expected[key]):
            diffs.append(Difference(name, "~", _as_stored(expected[key]), _as_stored(stored[key])))
    return diffs


def inherited_parameters(request: CreateRequest, deployed: ShowResponse, base: ShowResponse | None) -> Params:
    """Stored parameters the profile does not set that the base model has: in force, not drift."""
    if not request.get("from") or base is None:
        return {}
    ours = request.get("parameters") or {}
    base_params = parse_parameters(base.get("parameters"))
    stored = parse_parameters(deployed.get("parameters"))
    return {k: _as_stored(v) for k, v in stored.items() if k not in ours and k in base_params}


def _messages(show: ShowResponse | None) -> list[dict[str, str]]:
    return [
        {"role": str(m.get("role")), "content": str(m.get("content") or "")}
        for m in ((show or {}).get("messages") or [])
        if isinstance(m, Mapping)
    ]


def _text(field_name: str, want: str, found: str) -> Difference:
    return Difference(field_name, _action(want, found), want, found)


def _text_differences(
    request: CreateRequest, deployed: ShowResponse, base: ShowResponse | None, have: Deployed
) -> list[Difference]:
    diffs: list[Difference] = []
    from_name = request.get("from")
    system: str | None = request.get("system") or ((base or {}).get("system") or "" if from_name else None)
    if system is not None and system != str(deployed.get("system") or ""):
        diffs.append(_text("system", system, str(deployed.get("system") or "")))
    template = request.get("template")
    found_template = str(deployed.get("template") or "")
    if template and template != found_template and have.template_line != template:
        # /api/show's `template` may be the GGUF's own chat template: the TEMPLATE line is ours.
        diffs.append(_text("template", template, have.template_line or found_template))
    want_msgs = [{"role": m["role"], "content": m["content"]} for m in request.get("messages") or []]
    if not want_msgs and from_name:
        want_msgs = _messages(base)
    if _messages(deployed) != want_msgs:
        diffs.append(Difference("messages", _action(want_msgs, _messages(deployed)), want_msgs, _messages(deployed)))
    base_license = str((base or {}).get("license") or "") if from_name else ""
    want_license = "\n".join([x for x in [base_license] if x] + list(request.get("license") or []))
    if str(deployed.get("license") or "") != want_license:
        diffs.append(_text("license", want_license, str(deployed.get("license") or "")))
    requires = request.get("requires")
    found_requires = str(deployed.get("requires") or "").removeprefix("v")
    if requires and found_requires != requires:
        diffs.append(_text("requires", str(requires), found_requires))
    return diffs


def _named_differences(request: CreateRequest, have: Deployed, base: Deployed | None) -> list[Difference]:
    """RENDERER and PARSER: ours when set, else the base's (the server inherits them)."""
    diffs: list[Difference] = []
    keys: tuple[Literal["renderer"], Literal["parser"]] = ("renderer", "parser")
    for key in keys:
        want: str | None = request.get(key) or None
        if want is None and request.get("from") and base is not None:
            want = getattr(base, key)
        if want is not None and want != getattr(have, key):
            diffs.append(_text(key, want, getattr(have, key)))
    return diffs
