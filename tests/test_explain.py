"""``explain`` and the resolver behind it (modelctl.memory.effective): every option's value and origin,
Ollama's adjustments, and the reload rule, against the Ollama API double and as properties."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from modelctl.memory import effective as E
from modelctl.ollama.hosts import HostFacts
from tests.fixtures_compare import invoke
from tests.ollama_double import OllamaDouble, closed_port_url

GiB = 1 << 30


def _write(d: Path, files: dict[str, str]) -> None:
    (d / "profiles").mkdir(exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")


QWEN_FAMILY = {
    "profiles/base.yaml": "abstract: true\nfrom: qwen3:8b\nparameters:\n  num_ctx: 8192\n  top_p: 0.8\n",
    "profiles/helper.yaml": ("name: helper\nextends: base.yaml\nparameters:\n  temperature: 0.3\n  num_predict: 200\n"),
}


def _inventory(d: Path, url: str) -> Path:
    inv = d / "fleet.yaml"
    inv.write_text(
        f"hosts:\n  gpu-box:\n    url: {url}\n    facts:\n      OLLAMA_CONTEXT_LENGTH: 16384\n"
        "      OLLAMA_NUM_PARALLEL: 2\n      OLLAMA_KV_CACHE_TYPE: q8_0\n      OLLAMA_FLASH_ATTENTION: true\n",
        encoding="utf-8",
    )
    return inv


def _explain(*args: str, cwd: Path, host: str | None = None) -> dict[str, Any]:
    r = invoke("explain", *args, "--format", "json", cwd=cwd, host=host)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def _by_name(data: dict[str, Any], key: str = "options") -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in data[key]}


def test_every_row_has_its_origin(cmp_double: OllamaDouble, tmp_path: Path) -> None:
    """A profile extending a base on an inventory host with declared facts: each of the 20 options
    comes from the layer it should, with the file:line:column of profile values."""
    _write(tmp_path, QWEN_FAMILY)
    inv = _inventory(tmp_path, cmp_double.url)
    env = _explain("helper", "--hosts", str(inv), "--set", "seed=5", "--option", "top_k=10", cwd=tmp_path)
    data = env["data"]
    opts = _by_name(data)
    expected = {
        "num_ctx": "extends", "num_batch": "ollama", "num_gpu": "ollama", "main_gpu": "ollama",
        "use_mmap": "ollama", "num_thread": "ollama", "draft_num_predict": "ollama", "num_keep": "ollama",
        "seed": "set", "num_predict": "profile", "top_k": "request", "top_p": "extends", "min_p": "ollama",
        "typical_p": "ollama", "repeat_last_n": "ollama", "temperature": "profile", "repeat_penalty": "base",
        "presence_penalty": "ollama", "frequency_penalty": "ollama", "stop": "base",
    }  # fmt: skip
    assert {n: o["source"]["kind"] for n, o in opts.items()} == expected
    # written values name their place; the server's defaults are the version it reported
    assert (opts["num_ctx"]["value"], opts["num_ctx"]["source"]["text"]) == (8192, "profiles/base.yaml:4:12")
    assert opts["top_p"]["source"]["text"] == "profiles/base.yaml:5:10"
    assert opts["temperature"]["source"]["text"] == "profiles/helper.yaml:4:16"
    assert opts["min_p"]["source"] == {**opts["min_p"]["source"], "basis": "reported", "text": "Ollama 0.12.6 default"}
    # the layers under the winner: the declared server default under num_ctx, the base's values under the rest
    ctx_layers = [(x["value"], x["source"]["kind"], x["source"]["basis"]) for x in opts["num_ctx"]["layers"]]
    assert ctx_layers == [(16384, "server", "declared"), (8192, "extends", "written")]
    assert [x["value"] for x in opts["top_k"]["layers"]] == [40, 20, 10]
    assert opts["temperature"]["layers"][1]["source"]["text"] == "qwen3:8b (stored with the model on the server)"
    assert opts["repeat_penalty"]["value"] == 1.0  # stored by qwen3:8b over 0.12.6's 1.1
    assert opts["draft_num_predict"]["value"] is None  # not in Ollama 0.12.6
    assert opts["num_predict"]["value"] == 200 and not opts["num_predict"]["adjustments"]
    settings = _by_name(data, "settings")
    declared = {n: (s["value"], s["basis"]) for n, s in settings.items()}
    assert declared == {
        "parallel": (2, "declared"), "kv_cache_type": ("q8_0", "declared"), "flash_attention": (True, "declared"),
        "runner_context": (16384, "declared"),  # 8192 (written) x 2 slots (declared)
    }  # fmt: skip
    assert "inventory host gpu-box" in settings["parallel"]["source"]["text"]
    assert data["server"]["version"] == "0.12.6" and data["server"]["version_source"]["basis"] == "reported"
    assert data["target"]["built"] is False and data["model"]["trained_context"] == 40960
    text = invoke("explain", "helper", "--hosts", str(inv), cwd=tmp_path).stdout
    assert "OLLAMA_NUM_PARALLEL of inventory host gpu-box (declared)" in text
    assert "profiles/base.yaml:4:12 (extends)" in text and "server/sched.go needsReload" in text


def test_adjustments_with_a_request_over_the_trained_context(cmp_double: OllamaDouble, tmp_path: Path) -> None:
    _write(tmp_path, QWEN_FAMILY)
    data = _explain("helper", "--option", "num_ctx=100000", "--parallel", "3", cwd=tmp_path, host=cmp_double.url)[
        "data"
    ]
    ctx = _by_name(data)["num_ctx"]
    assert (ctx["requested"], ctx["value"]) == (100000, 40960)
    assert ctx["adjustments"][0]["cite"] == E.CITE_CAP and "trained context" in ctx["adjustments"][0]["reason"]
    runner = _by_name(data, "settings")["runner_context"]
    assert runner["value"] == 3 * 40960 and runner["source"]["basis"] == "declared"  # --parallel is declared


def test_without_a_server_the_newest_defaults_are_assumed(tmp_path: Path) -> None:
    _write(tmp_path, QWEN_FAMILY)
    env = _explain("helper", "--no-server", cwd=tmp_path)
    data = env["data"]
    opts = _by_name(data)
    assert data["server"]["version"] == E.KNOWN_VERSION and data["server"]["version_source"]["basis"] == "assumed"
    assert opts["top_k"]["source"]["basis"] == "assumed" and opts["top_k"]["value"] == 40
    # newer rules: the scheduler picks num_batch for an 8K context, draft_num_predict is 0 without a draft
    assert opts["num_batch"]["value"] == 1024 and opts["num_batch"]["basis"] == "assumed"
    assert (
        opts["draft_num_predict"]["value"] == 0 and opts["draft_num_predict"]["adjustments"][0]["cite"] == E.CITE_LAYERS
    )
    assert data["model"]["known"] is False and data["target"]["built"] is None
    # an unreachable server is said, not fatal: the same assumptions
    r = invoke("explain", "helper", "--format", "json", cwd=tmp_path, host=closed_port_url())
    assert r.returncode == 0 and "explained with assumed defaults" in json.loads(r.stdout)["warnings"][0]["message"]


def test_vision_floor_and_draft_default_agree_with_the_double(cmp_double: OllamaDouble, tmp_path: Path) -> None:
    seer = cmp_double.install("llama3.2:3b", as_name="seer")
    seer.capabilities = ["completion", "vision"]
    data = _explain("seer", "--option", "num_ctx=1024", cwd=tmp_path, host=cmp_double.url)["data"]
    ctx = _by_name(data)["num_ctx"]
    assert ctx["value"] == 2048 and ctx["adjustments"][-1]["cite"] == E.CITE_FLOOR
    invoke("run", "seer", "hi", "--set", "num_ctx=1024", cwd=tmp_path, host=cmp_double.url)
    runner = cmp_double.state.runner_of("seer")
    assert runner is not None and runner.context_length == 2048  # Ollama raises it the same way
    assert runner.options["draft_num_predict"] == 0  # no draft: 0 unless set


def test_explain_errors_are_one_line(cmp_double: OllamaDouble, tmp_path: Path) -> None:
    r = invoke("explain", "nosuch:1b", cwd=tmp_path, host=cmp_double.url)
    assert r.returncode == 5 and "model 'nosuch:1b' not found" in r.stderr
    r = invoke("explain", "llama3.2:3b", "--option", "num_ctx=big", cwd=tmp_path, host=cmp_double.url)
    assert r.returncode == 1 and "error: --option num_ctx: 'big' is not a valid int" in r.stderr
    inv = tmp_path / "bad.yaml"
    inv.write_text("hosts:\n  a:\n    url: http://x\n    facts:\n      OLLAMA_FLASH_ATTENTION: maybe\n", "utf-8")
    r = invoke("explain", "llama3.2:3b", "--hosts", str(inv), cwd=tmp_path)
    assert r.returncode == 1 and "bad.yaml:5:31: hosts.a.facts.OLLAMA_FLASH_ATTENTION" in r.stderr


# =========================================================================== the resolver


def _ctx(version: str = E.KNOWN_VERSION, **facts: Any) -> E.ServerContext:
    return E.server_context(version, reachable=True, facts=HostFacts(**facts), facts_label="h")


def test_default_num_ctx_follows_the_version_and_declared_facts() -> None:
    assert E.default_num_ctx(_ctx("0.5.12")).value == 2048
    assert E.default_num_ctx(_ctx("0.6.7")).value == 4096
    assert E.default_num_ctx(_ctx("0.15.5")).source.basis == "assumed"
    assert E.default_num_ctx(_ctx(gpu_memory=24 * GiB)).value == 32768
    assert E.default_num_ctx(_ctx(gpu_memory=24 * GiB, gpu_overhead=2 * GiB)).value == 4096  # 22 GiB left
    assert E.default_num_ctx(_ctx(gpu_memory=48 * GiB)).value == 262144
    assert E.default_num_ctx(_ctx(context_length=8192, gpu_memory=48 * GiB)).value == 8192
    assert E.default_num_ctx(_ctx("0.5.12", context_length=8192)).value == 2048  # the variable came in 0.5.13


def test_family_floor_of_older_versions() -> None:
    """0.11.1 to 0.15.4 raised gpt-oss (and qwen3vl from 0.12.7) to 8192 outside low-VRAM mode."""
    gptoss = E.ModelSide("g", family="gptoss", trained_context=131072)
    floored = E.resolve(gptoss, _ctx("0.12.6", gpu_memory=24 * GiB)).options["num_ctx"]
    assert (floored.value, floored.adjustments[0].cite, floored.basis) == (8192, E.CITE_FAMILY_FLOOR, "assumed")
    assert E.resolve(gptoss, _ctx("0.12.6", gpu_memory=16 * GiB)).num_ctx == 4096  # low-VRAM mode: no floor
    assert E.resolve(gptoss, _ctx("0.15.5", context_length=4096)).num_ctx == 4096
    qwen3vl = E.ModelSide("v", family="qwen3vl")
    assert E.resolve(qwen3vl, _ctx("0.12.6", context_length=4096)).num_ctx == 4096
    assert E.resolve(qwen3vl, _ctx("0.12.7", context_length=4096)).num_ctx == 8192


def test_slots_and_batch_follow_the_model() -> None:
    embed = E.ModelSide("e", known=True, capabilities=("embedding",), trained_context=2048)
    res = E.resolve(embed, _ctx(num_parallel=4))
    assert res.parallel == 1 and res.options["num_batch"].value == 2048
    assert E.resolve(E.ModelSide("q", family="qwen3vl"), _ctx(num_parallel=4)).parallel == 1
    big = E.resolve(E.ModelSide("m"), _ctx(context_length=40000))
    assert big.options["num_batch"].value == 2048 and big.options["num_predict"].value == 400000
    drafted = E.ModelSide("d", draft="sha256:" + "0" * 64)
    assert E.resolve(drafted, _ctx()).options["draft_num_predict"].value == 4


def _spec(label: str, **opts: Any) -> E.RunnerSpec:
    values = {"num_ctx": 4096, "num_batch": 512, "num_gpu": -1, "main_gpu": None, "use_mmap": None,
              "num_thread": 0, "draft_num_predict": 0, **opts}  # fmt: skip
    return E.RunnerSpec(label, "base", "w", tuple(values.items()))


def test_reload_rule_follows_needs_reload() -> None:
    a, b = _spec("a", num_ctx=8192), _spec("b")
    assert E.reload_reasons(a, b) == ["num_ctx"] == E.reload_reasons(b, a)
    auto = frozenset({"num_ctx", "num_batch"})
    assert not E.reload_reasons(replace(a, auto=auto), replace(b, auto=auto))  # two automatic contexts
    split = _spec("s", num_gpu=20)
    assert E.reload_reasons(b, split) == ["num_gpu"] and E.reload_reasons(split, b) == []  # -1 takes any split
    (c,) = E.conflicts([b, split])
    assert c.one_way() == "s reloads b's runner; b runs on s's"
    assert E.reload_reasons(replace(a, adapters=("x",)), a) == ["adapters"]
    assert E.reload_reasons(a, replace(b, weights="other")) == []  # other weights: another runner


LOAD_VALUES = st.fixed_dictionaries(
    {"num_ctx": st.sampled_from([2048, 4096, 8192]), "num_batch": st.sampled_from([256, 512]),
     "num_thread": st.sampled_from([0, 8]), "use_mmap": st.sampled_from([None, False])}
)  # fmt: skip


@given(st.lists(LOAD_VALUES, min_size=2, max_size=6))
def test_the_smallest_change_lets_every_profile_share(values: list[dict[str, Any]]) -> None:
    specs = [_spec(f"p{i}", **v) for i, v in enumerate(values)]
    changes, blockers = E.smallest_change(specs)
    assert not blockers
    shared = [E.with_changes(s, changes) for s in specs]
    assert len(E.share_groups(shared)) == 1 and not E.conflicts(shared)
    for c in changes:  # each option: only the profiles outside the largest group of equal values change
        most = max(sum(1 for v in values if v[c.option] == x[c.option]) for x in values)
        assert len(c.profiles) == len(values) - most
    # runners group exactly the specs that reload nothing between them
    for group in E.share_groups(specs):
        assert all(not E.reload_reasons(x, y) for x in group for y in group)
