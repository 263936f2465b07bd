"""No silent truncation: Ollama's cut by version (modelctl/ollama/truncation.py), the double doing what
Ollama does with ``truncate``/``shift``, ``run``/``compare`` ``--no-truncate``, and the
``prompt_truncated`` flag for a prompt the server cut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelctl.ollama.server import OllamaClient, PromptTooLong
from modelctl.ollama.truncation import cut_sizes, refusal, shift_limit
from tests.fixtures_compare import MATRIX_SHAPE, check_shape, invoke
from tests.ollama_double import PROMPT_OVERHEAD, OllamaDouble

CTX = 64  # the profile's num_ctx; a prompt of N words renders to N + PROMPT_OVERHEAD tokens


@pytest.mark.parametrize(
    ("num_ctx", "keep", "want"),
    [(8, 3, 6), (4096, 4, 2050), (4096, 5, 2051), (8, 99, 7), (8, -1, 4), (1, 0, 0)],
)
def test_shift_limit_is_ollamas_context_shift_prompt_limit(num_ctx: int, keep: int, want: int) -> None:
    # llm/llama_server_test.go TestContextShiftPromptLimit
    assert shift_limit(num_ctx, keep) == want


def test_cut_sizes_by_version() -> None:
    assert cut_sizes(4096, 4, "0.12.6") == {4096}  # the Go runners cut to num_ctx
    assert cut_sizes(4096, 4, "0.30.5") == {4095}  # llama-server keeps one token of headroom
    assert cut_sizes(4096, 4, "0.33.0") == {2050, 2051}  # num_keep (+ BOS) and about half
    assert cut_sizes(4096, 4, None) == {4096, 4095, 2050, 2051}


def test_refusals_are_recognised_with_their_numbers() -> None:
    llama = json.dumps(
        {"error": {"code": 400, "message": "request (5274 tokens) exceeds the available context size (4096 tokens), "
                   "try increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": 5274, "n_ctx": 4096}}
    )  # fmt: skip
    r = refusal(llama)
    assert r is not None and (r.prompt_tokens, r.context) == (5274, 4096)
    r = refusal("the input length exceeds the context length")
    assert r is not None and (r.prompt_tokens, r.context) == (None, None)
    assert refusal("the prompt is longer than the context length currently available to the model; ...")
    assert refusal("model 'x' not found") is None


@pytest.fixture
def tiny(cmp_double: OllamaDouble, tmp_path: Path) -> Path:
    """A built profile with num_ctx 64 in ``tmp_path``."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "tiny.yaml").write_text("name: tiny\nfrom: llama3.2:3b\nparameters:\n  num_ctx: 64\n")
    from tests.fixtures_compare import build

    build(cmp_double, tmp_path, "tiny")
    return tmp_path


def _words(tokens: int) -> str:
    """A prompt that renders to ``tokens`` tokens on the double."""
    return " ".join(["soup"] * (tokens - PROMPT_OVERHEAD))


# (version, the longest prompt taken uncut, what a longer one is cut to)
ERAS = [("0.12.6", CTX, CTX), ("0.30.5", CTX - 1, CTX - 1), ("0.33.0", CTX - 1, shift_limit(CTX, 5))]


@pytest.mark.parametrize(("version", "largest", "cut_to"), ERAS)
def test_prompt_just_under_and_just_over_the_context(
    cmp_double: OllamaDouble, tiny: Path, version: str, largest: int, cut_to: int
) -> None:
    cmp_double.state.version = version
    under = invoke("run", "tiny", _words(largest), "--format", "json", host=cmp_double.url, cwd=tiny)
    env = json.loads(under.stdout)
    assert under.returncode == 0 and env["data"]["metrics"]["prompt_eval_count"] == largest
    # Ollama 0.12.6-0.30.10 cut to the longest uncut length: the count cannot tell, and says so
    assert (
        all("unless it was exactly that long" in w["message"] for w in env["warnings"])
        if largest == cut_to
        else not env["warnings"]
    )
    assert invoke("run", "tiny", _words(largest), "--no-truncate", host=cmp_double.url, cwd=tiny).returncode == 0

    over = invoke("run", "tiny", _words(largest + 1), "--format", "json", host=cmp_double.url, cwd=tiny)
    env = json.loads(over.stdout)
    assert over.returncode == 0 and env["data"]["metrics"]["prompt_eval_count"] == cut_to
    (warning,) = env["warnings"]
    assert warning["code"] == "prompt_truncated" and f"prompt_eval_count {cut_to}" in warning["message"]

    refused = invoke("run", "tiny", _words(largest + 1), "--no-truncate", host=cmp_double.url, cwd=tiny)
    assert refused.returncode == 5, refused.stderr
    assert "is longer than the context of 64 tokens" in refused.stderr and "characters" in refused.stderr
    assert "--no-truncate" in refused.stderr and "Traceback" not in refused.stderr
    if version == "0.33.0":  # llama-server counts the prompt in its refusal
        assert f"{largest + 1} tokens by the server's count" in refused.stderr
    sent = cmp_double.state.calls("/api/generate")[-1]["json"]
    assert sent["truncate"] is False and "shift" not in sent


