"""Every bound modelctl puts on what it reads, in one table.

A cap protects the tool from input that never ends or is absurdly large (a FIFO given as a
profile, a server that answers forever). Each default is far above any legitimate input;
an unusual but legitimate one can raise it through the environment variable named here.
docs/limits.md is generated from this table (``python -m modelctl._docgen``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from modelctl.common.units import parse_size
from modelctl.errors import InvalidInput


@dataclass(frozen=True)
class Limit:
    env: str  # the environment variable that overrides the default
    default: int
    unit: str  # "bytes" | "count" | "seconds"
    what: str  # what it bounds, for docs/limits.md
    why: str  # why the default is what it is
    minimum: int = 1  # the lowest value the environment may set

    def value(self) -> int:
        """The default, or the environment's override (bytes may be written as 4MiB, 1GB...)."""
        raw = os.environ.get(self.env, "").strip()
        if not raw:
            return self.default
        if self.unit == "bytes":
            n = parse_size(raw, what=self.env)
        else:
            try:
                n = int(raw)
            except ValueError:
                raise InvalidInput(
                    f"{self.env} must be a whole number of {self.unit}, not {raw!r}", field=self.env
                ) from None
        if n < self.minimum:
            floor = "above 0" if self.minimum == 1 else f"at least {self.minimum:,}"
            raise InvalidInput(f"{self.env} must be {floor}, not {raw!r}", field=self.env)
        return n


PROFILE_BYTES = Limit(
    "MODELCTL_MAX_PROFILE_BYTES",
    2 << 20,
    "bytes",
    "a profile file (each file of an `extends` chain)",
    "a profile is a few KB; anything near this size is a mistake",
)
YAML_NODES = Limit(
    "MODELCTL_MAX_YAML_NODES",
    200_000,
    "count",
    "YAML nodes in one file, aliases expanded",
    'bounds alias expansion ("billion laughs") while allowing any real profile',
)

LOCK_BYTES = Limit(
    "MODELCTL_MAX_LOCK_BYTES",
    16 << 20,
    "bytes",
    "a lock file (`build --lock`, `plan --lock`)",
    "an entry is about 1 KB: this is thousands of models on hundreds of hosts",
)
RECORDS_BYTES = Limit(
    "MODELCTL_MAX_RECORDS_BYTES",
    64 << 20,
    "bytes",
    "modelctl's record of the models it built (`builds.json`)",
    "at most 1,000 records of one create request each; a larger file is ignored (and rewritten), costing a rebuild",
)
YAML_DEPTH = Limit(
    "MODELCTL_MAX_YAML_DEPTH",
    64,
    "count",
    "nesting of mappings and lists in one YAML file",
    "a profile nests 3 levels and a prompts file a few more; deeper is a mistake or an attack",
)
INT_DIGITS = Limit(
    "MODELCTL_MAX_INT_DIGITS",
    4300,
    "count",
    "decimal digits of an integer in a YAML file, or built by a template",
    "Python's own limit for turning text into an integer; no parameter needs more than 20 digits",
)
EXTENDS_DEPTH = Limit(
    "MODELCTL_MAX_EXTENDS_DEPTH",
    32,
    "count",
    "files in one chain of `extends` (a extends b extends c...)",
    "real profiles extend one or two levels",
)
EXTENDS_FILES = Limit(
    "MODELCTL_MAX_EXTENDS_FILES",
    256,
    "count",
    "different files one profile reads through `extends`, each read once however often it is extended",
    "bounds a wide fan-out (many files each extending many others) to a fixed amount of work",
)
PROFILE_TOTAL_BYTES = Limit(
    "MODELCTL_MAX_PROFILE_TOTAL_BYTES",
    32 << 20,
    "bytes",
    "all the files of one profile together (`extends` included)",
    "each file is capped; this caps their sum, so one profile cannot make modelctl read gigabytes",
)
PROFILE_DIR_FILES = Limit(
    "MODELCTL_MAX_PROFILE_DIR_FILES",
    10_000,
    "count",
    "entries read from one profiles folder (./profiles, $MODELCTL_PROFILES) by `ls`, `ps` and did-you-mean",
    "a profiles folder holds tens of files; this bounds a mistaken $MODELCTL_PROFILES such as /",
)
TEMPLATE_BYTES = Limit(
    "MODELCTL_MAX_TEMPLATE_BYTES",
    1 << 20,
    "bytes",
    "a Modelfile template (`--template`)",
    "a template is a few KB; it is compiled to code, so its size bounds compile time",
)
TEMPLATE_OUTPUT = Limit(
    "MODELCTL_MAX_TEMPLATE_OUTPUT",
    16 << 20,
    "bytes",
    "the Modelfile a template renders, and any one string or list it builds while rendering (at least 64 KiB)",
    "a Modelfile holds a profile's text (each profile file is at most 2 MiB); refusing a huge value "
    "before it is built stops `'a' * 10**9` and `center(10**9)` without allocating them",
    minimum=64 << 10,
)
TEMPLATE_WORK = Limit(
    "MODELCTL_MAX_TEMPLATE_WORK",
    64 << 20,
    "bytes",
    "all the text a template builds in one render, counted at every output, filter, operator and call (at least 1 MiB)",
    "four times the largest Modelfile: a template that builds more is looping on itself",
    minimum=1 << 20,
)
TEMPLATE_STEPS = Limit(
    "MODELCTL_MAX_TEMPLATE_STEPS",
    200_000,
    "count",
    "loop iterations plus calls (macros, methods) in one render (at least 1,000)",
    "the shipped template takes a few dozen; nested loops or a macro that calls itself twice stop here, within "
    "a second or two",
    minimum=1000,
)
TEMPLATE_DEPTH = Limit(
    "MODELCTL_MAX_TEMPLATE_DEPTH",
    64,
    "count",
    "calls nested inside each other (recursive macros and loops)",
    "deep enough for any real template, and well inside Python's own recursion limit",
)
PROMPTS_BYTES = Limit(
    "MODELCTL_MAX_PROMPTS_BYTES",
    8 << 20,
    "bytes",
    "a prompts file (`compare --prompts`)",
    "hundreds of test prompts fit in a few hundred KB",
)
MODELFILE_BYTES = Limit(
    "MODELCTL_MAX_MODELFILE_BYTES",
    4 << 20,
    "bytes",
    "a Modelfile read by `import` or compared by `render --check`",
    "a Modelfile is a few KB, and what it holds must fit in a profile",
)
INVENTORY_BYTES = Limit(
    "MODELCTL_MAX_INVENTORY_BYTES",
    1 << 20,
    "bytes",
    "an inventory of hosts (`--hosts FILE`)",
    "a host takes a few lines: this is thousands of hosts",
)
INVENTORY_HOSTS = Limit(
    "MODELCTL_MAX_HOSTS",
    1000,
    "count",
    "hosts in one inventory, and `--host` values in one run",
    "a fleet of a few dozen servers is large; each host is asked concurrently, so this bounds threads and sockets",
)
INVENTORY_PROFILES = Limit(
    "MODELCTL_MAX_HOST_PROFILES",
    10_000,
    "count",
    "profile files one host's `profiles` entries (names and globs) may match together",
    "a repository holds tens or hundreds of profiles; a glob matching more is a mistake (`**` over a large tree)",
)

