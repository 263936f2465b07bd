"""Inventories of Ollama hosts (``--hosts FILE``), and which hosts a run talks to.

An inventory names each server once (docs/fleet.md)::

    hosts:
      workstation: http://127.0.0.1:11434          # a name and its URL
      staging:
        url: https://staging.example.com
        headers:
          Authorization: "Bearer ${STAGING_TOKEN}"  # read from the environment, never written here
        profiles: [profiles/*.yaml]                  # names and globs, relative to this file
        facts:                                       # what the API does not say: for estimate and show
          OLLAMA_CONTEXT_LENGTH: 8192
          OLLAMA_NUM_PARALLEL: 2
          OLLAMA_KV_CACHE_TYPE: q8_0
          gpu_memory: 24GiB
        insecure_registries: [registry.lan:5000]     # base models pulled from it over http
    insecure_registries: [127.0.0.1]                 # for every host
    registry:                                        # where `build --via-registry` ships models
      url: registry.lan:5000/team                    # HOST[:PORT]/NAMESPACE
      insecure: true                                 # served over http: added to insecure_registries

It is read like a profile (bounded, YAML 1.2, a position for every value) and checked strictly:
every problem is reported at once, each as ``file:line:column: field: message`` (unknown keys
with a did-you-mean, names, URLs, duplicate servers, a header whose environment variable is
unset). A header's value never appears in any message.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelctl.common.files import ALLOW_ENV, allowed_env, confined, read_bounded
from modelctl.common.limits import INVENTORY_BYTES, INVENTORY_HOSTS, INVENTORY_PROFILES
from modelctl.common.units import parse_size
from modelctl.errors import Diagnostic, InvalidInput, ModelctlError, ProfileError, UsageProblem
from modelctl.ollama.hosts import HostFacts, HostRef, HostSpec, parse_host, redact
from modelctl.ollama.registry import RegistrySpec, parse_destination, parse_registry
from modelctl.profile import yamlio
from modelctl.profile.params import KV_CACHE_TYPES, suggest
from modelctl.profile.profile import resolve_ref

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token (RFC 9110)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$")
_TOP_KEYS = ("hosts", "insecure_registries", "registry", "version")
_REGISTRY_KEYS = ("url", "insecure")
_HOST_KEYS = ("url", "headers", "profiles", "facts", "insecure_registries")
_BACKENDS = ("cuda", "rocm", "metal")


class InventoryError(InvalidInput):
    code = "inventory"


@dataclass
class Inventory:
    """The hosts of one inventory file, in file order, and the warnings it deserves."""

    path: Path
    hosts: list[HostSpec]
    warnings: list[Diagnostic] = field(default_factory=list)
    registry: RegistrySpec | None = None  # `registry:`: where `build --via-registry` ships models

    def get(self, name: str) -> HostSpec | None:
        return next((h for h in self.hosts if h.name == name), None)


@dataclass
class Selection:
    """The hosts one run talks to (at least one), and the inventory's warnings."""

    hosts: list[HostSpec]
    inventory: Inventory | None = None

    @property
    def warnings(self) -> list[Diagnostic]:
        return list(self.inventory.warnings) if self.inventory is not None else []

    @property
    def many(self) -> bool:
        return len(self.hosts) > 1


# ----------------------------------------------------------------------------------- reading


