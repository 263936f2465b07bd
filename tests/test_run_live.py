"""``run`` and ``compare`` against a real Ollama (marked ``live``; skipped, with the reason,
when no server answers). The model talked to is created here from a tiny generated GGUF
(its answers are noise) and deleted afterwards: nothing is pulled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures_compare import invoke
from tests.fixtures_gguf import write_tiny_llama
from tests.fixtures_live import create_model, delete_models, unique

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def live_model(live_host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = unique("run") + ":tiny"
    create_model(live_host, name, write_tiny_llama(tmp_path_factory.mktemp("run-live") / "tiny.gguf"))
    yield name
    delete_models(live_host, [name])


def test_run_json_metrics_live(live_host: str, live_model: str) -> None:
    r = invoke("run", live_model, "Say hello in one word.", "--seed", "1", "--set", "num_predict=16",
               "--format", "json", host=live_host)  # fmt: skip
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)["data"]
    assert data["done"] is True and data["done_reason"] in ("stop", "length")
    assert data["metrics"]["eval_count"] and data["metrics"]["eval_count"] <= 16
    assert data["ttft_ms"] is not None and data["ttft_ms"] > 0


def test_compare_ephemeral_matrix_live(live_host: str, live_model: str, tmp_path: Path) -> None:
    for name, temp in (("cold", 0.0), ("warm", 0.9)):
        (tmp_path / f"{name}.yaml").write_text(
            f"name: live-{name}\nfrom: {live_model}\nparameters:\n  temperature: {temp}\n  seed: 3\n"
            "  num_predict: 12\n",
            encoding="utf-8",
        )
    r = invoke("compare", "cold.yaml", "warm.yaml", "--ephemeral", "--prompt", "Name a fruit.", "--repeat", "2",
               "--format", "json", host=live_host, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)["data"]
    assert all(c["status"] == "ok" and c["eval_count"] for c in data["cells"])
    assert {s["profile"] for s in data["summary"]} == {"live-cold", "live-warm"}
