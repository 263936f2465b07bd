"""Ollama's prompt truncation: when the runner cuts a prompt to fit the context, how many tokens
are left, and how the server says no when a request asks it not to cut (``truncate: false``).

What Ollama does, by version (read from its source; docs/run.md tells users):

* ``truncate`` and ``shift`` are request fields of ``/api/generate`` and ``/api/chat`` since
  0.12.6; unset means true. Older servers ignore them and always cut.
* Before 0.30.0 (the Go runners): a prompt of more than ``num_ctx`` tokens is cut to ``num_ctx``
  tokens (the first ``num_keep``, then the latter part); with ``truncate: false`` the runner
  answers HTTP 400 ``the input length exceeds the context length``.
* From 0.30.0 (llama-server): a prompt of more than ``num_ctx - 1`` tokens is cut (llama-server
  needs one free cell to generate into); until 0.30.10 to ``num_ctx - 1`` tokens, from 0.30.11
  to ``num_keep`` (one more when the tokenizer adds BOS) plus the latter part, down to
  ``num_ctx - max((num_ctx - keep) / 2, 1)`` tokens (``contextShiftPromptLimit``). With
  ``truncate: false`` the prompt reaches llama-server uncut, which refuses it with HTTP 400 and
  its own JSON text ``request (N tokens) exceeds the available context size (C tokens), try
  increasing it``, passed on by Ollama as the error string. With truncation on and ``shift:
  false``, Ollama itself answers HTTP 400 ``the prompt is longer than the context length ...``.
* ``/api/chat`` drops whole messages from the front (keeping system messages and the last
  message) until the rendered prompt fits, unless ``truncate`` is false.

Only ``prompt_eval_count`` tells a client that a prompt was cut: :func:`cut_sizes` gives the
counts a cut prompt ends with, which ``compare`` flags as ``prompt_truncated``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelctl.ollama.wire import older_than, parse_version

#: ``truncate`` and ``shift`` arrived in this release (older servers cut without being asked).
TRUNCATE_SINCE = "0.12.6"
#: llama-server replaced the Go runners: one token of headroom, and llama-server's refusal.
LLAMA_SERVER_SINCE = "0.30.0"
#: A cut prompt keeps num_keep (+ BOS) and frees about half of the rest of the context.
HALF_CUT_SINCE = "0.30.11"

#: The refusals of an over-long prompt, as Ollama's versions word them (lower-cased).
_REFUSALS = (
    "the input length exceeds the context length",  # the Go runners, truncate: false
    "exceeds the available context size",  # llama-server, truncate: false (0.30.0+)
    "the prompt is longer than the context length",  # Ollama, truncation on but shift: false
)
_PROMPT_TOKENS = re.compile(r'"n_prompt_tokens"\s*:\s*(\d+)|request \((\d+) tokens\)')
_CONTEXT_TOKENS = re.compile(r'"n_ctx"\s*:\s*(\d+)|context size \((\d+) tokens\)')


@dataclass(frozen=True)
class Refusal:
    """The server refused a prompt longer than its context; the numbers when it said them."""

    prompt_tokens: int | None
    context: int | None


def refusal(detail: str) -> Refusal | None:
    """The refusal an HTTP 400 error text is, or None when it is another error."""
    low = detail.lower()
    if not any(text in low for text in _REFUSALS):
        return None
    return Refusal(_first_int(_PROMPT_TOKENS, detail), _first_int(_CONTEXT_TOKENS, detail))


def _first_int(pattern: re.Pattern[str], text: str) -> int | None:
    m = pattern.search(text)
    if m is None:
        return None
    return int(next(g for g in m.groups() if g is not None))


def knows_truncate(version: str | None) -> bool:
    """Whether a server of ``version`` honours ``truncate: false`` (unknown versions count as new)."""
    return not older_than(version, TRUNCATE_SINCE)


def shift_limit(num_ctx: int, keep: int) -> int:
    """``contextShiftPromptLimit``: the tokens a cut prompt keeps (0.30.11 and later)."""
    if num_ctx <= 1:
        return 0
    keep = max(0, min(keep, num_ctx - 1))
    return num_ctx - max((num_ctx - keep) // 2, 1)


def cut_sizes(num_ctx: int, num_keep: int, version: str | None) -> set[int]:
    """The ``prompt_eval_count`` values a prompt cut to fit ``num_ctx`` ends with on a server of
    ``version`` (every era's when the version is unknown). A prompt that fits exactly one of
    these sizes without a cut is possible, but rare: the count is the only sign Ollama gives."""
    known = parse_version(version) not in (None, (0, 0, 0))
    go_runner = not known or older_than(version, LLAMA_SERVER_SINCE)
    early = not known or (not go_runner and older_than(version, HALF_CUT_SINCE))
    half = not known or not older_than(version, HALF_CUT_SINCE)
    sizes: set[int] = set()
    if go_runner:
        sizes.add(num_ctx)
    if early:
        sizes.add(num_ctx - 1)
    if half:  # the tokenizer may add BOS, which is kept too
        sizes |= {shift_limit(num_ctx, num_keep), shift_limit(num_ctx, num_keep + 1)}
    return {s for s in sizes if s > 0}


def was_cut(prompt_eval_count: int | None, num_ctx: int | None, num_keep: int, version: str | None) -> bool:
    """Whether ``prompt_eval_count`` shows that the server cut the prompt to fit ``num_ctx``."""
    if prompt_eval_count is None or not num_ctx:
        return False
    return prompt_eval_count in cut_sizes(num_ctx, num_keep, version)


def context_from_cut(kept: int, version: str | None) -> int | None:
    """The runner's context that cuts an over-long prompt to ``kept`` tokens (``prompt_eval_count``),
    or None where the count does not tell it (0.30.11+ frees about half of the context, num_keep aside).

    The Go runners (before 0.30.0) keep exactly their per-slot context: ``NewSequence`` in
    runner/llamarunner/runner.go (v0.9.3) keeps ``inputs[:numKeep]`` and the last
    ``numCtx - numKeep`` inputs, ``numCtx`` in all (``numKeep`` shapes which tokens stay, not how
    many); llama-server up to 0.30.10 keeps one token less.
    """
    if kept <= 0:
        return None
    if older_than(version, LLAMA_SERVER_SINCE):
        return kept
    if older_than(version, HALF_CUT_SINCE):
        return kept + 1
    return None


def largest_uncut(num_ctx: int, version: str | None) -> int:
    """The longest prompt (tokens) a runner with ``num_ctx`` takes without cutting or refusing."""
    return num_ctx if older_than(version, LLAMA_SERVER_SINCE) else num_ctx - 1
