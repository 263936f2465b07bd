"""``compare PROFILE --sweep NAME=V1,V2 ...``: which settings win.

The grid of settings (every combination of the swept values) runs as the columns of one run
matrix (:mod:`modelctl.jobs.matrix`, the same cells, seeds, thread pool and flags): each setting is
the profile with the swept values as request options, so nothing is created on the server.
Settings are then ranked by assertion pass rate (a cell the server failed counts its
assertions as failed), then by the server's own eval rate (``eval_count / eval_duration`` over
all the setting's answers); the pass-rate / median-latency frontier is marked, and
``save_best`` writes the winner as a profile that extends the original with only the changed
values, through :func:`modelctl.profile.derive.derive_profile`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelctl.common.events import EventSink, ignore
from modelctl.common.files import check_output
from modelctl.common.jsontypes import JSONObject
from modelctl.common.limits import SWEEP_SETTINGS
from modelctl.common.units import format_value
from modelctl.errors import Diagnostic, ExitCode, InvalidInput, JobResult
from modelctl.jobs.compare import CompareOptions, prompt_cases, run_targets, server_for_runs, skip_abstract
from modelctl.jobs.matrix import Cell, Matrix, median
from modelctl.jobs.profiles import load_profile
from modelctl.jobs.run import Target, resolve_target
from modelctl.ollama.hosts import HostRef
from modelctl.ollama.session import client_for, host_facts
from modelctl.ollama.wire import same_value
from modelctl.profile.derive import DerivedProfile, derive_profile
from modelctl.profile.params import BY_NAME, check_value, suggest
from modelctl.profile.profile import SET_SOURCE, LoadedProfile
from modelctl.profile.prompts import PromptCase

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.profile.params import Params, ParamValue

# =========================================================================== the grid


@dataclass(frozen=True)
class Axis:
    """One ``--sweep NAME=V1,V2,...``: a catalogue parameter and its values, typed and checked."""

    name: str
    values: tuple[Swept, ...]

    def to_dict(self) -> JSONObject:
        return {"name": self.name, "values": list(self.values)}


#: A swept value: a number or a boolean (lists are not swept).
Swept = int | float | bool


def _value(name: str, kind: str, raw: str) -> Swept:
    """One swept value, read as ``--set`` reads it, and checked against the catalogue's range."""
    field_name = f"--sweep {name}"
    text = raw.strip()
    try:
        if kind == "int":
            value: Swept = int(text)
        elif kind == "float":
            value = float(text)
        elif text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            raise ValueError(text)
    except ValueError:
        raise InvalidInput(f"{raw.strip()!r} is not a valid {kind}", field=field_name) from None
    why = None if kind == "bool" else check_value(BY_NAME[name], value)
    if why:
        raise InvalidInput(f"{text} {why}", field=field_name)
    return value


def parse_axis(spec: str, cap: int | None = None) -> Axis:
    """``NAME=V1,V2,...`` (``parameters.NAME`` works too) -> an :class:`Axis`; InvalidInput naming
    the option for an unknown or unsweepable parameter, a bad or out-of-range value, a repeat."""
    key, sep, raw = spec.partition("=")
    name = key.strip().removeprefix("parameters.")
    if not sep or not name:
        raise InvalidInput(f"--sweep expects NAME=V1,V2,..., got {spec!r}", field="--sweep")
    param = BY_NAME.get(name)
    if param is None:
        hint = suggest(name)
        extra = f"; did you mean '{hint}'?" if hint else ""
        raise InvalidInput(f"unknown parameter '{name}'{extra}", field=f"--sweep {name}")
    if param.type == "list[str]":
        raise InvalidInput(f"{name} is a list: --sweep takes numbers and booleans", field=f"--sweep {name}")
    parts = [p for p in raw.split(",") if p.strip()]
    if not parts:
        raise InvalidInput(f"give at least one value, e.g. --sweep {name}=1,2", field=f"--sweep {name}")
    _check_grid_size(len(parts), SWEEP_SETTINGS.value() if cap is None else cap, f"--sweep {name}")
    values: list[Swept] = []
    for part in parts:
        value = _value(name, param.type, part)
        if any(same_value(name, value, v) for v in values):
            raise InvalidInput(f"{part.strip()} is given twice", field=f"--sweep {name}")
        values.append(value)
    return Axis(name, tuple(values))


