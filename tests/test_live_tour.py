"""Every server command against a real Ollama (marked ``live``; skipped, with the reason, when no
server answers; under ``CI=true`` with ``-m live`` a skip fails the run).

Nothing is pulled: the bases are created here from tiny generated GGUF files (a "library" base
is a model created under a library-like name that profiles name in ``from:``), and every model
a test creates is deleted at its end. The tiny model's answers are noise, so the tests check
what the server reports (counts, reasons, parameters, what it stored), not what it says.

    python -m tests.real_ollama start --port 11500
    pytest -m live --ollama-host http://127.0.0.1:11500
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelctl.profile.profile import load_profile
from tests.fixtures_live import create_model, delete_models, unique
from tests.fixtures_pty import PtyProcess, plain
from tests.live_helpers import TRAINED, cli, ollama_create, tiny_gguf, write_profile

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def base(live_host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A "library" base: a model created from a tiny GGUF under a library-like name."""
    name = unique("lib") + ":tiny"
    create_model(live_host, name, tiny_gguf(tmp_path_factory.mktemp("lib")))
    yield name
    delete_models(live_host, [name])


def built(live_host: str, tmp_path: Path, names: list[str], prefix: str, body: str) -> tuple[str, Path]:
    """A profile built on the server: (model name, profile path)."""
    name = unique(prefix)
    names.append(name)
    prof = write_profile(tmp_path, name, body)
    r = cli(live_host, tmp_path, "build", prof.name)
    assert r.code == 0, r.stderr
    assert r.data["builds"][0]["status"] == "created"
    return name, prof


def tags(live_host: str) -> set[str]:
    from modelctl.ollama.server import OllamaClient

    with OllamaClient(live_host) as c:
        return {m["name"].removesuffix(":latest") for m in c.tags()["models"]}


# -- build ---------------------------------------------------------------------------------


def test_build_from_a_library_base_reports_what_the_server_made(
    live_host: str, base: str, tmp_path: Path, live_names: list[str]
) -> None:
    body = f"from: {base}\nsystem: You are terse.\nparameters: {{num_ctx: 512, temperature: 0.3, stop: ['###']}}\n"
    name, prof = built(live_host, tmp_path, live_names, "one", body)
    r = cli(live_host, tmp_path, "show", name)
    assert r.code == 0, r.stderr
    rep = r.data
    assert rep["architecture"] == "llama" and rep["quantization"] == "F16" and rep["embedding_length"] == 64
    assert rep["context_length"]["trained"] == TRAINED and rep["context_length"]["configured"] == 512
    assert rep["parameters"]["temperature"] == pytest.approx(0.3) and rep["parameters"]["stop"] == ["###"]
    again = cli(live_host, tmp_path, "build", prof.name)
    assert again.code == 0 and again.data["builds"][0]["status"] == "up_to_date"


def test_build_many_at_once_with_jobs(live_host: str, base: str, tmp_path: Path, live_names: list[str]) -> None:
    names = [unique(f"many{i}") for i in range(3)]
    live_names.extend(names)
    for i, name in enumerate(names):
        write_profile(tmp_path, name, f"from: {base}\nparameters: {{seed: {i}, num_predict: 8}}\n")
    r = cli(live_host, tmp_path, "build", *(f"{n}.yaml" for n in names), "--jobs", "3")
    assert r.code == 0, r.stderr
    assert [(b["name"], b["status"]) for b in r.data["builds"]] == [(n, "created") for n in names]
    assert set(names) <= tags(live_host)


def test_build_dry_run_creates_nothing(live_host: str, base: str, tmp_path: Path) -> None:
    name = unique("dry")
    write_profile(tmp_path, name, f"from: {base}\nparameters: {{temperature: 0.2}}\n")
    r = cli(live_host, tmp_path, "build", f"{name}.yaml", "--dry-run")
    assert r.code == 0, r.stderr
    b = r.data["builds"][0]
    assert r.data["dry_run"] is True and b["status"] == "planned"
    assert name not in tags(live_host) and f"{name}:latest" not in tags(live_host)


