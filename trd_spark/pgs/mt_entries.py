"""The one adapter to Hail's on-disk MatrixTable entry format: hard calls read straight from a
MatrixTable's files, without Hail decoding the entries, by the native pass's tasks
(``EntriesFiles`` / ``EntriesReader``, ``engine._score_entries``) or written as a PLINK 1 .bed.

Hail's entry encoding is a private format of Hail 0.2.139, not an API. ``engine.score`` (and
``scoring.export_hard_calls``, when the pass's partials are summed in Spark) use this module for
a local MatrixTable read as it is (``format: mt``) whose matched rows are the file's own
biallelic rows, given their row numbers in the file (``genotypes.FILE_ROW``, from the match's
rows job or ``file_rows``: no Hail job of its own). ``file_rows`` reads a MatrixTable's
rows (locus and alleles alone) from its rows files for the match (``stage._mt_rows_at``).
Why: at 10k samples x 100k rows Hail's PLINK writer spends 37-45 JVM CPU-s decoding 1e9
entries, this reader ~21 worker CPU-s row by row (zstd + numpy; sessions 16 and 22 in
benchmarks/RESULTS.md), about a third of that at once (``_bed_rows_widened``, session 24), and
the .bed is byte for byte Hail's.
``tests/test_pgs_scoring.py`` writes a MatrixTable with the installed Hail and checks that this
module knows its layout and writes Hail's bytes: a Hail upgrade that changes the format fails
there. At run time an unknown layout is refused by ``entries_layout`` (``UnknownLayout``, whose
text names the metadata file and what differs) and a call this reader does not write by
``bed_rows`` (``NotDecodable``); the caller then uses Hail's writer.

Layout read (``entries/rows/metadata.json.gz`` of the MatrixTable; anything else: ``UnknownLayout``):

- spec ``IndexedRVDSpec2``, codec ``TypedCodecSpec`` with ``_eType``
  ``+EBaseStruct{<entries field>:+EArray2[EBaseStruct{GT:EVarint}]}`` (a required array of
  optional structs with one optional call ``GT``; ``+EBaseStruct``, required structs, when
  written straight from ``import_vcf``: no element-missing bits then), buffers
  ``BlockingBufferSpec(65536) > ZstdBlockBufferSpec(65536) > StreamBlockBufferSpec2``, one part
  file per count of the MatrixTable's ``partition_counts``;
- each part file is a sequence of blocks ``LEB128 length L | int32 LE decompressed size | zstd
  frame of L - 4 bytes``; the decompressed stream is, per row, a byte ``1``, the array length n
  (LEB128), ceil(n / 8) bytes of element-missing bits (optional elements only), then per element
  its field-missing byte (``0``: GT present, followed by GT as a LEB128 int; ``1``: GT missing),
  and a byte ``0`` after the last row;
- a call as an int: bit 0 phased, bits 1-2 ploidy, then the genotype index, so the unphased
  diploid calls 0/0, 0/1, 1/1 are 4, 12, 20.

Only those three calls and a missing GT are written (PLINK codes 11, 10, 00 and 01 with A1 =
alt); a missing array element (a filtered entry), a phased or non-diploid call or another allele
raises ``NotDecodable``.

Why GT alone (session 24): with other entry fields (GQ, DP, AD, as All of Us's MatrixTables carry;
Hail 0.2.139 writes ``+EBaseStruct{GT:..,GQ:EVarint,DP:+EVarint}``-like elements) each element
holds its optional fields' missing bits and every present field's LEB128 or array, so where an
element ends depends on its own bytes: no byte rewrite makes the elements one width, as
``_bed_rows_widened`` does for GT alone, and the parse becomes a scan element by element, in
Python ~800 ns per element (measured under load) against ~40 ns per entry for Hail's writer.
Such MatrixTables are refused (``UnknownLayout``) and Hail's writer exports them.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession


class NotDecodable(ValueError):
    """The entries hold something this reader does not write (see the module doc)."""


class UnknownLayout(ValueError):
    """The MatrixTable's entries are not in the layout of the module doc (the text names the file)."""


_ETYPE = re.compile(r"\+EBaseStruct\{`[^`]+`:\+EArray2\[(\+?)EBaseStruct\{GT:EVarint\}\]\}")
_BUFFER = {"name": "BlockingBufferSpec", "blockSize": 65536,
           "child": {"name": "ZstdBlockBufferSpec", "blockSize": 65536, "child": {"name": "StreamBlockBufferSpec2"}}}

# Hail's call int -> PLINK 1 2-bit code with A1 = alt (0/0 -> 11, 0/1 -> 10, 1/1 -> 00); 255: not written here.
_PLINK_CODE = np.full(256, 255, np.uint8)
_PLINK_CODE[4], _PLINK_CODE[12], _PLINK_CODE[20] = 3, 2, 0
_MISSING = 1


@dataclass(frozen=True)
class EntriesLayout:
    """The entry part files of a MatrixTable (in row order), the row count of each, and whether
    the array elements are optional (then ceil(n / 8) element-missing bytes precede them)."""

    parts: tuple[str, ...]
    counts: tuple[int, ...]
    optional_elements: bool


def _component_spec(path: str, component: str) -> tuple[str, list[int], dict]:
    """The rows spec of one component (``entries``, ``rows``) of the local MatrixTable ``path``:
    (its metadata file, the MatrixTable's partition counts, the spec as read). Raises
    UnknownLayout naming the file when a metadata file is missing or unreadable."""
    top = os.path.join(path, "metadata.json.gz")
    spec = os.path.join(path, component, "rows", "metadata.json.gz")
    try:
        with gzip.open(top, "rt") as f:
            counts = json.load(f)["components"]["partition_counts"]["counts"]
        with gzip.open(spec, "rt") as f:
            meta = json.load(f)
        if not isinstance(meta, dict) or not isinstance(meta.get("_codecSpec", {}), dict):
            raise TypeError("not a spec object")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UnknownLayout(f"{spec}: MatrixTable metadata not readable as Hail 0.2.139's ({e})") from None
    return spec, counts, meta


