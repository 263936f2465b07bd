"""``probe PROFILE|MODEL``: the largest prompt the runner takes without cutting it, measured.

The model is loaded as the profile would load it (its options, or the built model's), then
asked for raw prompts of a filler text (no template, one answer token) with ``truncate:
false``, so that a prompt longer than the runner's context is refused instead of cut. The
length of a prompt in tokens is only known from the server (``prompt_eval_count`` when it
takes it; llama-server's refusal names it too), so the search runs in tokens through a fit of
tokens against words, built from the answers: first at the length the runner should take
(its running context from ``/api/ps``, by Ollama's rule for the version), then one word more,
then by halving the bracket. The filler grows by whole words from the same start, so each
prompt extends the last one (llama-server reuses its cached prefix) and the answer is exact
to a word: usually five requests, and at most about twenty for a 131072-token context.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelctl.common.events import EventSink, Status, ignore
from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic, ExitCode, InvalidInput, JobResult, ServerError
from modelctl.jobs.run import RunResult, Target, require_truncate, resolve_target, run_request, running_context
from modelctl.memory.facts import facts_from_show
from modelctl.ollama.hosts import HostRef
from modelctl.ollama.server import OllamaClient, PromptTooLong, ServerInfo
from modelctl.ollama.session import client_for
from modelctl.ollama.truncation import context_from_cut, largest_uncut

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import GenerateRequest

#: The words probe prompts are made of, in a fixed cycle: common words that most tokenizers
#: read as one token each, so that tokens grow in step with words.
FILLER = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
#: The first prompt's words: it loads the model and starts the fit of tokens against words.
CALIBRATION_WORDS = 32
#: llama.cpp pads each slot's context to a multiple of 256, so a runner may take up to 255
#: tokens more than its num_ctx: the search looks that far above the running context.
SLOT_PADDING = 256
#: A safety net: the search needs about log2(context) + 4 requests at worst.
MAX_REQUESTS = 24
#: How often the search aims at the expected length before halving the bracket.
GUESSES = 2
#: The ceiling when nothing about the model's context is known and no --max-context is given.
FALLBACK_CEILING = 262144 + SLOT_PADDING


def filler(words: int) -> str:
    return " ".join(FILLER[i % len(FILLER)] for i in range(words))


# =========================================================================== one over-long prompt

#: The largest num_ctx ``--verify`` measures with an over-long prompt where ``/api/ps`` does not
#: say the runner's context (Ollama before 0.10.0): the runner evaluates num_ctx tokens of it, which
#: takes seconds on a GPU and about a minute per 8,192 tokens of a 7B model on a CPU.
MEASURE_MAX_CONTEXT = 8192


@dataclass
class ContextMeasurement:
    """One prompt longer than num_ctx, and what the runner kept of it (``prompt_eval_count``)."""

    words: int  # filler words sent: at least as many tokens (each word is one token or more)
    kept: int  # prompt_eval_count
    context: int | None  # the runner's per-slot context the cut shows (None: not cut, or the count does not tell)
    cut: bool  # fewer tokens kept than words sent: the runner cut the prompt
    seconds: float

    def to_dict(self) -> JSONObject:
        return {
            "prompt_words": self.words,
            "prompt_eval_count": self.kept,
            "context": self.context,
            "cut": self.cut,
            "seconds": round(self.seconds, 3),
        }


def measure_context(
    client: OllamaClient,
    model: str,
    num_ctx: int,
    *,
    version: str | None,
    keep_alive: str | float,
    clock: Callable[[], float] = time.perf_counter,
) -> ContextMeasurement:
    """The runner's per-slot context, measured with one raw prompt longer than ``num_ctx`` tokens.

    Servers before 0.12.6 cut an over-long prompt without a word (``truncate`` does not exist
    there), keeping exactly the runner's context on the Go runners (:func:`context_from_cut`), so
    ``prompt_eval_count`` says the context ``/api/ps`` does not (before 0.10.0). The prompt has
    ``num_ctx`` + 1/8 + 16 filler words, each at least one token, so it is longer than num_ctx
    whatever the tokenizer; fewer tokens kept than words sent means the runner cut it. The request
    carries no options but ``num_predict``, so the loaded runner serves it without a reload.
    """
    words = num_ctx + num_ctx // 8 + 16
    body: GenerateRequest = {
        "model": model,
        "prompt": filler(words),
        "raw": True,
        "stream": False,
        "keep_alive": keep_alive,
        "options": {"num_predict": 1},
    }
    start = clock()
    res: RunResult = run_request(client, body, clock=clock)
    count = res.metrics.get("prompt_eval_count")
    if not isinstance(count, int):
        raise ServerError(f"{client.display_host} did not say how many tokens the prompt had (prompt_eval_count)")
    cut = count < words
    return ContextMeasurement(words, count, context_from_cut(count, version) if cut else None, cut, clock() - start)


@dataclass
class ProbeStep:
    """One probe request: how many filler words, and what the server said."""

    words: int
    tokens: int | None  # prompt_eval_count when taken; the refusal's count when the server named it
    accepted: bool
    cut: bool = False  # taken, but no longer than a shorter prompt: cut despite truncate: false
    ms: float = 0.0
    context: int | None = None  # the runner's context, when a refusal named it (llama-server)

    @property
    def fits(self) -> bool:
        return self.accepted and not self.cut

    def to_dict(self) -> JSONObject:
        return {
            "words": self.words,
            "tokens": self.tokens,
            "accepted": self.accepted,
            "cut": self.cut,
            "ms": round(self.ms, 3),
        }


class Search:
    """The bounded search for the largest number of filler words the runner takes uncut.

    ``send(words)`` asks the server; ``expected`` is the token count the runner should take
    (None: unknown); ``ceiling`` the most tokens worth asking (``--max-context``, or the running
    context plus the slot padding). Converges when a taken prompt and a refused one are one word
    apart, or when a prompt of ``ceiling`` tokens is taken (``bounded``).
    """

    def __init__(self, send: Callable[[int], ProbeStep], *, ceiling: int, expected: int | None) -> None:
        self.send = send
        self.ceiling = ceiling
        self.expected = None if expected is None else min(expected, ceiling)
        self.steps: list[ProbeStep] = []
        self.lo: ProbeStep | None = None  # the longest prompt taken uncut
        self.hi: ProbeStep | None = None  # the shortest prompt refused (or cut)
        self.guesses = 0
        self.stepped_over = 0  # looks one token above what was taken (twice at most)
        self.stepped_under = False
        self.bounded = False
        self.inconsistent = False

    # -- what the answers say

    def record(self, step: ProbeStep) -> None:
        lo = self.lo
        if step.accepted and lo is not None and step.words > lo.words and (step.tokens or 0) <= (lo.tokens or 0):
            step.cut = True
        self.steps.append(step)
        if step.fits:
            if lo is None or step.words > lo.words:
                self.lo = step
        elif self.hi is None or step.words < self.hi.words:
            self.hi = step
        if step.context:  # llama-server said its context: it takes up to one token less
            self.expected = min(step.context - 1, self.ceiling)
            self.guesses = min(self.guesses, GUESSES - 1)

    def fit(self) -> tuple[float, float]:
        """(tokens at zero words, tokens per word) from the two longest prompts counted."""
        known = sorted({(s.words, s.tokens) for s in self.steps if s.tokens is not None and not s.cut})
        if len(known) >= 2:
            (w1, t1), (w2, t2) = known[-2], known[-1]
            slope = (t2 - t1) / (w2 - w1)
            if slope > 0:
                return t2 - slope * w2, slope
        if known:
            w, t = known[-1]
            return 0.0, max(t / w, 1e-3)  # through zero: over-estimates the slope, so it aims short
        return 0.0, 1.0

    def words_for(self, tokens: float) -> int:
        """The most words whose prompt should not exceed ``tokens``."""
        a, b = self.fit()
        return int((tokens - a) // b)

    def tokens_at(self, step: ProbeStep) -> float:
        if step.tokens is not None and not step.cut:
            return float(step.tokens)
        a, b = self.fit()
        return a + b * step.words

    # -- where to ask next

    def _target(self) -> int | None:
        """The token count to aim at next, or None to halve the bracket of words: the expected
        length (at most twice: the first aim lands short), then one token above what was taken
        (twice), or one below what was refused (Ollama's eras differ by that token)."""
        lo_t = (self.lo.tokens or 0) if self.lo is not None else 0
        hi_t = self.tokens_at(self.hi) if self.hi is not None else float("inf")
        if self.expected is not None:
            if self.guesses < GUESSES and lo_t < self.expected < hi_t:
                self.guesses += 1
                return self.expected
            if self.stepped_over < 2 and self.expected <= lo_t and lo_t + 1 < hi_t:
                self.stepped_over += 1
                return lo_t + 1
            if not self.stepped_under and self.expected + 1 >= hi_t > lo_t + 2:  # refused at what was expected
                self.stepped_under = True
                return int(hi_t) - 1
        return None if self.hi is not None else self.ceiling

    def run(self) -> None:
        while len(self.steps) < MAX_REQUESTS:
            lo_w = self.lo.words if self.lo is not None else 0
            if self.lo is not None and (self.lo.tokens or 0) >= self.ceiling:
                self.bounded = True
                return
            if self.hi is not None and self.hi.words <= lo_w + 1:
                self.inconsistent = self.hi.words <= lo_w
                return
            target = self._target()
            if target is None and self.hi is not None:
                words = (lo_w + self.hi.words) // 2
            else:
                words = self.words_for(min(target or self.ceiling, self.ceiling))
            words = max(words, lo_w + 1)
            if self.hi is not None:
                words = min(words, self.hi.words - 1)
            self.record(self.send(words))

    def refused_tokens(self) -> int | None:
        return self.hi.tokens if self.hi is not None and not self.hi.cut else None


# =========================================================================== the report


@dataclass
class ProbeReport(JobResult):
    """What ``probe`` measured, beside what the model is trained for, configured with and runs with."""

    target: Target
    server: ServerInfo
    trained: int | None
    configured: int | None
    runtime: int | None
    largest: int | None  # tokens of the longest prompt taken uncut (None: not even the shortest)
    refused: int | None  # tokens of the shortest prompt refused, when the server counted them
    bounded: bool  # the search stopped at max_context: the runner takes at least ``largest``
    max_context: int | None = None
    min_context: int | None = None
    steps: list[ProbeStep] = field(default_factory=list)
    wall_s: float = 0.0
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.steps)

    @property
    def never_refused(self) -> bool:
        """The search went past the running context, unbounded by --max-context, and nothing was
        refused: the server does not refuse over-long prompts, so the figure measures nothing."""
        return self.bounded and self.max_context is None

    @property
    def passed(self) -> bool | None:
        """``--min-context``: whether the runner takes a prompt of at least that many tokens; never
        when the server never refused (it may cut prompts silently: nothing was measured)."""
        if self.min_context is None:
            return None
        return not self.never_refused and (self.largest or 0) >= self.min_context

    def outcome_codes(self) -> list[ExitCode]:
        """Below ``--min-context`` (or unable to check it): 6."""
        return [ExitCode.CHECK if self.passed is False else ExitCode.OK]

    def to_dict(self) -> JSONObject:
        return {
            "target": self.target.to_dict(),
            "server": self.server.to_dict(),
            "context": {"trained": self.trained, "configured": self.configured, "runtime": self.runtime},
            "largest_prompt_tokens": self.largest,
            "refused_prompt_tokens": self.refused,
            "bounded": self.bounded,
            "max_context": self.max_context,
            "min_context": self.min_context,
            "passed": self.passed,
            "requests": self.requests,
            "wall_ms": round(self.wall_s * 1000, 3),
            "steps": [s.to_dict() for s in self.steps],
        }


