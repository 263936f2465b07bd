"""The ``compare`` run matrix: profiles x prompts x seeds (x repeats).

Cells run on a thread pool (``parallel``), profile by profile so that a model is not
reloaded more than needed. Each cell keeps the output, metrics, time to first token and
assertion results; flags mark non-deterministic outputs, reloads, answers cut at the token
limit and prompts the server cut to fit the context (``--no-truncate`` makes those errors). If the
server goes away mid-matrix the remaining cells are skipped and what finished is still
reported; a finished cell is reported as a :class:`~modelctl.common.events.CellDone` event.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelctl.common.events import CellDone, EventSink, Notice, ignore
from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic, ExitCode, JobResult, ModelctlError, ServerUnreachable
from modelctl.jobs.run import (
    RunResult,
    Target,
    build_request,
    context_settings,
    cut_note,
    run_request,
    running_context,
    too_long,
)
from modelctl.jobs.table import ParamTable
from modelctl.memory.effective import (
    LOAD_OPTIONS,
    RunnerSpec,
    conflict_notes,
    model_from_show,
    reload_reasons,
    resolve,
    server_context,
    unknown_model,
)
from modelctl.memory.effective import runner_spec as effective_runner_spec
from modelctl.ollama.server import OllamaClient, PromptTooLong, ServerInfo
from modelctl.ollama.wire import model_key, parse_parameters
from modelctl.profile.prompts import AssertionResult, PromptCase, evaluate

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.profile.params import ParamValue

#: A load longer than this counts as "a load happened" (a warm model reports a few ms of
#: scheduling as load_duration; a real load takes hundreds of ms or more).
RELOAD_THRESHOLD_NS = 100_000_000

FLAG_NON_DETERMINISTIC = "non_deterministic"
FLAG_RELOADED = "reloaded"
FLAG_LENGTH = "length"
FLAG_PROMPT_TRUNCATED = "prompt_truncated"
#: The former name of ``length``, still written in the JSON (cells' ``flags``, the summaries'
#: counts) beside it so that scripts reading it keep working; never shown in reports.
FLAG_TRUNCATED = "truncated"
FLAGS = (FLAG_NON_DETERMINISTIC, FLAG_RELOADED, FLAG_LENGTH, FLAG_PROMPT_TRUNCATED)
FLAG_HELP = {
    FLAG_NON_DETERMINISTIC: "same profile, prompt and seed gave different text",
    FLAG_RELOADED: "the model was loaded again after the first run (runner options differ between "
    "profiles sharing a base, or it was evicted)",
    FLAG_LENGTH: "the answer stopped at the token limit (done_reason = length), not where the model ended it",
    FLAG_PROMPT_TRUNCATED: "the server cut the prompt to fit the context: prompt_eval_count is what Ollama keeps "
    "of a longer prompt (--no-truncate makes it an error)",
}
_JSON_FLAG_HELP = {**FLAG_HELP, FLAG_TRUNCATED: "the former name of length, kept in the JSON for existing scripts"}


def _json_flags(flags: Sequence[str]) -> list[str]:
    return [*flags, FLAG_TRUNCATED] if FLAG_LENGTH in flags else list(flags)


def median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(statistics.median(vals)) if vals else None


@dataclass
class Cell:
    """One request of the matrix: profile x prompt x seed x repeat."""

    id: int
    profile: int  # index into the matrix's targets
    prompt: int  # index into the matrix's cases
    seed: int | None  # the --seeds value (None: the profile's own)
    repeat: int  # 1-based
    status: str = "pending"  # pending | ok | error | skipped
    result: RunResult | None = None
    error: Diagnostic | None = None
    assertions: list[AssertionResult] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    order: int | None = None  # execution order (0-based) among cells that ran
    loaded: bool = False  # the server (re)loaded the model for this cell
    started: float | None = None  # seconds since the matrix started
    finished: float | None = None
    prompt_cut: dict[str, int] | None = None  # prompt_truncated: prompt_eval_count, num_ctx, num_keep

    @property
    def passed(self) -> bool | None:
        if not self.assertions:
            return None
        return all(a.passed for a in self.assertions)

    def to_dict(self, targets: Sequence[Target], cases: Sequence[PromptCase]) -> JSONObject:
        r = self.result
        return {
            "id": self.id,
            "profile": targets[self.profile].label,
            "prompt": cases[self.prompt].index,
            "prompt_label": cases[self.prompt].label,
            "seed": self.seed,
            "repeat": self.repeat,
            "status": self.status,
            "output": r.text if r else None,
            "eval_count": r.eval_count if r else None,
            "prompt_eval_count": r.metrics.get("prompt_eval_count") if r else None,
            "tokens_per_s": None if r is None or r.tokens_per_s is None else round(r.tokens_per_s, 2),
            "ttft_ms": None if r is None or r.ttft_s is None else round(r.ttft_s * 1000, 3),
            "load_ms": None if r is None or r.load_s is None else round(r.load_s * 1000, 3),
            "total_ms": None
            if r is None or "total_duration" not in r.metrics
            else round(r.metrics["total_duration"] / 1e6, 3),
            "wall_ms": None if r is None else round(r.wall_s * 1000, 3),
            "done_reason": r.done_reason if r else None,
            "assertions": [a.to_dict() for a in self.assertions],
            "passed": self.passed,
            "flags": _json_flags(self.flags),
            "prompt_cut": self.prompt_cut,
            "loaded": self.loaded,
            "error": self.error.to_dict() if self.error else None,
            "order": self.order,
            "started_ms": None if self.started is None else round(self.started * 1000, 3),
        }


@dataclass
class ProfileSummary:
    label: str
    cells: int
    ok: int
    errors: int
    skipped: int
    median_tokens_per_s: float | None
    median_ttft_ms: float | None
    median_load_ms: float | None
    assertions_passed: int
    assertions_total: int
    flags: dict[str, int]

    @property
    def pass_rate(self) -> float | None:
        return self.assertions_passed / self.assertions_total if self.assertions_total else None

    def to_dict(self) -> JSONObject:
        return {
            "profile": self.label,
            "cells": self.cells,
            "ok": self.ok,
            "errors": self.errors,
            "skipped": self.skipped,
            "median_tokens_per_s": None if self.median_tokens_per_s is None else round(self.median_tokens_per_s, 2),
            "median_ttft_ms": None if self.median_ttft_ms is None else round(self.median_ttft_ms, 3),
            "median_load_ms": None if self.median_load_ms is None else round(self.median_load_ms, 3),
            "assertions_passed": self.assertions_passed,
            "assertions_total": self.assertions_total,
            "pass_rate": None if self.pass_rate is None else round(self.pass_rate, 4),
            "flags": {**self.flags, FLAG_TRUNCATED: self.flags.get(FLAG_LENGTH, 0)},
        }


@dataclass
class Matrix(JobResult):
    targets: list[Target]
    cases: list[PromptCase]
    seeds: list[int | None]
    repeat: int
    parallel: int
    cells: list[Cell]
    server: ServerInfo
    wall_s: float = 0.0
    aborted: ModelctlError | None = None  # the error that stopped the matrix early
    interrupted: bool = False
    warnings: list[Diagnostic] = field(default_factory=list)
    table: ParamTable | None = None
    min_pass_rate: float = 1.0  # below this share of passed assertions the check fails (exit 6)

    # -- verdicts
    @property
    def pass_rate(self) -> float | None:
        """Passed assertions over all assertions of the cells that ran (None: no assertions)."""
        total = sum(len(c.assertions) for c in self.cells)
        return None if total == 0 else (total - self.failed_assertions) / total

    @property
    def checks_failed(self) -> bool:
        """The assertions passed less often than ``min_pass_rate`` asks."""
        rate = self.pass_rate
        return rate is not None and rate < self.min_pass_rate

    def outcome_codes(self) -> list[ExitCode]:
        return self.codes_judged(self.checks_failed)

    def codes_judged(self, checks_failed: bool) -> list[ExitCode]:
        """Ctrl-C 130; the server gone mid-matrix: its error's code; a cell failed on the server:
        4 (unreachable) or 5; assertions below the pass rate: 6 (``checks_failed`` as the caller
        judges them: a sweep judges by its best setting)."""
        if self.interrupted:
            return [ExitCode.INTERRUPTED]
        codes = [self.aborted.exit_code] if self.aborted is not None else []
        kinds = {c.error.code for c in self.server_errors if c.error is not None}
        if self.server_errors:
            codes.append(ExitCode.UNREACHABLE if ServerUnreachable.code in kinds else ExitCode.SERVER)
        return [*codes, ExitCode.CHECK if checks_failed else ExitCode.OK]

    def summaries(self) -> list[ProfileSummary]:
        out = []
        for i, t in enumerate(self.targets):
            cells = [c for c in self.cells if c.profile == i]
            ok = [c for c in cells if c.status == "ok" and c.result is not None]
            results = [c.result for c in ok if c.result is not None]
            asserts = [a for c in ok for a in c.assertions]
            out.append(
                ProfileSummary(
                    t.label,
                    len(cells),
                    len(ok),
                    sum(1 for c in cells if c.status == "error"),
                    sum(1 for c in cells if c.status == "skipped"),
                    median([r.tokens_per_s for r in results]),
                    median([None if r.ttft_s is None else r.ttft_s * 1000 for r in results]),
                    median([None if r.load_s is None else r.load_s * 1000 for r in results]),
                    sum(1 for a in asserts if a.passed),
                    len(asserts),
                    {f: sum(1 for c in cells if f in c.flags) for f in FLAGS},
                )
            )
        return out

    @property
    def failed_assertions(self) -> int:
        return sum(1 for c in self.cells for a in c.assertions if not a.passed)

    @property
    def server_errors(self) -> list[Cell]:
        return [c for c in self.cells if c.status == "error"]

    def errors(self) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        if self.aborted is not None:
            done = sum(1 for c in self.cells if c.status == "ok")
            out.append(
                Diagnostic(
                    self.aborted.code,
                    f"{self.aborted.message} — stopped after {done} of {len(self.cells)} cells; "
                    "the finished cells are reported",
                )
            )
        seen = set()
        for c in self.cells:
            if c.status == "error" and c.error is not None and c.error.message not in seen:
                seen.add(c.error.message)
                if self.aborted is None or c.error.message != self.aborted.message:
                    out.append(c.error)
        if self.interrupted:
            out.append(Diagnostic("interrupted", "interrupted (Ctrl-C): the finished cells are reported"))
        assertion = self.assertion_diagnostic()
        if assertion is not None and self.checks_failed:
            out.append(assertion)
        return out

    def assertion_diagnostic(self) -> Diagnostic | None:
        """``N of M assertions failed in K cell(s)`` with the pass rate against --min-pass-rate."""
        failed = self.failed_assertions
        if not failed:
            return None
        total = sum(len(c.assertions) for c in self.cells)
        cells = sum(1 for c in self.cells if c.passed is False)
        rate = (total - failed) / total
        verdict = "below" if rate < self.min_pass_rate else "at or above"
        msg = (
            f"{failed} of {total} assertions failed in {cells} cell(s): pass rate {rate:.2f}, "
            f"{verdict} --min-pass-rate {self.min_pass_rate:g}"
        )
        return Diagnostic("check_failed", msg)

    def to_dict(self) -> JSONObject:
        return {
            "kind": "matrix",
            "server": self.server.to_dict(),
            "profiles": [t.to_dict() for t in self.targets],
            "prompts": [c.to_dict() for c in self.cases],
            "seeds": self.seeds,
            "repeat": self.repeat,
            "parallel": self.parallel,
            "wall_ms": round(self.wall_s * 1000, 3),
            "pass_rate": None if self.pass_rate is None else round(self.pass_rate, 4),
            "min_pass_rate": self.min_pass_rate,
            "complete": self.aborted is None
            and not self.interrupted
            and all(c.status != "skipped" for c in self.cells),
            "cells": [c.to_dict(self.targets, self.cases) for c in self.cells],
            "summary": [s.to_dict() for s in self.summaries()],
            "flags": _JSON_FLAG_HELP,
            "table": self.table.to_dict() if self.table is not None else None,
        }


def plan_cells(n_targets: int, n_cases: int, seeds: Sequence[int | None], repeat: int) -> list[Cell]:
    """Profile-major order: all of one profile's cells run before the next profile's."""
    cells: list[Cell] = []
    for p in range(n_targets):
        for q in range(n_cases):
            for s in seeds:
                for r in range(1, repeat + 1):
                    cells.append(Cell(len(cells), p, q, s, r))
    return cells


def effective_seed(target: Target, cell_seed: int | None) -> int | None:
    """The seed a cell ran with, when known (an explicit seed, the profile's, or the model's)."""
    if cell_seed is not None:
        return cell_seed
    if "seed" in target.options:
        return _whole(target.options["seed"])
    if target.loaded is not None:
        s = target.loaded.profile.parameters.as_dict().get("seed")
        if s is not None:
            return _whole(s)
    if target.show:
        s = parse_parameters(target.show.get("parameters")).get("seed")
        if s is not None:
            return _whole(s)
    return None


def _whole(value: ParamValue) -> int | None:
    """A seed as an int (the catalogue's type; a list is no seed)."""
    return None if isinstance(value, list) else int(value)


def runner_group(target: Target) -> str:
    """Targets in one group share weights on the server (same base), hence one runner."""
    if target.ephemeral:
        return target.model
    return target.base or target.model


def runner_spec(target: Target, version: str | None = None) -> RunnerSpec:
    """The runner a target's requests ask for on a server of ``version``, by the resolver
    (modelctl.memory.effective): what the model stores (its /api/show), or the profile when it is not
    built, under the request options."""
    name = runner_group(target)
    ctx = server_context(version, reachable=version is not None)
    if target.show:
        res = resolve(model_from_show(name, target.show), ctx, request=target.options)
    else:
        res = resolve(unknown_model(name, "not built"), ctx, profile=target.loaded, request=target.options)
    weights = res.model.weights or "name:" + model_key(name)
    return effective_runner_spec(res, target.label, weights)


def runner_conflicts(targets: Sequence[Target], version: str | None = None) -> list[Diagnostic]:
    """Profiles sharing weights whose runners differ (modelctl.memory.effective's reload rule): Ollama
    reloads the model whenever requests switch between them."""
    notes = conflict_notes([runner_spec(t, version) for t in targets])
    return [
        Diagnostic("runner_options", text, field=f"parameters.{reason}" if reason in LOAD_OPTIONS else reason)
        for reason, text in notes
    ]


def flag_cells(matrix: Matrix, running: Callable[[Target], int | None] = lambda _t: None) -> None:
    """Set the reloaded, length, prompt_truncated and non-deterministic flags on finished cells.
    ``running(target)`` is the context of its loaded runner, for a num_ctx the server picked."""
    ran = sorted(
        (c for c in matrix.cells if c.status == "ok" and c.result is not None),
        key=lambda c: c.order if c.order is not None else 0,
    )
    settings = [context_settings(t) for t in matrix.targets]  # once per column, not per cell
    for c in ran:
        if _reloaded(matrix, c, ran):
            c.flags.append(FLAG_RELOADED)
        if c.result is not None and c.result.done_reason == "length":
            c.flags.append(FLAG_LENGTH)
        _flag_prompt_cut(matrix, c, settings[c.profile], running)
    by_key: dict[tuple[int, int, int], list[Cell]] = {}
    for c in ran:
        seed = effective_seed(matrix.targets[c.profile], c.seed)
        if seed is not None and seed >= 0:
            by_key.setdefault((c.profile, c.prompt, seed), []).append(c)
    for group_cells in by_key.values():
        if len({c.result.text for c in group_cells if c.result is not None}) > 1:
            for c in group_cells:
                c.flags.append(FLAG_NON_DETERMINISTIC)
    for c in matrix.cells:
        c.flags.sort(key=FLAGS.index)


def _flag_prompt_cut(
    matrix: Matrix, c: Cell, settings: tuple[int | None, int], running: Callable[[Target], int | None]
) -> None:
    """``prompt_truncated`` when the cell's prompt_eval_count is what Ollama keeps of a cut prompt;
    ``settings`` is its column's (num_ctx, num_keep)."""
    count = c.result.metrics.get("prompt_eval_count") if c.result is not None else None
    num_ctx, num_keep = settings
    if count is not None and num_ctx is None:
        num_ctx = running(matrix.targets[c.profile])
    if cut_note(count, num_ctx, num_keep, matrix.server.version) is not None:
        c.flags.append(FLAG_PROMPT_TRUNCATED)
        c.prompt_cut = {"prompt_eval_count": int(count or 0), "num_ctx": int(num_ctx or 0), "num_keep": num_keep}


def _reloaded(matrix: Matrix, c: Cell, ran: Sequence[Cell]) -> bool:
    """Whether cell ``c`` loaded the model again.

    A cell *loaded* when its load_duration reached RELOAD_THRESHOLD_NS. The load is a
    *reload* when the same profile ran before (the model was evicted or its runner
    replaced), or when another profile on the same base ran before with different
    runner options (Ollama keys runners by weights and reloads on a runner-option change).
    A profile's first load on a base nobody used yet is a cold start, not a reload.
    """
    assert c.result is not None
    c.loaded = (c.result.metrics.get("load_duration") or 0) >= RELOAD_THRESHOLD_NS
    if not c.loaded:
        return False
    start = c.started if c.started is not None else 0.0
    version = matrix.server.version
    spec = runner_spec(matrix.targets[c.profile], version)
    for o in ran:
        if o is c:
            continue
        if o.profile == c.profile:
            # The model was ready (an earlier cell had finished) and yet loaded again.
            if o.finished is not None and o.finished <= start:
                return True
            continue
        reloads = reload_reasons(runner_spec(matrix.targets[o.profile], version), spec)
        if reloads and o.started is not None and o.started < start:
            return True
    return False


class Cancelled(Exception):
    """A cell stopped because the matrix was interrupted or aborted."""


class _MatrixRun:
    """Runs the cells of one matrix against one server, serially or on a pool."""

    def __init__(
        self, client: OllamaClient, matrix: Matrix, on_event: EventSink, clock: Callable[[], float], truncate: bool
    ) -> None:
        self.client = client
        self.truncate = truncate
        self.matrix = matrix
        self.on_event = on_event
        self.clock = clock
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.started = 0
        self.done = 0
        self.start = clock()

    def run_cell(self, cell: Cell) -> Cell:
        if self.stop.is_set():
            cell.status = "skipped"
            return cell
        target = self.matrix.targets[cell.profile]
        case = self.matrix.cases[cell.prompt]
        body = build_request(target, case.prompt, system=case.system, seed=cell.seed, truncate=self.truncate)
        with self.lock:
            cell.order = self.started
            self.started += 1
            cell.started = self.clock() - self.start
        res = RunResult(target.endpoint, target.model)
        try:
            try:
                run_request(self.client, body, on_token=self.check_stop, clock=self.clock, result=res)
            finally:
                cell.finished = self.clock() - self.start
        except Cancelled:
            cell.status = "skipped"
            return cell
        except PromptTooLong as exc:  # --no-truncate: the prompt's problem, not the server's
            cell.status = "error"
            context = context_settings(target)[0] or running_context(self.client, target.model)
            label = repr(case.label) + (f" ({case.where()})" if case.file else "")
            cell.error = too_long(exc, case.prompt, self.client.display_host, label=label, context=context).diagnostic()
            return cell
        except ModelctlError as exc:
            cell.status = "error"
            cell.error = exc.diagnostic()
            self.abort_if_gone(exc)
            return cell
        cell.result = res
        cell.status = "ok"
        cell.assertions = evaluate(case.assertions, res.text, res.eval_count)
        return cell

    def check_stop(self, _piece: str) -> None:
        if self.stop.is_set():
            raise Cancelled()

    def abort_if_gone(self, exc: ModelctlError) -> None:
        """One request failing is the request's problem; a server that no longer answers at
        all is everybody's: ask it, and stop the matrix if it is gone."""
        gone: ModelctlError | None = exc if isinstance(exc, ServerUnreachable) else None
        if gone is None:
            try:
                self.client.version()
            except ModelctlError as err:
                gone = err
        if gone is not None:
            with self.lock:
                if self.matrix.aborted is None:
                    self.matrix.aborted = gone
            self.stop.set()

    def finish(self, cell: Cell) -> None:
        with self.lock:
            self.done += 1
            event = CellDone(self.done, len(self.matrix.cells), cell.status == "error" or cell.passed is False)
        self.on_event(event)

    def run_serial(self) -> None:
        # No pool: a thread hand-off per cell costs more than the cell's own bookkeeping.
        for cell in self.matrix.cells:
            if self.stop.is_set():
                break
            self.finish(self.run_cell(cell))

    def run_pool(self, parallel: int) -> None:
        pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="compare")
        futures = [pool.submit(lambda c: self.finish(self.run_cell(c)), cell) for cell in self.matrix.cells]
        try:
            # Workers report progress themselves; the main thread only wakes to notice Ctrl-C.
            while wait(futures, timeout=0.5).not_done:
                pass
            for fut in futures:
                fut.result()  # re-raise a bug in a worker instead of hiding it
        finally:
            self.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)


