"""``compare PROFILE --sweep``: the grid of settings as one run matrix, ranked, the frontier
marked, the best saved as a profile that builds to the same options; bad sweeps refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelctl.jobs.sweep import Setting, grid, parse_axes
from modelctl.ollama.wire import parse_parameters
from modelctl.output.sweep import chart
from tests.fixtures_compare import MATRIX_SHAPE, Chromium, check_shape, invoke
from tests.ollama_double import OllamaDouble

SWEEP = ("--sweep", "temperature=0.2,0.7,1.0", "--sweep", "top_p=0.5,0.9")


def _sweep(double: OllamaDouble, cwd: Path, *args: str) -> tuple[int, dict[str, Any]]:
    r = invoke(
        "compare", "precise", *SWEEP, "--prompts", "prompts.yaml", *args, "--format", "json", host=double.url, cwd=cwd
    )
    env = json.loads(r.stdout)
    check_shape({k: v for k, v in env["data"].items() if k != "sweep"}, MATRIX_SHAPE)
    return r.returncode, env


def test_a_3_by_2_sweep_runs_6_settings_ranks_them_and_saves_the_best(
    built_double: OllamaDouble, chef_dir: Path
) -> None:
    creates = len(built_double.state.calls("/api/create"))
    code, env = _sweep(built_double, chef_dir, "--seeds", "1,2", "--save-best", "best.yaml")
    data, sweep = env["data"], env["data"]["sweep"]
    assert code == 0, env["errors"]
    # 6 settings x 2 prompts x 2 seeds, every one sent to the built model with its values as options
    assert len(data["profiles"]) == 6 and len(data["cells"]) == 24
    assert len(built_double.state.calls("/api/create")) == creates  # nothing created on the server
    sent = {json.dumps(c["json"]["options"], sort_keys=True) for c in built_double.state.calls("/api/generate")}
    assert len(sent) == 12  # 6 settings x 2 seeds
    assert sweep["axes"] == [
        {"name": "temperature", "values": [0.2, 0.7, 1.0]},
        {"name": "top_p", "values": [0.5, 0.9]},
    ]
    settings = sweep["settings"]
    assert [s["rank"] for s in settings] == [1, 2, 3, 4, 5, 6] and sweep["best"] == settings[0]["label"]
    keys = [(-(s["pass_rate"] or 0), -(s["eval_rate"] or 0)) for s in settings]
    assert keys == sorted(keys)  # pass rate first, then the server's eval rate
    assert all(s["cells"] == 4 and s["ok"] == 4 for s in settings) and any(s["frontier"] for s in settings)
    for s in settings:  # the frontier: nothing both passes more and answers faster
        beaten = any(
            o["pass_rate"] >= s["pass_rate"] and o["median_latency_ms"] <= s["median_latency_ms"] and o is not s
            and (o["pass_rate"] > s["pass_rate"] or o["median_latency_ms"] < s["median_latency_ms"])
            for o in settings
        )  # fmt: skip
        assert s["frontier"] is not beaten
    # the winner as a profile: it extends precise.yaml and sets only what differs from it
    best = settings[0]["values"]
    saved = (chef_dir / "best.yaml").read_text()
    assert sweep["saved"]["changed"] == {
        f"parameters.{k}": v for k, v in best.items() if (k, v) != ("temperature", 0.2) and (k, v) != ("top_p", 0.5)
    }
    assert "extends: profiles/precise.yaml" in saved and "name: best" in saved
    # ... and building it gives the model the options the best setting ran with
    r = invoke("build", "best.yaml", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    params = parse_parameters(_show_parameters(built_double, "best"))
    precise = _show_parameters(built_double, "chef-precise")
    assert params == {**parse_parameters(precise), **best}


def _show_parameters(double: OllamaDouble, model: str) -> str:
    from modelctl.ollama.server import OllamaClient

    with OllamaClient(double.url) as client:
        return str(client.show(model)["parameters"])


def test_the_check_is_the_best_settings_and_the_text_report(built_double: OllamaDouble, chef_dir: Path) -> None:
    # every answer of the double is longer than one token: even the best setting fails
    (chef_dir / "hard.yaml").write_text("- prompt: Soup?\n  expect: {max_tokens: 1}\n- prompt: Tea?\n")
    r = invoke("compare", "precise", "--sweep", "temperature=0.1,0.5", "--prompts", "hard.yaml", "--format", "json",
               host=built_double.url, cwd=chef_dir)  # fmt: skip
    env = json.loads(r.stdout)
    assert r.returncode == 6 and [e["code"] for e in env["errors"]] == ["check_failed"]
    assert env["errors"][0]["message"].startswith("the best setting (temperature=")
    r = invoke("compare", "precise", "--sweep", "temperature=0.1,0.5", "--prompts", "hard.yaml",
               "--min-pass-rate", "0", host=built_double.url, cwd=chef_dir)  # fmt: skip
    assert r.returncode == 0
    assert "Settings" in r.stdout and "temperature=0.1" in r.stdout and "best: temperature=" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--sweep", "temprature=0.1,0.2"), "unknown parameter 'temprature'; did you mean 'temperature'?"),
        (("--sweep", "temperature=0.1,hot"), "--sweep temperature: 'hot' is not a valid float"),
        (("--sweep", "top_k=1,2.5"), "'2.5' is not a valid int"),
        (("--sweep", "top_p=0.5,-1"), "--sweep top_p: -1 must be >= 0"),
        (("--sweep", "stop=a,b"), "stop is a list: --sweep takes numbers and booleans"),
        (("--sweep", "top_k=10,10.0"), None),  # an int: "10.0" is not one
        (("--sweep", "temperature=0.5,0.50"), "0.50 is given twice"),
        (("--sweep", "seed=1", "--sweep", "seed=2"), "seed is swept twice"),
        (("--sweep", "temperature=0.1", "--set", "temperature=0.3"), "both set (--set) and swept"),
        (("--sweep", "temperature=0.1", "--save-best", "profiles/precise.yaml"), "is the profile it would extend"),
    ],
)
def test_bad_sweeps_are_refused_before_anything_runs(
    built_double: OllamaDouble, chef_dir: Path, args: tuple[str, ...], message: str | None
) -> None:
    r = invoke("compare", "precise", "--prompt", "Soup?", *args, host=built_double.url, cwd=chef_dir)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert message is None or message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not built_double.state.calls("/api/generate")


@pytest.mark.parametrize(
    "args",
    [
        ("precise", "creative", "--sweep", "temperature=0.1", "--prompt", "Hi"),
        ("precise", "--sweep", "temperature=0.1"),
        ("precise", "--save-best", "x.yaml", "--prompt", "Hi"),
    ],
)
def test_sweep_usage_errors(chef_dir: Path, args: tuple[str, ...]) -> None:
    assert invoke("compare", *args, cwd=chef_dir).returncode == 2


def test_grid_order_and_axes() -> None:
    axes = parse_axes(["temperature=0.2,0.7", "parameters.num_ctx=2048,4096", "use_mmap=true,false"])
    values = grid(axes)
    assert len(values) == 8 and values[0] == {"temperature": 0.2, "num_ctx": 2048, "use_mmap": True}
    assert values[-1] == {"temperature": 0.7, "num_ctx": 4096, "use_mmap": False}


def test_sweep_report_in_chromium(built_double: OllamaDouble, chef_dir: Path, chromium: Chromium) -> None:
    report = chef_dir / "sweep.html"
    r = invoke("compare", "precise", *SWEEP, "--prompts", "prompts.yaml", "-o", str(report),
               host=built_double.url, cwd=chef_dir)  # fmt: skip
    assert r.returncode == 0, r.stderr
    url = report.resolve().as_uri()
    chromium.open(url)
    assert chromium.console_errors() == [] and chromium.requests() == [url]

    def js(expr: str) -> Any:
        return chromium.call("Runtime.evaluate", expression=expr, returnByValue=True)["result"]["value"]

    assert js("document.querySelectorAll('.sweep circle.point').length") == 6  # a point per setting
    assert js("document.querySelectorAll('.sweep circle.frontier').length") >= 1
    assert js("document.querySelectorAll('.sweep table.ranking tbody tr').length") == 6
    text = chromium.text()
    for needle in ("Settings", "median latency", "assertion pass rate", "temperature=0.7 top_p=0.9", "best: "):
        assert needle in text, needle


@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0.01, 1e6)), min_size=1, max_size=12))
def test_every_setting_is_drawn_inside_the_chart(points: list[tuple[float, float]]) -> None:
    settings = [
        Setting(i, {}, f"s{i}", assertions_passed=round(p * 10), assertions_total=10, median_latency_ms=ms)
        for i, (p, ms) in enumerate(points)
    ]
    c = chart(settings)
    for p in c["points"]:
        assert c["left"] <= p["x"] <= c["right"] and c["top"] <= p["y"] <= c["bottom"]
    assert c["xticks"][-1]["x"] == c["right"]
