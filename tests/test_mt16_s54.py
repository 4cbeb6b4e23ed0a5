"""Issue 16, session 54 mt16: the MatrixTable route's fixed cost in a Python worker.

``mt_entries`` decompresses the entry part files' zstd blocks with ``compression.zstd`` /
``backports.zstd`` (a declared dependency), not pyarrow's codec: a worker's first MatrixTable
pass imported pyarrow for it (0.04 CPU-s and ~1,600 page faults per worker in every run's first
score phase; benchmarks/RESULTS.md, session 54 mt16). Its checks stay those pyarrow's codec made:
a block that does not decompress to exactly the size its header gives is an error, now naming
the part file. No Spark here: the reader as a task runs it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from trd_spark.pgs.mt_entries import EntriesFiles, EntriesLayout, EntriesReader, _varint_bytes, bed_rows
from trd_spark.pgs.native_task import _DOSAGE_OF_PLINK_CODE

try:  # the module mt_entries uses (Python 3.14's, else its backport)
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:
    from backports import zstd

HOM_REF, HET, HOM_ALT = 4, 12, 20  # Hail's call ints for 0/0, 0/1, 1/1
DOSAGE = {HOM_REF: 0.0, HET: 1.0, HOM_ALT: 2.0}


def _stream(rows):
    """The decompressed entries stream (module doc of mt_entries) of ``rows`` of call ints,
    optional elements, every GT present."""
    out = bytearray()
    for calls in rows:
        out += b"\x01" + _varint_bytes(len(calls)) + bytes((len(calls) + 7) // 8)
        for call in calls:
            out += b"\x00" + _varint_bytes(call)
    return bytes(out + b"\x00")


def _blocks(stream, block=64, frame=zstd.compress, size_of=len):
    """Hail's blocks of ``stream``: LEB128 length | int32 LE decompressed size | zstd frame;
    ``frame`` makes a block's frame from its bytes and ``size_of`` the size its header gives."""
    raw = bytearray()
    for at in range(0, len(stream), block):
        piece = stream[at:at + block]
        body = frame(piece)
        raw += _varint_bytes(len(body) + 4) + size_of(piece).to_bytes(4, "little") + body
    return bytes(raw)


def _rows(n_rows=6, n=9):
    rng = np.random.default_rng(54)
    return [[(HOM_REF, HET, HOM_ALT)[k] for k in rng.integers(0, 3, n)] for _ in range(n_rows)]


def test_reading_entry_files_in_a_fresh_worker_imports_no_pyarrow(tmp_path):
    """A fresh Python process that imports what a native pass's worker imports (``native_task``)
    and reads a part file's rows through ``EntriesReader`` (a task's reads) and ``bed_rows`` (the
    .bed writer's) gets the calls right without importing pyarrow. Before session 54 mt16 the
    reader took pyarrow's zstd codec: ``pyarrow`` was in ``sys.modules`` after the first read,
    0.04 CPU-s per worker in each run's first score phase (issue 16's fixed cost)."""
    rows = _rows()
    part = tmp_path / "part-0"
    part.write_bytes(_blocks(_stream(rows)))
    expected = [[DOSAGE[c] for c in r] for r in rows]
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from trd_spark.pgs.native_task import _DOSAGE_OF_PLINK_CODE
        from trd_spark.pgs.mt_entries import EntriesFiles, EntriesLayout, EntriesReader, bed_rows
        files = EntriesFiles({str(tmp_path)!r}, EntriesLayout(({str(part)!r},), ({len(rows)},), True), 9)
        out = np.empty(({len(rows)}, 9))
        EntriesReader(files, np.arange({len(rows)}), _DOSAGE_OF_PLINK_CODE).read(0, {len(rows)}, out)
        assert out.tolist() == {expected!r}, out
        assert len(bed_rows({str(part)!r}, np.arange({len(rows)}), {len(rows)})) == {len(rows)} * 3
        print("pyarrow" in sys.modules)
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def _read(tmp_path, raw, n_rows):
    part = tmp_path / "part-0"
    part.write_bytes(raw)
    files = EntriesFiles(str(tmp_path), EntriesLayout((str(part),), (n_rows,), True), 9)
    out = np.empty((n_rows, 9))
    EntriesReader(files, np.arange(n_rows), _DOSAGE_OF_PLINK_CODE).read(0, n_rows, out)
    return str(part), out


@pytest.mark.parametrize("case", ["size_one_more", "size_one_less", "cut_short", "not_zstd"])
def test_a_block_not_decompressing_to_its_headers_size_is_an_error_naming_the_part(tmp_path, case):
    """A block whose zstd frame does not give exactly the decompressed size its header says (one
    byte more or less), is cut short or is no zstd frame fails the read with an OSError naming the part file and the block's byte offset,
    as pyarrow's codec (given the size) refused it, never a stream read on at the wrong place.
    Before session 54 mt16 the error was pyarrow's, without the file ("Corrupt ZSTD compressed
    data"); the control: the same rows in well-formed blocks read as written."""
    rows = _rows()
    stream = _stream(rows)
    part, out = _read(tmp_path, _blocks(stream), len(rows))
    assert out.tolist() == [[DOSAGE[c] for c in r] for r in rows]
    kwargs = {"size_one_more": {"size_of": lambda p: len(p) + 1},
              "size_one_less": {"size_of": lambda p: len(p) - 1},
              "cut_short": {"frame": lambda p: zstd.compress(p)[:-2]},
              "not_zstd": {"frame": lambda p: b"\x00" * 8 + p}}[case]
    raw = _blocks(stream, **kwargs)
    with pytest.raises(OSError, match=rf"{part}: the zstd block at byte \d+ (does not decompress|decompresses to)"):
        _read(tmp_path, raw, len(rows))
    with pytest.raises(OSError, match=rf"{part}: the zstd block at byte \d+"):
        bed_rows(part, np.arange(len(rows)), len(rows))