class _Reader:
    """Checks one inventory document, collecting every problem (a Diagnostic each)."""

    def __init__(self, doc: yamlio.Document, path: Path, environ: Mapping[str, str]) -> None:
        self.doc = doc
        self.path = path
        self.environ = environ
        # Confined (--confine, $MODELCTL_CONFINE): only the variables $MODELCTL_ALLOW_ENV names, for an
        # inventory from a repository could otherwise send any variable to any URL it names.
        self.allowed = allowed_env(environ) if confined(environ) else None
        self.problems: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.registry: RegistrySpec | None = None

    def at(self, where: tuple[str | int, ...], message: str, *, key: bool = False, warn: bool = False) -> None:
        line, col = self.doc.position(where, prefer_key=key)
        d = Diagnostic("inventory", message, self.doc.file, line, col, yamlio.dotted(where) or None)
        (self.warnings if warn else self.problems).append(d)

    def unknown(self, where: tuple[str | int, ...], key: str, known: Sequence[str]) -> None:
        hint = suggest(key, known)
        extra = f" (did you mean '{hint}'?)" if hint else f" (expected one of: {', '.join(known)})"
        self.at((*where, key), f"unknown key '{key}'{extra}", key=True)

    def read(self) -> list[HostSpec]:
        data = self.doc.data
        if not isinstance(data, dict):
            self.at((), "an inventory is a mapping with `hosts:` (name: url, or name: {url, headers, ...})")
            return []
        for key in data:
            if key not in _TOP_KEYS:
                self.unknown((), key, _TOP_KEYS)
        if "version" in data and data["version"] != 1:
            self.at(("version",), "version must be 1")
        hosts = data.get("hosts")
        if not isinstance(hosts, dict) or not hosts:
            self.at(("hosts",) if "hosts" in data else (), "`hosts` must map at least one host name to its URL")
            return []
        cap = INVENTORY_HOSTS.value()
        if len(hosts) > cap:
            self.at(("hosts",), f"{len(hosts):,} hosts; at most {cap:,} are read ({INVENTORY_HOSTS.env})")
            return []
        shared = self.registries(("insecure_registries",), data.get("insecure_registries"))
        self.registry = self.shipping(data.get("registry"))
        if self.registry is not None and self.registry.insecure:
            shared = (*shared, self.registry.host)
        out = [h for name, value in hosts.items() if (h := self.host(str(name), value, shared)) is not None]
        self.same_servers(out)
        return out

    def host(self, name: str, value: Any, shared: tuple[str, ...] = ()) -> HostSpec | None:
        where: tuple[str | int, ...] = ("hosts", name)
        if not _NAME.match(name):
            self.at(where, f"host name '{name}': letters, digits, '_', '.', '-', at most 64", key=True)
        if isinstance(value, str):
            value = {"url": value}
        if not isinstance(value, dict):
            self.at(where, "a host is a URL, or a mapping with `url` (and `headers`, `profiles`, `facts`)")
            return None
        for key in value:
            if key not in _HOST_KEYS:
                self.unknown(where, key, _HOST_KEYS)
        url = self.url(where, value.get("url"))
        headers = self.headers((*where, "headers"), value.get("headers"))
        profiles = self.profiles((*where, "profiles"), value.get("profiles"))
        facts = self.facts((*where, "facts"), value.get("facts"))
        registries = self.registries((*where, "insecure_registries"), value.get("insecure_registries"))
        if url is None:
            return None
        base = str(self.path.resolve().parent)
        return HostSpec(url, name, headers, facts, profiles, base, (*shared, *registries))

    def registries(self, where: tuple[str | int, ...], value: Any) -> tuple[str, ...]:
        """``insecure_registries``: registries served over http, each HOST or HOST:PORT (modelctl.ollama.registry)."""
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        out: list[str] = []
        for i, item in enumerate(items):
            here = (*where, i) if isinstance(value, list) else where
            try:
                if not isinstance(item, str):
                    raise ValueError("a registry is HOST or HOST:PORT, a string")
                parse_registry(item)
            except ValueError as exc:
                self.at(here, str(exc))
                continue
            out.append(item.strip())
        return tuple(out)

    def shipping(self, value: Any) -> RegistrySpec | None:
        """``registry``: ``HOST[:PORT]/NAMESPACE``, or ``{url: HOST[:PORT]/NAMESPACE, insecure: true}``."""
        where: tuple[str | int, ...] = ("registry",)
        if value is None:
            return None
        if isinstance(value, str):
            value = {"url": value}
        if not isinstance(value, dict):
            self.at(where, "`registry` is {url: HOST:PORT/NAMESPACE, insecure: true|false}")
            return None
        for key in value:
            if key not in _REGISTRY_KEYS:
                self.unknown(where, str(key), _REGISTRY_KEYS)
        insecure = value.get("insecure", False)
        if not isinstance(insecure, bool):
            self.at((*where, "insecure"), f"expected true or false, got {insecure!r}")
        url = value.get("url")
        if not isinstance(url, str):
            self.at(
                where if url is None else (*where, "url"), "`url` is the registry and namespace, HOST:PORT/NAMESPACE"
            )
            return None
        try:
            destination = parse_destination(url)
        except ValueError as exc:
            self.at((*where, "url"), f"{url!r}: {exc}")
            return None
        return RegistrySpec(destination, insecure is True)

    def url(self, where: tuple[str | int, ...], value: Any) -> str | None:
        if value is None:
            self.at(where, "`url` is required (e.g. http://gpu-box:11434)", key=True)
            return None
        if not isinstance(value, str) or not value.strip():
            self.at((*where, "url"), "`url` must be a URL such as http://gpu-box:11434")
            return None
        try:
            return parse_host(value)
        except InvalidInput as exc:
            self.at((*where, "url"), exc.message)
            return None

    def headers(self, where: tuple[str | int, ...], value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.at(where, "`headers` maps header names to values")
            return {}
        out: dict[str, str] = {}
        for name, raw in value.items():
            here = (*where, name)
            if not _HEADER_NAME.match(str(name)):
                self.at(here, f"'{name}' is not a valid HTTP header name", key=True)
                continue
            if not isinstance(raw, str):
                self.at(here, "a header value is a string (write a secret as ${VARIABLE})")
                continue
            text = self.expand(here, str(name), raw)
            if text is None:
                continue
            if any(c in text for c in "\r\n\0"):
                # Never echo the value: it may be a secret.
                self.at(here, f"the value of header {name} holds a line break or NUL")
                continue
            if str(name).lower() in ("authorization", "proxy-authorization") and not _VAR.search(raw):
                self.at(
                    here,
                    f"header {name} is written in the inventory: keep the credential in an environment "
                    "variable and write ${VARIABLE} here",
                    warn=True,
                )
            out[str(name)] = text
        return out

    def expand(self, where: tuple[str | int, ...], header: str, raw: str) -> str | None:
        """``${VAR}`` from the environment (``$$`` is a dollar sign); None when a variable is unset,
        or, confined, not one $MODELCTL_ALLOW_ENV names."""
        missing: list[str] = []
        refused: list[str] = []

        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            var = m.group(1)
            if self.allowed is not None and var not in self.allowed:
                refused.append(var)
                return ""
            if var not in self.environ:
                missing.append(var)
                return ""
            return self.environ[var]

        text = _VAR.sub(sub, raw)
        for var in refused:
            self.at(
                where,
                f"header {header} reads the environment variable {var}, which {ALLOW_ENV} does not name: "
                f"confined (--confine, $MODELCTL_CONFINE), an inventory reads only the variables listed there",
            )
        for var in missing:
            self.at(where, f"header {header} reads the environment variable {var}, which is not set")
        return None if missing or refused else text

    def profiles(self, where: tuple[str | int, ...], value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str) and v.strip() for v in items):
            self.at(where, "`profiles` is a profile name, a path or a glob, or a list of them")
            return None
        return tuple(items)

    def facts(self, where: tuple[str | int, ...], value: Any) -> HostFacts:
        if value is None:
            return HostFacts()
        if not isinstance(value, dict):
            self.at(where, "`facts` maps server settings (OLLAMA_CONTEXT_LENGTH, gpu_memory, ...) to values")
            return HostFacts()
        out: dict[str, Any] = {}
        for key, raw in value.items():
            spec = _FACTS.get(str(key))
            if spec is None:
                self.unknown(where, str(key), list(_FACTS))
                continue
            attr, parse = spec
            try:
                out[attr] = parse(raw)
            except ValueError as exc:
                self.at((*where, str(key)), str(exc))
        return HostFacts(**out)

    def same_servers(self, hosts: list[HostSpec]) -> None:
        seen: dict[str, str] = {}
        for h in hosts:
            key = (h.url or "").lower()
            first = seen.setdefault(key, h.name or "")
            if first != h.name:
                self.at(
                    ("hosts", h.name or ""),
                    f"hosts '{first}' and '{h.name}' are the same server ({redact(h.url or '')}): name it once",
                    key=True,
                )


