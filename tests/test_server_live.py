"""OllamaClient against a real Ollama server (skipped, with the reason, when none answers)."""

from __future__ import annotations

import pytest

from modelctl.ollama.server import ModelNotFound, OllamaClient

pytestmark = pytest.mark.live


def test_live_version_tags_ps(live_host: str) -> None:
    with OllamaClient(live_host) as c:
        version = c.require_version()
        assert version
        assert isinstance(c.tags()["models"], list)
        assert isinstance(c.ps()["models"], list)


def test_live_unknown_model_is_model_not_found(live_host: str) -> None:
    with OllamaClient(live_host) as c, pytest.raises(ModelNotFound):
        c.show("modelctl-no-such-model:never")


def test_live_blob_head_of_unknown_digest(live_host: str) -> None:
    with OllamaClient(live_host) as c:
        assert c.blob_exists("sha256:" + "0" * 64) is False
