"""tests/real_registry.py without starting anything: the missing-package error and the redirect rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import real_registry


def test_a_missing_package_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(real_registry, "REGISTRY_BIN", str(tmp_path / "docker-registry"))
    with pytest.raises(real_registry.RegistryMissing, match="apt-get install -y docker-registry"):
        real_registry.check_installed()
    with pytest.raises(real_registry.RegistryMissing):
        real_registry.start(5999, run=tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing written before the check


def test_blob_gets_are_redirected_to_another_host_name() -> None:
    conf = real_registry._NGINX_CONFIG.format(user="", run="/r", front=5010, blobs=5011, backend=5012, listen6="")
    assert "location ~ ^/v2/.+/blobs/sha256:[0-9a-f]+$" in conf
    assert "if ($request_method = GET) { return 307 http://localhost:5011$request_uri; }" in conf
    assert conf.count("proxy_pass http://127.0.0.1:5012;") == 3  # HEAD of a blob, everything else, the redirect target
