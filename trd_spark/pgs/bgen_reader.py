"""BGEN 1.2 read without Hail, for the native scoring engine (``pgen_engine``): the header,
the sample IDs, the variant list (from the bgenix ``.bgi`` index, else one pass over the
variant headers) and blocks of alt dosages read at the matched variants' byte offsets.

What is read is what Hail's ``import_bgen`` reads (is.hail.io.bgen.StagedBGENReader), with
the same dosage to the last bit: layout 2 (BGEN 1.2/1.3), zlib, zstd or no compression,
unphased diploid genotypes with 8-bit probabilities; per sample the two stored probabilities
d0 = P(REF/REF), d1 = P(REF/ALT) (as integers 0..255; d2 = 255 - d0 - d1) give the expected
ALT count ``(d1 + 2 * d2) / 255.0``, the first allele being REF (plink2 ``--bgen ref-first``,
``--export bgen-1.2``, Hail); a sample whose ploidy byte has the missing bit (0x80) is a
missing genotype. A haploid call (ploidy 1: plink2 ``--export bgen-1.2`` writes a male's X
outside the PARs so) reads as homozygous, ``2 x (255 - d0) / 255``, as plink2 ``--bgen`` reads
it; ploidy 0 (a woman's chrY in plink2's export) is a missing call. Anything else (phased
data, other bit depths, ploidy above 2) is one InputDataError
naming the file and the variant, as Hail refuses it. Multi-allelic variants
(K > 2 alleles), which Hail and plink2 do not read either, are left out of the variant list
and their loci listed (``VariantIndex.multiallelic_loci``), so matching counts the score variants there as
``multiallelic_unreadable``, as on Hail's route (``genotypes._read_bgen``).

Sample IDs: the IDs embedded in the file (the sample identifier block); without them the
``ID_2`` column of the Oxford ``.sample`` file beside it (``x.sample`` or ``x.bgen.sample``;
``ID_1`` is plink2's FID, often 0); both present must agree (``sample_ids``), and so must the two
.sample files when both names are there (``_sample_table``). Either way they go
through ``genotypes.sample_persons``.

Source: the BGEN format spec (https://www.chg.ox.ac.uk/~gav/bgen_format/spec/latest.html)
and bgenix's index schema (tables ``Metadata`` and ``Variant``).
"""

from __future__ import annotations

import csv
import io
import logging
import mmap
import os
import sqlite3
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trd_spark.errors import InputDataError, header_fields_text, raise_other_width
from trd_spark.io import bgen_sample_file_candidates
from trd_spark.pgs.variant_list import VariantIndex

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

# Compression codes of the header flags (bits 0-1).
_COMPRESSION = {0: "none", 1: "zlib", 2: "zstd"}
# Missing dosage as pgenlib writes it (pgen_engine.PGENLIB_MISSING).
_MISSING = -9.0
# Per (d0, d1) pair read as one little-endian uint16 (d0 | d1 << 8): Hail's dosage
# (d1 + 2 * (255 - d0 - d1)) / 255.0, the integer numerator divided once, as Hail does.
_D0, _D1 = np.meshgrid(np.arange(256), np.arange(256), indexing="xy")
_DOSAGE_OF_PAIR = ((510 - 2 * _D0 - _D1) / 255.0).astype(np.float64).reshape(-1)
del _D0, _D1


