"""mt_entries' two parses of a MatrixTable entries part file agree (no Spark, no Hail).

The part files here are written by hand in the layout of ``trd_spark.pgs.mt_entries``' module doc
(zstd blocks; per row ``1``, the array length, the element-missing bytes, per element its
field-missing byte and GT); that a Hail-written MatrixTable is in that layout, and that the .bed
equals Hail's writer's, is ``tests/test_pgs_scoring.py``'s. Here: every row at once
(``_bed_rows_widened``) takes a part of one-byte calls and gives the same bytes as the hand
encoding, and hands a part it cannot read exactly (a call of two bytes whose second byte is 1,
which keeps the widened rows' width; a filtered entry) to the row-by-row parse, which refuses it.
"""

from __future__ import annotations

import numpy as np
import pytest

from trd_spark.pgs.mt_entries import NotDecodable, _bed_rows_widened, _decompress, _varint_bytes, bed_rows

# Hail's call ints: unphased diploid 0/0, 0/1, 1/1, 1/2; phased 0|1; a missing GT is None.
HOM_REF, HET, HOM_ALT, HET_1_2, PHASED_0_1 = 4, 12, 20, 36, 13
PLINK = {HOM_REF: 0b11, HET: 0b10, HOM_ALT: 0b00, None: 0b01}


def _part(tmp_path, rows, *, optional_elements=True, filtered=(), block=7):
    """A part file of ``rows`` (lists of call ints or None) in zstd blocks of ``block`` bytes;
    ``filtered``: (row, element) whose element-missing bit is set (its field-missing byte left out)."""
    import pyarrow as pa

    stream = bytearray()
    for r, calls in enumerate(rows):
        n = len(calls)
        bits = bytearray((n + 7) // 8 if optional_elements else 0)
        for rr, e in filtered:
            if rr == r:
                bits[e // 8] |= 1 << (e % 8)
        stream += b"\x01" + _varint_bytes(n) + bits
        for e, call in enumerate(calls):
            if (r, e) in filtered:
                continue
            stream += b"\x01" if call is None else b"\x00" + _varint_bytes(call)
    stream += b"\x00"
    codec = pa.Codec("zstd")
    raw = bytearray()
    for at in range(0, len(stream), block):
        piece = bytes(stream[at:at + block])
        frame = codec.compress(piece, asbytes=True)
        raw += _varint_bytes(len(frame) + 4) + len(piece).to_bytes(4, "little") + frame
    path = tmp_path / "part-0"
    path.write_bytes(bytes(raw))
    return str(path)


def _bed(rows, keep):
    """The hand encoding: PLINK 1 codes (A1 = alt) 4 a byte, first sample in the low bits."""
    out = bytearray()
    for r in keep:
        codes = [PLINK[c] for c in rows[r]] + [0] * (-len(rows[r]) % 4)
        out += bytes(sum(codes[i + j] << (2 * j) for j in range(4)) for i in range(0, len(codes), 4))
    return bytes(out)


@pytest.mark.parametrize("n", [5, 128], ids=["5_samples", "128_samples_length_byte_0x01"])
@pytest.mark.parametrize("optional_elements", [True, False], ids=["optional", "required"])
def test_every_row_at_once_reads_one_byte_calls_as_the_hand_encoding(tmp_path, n, optional_elements):
    rng = np.random.default_rng(n)
    rows = [[[HOM_REF, HET, HOM_ALT, None][k] for k in rng.integers(0, 4, n)] for _ in range(4)]
    rows[1][0] = HET_1_2  # a multi-allelic row's call in a row not written
    rows[3] = [None] * n
    part = _part(tmp_path, rows, optional_elements=optional_elements)
    data = _decompress(open(part, "rb").read())
    keep = np.array([0, 2, 3])
    assert _bed_rows_widened(data, keep, 4, optional_elements) == _bed(rows, keep)
    assert bed_rows(part, keep, 4, optional_elements) == _bed(rows, keep)
    with pytest.raises(NotDecodable, match="a call other than unphased diploid"):
        bed_rows(part, np.array([1]), 4, optional_elements)


@pytest.mark.parametrize(("case", "message"), [
    ("two_byte_call", "a call of two bytes or more"),  # 129 = 0x81 0x01: widened, 0x81 0x00 0x01
    ("filtered_entry", "a missing entry"),
    ("phased", "a call other than unphased diploid"),
    ("row_count", r"\d rows parsed of 4"),
])
def test_a_part_not_read_exactly_at_once_is_refused_row_by_row(tmp_path, case, message):
    rows = [[HOM_REF, HET, None, HOM_ALT, HET] for _ in range(3)]
    filtered: tuple[tuple[int, int], ...] = ()
    n_rows = 3
    if case == "two_byte_call":
        rows[1][2] = 129
    elif case == "filtered_entry":
        filtered = ((1, 3),)
    elif case == "phased":
        rows[2][1] = PHASED_0_1
    else:
        n_rows = 4
    part = _part(tmp_path, rows, filtered=filtered)
    data = _decompress(open(part, "rb").read())
    keep = np.array([0, 2])
    if case == "phased":
        with pytest.raises(NotDecodable, match=message):
            _bed_rows_widened(data, keep, n_rows, True)
    else:
        assert _bed_rows_widened(data, keep, n_rows, True) is None
    with pytest.raises(NotDecodable, match=f"^{part}: {message}"):
        bed_rows(part, keep, n_rows, True)
