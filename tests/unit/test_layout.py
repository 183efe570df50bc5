"""The test tree itself: pytest's default import mode needs unique module basenames."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_test_module_basenames_are_unique() -> None:
    # tests/ has no __init__.py files, so two test_x.py in different folders collide at
    # collection ("import file mismatch") when the whole suite runs, as in `make test`.
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [n for n, c in names.items() if c > 1] == []
