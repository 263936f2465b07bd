"""`import --model NAME` then `plan`: in sync, for a dozen differently built models (round trip)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from click.testing import CliRunner

from modelctl.cli import cli
from tests.fixtures_double import run_cli
from tests.fixtures_gguf import write_tiny_gguf, write_tiny_llama
from tests.ollama_double import OllamaDouble, parse_name

BUILT = {
    "params": """
        from: llama3.2:3b
        parameters:
          temperature: 0.1
          seed: 42
          num_ctx: 1048576
          stop: ["say \\"hi\\"\\n\\"\\"\\"end", "<x>"]
    """,
    "texts": """
        from: llama3.2:3b
        system: |
          You are a chef.
          Answer briefly.
        template: "{{ .System }} {{ .Prompt }}"
    """,
    "msgs": """
        from: qwen3:8b
        messages:
          - {role: user, content: "Give me a dessert idea"}
          - {role: assistant, content: "Saffron panna cotta."}
    """,
    "licensed": """
        from: llama3.2:3b
        license: [MIT, "Apache 2.0\\nsecond line"]
    """,
    "adapted": """
        from: llama3.2:1b
        adapters: [./files/lora.gguf]
        parameters: {temperature: 0.4}
    """,
    "rendered": """
        from: qwen3:8b
        renderer: qwen3-coder
        parser: qwen3-coder
    """,
    "drafted": """
        from: llama3.2:3b
        draft: ./files/draft.gguf
        parameters: {draft_num_predict: 8}
    """,
    "local": """
        from: ./files/tiny.gguf
        system: A tiny model.
        parameters: {num_ctx: 2048}
    """,
    "vision": """
        from: ./files/tiny.gguf
        projector: ./files/mmproj.gguf
    """,
    "required": """
        from: llama3.2:3b
        requires: "0.14.0"
    """,
    "same-as-base": """
        from: qwen3:8b
        parameters: {top_k: 20, temperature: 0.9}
    """,
    "quantized": """
        from: smollm2:135m-instruct-fp16
        quantize: q8_0
        parameters: {temperature: 0.2}
    """,
}


def test_import_model_then_plan_is_in_sync(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.state.version = "0.30.0"  # DRAFT needs 0.30
    src, files, out = tmp_path / "src", tmp_path / "src" / "files", tmp_path / "imported"
    files.mkdir(parents=True)
    out.mkdir()
    write_tiny_llama(files / "tiny.gguf")
    write_tiny_llama(files / "draft.gguf", seed=3)
    write_tiny_gguf(files / "mmproj.gguf", arch="clip", extra_kv={"general.type": "mmproj"}, seed=5)
    (files / "lora.gguf").write_bytes(b"GGUF\x03\x00\x00\x00a lora")
    for name, body in BUILT.items():
        (src / f"{name}.yaml").write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    proc = run_cli("build", *(str(src / f"{n}.yaml") for n in BUILT), "-q", host=ollama_double.url, env=env)
    assert proc.returncode == 0, proc.stderr
    # one more way a model comes to be: copied by hand on the server (`ollama cp`)
    copied = ollama_double.state.get("params")
    assert copied is not None
    ollama_double.state.add_model(copied.copy_as(parse_name("copied")))  # type: ignore[arg-type]

    runner = CliRunner()
    shown = {
        n: json.loads(runner.invoke(cli, ["show", n, "--format", "json", "--host", ollama_double.url]).stdout)["data"]
        for n in ("rendered", "drafted", "vision")
    }
    assert shown["rendered"]["renderer"] == shown["rendered"]["parser"] == "qwen3-coder"
    assert shown["drafted"]["draft"].startswith("sha256:") and len(shown["vision"]["projectors"]) == 1
    for name in [*BUILT, "copied"]:
        args = ["import", "--model", name, "-o", str(out / f"{name}.yaml"), "--host", ollama_double.url]
        res = runner.invoke(cli, [*args, "--files", str(files)], catch_exceptions=False)
        assert res.exit_code == 0, (name, res.stderr)
    imported = {p.stem: p.read_text(encoding="utf-8") for p in out.glob("*.yaml")}
    assert "from: llama3.2:3b" in imported["params"] and "stop:" in imported["params"]
    assert "adapters:\n- ../src/files/lora.gguf" in imported["adapted"]
    assert "draft: ../src/files/draft.gguf" in imported["drafted"] and "renderer: qwen3-coder" in imported["rendered"]
    assert "from: local:latest" in imported["local"]  # weights rewritten by the server: builds on itself
    assert "top_k" not in imported["same-as-base"] and "temperature: 0.9" in imported["same-as-base"]
    assert "license: |-\n  Apache 2.0\n  second line" in imported["licensed"] or "Apache 2.0" in imported["licensed"]
    assert "sha256" not in "".join(imported.values())  # never a path into the server's blob store

    plan = run_cli(
        "plan", *(str(out / f"{n}.yaml") for n in [*BUILT, "copied"]), "--format", "json",
        host=ollama_double.url, env={"MODELCTL_STATE_DIR": str(tmp_path / "other-machine")},
    )  # fmt: skip
    doc = json.loads(plan.stdout)
    assert plan.returncode == 0, json.dumps(doc["data"]["differences"], indent=1) + plan.stderr
    assert doc["data"]["summary"]["in_sync"] == len(BUILT) + 1


def test_import_model_errors(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["import", "--model", "nope", "--host", ollama_double.url])
    assert res.exit_code == 5 and "model nope is not on the server" in res.stderr
    res = runner.invoke(cli, ["import", "Modelfile", "--model", "x"])
    assert res.exit_code == 2 and "one of them" in res.stderr
    res = runner.invoke(cli, ["import"])
    assert res.exit_code == 2


def test_adapter_only_on_the_server_is_reported(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    (tmp_path / "lora.gguf").write_bytes(b"GGUF\x03\x00\x00\x00a lora")
    (tmp_path / "p.yaml").write_text("name: withlora\nfrom: llama3.2:3b\nadapters: [./lora.gguf]\n", encoding="utf-8")
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    assert run_cli("build", str(tmp_path / "p.yaml"), "-q", host=ollama_double.url, env=env).returncode == 0
    res = CliRunner().invoke(cli, ["import", "--model", "withlora", "--host", ollama_double.url])
    assert res.exit_code == 0
    assert "adapters" not in res.stdout and "is only on the server" in res.stderr