def parse_axes(specs: Sequence[str], overrides: Sequence[str] = ()) -> list[Axis]:
    """Every ``--sweep``; a parameter swept twice, or also given with ``--set``, is refused."""
    cap = SWEEP_SETTINGS.value()
    axes = [parse_axis(s, cap) for s in specs]
    names = [a.name for a in axes]
    for a in axes:
        if names.count(a.name) > 1:
            raise InvalidInput(f"{a.name} is swept twice: give its values in one --sweep", field=f"--sweep {a.name}")
    set_names = {o.partition("=")[0].strip().removeprefix("parameters.") for o in overrides}
    for a in axes:
        if a.name in set_names:
            raise InvalidInput(
                f"{a.name} is both set (--set) and swept (--sweep): choose one", field=f"--sweep {a.name}"
            )
    size = 1
    for a in axes:  # counted before the grid is built: it could not be
        size *= len(a.values)
        _check_grid_size(size, cap, "--sweep")
    return axes


def _check_grid_size(size: int, cap: int, field_name: str) -> None:
    if size > cap:
        raise InvalidInput(
            f"the grid has {size:,} settings or more; a sweep of more than {cap:,} is refused ({SWEEP_SETTINGS.env})",
            field=field_name,
        )


def grid(axes: Sequence[Axis]) -> list[Params]:
    """Every combination of the swept values, the first axis varying slowest."""
    return [
        dict(zip([a.name for a in axes], combo, strict=True)) for combo in itertools.product(*(a.values for a in axes))
    ]


def setting_label(values: Mapping[str, ParamValue]) -> str:
    return " ".join(f"{k}={format_value(v)}" for k, v in values.items())


# =========================================================================== the result


@dataclass
class Setting:
    """One point of the grid and how it did."""

    index: int
    values: Params
    label: str
    cells: int = 0
    ok: int = 0
    assertions_passed: int = 0
    assertions_total: int = 0
    eval_rate: float | None = None  # tokens/s: eval_count / eval_duration over all its answers
    median_latency_ms: float | None = None  # request start to last chunk
    frontier: bool = False
    rank: int = 0

    @property
    def pass_rate(self) -> float | None:
        return self.assertions_passed / self.assertions_total if self.assertions_total else None

    def to_dict(self) -> JSONObject:
        return {
            "rank": self.rank,
            "label": self.label,
            "values": self.values,
            "cells": self.cells,
            "ok": self.ok,
            "assertions_passed": self.assertions_passed,
            "assertions_total": self.assertions_total,
            "pass_rate": None if self.pass_rate is None else round(self.pass_rate, 4),
            "eval_rate": None if self.eval_rate is None else round(self.eval_rate, 2),
            "median_latency_ms": None if self.median_latency_ms is None else round(self.median_latency_ms, 3),
            "frontier": self.frontier,
        }