def run_matrix(
    client: OllamaClient,
    targets: Sequence[Target],
    cases: Sequence[PromptCase],
    *,
    seeds: Sequence[int | None] = (None,),
    repeat: int = 1,
    parallel: int = 1,
    server: ServerInfo | None = None,
    on_event: EventSink = ignore,
    clock: Callable[[], float] = time.perf_counter,
    truncate: bool = True,
) -> Matrix:
    """Run every cell; never raises for a server failure (the matrix records it).
    ``truncate=False`` asks the server to refuse prompts longer than the context (a cell error).

    KeyboardInterrupt stops scheduling, lets running cells end at their next chunk, and
    returns the matrix with ``interrupted`` set.
    """
    seeds = list(seeds) or [None]
    matrix = Matrix(
        list(targets),
        list(cases),
        seeds,
        repeat,
        parallel,
        plan_cells(len(targets), len(cases), seeds, repeat),
        server or ServerInfo(client.display_host, True),
    )
    thrash = runner_conflicts(targets, matrix.server.version)
    matrix.warnings.extend(thrash)
    for w in thrash:  # said before the first cell runs: the timings will include the reloads
        on_event(Notice(w))
    run = _MatrixRun(client, matrix, on_event, clock, truncate)
    try:
        if parallel <= 1:
            run.run_serial()
        else:
            run.run_pool(parallel)
    except KeyboardInterrupt:
        matrix.interrupted = True
        run.stop.set()
    for c in matrix.cells:
        if c.status == "pending":
            c.status = "skipped"
    matrix.wall_s = clock() - run.start
    contexts: dict[str, int | None] = {}  # /api/ps asked once per model, only if needed

    def running(target: Target) -> int | None:
        if target.model not in contexts and matrix.aborted is None:
            contexts[target.model] = running_context(client, target.model)
        return contexts.get(target.model)

    flag_cells(matrix, running)
    return matrix
