"""Issue 16, session 55 mt16: a MatrixTable part file read forward a few blocks at a time.

``EntriesReader`` reads each entries part file through ``mt_entries._FileBlocks``: the file's
blocks are read ``_READ_BYTES`` at a time into one buffer the reader keeps for its next part, not
the whole file (~20 MB per part at the benchmark's sizes) into fresh memory per part: ~5k page
faults per part in a worker's first task, often again in later ones (benchmarks/RESULTS.md,
session 55 mt16). No Spark here: the reader as a task runs it.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_mt16_s54 import HET, HOM_ALT, HOM_REF, _blocks, _stream

from trd_spark.pgs import mt_entries
from trd_spark.pgs.mt_entries import EntriesFiles, EntriesLayout, EntriesReader, _varint_bytes, bed_rows
from trd_spark.pgs.native_task import _DOSAGE_OF_PLINK_CODE

PLINK_DOSAGE = np.array([2.0, np.nan, 1.0, 0.0])  # A1 = alt: .bed code -> alt dosage (01: missing)


def _random_rows(n_rows, n, seed):
    rng = np.random.default_rng(seed)
    return [[(HOM_REF, HET, HOM_ALT)[k] for k in rng.integers(0, 3, n)] for _ in range(n_rows)]


def _random_stream(n_rows, n, seed):
    """``_stream`` of ``n_rows`` x ``n`` random calls (every GT present), built at once: the rows and their dosages."""
    rng = np.random.default_rng(seed)
    calls = np.array([HOM_REF, HET, HOM_ALT], np.uint8)[rng.integers(0, 3, (n_rows, n))]
    entries = np.zeros((n_rows, n, 2), np.uint8)
    entries[:, :, 1] = calls
    head = np.frombuffer(b"\x01" + _varint_bytes(n) + bytes((n + 7) // 8), np.uint8)
    rows = np.concatenate([np.broadcast_to(head, (n_rows, len(head))), entries.reshape(n_rows, -1)], axis=1)
    dosages = np.select([calls == HOM_REF, calls == HET], [0.0, 1.0], 2.0)
    return rows.tobytes() + b"\x00", dosages


def test_the_reader_holds_a_read_buffer_not_the_part_file(tmp_path, monkeypatch):
    """Two parts of 300 rows x 3,000 samples of random calls (~340 KB of zstd blocks each) read by
    one ``EntriesReader`` (every row, 20 at a time, with an 8 KiB step and a 256-byte read
    buffer, so that blocks larger than the buffer make it grow): the dosages are those written
    and those of ``bed_rows`` (which reads the file whole), the reader's read buffer is reused
    by its second part, its file is closed after each part's last row, and the memory it holds
    at its peak (tracemalloc) stays below half a part file. Before session 55 mt16 each part
    file was read whole (``f.read()``): the peak held at least one part's bytes."""
    import tracemalloc

    monkeypatch.setattr(mt_entries, "_STREAM_STEP_BYTES", 8192)
    monkeypatch.setattr(mt_entries, "_READ_BYTES", 256, raising=False)  # (absent before session 55)
    n, n_rows = 3000, 300
    parts, expected = [], []
    for i in range(2):
        stream, dosages = _random_stream(n_rows, n, seed=55 + i)
        path = tmp_path / f"part-{i}"
        path.write_bytes(_blocks(stream, block=4096))
        parts.append(str(path))
        expected.append(dosages)
    size = min((tmp_path / f"part-{i}").stat().st_size for i in range(2))
    assert size > 300_000  # random calls barely compress (~0.4 bytes a call)
    files = EntriesFiles(str(tmp_path), EntriesLayout(tuple(parts), (n_rows, n_rows), True), n)
    every = np.arange(2 * n_rows)
    out = np.empty((2 * n_rows, n))
    EntriesReader(files, every[:3], _DOSAGE_OF_PLINK_CODE).read(0, 3, out)  # (imports made before the count)
    reader = EntriesReader(files, every, _DOSAGE_OF_PLINK_CODE)
    tracemalloc.start()
    try:  # the first part's rows (its file closed once its last row is read)
        for lo in range(0, n_rows, 20):
            reader.read(lo, lo + 20, out[lo:])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size / 2, (peak, size)
    assert reader._file is None
    buffer = reader._held[1]
    for lo in range(n_rows, 2 * n_rows, 20):  # the second part's, in the same buffer
        reader.read(lo, lo + 20, out[lo:])
    np.testing.assert_array_equal(out, np.concatenate(expected))
    assert reader._held[1] is buffer and 256 < len(buffer) < size / 4  # grown for a block (~390 bytes), then reused
    assert reader._file is None
    for i, part in enumerate(parts):  # the .bed writer's whole-file read gives the same calls
        bed = np.frombuffer(bed_rows(part, np.arange(n_rows), n_rows), np.uint8).reshape(n_rows, -1)
        codes = (bed[:, :, None] >> np.array([0, 2, 4, 6], np.uint8) & 3).reshape(n_rows, -1)[:, :n]
        np.testing.assert_array_equal(PLINK_DOSAGE[codes], out[i * n_rows:(i + 1) * n_rows])


@pytest.mark.parametrize("cut", ["inside_the_length", "inside_the_size"])
def test_a_part_file_ending_inside_a_block_header_is_an_error_naming_it(tmp_path, cut):
    """A part file whose last block header is cut by the file's end (after the first byte of a
    two-byte LEB128 length, or after the length and two bytes of the size) fails the read with
    one OSError naming the file and the header's byte offset. Before session 55 mt16 a cut
    length raised IndexError from the header parse (no file named) and a cut size was read as a
    block of no bytes ("the zstd block ... does not decompress")."""
    rows = _random_rows(4, 500, seed=7)
    whole = _blocks(_stream(rows), block=4096)
    extra = {"inside_the_length": b"\x85", "inside_the_size": b"\x85\x01\x10\x00"}[cut]
    part = tmp_path / "part-0"
    part.write_bytes(whole + extra)
    files = EntriesFiles(str(tmp_path), EntriesLayout((str(part),), (4,), True), 500)
    with pytest.raises(OSError, match=rf"{part}: the file ends inside the block header at byte {len(whole)}$"):
        EntriesReader(files, np.arange(4), _DOSAGE_OF_PLINK_CODE).read(0, 4, np.empty((4, 500)))
