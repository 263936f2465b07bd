"""Live: the real server accepts and refuses TEMPLATE values exactly as modelctl.modelfile.gotemplate says.

Each row of tests/test_gotemplate.py's GO_TABLE, then random template-like text, goes to
``/api/create`` (``from`` a tiny GGUF model created here) and the server's answer is compared with
:func:`modelctl.modelfile.gotemplate.check` under the function map of the server's version. Texts with a
``template`` call are not sent: a call without a value crashes an Ollama 0.9.3 server.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import httpx
import pytest

from modelctl.modelfile.gotemplate import OLLAMA_FUNCS, GoTemplateError, check
from modelctl.ollama.wire import older_than
from tests.fixtures_gguf import write_tiny_llama
from tests.test_gotemplate import GO_TABLE

pytestmark = pytest.mark.live

_PIECES = ["{{", "}}", "{{- ", " -}}", "{{/*", "*/}}", " ", "\n", ".", ".A", "$", "$x", ":=", "=", "|", "(", ")", ",",
           '"', "`", "'", "\\", "if", "else", "end", "range", "with", "define", "block", "break", "continue", "nil",
           "true", "1", "-", "+", "e", "0x", "_", "i", "json", "len", "nosuch", "x", "@", " .Prompt ", "{{ ", " }}",
           "{{ if .A }}", "{{ end }}", "{{ range $i, $m := .B }}", "{{ else }}", "3.5", "'a'", '"s"', "é"]  # fmt: skip


@pytest.fixture(scope="module")
def server(live_host: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[httpx.Client, frozenset[str]]:
    client = httpx.Client(base_url=live_host, timeout=60)
    data = write_tiny_llama(Path(tmp_path_factory.mktemp("gguf")) / "tiny.gguf").read_bytes()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if client.head(f"/api/blobs/{digest}").status_code != 200:
        client.post(f"/api/blobs/{digest}", content=data).raise_for_status()
    r = client.post(
        "/api/create", json={"model": "modelctl-live-tmplbase", "files": {"tiny.gguf": digest}, "stream": False}
    )
    assert r.status_code == 200, r.text
    version = client.get("/api/version").json()["version"]
    funcs = frozenset(name for name, since in OLLAMA_FUNCS.items() if not older_than(version, since))
    return client, funcs


def server_says(client: httpx.Client, template: str) -> str | None:
    r = client.post(
        "/api/create",
        json={"model": "modelctl-live-tmpl", "from": "modelctl-live-tmplbase", "template": template, "stream": False},
    )
    if r.status_code == 200:
        return None
    return str(r.json().get("error", r.text)).removeprefix("template error: ")


def we_say(template: str, funcs: frozenset[str]) -> str | None:
    try:
        check(template, funcs)
    except GoTemplateError as exc:
        return exc.message
    return None


def test_table_agrees_with_the_server(server: tuple[httpx.Client, frozenset[str]]) -> None:
    client, funcs = server
    differ = [(t, server_says(client, t), we_say(t, funcs)) for t, _ in GO_TABLE]
    assert [d for d in differ if d[1] != d[2]] == []


def test_random_text_agrees_with_the_server(server: tuple[httpx.Client, frozenset[str]]) -> None:
    client, funcs = server
    rng = random.Random(18)
    texts = ["".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 14))) for _ in range(300)]
    differ = [(t, server_says(client, t), we_say(t, funcs)) for t in texts if "template" not in t]
    assert [d for d in differ if d[1] != d[2]] == []