def _sender(
    client: OllamaClient, target: Target, on_event: EventSink, clock: Callable[[], float]
) -> Callable[[int], ProbeStep]:
    def send(words: int) -> ProbeStep:
        on_event(Status(f"probing {target.label} with {words:,} words"))
        body: GenerateRequest = {
            "model": target.model,
            "prompt": filler(words),
            "raw": True,
            "stream": False,
            "truncate": False,
            "options": {**target.options, "num_predict": 1},
        }
        start = clock()
        try:
            res: RunResult = run_request(client, body, clock=clock)
        except PromptTooLong as exc:
            ms = (clock() - start) * 1000
            return ProbeStep(words, exc.refusal.prompt_tokens, False, ms=ms, context=exc.refusal.context)
        count = res.metrics.get("prompt_eval_count")
        if count is None:
            raise ServerError(f"{client.display_host} did not say how many tokens the prompt had (prompt_eval_count)")
        return ProbeStep(words, count, True, ms=(clock() - start) * 1000)

    return send


def _notes(trained: int | None, configured: int | None, runtime: int | None) -> list[Diagnostic]:
    out = []
    if configured and trained and configured > trained:
        out.append(
            Diagnostic("context_capped", f"num_ctx {configured} is above the trained context {trained}: Ollama caps it")
        )
    want = min(configured, trained) if configured and trained else configured
    if want and runtime and runtime != want:
        out.append(
            Diagnostic("context_differs", f"the runner uses a context of {runtime} tokens, not the {want} configured")
        )
    return out


