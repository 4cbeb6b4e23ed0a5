"""Issue 16, session 39 flatbed: two cuts of the native-bed score phase's fixed CPU, same bits.

1. The stage's weights for a native pass (``matching._one_site_per_row``, CSR form, into the
   pass directory) are summed a row chunk at a time in a cache-sized buffer and written into the
   files the tasks map (``matching._written_cells``: ``os.pwrite``), not reserved
   (``posix_fallocate``: every new tmpfs page zeroed), mapped into the driver and written
   through the mapping; the offsets' column sums (``WeightMatrices.offset_total``) are taken
   from the chunks on the way (``offset_sums``). Every matrix, the files and the column sums
   must keep their bits (the reference: the build as at 30297c6, ``test_flatw_s37``'s copy of
   the one before it gives the same), whatever the chunk size; a failed write is one OSError
   naming the file; a short write is written on.
2. A worker's block buffer (``native_task._block_buffer``) is a mapping of its own whose pages
   are faulted in by one ``MADV_POPULATE_WRITE`` call (``populated_buffer``), without huge
   pages (``MADV_NOHUGEPAGE``, as ``memory.small_pages`` made it).

No Spark: frames, files and this process's own memory map.
"""

from __future__ import annotations

import errno
import mmap
import os
import re

import numpy as np
import pandas as pd
import pytest
from test_flatw_s37 import HAPLOID, _all_bits, _bits, _frame, _reference_one_site_per_row

from trd_spark.pgs import matching, memory, native_task
from trd_spark.pgs.matching import DUPLICATES_DROPPED, frame_matches, weight_matrices


def _reference(monkeypatch, build):
    """``_all_bits`` of ``build()`` with the matrices built as before this change (scipy's COO sum
    into zeroed memory; ``test_flatw_s37``'s reference, bit-identical to 30297c6's build); the
    ``_bits`` of an array ``build()`` returns."""
    with monkeypatch.context() as mp:
        mp.setattr(matching, "_one_site_per_row", _reference_one_site_per_row)
        built = build()
        return _bits(built) if isinstance(built, np.ndarray) else _all_bits(built)


def _long_frame(rng: np.random.Generator, n_rows: int, k: int, ref_share: float = 0.5, spread: float = 15):
    """One site per row in row order, every score at every site, REF effect alleles at about
    ``ref_share`` of them (alt elsewhere), a haploid tail, weights over 2 x ``spread`` orders of
    magnitude (any other order of the column sums' additions changes their bits)."""
    contigs = np.array(["chr1"] * n_rows, dtype=object)
    contigs[-7:] = "chrY"
    rows = pd.DataFrame({"contig": contigs, "position": np.arange(n_rows) + 100, "ref": "A", "alt": "G"})
    match_type = np.where(rng.random(n_rows) < ref_share, "alt_ref", "ref_alt").astype(object)
    weights = [rng.normal(size=k) * 10.0 ** rng.uniform(-spread, spread, size=k) for _ in range(n_rows)]
    sites = pd.DataFrame({"match_type": match_type, "matched_row": np.arange(n_rows, dtype=np.int64),
                          "effect_is_ref": match_type == "alt_ref", "other_alt_rows": [()] * n_rows,
                          "other_ref_rows": [()] * n_rows,
                          "member_score_index": [np.arange(k, dtype=np.int32)] * n_rows,
                          "member_weight": weights,
                          "member_line": [np.arange(k, dtype=np.int64) + 100 * i for i in range(n_rows)]})
    sites.attrs.update({"pgs_ids": [f"PGS{i:06d}" for i in range(k)], DUPLICATES_DROPPED: {}})
    return frame_matches(sites, rows)


@pytest.mark.parametrize("chunk_bytes", [1, 100, None])
def test_weights_written_in_row_chunks_keep_every_bit(monkeypatch, tmp_path, chunk_bytes):
    """CSR form into a pass directory, written in chunks of one row, a few rows and the default:
    slope, offset, n_vars, ref_effect_row and the offsets' column sums have the reference build's
    bits, in the files too (None: the default chunk); the sums come from the build (``offset_sums``,
    returned by ``offset_total()`` asked first, as the stage asks it), and the driver's matrices
    are read-only views of the files (no writable mapping of them)."""
    if chunk_bytes is not None:  # (None: the module's own)
        monkeypatch.setattr(matching, "_CHUNK_BYTES", chunk_bytes)
    written = []
    real = matching._written_cells
    monkeypatch.setattr(matching, "_written_cells", lambda *a, **kw: written.append(a[1]) or real(*a, **kw))
    rng = np.random.default_rng(39 + (chunk_bytes or 0))
    frames = [_frame(rng, 6, in_row_order=True, unmatched=0) for _ in range(3)] + [_long_frame(rng, 300, 4)]
    for i, m in enumerate(frames):
        for mode in ("files", "deferred"):
            directory = tmp_path / f"{mode}{i}"
            w = weight_matrices(m, HAPLOID, str(directory), defer=mode == "deferred")
            # offset_total() first on a fresh build, as the stage asks it (a mean-imputed native
            # pass: ``.offset`` never built), so that it returns the build's ``offset_sums``.
            total = _bits(w.offset_total())
            assert "offset" not in w.__dict__ and w.offset_sums is not None and w.directory == str(directory)
            base = _bits(-2.0 * w.slope.sum(axis=0, where=w.ref_effect_row[:, None]) + 0.0)
            assert total == _bits(w.offset_sums) == base
            assert not w.slope.flags.writeable and not w.n_vars.flags.writeable
            new = _all_bits(w)
            old = _reference(monkeypatch, lambda m=m, d=tmp_path / f"ref_{mode}{i}": weight_matrices(m, HAPLOID, str(d)))
            assert new == old, (mode, i)
            memory = _reference(monkeypatch, lambda m=m: weight_matrices(m, HAPLOID))
            assert {key: v for key, v in new.items() if key != "in_files"} == \
                {key: v for key, v in memory.items() if key != "in_files"}
            for name in ("slope", "n_vars"):
                assert _bits(np.load(directory / "weights" / f"{name}.npy")) == new[name]
    assert written == ["slope", "n_vars"] * 2 * len(frames)


