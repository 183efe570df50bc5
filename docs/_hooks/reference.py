"""MkDocs hook: writes the API reference's mkdocstrings directives from the code.

A reference page holds prose and markers; each marker line becomes `::: aetcd.Name`
directives, so a name added to a public `__all__` appears in the reference without
editing the docs:

* `<!-- api: GROUP -->` documents every public name defined in the modules of GROUP
  (see `GROUPS`), in source order;
* `<!-- api: client-methods -->` documents the methods of `aetcd.Client`, one section
  per service mixin (`KVMixin`, `LeaseMixin`, ...), in source order;
* `<!-- api: unassigned -->` documents the public names no group claims, so nothing
  is ever left out (tests/test_docs.py checks the built site has every name);
* `<!-- api: error-table -->` tabulates every error class with etcd's messages that
  map to it and its retry flags, and `<!-- api: error-tree -->` copies the exception
  tree drawn in `aetcd._exceptions`'s docstring (for guide/errors.md);
* `<!-- api: rpc-table -->` lists every RPC and whether it is resent after a lost
  connection, and `<!-- api: config-table -->` the `ClientConfig` fields with their
  defaults (for guide/transport.md).

Public names are those of `aetcd.__all__` and of the public subpackages' `__all__`; a
subpackage name that is also exported by `aetcd` is documented once, as `aetcd.Name`.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import inspect
import re
from functools import cache
from pathlib import Path
from typing import Any

# Public packages, in the order their names are assigned to identifiers.
PACKAGES = ("aetcd", "aetcd.concurrency", "aetcd.naming", "aetcd.testing")

# Reference group -> the private modules whose public names it documents. A name is
# claimed by the first group (in this order) whose modules define it.
GROUPS: dict[str, tuple[str, ...]] = {
    "client": ("aetcd._client", "aetcd._config"),
    "kv": ("aetcd._models", "aetcd._txn", "aetcd._kv"),
    "watch": ("aetcd._watch",),
    "lease": ("aetcd._lease",),
    "errors": ("aetcd._exceptions",),
    "concurrency": (
        "aetcd.concurrency._session",
        "aetcd.concurrency._lock",
        "aetcd.concurrency._election",
        "aetcd.concurrency._stm",
        "aetcd.concurrency._server",
    ),
    "namespace": ("aetcd._namespace",),
    "naming": ("aetcd.naming._endpoints", "aetcd.naming._channel"),
    "cluster": ("aetcd._cluster",),
    "maintenance": ("aetcd._maintenance",),
    "auth": ("aetcd._auth",),
    "health": ("aetcd._health",),
    "testing": (
        "aetcd.testing._cluster",
        "aetcd.testing._member",
        "aetcd.testing._proxy",
        "aetcd.testing._tls",
        "aetcd.testing._binaries",
        "aetcd.testing._errors",
    ),
}

# Section titles of the Client methods, by mixin, in page order; a mixin missing here
# comes last, titled by the first line of its docstring.
MIXIN_TITLES = {
    "KVMixin": "Key-value",
    "TxnMixin": "Transactions",
    "WatchMixin": "Watch",
    "LeaseMixin": "Leases",
    "RecipesMixin": "Sessions, locks, elections, STM and namespaces",
    "ClusterMixin": "Cluster membership",
    "MaintenanceMixin": "Maintenance",
    "AuthMixin": "Authentication, users and roles",
    "HealthMixin": "Endpoint health",
}

MARKER = re.compile(r"^<!-- api: (?P<group>[a-z-]+) -->[ \t]*$", re.MULTILINE)


@cache
def public_names() -> dict[str, Any]:
    """Identifier (`aetcd.Client`, `aetcd.naming.Endpoint`, ...) -> object."""
    top = importlib.import_module("aetcd")
    names: dict[str, Any] = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if package != "aetcd" and name in top.__all__ and getattr(top, name) is obj:
                continue  # documented as aetcd.<name>
            names[f"{package}.{name}"] = obj
    return names


@cache
def _source(module_name: str) -> tuple[list[str], ast.Module]:
    module = importlib.import_module(module_name)
    text = Path(module.__file__ or "").read_text(encoding="utf-8")
    return text.splitlines(), ast.parse(text)


def _definition_lines(module_name: str) -> dict[str, int]:
    """Top-level name -> line of its definition in a module's source."""
    lines: dict[str, int] = {}
    for node in _source(module_name)[1].body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            lines[node.name] = node.lineno
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    lines[target.id] = node.lineno
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            lines[node.target.id] = node.lineno
    return lines