def entries_layout(path: str) -> EntriesLayout:
    """The entry part files of the local MatrixTable directory ``path`` when they are in the
    layout of the module doc. Raises UnknownLayout naming the metadata file and what differs
    (also when a metadata file is missing or unreadable)."""
    spec, counts, meta = _component_spec(path, "entries")
    codec = meta.get("_codecSpec", {})
    etype = _ETYPE.fullmatch(str(codec.get("_eType")))
    differs = [what for what, ok in (
        (f"spec {meta.get('name')!r}, not 'IndexedRVDSpec2'", meta.get("name") == "IndexedRVDSpec2"),
        (f"codec {codec.get('name')!r}, not 'TypedCodecSpec'", codec.get("name") == "TypedCodecSpec"),
        (f"entry type {codec.get('_eType')!r}, not a GT call alone", etype is not None),
        (f"buffers {codec.get('_bufferSpec')!r}", codec.get("_bufferSpec") == _BUFFER),
        (f"{len(meta.get('_partFiles', []))} part files for {len(counts)} partitions",
         len(meta.get("_partFiles", [])) == len(counts)),
    ) if not ok]
    if differs:
        raise UnknownLayout(f"{spec}: entries not in the layout the direct reader knows: {'; '.join(differs)}")
    assert etype is not None
    parts = tuple(os.path.join(path, "entries", "rows", "parts", p) for p in meta["_partFiles"])
    return EntriesLayout(parts, tuple(int(c) for c in counts), etype.group(1) != "+")


