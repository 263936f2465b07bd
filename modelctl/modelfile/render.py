"""Render a profile to a Modelfile with Jinja, then prove the result reads back as intended.

The Jinja environment is sandboxed (a user template cannot reach Python internals),
undefined names are errors (StrictUndefined), trailing newlines are kept and nothing is
HTML-escaped. After rendering, the text is parsed with Ollama's grammar
(:mod:`modelctl.modelfile.grammar`) and compared, field by field, with the profile's intent:
a difference is an error naming the field, never a Modelfile that Ollama reads differently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypedDict

from modelctl.common.files import not_regular, open_regular, read_bounded
from modelctl.common.jsontypes import JSONObject
from modelctl.common.limits import MODELFILE_BYTES, TEMPLATE_BYTES
from modelctl.errors import (
    CheckFailed,
    Diagnostic,
    ExitCode,
    InvalidInput,
    JobResult,
    ModelfileError,
    ProfileError,
    TemplateError,
)
from modelctl.modelfile.grammar import (
    ModelSpec,
    decode,
    format_parameter_value,
    parse_modelfile,
    quote_value,
)
from modelctl.modelfile.sandbox import TemplateBoundError, compile_template, new_environment, render_bounded
from modelctl.ollama.wire import as_sent
from modelctl.profile.params import ParamValue
from modelctl.profile.profile import LoadedProfile, load_profile
from modelctl.profile.yamlio import decode_text

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_ENV_CACHE: dict[tuple[str, float], Any] = {}


@lru_cache(maxsize=1)
def default_template_path() -> Path:
    """The shipped template: inside the installed package, or the repository's templates/."""
    for cand in (_PACKAGE_DIR / "templates" / "Modelfile.j2", _PACKAGE_DIR.parent / "templates" / "Modelfile.j2"):
        if cand.is_file():
            return cand
    raise TemplateError("the default Modelfile template is missing from the installation")  # pragma: no cover


class ParamLine(TypedDict):
    """One PARAMETER entry for templates: ``name``, typed ``value`` and the profile ``field``."""

    name: str
    value: ParamValue
    field: str


class TemplateContext(TypedDict):
    """What a Modelfile template sees (docs/templates.md): the profile, paths as they are to be written."""

    source: str
    name: str
    description: str | None
    description_lines: list[str]
    from_: str
    projectors: list[str]
    adapters: list[str]
    draft: str | None
    system: str | None
    template: str | None
    parameters: list[ParamLine]
    messages: list[dict[str, str]]
    license: list[str]
    requires: str | None
    renderer: str | None
    parser: str | None
    quantize: str | None
    draft_quantize: str | None


def _param_line(name: str, value: ParamValue, field: str) -> ParamLine:
    return {"name": name, "value": value, "field": field}


@dataclass
class Rendered(JobResult):
    """A rendered Modelfile, its parsed form (proven equal to the profile) and the profile."""

    text: str
    spec: ModelSpec
    from_: str
    loaded: LoadedProfile
    adapters: list[str] = field(default_factory=list)
    template_path: str = ""


def _comment(value: Any) -> str:
    return re.sub(r"[\r\n]+", " ", str(value))


class _QuoteError(Exception):
    def __init__(self, err: ModelfileError, field: str) -> None:
        super().__init__(str(err))
        self.err = err
        self.field = field


def _q(value: Any, field: str) -> str:
    if not isinstance(value, str):
        value = str(value)
    try:
        return quote_value(value, field=field)
    except ModelfileError as exc:
        raise _QuoteError(exc, field) from None


def _pv(p: Any) -> str:
    if not isinstance(p, dict) or not {"name", "value", "field"} <= p.keys():
        raise TypeError("pv expects an entry of `parameters`")
    try:
        return format_parameter_value(p["name"], p["value"])
    except ModelfileError as exc:
        raise _QuoteError(exc, p["field"]) from None