@dataclass
class SweepResult(JobResult):
    """The run matrix of a sweep (one column per setting), the settings ranked, the best saved."""

    ref: str
    axes: list[Axis]
    matrix: Matrix
    settings: list[Setting]  # in grid order
    min_pass_rate: float = 1.0
    saved: DerivedProfile | None = None
    saved_as: str | None = None  # the path as given
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def ranking(self) -> list[Setting]:
        return sorted(self.settings, key=lambda s: s.rank)

    @property
    def best(self) -> Setting | None:
        ranked = [s for s in self.ranking if s.ok]
        return ranked[0] if ranked else None

    @property
    def checks_failed(self) -> bool:
        """Even the best setting passed fewer assertions than ``min_pass_rate`` asks."""
        best = self.best
        return best is not None and best.pass_rate is not None and best.pass_rate < self.min_pass_rate

    def outcome_codes(self) -> list[ExitCode]:
        """The matrix's codes, its assertions judged by the best setting."""
        return self.matrix.codes_judged(self.checks_failed)

    def errors(self) -> list[Diagnostic]:
        """The matrix's errors, with the sweep's own check instead of the matrix's (which is
        about all the cells: in a sweep, the losing settings are expected to fail some)."""
        out = [d for d in self.matrix.errors() if d.code != "check_failed"]
        best = self.best
        if self.checks_failed and best is not None:
            out.append(
                Diagnostic(
                    "check_failed",
                    f"the best setting ({best.label}) passed {best.assertions_passed} of {best.assertions_total} "
                    f"assertions: pass rate {best.pass_rate:.2f}, below --min-pass-rate {self.min_pass_rate:g}",
                )
            )
        return out

    def to_dict(self) -> JSONObject:
        """The sweep's part of the JSON (beside the matrix's keys: docs/compare.md)."""
        best = self.best
        return {
            "profile": self.ref,
            "axes": [a.to_dict() for a in self.axes],
            "settings": [s.to_dict() for s in self.ranking],
            "best": best.label if best is not None else None,
            "min_pass_rate": self.min_pass_rate,
            "saved": self.saved.to_dict() if self.saved is not None else None,
        }


def score(matrix: Matrix, values: Sequence[Params]) -> list[Setting]:
    """Each setting (column ``i`` of ``matrix``) scored, ranked and placed on the frontier."""
    settings = [_score(matrix, i, v) for i, v in enumerate(values)]
    order = sorted(
        settings,
        key=lambda s: (
            s.pass_rate is None,
            -(s.pass_rate or 0.0),
            s.eval_rate is None,
            -(s.eval_rate or 0.0),
            s.index,
        ),
    )
    for rank, s in enumerate(order, 1):
        s.rank = rank
    _mark_frontier(settings)
    return settings


def _score(matrix: Matrix, index: int, values: Params) -> Setting:
    cells = [c for c in matrix.cells if c.profile == index and c.status != "skipped"]
    s = Setting(index, dict(values), matrix.targets[index].label, cells=len(cells))
    ok = [c for c in cells if c.status == "ok" and c.result is not None]
    s.ok = len(ok)
    s.assertions_passed = sum(1 for c in ok for a in c.assertions if a.passed)
    s.assertions_total = sum(_expected(matrix.cases, c) for c in cells)
    counted = [c.result.metrics for c in ok if c.result is not None and c.result.metrics.get("eval_duration")]
    tokens = sum(m.get("eval_count", 0) for m in counted)
    seconds = sum(m["eval_duration"] for m in counted) / 1e9
    s.eval_rate = tokens / seconds if seconds > 0 else None
    s.median_latency_ms = median([c.result.wall_s * 1000 for c in ok if c.result is not None])
    return s


def _expected(cases: Sequence[PromptCase], c: Cell) -> int:
    """The assertions a cell counts for: its results, or all its prompt's when the server failed it."""
    return len(c.assertions) if c.status == "ok" else len(cases[c.prompt].assertions)


def _mark_frontier(settings: Sequence[Setting]) -> None:
    """The settings no other beats on both pass rate (higher) and median latency (lower)."""
    timed = [s for s in settings if s.median_latency_ms is not None]
    for s in timed:
        p, t = s.pass_rate or 0.0, s.median_latency_ms or 0.0
        s.frontier = not any(
            (o.pass_rate or 0.0) >= p
            and (o.median_latency_ms or 0.0) <= t
            and ((o.pass_rate or 0.0) > p or (o.median_latency_ms or 0.0) < t)
            for o in timed
        )


# =========================================================================== the job


