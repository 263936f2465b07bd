"""The report of a run that failed before it had a result, in the format a program reads.

``cli_common`` writes it where the result would have gone (``-o FILE`` or stdout) for every failure
but a usage error: a CI job that uploads its report ``when: always`` finds one saying what went
wrong (docs/ci.md, docs/json.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from modelctl.errors import Diagnostic
from modelctl.output import dumps, envelope
from modelctl.output.annotations import sarif
from modelctl.output.junit import failure_junit


def failure_document(command: str, fmt: str, errors: Sequence[Diagnostic]) -> str | None:
    """The envelope with ``ok: false`` (json), a JUnit report with an ``<error>`` case per problem
    (junit), a SARIF log of the errors (sarif); None for the formats people read (text, markdown,
    html, github: the errors go to stderr only)."""
    if fmt == "json":
        return dumps(envelope(command, None, ok=False, errors=errors))
    if fmt == "junit":
        return failure_junit(command, errors)
    if fmt == "sarif":
        return dumps(sarif([(d, "error") for d in errors]))
    return None