def _environment() -> Any:
    from jinja2 import StrictUndefined

    env = new_environment(  # Jinja's immutable sandbox, with every render bounded (sandbox.py)
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters["q"] = _q
    env.filters["pv"] = _pv
    env.filters["comment"] = _comment
    return env


def _load_template(path: Path) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        st = path.stat()
    except OSError:
        raise TemplateError("template file not found", file=str(path)) from None
    key = (str(path), st.st_mtime)
    cached = _ENV_CACHE.get(key)
    if cached is not None:
        return cached
    raw = read_bounded(path, TEMPLATE_BYTES, what="template", error=TemplateError)  # no FIFO, no device
    try:
        source = decode_text(raw, str(path), what="template")
    except ProfileError as exc:  # decode_text speaks of profiles: re-badge as a template problem
        raise TemplateError(exc.message, file=str(path), line=exc.line, column=exc.column) from None
    env = _environment()
    try:
        tmpl = compile_template(env, source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {exc.message}", file=str(path), line=exc.lineno) from None
    except TemplateBoundError as exc:
        raise TemplateError(f"template refused: {exc}", file=str(path)) from None
    except (RecursionError, MemoryError, ValueError, OverflowError, SyntaxError) as exc:  # nesting, huge literals
        raise TemplateError(f"template cannot be compiled: {type(exc).__name__}: {exc}", file=str(path)) from None
    tmpl.filename_for_errors = str(path)
    _ENV_CACHE[key] = tmpl
    return tmpl


# What a template's own operations raise (``truncate(-1)`` asserts, ``range(10**9)`` overflows...):
# a template error at its line, never an internal error.
_TEMPLATE_FAILURES = (
    TypeError,
    ValueError,
    AttributeError,
    LookupError,
    ArithmeticError,
    AssertionError,
    RecursionError,
    MemoryError,
)


def _template_line(exc: BaseException) -> int | None:
    """The template line an exception was raised at (Jinja rewrites tracebacks to template lines)."""
    import traceback  # only when a template fails: every profile command imports this module

    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def _path_for(abs_path: Path, mode: str, target_dir: Path | None) -> str:
    if mode == "absolute" or target_dir is None:
        return str(abs_path)
    rel = os.path.relpath(abs_path, target_dir.resolve())
    if rel.startswith(".."):
        return rel
    return "./" + rel


def _source(path: Path, target_dir: Path | None) -> str:
    """The profile's path for the header comment: relative to where the Modelfile is written
    (so ``render --check DIR`` finds it from there), else to the current folder."""
    try:
        return os.path.relpath(path, target_dir.resolve() if target_dir is not None else None)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(path)


def context_for(loaded: LoadedProfile, *, paths: str = "absolute", target_dir: Path | None = None) -> TemplateContext:
    prof = loaded.profile
    base = prof.base_path()
    from_ = _path_for(base, paths, target_dir) if base is not None else prof.from_
    adapters = [_path_for(a, paths, target_dir) for a in prof.adapter_paths()]
    draft = prof.draft_path()
    params: list[ParamLine] = []
    for name, value in prof.parameters.as_dict().items():
        if isinstance(value, list):  # stop
            params += [_param_line(name, s, f"parameters.{name}[{i}]") for i, s in enumerate(value)]
        else:
            params.append(_param_line(name, value, f"parameters.{name}"))
    return {
        "source": _source(loaded.path, target_dir if paths == "relative" else None),
        "name": prof.name,
        "description": prof.description,
        "description_lines": [ln for ln in re.split(r"\r\n|\r|\n", prof.description or "") if ln.strip()],
        "from_": from_,
        "projectors": [_path_for(p, paths, target_dir) for p in prof.projector_paths()],
        "adapters": adapters,
        "draft": _path_for(draft, paths, target_dir) if draft is not None else None,
        "system": prof.system,
        "template": prof.template,
        "parameters": params,
        "messages": [{"role": m.role, "content": m.content} for m in prof.messages],
        "license": list(prof.license),
        "requires": prof.requires,
        "renderer": prof.renderer,
        "parser": prof.parser,
        "quantize": prof.quantize,
        "draft_quantize": prof.draft_quantize,
    }


def render(
    loaded: LoadedProfile,
    *,
    template: str | None = None,
    paths: Literal["absolute", "relative"] = "absolute",
    target_dir: Path | None = None,
) -> Rendered:
    tpath = Path(template) if template else default_template_path()
    tmpl = _load_template(tpath)
    ctx = context_for(loaded, paths=paths, target_dir=target_dir)
    from jinja2 import TemplateError as JinjaError
    from jinja2 import UndefinedError
    from jinja2.exceptions import SecurityError

    try:
        text = render_bounded(tmpl, ctx)
    except _QuoteError as qe:
        f, line, col = loaded.where(qe.field)
        raise ModelfileError(
            qe.err.message, file=f, line=line, column=col, field=qe.field, code="unrepresentable"
        ) from None
    except SecurityError as exc:
        raise TemplateError(
            f"template refused: {exc} (templates cannot reach Python internals)",
            file=str(tpath),
            line=_template_line(exc),
        ) from None
    except UndefinedError as exc:
        raise TemplateError(f"undefined variable: {exc.message}", file=str(tpath), line=_template_line(exc)) from None
    except TemplateBoundError as exc:
        raise TemplateError(f"template refused: {exc}", file=str(tpath), line=_template_line(exc)) from None
    except JinjaError as exc:
        raise TemplateError(f"template error: {exc}", file=str(tpath), line=_template_line(exc)) from None
    except _TEMPLATE_FAILURES as exc:
        raise TemplateError(
            f"template error: {type(exc).__name__}: {exc}", file=str(tpath), line=_template_line(exc)
        ) from None
    try:
        spec = parse_modelfile(text, filename=f"{tpath.name} output")
    except ModelfileError as exc:
        raise CheckFailed(
            f"the rendered Modelfile is not valid for Ollama: {exc.message}",
            file=str(tpath),
            code="round_trip",
        ) from None
    check_round_trip(loaded, spec, ctx, template_file=str(tpath))
    return Rendered(
        text=text, spec=spec, from_=ctx["from_"], loaded=loaded, adapters=ctx["adapters"], template_path=str(tpath)
    )


def render_profile(
    ref: str,
    overrides: Sequence[str] = (),
    *,
    template: str | None = None,
    target_dir: Path | None = None,
    local_files: bool = True,
) -> Rendered:
    """Load the profile ``ref`` and render it. Local paths are written relative to
    ``target_dir`` (where the Modelfile will be written), or absolute without it.
    ``local_files=False``: the local files it names are not looked at (``loaded.unchecked``)."""
    loaded = load_profile(ref, overrides, local_files=local_files)
    return render(
        loaded, template=template, paths="absolute" if target_dir is None else "relative", target_dir=target_dir
    )


def intent(loaded: LoadedProfile, ctx: TemplateContext) -> dict[str, object]:
    """What Ollama must read back from the rendered Modelfile."""
    prof = loaded.profile
    requires = prof.requires[1:] if prof.requires and prof.requires.startswith("v") else prof.requires
    return {
        "from": [ctx["from_"], *ctx["projectors"]],
        "adapters": list(ctx["adapters"]),
        "system": prof.system or None,
        "template": prof.template or None,
        "parameters": {k: as_sent(v) for k, v in prof.parameters.as_dict().items()},
        "messages": [{"role": m.role, "content": m.content} for m in prof.messages],
        "license": list(prof.license),
        "requires": requires,
        "renderer": prof.renderer,
        "parser": prof.parser,
        "draft": [ctx["draft"]] if ctx["draft"] is not None else [],
    }


def spec_fields(spec: ModelSpec) -> dict[str, object]:
    return {
        "from": list(spec.froms),
        "adapters": list(spec.adapters),
        "system": spec.system or None,
        "template": spec.template or None,
        "parameters": dict(spec.parameters),
        "messages": [dict(m) for m in spec.messages],
        "license": list(spec.license),
        "requires": spec.requires,
        "renderer": spec.renderer,
        "parser": spec.parser,
        "draft": list(spec.drafts),
    }


def check_round_trip(loaded: LoadedProfile, spec: ModelSpec, ctx: TemplateContext, *, template_file: str) -> None:
    want = intent(loaded, ctx)
    got = spec_fields(spec)
    for key, expected in want.items():
        actual = got[key]
        if key == "parameters" and isinstance(expected, dict) and isinstance(actual, dict):
            names = sorted(set(expected) | set(actual), key=lambda n: (n not in expected, n))
            for n in names:
                if n not in actual:
                    _mismatch(loaded, f"parameters.{n}", "missing from the rendered Modelfile", template_file)
                if n not in expected:
                    _mismatch(loaded, f"parameters.{n}", "set by the template but not by the profile", template_file)
                if not _same(expected[n], actual[n]):
                    _mismatch(
                        loaded,
                        f"parameters.{n}",
                        f"the profile says {expected[n]!r}, the Modelfile reads back {actual[n]!r}",
                        template_file,
                    )
        elif expected != actual:
            _mismatch(
                loaded,
                key,
                f"the profile says {_short(expected)}, the Modelfile reads back {_short(actual)}",
                template_file,
            )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b) and type(a) is type(b) or (isinstance(a, float) and isinstance(b, float) and a == b)


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


def _mismatch(loaded: LoadedProfile, field_name: str, detail: str, template_file: str) -> None:
    f, line, col = loaded.where(field_name)
    raise CheckFailed(
        f"round-trip check failed: {detail} (template {template_file})",
        file=f,
        line=line,
        column=col,
        field=field_name,
        code="round_trip",
    )


# -------------------------------------------------------------------------------------------
# render --check: a committed Modelfile against what its profile renders
# -------------------------------------------------------------------------------------------

_HEADER = re.compile(r"^# Modelfile generated by modelctl from (.+); edit the profile, not this file\.$")
_HEADER_PEEK = 4096  # the header is the first line: never read more of a file to find it


@dataclass
class ModelfileCheck:
    """One committed Modelfile against its profile's rendering (paths relative to its folder)."""

    modelfile: Path
    profile: str
    equal: bool
    diff: str  # unified diff, committed -> rendered ("" when equal)
    note: str = ""  # why it differs when there is no diff to show (the profile is gone)

    def to_dict(self) -> JSONObject:
        return {
            "modelfile": str(self.modelfile),
            "profile": self.profile,
            "equal": self.equal,
            "diff": self.diff,
            "note": self.note or None,
        }


@dataclass
class RenderCheck(JobResult):
    """``render --check``: every Modelfile checked, and the files skipped (with why)."""

    checks: list[ModelfileCheck]
    skipped: list[Diagnostic] = field(default_factory=list)

    @property
    def drift(self) -> bool:
        return any(not c.equal for c in self.checks)

    def outcome_codes(self) -> list[ExitCode]:
        """A committed Modelfile that differs from its rendering: drift, 3."""
        return [ExitCode.DRIFT if self.drift else ExitCode.OK]

    def to_dict(self) -> JSONObject:
        return {
            "drift": self.drift,
            "checks": [c.to_dict() for c in self.checks],
            "skipped": [{"file": d.file, "reason": d.message} for d in self.skipped],
        }


def check_modelfile(
    ref: str,
    modelfile: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    *,
    template: str | None = None,
    local_files: bool = True,
) -> ModelfileCheck:
    """Render ``ref`` as if written beside ``modelfile`` and compare the texts, byte for byte."""
    path = Path(modelfile)
    raw = read_bounded(path, MODELFILE_BYTES, what="Modelfile")
    committed = decode(raw)
    rendered = render_profile(
        ref, overrides, template=template, target_dir=path.resolve().parent, local_files=local_files
    ).text
    if committed == rendered:
        return ModelfileCheck(path, ref, True, "")
    import difflib  # only for a Modelfile that differs

    diff = difflib.unified_diff(
        _lines(committed),
        _lines(rendered),
        fromfile=f"{path} (committed)",
        tofile=f"{path} (rendered from {ref})",
    )
    return ModelfileCheck(path, ref, False, "".join(line if line.endswith("\n") else line + "\n" for line in diff))


def _lines(text: str) -> list[str]:
    """Lines as a Modelfile has them: ended by LF only (``str.splitlines`` would also break at a
    CR, a form feed or U+2028, making a diff show lines the file does not have)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _header_profile(path: Path) -> str | None:
    """The profile a Modelfile's generated header names, as a path (None without a header)."""
    try:
        fh, _size = open_regular(path, what="file")  # never blocks: the kind is checked before the open
        with fh:
            head = fh.read(_HEADER_PEEK)
    except (InvalidInput, OSError):
        return None
    first = decode(head).removeprefix("\ufeff").split("\n", 1)[0].rstrip("\r")
    m = _HEADER.match(first)
    if m is None:
        return None
    named = m.group(1)
    beside = path.parent / named
    return str(beside) if beside.is_file() else named  # older renders named it from the current folder


def check_directory(
    directory: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    *,
    template: str | None = None,
    local_files: bool = True,
) -> RenderCheck:
    """``render --check DIR``: every file under DIR whose first line is modelctl's header, paired
    with the profile that header names; other files are skipped."""
    root = Path(directory)
    result = RenderCheck([])
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for n in sorted(names):
            path = Path(dirpath) / n
            odd = not_regular(path, what="Modelfile")
            if odd is not None:  # a FIFO, device or socket under DIR is never opened
                result.skipped.append(Diagnostic("not_regular", f"{odd}: skipped", str(path)))
                continue
            ref = _header_profile(path)
            if ref is None:
                continue
            if not Path(ref).is_file():
                note = f"the profile its header names is not there (renamed or deleted?): {ref}"
                result.checks.append(ModelfileCheck(path, ref, False, "", note))
                continue
            result.checks.append(check_modelfile(ref, path, overrides, template=template, local_files=local_files))
    if not result.checks and not result.skipped:
        result.skipped.append(
            Diagnostic("no_modelfiles", f"no Modelfile generated by modelctl under {root}", str(root))
        )
    return result
