"""Issue 16, session 53 hail16: what a ``hail-mt`` first score phase finds in the page cache.

``benchmarks/scaling.py`` prints, per size, the share of the MatrixTable's entry files held in
the page cache as the run starts (``page_cache_share``): the first phase is the only reader of
those files in the run, so a first phase slower than its warm repeats can be told apart from one
that read them from the disk. No Spark; a few MiB of files."""

from __future__ import annotations

import os

import pytest

from benchmarks.scaling import _entry_parts, page_cache_share


def _written(path, size: int) -> None:
    with open(path, "wb") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())  # clean pages: the kernel may drop them when asked



def _fs_type(path) -> str:
    """The file system type of the mount holding ``path`` (/proc/self/mounts, the longest mount point
    that is a prefix of it)."""
    target = os.path.realpath(path)
    best, kind = "", ""
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            point = fields[1].replace("\\040", " ")
            if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best, kind = point, fields[2]
    return kind

def test_page_cache_share_tells_cached_from_evicted_files(tmp_path):
    """A file just written and read is in the page cache (1.0); after POSIX_FADV_DONTNEED it is not
    (0.0 on this disk), and the share of two files, one of each, is their pages' share. Before
    session 53 the benchmark had no such figure: the 10k outlier of session 52's idle run (first
    phase 6.45 s, warm 5.15 / 5.36) could not be told from a first read of the entries."""
    a, b = tmp_path / "part-0", tmp_path / "part-1"
    _written(a, 3 * 2**20)
    _written(b, 1 * 2**20)
    for p in (a, b):
        p.read_bytes()
    assert page_cache_share([a, b]) == pytest.approx(1.0)
    fd = os.open(b, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    share_b = page_cache_share([b])
    # Only a memory file system keeps the pages; on any other a share of 1.0 here is a failure, not a skip.
    if _fs_type(tmp_path) in ("tmpfs", "ramfs"):
        pytest.skip("this file system keeps the pages (tmpfs): eviction not observable")
    assert share_b == pytest.approx(0.0, abs=0.05)
    assert page_cache_share([a, b]) == pytest.approx(0.75 + 0.25 * share_b, abs=0.02)


def test_page_cache_share_of_nothing_is_none(tmp_path):
    """No file (a MatrixTable not written yet) or only empty files: no share, not 0 or 1."""
    assert page_cache_share([]) is None
    (tmp_path / "empty").write_bytes(b"")
    assert page_cache_share([tmp_path / "empty"]) is None


def test_entry_parts_are_the_benchmark_matrix_tables(tmp_path):
    """The part files of pgs_vs_plink2.py's MatrixTable of the size (its seed 7 directory), not its
    index or checksum files; none before it is written."""
    parts = tmp_path / "s2500_v100_k61_seed7" / "geno.mt" / "entries" / "rows" / "parts"
    assert _entry_parts(tmp_path, 2500, 100, 61) == []
    parts.mkdir(parents=True)
    for name in ("part-1-b", "part-0-a", ".part-0-a.crc"):
        (parts / name).write_bytes(b"x")
    assert [p.name for p in _entry_parts(tmp_path, 2500, 100, 61)] == ["part-0-a", "part-1-b"]