def test_one_scores_offset_total_has_the_column_sums_bits(monkeypatch, tmp_path):
    """One score (k = 1) over more rows than a chunk (256 rows here), nearly every row a REF effect
    allele: ``offset_total()`` has the bits of -2 x the REF-effect rows' column sum, as every
    other build gives. numpy sums an (n, 1) column pairwise, so a sum restarted at each chunk
    from the running one (the build's ``offset_sums`` for k >= 2) regroups the additions: on
    these seeds its last bits differ (4 of 4 at 30297c6+515c7e2); the build takes none for k = 1."""
    monkeypatch.setattr(matching, "_CHUNK_BYTES", 8 * 256)
    for seed in range(4):
        m = _long_frame(np.random.default_rng(seed), 2000, 1, ref_share=0.97, spread=0)
        w = weight_matrices(m, HAPLOID, str(tmp_path / f"k1_{seed}"))
        total = _bits(w.offset_total())
        assert "offset" not in w.__dict__ and w.directory is not None
        assert total == _bits(-2.0 * w.slope.sum(axis=0, where=w.ref_effect_row[:, None]) + 0.0), seed
        # (in memory, built as before 515c7e2, and asked first the same way: the same bits)
        before = _reference(monkeypatch, lambda m=m: weight_matrices(m, HAPLOID).offset_total())
        assert total == before, seed


def test_a_failed_write_names_the_file_and_a_short_write_is_written_on(monkeypatch, tmp_path):
    """A write the directory refuses (ENOSPC: a full tmpfs) is one OSError naming the slope file,
    with the cause's errno; writes the kernel cuts short (at most 7 bytes a call here) are
    continued to the same bits."""
    rng = np.random.default_rng(3939)
    m = _frame(rng, 6, in_row_order=True, unmatched=0)
    real = os.pwrite
    calls = []

    def full(fd, data, at):
        calls.append(at)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data, at)

    with monkeypatch.context() as mp:
        mp.setattr(matching, "_CHUNK_BYTES", 64)
        mp.setattr(matching.os, "pwrite", full)
        with pytest.raises(OSError, match="cannot write the pass's file") as caught:
            weight_matrices(m, HAPLOID, str(tmp_path / "full"))
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "full" / "weights" /
                                                                              "slope.npy")
    sizes = []

    def short(fd, data, at):
        sizes.append(len(data))
        return real(fd, bytes(data)[:7], at)

    with monkeypatch.context() as mp:
        mp.setattr(matching.os, "pwrite", short)
        w = weight_matrices(m, HAPLOID, str(tmp_path / "short"))
        got = _all_bits(w)
    assert max(sizes) > 7 and got == _reference(monkeypatch, lambda: weight_matrices(m, HAPLOID, str(tmp_path / "r")))


def _mapping_of(address: int) -> tuple[int, str]:
    """Resident kB and VmFlags of this process's mapping holding ``address`` (/proc/self/smaps)."""
    with open("/proc/self/smaps") as f:
        text = f.read()
    for block in re.finditer(r"^([0-9a-f]+)-([0-9a-f]+) .*?^VmFlags:([^\n]*)", text, re.S | re.M):
        if int(block.group(1), 16) <= address < int(block.group(2), 16):
            return int(re.search(r"^Rss:\s+(\d+) kB", block.group(0), re.M).group(1)), block.group(3)
    raise AssertionError("no mapping holds the buffer")


def _populate_supported() -> bool:
    """Whether this kernel takes MADV_POPULATE_WRITE (Linux >= 5.14)."""
    probe = mmap.mmap(-1, mmap.PAGESIZE)
    try:
        probe.madvise(memory.MADV_POPULATE_WRITE)
        return True
    except OSError:
        return False
    finally:
        probe.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux's /proc/self/smaps")
def test_block_buffer_pages_are_resident_at_once_without_huge_pages(monkeypatch):
    """A worker's first block buffer (24 MB here) is resident before anything is written into it
    (its pages faulted in by one call, where they were faulted one by one in the first block's
    read) and has no huge pages (VmFlags ``nh``); a second task's buffer is the same memory, and a
    larger one replaces it."""
    monkeypatch.setattr(native_task, "_BLOCK_BUFFER", [])
    rows, n = 1200, 2500
    first = native_task._block_buffer(rows, n)
    assert first.shape == (rows, n) and first.dtype == np.float64 and first.flags.writeable
    resident, flags = _mapping_of(first.ctypes.data)
    assert "nh" in flags.split()
    if _populate_supported():
        assert resident * 1024 >= first.nbytes
    assert native_task._block_buffer(rows // 2, n).ctypes.data == first.ctypes.data
    grown = native_task._block_buffer(rows * 2, n)
    assert grown.shape == (rows * 2, n) and len(native_task._BLOCK_BUFFER) == 1
    grown[:] = 1.5  # writable over its whole extent
    assert float(grown.sum()) == 1.5 * rows * 2 * n