def test_build_only_changed_writes_the_lock_and_plan_reads_it(
    live_host: str, base: str, tmp_path: Path, live_names: list[str]
) -> None:
    a, _ = built(live_host, tmp_path, live_names, "keep", f"from: {base}\nparameters: {{top_k: 10}}\n")
    b, prof_b = built(live_host, tmp_path, live_names, "edit", f"from: {base}\nparameters: {{top_k: 20}}\n")
    prof_b.write_text(prof_b.read_text().replace("top_k: 20", "top_k: 30"), encoding="utf-8")
    r = cli(live_host, tmp_path, "build", f"{a}.yaml", f"{b}.yaml", "--only-changed", "--lock", "models.lock")
    assert r.code == 0, r.stderr
    assert [x["name"] for x in r.data["builds"] if x["status"] == "created"] == [b]
    lock = (tmp_path / "models.lock").read_text(encoding="utf-8")
    assert a in lock and b in lock and "sha256:" in lock
    plan = cli(live_host, tmp_path, "plan", f"{a}.yaml", f"{b}.yaml", "--lock", "models.lock")
    assert plan.code == 0, plan.stdout + plan.stderr
    assert plan.data["drift"] is False


def test_build_local_weights_with_template_messages_and_stops(
    live_host: str, tmp_path: Path, live_names: list[str]
) -> None:
    tiny_gguf(tmp_path)
    body = """\
        from: ./tiny.gguf
        quantize: q8_0
        template: "{{ if .System }}[S]{{ .System }}{{ end }}[U]{{ .Prompt }}[A]{{ .Response }}"
        system: Be brief.
        messages:
          - {role: user, content: Hi}
          - {role: assistant, content: Hello.}
        parameters: {stop: ["[U]", "[A]"], num_ctx: 256}
        """
    name, prof = built(live_host, tmp_path, live_names, "local", body)
    rep = cli(live_host, tmp_path, "show", name).data
    assert rep["quantization"] == "Q8_0" and rep["parameters"]["stop"] == ["[U]", "[A]"]
    plan = cli(live_host, tmp_path, "plan", prof.name)
    assert plan.code == 0, plan.stdout + plan.stderr


def test_quantize_of_an_f32_file_is_refused_by_0_9_3_in_one_line(
    live_host: str, tmp_path: Path, live_names: list[str]
) -> None:
    """Ollama 0.9.3 reads general.file_type 0 (ALL_F32) as unknown (fs/ggml/ggml.go: ``if t > 0``)
    and refuses to quantize it (server/create.go, v0.9.3): a clean exit 5, one line."""
    tiny_gguf(tmp_path, "f32.gguf", tensor_type="F32")
    name = unique("f32")
    live_names.append(name)
    write_profile(tmp_path, name, "from: ./f32.gguf\nquantize: q8_0\n")
    r = cli(live_host, tmp_path, "build", f"{name}.yaml", json_out=False)
    if r.code == 0:  # a newer server quantizes it
        assert "Q8_0" in r.stdout
        return
    assert r.code == 5 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "quantization is only supported for F16 and F32 models" in r.stderr


