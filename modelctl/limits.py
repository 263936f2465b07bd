"""Every bound modelctl puts on what it reads, in one table.

A cap protects the tool from input that never ends or is absurdly large (a FIFO given as a
profile, a server that answers forever). Each default is far above any legitimate input;
an unusual but legitimate one can raise it through the environment variable named here.
docs/limits.md is generated from this table (``python -m modelctl._docgen``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from modelctl.errors import InvalidInput
from modelctl.units import parse_size


@dataclass(frozen=True)
class Limit:
    env: str  # the environment variable that overrides the default
    default: int
    unit: str  # "bytes" | "count" | "seconds"
    what: str  # what it bounds, for docs/limits.md
    why: str  # why the default is what it is

    def value(self) -> int:
        """The default, or the environment's override (bytes may be written as 4MiB, 1GB...)."""
        raw = os.environ.get(self.env, "").strip()
        if not raw:
            return self.default
        if self.unit == "bytes":
            return parse_size(raw, what=self.env)
        try:
            n = int(raw)
        except ValueError:
            raise InvalidInput(
                f"{self.env} must be a whole number of {self.unit}, not {raw!r}", field=self.env
            ) from None
        if n <= 0:
            raise InvalidInput(f"{self.env} must be above 0, not {raw!r}", field=self.env)
        return n


PROFILE_BYTES = Limit(
    "MODELCTL_MAX_PROFILE_BYTES", 2 << 20, "bytes", "a profile file (each file of an `extends` chain)",
    "a profile is a few KB; anything near this size is a mistake",
)  # fmt: skip
YAML_NODES = Limit(
    "MODELCTL_MAX_YAML_NODES", 200_000, "count", "YAML nodes in one file, aliases expanded",
    "bounds alias expansion (\"billion laughs\") while allowing any real profile",
)  # fmt: skip

#: Every limit, in the order docs/limits.md lists them.
LIMITS: tuple[Limit, ...] = (PROFILE_BYTES, YAML_NODES)

# -- what an Ollama server sends (modelctl/server.py). The deadlines are --timeout; see docs/server.md.

ANSWER_BYTES = Limit(
    "MODELCTL_MAX_ANSWER_BYTES", 32 << 20, "bytes",
    "one answer of the Ollama server that is not a stream (`/api/show`, `/api/tags`, `/api/ps`, ...), "
    "after decompression",
    "the largest real answer, `/api/show` with `verbose` of a model with a 262k-token vocabulary (its tokens, "
    "scores and types), is about 6 MB; without `verbose` answers are a few KB, a 2,000-tensor list 0.2 MB",
)  # fmt: skip
LINE_BYTES = Limit(
    "MODELCTL_MAX_LINE_BYTES", 16 << 20, "bytes",
    "one line of a streamed answer (`/api/create`, `/api/pull`, `/api/generate`, `/api/chat`), after "
    "decompression",
    "progress and token lines are under 1 KB; the longest real line, the last one of `/api/generate` with "
    "its `context` of up to a million token ids, is about 7 MB",
)  # fmt: skip
GENERATED_BYTES = Limit(
    "MODELCTL_MAX_GENERATED_BYTES", 16 << 20, "bytes",
    "the text of one generated answer (`response` or `content`, and `thinking`, added up)",
    "a million-token context filled with generated text is about 4 MB; a model generating for ever (no "
    "`num_predict`, context shift) is stopped here",
)  # fmt: skip
STREAM_EVENTS = Limit(
    "MODELCTL_MAX_STREAM_EVENTS", 10_000_000, "count",
    "lines of one `/api/create` or `/api/pull` stream",
    "Ollama reports a pull every 60 ms whether bytes arrive or not: 10 million lines are 7 days, a 100 GB "
    "pull at 170 KB/s",
)  # fmt: skip
STREAM_STATUSES = Limit(
    "MODELCTL_MAX_STREAM_STATUSES", 10_000, "count",
    "status changes in one `/api/create` or `/api/pull` stream (each is kept for the build report)",
    "a create or pull reports a few dozen (one per layer and step)",
)  # fmt: skip

LIMITS += (ANSWER_BYTES, LINE_BYTES, GENERATED_BYTES, STREAM_EVENTS, STREAM_STATUSES)
