"""The JSON modelctl sends to Ollama and the answers it reads back, as types.

Field names and meanings are Ollama's ``api/types.go`` (``CreateRequest``, ``GenerateRequest``,
``ChatRequest``, ``ShowRequest``, ``PullRequest``, ``PushRequest``, ``CopyRequest``,
``DeleteRequest``; ``ShowResponse``, ``ModelDetails``, ``Tensor``, ``ListResponse``,
``ListModelResponse``, ``ProcessResponse``, ``ProcessModelResponse``, ``ProgressResponse``,
``GenerateResponse``, ``ChatResponse``, ``Message``, ``Metrics``; ``server/routes.go`` for
``/api/version``). The double the tests run against (``tests/ollama_double.py``) answers as
Ollama v0.9.3 does.

Requests list what modelctl fills in. Answers list the fields some part of modelctl reads, with
the types modelctl/ollama/answers.py checks before anything reads them: there a field may be
absent or ``null`` (Go writes a nil slice as ``null``; a proxy may drop a field), so an answer's
fields are optional and may be ``None``; a field answers.py does not check is ``object``. An answer
keeps every field the server sent (the TypedDicts do not list them all); what varies by model
(``model_info``'s keys depend on the architecture, ``projector_info``'s on the projector) is an
open mapping, :data:`ModelInfo`.

Types only: nothing here runs. Every module that names them imports this one when type checking.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TypeAlias, final

if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:  # pragma: no cover - pydantic brings typing_extensions
    from typing_extensions import NotRequired, TypedDict

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.profile.params import Params

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "Chunk",
    "ChunkMessage",
    "CreateRequest",
    "GenerateRequest",
    "ModelDetails",
    "ModelInfo",
    "Options",
    "ProgressLine",
    "PsEntry",
    "PsResponse",
    "ShowMessage",
    "ShowResponse",
    "TagsEntry",
    "TagsResponse",
    "Tensor",
    "VersionResponse",
]

# --------------------------------------------------------------------------- requests

#: ``options`` of /api/generate and /api/chat (Go's ``map[string]any``, read into ``Options`` and
#: ``Runner``): parameters by name, as the catalogue types them (modelctl/profile/params.py).
Options: TypeAlias = "Params"


class ChatMessage(TypedDict):
    """A message modelctl sends: a profile's ``messages``, a chat's history, the prompt (``Message``)."""

    role: str
    content: str


#: ``POST /api/create`` (``CreateRequest``), the JSON form Ollama's CLI sends since v0.5.5. ``from``
#: is a Python keyword, hence the functional form.
CreateRequest = TypedDict(
    "CreateRequest",
    {
        "model": str,
        "from": NotRequired[str],
        "files": NotRequired["dict[str, str]"],  # file name -> blob digest
        "adapters": NotRequired["dict[str, str]"],
        "draft_files": NotRequired["dict[str, str]"],
        "template": NotRequired[str],
        "system": NotRequired[str],
        "parameters": NotRequired["Params"],
        "messages": NotRequired["list[ChatMessage]"],
        "license": NotRequired["list[str]"],
        "quantize": NotRequired[str],
        "draft_quantize": NotRequired[str],
        "requires": NotRequired[str],
        "renderer": NotRequired[str],
        "parser": NotRequired[str],
        "stream": NotRequired[bool],
    },
)


@final  # final: ``"messages" in body`` tells a chat request from a generate one
class GenerateRequest(TypedDict):
    """``POST /api/generate`` (``GenerateRequest``)."""

    model: str
    prompt: NotRequired[str]
    system: NotRequired[str]
    template: NotRequired[str]
    raw: NotRequired[bool]
    stream: NotRequired[bool]
    keep_alive: NotRequired[str | float]  # a Go duration ("5m") or seconds
    options: NotRequired[Options]
    truncate: NotRequired[bool]


@final
class ChatRequest(TypedDict):
    """``POST /api/chat`` (``ChatRequest``)."""

    model: str
    messages: list[ChatMessage]
    stream: NotRequired[bool]
    keep_alive: NotRequired[str | float]
    options: NotRequired[Options]
    truncate: NotRequired[bool]


class ShowRequest(TypedDict):
    """``POST /api/show`` (``ShowRequest``)."""

    model: str
    verbose: NotRequired[bool]


class TransferRequest(TypedDict):
    """``POST /api/pull`` and ``POST /api/push`` (``PullRequest``, ``PushRequest``)."""

    model: str
    stream: bool
    insecure: NotRequired[bool]


class CopyRequest(TypedDict):
    """``POST /api/copy`` (``CopyRequest``)."""

    source: str
    destination: str


class DeleteRequest(TypedDict):
    """``DELETE /api/delete`` (``DeleteRequest``)."""

    model: str


# --------------------------------------------------------------------------- answers

#: ``model_info`` (``map[string]any``): GGUF metadata by key, the keys depending on the architecture
#: (``general.architecture``, then ``<arch>.context_length``, ``<arch>.block_count``...); also
#: ``projector_info``. Only ``general.architecture`` is checked (text).
ModelInfo: TypeAlias = "dict[str, object]"


class ModelDetails(TypedDict, total=False):
    """``details`` of /api/show, /api/tags and /api/ps entries (``ModelDetails``)."""

    parent_model: str | None
    format: str | None
    family: str | None
    families: list[str] | None
    parameter_size: str | None
    quantization_level: str | None
    context_length: int | None
    embedding_length: int | None


class Tensor(TypedDict, total=False):
    """An entry of /api/show ``tensors`` (``Tensor``), listed with ``verbose``."""

    name: str | None
    type: str | None
    shape: list[int] | None


class ShowMessage(TypedDict):
    """An entry of /api/show ``messages`` (``Message``): role and content are checked and required."""

    role: str
    content: str


class ShowResponse(TypedDict, total=False):
    """``POST /api/show`` (``ShowResponse``). ``parameters`` is Go-syntax text (modelctl/ollama/wire.py
    parses it); ``modified_at`` an RFC 3339 time."""

    parameters: str | None
    template: str | None
    system: str | None
    license: str | None
    modelfile: str | None
    requires: str | None
    renderer: str | None
    parser: str | None
    modified_at: str | None
    details: ModelDetails | None
    model_info: ModelInfo | None
    projector_info: ModelInfo | None
    tensors: list[Tensor] | None
    capabilities: list[str] | None
    messages: list[ShowMessage] | None
    remote_model: object
    remote_host: object


class TagsEntry(TypedDict, total=False):
    """An entry of /api/tags ``models`` (``ListModelResponse``)."""

    name: str | None
    model: str | None
    digest: str | None  # the manifest's digest, hex without ``sha256:``
    size: int | None
    details: ModelDetails | None
    modified_at: str | None
    capabilities: list[str] | None
    remote_model: str | None
    remote_host: str | None


class TagsResponse(TypedDict, total=False):
    """``GET /api/tags`` (``ListResponse``)."""

    models: list[TagsEntry] | None


class PsEntry(TypedDict, total=False):
    """An entry of /api/ps ``models`` (``ProcessModelResponse``): a loaded runner."""

    name: str | None
    model: str | None
    digest: str | None
    size: int | None
    details: ModelDetails | None
    size_vram: int | None
    context_length: int | None
    expires_at: str | None  # an RFC 3339 time (checked)


class PsResponse(TypedDict, total=False):
    """``GET /api/ps`` (``ProcessResponse``)."""

    models: list[PsEntry] | None


class VersionResponse(TypedDict):
    """``GET /api/version``: ``{"version": "0.12.3"}`` (checked: present, short, no spaces)."""

    version: str


class ProgressLine(TypedDict, total=False):
    """A line of /api/create, /api/pull and /api/push (``ProgressResponse``)."""

    status: str | None
    digest: str | None
    total: int | None
    completed: int | None


class ChunkMessage(TypedDict, total=False):
    """``message`` of a line of /api/chat (``Message``)."""

    role: str | None
    content: str | None
    thinking: str | None
    tool_calls: list[object] | None
    images: list[object] | None


class Chunk(TypedDict, total=False):
    """A line of /api/generate (``GenerateResponse``) or /api/chat (``ChatResponse``); the last one
    (``done``) carries the ``Metrics``: counts, and durations in nanoseconds."""

    model: str | None
    created_at: str | None
    response: str | None  # generate
    thinking: str | None  # generate
    message: ChunkMessage | None  # chat
    done: bool | None
    done_reason: str | None
    context: list[object] | None
    total_duration: int | None
    load_duration: int | None
    prompt_eval_count: int | None
    prompt_eval_duration: int | None
    eval_count: int | None
    eval_duration: int | None