@dataclass(kw_only=True, frozen=True)
class ProbeOptions:
    """Every setting of ``probe``, once."""

    max_context: int | None = None  # search up to this many tokens (default: past the context the runner has)
    min_context: int | None = None  # the check: fewer tokens taken uncut fail it (exit 6)
    ephemeral: bool = False  # send the profile's settings to its base model (no build needed)
    overrides: Sequence[str] = ()  # --set values


def probe(
    ref: str,
    options: ProbeOptions | None = None,
    *,
    host: HostRef = None,
    timeout: float | None = None,
    on_event: EventSink = ignore,
    clock: Callable[[], float] = time.perf_counter,
) -> ProbeReport:
    """Measure the largest prompt (tokens) PROFILE's model (or MODEL) takes without cutting it,
    searching up to ``options.max_context`` tokens. Raises ServerError for a server older than 0.12.6
    (it ignores ``truncate`` and would cut silently), ModelNotFound for a model not built."""
    o = options or ProbeOptions()
    max_context, min_context = o.max_context, o.min_context
    if max_context is not None and max_context < 1:
        raise InvalidInput("--max-context must be at least 1", field="--max-context")
    start = clock()
    with client_for(host, timeout) as client:
        version = require_truncate(client, "probe (it needs over-long prompts refused, not cut)")
        target = resolve_target(ref, client, overrides=o.overrides, ephemeral=o.ephemeral)
        send = _sender(client, target, on_event, clock)
        first = send(CALIBRATION_WORDS)  # loads the model as its requests would
        runtime = running_context(client, target.model)
        facts = facts_from_show(target.show or {})
        sent = target.options.get("num_ctx")
        configured = (sent if isinstance(sent, int) else None) or facts.context_configured
        known = runtime or (min(configured, facts.context_trained) if configured and facts.context_trained else None)
        known = known or configured or facts.context_trained
        ceiling = known + SLOT_PADDING if known else FALLBACK_CEILING
        ceiling = min(ceiling, max_context) if max_context else ceiling
        search = Search(send, ceiling=ceiling, expected=largest_uncut(known, version) if known else None)
        search.record(first)
        search.run()
    report = ProbeReport(
        target,
        ServerInfo(client.display_host, True, version),
        facts.context_trained,
        configured,
        runtime,
        search.lo.tokens if search.lo is not None else None,
        search.refused_tokens(),
        search.bounded,
        max_context,
        min_context,
        search.steps,
        clock() - start,
        [*target.warnings],
    )
    report.warnings += _notes(facts.context_trained, configured, runtime)
    if report.never_refused and min_context is None:  # with --min-context: the check fails, saying why
        report.warnings.append(
            Diagnostic(
                "never_refused",
                f"the runner took a prompt of {report.largest} tokens, "
                f"{SLOT_PADDING} past its context: the server does not seem to refuse "
                "over-long prompts (truncate: false)",
            )
        )
    if any(s.cut for s in search.steps):
        report.warnings.append(
            Diagnostic(
                "cut_anyway", "the server cut a prompt although asked not to (truncate: false): it counts as refused"
            )
        )
    if search.inconsistent or (len(search.steps) >= MAX_REQUESTS and not search.bounded):
        report.warnings.append(
            Diagnostic(
                "probe_incomplete",
                f"the search stopped after {len(search.steps)} requests: the figure is the longest prompt taken so far",
            )
        )
    return report
