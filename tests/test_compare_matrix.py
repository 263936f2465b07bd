"""``compare`` with prompts: the run matrix, its flags, verdicts, formats and failures."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from modelctl.common.events import CellDone
from modelctl.output.progress import Progress
from tests.fixtures_compare import MATRIX_SHAPE, TABLE_SHAPE, check_junit, check_shape, invoke
from tests.fixtures_double import run_cli
from tests.ollama_double import OllamaDouble


def _json(r: Any) -> dict[str, Any]:
    env = json.loads(r.stdout)
    assert env["command"] == "compare" and env["schema_version"] == 1
    check_shape(env["data"], MATRIX_SHAPE)
    if env["data"]["table"] is not None:
        check_shape(env["data"]["table"], TABLE_SHAPE)
    return env  # type: ignore[no-any-return]


def _cells(env: dict[str, Any], profile: str | None = None) -> list[dict[str, Any]]:
    return [c for c in env["data"]["cells"] if profile is None or c["profile"] == profile]


def test_matrix_json_cells_metrics_and_summary(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke(
        "compare",
        "creative",
        "precise",
        "--prompts",
        "prompts.yaml",
        "--seeds",
        "1,2",
        "--repeat",
        "2",
        "--format",
        "json",
        host=built_double.url,
        cwd=chef_dir,
    )
    assert r.returncode == 0, r.stderr
    env = _json(r)
    data = env["data"]
    assert env["ok"] is True and data["complete"] is True
    assert data["seeds"] == [1, 2] and data["repeat"] == 2 and data["parallel"] == 1
    assert [p["label"] for p in data["prompts"]] == ["dessert", "prompt 2"]
    assert data["prompts"][1]["line"] == 6 and data["prompts"][1]["file"] == "prompts.yaml"
    cells = _cells(env)
    assert len(cells) == 2 * 2 * 2 * 2
    for c in cells:
        assert c["status"] == "ok" and c["output"] and c["done_reason"] == "stop"
        assert c["eval_count"] > 0 and c["tokens_per_s"] > 0 and c["ttft_ms"] >= 0 and c["load_ms"] >= 0
        assert c["passed"] is True and len(c["assertions"]) == 2
        assert "non_deterministic" not in c["flags"]
    # a fixed seed gives the same text on every repeat; different seeds differ
    by_key: dict[tuple[str, int, int], set[str]] = {}
    for c in cells:
        by_key.setdefault((c["profile"], c["prompt"], c["seed"]), set()).add(c["output"])
    assert all(len(v) == 1 for v in by_key.values())
    assert by_key[("chef-precise", 1, 1)] != by_key[("chef-precise", 1, 2)]
    # the prompt's system and the seed reach the server
    gens = [q["json"] for q in built_double.state.calls("/api/generate")]
    assert {g["options"]["seed"] for g in gens} == {1, 2}
    assert {g.get("system") for g in gens} == {None, "Answer with a number."}
    s = {x["profile"]: x for x in data["summary"]}
    assert s["chef-precise"]["cells"] == 8 and s["chef-precise"]["ok"] == 8
    assert s["chef-precise"]["assertions_total"] == 16 and s["chef-precise"]["pass_rate"] == 1.0
    # the double reports eval_count x 20 ms (+ real streaming time): just under 50 tokens/s
    assert 40 < s["chef-precise"]["median_tokens_per_s"] <= 50.0


def test_non_deterministic_flag(built_double: OllamaDouble, chef_dir: Path) -> None:
    built_double.state.nondeterministic = True
    r = invoke(
        "compare",
        "precise",
        "qwen",
        "--prompt",
        "Hi",
        "--repeat",
        "2",
        "--format",
        "json",
        host=built_double.url,
        cwd=chef_dir,
    )
    env = _json(r)
    # precise has seed 7: same profile, prompt and seed gave different text
    assert all("non_deterministic" in c["flags"] for c in _cells(env, "chef-precise"))
    # qwen-plain has no seed: different text is expected, not flagged
    assert not any("non_deterministic" in c["flags"] for c in _cells(env, "qwen-plain"))
    assert env["data"]["summary"][0]["flags"]["non_deterministic"] == 2


def test_length_flag_keeps_its_former_json_name(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke(
        "compare",
        "precise",
        "--prompt",
        "Hi",
        "--set",
        "num_predict=3",
        "--format",
        "json",
        host=built_double.url,
        cwd=chef_dir,
    )
    (cell,) = _cells(_json(r))
    # `length` (the answer hit the token limit); `truncated`, its former name, stays in the JSON
    assert cell["done_reason"] == "length" and cell["eval_count"] == 3 and cell["flags"] == ["length", "truncated"]
    summary = _json(r)["data"]["summary"][0]["flags"]
    assert summary["length"] == summary["truncated"] == 1 and summary["prompt_truncated"] == 0
    assert built_double.state.calls("/api/generate")[-1]["json"]["options"] == {"num_predict": 3}


def test_reloaded_flag_for_runner_options_on_a_shared_base(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke(
        "compare",
        "creative",
        "precise",
        "wide",
        "--prompt",
        "Hi",
        "--repeat",
        "2",
        "--format",
        "json",
        host=built_double.url,
        cwd=chef_dir,
    )
    env = _json(r)
    flags = {(c["profile"], c["repeat"]): c["flags"] for c in _cells(env)}
    loaded = {(c["profile"], c["repeat"]): c["loaded"] for c in _cells(env)}
    # The first cell of creative and wide loads; precise shares creative's weights and runner
    # options, so Ollama (and the double) reuses the runner. Later cells find their model ready.
    assert loaded[("chef-creative", 1)] and loaded[("chef-wide", 1)]
    assert not any(loaded[(p, 2)] for p in ("chef-creative", "chef-precise", "chef-wide"))
    # ... but only wide's is a reload: same base, a different num_ctx (a runner option)
    assert flags[("chef-wide", 1)] == ["reloaded"]
    assert all(not f for k, f in flags.items() if k != ("chef-wide", 1))
    notes = [w["message"] for w in env["warnings"]]
    assert any("num_ctx" in n and "chef-wide=8192" in n and "reloads" in n for n in notes)


def test_reload_after_eviction_is_flagged(built_double: OllamaDouble, chef_dir: Path) -> None:
    from modelctl.jobs.matrix import run_matrix
    from modelctl.jobs.run import resolve_target
    from modelctl.ollama.server import OllamaClient
    from modelctl.profile.prompts import inline_prompts

    old = os.getcwd()
    os.chdir(chef_dir)
    try:
        with OllamaClient(built_double.url) as client:
            target = resolve_target("precise", client)

            def evict(event: object) -> None:
                if isinstance(event, CellDone):
                    built_double.state.runners.clear()  # the model is unloaded between cells

            m = run_matrix(client, [target], inline_prompts(["a", "b", "c"]), on_event=evict)
    finally:
        os.chdir(old)
    assert [c.loaded for c in m.cells] == [True, True, True]
    assert [c.flags for c in m.cells] == [[], ["reloaded"], ["reloaded"]]


def test_profiles_on_one_base_alternating_num_ctx_reload_each_switch(
    built_double: OllamaDouble, chef_dir: Path
) -> None:
    # creative (num_ctx 2048), wide (8192), creative again: one runner for the shared weights,
    # replaced at every switch of num_ctx, so the third run loads again and is flagged.
    from modelctl.jobs.matrix import run_matrix
    from modelctl.jobs.run import resolve_target
    from modelctl.ollama.server import OllamaClient
    from modelctl.profile.prompts import inline_prompts

    old = os.getcwd()
    os.chdir(chef_dir)
    try:
        with OllamaClient(built_double.url) as client:
            creative, wide = resolve_target("creative", client), resolve_target("wide", client)
            m = run_matrix(client, [creative, wide, creative], inline_prompts(["a"]), repeat=2)
            ps = client.ps()["models"]
    finally:
        os.chdir(old)
    assert [(c.profile, c.repeat) for c in m.cells] == [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2)]
    assert [c.loaded for c in m.cells] == [True, False, True, False, True, False]
    assert [c.flags for c in m.cells] == [[], [], ["reloaded"], [], ["reloaded"], []]
    assert built_double.state.loads == ["chef-creative:latest", "chef-wide:latest", "chef-creative:latest"]
    assert [(p["name"], p["context_length"]) for p in ps] == [("chef-creative:latest", 2048)]


def test_compare_flags_reloads_when_num_ctx_alternates_on_a_shared_base(
    built_double: OllamaDouble, chef_dir: Path
) -> None:
    r = invoke(
        "compare",
        "creative",
        "wide",
        "precise",
        "--prompt",
        "Hi",
        "--repeat",
        "2",
        "--format",
        "json",
        host=built_double.url,
        cwd=chef_dir,
    )
    assert r.returncode == 0, r.stderr
    env = _json(r)
    got = {(c["profile"], c["repeat"]): (c["loaded"], c["flags"]) for c in _cells(env)}
    assert got == {
        ("chef-creative", 1): (True, []),  # cold start
        ("chef-creative", 2): (False, []),
        ("chef-wide", 1): (True, ["reloaded"]),  # 2048 -> 8192 on the same weights
        ("chef-wide", 2): (False, []),
        ("chef-precise", 1): (True, ["reloaded"]),  # 8192 -> 2048: loaded again
        ("chef-precise", 2): (False, []),
    }
    summary = {s["profile"]: s["flags"]["reloaded"] for s in env["data"]["summary"]}
    assert summary == {"chef-creative": 0, "chef-wide": 1, "chef-precise": 1}
    # /api/ps lists the one runner under the model that loaded it: only precise is running.
    ctx = next(row for row in env["data"]["table"]["rows"] if row["key"] == "server.context_length")
    assert [c["value"]["runtime"] for c in ctx["cells"]] == [None, None, 2048]


def test_assertion_failure_exits_6_and_junit_reports_it(built_double: OllamaDouble, chef_dir: Path) -> None:
    (chef_dir / "p.yaml").write_text(
        "- prompt: Hi\n  expect:\n    contains: zzz-never\n    max_tokens: 1000\n", encoding="utf-8"
    )
    r = invoke(
        "compare",
        "creative",
        "precise",
        "--prompts",
        "p.yaml",
        "--format",
        "junit",
        host=built_double.url,
        cwd=chef_dir,
    )
    assert r.returncode == 6, r.stderr
    root = check_junit(r.stdout)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "2", "0")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["chef-creative", "chef-precise"]
    cases = suites[0].findall("testcase")
    assert [c.get("name") for c in cases] == ['prompt 1: contains "zzz-never"', "prompt 1: max_tokens 1000"]
    failure = cases[0].find("failure")
    assert failure is not None and (failure.get("message") or "") == "not in the output"
    assert cases[1].find("failure") is None
    assert cases[0].get("classname") == "modelctl.jobs.compare.chef-creative"
    assert float(cases[0].get("time") or "-1") >= 0
    # half the assertions pass: at --min-pass-rate 0.5 that is enough (a warning says what failed)
    r = invoke("compare", "creative", "precise", "--prompts", "p.yaml", "--min-pass-rate", "0.5", "--format", "json",
               host=built_double.url, cwd=chef_dir)  # fmt: skip
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["data"]["pass_rate"] == 0.5 and doc["data"]["min_pass_rate"] == 0.5
    assert [w["message"] for w in doc["warnings"] if w["code"] == "check_failed"] == [
        "2 of 4 assertions failed in 2 cell(s): pass rate 0.50, at or above --min-pass-rate 0.5"
    ]


@pytest.mark.parametrize("fmt", ["text", "markdown", "json", "junit", "html"])
def test_every_format_shows_every_profile_and_prompt(built_double: OllamaDouble, chef_dir: Path, fmt: str) -> None:
    r = run_cli(
        "compare",
        "creative",
        "precise",
        "--prompts",
        "prompts.yaml",
        "--prompt",
        "Inline question?",
        "--format",
        fmt,
        host=built_double.url,
        cwd=chef_dir,
        env={"COLUMNS": "120"},
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    if fmt == "json":
        data = _json(r)["data"]
        assert {c["profile"] for c in data["cells"]} == {"chef-creative", "chef-precise"}
        assert [p["label"] for p in data["prompts"]] == ["prompt 1", "dessert", "prompt 3"]
        assert data["table"]["columns"][0]["label"] == "chef-creative"
        return
    if fmt == "junit":
        root = check_junit(out)
        names = [c.get("name") or "" for c in root.iter("testcase")]
        assert root.get("failures") == "0" and len(names) == 2 * (1 + 2 + 2)
        assert {n.split(":")[0] for n in names} == {"prompt 1", "dessert", "prompt 3"}
        return
    for needle in ("chef-creative", "chef-precise", "dessert", "Inline question?", "Convert 350F to Celsius"):
        assert needle in out, needle
    if fmt == "text":
        assert max(len(x) for x in out.splitlines()) <= 120
        assert "Summary" in out and "tok/s (median)" in out and "PASS regex" in out
    elif fmt == "markdown":
        assert "## Summary" in out and "| tokens/s |" in out and "✅" in out and "## Parameters" in out
    else:
        assert out.startswith("<!DOCTYPE html>") and "<svg" in out and "Median tokens/s" in out


def test_output_file_by_suffix(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke(
        "compare",
        "creative",
        "precise",
        "--prompt",
        "Hi",
        "-o",
        "report.html",
        host=built_double.url,
        cwd=chef_dir,
    )
    assert r.returncode == 0 and r.stdout == ""
    html = (chef_dir / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "chef-precise" in html


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("- prompt: Hi\n  expect:\n    contians: x\n", "prompts.yaml:3:5"),
        ("- prompt: Hi\n  expect:\n    regex: '(x'\n", "prompts.yaml:3:12"),
    ],
)
def test_bad_prompts_file(built_double: OllamaDouble, chef_dir: Path, text: str, where: str) -> None:
    (chef_dir / "prompts.yaml").write_text(text, encoding="utf-8")
    r = invoke("compare", "creative", "--prompts", "prompts.yaml", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 1
    assert r.stderr.startswith(f"error: {where}: ") and "Traceback" not in r.stderr
    assert not built_double.state.calls("/api/generate") and not built_double.state.calls("/api/chat")


def test_invalid_profile_in_matrix(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("compare", "creative", "bad", "--prompt", "Hi", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 1 and "bad.yaml:4:16" in r.stderr


def test_not_built_suggests_build_or_ephemeral(cmp_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("compare", "creative", "precise", "--prompt", "Hi", host=cmp_double.url, cwd=chef_dir)
    assert r.returncode == 5
    assert "model 'chef-creative' is not built" in r.stderr and "model 'chef-precise' is not built" in r.stderr
    assert "modelctl build creative" in r.stderr and "--ephemeral" in r.stderr
    assert not cmp_double.state.calls("/api/generate")


def test_ephemeral_matrix_needs_no_build(cmp_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke(
        "compare",
        "creative",
        "precise",
        "--prompt",
        "Hi",
        "--ephemeral",
        "--format",
        "json",
        host=cmp_double.url,
        cwd=chef_dir,
    )
    assert r.returncode == 0, r.stderr
    env = _json(r)
    assert all(c["status"] == "ok" for c in _cells(env))
    assert {q["json"]["model"] for q in cmp_double.state.requests if q["path"] in ("/api/chat", "/api/generate")} == {
        "llama3.2:3b"
    }


def test_ephemeral_columns_count_memory_at_the_num_ctx_they_send(cmp_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("compare", "creative", "wide", "--prompt", "Hi", "--ephemeral", "--format", "json",
               host=cmp_double.url, cwd=chef_dir)  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = {row["key"]: row for row in _json(r)["data"]["table"]["rows"]}
    assert [c["value"]["configured"] for c in rows["server.context_length"]["cells"]] == [2048, 8192]
    small, wide = (c["value"] for c in rows["server.memory"]["cells"])  # the base model stores no num_ctx
    assert isinstance(small, int) and isinstance(wide, int) and small < wide


def test_server_dying_mid_matrix_reports_what_finished(built_double: OllamaDouble, chef_dir: Path) -> None:
    built_double.state.latency = 0.2  # slack for a busy machine: the killer must act mid-request

    def kill_after_three() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = [q for q in built_double.state.requests if q["path"] in ("/api/generate", "/api/chat")]
            if len(done) >= 3:
                built_double.stop()
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_after_three, daemon=True)
    killer.start()
    r = run_cli(
        "compare",
        "creative",
        "precise",
        "--prompt",
        "a",
        "--prompt",
        "b",
        "--prompt",
        "c",
        "--format",
        "json",
        host=built_double.url,
        cwd=chef_dir,
    )
    killer.join(timeout=5)
    why = f"exit {r.returncode}\nstderr: {r.stderr}\nstdout: {r.stdout[:3000]}"
    assert r.returncode in (4, 5), why
    env = _json(r)
    data = env["data"]
    assert env["ok"] is False and data["complete"] is False, why
    statuses = [c["status"] for c in data["cells"]]
    assert 2 <= statuses.count("ok") <= 4 and len(statuses) == 6, (statuses, why)
    assert "skipped" in statuses, (statuses, why)
    assert any("stopped after" in e["message"] or e["code"] in ("server", "unreachable") for e in env["errors"])
    # the text form says it too, and still prints the finished cells
    r2 = invoke("compare", "creative", "--prompt", "a", host=built_double.url, cwd=chef_dir)
    assert r2.returncode == 4 and "cannot reach Ollama" in r2.stderr


def test_parallel_bounds_concurrency(built_double: OllamaDouble, chef_dir: Path) -> None:
    built_double.state.token_delay = 0.01  # 12-40 tokens: requests overlap while they stream
    built_double.state.parallel = 4
    r = invoke(
        "compare",
        "precise",
        "--prompt",
        "a",
        "--prompt",
        "b",
        "--prompt",
        "c",
        "--prompt",
        "d",
        host=built_double.url,
        cwd=chef_dir,
    )
    assert r.returncode == 0
    assert max(built_double.state.max_inflight.values()) == 1
    built_double.state.max_inflight.clear()
    r = invoke(
        "compare",
        "precise",
        "--prompt",
        "a",
        "--prompt",
        "b",
        "--prompt",
        "c",
        "--prompt",
        "d",
        "--parallel",
        "3",
        host=built_double.url,
        cwd=chef_dir,
    )
    assert r.returncode == 0
    assert 2 <= max(built_double.state.max_inflight.values()) <= 3


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_cells_and_failures() -> None:
    buf = _TTY()
    bar = Progress(True, buf)
    bar(CellDone(1, 4, failed=False))
    bar(CellDone(2, 4, failed=True))
    bar._bars.refresh()  # type: ignore[union-attr] - draw now rather than at the next tick
    bar.close()
    text = buf.getvalue()
    assert "compare  1 failing" in text and "2/4" in text


def test_one_failing_request_does_not_stop_the_matrix(built_double: OllamaDouble, chef_dir: Path) -> None:
    built_double.state.faults.fail["/api/chat"] = (500, "llama runner process has terminated")
    r = invoke("compare", "creative", "precise", "--prompt", "a", "--prompt", "b", "--format", "json",
               host=built_double.url, cwd=chef_dir)  # fmt: skip
    assert r.returncode == 5
    env = _json(r)
    by_profile = {(c["profile"], c["prompt"]): c["status"] for c in _cells(env)}
    # creative (chat) fails on the server; precise (generate) still runs
    assert by_profile == {("chef-creative", 1): "error", ("chef-creative", 2): "error",
                          ("chef-precise", 1): "ok", ("chef-precise", 2): "ok"}  # fmt: skip
    assert env["data"]["complete"] is True
    assert any("llama runner process has terminated" in e["message"] for e in env["errors"])
    j = invoke("compare", "creative", "precise", "--prompt", "a", "--prompt", "b", "--format", "junit",
               host=built_double.url, cwd=chef_dir)  # fmt: skip
    assert j.returncode == 5
    root = check_junit(j.stdout)
    assert (root.get("tests"), root.get("errors"), root.get("failures")) == ("4", "2", "0")
    err = root.find("testsuite/testcase/error")
    assert err is not None and "llama runner process has terminated" in (err.get("message") or "")


def test_ctrl_c_reports_what_finished(built_double: OllamaDouble, chef_dir: Path) -> None:
    import signal
    import subprocess
    import sys

    from tests.fixtures_double import cli_env

    built_double.state.latency = 0.3
    args = ["compare", "precise", *(x for i in range(8) for x in ("--prompt", f"q{i}")), "--format", "json"]
    proc = subprocess.Popen([sys.executable, "-m", "modelctl", *args], cwd=chef_dir,
                            env=cli_env(built_double.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(built_double.state.calls("/api/generate")) < 3:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    env = json.loads(out)
    statuses = [c["status"] for c in env["data"]["cells"]]
    assert statuses.count("ok") >= 2 and "skipped" in statuses
    assert env["data"]["complete"] is False
    assert any(e["code"] == "interrupted" for e in env["errors"])


def test_text_stacks_columns_that_would_not_fit(
    built_double: OllamaDouble, chef_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelctl.jobs.matrix import run_matrix
    from modelctl.jobs.run import resolve_target
    from modelctl.ollama.server import OllamaClient
    from modelctl.output import compare as reports
    from modelctl.profile.prompts import inline_prompts

    monkeypatch.chdir(chef_dir)
    with OllamaClient(built_double.url) as client:
        targets = [resolve_target(ref, client) for ref in ("creative", "precise", "wide", "qwen")]
        m = run_matrix(client, targets, inline_prompts(["Hi"]))
    wide = reports.matrix_text(m, width=120)
    narrow = reports.matrix_text(m, width=80)
    assert "│" in wide and max(len(x) for x in wide.splitlines()) <= 120
    assert "── qwen-plain" in narrow and max(len(x) for x in narrow.splitlines()) <= 80