def test_no_truncate_needs_a_server_that_knows_it(cmp_double: OllamaDouble, tiny: Path) -> None:
    cmp_double.state.version = "0.12.5"
    r = invoke("run", "tiny", "Soup?", "--no-truncate", host=cmp_double.url, cwd=tiny)
    assert r.returncode == 5 and "ignores `truncate` (added in 0.12.6)" in r.stderr
    assert not cmp_double.state.calls("/api/generate")


def _chat(double: OllamaDouble, messages: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    with OllamaClient(double.url) as client:
        body = {"model": "tiny", "messages": messages, "stream": False, **extra}
        return list(client.chat(body))[-1]


def test_chat_drops_whole_messages_from_the_front(cmp_double: OllamaDouble, tiny: Path) -> None:
    sys_msg = {"role": "system", "content": "Be brief."}  # 2 words
    old = [{"role": "user", "content": " ".join(["old"] * 30)}, {"role": "assistant", "content": "ok"}]
    last = {"role": "user", "content": " ".join(["new"] * 20)}
    # 4 (template) + 2 + 30 + 1 + 20 = 57 tokens: everything fits
    assert _chat(cmp_double, [sys_msg, *old, last])["prompt_eval_count"] == 57
    long_old = [{"role": "user", "content": " ".join(["old"] * 40)}, {"role": "assistant", "content": "ok"}]
    # 67 > 64: the first user message goes, the system message stays: 4 + 2 + 1 + 20
    assert _chat(cmp_double, [sys_msg, *long_old, last])["prompt_eval_count"] == 27
    with pytest.raises(PromptTooLong):  # truncate: false keeps every message, and the runner refuses
        _chat(cmp_double, [sys_msg, *long_old, last], truncate=False)


def test_shift_is_a_launch_option_from_0_30(cmp_double: OllamaDouble, tiny: Path) -> None:
    cmp_double.state.version = "0.33.0"
    _chat(cmp_double, [{"role": "user", "content": "hi"}])
    _chat(cmp_double, [{"role": "user", "content": "hi"}], shift=False)
    assert cmp_double.state.loads == ["tiny:latest", "tiny:latest"]  # another shift: the runner reloads
    with pytest.raises(PromptTooLong, match="HTTP 400"):  # truncation on, shift off: Ollama's own refusal
        _chat(cmp_double, [{"role": "user", "content": _words(80)}], shift=False)


def test_compare_flags_a_cut_prompt_and_no_truncate_fails_its_cell(cmp_double: OllamaDouble, tiny: Path) -> None:
    args = ("compare", "tiny", "--prompt", "Soup?", "--prompt", _words(90), "--format", "json")
    r = invoke(*args, host=cmp_double.url, cwd=tiny)
    env = json.loads(r.stdout)
    check_shape(env["data"], MATRIX_SHAPE)
    short, cut = env["data"]["cells"]
    assert r.returncode == 0 and short["flags"] == [] and short["prompt_cut"] is None
    assert cut["flags"] == ["prompt_truncated"]
    assert cut["prompt_cut"] == {"prompt_eval_count": CTX, "num_ctx": CTX, "num_keep": 4}
    assert env["data"]["summary"][0]["flags"]["prompt_truncated"] == 1

    text = invoke(*args[:-2], host=cmp_double.url, cwd=tiny)
    assert "FLAGS: prompt-truncated (prompt_eval_count 64 of num_ctx 64)" in text.stdout

    refused = invoke(*args, "--no-truncate", host=cmp_double.url, cwd=tiny)
    env = json.loads(refused.stdout)
    short, failed = env["data"]["cells"]
    assert refused.returncode == 5 and short["status"] == "ok" and failed["status"] == "error"
    assert failed["error"]["code"] == "prompt_too_long"
    assert (
        failed["error"]["message"].startswith("prompt 'prompt 2' (")
        and "context of 64 tokens" in failed["error"]["message"]
    )


def test_a_chat_with_no_truncate_refuses_a_turn_that_outgrows_the_context(cmp_double: OllamaDouble, tiny: Path) -> None:
    from modelctl.jobs.chat import open_chat
    from modelctl.jobs.run import RunOptions

    options = RunOptions(truncate=False, overrides=["num_ctx=64"])
    with open_chat("llama3.2:3b", options, host=cmp_double.url) as chat:
        chat.send("Soup?")
        with pytest.raises(PromptTooLong, match="prompt the conversation .* longer than the context of 64 tokens"):
            chat.send(_words(80))
        assert [m["role"] for m in chat.history] == ["user", "assistant"]  # the refused turn left no trace
    assert all(c["json"]["truncate"] is False for c in cmp_double.state.calls("/api/chat"))
