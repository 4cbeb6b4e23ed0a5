"""A throwaway Python package for the provenance tests: ``provenance.code_digests`` finds a
module through the import system (``importlib.util.find_spec``, which imports its parent
packages), so a test of what it digests writes a small package under ``tmp_path``, puts that
folder first on ``sys.path``, and at the end takes the package's modules out of
``sys.modules`` and clears the digest cache, so that no later test (another package of the same
name, or the same module reread) sees this one's modules or digests.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

from trd_spark.provenance import code_digests


@contextlib.contextmanager
def temp_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                 files: Mapping[str, str]) -> Iterator[Path]:
    """Write package ``name`` as ``tmp_path/name/`` holding ``files`` ({file name relative to the
    package folder, e.g. ``"__init__.py"`` or ``"a/stage.py"``: its text}; folders made as
    needed, no ``__init__.py`` added), put ``tmp_path`` first on ``sys.path`` (``monkeypatch``
    takes it off at the test's end), clear ``code_digests``' cache and yield the package folder.
    On leaving, whether the body passed or failed: every module ``name`` or ``name.*`` is
    deleted from ``sys.modules`` and the cache cleared again. The caller picks a ``name`` no
    other test uses; FileExistsError where ``tmp_path/name`` exists already."""
    root = tmp_path / name
    root.mkdir()
    for file, text in files.items():
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        (root / file).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    code_digests.cache_clear()
    try:
        yield root
    finally:
        for module in [m for m in sys.modules if m.split(".")[0] == name]:
            del sys.modules[module]
        code_digests.cache_clear()


def shared_digests(package: str, importers: Iterable[str], shared: str = "shared") -> dict[str, str]:
    """{importer: the digest of ``package.shared`` in ``code_digests("package.importer")``} with
    ``package.shared`` read by name (``by_name``), the cache cleared first so that an edit the
    test just wrote is read. ``importers`` are module names relative to ``package``; raises
    KeyError where an importer's digest does not hold ``package.shared``."""
    code_digests.cache_clear()
    module = f"{package}.{shared}"
    return {m: code_digests(f"{package}.{m}", package=package, by_name=(module,))[module] for m in importers}