@cache
def assignment() -> dict[str, list[tuple[str, str | None]]]:
    """Group -> (identifier, defining module) of each name it documents, in source
    order; names no group claims go to "unassigned"."""
    remaining = dict(public_names())
    groups: dict[str, list[tuple[str, str | None]]] = {}
    for group, modules in GROUPS.items():
        claimed: list[tuple[int, int, str, str]] = []
        for index, module_name in enumerate(modules):
            module = importlib.import_module(module_name)
            lines = _definition_lines(module_name)
            for ident, obj in list(remaining.items()):
                name = ident.rsplit(".", 1)[1]
                if name in lines and getattr(module, name, None) is obj:
                    claimed.append((index, lines[name], ident, module_name))
                    del remaining[ident]
        groups[group] = [(ident, module) for _, _, ident, module in sorted(claimed)]
    groups["unassigned"] = [(ident, None) for ident in sorted(remaining)]
    return groups


# --------------------------------------------------------------------------- directives


def _options(obj: Any) -> dict[str, object]:
    """Per-object rendering options on top of mkdocs.yml's."""
    options: dict[str, object] = {}
    if not inspect.isclass(obj):
        return options
    public = {id(value) for value in public_names().values()}
    private_bases = [
        base
        for base in obj.__bases__
        if base.__module__.startswith("aetcd") and id(base) not in public
    ]
    if private_bases:
        options["show_bases"] = False
        if not any(base.__name__.endswith("Mixin") for base in private_bases):
            # What a handle inherits from a private base (`Lease.id` from `_Holder`,
            # `Watch.close` from `Handle`) is part of its public API. The Client's
            # service mixins are documented method by method instead.
            options["inherited_members"] = True
    if issubclass(obj, BaseException):
        # Only the attributes an error adds (`status`, `compact_revision`, ...), not
        # every subclass's `default_message`: guide/errors.md tabulates those.
        own = [n for n in vars(obj).get("__annotations__", {}) if n != "default_message"]
        options["members"] = own or False
        options["show_if_no_docstring"] = bool(own)
    return options


def _directive(identifier: str, heading_level: int, obj: Any = None) -> str:
    lines = [f"::: {identifier}", "    options:", f"      heading_level: {heading_level}"]
    for key, value in _options(obj).items():
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, list):
            value = "[" + ", ".join(value) + "]"
        lines.append(f"      {key}: {value}")
    return "\n".join(lines) + "\n"


def _member_comments(module_name: str, class_name: str) -> dict[str, str]:
    """`#:` comments above the assignments of a class body (enum members)."""
    source, tree = _source(module_name)
    comments: dict[str, str] = {}
    for node in tree.body:
        if not (isinstance(node, ast.ClassDef) and node.name == class_name):
            continue
        for stmt in node.body:
            if not (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)):
                continue
            text: list[str] = []
            line = stmt.lineno - 2
            while line >= 0 and source[line].strip().startswith("#:"):
                text.insert(0, source[line].strip()[2:].strip())
                line -= 1
            comments[stmt.targets[0].id] = " ".join(text)
    return comments