def _setting_targets(
    ref: str, loaded: LoadedProfile | None, values: Sequence[Params], options: CompareOptions
) -> list[Target]:
    """One target per setting: the profile (or model) with the swept values as ``--set``
    overrides, validated and sent the way ``--set`` values are."""
    targets = []
    for vals in values:
        extra = [f"parameters.{k}={json.dumps(v)}" for k, v in vals.items()]
        lp = load_profile(str(loaded.path), [*options.overrides, *extra]) if loaded is not None else None
        t = resolve_target(
            ref, None, overrides=[*options.overrides, *extra], ephemeral=options.ephemeral, check_built=False, loaded=lp
        )
        targets.append(dataclasses.replace(t, label=setting_label(vals)))
    return targets


def sweep(
    ref: str,
    specs: Sequence[str],
    options: CompareOptions | None = None,
    *,
    save_best: str | None = None,
    replace: bool = False,
    host: HostRef = None,
    timeout: float | None = None,
    on_event: EventSink = ignore,
) -> SweepResult:
    """Run PROFILE (or a model) with every combination of the swept values over the prompts and
    seeds of ``options``; rank the settings; with ``save_best``, write the winner as a profile
    extending PROFILE (nothing is written when the run did not complete; an existing file only
    with ``replace``, and never a file the run reads)."""
    options = options or CompareOptions()
    axes = parse_axes(specs, options.overrides)
    if not options.runs_prompts:
        raise InvalidInput("--sweep needs prompts (--prompt or --prompts) to run the settings on", field="--sweep")
    kept, loaded, _notes = skip_abstract([ref], options.overrides)
    if not kept:
        raise InvalidInput(f"{ref} is abstract (only extended by others): sweep a profile that makes a model")
    cases = prompt_cases(options)
    if save_best:  # a file that cannot be written is said before anything runs
        base = load_profile(str(loaded[0].path)) if loaded[0] is not None else None
        derive_profile(base, save_best, from_model=None if base is not None else ref, replace=replace)
        check_output(save_best, option="--save-best")
    values = grid(axes)
    targets = _setting_targets(ref, loaded[0], values, options)
    with client_for(host, timeout) as client:
        server = server_for_runs(client, options)
        first = resolve_target(ref, client, overrides=options.overrides, ephemeral=options.ephemeral, loaded=loaded[0])
        for t in targets:  # one lookup serves every setting: they all name the same model
            t.show, t.use_chat = first.show, first.use_chat
        matrix = run_targets(client, targets, cases, options, server, on_event, host=host_facts(host))
    result = SweepResult(ref, axes, matrix, score(matrix, values), options.min_pass_rate)
    if save_best:
        result.saved, result.saved_as = _save(result, loaded[0], save_best, replace), save_best
    return result


def _save(result: SweepResult, original: LoadedProfile | None, path: str, replace: bool) -> DerivedProfile | None:
    """The best setting as a profile that extends the original with only the changed values
    (``--set`` overrides included: they were part of what ran), written atomically."""
    best = result.best
    m = result.matrix
    complete = m.aborted is None and not m.interrupted and all(c.status != "skipped" for c in m.cells)
    if best is None or not complete:
        result.warnings.append(Diagnostic("not_saved", f"{path} not written: the sweep did not complete"))
        return None
    target = m.targets[best.index]
    system: str | None = None
    if original is not None and target.loaded is not None:
        lp = target.loaded
        params = {
            k: v for k, v in lp.profile.parameters.as_dict().items() if lp.origins.get(f"parameters.{k}") == SET_SOURCE
        }
        if lp.origins.get("system") == SET_SOURCE:
            system = lp.profile.system
        base = load_profile(str(original.path))
        derived = derive_profile(base, path, parameters=params, system=system, replace=replace)
    else:  # a plain model: its options are the --set overrides and the swept values
        derived = derive_profile(
            None, path, parameters=target.options, system=target.system, from_model=result.ref, replace=replace
        )
    derived.save()
    return derived
