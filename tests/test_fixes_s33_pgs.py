"""Session 33 fixesB: the reader's findings on session 33's pgs change, each a silent failure.

- ``native_task.mapped_rows`` reserves the file's blocks before handing out the mapping: a full
  local directory is one OSError naming the file, not a SIGBUS on a write through the mapping.
- ``mt_entries.EntriesReader.read`` takes a slice of the part's calls only for a run of rows
  (each step 1); since session 34 rows that are not ascending and distinct are refused when the
  reader is made.
"""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from test_flatmt_s33 import one_part_reader

from trd_spark.pgs import native_task
from trd_spark.pgs.native_task import mapped_rows


def test_mapped_rows_reserves_the_whole_file(tmp_path, monkeypatch):
    """The file's blocks are reserved from byte 0 to its end (header and data), so a write
    through the mapping never meets a full disk. Fails on a tree without the reservation."""
    calls = []
    real = os.posix_fallocate

    def spy(fd, offset, length):
        calls.append((offset, length, os.fstat(fd).st_size))
        real(fd, offset, length)

    monkeypatch.setattr(native_task.os, "posix_fallocate", spy)
    a = mapped_rows(str(tmp_path), "slope", (50, 7), np.dtype(np.float64))
    assert a.shape == (50, 7) and not a.any()
    path = tmp_path / "weights" / "slope.npy"
    assert calls == [(0, path.stat().st_size, path.stat().st_size)]
    assert path.stat().st_blocks * 512 >= 50 * 7 * 8  # not sparse


def test_a_full_directory_is_one_error_naming_the_file(tmp_path, monkeypatch):
    """posix_fallocate failing with ENOSPC (a full local directory; a tiny tmpfs needs root):
    one OSError naming the file, and no half-made file left. Fails on a tree without the
    reservation (DID NOT RAISE: the sparse file is handed out)."""
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(native_task.os, "posix_fallocate", full)
    with pytest.raises(OSError) as err:
        mapped_rows(str(tmp_path), "n_vars", (10, 3), np.dtype(np.uint8))
    path = str(tmp_path / "weights" / "n_vars.npy")
    assert err.value.errno == errno.ENOSPC and err.value.filename == path
    assert path in str(err.value)
    assert not os.path.exists(path)


@pytest.mark.parametrize("wanted", [[0, 2, 1, 3], [1, 1, 3], [3, 2, 1, 0]], ids=["unsorted", "repeated", "reversed"])
def test_unsorted_or_repeated_rows_of_one_part_are_refused(tmp_path, wanted):
    """One part of 4 rows x 6 samples: rows that are not ascending and distinct ([0, 2, 1, 3],
    [1, 1, 3], [3, 2, 1, 0]) are one ValueError naming the MatrixTable when the reader is made
    (session 34: ``EntriesReader`` checks its rows; until then these read their own rows in one
    part, through the gathered copy, but across two parts landed at the wrong positions,
    tests/test_flatmt_s34.py). Fails on 69efbc5 (no error)."""
    with pytest.raises(ValueError, match="rows are not ascending and distinct"):
        one_part_reader(tmp_path, 7, wanted)


def test_a_by_name_module_reached_by_alias_decorator_or_string_is_digested_whole(tmp_path, monkeypatch):
    """``provenance.code_digests`` took a by-name module's names too narrowly in a scratch
    package: an edit of a name the stage runs did not change its digest (a rerun too few: stale
    outputs that look current) when the module was reached as ``import pkg as p; p.shared.X``,
    when its registry was filled by a decorator of its own (``HANDLERS = {}`` + ``@register``),
    when it looked its names up through ``sys.modules[__name__]``, or when an importer imported
    it by string (``importlib.import_module``, a constant or a computed name). Each edit below
    now changes the importer's digest of ``shared``; an edit of a name nobody takes, with plain
    ``from pkg.shared import A``, still does not (the by-name digest kept). Fails on 23ebfff
    (the edits of the alias, decorator, sys.modules and import_module cases leave the digest)."""
    from temp_package import shared_digests, temp_package

    base = "A = 1\nB = 2\n"
    files = {
        "__init__.py": "",
        "shared.py": base,
        "plain.py": "from fixes33_pkg.shared import A\n",
        "alias.py": "import fixes33_pkg as fp\nfrom fixes33_pkg.shared import A\n\n\n"
                    "def f():\n    return fp.shared.B\n",
        "computed.py": "import importlib\nfrom fixes33_pkg.shared import A\n\n\n"
                       "def f(name):\n    return importlib.import_module(name).B\n",
        "constant.py": "import importlib\nfrom fixes33_pkg.shared import A\n\n\n"
                       "def f():\n    return importlib.import_module('fixes33_pkg.shared').B\n",
    }
    mods = ("plain", "alias", "computed", "constant")
    with temp_package(tmp_path, monkeypatch, "fixes33_pkg", files) as root:

        def changed(first: str, second: str) -> list[str]:
            (root / "shared.py").write_text(first)
            before = shared_digests("fixes33_pkg", mods)
            (root / "shared.py").write_text(second)
            after = shared_digests("fixes33_pkg", mods)
            return [m for m in mods if after[m] != before[m]]

        assert changed(base, base.replace("B = 2", "B = 3")) == ["alias", "computed", "constant"]
        # A registry filled by a decorator of the module's own: taking HANDLERS runs rule().
        registry = ("HANDLERS = {}\n\n\ndef register(f):\n    HANDLERS[f.__name__] = f\n    return f\n\n\n"
                    "@register\ndef rule():\n    return 1\n")
        files["plain.py"] = "from fixes33_pkg.shared import HANDLERS\n"
        (root / "plain.py").write_text(files["plain.py"])
        assert "plain" in changed(registry, registry.replace("return 1", "return 2"))
        # Names looked up through sys.modules[__name__].
        lookup = "import sys\n\nA = 1\nB = 2\n\n\ndef get(n):\n    return getattr(sys.modules[__name__], n)\n"
        files["plain.py"] = "from fixes33_pkg.shared import get\n"
        (root / "plain.py").write_text(files["plain.py"])
        assert "plain" in changed(lookup, lookup.replace("B = 2", "B = 3"))
