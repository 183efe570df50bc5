"""The documentation site builds without a warning and documents every public name.

Builds the site with `mkdocs build --strict` (as `make docs` does) into a temporary
directory, then checks, for every name of `aetcd.__all__` and of the public
subpackages' `__all__`:

* it is in the site's object inventory (`objects.inv`), i.e. the API reference has an
  entry for it;
* it has a docstring, and the docstring's opening words are on its reference page
  right after its heading;
* every public method and property of a public class has a docstring and an entry
  (for `Client`, the calls of all its service mixins).

Needs the `docs` extra (`make docs` installs it); skipped without it.
"""

from __future__ import annotations

import html
import importlib
import inspect
import os
import re
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import aetcd

pytest.importorskip("mkdocs", reason="the docs extra is not installed (make docs)")
pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra is not installed")

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("aetcd", "aetcd.concurrency", "aetcd.naming", "aetcd.testing")


def public_names() -> dict[str, Any]:
    """Identifier -> object for every public name. A subpackage name that `aetcd`
    exports too is documented once, under `aetcd.`."""
    names: dict[str, Any] = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if package != "aetcd" and getattr(aetcd, name, None) is obj:
                continue
            names[f"{package}.{name}"] = obj
    return names


PUBLIC = public_names()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    warnings = [line for line in output.splitlines() if line.startswith("WARNING")]
    assert not warnings, "\n".join(warnings)
    return out


@pytest.fixture(scope="module")
def inventory(site: Path) -> dict[str, str]:
    """Object name -> page URL (with anchor), from the site's Sphinx inventory."""
    data = (site / "objects.inv").read_bytes()
    header = data.split(b"\n", 4)
    assert header[0] == b"# Sphinx inventory version 2"
    entries: dict[str, str] = {}
    for line in zlib.decompress(header[4]).decode().splitlines():
        match = re.match(r"(?P<name>\S+)\s+\S+:\S+\s+-?\d+\s+(?P<uri>\S+)", line)
        if match:
            name = match["name"]
            entries[name] = match["uri"].replace("$", name) if match["uri"] != "-" else ""
    return entries


def _own_docstring(obj: Any) -> str | None:
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        return obj.__doc__
    if inspect.isclass(obj) or inspect.isroutine(obj):
        return obj.__doc__
    return None


def _words(text: str, count: int | None = 8) -> str:
    """The first words of a Markdown or HTML text, markup and punctuation dropped."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(re.findall(r"[A-Za-z0-9]+", text)[:count])


def _page_text_after(site: Path, uri: str) -> str:
    """The text of a reference page from an object's heading on (a few hundred chars)."""
    page, _, anchor = uri.partition("#")
    path = site / page / "index.html" if not page.endswith(".html") else site / page
    source = path.read_text(encoding="utf-8")
    start = source.find(f'id="{anchor}"')
    assert start >= 0, f"no anchor {anchor!r} in {path}"
    return _words(source[start : start + 30_000], None)


@pytest.mark.parametrize("ident", sorted(PUBLIC))
def test_public_name_is_documented(ident: str, site: Path, inventory: dict[str, str]) -> None:
    obj = PUBLIC[ident]
    assert ident in inventory, f"{ident} is not in the API reference (docs/reference/)"
    if inspect.isclass(obj) or inspect.isroutine(obj):
        doc = inspect.cleandoc(obj.__doc__ or "")
        auto = f"{obj.__name__}(" if inspect.isclass(obj) else None
        assert doc, f"{ident} has no docstring"
        assert not (auto and doc.startswith(auto)), f"{ident} has only dataclass's docstring"
        rendered = _page_text_after(site, inventory[ident])
        assert _words(doc) in rendered, (
            f"the docstring of {ident} does not show on its reference page: "
            f"{_words(doc)!r} not in {rendered[:300]!r}"
        )


def _public_members(cls: type) -> Iterator[tuple[str, Any]]:
    """The public methods and properties a class's reference shows: its own, and those
    it inherits from non-public aetcd classes (for `Client`, its service mixins)."""
    public_ids = {id(v) for v in PUBLIC.values()}
    seen: set[str] = set()
    for klass in cls.__mro__:
        if klass is not cls:
            if not klass.__module__.startswith("aetcd") or id(klass) in public_ids:
                break
            if klass.__name__.endswith("Mixin") and cls is not aetcd.Client:
                break
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            if isinstance(value, (staticmethod, classmethod, property)) or inspect.isfunction(
                value
            ):
                seen.add(name)
                yield name, value


MEMBERS = sorted(
    f"{ident}.{name}"
    for ident, obj in PUBLIC.items()
    if inspect.isclass(obj) and not issubclass(obj, BaseException)
    for name, _ in _public_members(obj)
)


@pytest.mark.parametrize("member", MEMBERS)
def test_public_member_is_documented(member: str, inventory: dict[str, str]) -> None:
    ident, name = member.rsplit(".", 1)
    value = dict(_public_members(PUBLIC[ident]))[name]
    assert (_own_docstring(value) or "").strip(), f"{member} has no docstring"
    assert member in inventory, f"{member} is not in the API reference"


def test_client_calls_are_in_the_reference() -> None:
    # The parametrised test above covers them; make sure it does (the mixins' calls).
    for call in ("put", "get", "txn", "watch", "lease", "lock", "election", "stm"):
        assert f"aetcd.Client.{call}" in MEMBERS


def test_guide_pages_are_in_the_site(site: Path) -> None:
    for page in ("getting-started", "guide/watch", "guide/migration", "architecture"):
        assert (site / page / "index.html").exists(), page