# -- work a command line asks for, bounded before anything is sent.

SWEEP_SETTINGS = Limit(
    "MODELCTL_MAX_SWEEP_SETTINGS",
    1_000,
    "count",
    "settings in one `compare --sweep` grid (the product of the numbers of values of each `--sweep`)",
    "a sweep tries tens of settings, each run over every prompt and seed; 1,000 x 1,000 x 1,000 values would "
    "build a billion settings before the first request",
)
TOGETHER_MEMBERS = Limit(
    "MODELCTL_MAX_TOGETHER",
    256,
    "count",
    "profiles and models in one `estimate --together`",
    "a server keeps a few models loaded at once; each member is resolved and every pair compared (256 take a "
    "few seconds, 4,000 over a minute)",
)

#: Every limit, in the order docs/limits.md lists them.
LIMITS: tuple[Limit, ...] = (
    PROFILE_BYTES,
    YAML_NODES,
    YAML_DEPTH,
    INT_DIGITS,
    EXTENDS_DEPTH,
    EXTENDS_FILES,
    PROFILE_TOTAL_BYTES,
    PROFILE_DIR_FILES,
    TEMPLATE_BYTES,
    TEMPLATE_OUTPUT,
    TEMPLATE_WORK,
    TEMPLATE_STEPS,
    TEMPLATE_DEPTH,
    PROMPTS_BYTES,
    MODELFILE_BYTES,
    LOCK_BYTES,
    RECORDS_BYTES,
    INVENTORY_BYTES,
    INVENTORY_HOSTS,
    INVENTORY_PROFILES,
    SWEEP_SETTINGS,
    TOGETHER_MEMBERS,
)

# -- what an Ollama server sends (modelctl/ollama/server.py). The deadlines are --timeout; see docs/server.md.

ANSWER_BYTES = Limit(
    "MODELCTL_MAX_ANSWER_BYTES",
    32 << 20,
    "bytes",
    "one answer of the Ollama server that is not a stream (`/api/show`, `/api/tags`, `/api/ps`, ...), "
    "after decompression",
    "the largest real answer, `/api/show` with `verbose` of a model with a 262k-token vocabulary (its tokens, "
    "scores and types), is about 6 MB; without `verbose` answers are a few KB, a 2,000-tensor list 0.2 MB",
)
LINE_BYTES = Limit(
    "MODELCTL_MAX_LINE_BYTES",
    16 << 20,
    "bytes",
    "one line of a streamed answer (`/api/create`, `/api/pull`, `/api/generate`, `/api/chat`), after decompression",
    "progress and token lines are under 1 KB; the longest real line, the last one of `/api/generate` with "
    "its `context` of up to a million token ids, is about 7 MB",
)
GENERATED_BYTES = Limit(
    "MODELCTL_MAX_GENERATED_BYTES",
    16 << 20,
    "bytes",
    "the text of one generated answer (`response` or `content`, and `thinking`, added up)",
    "a million-token context filled with generated text is about 4 MB; a model generating for ever (no "
    "`num_predict`, context shift) is stopped here",
)
STREAM_EVENTS = Limit(
    "MODELCTL_MAX_STREAM_EVENTS",
    10_000_000,
    "count",
    "lines of one `/api/create` or `/api/pull` stream",
    "Ollama reports a pull every 60 ms whether bytes arrive or not: 10 million lines are 7 days, a 100 GB "
    "pull at 170 KB/s",
)
STREAM_STATUSES = Limit(
    "MODELCTL_MAX_STREAM_STATUSES",
    10_000,
    "count",
    "status changes in one `/api/create` or `/api/pull` stream (each is kept for the build report)",
    "a create or pull reports a few dozen (one per layer and step)",
)

LIMITS += (ANSWER_BYTES, LINE_BYTES, GENERATED_BYTES, STREAM_EVENTS, STREAM_STATUSES)