def write_lora(path: Path, *, rank: int = 4, blocks: int = 2) -> Path:
    """A LoRA adapter GGUF for the tiny llama (q and v projections of every block), as
    llama.cpp's convert_lora_to_gguf.py writes one: general.type adapter, adapter.type lora."""
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), "llama")
    w.add_string("general.type", "adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", 8.0)
    rng = np.random.default_rng(1)
    for i in range(blocks):
        for tensor, rows in (("attn_q", 64), ("attn_v", 32)):  # 4 heads x 16, 2 KV heads x 16
            for part, shape in (("lora_a", (rank, 64)), ("lora_b", (rows, rank))):
                w.add_tensor(f"blk.{i}.{tensor}.weight.{part}", (rng.standard_normal(shape) * 0.01).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_build_with_an_adapter_then_run_it(live_host: str, base: str, tmp_path: Path, live_names: list[str]) -> None:
    """Ollama 0.9.3 takes a generated LoRA GGUF: the build succeeds and the runner loads it."""
    (tmp_path / "lora").mkdir()
    write_lora(tmp_path / "lora" / "chef.gguf")
    name, prof = built(live_host, tmp_path, live_names, "lora", f"from: {base}\nadapters: [./lora/chef.gguf]\n")
    from modelctl.ollama.server import OllamaClient

    with OllamaClient(live_host) as c:
        assert "\nADAPTER " in c.show(name)["modelfile"]  # what the server stored
    r = cli(live_host, tmp_path, "run", prof.name, "Hi", "--set", "num_predict=3")
    assert r.code == 0, r.stderr
    assert r.data["metrics"]["eval_count"] <= 3
    assert cli(live_host, tmp_path, "plan", prof.name).code == 0


# -- plan ----------------------------------------------------------------------------------


def test_plan_in_sync_then_drift_made_by_the_real_cli(
    live_host: str, base: str, tmp_path: Path, live_names: list[str]
) -> None:
    name, prof = built(live_host, tmp_path, live_names, "drift", f"from: {base}\nparameters: {{temperature: 0.4}}\n")
    assert cli(live_host, tmp_path, "plan", prof.name).code == 0
    ollama_create(live_host, tmp_path, name, f"FROM {base}\nPARAMETER temperature 0.9\n")
    r = cli(live_host, tmp_path, "plan", prof.name)
    assert r.code == 3, r.stdout + r.stderr
    diffs = {(d["field"], str(d["wanted"]), str(d["found"])) for d in r.data["differences"]}
    assert ("parameters.temperature", "0.4", "0.9") in diffs, r.data["differences"]
    text = cli(live_host, tmp_path, "plan", prof.name, json_out=False)
    assert text.code == 3 and "temperature" in text.stdout


def test_plan_a_model_never_built(live_host: str, base: str, tmp_path: Path) -> None:
    name = unique("never")
    write_profile(tmp_path, name, f"from: {base}\n")
    r = cli(live_host, tmp_path, "plan", f"{name}.yaml")
    assert r.code == 3, r.stdout + r.stderr
    assert r.data["drift"] is True
    assert [d["action"] for d in r.data["differences"] if d["model"] == name] == ["+"]  # to create


# -- import --------------------------------------------------------------------------------


def test_import_a_modelfile_build_it_and_plan_is_in_sync(
    live_host: str, base: str, tmp_path: Path, live_names: list[str]
) -> None:
    name = unique("imp")
    live_names.append(name)
    (tmp_path / "Modelfile").write_text(
        f'FROM {base}\nSYSTEM """You answer "yes" or "no".\nNothing else."""\nPARAMETER top_p 0.8\n', encoding="utf-8"
    )
    r = cli(live_host, tmp_path, "import", "Modelfile", "--name", name, "-o", f"{name}.yaml")
    assert r.code == 0, r.stderr
    assert r.data["output"] == f"{name}.yaml" and (tmp_path / f"{name}.yaml").read_text() == r.data["profile"]
    assert cli(live_host, tmp_path, "build", f"{name}.yaml").code == 0
    plan = cli(live_host, tmp_path, "plan", f"{name}.yaml")
    assert plan.code == 0, plan.stdout + plan.stderr


ODD_MODELFILES = {
    "system-quotes": 'SYSTEM """You are "Chef".\nSay \'bonjour\' first,\n  then "the dish".\n"""\n',
    "template": 'TEMPLATE """{{ if .System }}<|s|>{{ .System }}{{ end }}<|u|>{{ .Prompt }}<|a|>{{ .Response }}"""\n'
    "PARAMETER stop <|u|>\n",
    "messages": 'MESSAGE user """What is "2+2"?"""\nMESSAGE assistant Four.\nMESSAGE user And 3+3?\n'
    "MESSAGE assistant Six.\n",
    "stops": 'PARAMETER stop "<|end|>"\nPARAMETER stop ###\nPARAMETER stop "User:"\nPARAMETER temperature 0.25\n'
    "PARAMETER num_ctx 512\nPARAMETER repeat_penalty 1.15\n",
}


@pytest.mark.parametrize("kind", sorted(ODD_MODELFILES))
def test_import_model_the_real_cli_created_then_plan_is_in_sync(
    live_host: str, base: str, tmp_path: Path, live_names: list[str], kind: str
) -> None:
    name = unique(f"odd-{kind}")
    live_names.append(name)
    ollama_create(live_host, tmp_path, name, f"FROM {base}\n{ODD_MODELFILES[kind]}")
    r = cli(live_host, tmp_path, "import", "--model", name, "-o", "imported.yaml", json_out=False)
    assert r.code == 0, r.stderr
    plan = cli(live_host, tmp_path, "plan", "imported.yaml")
    assert plan.code == 0, plan.stdout + plan.stderr + (tmp_path / "imported.yaml").read_text()


# -- run -----------------------------------------------------------------------------------


def test_run_one_shot_text_and_verbose(live_host: str, base: str, tmp_path: Path, live_names: list[str]) -> None:
    _, prof = built(live_host, tmp_path, live_names, "run", f"from: {base}\nparameters: {{num_predict: 5, seed: 7}}\n")
    r = cli(live_host, tmp_path, "run", prof.name, "Hello", "--verbose", json_out=False)
    assert r.code == 0, r.stderr
    assert r.stdout.strip() and "eval count:" in r.stderr and "load duration:" in r.stderr


def test_run_json_reports_the_server_metrics(live_host: str, base: str, tmp_path: Path) -> None:
    write_profile(tmp_path, "eph", f"from: {base}\nparameters: {{num_predict: 4, seed: 1, temperature: 0}}\n")
    r = cli(live_host, tmp_path, "run", "eph.yaml", "Hello", "--ephemeral")
    assert r.code == 0, r.stderr
    data = r.data
    assert data["done"] is True and data["done_reason"] == "length" and data["metrics"]["eval_count"] == 4
    again = cli(live_host, tmp_path, "run", "eph.yaml", "Hello", "--ephemeral")
    assert again.data["response"] == data["response"]  # temperature 0 and a seed: the same answer


def test_run_warns_when_the_server_cuts_the_prompt(live_host: str, base: str, tmp_path: Path) -> None:
    """0.9.3 cuts an over-long prompt silently (to num_ctx tokens): only prompt_eval_count shows it."""
    write_profile(tmp_path, "cut", f"from: {base}\nparameters: {{num_ctx: 256, num_predict: 2}}\n")
    r = cli(live_host, tmp_path, "run", "cut.yaml", "--ephemeral", input="word " * 1500)
    assert r.code == 0, r.stderr
    assert r.data["metrics"]["prompt_eval_count"] == 256
    warning = " ".join(w["message"] for w in r.doc["warnings"])
    assert "the server cut the prompt to fit the context" in warning and "prompt_eval_count 256" in warning
    short = cli(live_host, tmp_path, "run", "cut.yaml", "--ephemeral", input="word " * 20)
    assert short.data["metrics"]["prompt_eval_count"] < 256
    assert not any("cut the prompt" in w["message"] for w in short.doc["warnings"])


# -- chat ----------------------------------------------------------------------------------


def test_chat_on_a_terminal_sets_a_parameter_and_saves_a_profile(
    live_host: str, base: str, tmp_path: Path, live_names: list[str]
) -> None:
    name, prof = built(live_host, tmp_path, live_names, "chat", f"from: {base}\nparameters: {{num_predict: 4}}\n")
    env = {"NO_COLOR": "1", "MODELCTL_STATE_DIR": str(tmp_path / ".state")}
    p = PtyProcess.modelctl("run", prof.name, host=live_host, env=env, cwd=tmp_path)
    at = p.expect(">>> ")
    cool_name = unique("cool")  # /save names the model after the file: one no one else uses
    live_names.append(cool_name)
    for line in ("Hello there", "/set parameter temperature 0.3", f"/save {cool_name}.yaml", "Again"):
        p.send(line + "\r")
        at = p.expect(">>> ", since=p.expect(line, since=at))
    p.send("\x04")
    assert p.wait() == 0
    out = plain(p.output)
    assert "Set parameter 'temperature' to '0.3'" in out and f"Saved {cool_name}.yaml" in out
    cool = load_profile(str(tmp_path / f"{cool_name}.yaml")).profile
    assert cool.parameters.as_dict()["temperature"] == 0.3 and cool.parameters.as_dict()["num_predict"] == 4
    assert cool.name == cool_name
    r = cli(live_host, tmp_path, "build", f"{cool_name}.yaml")
    assert r.code == 0 and r.data["builds"][0]["report"]["parameters"]["temperature"] == pytest.approx(0.3)


# -- compare -------------------------------------------------------------------------------


def test_compare_table_reads_what_the_server_built(
    live_host: str, base: str, tmp_path: Path, live_names: list[str]
) -> None:
    a, pa = built(live_host, tmp_path, live_names, "cmpa", f"from: {base}\nparameters: {{temperature: 0.1}}\n")
    b, pb = built(live_host, tmp_path, live_names, "cmpb", f"from: {base}\nparameters: {{temperature: 0.9}}\n")
    r = cli(live_host, tmp_path, "compare", pa.name, pb.name)
    assert r.code == 0, r.stderr
    data = r.data
    assert data["kind"] == "table" and data["server"]["reachable"] is True
    assert [c["built"] for c in data["columns"]] == [True, True]
    rows = {row["key"]: row for row in data["rows"]}
    assert rows["parameters.temperature"]["differs"] is True
    assert rows["server.context_length"]["cells"][0]["value"]["trained"] == TRAINED
    assert rows["server.quantization"]["cells"][1]["display"] == "F16"


def test_compare_matrix_junit_and_html(live_host: str, base: str, tmp_path: Path) -> None:
    for label, temp in (("cold", 0.0), ("warm", 0.9)):
        write_profile(tmp_path, label, f"from: {base}\nparameters: {{temperature: {temp}, seed: 3, num_predict: 6}}\n")
    (tmp_path / "prompts.yaml").write_text(
        "- name: short\n  prompt: Name a fruit.\n  expect: {max_tokens: 6}\n"
        "- name: impossible\n  prompt: Say banana.\n  expect: {contains: 'no such answer from noise'}\n",
        encoding="utf-8",
    )
    args = ("compare", "cold.yaml", "warm.yaml", "--ephemeral", "--prompts", "prompts.yaml")
    r = cli(live_host, tmp_path, *args, "--min-pass-rate", "0.5")
    assert r.code == 0, r.stderr
    assert r.data["kind"] == "matrix" and r.data["pass_rate"] == 0.5
    assert all(c["status"] == "ok" and 0 < c["eval_count"] <= 6 for c in r.data["cells"])
    junit = cli(live_host, tmp_path, *args, "--format", "junit", "-o", "report.xml", json_out=False)
    assert junit.code == 6, junit.stderr  # half the assertions fail: below the default --min-pass-rate 1.0
    suite = ET.parse(tmp_path / "report.xml").getroot()
    assert len(list(suite.iter("testcase"))) == 4  # 2 profiles x 2 prompts
    assert len(list(suite.iter("failure"))) == 2
    html = cli(live_host, tmp_path, *args, "--min-pass-rate", "0.5", "-o", "report.html", json_out=False)
    assert html.code == 0, html.stderr
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Name a fruit." in page


def test_compare_sweep_saves_the_best_setting(live_host: str, base: str, tmp_path: Path, live_names: list[str]) -> None:
    best_name = unique("best")  # --save-best names the model after the file: one no one else uses
    live_names.append(best_name)
    write_profile(tmp_path, "sweepme", f"from: {base}\nparameters: {{seed: 5, num_predict: 4}}\n")
    (tmp_path / "p.yaml").write_text("- prompt: Hi\n  expect: {max_tokens: 4}\n", encoding="utf-8")
    r = cli(live_host, tmp_path, "compare", "sweepme.yaml", "--ephemeral", "--prompts", "p.yaml",
            "--sweep", "temperature=0.1,0.8", "--sweep", "top_k=5,40", "--save-best", f"{best_name}.yaml")  # fmt: skip
    assert r.code == 0, r.stderr
    sweep = r.data["sweep"]
    assert len(sweep["settings"]) == 4 and sweep["best"] and sweep["saved"]["path"].endswith(f"{best_name}.yaml")
    best = load_profile(str(tmp_path / f"{best_name}.yaml")).profile
    winner = next(s for s in sweep["settings"] if s["rank"] == 1)["values"]
    assert best.parameters.as_dict()["temperature"] == pytest.approx(winner["temperature"])
    assert best.parameters.as_dict()["top_k"] == winner["top_k"]
    assert best.name == best_name
    assert cli(live_host, tmp_path, "build", f"{best_name}.yaml").code == 0


# -- probe ---------------------------------------------------------------------------------


def test_probe_on_a_server_that_cuts_silently_is_refused_in_one_line(live_host: str, base: str, tmp_path: Path) -> None:
    """probe needs ``truncate: false`` (Ollama 0.12.6+); an older server would cut silently and
    the search would measure nothing: exit 5, one line (docs/probe.md)."""
    write_profile(tmp_path, "pr", f"from: {base}\nparameters: {{num_ctx: 256}}\n")
    r = cli(live_host, tmp_path, "probe", "pr.yaml", "--ephemeral", "--max-context", "512", json_out=False)
    from modelctl.ollama.server import OllamaClient
    from modelctl.ollama.wire import older_than

    with OllamaClient(live_host) as c:
        version = c.version()
    if older_than(version, "0.12.6"):
        assert r.code == 5 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "ignores `truncate` (added in 0.12.6)" in r.stderr
    else:
        assert r.code == 0 and "256" in r.stdout, r.stdout + r.stderr


# -- ls, ps, rm ----------------------------------------------------------------------------


def test_ls_ps_and_rm_by_profile(live_host: str, tmp_path: Path, live_names: list[str]) -> None:
    # Weights of its own: Ollama's scheduler keys a runner by the weights file, and /api/ps names
    # it after the model that loaded it first (another model on the same weights reuses it).
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    tiny_gguf(profiles, "own.gguf", seed=int(uuid.uuid4().hex[:6], 16))
    name = unique("house")
    live_names.append(name)
    write_profile(profiles, name, "from: ./own.gguf\nparameters: {num_predict: 2}\n")
    assert cli(live_host, tmp_path, "build", name).code == 0
    ls = cli(live_host, tmp_path, "ls")
    assert ls.code == 0, ls.stderr
    assert [(p["model"], p["state"]) for p in ls.data["profiles"]] == [(name, "up_to_date")]
    assert cli(live_host, tmp_path, "run", name, "Hi").code == 0
    ps = cli(live_host, tmp_path, "ps")
    loaded = {m["name"]: m for m in ps.data["models"]}
    assert f"{name}:latest" in loaded or name in loaded, ps.data
    entry = loaded.get(f"{name}:latest") or loaded[name]
    assert entry["processor"] == "100% CPU" and entry["size"] > 0
    assert [p for p in entry["profiles"] if name in p], entry
    dry = cli(live_host, tmp_path, "rm", name, "--dry-run")
    assert dry.code == 0 and dry.data["dry_run"] is True and name.split(":")[0] in str(tags(live_host))
    gone = cli(live_host, tmp_path, "rm", name)
    assert gone.code == 0 and gone.data["models"][0]["removed"] is True
    assert not {name, f"{name}:latest"} & tags(live_host)
    again = cli(live_host, tmp_path, "rm", name, json_out=False)
    assert again.code == 5 and len(again.stderr.strip().splitlines()) == 1


# -- validate --host -----------------------------------------------------------------------


def test_validate_against_the_server(live_host: str, base: str, tmp_path: Path) -> None:
    write_profile(tmp_path, "good", f"from: {base}\nparameters: {{num_ctx: 1024}}\n")
    write_profile(tmp_path, "long", f"from: {base}\nparameters: {{num_ctx: {TRAINED * 4}}}\n")
    write_profile(tmp_path, "typo", f"from: {base.replace('lib', 'lbi')}\n")
    r = cli(live_host, tmp_path, "validate", "good.yaml", "long.yaml", "typo.yaml", "--host", live_host)
    by = {Path(p["profile"]).stem: p for p in r.data["profiles"]}
    assert r.data["hosts"][0]["ok"] is True and r.data["hosts"][0]["version"]
    assert by["good"]["ok"] is True and not by["good"]["warnings"], by["good"]
    assert any(str(TRAINED) in w["message"] for w in by["long"]["warnings"]), by["long"]
    typo = json.dumps(by["typo"])
    assert base in typo, typo  # the did-you-mean names the base the server has
