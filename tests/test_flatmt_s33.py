"""Session 33 flatmt: the MatrixTable entry reader's cheaper per-entry steps read the same calls
(no Spark, no Hail; hand-written part files as tests/test_pgs_mt_entries.py writes them).

- ``mt_entries._calls_of_widened`` checks each entry's two widened bytes as one little-endian
  uint16 against 0x80FF (field-missing byte 0, call byte < 128) in one pass, at even and odd row
  widths (an odd width leaves every other row's entries unaligned for numpy).
- ``mt_entries.EntriesReader.read`` looks the calls of consecutive wanted rows up through a slice
  of the part's calls, and of rows with gaps through their gathered copy: the same values.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_pgs_mt_entries import HET, HOM_ALT, HOM_REF, _part

from trd_spark.pgs import mt_entries
from trd_spark.pgs.mt_entries import EntriesFiles, EntriesLayout, EntriesReader, _varint_bytes
from trd_spark.pgs.native_task import _DOSAGE_OF_PLINK_CODE


def _widened(rows: list[list[int]], n: int) -> bytes:
    """The widened stream (the decompressed part with each 0x01 written 0x00 0x01, as
    ``mt_entries._widened_calls`` writes it) of rows of n entries, each entry given as
    its two widened bytes packed in an int (low byte first, as written), with the optional
    elements' header: 0x00 0x01, the array length, its element-missing bytes (all 0)."""
    header = (b"\x01" + _varint_bytes(n) + bytes((n + 7) // 8)).replace(b"\x01", b"\x00\x01")
    out = bytearray()
    for row in rows:
        out += header + b"".join(bytes((e & 0xFF, e >> 8)) for e in row)
    return bytes(out + b"\x00")


# n with an even and an odd widened row width (header 4 + 10 bytes; header 5 + 18 bytes).
@pytest.mark.parametrize("n", [5, 9], ids=["even_width", "odd_width"])
def test_each_entrys_two_bytes_are_checked_at_even_and_odd_row_widths(n):
    """A part of 3 rows of present one-byte calls reads as its calls; one entry anywhere with a
    field-missing byte other than 0 (0x01, 0x80) or a call byte >= 128 (0x80, 0xFF) makes it
    None (not read at once). Mutants (not committed): the view read big-endian (``>u2``: good
    rows refused), the mask 0x00FF (call bytes >= 128 taken), 0x807F (field-missing byte
    0x80 taken): each fails here."""
    assert (len(_widened([[0] * n], n)) - 1) % 2 == (0 if n == 5 else 1)  # the row width's parity
    rng = np.random.default_rng(n)
    calls = rng.choice([1, HOM_REF, HET, HOM_ALT], size=(3, n)).astype(np.uint16)  # 1: a missing GT (0x00 0x01)
    good = [[int(c) << 8 for c in row] for row in calls]
    got = mt_entries._calls_of_widened(_widened(good, n), 3, True)
    assert got is not None
    np.testing.assert_array_equal(got, calls)
    for r in range(3):
        for e in range(n):
            for bad in (0x01, 0x80, 0x80 << 8, 0xFF << 8):
                rows = [list(row) for row in good]
                rows[r][e] = bad | (HET << 8 if bad < 0x100 else 0)
                assert mt_entries._calls_of_widened(_widened(rows, n), 3, True) is None, (r, e, hex(bad))


def one_part_reader(tmp_path, seed: int, wanted: list[int]):
    """(an ``EntriesReader`` of rows ``wanted`` of one part of 4 random rows x 6 samples, the
    alt dosages expected for them by hand encoding, the rows' calls)."""
    rng = np.random.default_rng(seed)
    rows = [[[HOM_REF, HET, HOM_ALT, None][k] for k in rng.integers(0, 4, 6)] for _ in range(4)]
    part = _part(tmp_path, rows)
    files = EntriesFiles(str(tmp_path), EntriesLayout((part,), (4,), True), 6)
    dose = {HOM_REF: 0.0, HET: 1.0, HOM_ALT: 2.0, None: -9.0}
    expected = np.array([[dose[c] for c in rows[r]] for r in wanted])
    return EntriesReader(files, np.array(wanted, dtype=np.int64), _DOSAGE_OF_PLINK_CODE), expected, rows


@pytest.mark.parametrize("wanted", [[0, 1, 2, 3], [1, 2], [0, 2, 3], [0, 1, 3], [3]],
                         ids=["all", "run", "gap_span_eq_len", "gap_at_end", "one"])
def test_runs_and_gaps_of_wanted_rows_read_the_same_dosages(tmp_path, wanted):
    """``EntriesReader.read`` over one part of 4 rows x 6 samples, each wanted row alone and all
    at once: the alt dosages of the hand encoding (A1 = alt: 0/0 -> 0, 0/1 -> 1, 1/1 -> 2,
    missing -> pgenlib's -9). Rows [0, 2, 3] span 3 = their count: a consecutive-rows test off
    by one takes them for a run (mutant ``== len(local)``: fails here, the 4 rows 0..3 into 3)."""
    reader, expected, _ = one_part_reader(tmp_path, len(wanted), wanted)
    np.testing.assert_array_equal(reader.read(0, len(wanted), np.full((len(wanted), 6), np.nan)), expected)
    for i in range(len(wanted)):
        np.testing.assert_array_equal(reader.read(i, i + 1, np.full((1, 6), np.nan)), expected[i:i + 1])