@dataclass(frozen=True)
class BgenFiles:
    """One BGEN file as the native engine reads it: ``path``, ``n_samples``, ``n_variants``
    and ``compression`` (0 none, 1 zlib, 2 zstd) from its header, the byte offset of its first
    variant block, and the sample IDs it embeds (None without a sample identifier block)."""

    path: str
    n_samples: int
    n_variants: int
    compression: int
    first_variant: int
    embedded_ids: tuple[str, ...] | None

    format = "bgen"

    @property
    def matrix(self) -> str:
        return self.path

    @property
    def index(self) -> str:
        """The bgenix index beside the file (read when it exists)."""
        return f"{self.path}.bgi"

    @property
    def variants(self) -> str:
        """Where errors about the variant list point: the .bgi when there is one."""
        return self.index if os.path.isfile(self.index) else self.path

    @property
    def samples(self) -> str:
        """Where the sample IDs come from: the file itself, or its .sample."""
        return self.path if self.embedded_ids is not None else (_sample_file(self.path) or self.path)

    @classmethod
    def open(cls, path: str, opener: Callable[..., Any] = open) -> BgenFiles:
        """Read the header block (and the sample identifier block when present); ``opener``
        opens ``path`` for reading bytes (``hailtop.fs.open`` for a URI). Raises
        InputDataError naming the file for a file that is missing, not BGEN, of another layout
        than 2, of an unknown compression, or cut short inside its header."""
        try:
            with opener(path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    raise InputDataError("not a BGEN file (shorter than its header)", where=path)
                offset, header_len = struct.unpack("<II", head)
                block = f.read(header_len - 4)
                if header_len < 20 or len(block) != header_len - 4 or offset < header_len:
                    raise InputDataError("not a BGEN file (its header block is cut short or malformed)", where=path)
                n_variants, n_samples = struct.unpack_from("<II", block, 0)
                magic = block[8:12]
                (flags,) = struct.unpack_from("<I", block, header_len - 8)
                if magic not in (b"bgen", b"\0\0\0\0"):
                    raise InputDataError(f"not a BGEN file (magic number {magic!r}, expected b'bgen')", where=path)
                compression, layout = flags & 3, (flags >> 2) & 0xF
                if layout != 2:
                    raise InputDataError(f"BGEN layout {layout}: only layout 2 (BGEN 1.2/1.3, what plink2 "
                                         "--export bgen-1.2 and Hail write) is read", where=path)
                if compression not in _COMPRESSION:
                    raise InputDataError(f"unknown BGEN compression code {compression}", where=path)
                ids = None
                if flags >> 31:
                    ids = _read_sample_block(f, n_samples, offset + 4, path)
        except OSError as e:
            raise InputDataError(f"cannot read the BGEN: {e.strerror or e}", where=path) from None
        return cls(path, n_samples, n_variants, compression, offset + 4, ids)


def _read_sample_block(f, n_samples: int, end: int, path: str) -> tuple[str, ...]:
    raw = f.read(8)
    if len(raw) != 8:
        raise InputDataError("the sample identifier block is cut short", where=path)
    length, n = struct.unpack("<II", raw)
    body = f.read(length - 8)
    if n != n_samples or len(body) != length - 8 or f.tell() > end:
        # No count (samples are persons: logs.person_count_text): which part disagrees.
        raise InputDataError("the sample identifier block does not fit the header (its number of IDs differs from "
                             "the header's sample count)" if n != n_samples else
                             "the sample identifier block does not fit the header (its length)", where=path)
    ids, p = [], 0
    try:
        for _ in range(n):
            (k,) = struct.unpack_from("<H", body, p)
            ids.append(body[p + 2:p + 2 + k].decode())
            p += 2 + k
    except (struct.error, UnicodeDecodeError):
        raise InputDataError("the sample identifier block is malformed", where=path) from None
    return tuple(ids)


def _sample_file(path: str, exists: Callable[[str], bool] = os.path.isfile) -> str | None:
    """The Oxford .sample beside ``path`` (the first of ``bgen_sample_file_candidates`` that exists)."""
    return next((candidate for candidate in bgen_sample_file_candidates(path) if exists(candidate)), None)


def _sample_table(files: BgenFiles, fs: Any = None) -> tuple[str, pd.DataFrame] | None:
    """The Oxford .sample beside the BGEN (``_sample_file``) and its ``sample_file_table``; None
    without one. ``fs``: as ``sample_ids``'. When both candidates are there (``x.sample`` and
    ``x.bgen.sample``) they must be one file's content: the same samples in the same order
    (``ID_1`` / ``ID_2``) and the same sex column; else one InputDataError naming both and the
    first sample number that differs. Why: the first was taken without a look at the other, while
    plink2 ``--sample`` and Hail's ``sample_file=`` read the one they are given, so another
    release's .sample, or one in another order, beside the right one put every score on another
    person (or read another sex on X), silently."""
    exists = os.path.isfile if fs is None else fs.exists
    found = [c for c in bgen_sample_file_candidates(files.path) if exists(c)]
    tables = []
    for sample in found:
        if fs is None:
            tables.append(sample_file_table(sample, files.n_samples))
        else:
            with fs.open(sample, "r") as f:
                tables.append(sample_file_table(sample, files.n_samples, f.read()))
    if not found:
        return None
    if len(found) == 2:
        first, second = tables

        def column(table: pd.DataFrame, name: str) -> np.ndarray:
            picked = next((c for c in table.columns if c.lower() == name.lower()), None)
            return np.full(len(table), "", dtype=object) if picked is None else table[picked].to_numpy(object)

        differ = np.zeros(files.n_samples, dtype=bool)
        for name in ("ID_1", "ID_2", "sex"):
            differ |= column(first, name) != column(second, name)
        if differ.any():
            # Sample numbers only: the IDs are person IDs (privacy).
            raise InputDataError(
                f"two Oxford .sample files beside the BGEN, {found[0]} and {found[1]}, differ from sample "
                f"#{int(np.flatnonzero(differ)[0]) + 1} on (ID_1, ID_2 or sex): which one belongs to the file "
                "cannot be told (plink2 --sample and Hail's sample_file= read the one they are given); remove the "
                "other", where=files.path)
    return found[0], tables[0]


def sample_ids(files: BgenFiles, fs: Any = None) -> list[str]:
    """The sample IDs in file order: embedded, else ``ID_2`` of the .sample beside the file
    (header line, then a types line ``0 0 0 D ...``, then one line per sample); ``fs``: a
    module with ``exists`` and ``open`` (``hailtop.fs``) for a file on a URI, else local files.
    Raises InputDataError naming the file when there are none, or when the .sample has another
    number of samples than the file.

    A file that embeds IDs and has a .sample beside it must agree with it, sample by sample:
    ``ID_2``, or ``ID_1_ID_2`` (plink2 ``--export bgen-1.2`` embeds FID_IID when the samples
    have a FID; its .sample holds them apart). Otherwise (another order, another release's
    .sample) it is one InputDataError naming both files and the first sample number that
    differs: plink2 ``--sample`` and Hail's ``sample_file=`` take the .sample's IDs, this reader
    the embedded ones, so one of the two would silently put every score on another person."""
    beside = _sample_table(files, fs)
    if beside is None:
        if files.embedded_ids is not None:
            return list(files.embedded_ids)
        raise InputDataError("the BGEN embeds no sample IDs and has no .sample file beside it "
                             "(x.sample or x.bgen.sample)", where=files.path)
    sample, table = beside
    if files.embedded_ids is None:
        return table["ID_2"].tolist()
    embedded = np.array(files.embedded_ids, dtype=object)
    agree = embedded == table["ID_2"].to_numpy(object)
    if "ID_1" in table.columns:
        agree |= embedded == (table["ID_1"] + "_" + table["ID_2"]).to_numpy(object)
    if not agree.all():
        # Sample numbers only: the IDs are person IDs (privacy).
        raise InputDataError(
            f"the sample IDs embedded in the BGEN differ, from sample #{int(np.flatnonzero(~agree)[0]) + 1} on, "
            f"from ID_2 of the Oxford file beside it, {sample} (another order or another release's .sample): "
            "which is right cannot be told; remove the .sample that does not belong to the file, or rewrite it "
            "(plink2 --bgen x.bgen ref-first --export bgen-1.2 writes both)", where=files.path)
    return list(files.embedded_ids)


def sample_file_sex(files: BgenFiles, fs: Any = None) -> np.ndarray | None:
    """Per sample in file order, the sex of the Oxford .sample beside the BGEN
    (``sample_sex.MALE`` / ``FEMALE`` / ``UNKNOWN``, int8) from its ``sex`` column, as plink2
    ``--sample`` reads it (1/M male, 2/F female, 0/NA unknown; ``sample_sex.plink_sex_codes``);
    None when there is no .sample or it has no sex column. ``fs``: as ``sample_ids``' (a module
    with ``exists`` and ``open``, ``hailtop.fs``, for a BGEN on a URI: gs://, hdfs://, file://).
    Why: bgenix / qctool exports code a male's X calls diploid, so the calls do not tell his
    sex; plink2 reads it from this column and counts his X call as one allele observation. Read
    after ``sample_ids`` (which checks the .sample against the file); errors as
    ``sample_file_table``."""
    from trd_spark.pgs.sample_sex import plink_sex_codes

    beside = _sample_table(files, fs)
    if beside is None:
        return None
    table = beside[1]
    column = next((c for c in table.columns if c.lower() == "sex"), None)
    return None if column is None else plink_sex_codes(table[column].tolist())


def sample_file_ids(sample: str, n_samples: int, text: str | None = None) -> list[str]:
    """``ID_2`` of the Oxford .sample ``sample`` (``sample_file_table``)."""
    return sample_file_table(sample, n_samples, text)["ID_2"].tolist()


def sample_file_table(sample: str, n_samples: int, text: str | None = None) -> pd.DataFrame:
    """The Oxford .sample ``sample`` (header line, a types line, one line per sample) as strings,
    one row per sample, with an ``ID_2`` column, read from ``text`` when given (a file on
    another file system), for a BGEN of ``n_samples`` samples. Raises InputDataError naming the .sample when it cannot be read,
    has no ``ID_2`` column or another number of samples, or a line with another number of fields
    than its header (pandas silently read a first sample line with one more field as an index,
    shifting every column: ID_2 would be the next column's value; a shorter line as empty)."""
    try:
        source: str | io.StringIO = sample if text is None else io.StringIO(text)
        # A quote is a character, one sample per line, as plink2 --sample reads it (pandas' quoting
        # joined the lines from an ID opening with '"' to the next '"': one error about the count).
        table = pd.read_csv(source, sep=r"\s+", dtype=str, keep_default_na=False, skiprows=[1],
                            quoting=csv.QUOTE_NONE)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise InputDataError(f"cannot read the .sample file: {str(e).splitlines()[0]}", where=sample) from None
    if not isinstance(table.index, pd.RangeIndex) or (table == "").to_numpy().any():
        raise_other_width(sample, text, first_data_line=3, reference="the header",  # line 2: the types line
                          otherwise="a line with another number of fields than the header")
    if "ID_2" not in table.columns:
        raise InputDataError(f"no ID_2 column: {header_fields_text(list(table.columns), ['ID_1', 'ID_2', 'missing', 'sex'])}",
                             where=sample)
    if len(table) != n_samples:
        raise InputDataError(f"{'fewer' if len(table) < n_samples else 'more'} samples than the BGEN header's "
                             "sample count", where=sample)  # no count: samples are persons
    return table


def variant_index(files: BgenFiles, recode: Callable[[str], str]) -> VariantIndex:
    """The file's biallelic variants in file order, as ``pgen_engine.variant_index`` gives a
    .bim/.pvar's: ``contig`` (``recode``d; leading zeros of a numeric chromosome dropped),
    ``position``, ``ref`` (first allele), ``alt``, ``rsid``, ``variant_idx`` (0-based among
    all the file's variants), ``allele_idx`` (1), plus ``offset`` and ``size`` (int64: the
    variant block's byte range, which a task reads). From the ``.bgi`` when it exists (its
    Metadata must describe this file: same size and first 1000 bytes), else from one pass over
    the variant headers. ``multiallelic_loci`` / ``n_multiallelic``: variants with K > 2
    alleles, left out; ``variant_numbers`` True (errors name variant numbers, not lines);
    ``allele_idx_offsets`` None.
    Raises InputDataError naming the file for a stale or unreadable index or a cut file."""
    if os.path.isfile(files.index):
        table = _from_bgi(files)
    else:
        log.info("%s: no .bgi index beside the file; reading the %d variant headers (index it once with "
                 "`bgenix -g FILE -index` to skip this)", files.path, files.n_variants)
        table = _from_headers(files)
    chrom = table["chrom"].astype(str)
    codes, uniques = pd.factorize(chrom)
    names = [(c.lstrip("0") or "0") if c.isdigit() else c for c in uniques]
    contig = np.array([recode(c) for c in names], dtype=object)[codes] if len(table) else np.array([], dtype=object)
    multi = table["n_alleles"].to_numpy(np.int64) > 2
    loci = sorted({f"{c}:{p}" for c, p in zip(contig[multi], table["pos"].to_numpy(np.int64)[multi])})
    keep = ~multi
    out = pd.DataFrame({
        "contig": contig[keep],
        "position": table["pos"].to_numpy(np.int64)[keep],
        "ref": table["a1"].to_numpy(object)[keep],
        "alt": table["a2"].to_numpy(object)[keep],
        "rsid": table["rsid"].to_numpy(object)[keep],
        "variant_idx": np.flatnonzero(keep).astype(np.int64),
        "allele_idx": np.ones(int(keep.sum()), dtype=np.int32),
        "offset": table["offset"].to_numpy(np.int64)[keep],
        "size": table["size"].to_numpy(np.int64)[keep],
    })
    if loci:
        log.warning("%s: %d multi-allelic BGEN variant(s) at %d locus/loci skipped (e.g. %s): Hail and plink2 read "
                    "biallelic BGEN variants only, and so does this reader; score variants there are counted in the "
                    "match summary as n_unreadable (split them before writing the BGEN, e.g. bcftools norm -m-, "
                    "to score them)", files.path, int(multi.sum()), len(loci), ", ".join(loci[:3]))
    return VariantIndex(out, None, 1, variant_numbers=True, multiallelic_loci=tuple(loci),
                        n_multiallelic=int(multi.sum()))


def _from_bgi(files: BgenFiles) -> pd.DataFrame:
    """The Variant table of a bgenix index, in file order; the index must describe this file."""
    where = files.index
    try:
        with sqlite3.connect(f"file:{files.index}?mode=ro", uri=True) as db:
            meta = db.execute("SELECT file_size, first_1000_bytes FROM Metadata").fetchone()
            table = pd.read_sql_query(
                "SELECT chromosome AS chrom, position AS pos, rsid, number_of_alleles AS n_alleles, allele1 AS a1, "
                "allele2 AS a2, file_start_position AS offset, size_in_bytes AS size FROM Variant "
                "ORDER BY file_start_position", db)
    except (sqlite3.Error, pd.errors.DatabaseError) as e:
        raise InputDataError(f"cannot read the bgenix index: {e}", where=where) from None
    size = os.path.getsize(files.path)
    with open(files.path, "rb") as f:
        first = f.read(1000)
    problem = _bgi_metadata_problem(meta)
    if not problem and (meta[0] != size or meta[1] != first):
        raise InputDataError(f"the index describes another file ({meta[0]} bytes; the BGEN has {size}): re-index "
                             "it (`bgenix -g FILE -index -clobber`) or remove it", where=where)
    problem = problem or _bgi_variant_problem(table, files.first_variant, size)
    if problem:
        raise InputDataError(f"a malformed bgenix index: {problem}; re-index it (`bgenix -g FILE -index -clobber`) "
                             "or remove it", where=where)
    if len(table) != files.n_variants:
        raise InputDataError(f"the index lists {len(table)} variants, the BGEN header {files.n_variants}: re-index "
                             "it (`bgenix -g FILE -index -clobber`)", where=where)
    return table


# The bgenix index's Variant columns as ``_from_bgi`` names them, and what each must hold.
_BGI_INTEGERS = {"pos": "position", "n_alleles": "number_of_alleles", "offset": "file_start_position",
                 "size": "size_in_bytes"}
_BGI_TEXTS = {"chrom": "chromosome", "rsid": "rsid", "a1": "allele1"}


def _bgi_metadata_problem(meta: tuple | None) -> str | None:
    """What is wrong with a bgenix index's Metadata row ``meta`` (file_size, first_1000_bytes),
    or None: SQLite keeps a value of any type in any column, and ``int()``/``bytes()`` of a
    wrong one was a traceback. Source: bgenix's schema (Metadata: file_size INT,
    first_1000_bytes BLOB)."""
    if meta is None:
        return "its Metadata table has no row (it cannot be checked against the BGEN)"
    if not isinstance(meta[0], int) or isinstance(meta[0], bool):
        return "Metadata file_size is not an integer"
    if not isinstance(meta[1], bytes):
        return "Metadata first_1000_bytes is not a blob"
    return None


def _bgi_variant_problem(table: pd.DataFrame, first_variant: int, file_size: int) -> str | None:
    """What is wrong with a bgenix index's Variant rows ``table`` (in file order, numbered 1..;
    of an index whose Metadata describes this file), or None: a value of another type was a
    traceback further on, a byte range outside the variant blocks a read of the wrong bytes in a
    Spark task. Source: bgenix's schema (Variant: NOT NULL columns, allele2 nullable)."""
    for col, name in _BGI_INTEGERS.items():
        values = table[col]
        if len(values) and not pd.api.types.is_integer_dtype(values.dtype):  # a NULL or a text: float / object
            bad = ~values.map(lambda v: isinstance(v, int) and not isinstance(v, bool)).to_numpy(bool)
            return f"Variant {name} is not an integer in row {int(np.flatnonzero(bad)[0]) + 1 if bad.any() else '?'}"
    for col, name in _BGI_TEXTS.items():
        bad = ~table[col].map(lambda v: isinstance(v, str)).to_numpy(bool)
        if bad.any():
            return f"Variant {name} is not a text in row {int(np.flatnonzero(bad)[0]) + 1}"
    start = table["offset"].to_numpy(np.int64)
    end = start + table["size"].to_numpy(np.int64)
    outside = (start < first_variant) | (table["size"].to_numpy(np.int64) <= 0) | (end > file_size) | \
        np.r_[False, start[1:] < end[:-1]]
    if outside.any():
        return (f"Variant row {int(np.flatnonzero(outside)[0]) + 1}'s byte range (file_start_position, size_in_bytes) "
                "is not inside the BGEN's variant blocks or overlaps the row before")
    return None


def _from_headers(files: BgenFiles) -> pd.DataFrame:
    """One pass over the variant identifying blocks (genotype blocks skipped by their length)."""
    m = files.n_variants
    chrom: list[str] = [""] * m
    rsid: list[str] = [""] * m
    a1: list[str] = [""] * m
    a2: list[str] = [""] * m
    pos = np.zeros(m, dtype=np.int64)
    n_alleles = np.zeros(m, dtype=np.int64)
    offset = np.zeros(m, dtype=np.int64)
    size = np.zeros(m, dtype=np.int64)
    u16, u32 = struct.Struct("<H").unpack_from, struct.Struct("<I").unpack_from
    with open(files.path, "rb") as f:
        end = os.fstat(f.fileno()).st_size
        if end == 0:
            raise InputDataError("empty file", where=files.path)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            p = files.first_variant
            try:
                for i in range(m):
                    offset[i] = p
                    p += 2 + u16(mm, p)[0]  # variant id
                    k = u16(mm, p)[0]
                    rsid[i] = mm[p + 2:p + 2 + k].decode()
                    p += 2 + k
                    k = u16(mm, p)[0]
                    chrom[i] = mm[p + 2:p + 2 + k].decode()
                    p += 2 + k
                    pos[i], n = u32(mm, p)[0], u16(mm, p + 4)[0]
                    n_alleles[i] = n
                    p += 6
                    for a in range(n):
                        k = u32(mm, p)[0]
                        if a < 2:
                            (a1 if a == 0 else a2)[i] = mm[p + 4:p + 4 + k].decode()
                        p += 4 + k
                    p += 4 + u32(mm, p)[0]  # the genotype block
                    size[i] = p - offset[i]
                    if p > end:
                        raise struct.error
            except (struct.error, ValueError, UnicodeDecodeError):
                raise InputDataError(f"the BGEN ends inside variant {i + 1} of {m} (cut short?) or its header is "
                                     "malformed", where=files.path) from None
    return pd.DataFrame({"chrom": chrom, "pos": pos, "rsid": rsid, "n_alleles": n_alleles, "a1": a1, "a2": a2,
                         "offset": offset, "size": size})


def _decompressor(compression: int, path: str) -> Callable[[bytes, int], bytes] | None:
    if compression == 0:
        return None
    if compression == 1:
        try:  # zlib-ng inflates the same bytes ~2x faster (installed with xopen); zlib otherwise
            from zlib_ng import zlib_ng as fast
        except ImportError:
            return lambda data, n: zlib.decompress(data, bufsize=n)

        def inflate_ng(data: bytes, n: int) -> bytes:
            try:
                return fast.decompress(data, bufsize=n)
            except fast.error as e:  # type: ignore[misc]  # zlib_ng.error (no zlib.error): the block's fault
                raise zlib.error(str(e)) from None

        return inflate_ng
    try:  # Python 3.14's module, else its backport (installed with the pipeline's dependencies)
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        try:
            from backports import zstd
        except ImportError:
            raise InputDataError("zstd-compressed BGEN: needs the backports.zstd package (pip install "
                                 "backports.zstd)", where=path) from None

    def inflate(data: bytes, n: int) -> bytes:
        try:
            return zstd.decompress(data)
        except zstd.ZstdError as e:  # its own class (no ValueError): the block's fault, read as zlib's
            raise ValueError(f"zstd: {e}") from None

    return inflate


def check_first_variant(files: BgenFiles, index: pd.DataFrame) -> None:
    """Read the genotype block of the index's first variant on the driver, so that a file Hail's
    import_bgen refuses too (phased, not 8-bit, a ploidy above 2, a block that does not
    inflate) is one InputDataError naming the file before any Spark task reads it."""
    if len(index):
        with BlockReader(files) as reader:
            reader.read(index[["offset", "size"]].to_numpy(np.int64)[:1], np.empty((1, files.n_samples)))


class BlockReader:
    """Reads blocks of matched variants' alt dosages from one open BGEN (one per Spark task).

    ``read(extent, out)``: ``extent`` (b x 2 int64: each variant block's byte offset and size,
    ``variant_index``'s ``offset``/``size``), ``out`` a float64 buffer of at least b rows x
    ``n_samples``; returns ``out[:b]`` with the dosages (``_MISSING`` where missing). Raises
    InputDataError naming the file and the variant for a genotype block Hail would refuse."""

    def __init__(self, files: BgenFiles):
        self.files = files
        self.n = files.n_samples
        self._decompress = _decompressor(files.compression, files.path)
        self._width = 10 + 3 * self.n  # N, K, min/max ploidy, N ploidy bytes, phased, bits, 2N probabilities
        self._fd = os.open(files.path, os.O_RDONLY)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, extent: np.ndarray, out: np.ndarray) -> np.ndarray:
        n = self.n
        dose = out[:len(extent)]
        for r in range(len(extent)):
            data = self._genotype_block(int(extent[r, 0]), int(extent[r, 1]))
            if (struct.unpack_from("<IHBB", data) == (n, 2, 2, 2) and len(data) == self._width
                    and data[8 + n] == 0 and data[9 + n] == 8):
                # A sample's two probabilities read as one uint16 (d0 | d1 << 8) -> Hail's dosage;
                # row by row (a gather into a 2-D strided view is ~15x slower).
                np.take(_DOSAGE_OF_PAIR, np.frombuffer(data, dtype="<u2", count=n, offset=10 + n), out=dose[r])
            else:
                self._mixed_ploidy(int(extent[r, 0]), data, dose[r])
            ploidy = np.frombuffer(data, dtype=np.uint8, count=n, offset=8)
            if ploidy.max(initial=0) >= 0x80:  # few missing genotypes: set by index
                dose[r, np.flatnonzero(ploidy >= 0x80)] = _MISSING
        return dose

    def _mixed_ploidy(self, offset: int, data: bytes, dose: np.ndarray) -> None:
        """Set ``dose`` (one row, per sample) from a block whose samples are haploid or diploid
        (ploidy 1..2): plink2 ``--export bgen-1.2`` writes a male's X (outside the PARs), Y and MT
        calls with ploidy 1, one stored probability d0 = P(REF). A haploid call is read as
        homozygous, ALT dosage 2 x (255 - d0) / 255, as plink2 ``--bgen`` imports it (its
        --score on the same file equals the .pgen's, a male's X call 0 or 2); a diploid one as
        in the all-diploid layout; ploidy 0 (no probability stored: plink2 writes a woman's chrY
        so) is a missing call. Anything else (phased, not 8-bit, ploidy > 2, other sizes) is
        ``_refuse``'d. Source: the BGEN spec's layout 2 (per sample ploidy byte, its
        low 6 bits; unphased K = 2: ploidy probabilities stored)."""
        n = self.n
        buf = np.frombuffer(data, dtype=np.uint8)
        if len(buf) < 10 + n or struct.unpack_from("<IHBB", data)[:2] != (n, 2) or not data[6] <= data[7] <= 2:
            self._refuse(offset, buf)
        ploidy = buf[8:8 + n] & 0x3F
        if buf[8 + n] != 0 or buf[9 + n] != 8 or ploidy.max(initial=0) > 2 or (
                len(buf) != 10 + n + int(ploidy.sum(dtype=np.int64))):
            self._refuse(offset, buf)
        start = 10 + n + np.concatenate(([0], np.cumsum(ploidy[:-1], dtype=np.int64)))
        diploid, haploid = ploidy == 2, ploidy == 1
        d0 = buf[start[diploid]].astype(np.uint16)
        dose[diploid] = _DOSAGE_OF_PAIR[d0 | buf[start[diploid] + 1].astype(np.uint16) << 8]
        dose[haploid] = (510 - 2 * buf[start[haploid]].astype(np.int64)) / 255.0
        dose[ploidy == 0] = _MISSING  # no call (plink2 writes a woman's chrY so, with the missing bit)

    def haploid_samples(self, extent: np.ndarray) -> np.ndarray:
        """Per sample, True when its call (missing or not) is haploid (ploidy 1) in any of the
        blocks at ``extent`` (b x 2: byte offset, size): the males, where those blocks are on X
        outside its PARs or on chrY (``pgen_engine._sex_rows_of``), as the VCF route takes them from
        haploid X calls (``genotypes.male_x_samples``)."""
        n = self.n
        out = np.zeros(n, dtype=bool)
        for r in range(len(extent)):
            data = self._genotype_block(int(extent[r, 0]), int(extent[r, 1]))
            # Least and greatest ploidy (bytes 6, 7) around 1: some sample may be haploid (a block
            # whose least is 0, a sample without a call as plink2 writes a woman's chrY, too).
            if len(data) >= 8 + n and data[6] <= 1 <= data[7]:
                out |= (np.frombuffer(data, dtype=np.uint8, count=n, offset=8) & 0x3F) == 1
        return out

    def x_call_kinds(self, extent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per sample, whether its call is haploid (ploidy 1), and whether it is a heterozygous
        diploid call (its most probable genotype the het one, as plink2's hard call), in any of
        the blocks at ``extent`` (b x 2: byte offset, size; X rows outside its PARs): what a
        declared sex is checked against (``sample_sex.SexCounts.disagreeing``). A missing call
        is neither."""
        n = self.n
        haploid, het = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        for r in range(len(extent)):
            data = self._genotype_block(int(extent[r, 0]), int(extent[r, 1]))
            buf = np.frombuffer(data, dtype=np.uint8)
            if len(buf) < 10 + n or buf[9 + n] != 8:
                continue  # the scoring pass reads the block and names what it holds
            ploidy = buf[8:8 + n]  # the missing bit (0x80) kept: such a call is neither
            haploid |= ploidy == 1
            if data[6] == data[7] == 2:  # all diploid: two probabilities per sample
                pairs = buf[10 + n:10 + 3 * n].reshape(n, 2).astype(np.int16)
                het |= (ploidy == 2) & (pairs[:, 1] > pairs[:, 0]) & (pairs[:, 1] > 255 - pairs.sum(axis=1))
            else:
                start = 10 + n + np.concatenate(([0], np.cumsum(ploidy & 0x3F, dtype=np.int64)[:-1]))
                diploid = np.flatnonzero(ploidy == 2)
                p0 = buf[start[diploid]].astype(np.int16)
                p1 = buf[start[diploid] + 1].astype(np.int16)
                het[diploid] |= (p1 > p0) & (p1 > 255 - p0 - p1)
        return haploid, het

    def _genotype_block(self, offset: int, size: int) -> bytes:
        """The uncompressed genotype probability block of the variant at ``offset``."""
        block = os.pread(self._fd, size, offset)
        try:
            p = 0
            for _ in range(3):  # variant id, rsid, chromosome
                p += 2 + struct.unpack_from("<H", block, p)[0]
            p += 6  # position, K
            for _ in range(struct.unpack_from("<H", block, p - 2)[0]):
                p += 4 + struct.unpack_from("<I", block, p)[0]
            (c,) = struct.unpack_from("<I", block, p)
            p += 4
            if p + c > len(block):
                raise struct.error
            if self._decompress is None:
                data = block[p:p + c]
            else:
                (d,) = struct.unpack_from("<I", block, p)
                data = self._decompress(block[p + 4:p + c], d)
        except (struct.error, zlib.error, ValueError) as e:  # zlib_ng's and zstd's errors turned into these
            raise InputDataError(f"cannot read the variant block at byte {offset}: {e or 'cut short'}",
                                 where=self.files.path) from None
        return data

    def _refuse(self, offset: int, data: np.ndarray) -> None:
        """One error for a genotype block Hail's import_bgen refuses too, saying what it holds."""
        n = self.n
        seen = {}
        if data.size >= 8:
            seen = {"samples": "the header's" if int(data[0:4].view("<u4")[0]) == n else "not the header's",
                    "alleles": int(data[4:6].view("<u2")[0]),
                    "ploidy": f"{data[6]}..{data[7]}"}
        if data.size >= 10 + n:
            seen.update(phased=int(data[8 + n]), bits=int(data[9 + n]))
        # Phased haplotype probabilities: plink2's BGEN export keeps the phase (its bgen-1.2 of a
        # phased file is phased again), so the way on is its .pgen, which the native engine reads
        # (plink2 --bgen of a phased file scores each sample's two haplotypes' sum).
        way = ("convert it with plink2 --bgen FILE ref-first --sample FILE.sample --make-pgen and read it as "
               "format: pgen (plink2's BGEN export keeps the phase)" if seen.get("phased") == 1 else
               "re-export it, e.g. plink2 --export bgen-1.2 bits=8")
        raise InputDataError(f"the variant block at byte {offset} holds {seen or f'{data.size} bytes'}; only unphased "
                             "diploid biallelic 8-bit probabilities (haploid calls too) for the header's samples are "
                             f"read: {way}", where=self.files.path)