def _int_in(low: int, high: int) -> Callable[[Any], int]:
    def parse(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise ValueError(f"expected a whole number from {low:,} to {high:,}, got {v!r}")
        return v

    return parse


def _choice(options: Sequence[str]) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        if not isinstance(v, str) or v.lower() not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {v!r}")
        return v.lower()

    return parse


def _bool(v: Any) -> bool:
    """An environment switch as Ollama reads it (strconv.ParseBool): true/false, 1/0."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in _BOOL_TEXT:
        return _BOOL_TEXT[v.strip().lower()]
    raise ValueError(f"expected true or false (or 1 / 0), got {v!r}")


_BOOL_TEXT = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


def _size(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError(f"expected a size such as 24GiB, got {v!r}")
    if isinstance(v, int) and v >= 0:
        return v
    if isinstance(v, str):
        try:
            return parse_size(v, what="size", allow_zero=True)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
    raise ValueError(f"expected a size such as 24GiB, got {v!r}")


#: The facts an inventory may give a host: key -> (HostFacts attribute, parser).
_FACTS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "OLLAMA_CONTEXT_LENGTH": ("context_length", _int_in(1, 1 << 24)),
    "OLLAMA_NUM_PARALLEL": ("num_parallel", _int_in(1, 256)),
    "OLLAMA_KV_CACHE_TYPE": ("kv_cache_type", _choice(KV_CACHE_TYPES)),
    "OLLAMA_FLASH_ATTENTION": ("flash_attention", _bool),
    "OLLAMA_MAX_LOADED_MODELS": ("max_loaded_models", _int_in(0, 1024)),
    "OLLAMA_GPU_OVERHEAD": ("gpu_overhead", _size),
    "gpu_memory": ("gpu_memory", _size),
    "gpu_backend": ("gpu_backend", _choice(_BACKENDS)),
}


def load_inventory(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> Inventory:
    """Read and check an inventory; InventoryError lists every problem (file:line:column each)."""
    p = Path(path)
    try:
        raw = read_bounded(p, INVENTORY_BYTES, what="inventory", error=InventoryError)
        doc = yamlio.load(yamlio.decode_text(raw, str(path), what="inventory"), str(path))
    except ProfileError as exc:  # the YAML layer speaks of profiles: this is an inventory
        raise InventoryError(exc.message, file=exc.file, line=exc.line, column=exc.column, field=exc.field) from None
    reader = _Reader(doc, p, os.environ if environ is None else environ)
    hosts = reader.read()
    if reader.problems:
        h = reader.problems[0]
        raise InventoryError(
            h.message, file=h.file, line=h.line, column=h.column, field=h.field, diagnostics=reader.problems
        )
    return Inventory(p, hosts, reader.warnings, reader.registry)


# ------------------------------------------------------------------------------ selecting hosts


def select_hosts(hosts: Sequence[str] = (), inventory: str | os.PathLike[str] | None = None) -> Selection:
    """The hosts of a run: each ``--host`` (an inventory's host name, or a URL), else every host of
    the inventory, else ``$OLLAMA_HOST`` / the default."""
    inv = load_inventory(inventory) if inventory is not None else None
    cap = INVENTORY_HOSTS.value()
    if len(hosts) > cap:
        raise UsageProblem(f"{len(hosts):,} --host values; at most {cap:,} ({INVENTORY_HOSTS.env})")
    if not hosts:
        return Selection(list(inv.hosts) if inv is not None else [HostSpec()], inv)
    chosen: list[HostSpec] = []
    for value in hosts:
        named = inv.get(value) if inv is not None else None
        if named is None and inv is not None:
            _check_misspelt(value, inv)
        spec = named if named is not None else HostSpec(parse_host(value))
        if any((spec.url or "").lower() == (c.url or "").lower() for c in chosen):
            raise UsageProblem(f"--host {redact(value)} is given twice (or names a server already given)")
        chosen.append(spec)
    return Selection(chosen, inv)


def _check_misspelt(value: str, inv: Inventory) -> None:
    """``--host locl`` beside an inventory naming ``local``: a misspelt name, not a server to look up
    (a DNS error would not say so). A bare word only: a URL, an address or ``localhost`` is a server."""
    if any(c in value for c in ".:/@[") or value.lower() == "localhost":
        return
    hint = suggest(value, [h.name for h in inv.hosts if h.name])
    if hint is not None:
        raise UsageProblem(
            f"--host {value}: no host named '{value}' in {inv.path}; did you mean '{hint}'? "
            f"(for a server of that name, give its URL: http://{value}:11434)"
        )


def pick_host(hosts: Sequence[str], inventory: str | os.PathLike[str] | None, command: str) -> HostSpec:
    """The one server of a command that needs exactly one (``run``, a prompt matrix, ``estimate``...)."""
    if len(hosts) > 1:
        raise UsageProblem(f"{command} talks to one server: give --host once")
    selection = select_hosts(hosts, inventory)
    if selection.many:
        names = ", ".join(h.name or redact(h.url or "") for h in selection.hosts)
        raise UsageProblem(f"{command} talks to one server: pick one of the inventory's hosts with --host ({names})")
    return selection.hosts[0]


def one_host(host: str | None, inventory: str | os.PathLike[str] | None, command: str) -> HostRef:
    """``--host`` and ``--hosts`` of a one-server command as the job takes them (a plain URL stays one)."""
    if inventory is None:
        return host
    return pick_host((host,) if host else (), inventory, command)


def host_label(host: HostSpec) -> str:
    """How a host is named in output: its inventory name, else its URL without credentials."""
    return host.name or redact(parse_host(host.url if host.url else os.environ.get("OLLAMA_HOST")))


# ------------------------------------------------------------------------ a host's profiles


def host_refs(host: HostSpec, refs: Sequence[str]) -> list[str]:
    """The profiles ``host`` gets: ``refs`` when the inventory lists none for it; the inventory's
    (names, paths and globs relative to the inventory) when ``refs`` is empty; else those of
    ``refs`` that the inventory lists too."""
    if host.profiles is None:
        return list(refs)
    listed = _expand(host)
    if not refs:
        return [str(p) for p in listed]
    out = []
    for ref in refs:
        try:
            path = resolve_ref(ref)
        except ModelctlError:
            continue  # loading the profile reports it
        if path in listed:
            out.append(ref)
    return out


def _expand(host: HostSpec) -> list[Path]:
    base = Path(host.base_dir or ".")
    cap = INVENTORY_PROFILES.value()
    found: dict[Path, None] = {}
    for entry in host.profiles or ():
        matches: Iterable[str | Path]
        if glob.has_magic(entry):
            matches = (m for m in glob.iglob(str(base / entry), recursive=True) if os.path.isfile(m))
        elif "/" in entry or entry.endswith((".yaml", ".yml")):
            matches = [base / entry]
        else:
            try:
                matches = [resolve_ref(entry)]  # a profile name, as on the command line
            except ModelctlError as exc:
                raise InventoryError(f"host {host.name}: {exc.message}", field=f"hosts.{host.name}.profiles") from None
        for m in matches:
            found[Path(os.path.normpath(os.path.abspath(m)))] = None
            if len(found) > cap:
                raise InventoryError(
                    f"the profiles of host {host.name} match more than {cap:,} files ({INVENTORY_PROFILES.env})",
                    field=f"hosts.{host.name}.profiles",
                )
    return sorted(found)
