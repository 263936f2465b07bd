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

LOCK_BYTES = Limit(
    "MODELCTL_MAX_LOCK_BYTES", 16 << 20, "bytes", "a lock file (`build --lock`, `plan --lock`)",
    "an entry is about 1 KB: this is thousands of models on hundreds of hosts",
)  # fmt: skip
MODELFILE_CHECK_BYTES = Limit(
    "MODELCTL_MAX_MODELFILE_BYTES", 16 << 20, "bytes", "a committed Modelfile compared by `render --check`",
    "a Modelfile is a few KB (a long TEMPLATE or SYSTEM at most a few hundred)",
)  # fmt: skip

#: Every limit, in the order docs/limits.md lists them.
LIMITS: tuple[Limit, ...] = (PROFILE_BYTES, YAML_NODES, LOCK_BYTES, MODELFILE_CHECK_BYTES)
