"""JUnit XML shared by the writers: text made safe for XML, and the report of a run that failed
before it had cells (a prompts file that does not load, a server that cannot be reached, a model
that is not built): one ``<error>`` test case per problem, so a CI job that uploads the report
``when: always`` finds one that says what went wrong (docs/ci.md)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from modelctl.errors import Diagnostic

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 cannot hold replaced by U+FFFD."""
    return _XML_BAD.sub("\ufffd", text)


def _case_name(d: Diagnostic, n: int) -> str:
    where = d.location() or d.field
    return f"{d.code}: {where}" if where else (d.code if n == 1 else f"{d.code} ({n})")


def failure_junit(command: str, diagnostics: Sequence[Diagnostic]) -> str:
    """One suite named after the command, one test case with an ``<error>`` per diagnostic."""
    n = str(len(diagnostics))
    counts = {"tests": n, "failures": "0", "errors": n, "skipped": "0", "time": "0.000000"}
    root = ET.Element("testsuites", {"name": f"modelctl {command}", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": f"modelctl {command}", **counts})
    for i, d in enumerate(diagnostics, 1):
        case = ET.SubElement(
            suite, "testcase", classname=f"modelctl.{command}", name=xml_text(_case_name(d, i)), time="0.000000"
        )
        ET.SubElement(case, "error", message=xml_text(d.format()), type=d.code)
    ET.indent(root)
    return HEADER + ET.tostring(root, encoding="unicode") + "\n"