def _varint(data: bytes | bytearray, p: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[p]
        p += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 128:
            return value, p


def _frames(raw: bytes) -> tuple[list[tuple[int, int, int, int]], int]:
    """The zstd frames of a part file's bytes (module doc's blocks): (start, end, place in the
    decompressed stream, decompressed size) each, and the stream's total size."""
    frames, p, total = [], 0, 0
    while p < len(raw):
        length, p = _varint(raw, p)
        size = int.from_bytes(raw[p:p + 4], "little")
        frames.append((p + 4, p + length, total, size))
        total += size
        p += length
    return frames, total


# Bytes of a part file a streamed part reads at a time (``_FileBlocks``): a few dozen blocks, so
# that the compressed bytes are still in the core's cache when zstd reads them.
_READ_BYTES = 2**18


class _FileBlocks:
    """The blocks of an entries part file (module doc) read forward from the open file ``f``,
    ``_READ_BYTES`` at a time, into one buffer (``held[1]``: a bytearray, kept by the caller for
    its next part, no larger than the file, grown only for a block larger than it), instead of
    the whole file read into memory first; the whole blocks of each read listed at once (as
    ``_frames`` lists a file's), then given one by one (``next``). Why: a part file is ~20 MB at
    every sample count of the benchmark (~62M entries), read whole into fresh memory by each
    part's reader: ~5k page faults per part in a Python worker's first task and often again in
    its later ones (the 20 MB not reused by the heap), the file's bytes copied to memory and read
    back from it by zstd; here the buffer stays a few hundred KB and in the cache (issue 16,
    benchmarks/RESULTS.md session 55 mt16)."""

    def __init__(self, f: Any, held: list[Any], where: str) -> None:
        self._f = f
        self._size = os.fstat(f.fileno()).st_size
        self._where = where
        if len(held) < 2:  # (no larger than the file: a small part's reader holds no more than its bytes)
            held.append(bytearray(max(64, min(_READ_BYTES, self._size))))
        self._held = held
        self._hi = 0  # the bytes read: held[1][:hi]
        self._at = 0  # the file offset of held[1][0]
        self._listed: list[tuple[int, int, int]] = []  # the read's whole blocks: (frame start, end, size)
        self._next = 0  # the next of them to give
        self._eof = False
        self.ended = False  # the file read to its end and every block given

    def _read(self) -> None:
        """Read the file's next bytes after those of the blocks given (moved to the buffer's
        start; a buffer twice as large made when a block does not fit it) and list the whole
        blocks among them; at the file's end, its last bytes as a block cut short. Raises
        OSError naming the part file and the offset for a block header cut short by the end."""
        buffer = self._held[1]
        lo = self._listed[-1][1] if self._listed else 0  # the bytes after the last block listed
        self._listed, self._next = [], 0
        while True:
            if lo:
                buffer[:self._hi - lo] = buffer[lo:self._hi]
                self._at += lo
                self._hi -= lo
            elif self._hi == len(buffer):  # full, and no whole block in it: a block larger than the buffer
                larger = bytearray(2 * len(buffer))
                larger[:self._hi] = buffer
                self._held[1] = buffer = larger
            while not self._eof and self._hi < len(buffer):
                with memoryview(buffer) as room:
                    got = self._f.readinto(room[self._hi:])
                self._eof = not got
                self._hi += got
            p = 0
            while p < self._hi:
                try:
                    length, q = _varint(buffer, p)
                except IndexError:  # (a header cut by the buffer's end)
                    break
                if q + length > self._hi or q + 4 > self._hi:
                    break
                self._listed.append((q + 4, q + length, int.from_bytes(buffer[q:q + 4], "little")))
                p = q + length
            if self._listed or not self._eof:
                if self._listed:
                    return
                lo = 0
                continue
            if p < self._hi:  # the file's last bytes: a block cut short
                try:
                    _, q = _varint(bytes(buffer[p:self._hi]), 0)
                except IndexError:
                    q = self._hi
                else:
                    q += p
                if q + 4 > self._hi:
                    raise OSError(f"{self._where}: the file ends inside the block header at byte {self._at + p}")
                self._listed.append((q + 4, self._hi, int.from_bytes(buffer[q:q + 4], "little")))
            return

    def next(self) -> tuple[memoryview, int, int] | None:
        """The next block: its zstd frame (a view of the buffer, valid until the next call), the
        decompressed size its header gives and the frame's byte offset in the file; None after
        the last block. A block cut short by the end of the file is given as far as it goes
        (``_inflate`` then names the part file and the offset); a header cut short raises
        OSError naming them."""
        if self._next == len(self._listed):
            self._read()
            if not self._listed:
                self.ended = True
                return None
        start, end, size = self._listed[self._next]
        self._next += 1
        return memoryview(self._held[1])[start:end], size, self._at + start


class _BytesBlocks:
    """``_FileBlocks``' ``next`` over a part file's bytes already in memory (``_frames``)."""

    def __init__(self, raw: bytes) -> None:
        self._view = memoryview(raw)
        self._frames, _ = _frames(raw)
        self._next = 0
        self.ended = False

    def next(self) -> tuple[memoryview, int, int] | None:
        if self._next == len(self._frames):
            self.ended = True
            return None
        start, end, _, size = self._frames[self._next]
        self._next += 1
        return self._view[start:end], size, start


def _zstd() -> Any:
    """The zstd module: Python 3.14's ``compression.zstd``, else its backport ``backports.zstd``
    (a declared dependency, as for ``bgen_reader``'s zstd blocks). Why not pyarrow's codec, which
    decompresses as fast (3.3 ns per entry either way, 2.5k samples): a Python worker's first
    MatrixTable pass imported pyarrow for it, 0.04 CPU-s (1,600 page faults) per worker in every
    run's first score phase, a fixed cost, against 0.003 for this module (issue 16,
    benchmarks/RESULTS.md session 54 mt16)."""
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        from backports import zstd
    return zstd


def _inflate(zstd: Any, block: memoryview, size: int, where: str, start: int) -> bytes:
    """One block's zstd frame (``block``) decompressed: its ``size`` bytes (the block's header).
    Raises OSError naming ``where`` (the part file) and the block's byte offset when the frame
    does not decompress (corrupt, cut short) or not to exactly ``size`` bytes (pyarrow's codec,
    given the size, refused both)."""
    try:
        out = zstd.decompress(block)
    except zstd.ZstdError as e:
        raise OSError(f"{where}: the zstd block at byte {start} does not decompress ({e})") from None
    if len(out) != size:
        raise OSError(f"{where}: the zstd block at byte {start} decompresses to {len(out)} bytes, "
                      f"not the {size} its header gives")
    return out


def _decompress(raw: bytes, where: str = "an entries part file") -> bytearray:
    """A part file's bytes (module doc's blocks) decompressed into one buffer, each zstd frame
    written into its place (no list of pieces joined). Raises OSError naming ``where`` for a
    block that does not decompress to its size (``_inflate``)."""
    zstd = _zstd()
    view = memoryview(raw)
    frames, total = _frames(raw)
    out = bytearray(total)
    into = memoryview(out)
    for start, end, at, size in frames:
        into[at:at + size] = _inflate(zstd, view[start:end], size, where, start)
    return out


# Widened bytes a part stream decodes and checks at a time (``_PartStream.advance``): within a
# core's L2 (1 MiB here), so that the bytes are checked and looked up while still in the cache.
_STREAM_STEP_BYTES = 2**19


class _PartStream:
    """The rows of one entries part file read forward a few at a time from its widened stream
    (the decompressed part with every byte 0x01 written 0x00 0x01, as ``_calls_of_widened``
    reads it whole): each zstd frame is decompressed and widened when the rows reach it, into a
    small buffer (``held``: one uint8 array, kept by the caller for its next part; the bytes of
    rows already read are dropped), and each step of rows is checked as ``_calls_of_widened``
    checks a part's rows (the header of every row, each entry's two bytes, the first row's
    array length n; ``finish``: the row count and the end byte). ``advance`` gives the calls of
    the next rows, ``finish`` checks the rest of the part; both give None when the part is not
    one ``_calls_of_widened`` reads (the caller then parses it row by row, which names what it
    found). Why: the whole part widened into one buffer was ~2 bytes per entry of fresh pages
    (126 MB a part of the benchmark's MatrixTables at every sample count: ~31k page faults per
    task, its bytes written to memory and read back twice); a step stays in the cache and the
    buffer is a few steps long (benchmarks/RESULTS.md, session 35 flatmt). ``raw``: the part
    file's bytes, or the part file open for reading (``EntriesReader``), whose blocks are then
    read forward as the rows reach them (``_FileBlocks``, its buffer ``held[1]``)."""

    def __init__(self, raw: Any, n_rows: int, optional_elements: bool, held: list[Any],
                 where: str = "an entries part file") -> None:
        self._zstd = _zstd()
        self._where = where  # the part file, for errors (``_inflate``)
        if not held:
            held.append(np.empty(2 * _STREAM_STEP_BYTES, np.uint8))
        # The part's blocks: from its bytes, or read from its open file as the rows reach them.
        self._blocks: _BytesBlocks | _FileBlocks = _BytesBlocks(raw) if isinstance(raw, bytes) \
            else _FileBlocks(raw, held, where)
        self._n_rows = n_rows
        self._optional = optional_elements
        self._held = held
        self._lo = self._hi = 0  # the widened bytes not read yet: held[0][lo:hi]
        self.next_row = 0  # the part's rows before it are read and checked
        self.n: int | None = None  # the first row's array length (None until ``start``)
        self._header = np.zeros(0, np.uint8)
        self._width = 0

    def _fill(self, need: int) -> bool:
        """At least ``need`` widened bytes not read yet in the buffer (frames decompressed and
        widened as needed; the unread bytes moved to its start, or a larger buffer made, when
        the next frame does not fit); False when the part has fewer."""
        while self._hi - self._lo < need:
            block = self._blocks.next()
            if block is None:
                break
            frame, size, start = block
            piece = _inflate(self._zstd, frame, size, self._where, start).replace(b"\x01", b"\x00\x01")
            frame.release()
            buffer = self._held[0]
            if self._hi + len(piece) > len(buffer):
                kept = self._hi - self._lo
                if kept + len(piece) > len(buffer):  # a step or a frame larger than the room: a larger buffer
                    larger = np.empty(2 * (kept + len(piece)), np.uint8)
                    larger[:kept] = buffer[self._lo:self._hi]
                    self._held[0] = buffer = larger
                else:
                    buffer[:kept] = buffer[self._lo:self._hi]  # (numpy copies overlapping ranges exactly)
                self._lo, self._hi = 0, kept
            buffer.data[self._hi:self._hi + len(piece)] = piece
            self._hi += len(piece)
        return self._hi - self._lo >= need

    def start(self) -> bool:
        """Read the first row's header (its array length ``n``); False when the part does not
        start as ``_calls_of_widened`` reads it."""
        self._fill(24)
        head = bytes(self._held[0][self._lo:min(self._hi, self._lo + 24)])
        if len(head) < 3 or head[0] != 0 or head[1] != 1:
            return False
        try:
            n, _ = _varint(head[1:].replace(b"\x00\x01", b"\x01"), 1)
        except IndexError:  # the stream ends inside the array length
            return False
        self.n = n
        self._header = _widened_header(n, self._optional)
        self._width = len(self._header) + 2 * n
        return True

    def step_rows(self) -> int:
        """Rows ``advance`` reads at most at a time (``_STREAM_STEP_BYTES`` of widened rows, at least 1)."""
        return max(1, _STREAM_STEP_BYTES // max(1, self._width))

    def advance(self, stop: int) -> np.ndarray | None:
        """The widened call bytes (``stop - next_row`` x n uint8, a view of the buffer, valid
        until the next call) of the part's rows ``next_row..stop``, checked; None when they are
        not all such rows (or the part ends before them)."""
        assert self.n is not None and self.next_row <= stop <= self._n_rows
        count = stop - self.next_row
        if not self._fill(count * self._width):
            return None
        rows = self._held[0][self._lo:self._lo + count * self._width].reshape(count, self._width)
        if not _rows_read_at_once(rows, self._header):
            return None
        self._lo += count * self._width
        self.next_row = stop
        return rows[:, len(self._header):].reshape(count, self.n, 2)[:, :, 1]

    def finish(self) -> bool:
        """Read and check the part's rows after ``next_row`` and its end (one byte 0 after the
        last row, nothing after it); False when the part is not one ``_calls_of_widened`` reads."""
        while self.next_row < self._n_rows:
            if self.advance(min(self._n_rows, self.next_row + self.step_rows())) is None:
                return False
        self._fill(2)
        return self._hi - self._lo == 1 and self._held[0][self._lo] == 0 and self._blocks.ended


def _widened_header(n: int, optional_elements: bool) -> np.ndarray:
    """The widened bytes (uint8) every row of ``n`` entries starts with when ``_calls_of_widened``
    / ``_PartStream`` read it: ``1`` (present), the array length, the element-missing bytes (all
    0; none without ``optional_elements``), each 0x01 written 0x00 0x01."""
    return np.frombuffer((b"\x01" + _varint_bytes(n) + bytes((n + 7) // 8 if optional_elements else 0))
                         .replace(b"\x01", b"\x00\x01"), np.uint8)


def _rows_read_at_once(rows: np.ndarray, header: np.ndarray) -> bool:
    """Whether every widened row of ``rows`` (rows x (len(header) + 2n) uint8) starts with
    ``header`` (``_widened_header``) and holds n present one-byte calls: the check of
    ``_calls_of_widened`` and ``_PartStream.advance`` (exactness argued at
    ``_calls_of_widened``)."""
    # Each entry's two bytes as one little-endian uint16 (field-missing byte low, call byte
    # high): the low byte 0 and the high byte < 128 <=> no bit of 0x80FF set. One pass over
    # the step's entries where two strided passes (0.81 -> 0.22 ns per entry, 10k samples,
    # under load: benchmarks/RESULTS.md, session 33 flatmt); unaligned rows (an odd row
    # width) are read by numpy's unaligned loops, the same bits.
    return bool((rows[:, :len(header)] == header).all()) and not (rows[:, len(header):].view("<u2") & 0x80FF).any()


def _varint_bytes(value: int) -> bytes:
    """``value`` (>= 0) as LEB128, the bytes ``_varint`` reads."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


# A byte of the stream with every 0x01 written 0x00 0x01 (``_bed_rows_widened``), read as the
# call after an entry's field-missing byte -> PLINK 2-bit code: 1 (a missing GT) -> 01, the
# calls 4, 12, 20 -> 11, 10, 00; 255: not written here.
_WIDENED_CODE = _PLINK_CODE.copy()
_WIDENED_CODE[1] = _MISSING
# Rows per step of ``_bed_rows_widened``'s packing: its temporaries stay a few entries per row x this.
_ROWS_PER_STEP = 1024
# Entries per step of ``_widened_calls``' checks (rows: this / the row length, at least 1): their
# temporaries (~1-2 bytes per entry) stay within a core's cache share whatever the sample count;
# 1,024 rows a step made 20-40 MB of them at 20k samples (and 250-500 MB at 250k).
_ENTRIES_PER_STEP = 2**20


def _widened_calls(data: bytearray, n_rows: int, optional_elements: bool) -> np.ndarray | None:
    """``_calls_of_widened`` of the decompressed part ``data`` (widened here)."""
    return _calls_of_widened(data.replace(b"\x01", b"\x00\x01"), n_rows, optional_elements)


def _calls_of_widened(widened: bytes | bytearray | memoryview, n_rows: int, optional_elements: bool) -> np.ndarray | None:
    """Every row's calls of a part whose rows all hold one-byte calls and no filtered entry,
    parsed at once from its widened stream (``widened``: the decompressed part with every byte
    0x01 written 0x00 0x01, as ``_widened_calls`` and ``_PartStream`` write it): an ``n_rows x n`` uint8 view (rows x columns,
    the widened call bytes, which ``_WIDENED_CODE`` maps to PLINK codes) of ``widened``; None
    when the part is not such a part (the row-by-row parse, ``_codes_row_by_row``, then names
    what it found). Every row is checked, wanted or not: the part's row count, each row's
    header, each entry's two bytes.

    Why it is exact: in the stream with each byte 0x01 written as 0x00 0x01 (``bytes.replace``,
    C speed), an entry is 2 bytes whether its GT is missing (``1`` -> ``0 1``) or present (``0
    c``, c a one-byte call >= 2), so each row is the same width: its widened header (``1``,
    the array length, the element-missing bytes, all 0) and 2n bytes. A row that is not (a call
    of two bytes, a call 0 or 1, a filtered entry's missing bit) changes a row's width or puts
    a byte other than 0 where a field-missing byte belongs, or a byte >= 128 where a call
    belongs: the total length, every row's header and every entry's two bytes are checked. A
    widened pair ``0 1`` can only come from a missing GT and ``0 c`` (c >= 2) only from a call
    c, so the checked rows read as the row-by-row parse reads them. The first row's array
    length n is read from the stream's first bytes widened back (each 0x00 0x01 -> 0x01: every
    0x01 of the widened stream follows the 0x00 written before it, so that is exact)."""
    if len(widened) < 3 or widened[0] != 0 or widened[1] != 1:
        return None
    try:
        n, _ = _varint(bytes(widened[1:24]).replace(b"\x00\x01", b"\x01"), 1)
    except IndexError:  # the stream ends inside the array length: not such a part
        return None
    header = _widened_header(n, optional_elements)
    width = len(header) + 2 * n
    if len(widened) != n_rows * width + 1 or widened[-1] != 0:
        return None
    rows = np.frombuffer(widened, np.uint8, n_rows * width).reshape(n_rows, width)
    per_step = max(1, _ENTRIES_PER_STEP // max(1, n))
    for first in range(0, n_rows, per_step):
        if not _rows_read_at_once(rows[first:first + per_step], header):
            return None
    return rows[:, len(header):].reshape(n_rows, n, 2)[:, :, 1]


def _bed_rows_widened(data: bytearray, keep: np.ndarray, n_rows: int, optional_elements: bool) -> bytes | None:
    """``bed_rows``' bytes for a part whose rows all hold one-byte calls and no filtered entry,
    parsed for every row at once (``_widened_calls``: exactness argued there); None when the
    part is not such a part (``bed_rows`` then parses it row by row, which names what it found).
    Raises NotDecodable for a wanted row's call other than 0/0, 0/1, 1/1 or missing."""
    calls = _widened_calls(data, n_rows, optional_elements)
    if calls is None:
        return None
    out: list[bytes] = []
    for first in range(0, len(keep), _ROWS_PER_STEP):
        codes = _WIDENED_CODE[calls[keep[first:first + _ROWS_PER_STEP]]]
        if (codes == 255).any():
            raise NotDecodable("a call other than unphased diploid 0/0, 0/1, 1/1")
        out.append(_pack(codes))
    return b"".join(out)


def _pack(codes: np.ndarray) -> bytes:
    """PLINK 1 .bed rows (4 codes a byte, the first in the low bits, each row padded to whole
    bytes) of ``codes`` (rows x samples of 2-bit codes, uint8)."""
    padded = np.concatenate([codes, np.zeros((len(codes), -codes.shape[1] % 4), np.uint8)], axis=1)
    q = padded.reshape(len(codes), -1, 4)
    return (q[:, :, 0] | q[:, :, 1] << 2 | q[:, :, 2] << 4 | q[:, :, 3] << 6).tobytes()


def bed_rows(part: str, keep: np.ndarray, n_rows: int, optional_elements: bool = True) -> bytes:
    """The .bed bytes (no magic header) of the rows ``keep`` (sorted row numbers within the part
    file ``part``, 0-based) of one entries part file of ``n_rows`` rows (``optional_elements``:
    ``EntriesLayout``'s). Raises NotDecodable (module doc) for a wanted row's call, and for any
    row whose bytes do not parse exactly (a call of two bytes or more, i.e. >= 128, anywhere).
    Rows after the last wanted one are still parsed: the part's row count and end are checked.
    Every row at once (``_bed_rows_widened``: ~5x less CPU than row by row, session 24) when
    every call is one byte and no entry is filtered, else row by row."""
    with open(part, "rb") as f:
        data = _decompress(f.read(), part)
    try:
        fast = _bed_rows_widened(data, keep, n_rows, optional_elements)
    except NotDecodable as e:
        raise NotDecodable(f"{part}: {e}") from None
    if fast is not None:
        return fast
    codes = _codes_row_by_row(data, keep, n_rows, optional_elements, part)
    return _pack(codes) if len(codes) else b""


def _codes_row_by_row(data: bytearray, keep: np.ndarray, n_rows: int, optional_elements: bool, part: str
                      ) -> np.ndarray:
    """The PLINK 1 codes (uint8, ``len(keep) x n``; A1 = alt: 0/0 -> 11, 0/1 -> 10, 1/1 -> 00,
    missing -> 01) of the rows ``keep`` of the decompressed part ``data`` (``bed_rows``' other
    arguments), parsed row by row; every row is parsed and checked. Raises NotDecodable naming
    ``part`` for what the module doc lists."""
    a = np.frombuffer(data, np.uint8)
    out: list[np.ndarray] = []
    wanted = set(keep.tolist())
    p = row = 0
    while p < len(a) and a[p] == 1:
        n, p = _varint(data, p + 1)
        n_bytes = (n + 7) // 8 if optional_elements else 0
        if a[p:p + n_bytes].any():
            raise NotDecodable(f"{part}: a missing entry (filtered), not a missing call")
        p += n_bytes
        window = a[p:p + 2 * n]
        if len(window) == 2 * n and not window[0::2].any():  # every GT present: (0, call) x n
            end, calls = 2 * n, window[1::2]
            codes = _PLINK_CODE[calls]
        else:  # some GT missing: (1) alone; a one-byte call >= 2 is never taken for a marker
            markers = np.flatnonzero(window <= 1)[:n]
            if len(markers) < n:
                raise NotDecodable(f"{part}: a row shorter than its entries")
            present = window[markers] == 0
            # Parsed right only when each present call sits right after its marker.
            if not np.array_equal(np.diff(markers), np.where(present[:-1], 2, 1)) or markers[0] != 0:
                raise NotDecodable(f"{part}: a call of ploidy 0 or of two bytes or more")
            last = markers[-1]
            end = last + (2 if window[last] == 0 else 1)
            calls = window[markers[present] + 1]
            codes = np.full(n, _MISSING, np.uint8)
            codes[present] = _PLINK_CODE[calls]
        if (calls >= 128).any():
            raise NotDecodable(f"{part}: a call of two bytes or more")
        p += end
        if row in wanted:
            if (codes == 255).any():
                raise NotDecodable(f"{part}: a call other than unphased diploid 0/0, 0/1, 1/1")
            out.append(codes)
        row += 1
    if row != n_rows or p + 1 != len(a) or a[p] != 0:
        raise NotDecodable(f"{part}: {row} rows parsed of {n_rows}, or bytes after the last row")
    return np.stack(out) if out else np.zeros((0, 0), np.uint8)


def _part_task(item: tuple[str, np.ndarray, int, bool, str]) -> int:
    part, keep, n_rows, optional_elements, out = item
    with open(out, "wb") as f:
        f.write(bed_rows(part, keep, n_rows, optional_elements))
    return len(keep)


def write_bed(spark: SparkSession, layout: EntriesLayout, rows: np.ndarray, bed: str) -> None:
    """Write the .bed ``bed`` (a local path every task can write) of the MatrixTable's rows
    ``rows`` (sorted, distinct global row numbers), one Spark task per part file with a wanted
    row, each writing ``{bed}.partNNNNN``, joined here (the pieces are removed, also on failure).
    Raises NotDecodable in a task (Spark's error names it)."""
    starts = np.concatenate([[0], np.cumsum(layout.counts)])
    items = []
    for i, part in enumerate(layout.parts):
        keep = rows[(rows >= starts[i]) & (rows < starts[i + 1])] - starts[i]
        if len(keep):
            items.append((part, keep, layout.counts[i], layout.optional_elements, f"{bed}.part{i:05d}"))
    try:
        spark.sparkContext.parallelize(items, max(1, len(items))).map(_part_task).collect()
        with open(bed, "wb") as f:
            f.write(b"\x6c\x1b\x01")
            for *_, piece in items:
                with open(piece, "rb") as g:
                    f.write(g.read())
    finally:
        for *_, piece in items:
            if os.path.exists(piece):
                os.remove(piece)



# A file row's cost to a task that decodes and checks it but does not score it (zstd, widening,
# the checks: ~3.8 ns per entry), as a share of a wanted row's (those, the lookup and the
# product of 61 scores: ~8.6 ns per entry), 2.5k and 20k samples alike (session 36 flatmt,
# in-process task CPU); rounded up, as the product's share falls with fewer scores.
_DECODE_SHARE = 0.5


@dataclass(frozen=True)
class EntriesFiles:
    """A local MatrixTable whose entries the native engine reads straight from its part files
    (``pgen_engine.score``; ``EntriesReader`` in its tasks): the directory, its entries'
    ``EntriesLayout`` and its column count (from ``cols/metadata.json.gz``). ``variants`` and
    ``samples`` are what errors name, as ``pgen_engine.PlinkFiles``' are."""

    path: str
    layout: EntriesLayout
    n_samples: int

    @classmethod
    def open(cls, path: str) -> EntriesFiles:
        """The entries of the local MatrixTable directory ``path``. Raises UnknownLayout (as
        ``entries_layout``) naming the metadata file when they are in another layout or a
        metadata file is missing or unreadable."""
        layout = entries_layout(path)
        cols = os.path.join(path, "cols", "metadata.json.gz")
        try:
            with gzip.open(cols, "rt") as f:
                n_samples = sum(int(c) for c in json.load(f)["components"]["partition_counts"]["counts"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UnknownLayout(f"{cols}: MatrixTable metadata not readable as Hail 0.2.139's ({e})") from None
        return cls(path, layout, n_samples)

    def at_part_starts(self, bounds: list[int], rows: np.ndarray) -> list[int]:
        """Task bounds (``pgen_engine.task_bounds``' over ``rows``, the tasks' global row
        numbers, ascending; indices into ``rows``) each moved to the nearest first wanted row of
        an entries part, so that no part is decompressed and checked by two tasks, unless the
        move would unbalance the tasks more than that shared part costs: a bound stays inside
        its part when the rows it would move by (wanted rows, each read, looked up and
        multiplied) exceed ``_DECODE_SHARE`` x the larger of the part's file rows either task
        would decode besides its own (the task before the bound reads the part to its end, the
        one after reads it from its start: ``EntriesReader``). An approximation, for speed only
        (the rows read are the same wherever a bound falls): the move is counted in wanted rows
        and the file rows between them that the move also hands over (each ``_DECODE_SHARE``) are
        left out, so with sparse wanted rows a move costs more than counted. Bounds that meet are merged
        (fewer tasks). Why not always moved: 15 parts over 2 tasks (20k samples x 50k rows)
        made tasks of 7 and 8 parts, the job as long as the 8-part task: 7% over an even split
        (benchmarks/RESULTS.md, session 36 flatmt)."""
        if len(rows) == 0 or len(bounds) <= 2:
            return bounds
        ends = np.cumsum(self.layout.counts)
        part = np.searchsorted(ends, rows, side="right")
        firsts = np.flatnonzero(np.r_[True, np.diff(part) != 0])
        inner = set()
        for b in bounds[1:-1]:
            nearest = int(firsts[np.abs(firsts - b).argmin()])
            if nearest != b and 0 < b < len(rows) and part[b - 1] == part[b]:  # b cuts a part
                start = int(ends[part[b]] - self.layout.counts[part[b]])
                head = int(rows[b]) - start  # file rows the task after the bound decodes first
                tail = int(ends[part[b]] - rows[b - 1]) - 1  # and the task before it after its last row
                if abs(nearest - b) > _DECODE_SHARE * max(head, tail):
                    inner.add(int(b))
                    continue
            inner.add(nearest)
        return sorted({0, len(rows)} | inner)

    @property
    def variants(self) -> str:
        return os.path.join(self.path, "rows")

    @property
    def samples(self) -> str:
        return os.path.join(self.path, "cols")


class EntriesReader:
    """The calls of a task's rows (``rows``: global row numbers of the MatrixTable, ascending and
    distinct) as one value per PLINK 1 code (``values``: 4 floats, indexed by the code; A1 =
    alt, so ``pgen_engine`` passes alt dosages 2, missing, 1, 0), read part by part and, within
    a part, forward a few rows at a time (``_PartStream``): a part's rows are decoded and checked
    as the reads reach them, every row wanted or not (as ``bed_rows`` checks them), and the rest
    of the part (its rows after the task's last wanted row, its row count and end) when that
    last wanted row is read; so a task holds a few steps of rows of one part at a time, not a
    part. The same calls as ``bed_rows`` writes: from the widened stream where the part is one
    ``_calls_of_widened`` reads, else (found at any row) from the whole part parsed row by row
    (``_codes_row_by_row``) for the part's wanted rows not read yet.
    Why: the .bed that ``write_bed`` wrote was read back by pgenlib in a second Spark job; read
    here, the scores need one job and no file (benchmarks/RESULTS.md, session 27).
    ``read`` raises NotDecodable naming the part file for a call the module doc does not read
    and for rows whose length is not the column count: for a wanted row, in the read that asks
    for it; for another row of the part, in the read that reaches it or the one that asks for
    the part's last wanted row (the task fails before it yields its partials: ``native_task``).
    Raises ValueError when ``rows`` are not ascending and distinct: ``read`` places a request's
    rows part by part, so rows out of order across two parts would land at the wrong positions
    with no error. Never input data: the one caller (``native_task._block_reader``, a task's
    ``variant_idx``) gets its rows in file order from ``pgen_engine.score`` (``_placed_weights``),
    and ``engine._entries_files`` takes no repeated file row."""

    def __init__(self, files: EntriesFiles, rows: np.ndarray, values: np.ndarray) -> None:
        if len(rows) > 1 and not bool((np.diff(rows) > 0).all()):  # one pass over the task's rows
            raise ValueError(f"{files.path}: the entry reader's rows are not ascending and distinct")
        self._files = files
        self._rows = rows
        self._starts = np.concatenate([[0], np.cumsum(files.layout.counts)]).astype(np.int64)
        self._of_code = np.asarray(values, np.float64)
        # Widened call byte -> value (``_WIDENED_CODE``'s codes); a call not written: NaN, refused.
        self._of_call = np.full(256, np.nan)
        written = _WIDENED_CODE != 255
        self._of_call[written] = self._of_code[_WIDENED_CODE[written]]
        self._part = -1
        self._file: Any = None  # the open part's file, read by its stream (``_FileBlocks``)
        self._stream: _PartStream | None = None
        self._matrix: np.ndarray | None = None  # the open part's wanted rows' codes, parsed row by row
        self._index: np.ndarray | None = None  # their rows in the part (``_matrix``'s rows)
        # The streams' buffer (``_PartStream``), reused by the task's next part.
        self._held: list[np.ndarray] = []

    def _wanted(self, p: int) -> np.ndarray:
        """The task's rows in part ``p``, as row numbers within it."""
        lo, hi = np.searchsorted(self._rows, self._starts[p:p + 2])
        return self._rows[lo:hi] - self._starts[p]

    def _open(self, p: int) -> None:
        self._stream = self._matrix = self._index = None  # the previous part freed before the next is read
        layout = self._files.layout
        self._close()
        # Read forward as the rows reach its blocks (``_FileBlocks``), not whole into memory.
        self._file = open(layout.parts[p], "rb", buffering=0)
        self._part = p
        stream = _PartStream(self._file, layout.counts[p], layout.optional_elements, self._held, layout.parts[p])
        if not stream.start():
            self._row_by_row()
            return
        self._check_width(stream.n)
        self._stream = stream

    def _close(self) -> None:
        """Close the open part's file (a part done with, or one parsed row by row)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _check_width(self, n: int | None) -> None:
        if n is not None and n != self._files.n_samples:
            # No count: a row's entries and the columns are the samples (a log or an error
            # names no count of persons; docs/privacy.md).
            raise NotDecodable(f"{self._files.layout.parts[self._part]}: rows of "
                               f"{'fewer' if n < self._files.n_samples else 'more'} "
                               "entries than the MatrixTable has columns")

    def _row_by_row(self) -> None:
        """The open part parsed whole, row by row (rare: a part the widened stream does not read;
        the parse names what it found); its wanted rows' codes kept for the reads."""
        layout, p = self._files.layout, self._part
        keep = self._wanted(p)
        self._stream = None
        self._close()
        with open(layout.parts[p], "rb") as f:
            raw = f.read()
        matrix = _codes_row_by_row(_decompress(raw, layout.parts[p]), keep, layout.counts[p], layout.optional_elements,
                                   layout.parts[p])
        self._check_width(matrix.shape[1] if len(matrix) else None)
        self._stream, self._matrix, self._index = None, matrix, keep

    def _read_part(self, local: np.ndarray, dest: np.ndarray) -> None:
        """The open part's rows ``local`` (row numbers within it, ascending) as values in ``dest``."""
        i = 0
        while i < len(local) and self._stream is not None:
            stream = self._stream
            first = stream.next_row
            stop = min(first + stream.step_rows(), int(local[-1]) + 1)
            calls = stream.advance(stop)
            if calls is None:
                self._row_by_row()
                break
            j = i + int(np.searchsorted(local[i:], stop))
            if j > i:
                # uint8 indices: always in range. A refused call is NaN, which makes the (cached)
                # request's sum NaN: half the CPU of a lookup of the calls in a refused-call table.
                # Consecutive rows (a run of the part's rows all wanted: every read where a score
                # weights each row, as in the benchmark) are a slice of the step's calls, looked
                # up in place, not gathered into a copy first (1.19 -> 0.94 ns per entry, 10k
                # samples, under load: session 33 flatmt). Each step checked (one pass over the
                # rows, not the entries): a span test alone takes an unsorted or repeated
                # request ([3, 5, 4, 6], [0, 0, 2]) for the run it spans and reads wrong rows.
                at = local[i:j] - first
                consecutive = bool(np.all(np.diff(at) == 1))
                np.take(self._of_call, calls[at[0]:at[-1] + 1] if consecutive else calls[at], out=dest[i:j],
                        mode="clip")
            i = j
        if i < len(local):
            assert self._matrix is not None and self._index is not None
            np.take(self._of_code, self._matrix[np.searchsorted(self._index, local[i:])], out=dest[i:], mode="clip")
        if np.isnan(dest.sum()):
            raise NotDecodable(f"{self._files.layout.parts[self._part]}: a call other than unphased diploid "
                               "0/0, 0/1, 1/1")
        wanted = self._wanted(self._part)
        if self._stream is not None and len(local) and local[-1] == wanted[-1]:
            # The part's last wanted row: the rest of it checked now (its file then closed).
            if not self._stream.finish():
                self._row_by_row()
            self._stream = None
            self._close()

    def read(self, lo: int, hi: int, out: np.ndarray) -> np.ndarray:
        """The values of the task's rows ``lo:hi`` (indices into ``rows``) written to the first
        ``hi - lo`` rows of ``out`` (float64, rows x columns) and returned (that view)."""
        rows = self._rows[lo:hi]
        parts = np.searchsorted(self._starts, rows, side="right") - 1
        at = 0
        for p in np.unique(parts):  # ascending: the rows are
            local = rows[parts == p] - self._starts[p]
            # A part is read forward: rows before where its stream is (read again: not the
            # pass's order, which reads each row once) or of a part done with are read anew.
            if p != self._part or self._matrix is None and (self._stream is None
                                                            or local[0] < self._stream.next_row):
                self._open(int(p))
            self._read_part(local, out[at:at + len(local)])
            at += len(local)
        return out[:at]


def _decompressed_parts(component: str, part_files: list[str], counts: list[int]) -> Iterator[tuple[str, int, bytes]]:
    """(part file name, its row count, its decompressed bytes) for each part file of a
    component's rows directory ``component`` (``rows/rows``, ``cols/rows``), one at a time."""
    for part, n in zip(part_files, counts):
        with open(os.path.join(component, "parts", part), "rb") as f:
            yield part, n, bytes(_decompress(f.read(), os.path.join(component, "parts", part)))

# Rows ``file_rows`` reads at most: it takes one Python step per row (~5-9 us under load) where
# Hail's rows job at the score loci costs 8-10 JVM CPU-s, mostly fixed (2k x 20k bench MT,
# session 24 in benchmarks/RESULTS.md); past ~1e6 rows Hail's compiled reader is the cheaper.
DIRECT_ROWS_MAX = 1_000_000

# The rows of a MatrixTable holding its key alone (locus, alleles), as Hail 0.2.139 writes them
# (``select_rows()``): the struct and its fields optional or required (``+``).
_ROWS_ETYPE = re.compile(r"(\+?)EBaseStruct\{locus:(\+?)EBaseStruct\{contig:\+EBinary2,position:\+EVarint\},"
                         r"alleles:(\+?)EArray2\[(\+?)EBinary2\]\}")


def file_rows(path: str, max_rows: int = DIRECT_ROWS_MAX) -> pd.DataFrame | None:
    """Every row of the local MatrixTable directory ``path`` from its own rows files
    (``rows/rows``), when they hold the key alone (``_ROWS_ETYPE``: locus and alleles, no other
    row field), as ``matching.genotype_rows_at`` takes them before the filter: ``contig``
    (object), ``position`` (int64), ``alleles`` (list of str, REF first), ``file_row`` (int64,
    ``genotypes.FILE_ROW``: 0-based, in file order, i.e. ``Table.add_index``'s), in file (key)
    order; None (nothing read) when the MatrixTable has more than ``max_rows`` rows.
    Raises UnknownLayout naming the metadata file for other layouts (another row field, codec,
    buffers) and NotDecodable for a missing locus, alleles or allele (Hail's job reads those)."""
    import pandas as pd

    spec, counts, meta = _component_spec(path, "rows")
    codec = meta.get("_codecSpec", {})
    etype = _ROWS_ETYPE.fullmatch(str(codec.get("_eType")))
    if (etype is None or meta.get("name") != "IndexedRVDSpec2" or codec.get("name") != "TypedCodecSpec"
            or codec.get("_bufferSpec") != _BUFFER or len(meta.get("_partFiles", [])) != len(counts)):
        raise UnknownLayout(f"{spec}: rows not in the layout the direct reader knows (locus and alleles alone)")
    if sum(counts) > max_rows:
        return None
    struct_bytes = 1 if "" in (etype.group(2), etype.group(3)) else 0  # the optional fields' missing bits
    optional_alleles = etype.group(4) != "+"
    contig, position, alleles = [], [], []
    for part, n_rows, data in _decompressed_parts(os.path.join(path, "rows", "rows"), meta["_partFiles"], counts):
        p = row = 0
        while p < len(data) and data[p] == 1:
            p += 1
            if struct_bytes and data[p]:
                raise NotDecodable(f"{part}: a row without locus or alleles")
            p += struct_bytes
            length, p = _varint(data, p)
            contig.append(data[p:p + length].decode())
            pos, p = _varint(data, p + length)
            position.append(pos)
            n, p = _varint(data, p)
            if not n:
                raise NotDecodable(f"{part}: a row without alleles")
            if optional_alleles:
                if any(data[p:p + (n + 7) // 8]):
                    raise NotDecodable(f"{part}: a missing allele")
                p += (n + 7) // 8
            row_alleles = []
            for _ in range(n):
                length, p = _varint(data, p)
                row_alleles.append(data[p:p + length].decode())
                p += length
            alleles.append(row_alleles)
            row += 1
        if row != n_rows or p + 1 != len(data) or data[p] != 0:
            raise NotDecodable(f"{part}: {row} rows parsed of {n_rows}, or bytes after the last row")
    return pd.DataFrame({"contig": pd.Series(contig, dtype=object), "position": np.array(position, np.int64),
                         "alleles": pd.Series(alleles, dtype=object),
                         "file_row": np.arange(len(position), dtype=np.int64)})


# The cols of a MatrixTable holding its column key ``s`` alone (a string), as Hail 0.2.139 writes them.
_COLS_ETYPE = re.compile(r"\+?EBaseStruct\{s:(\+?)EBinary2\}")


def file_cols(path: str) -> list[str]:
    """The column keys (sample IDs, ``s``) of the local MatrixTable directory ``path`` in column
    order, read from its own cols files (``cols/rows``) when they hold ``s`` alone
    (``_COLS_ETYPE``): what ``mt.key_cols_by().cols().s.collect()`` gives, without Hail's job
    (a Hail compile and Spark job, mostly fixed cost; ~2 us per sample here). Layout: per column
    a byte ``1``, one missing-bits byte when ``s`` is optional, ``s`` as LEB128 length + UTF-8
    bytes; a byte ``0`` after the last; part files and counts from ``cols/metadata.json.gz``
    and ``cols/rows/metadata.json.gz``. Raises UnknownLayout naming the metadata file for
    other layouts (another column field, codec, buffers) and NotDecodable for a missing ``s``
    or bytes that do not parse as that many columns."""
    spec = os.path.join(path, "cols", "rows", "metadata.json.gz")
    try:
        with gzip.open(os.path.join(path, "cols", "metadata.json.gz"), "rt") as f:
            counts = json.load(f)["components"]["partition_counts"]["counts"]
        with gzip.open(spec, "rt") as f:
            meta = json.load(f)
        codec = meta["_codecSpec"]
        etype = _COLS_ETYPE.fullmatch(str(codec.get("_eType")))
        known = (etype is not None and meta.get("name") in ("OrderedRVDSpec2", "IndexedRVDSpec2")
                 and codec.get("name") == "TypedCodecSpec" and codec.get("_bufferSpec") == _BUFFER
                 and len(meta.get("_partFiles", [])) == len(counts))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UnknownLayout(f"{spec}: MatrixTable metadata not readable as Hail 0.2.139's ({e})") from None
    if not known:
        raise UnknownLayout(f"{spec}: cols not in the layout the direct reader knows (the sample ID s alone)")
    assert etype is not None
    optional = etype.group(1) != "+"
    ids: list[str] = []
    for part, n_cols, data in _decompressed_parts(os.path.join(path, "cols", "rows"), meta["_partFiles"], counts):
        p = col = 0
        while p < len(data) and data[p] == 1:
            p += 1
            if optional:
                if data[p]:
                    raise NotDecodable(f"{part}: a column without its sample ID s")
                p += 1
            length, p = _varint(data, p)
            ids.append(data[p:p + length].decode())
            p += length
            col += 1
        if col != n_cols or p + 1 != len(data) or data[p] != 0:
            # No count: columns are samples (``stage._mt_sample_ids`` logs this message).
            raise NotDecodable(f"{part}: {'fewer' if col < n_cols else 'more'} columns than its metadata counts"
                               if col != n_cols else f"{part}: bytes after the last column")
    return ids