def _enum_table(obj: type[enum.Enum], module_name: str | None) -> str:
    """The members of an enum, their values and `#:` comments, as a table."""
    comments = _member_comments(module_name, obj.__name__) if module_name else {}
    rows = [(m.name, m.value, comments.get(m.name, "")) for m in obj]
    if any(text for _, _, text in rows):
        table = ["| Member | Value | Meaning |", "| --- | --- | --- |"]
        table += [f"| `{name}` | `{value!r}` | {text} |" for name, value, text in rows]
    else:
        table = ["| Member | Value |", "| --- | --- |"]
        table += [f"| `{name}` | `{value!r}` |" for name, value, _ in rows]
    return "\n".join(table) + "\n"


def _group(group: str) -> str:
    names = public_names()
    parts: list[str] = []
    for ident, module_name in assignment()[group]:
        obj = names[ident]
        parts.append(_directive(ident, 2, obj))
        if inspect.isclass(obj) and issubclass(obj, enum.Enum):
            parts.append(_enum_table(obj, module_name))
    if group == "unassigned" and parts:
        # Public names no group claims yet (a new module): listed, never left out.
        parts.insert(0, "## Other public names\n")
    return "\n".join(parts)


def _client_methods() -> str:
    client = importlib.import_module("aetcd").Client
    seen = {name for name in vars(client) if not name.startswith("_")}
    order = list(MIXIN_TITLES)
    mixins = [
        mixin
        for mixin in client.__mro__[1:]
        if mixin.__module__.startswith("aetcd.") and mixin.__name__ != "ServiceBase"
    ]
    mixins.sort(key=lambda m: order.index(m.__name__) if m.__name__ in order else len(order))
    parts: list[str] = []
    for mixin in mixins:
        names = [
            name
            for name, value in vars(mixin).items()
            if not name.startswith("_")
            and (inspect.isfunction(value) or isinstance(value, property))
            and name not in seen
        ]
        if not names:
            continue
        seen.update(names)
        title = MIXIN_TITLES.get(mixin.__name__) or inspect.getdoc(mixin) or mixin.__name__
        parts.append(f"## {title.splitlines()[0]}\n")
        parts.extend(_directive(f"aetcd.Client.{name}", 3) for name in names)
    return "\n".join(parts)


def _error_table() -> str:
    """Every error class: etcd's messages that map to it, and its retry flags."""
    exceptions = importlib.import_module("aetcd._exceptions")
    messages: dict[type, list[str]] = {}
    for message, cls in exceptions.MESSAGE_TO_ERROR.items():
        messages.setdefault(cls, []).append(message)
    rows = [
        "| Error | retry_elsewhere | maybe_applied | etcd's messages mapped to it |",
        "| --- | :-: | :-: | --- |",
    ]
    names = public_names()
    for ident, _ in assignment()["errors"]:
        cls = names[ident]
        if not (inspect.isclass(cls) and issubclass(cls, exceptions.EtcdError)):
            continue
        texts = "<br>".join(f"`{m}`" for m in messages.get(cls, []))
        rows.append(
            f"| [`{cls.__name__}`][{ident}] | {'yes' if cls.retry_elsewhere else ''} "
            f"| {'yes' if cls.maybe_applied else ''} | {texts} |"
        )
    return "\n".join(rows) + "\n"


def _error_tree() -> str:
    """The exception tree drawn in the docstring of `aetcd._exceptions`."""
    doc = inspect.getdoc(importlib.import_module("aetcd._exceptions")) or ""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip().endswith("::")) + 1
    tree: list[str] = []
    for line in lines[start:]:
        if line.strip() and not line.startswith("    "):
            break
        tree.append(line[4:])
    return "```text\n" + "\n".join(tree).strip("\n") + "\n```\n"


# What happens to the streaming RPCs when their connection is lost.
STREAM_NOTES = {
    "Watch": "a stream: every watch resumes on another member from its next revision",
    "LeaseKeepAlive": ("a stream: reopened on another member; `lease_keep_alive_once` is resent"),
    "Snapshot": "a stream: never resumed, the iteration raises `UnavailableError`",
    "Observe": "a stream: the iteration raises `UnavailableError`; observe again",
}


