"""``--verify`` where ``/api/ps`` does not say the runner's context (Ollama before 0.10.0): measured
with one over-long prompt up to a bound, else not checked (``verify.ok`` null), never exit 6 for
a field the server does not send. Against the API double at version 0.9.3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelctl.jobs.probe import MEASURE_MAX_CONTEXT, ContextMeasurement
from modelctl.jobs.show import Verification
from modelctl.ollama.truncation import context_from_cut, cut_sizes
from tests.fixtures_double import invoke_in as cli
from tests.fixtures_gguf import write_tiny_llama
from tests.ollama_double import OllamaDouble


def build_json(double: OllamaDouble, tmp_path: Path, name: str, extra: str, *args: str) -> tuple[int, dict[str, Any]]:
    if not (tmp_path / "tiny.gguf").exists():
        write_tiny_llama(tmp_path / "tiny.gguf", context_length=16384)
    (tmp_path / f"{name}.yaml").write_text(f"name: {name}\nfrom: ./tiny.gguf\n{extra}", encoding="utf-8")
    code, out, err = cli(double, tmp_path, "build", f"{name}.yaml", "--format", "json", *args)
    return code, json.loads(out)


def generates(double: OllamaDouble) -> list[dict[str, Any]]:
    return double.state.calls("/api/generate")


@pytest.fixture
def old_double(ollama_double: OllamaDouble) -> OllamaDouble:
    ollama_double.state.version = "0.9.3"
    return ollama_double


def test_the_double_at_0_9_3_leaves_context_length_out_of_ps(old_double: OllamaDouble) -> None:
    from modelctl.ollama.server import OllamaClient

    old_double.install("llama3.2:1b")
    with OllamaClient(old_double.url) as client:
        list(client.generate({"model": "llama3.2:1b", "prompt": "", "keep_alive": "5m"}))
        (entry,) = client.ps()["models"]
        assert "context_length" not in entry and entry["size"] > 0
    old_double.state.version = "0.10.0"
    with OllamaClient(old_double.url) as client:
        assert client.ps()["models"][0]["context_length"] == 4096


def test_verify_measures_the_context_and_passes(old_double: OllamaDouble, tmp_path: Path) -> None:
    code, doc = build_json(old_double, tmp_path, "short", "parameters: {num_ctx: 1024}\n", "--verify")
    assert code == 0, doc["errors"]
    b = doc["data"]["builds"][0]
    assert b["verify"]["ok"] is True and b["verify"]["problem"] is None
    measured = b["verify"]["measured"]
    assert measured["prompt_eval_count"] == 1024 and measured["cut"] is True and measured["context"] == 1024
    assert measured["prompt_words"] > 1024
    rep = b["report"]
    assert rep["context_length"]["runtime"] == 1024
    assert rep["runtime"]["context_length_source"] == "measured"
    # One load (empty prompt), then one raw prompt longer than num_ctx that asks for one token.
    long = [g for g in generates(old_double) if g["json"].get("prompt")]
    assert len(long) == 1 and long[0]["json"]["raw"] is True and long[0]["json"]["options"] == {"num_predict": 1}
    assert old_double.state.runners == {}  # unloaded again


def test_verify_measures_a_clamp_and_fails_with_exit_6(old_double: OllamaDouble, tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf", context_length=2048)
    code, doc = build_json(old_double, tmp_path, "clamp", "parameters: {num_ctx: 8192}\n", "--verify")
    assert code == 6
    b = doc["data"]["builds"][0]
    assert b["verify"]["ok"] is False and b["verify"]["measured"]["context"] == 2048
    assert "clamped it to the model's trained context length 2048" in doc["errors"][0]["message"]
    code, out, err = cli(old_double, tmp_path, "show", "clamp", "--verify")
    assert code == 6 and "verify: FAILED" in out and "2,048 (measured" in out


def test_verify_without_num_ctx_checks_nothing(old_double: OllamaDouble, tmp_path: Path) -> None:
    code, doc = build_json(old_double, tmp_path, "plain", "", "--verify")
    assert code == 0, doc["errors"]
    v = doc["data"]["builds"][0]["verify"]
    assert v["ok"] is None and "no num_ctx" in v["reason"] and "measured" not in v
    assert not [g for g in generates(old_double) if g["json"].get("prompt")]  # no prompt sent
    code, out, err = cli(old_double, tmp_path, "show", "plain", "--verify")
    assert code == 0 and "verify: not checked: no num_ctx is stored" in out


def test_verify_above_the_bound_is_not_checked_with_a_warning(old_double: OllamaDouble, tmp_path: Path) -> None:
    num_ctx = MEASURE_MAX_CONTEXT * 2
    code, doc = build_json(old_double, tmp_path, "wide", f"parameters: {{num_ctx: {num_ctx}}}\n", "--verify")
    assert code == 0, doc["errors"]
    v = doc["data"]["builds"][0]["verify"]
    assert v["ok"] is None and v["problem"] is None and f"{MEASURE_MAX_CONTEXT:,}" in v["reason"]
    assert any(w["code"] == "verify_not_checked" for w in doc["warnings"])
    assert not [g for g in generates(old_double) if g["json"].get("prompt")]


def test_a_clamp_below_the_bound_is_measured_whatever_num_ctx(old_double: OllamaDouble, tmp_path: Path) -> None:
    """num_ctx above the bound, but the trained length (what the runner is clamped to) below it."""
    write_tiny_llama(tmp_path / "tiny.gguf", context_length=2048)
    code, doc = build_json(old_double, tmp_path, "huge", "parameters: {num_ctx: 131072}\n", "--verify")
    assert code == 6
    v = doc["data"]["builds"][0]["verify"]
    assert v["measured"]["context"] == 2048 and v["measured"]["prompt_words"] < 4096
    assert "clamped it to the model's trained context length 2048" in v["problem"]


def test_the_bound_itself_is_measured(old_double: OllamaDouble, tmp_path: Path) -> None:
    code, doc = build_json(
        old_double, tmp_path, "edge", f"parameters: {{num_ctx: {MEASURE_MAX_CONTEXT}}}\n", "--verify"
    )
    assert code == 0, doc["errors"]
    assert doc["data"]["builds"][0]["verify"]["measured"]["context"] == MEASURE_MAX_CONTEXT


def test_a_loaded_model_is_never_called_not_loaded(old_double: OllamaDouble, tmp_path: Path) -> None:
    from modelctl.ollama.server import OllamaClient

    old_double.install("llama3.2:1b")
    with OllamaClient(old_double.url) as client:
        list(client.generate({"model": "llama3.2:1b", "prompt": "", "keep_alive": "5m"}))
    code, out, err = cli(old_double, tmp_path, "show", "llama3.2:1b")
    assert code == 0, err
    line = next(x for x in out.splitlines() if "context runtime" in x)
    assert "not loaded" not in line and "before 0.10.0" in line
    assert any(x.strip().startswith("loaded") for x in out.splitlines())


def test_new_servers_still_read_ps_and_send_no_prompt(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    code, doc = build_json(ollama_double, tmp_path, "short", "parameters: {num_ctx: 1024}\n", "--verify")
    assert code == 0
    b = doc["data"]["builds"][0]
    assert b["verify"] == {"ok": True, "problem": None}
    assert b["report"]["runtime"]["context_length_source"] == "ps"
    assert not [g for g in generates(ollama_double) if g["json"].get("prompt")]


def test_context_from_cut_inverts_the_cut_of_each_era() -> None:
    # Go runners keep exactly their context (runner/llamarunner/runner.go NewSequence, v0.9.3).
    for version in ("0.9.3", "0.12.6", "0.29.0"):
        for ctx in (256, 1024, 8192):
            (kept,) = cut_sizes(ctx, 4, version)
            assert context_from_cut(kept, version) == ctx
    assert context_from_cut(1023, "0.30.5") == 1024  # llama-server up to 0.30.10: one token less
    assert context_from_cut(514, "0.30.11") is None  # about half freed: the count does not tell
    assert context_from_cut(0, "0.9.3") is None


def test_verification_states() -> None:
    assert Verification().ok is True and not Verification().failed
    assert Verification("differs").ok is False and Verification("differs").failed
    skipped = Verification(reason="why")
    assert skipped.ok is None and not skipped.failed
    assert skipped.to_dict() == {"ok": None, "problem": None, "reason": "why"}
    m = ContextMeasurement(1168, 1024, 1024, True, 0.5)
    assert Verification(measured=m).to_dict()["measured"]["prompt_eval_count"] == 1024
