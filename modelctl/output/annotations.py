"""Diagnostics for CI: SARIF 2.1.0 (code scanning) and GitHub Actions workflow commands.

SARIF (OASIS SARIF 2.1.0): one run of the tool ``modelctl``, a rule per diagnostic code
(``tool.driver.rules``), one result per diagnostic with its ``ruleId``/``ruleIndex``,
``level`` (``error`` or ``warning``), ``message.text`` and, when the diagnostic names a
file, a location: the file as a relative URI against ``%SRCROOT%`` (the repository, where
CI runs), ``region.startLine``/``startColumn`` (1-based, counted in Unicode code points as
``columnKind`` says).

GitHub: ``::error file=F,line=L,col=C,title=CODE::message`` (or ``::warning``), with the
escapes the runner expects (``%``, CR, LF in the message; also ``:`` and ``,`` in properties).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Sequence

from modelctl import __version__
from modelctl.common import escape
from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

#: What each code means, for a rule's short description (any other code describes itself).
RULES: dict[str, str] = {
    "unknown_key": "Unknown profile key",
    "unknown_parameter": "Unknown Ollama parameter",
    "removed_parameter": "Parameter removed from Ollama",
    "risky_value": "Legal but risky parameter value",
    "float32_precision": "Value Ollama stores differently as a 32-bit float",
    "custom_stop": "Custom stop list replaces the model's own stop tokens",
    "template_variable": "TEMPLATE reads a variable Ollama does not provide",
    "num_ctx_above_trained": "num_ctx above the model's trained context",
    "empty_inherits": "Empty value cannot clear the base model's",
    "quantize_from_name": "quantize on an already quantized model",
    "base_missing": "Base model not on the server",
    "stop_drops_end_of_turn": "Stop list drops the base model's end-of-turn tokens",
    "parameter_ignored": "Parameter the server's Ollama version ignores",
    "requires_newer": "Profile requires a newer Ollama than the server's",
    "unsupported_field": "Field the server's Ollama version does not store",
    "yaml": "Invalid YAML",
    "missing": "Required key missing",
    "inventory": "Invalid inventory",
}

Located = tuple[Diagnostic, str]  # a diagnostic and its level: "error" or "warning"


def _uri(path: str) -> str:
    """A file as SARIF wants it: a relative URI reference (``/`` separators, percent-encoded), or
    ``file://`` for a path outside the current folder."""
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    if rel.startswith(".."):
        return "file://" + urllib.parse.quote(os.path.abspath(path).replace(os.sep, "/"))
    return urllib.parse.quote(rel.replace(os.sep, "/"))


def _is_file(d: Diagnostic) -> bool:
    return bool(d.file) and not str(d.file).startswith("--")  # `--set` is not a file


def sarif(diagnostics: Sequence[Located]) -> JSONObject:
    """A SARIF 2.1.0 log: one run, a rule per code, a result per diagnostic."""
    codes = list(dict.fromkeys(d.code for d, _ in diagnostics))
    rules: list[JSONObject] = [
        {
            "id": code,
            "name": "".join(part.capitalize() for part in code.split("_")),
            "shortDescription": {"text": RULES.get(code, code.replace("_", " ").capitalize())},
        }
        for code in codes
    ]
    results: list[JSONObject] = []
    for d, level in diagnostics:
        result: JSONObject = {
            "ruleId": d.code,
            "ruleIndex": codes.index(d.code),
            "level": level,
            "message": {"text": f"{d.field}: {d.message}" if d.field else d.message},
        }
        if _is_file(d):
            location: JSONObject = {"artifactLocation": {"uri": _uri(str(d.file)), "uriBaseId": "%SRCROOT%"}}
            region = {"startLine": d.line or 1}
            if d.column:
                region["startColumn"] = d.column
            location["region"] = region
            result["locations"] = [{"physicalLocation": location}]
        results.append(result)
    driver: JSONObject = {"name": "modelctl", "version": __version__, "rules": rules}
    run: JSONObject = {"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": results}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _escape_data(text: str) -> str:
    """The runner's escapes for CR, LF and ``%``; then every other control character (ESC...)
    escaped by the one rule (``modelctl.common.escape``), so no text reaches the log as a command."""
    return escape.line(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github(diagnostics: Sequence[Located]) -> str:
    """One workflow command per diagnostic: an inline annotation on the pull request."""
    lines = []
    for d, level in diagnostics:
        props = []
        if _is_file(d):
            props.append(f"file={_escape_property(str(d.file).replace(os.sep, '/'))}")
            if d.line:
                props.append(f"line={d.line}")
            if d.column:
                props.append(f"col={d.column}")
        props.append(f"title={_escape_property('modelctl ' + d.code)}")
        message = f"{d.field}: {d.message}" if d.field else d.message
        lines.append(f"::{level} {','.join(props)}::{_escape_data(message)}")
    return "\n".join(lines) + ("\n" if lines else "")