def _rpc_table() -> str:
    """Every RPC the client sends, and whether a lost connection makes it resend it."""
    rpcs = importlib.import_module("aetcd._rpcs")
    method_type = importlib.import_module("aetcd._transport").Method
    rows = [
        "| Service | RPC | After a lost connection or UNAVAILABLE |",
        "| --- | --- | --- |",
    ]
    for name, method in vars(rpcs).items():  # in source order
        if name not in rpcs.__all__ or not isinstance(method, method_type):
            continue
        service = method.path.strip("/").split("/")[0].rsplit(".", 1)[-1]
        if method.cardinality.name != "UNARY_UNARY":
            what = STREAM_NOTES.get(method.name, "a stream")
        elif method.idempotent:
            what = "resent to another member (idempotent)"
        else:
            what = "not resent: `UnavailableError`, may have been applied"
        rows.append(f"| {service} | `{method.name}` | {what} |")
    return "\n".join(rows) + "\n"


# What each `ClientConfig` field does (the defaults come from the code).
CONFIG_MEANINGS = {
    "timeout": "default per-call deadline in seconds; `None`: no deadline",
    "connect_timeout": "bounds establishing one connection",
    "require_leader": "members without a leader refuse calls, which then fail over",
    "auto_sync_interval": "refresh the endpoints from the member list every N seconds",
    "health_check_interval": (
        "check every endpoint's status every N seconds; unhealthy ones leave the rotation"
    ),
    "health_check_timeout": "the deadline of one health check",
    "username": "user for token authentication (with `password`)",
    "password": "password for token authentication",
    "keepalive_time": (
        "HTTP/2 ping after this much silence on a connection with calls in flight "
        "(at least 5 s, etcd's minimum; `None`: off)"
    ),
    "keepalive_timeout": "close the connection when the ping is not answered in time",
    "probe_after": "probe the connection of a call unanswered for this long (HTTP/2 PING)",
    "probe_timeout": "close the connection when the probe is not answered in time; an "
    "endpoint silent for `probe_after + probe_timeout` after connecting is skipped",
    "max_send_bytes": "largest request sent (`RequestTooLargeError` beyond)",
    "coalesce_reads": "send concurrent `get`s as one Txn of reads (same results and errors)",
    "backoff_wait_between": "backoff between rounds of retries over a quorum of endpoints",
    "backoff_jitter": "relative jitter of that backoff",
    "cooldown_initial": "how long an endpoint is left alone after its first failure",
    "cooldown_max": "the cap of that cool-down, which doubles with each failure",
}


def _config_table() -> str:
    """The fields of `ClientConfig` with their defaults."""
    config = importlib.import_module("aetcd").ClientConfig
    rows = ["| Setting | Default | Meaning |", "| --- | --- | --- |"]
    for field in dataclasses.fields(config):
        default = field.default
        if isinstance(default, int) and not isinstance(default, bool) and default >= 1024**2:
            shown = f"{default // 1024**2} MiB" if default % 1024**2 == 0 else str(default)
        else:
            shown = repr(default)
        meaning = CONFIG_MEANINGS.get(field.name, "see [`ClientConfig`][aetcd.ClientConfig]")
        rows.append(f"| `{field.name}` | `{shown}` | {meaning} |")
    return "\n".join(rows) + "\n"


def expand(markdown: str) -> str:
    """Replace every marker of a page by what it stands for."""

    def replace(match: re.Match[str]) -> str:
        group = match.group("group")
        if group == "client-methods":
            return _client_methods()
        if group == "error-table":
            return _error_table()
        if group == "error-tree":
            return _error_tree()
        if group == "rpc-table":
            return _rpc_table()
        if group == "config-table":
            return _config_table()
        if group not in assignment():
            raise ValueError(f"unknown API reference marker {group!r} (see docs/_hooks)")
        return _group(group)

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """MkDocs event: expand the markers of every page."""
    return expand(markdown)
