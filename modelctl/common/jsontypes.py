"""What ``--format json`` prints, as a type: the values ``json.dumps`` writes.

Every ``to_dict()`` of a job's result returns a :data:`JSONObject`, so mypy holds that the JSON
contract (docs/json.md) is made of JSON only: a ``Path``, a ``datetime`` or a dataclass left in
an answer is a type error, not a ``TypeError`` when the command prints. The containers are the
read-only ``Sequence`` and ``Mapping`` so that a ``list[str]`` or a ``dict[str, int]`` is JSON
as it is; at run time they are lists, tuples and dicts (what ``json.dumps`` writes as arrays and
objects), nothing else.

A TypedDict of JSON fields (an answer of the server, parsed from JSON; a small fixed shape such as
``RunnerArgs``) is JSON too, but mypy sees a TypedDict only as a ``Mapping[str, object]``:
:func:`json_of` says so, in one place.

Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias, cast

#: A JSON value: text, a number, true/false, null, an array or an object of JSON values.
JSONValue: TypeAlias = "str | int | float | bool | None | Sequence[JSONValue] | Mapping[str, JSONValue]"
#: A JSON object, as a ``to_dict()`` builds it (a dict, so it can still be added to).
JSONObject: TypeAlias = dict[str, JSONValue]

__all__ = ["JSONObject", "JSONValue", "json_of"]


def json_of(shape: Mapping[str, object]) -> JSONObject:
    """A TypedDict of JSON values as a :data:`JSONObject` for an output (a shallow copy).

    Only for a TypedDict whose fields are JSON: a server's answer (or a part of one), whose values
    came from ``json.loads`` (modelctl/ollama/answers.py) and are kept as they came, or one whose
    fields are JSON types. mypy does not see a TypedDict as a mapping of JSON values, hence the cast.
    """
    return cast("JSONObject", dict(shape))
