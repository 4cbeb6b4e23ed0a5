"""Code digests computed as if a module's source were edited, without touching the file (the rerun
tests' fixtures: tests/test_rerun_s39.py, tests/test_rerun_s52.py)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from trd_spark import provenance

T = TypeVar("T")


@contextmanager
def source_edits(digests: Callable[[], T]) -> Iterator[Callable[[str, str, str], T]]:
    """``edit(module, old, new)``: replaces ``old`` by ``new`` (once; it must be there) in
    ``module``'s source as ``provenance`` reads it (``provenance._source``), then returns
    ``digests()``, computed afresh (``code_digests``' cache cleared). Edits add up; all are undone
    and the cache cleared on exit."""
    real = provenance._source  # noqa: SLF001
    edits: list[tuple[str, str, str]] = []

    def source(name: str):
        found = real(name)
        if found is None or not any(m == name for m, _, _ in edits):
            return found
        out = found[0]
        for module, old, new in edits:
            if module == name:
                assert old in out, old
                out = out.replace(old, new, 1)
        return out, found[1]

    def edit(module: str, old: str, new: str) -> T:
        edits.append((module, old, new))
        provenance.code_digests.cache_clear()
        return digests()

    provenance.code_digests.cache_clear()
    saved, provenance._source = provenance._source, source  # noqa: SLF001
    try:
        yield edit
    finally:
        provenance._source = saved  # noqa: SLF001
        provenance.code_digests.cache_clear()
