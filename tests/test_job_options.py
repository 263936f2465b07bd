"""Each job's settings live in one keyword-only, frozen options object that the CLI and the
library pass the same way; no job takes a setting twice (as an argument and in its options)."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from modelctl import api

JOBS: list[tuple[Callable[..., Any], type]] = [
    (api.build, api.BuildOptions),
    (api.build_hosts, api.BuildOptions),
    (api.plan, api.PlanOptions),
    (api.plan_hosts, api.PlanOptions),
    (api.compare, api.CompareOptions),
    (api.compare_hosts, api.CompareOptions),
    (api.sweep, api.CompareOptions),
    (api.estimate, api.EstimateOptions),
    (api.explain, api.EstimateOptions),
    (api.together, api.EstimateOptions),
    (api.run, api.RunOptions),
    (api.open_chat, api.RunOptions),
    (api.probe, api.ProbeOptions),
    (api.validate, api.ValidateOptions),
    (api.validate_hosts, api.ValidateOptions),
    (api.import_model, api.ImportOptions),
    (api.push_models, api.PushOptions),
]


@pytest.mark.parametrize("options", sorted({o for _j, o in JOBS}, key=lambda c: c.__name__))
def test_options_are_keyword_only_and_frozen(options: type) -> None:
    assert dataclasses.is_dataclass(options)
    params = dataclasses.fields(options)
    assert params and all(f.kw_only for f in params), options.__name__
    with pytest.raises(TypeError):
        options(False)  # no positional settings
    made = options()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, params[0].name, params[0].default)


@pytest.mark.parametrize("job,options", JOBS, ids=[j.__name__ for j, _o in JOBS])
def test_no_job_takes_a_setting_twice(job: Callable[..., Any], options: type) -> None:
    sig = inspect.signature(job)
    settings = {f.name for f in dataclasses.fields(options)}
    assert "options" in sig.parameters
    assert not settings & set(sig.parameters), f"{job.__name__} takes {settings & set(sig.parameters)} twice"
    # and nothing the options name under another spelling (report= beside reports)
    assert not {p.rstrip("s") for p in sig.parameters} & {s.rstrip("s") for s in settings}


def test_one_host_and_many_hosts_take_the_same_options() -> None:
    """build and build_hosts (plan and plan_hosts, ...): the same options object, the same way."""
    pairs = [
        (api.build, api.build_hosts),
        (api.plan, api.plan_hosts),
        (api.compare, api.compare_hosts),
        (api.validate, api.validate_hosts),
    ]
    for one, many in pairs:
        a, b = inspect.signature(one).parameters["options"], inspect.signature(many).parameters["options"]
        assert a.kind == b.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert a.annotation == b.annotation


def test_the_ollama_methods_take_the_jobs_options() -> None:
    """``Ollama.estimate(ref, options)`` takes what ``estimate(ref, options)`` does, the same way."""
    jobs = {"run": api.run, "chat": api.open_chat, "probe": api.probe, "estimate": api.estimate}
    jobs |= {"explain": api.explain, "together": api.together, "import_model": api.import_model}
    jobs |= {"build": api.build, "plan": api.plan, "compare_table": api.compare_table}
    for name, job in jobs.items():
        method = inspect.signature(getattr(api.Ollama, name)).parameters["options"]
        assert method.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD, name
        assert method.annotation == inspect.signature(job).parameters["options"].annotation, name
