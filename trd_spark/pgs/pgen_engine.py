"""The native scoring engine for PLINK 1 bed, PLINK 2 pgen and BGEN: pgenlib (BGEN:
``bgen_reader``) + numpy in Spark tasks.

Same semantics as ``scoring.compute_scores`` (plink2 ``--score``), computed without Hail:

1. The weights (``matching.weight_matrices``: per genotype row ``[ref, alt]`` the per-score
   ``slope``, ``offset``, ``n_vars``) are joined on the driver to the file's variant list
   (.bim / .pvar, ``variant_index``): each row gets its variant index in the file and the
   index of its alt allele (1 for .bed; 1.. for a multi-allelic .pvar row).
2. Rows are cut into ranges of about ``pgs.native.task_entries`` genotype entries, as many per
   core (``task_bounds``; one Spark task each). Under a local master the weighted rows' arrays
   are .npy files of the pass's local directory (``pass_directory``; the stage's slope and n_vars
   matrices built in them, ``matching.weight_matrices``, the others written once per pass) and
   each task maps its row range (``native_task.TaskRows``); on a cluster (executors cannot read the driver's disk)
   they travel inside each task's pickle (``native_task.Task``), as they do when the partials are
   reduced in Spark. The stage's matrices (``matching.DeferredWeights``) are built after the job
   is submitted: its tasks open the genotypes and read their first block meanwhile, then wait at
   ``native_task.WeightsGate`` (a lock the driver lets go of once the matrices' files are
   written) instead of starting after the build (issue 16: the score phase's fixed part).
   The tasks' code is ``native_task``'s (``pass_function``), a module a Python worker imports
   without pandas, pydantic or this module's driver side. A task reads its rows
   with pgenlib (plink2's own reader; .bed read directly) in blocks of ``block_rows`` variants
   x all samples as float64 alt dosages (a .bed's hard calls as 0/1/2; a dosage .pgen's
   dosages, as plink2 scores them), missing = -9. A BGEN's rows are read by
   ``bgen_reader.BlockReader`` at their byte offsets (the ``.bgi``/header pass variant list,
   ``bgen_reader.variant_index``): Hail's expected alt dosage from the 8-bit probabilities.
3. Per block one dgemm ``SLOPE.T (k x b) @ DOSE (b x n)``, the few missing calls first set to
   the row's mean alt dosage over its called samples (``mean_impute``; 1 when none is called,
   plink2's frequency 0.5 for zero observations; on X outside its PARs with a .fam/.psam male's
   call one allele observation, ``male_samples``) or to 0 (``zero``),
   then one sparse product over the missing calls: ``n_vars`` of the row subtracted from the
   sample's called variants and, for ``zero``, ``- offset`` (a missing call drops its offset
   too). Offsets are summed once (``offset_total``) on the driver.
4. Each task's k x n partial sums are emitted per slice of ``pgs.native.sample_slice`` samples.
   When every task's partials and the score rows fit ``pgs.native.driver_sum_mb`` of driver
   memory (``driver_sum_bytes``; 20k samples x 61 scores x 10 tasks: ~270 MB) they are collected
   and added on the driver, and the rows go to Spark SQL through Arrow: no shuffle stage and no
   second kind of Python worker. With a local master (tasks and driver share the machine) each
   task writes its partials to a file of a scratch directory and returns the file's name
   (``native_task.spilled``): ~200 MB of partials at 20k x 61 x 10 tasks cost 2-4 CPU-s of the JVM and
   the driver on their way through Spark's task results (session 19), a file a few
   milliseconds. Otherwise they are summed with ``reduceByKey``: no reducer ever
   holds more than k x slice numbers, so the reduction stays bounded at 250k samples x 61
   scores; the slices become the score rows in the workers. Same rows either way
   (``_ScoreRows``).
5. ``warm_up`` runs the pass's one-off work (worker start and imports, cold Spark SQL and Hail
   paths) on tiny data; the stage runs it in a background thread while it parses and matches.

Memory per task: one block (``block_rows x n`` x 8 bytes: the float64 dosages, read in place
and multiplied; bounded by ``pgs.native.block_memory_mb``; one buffer per Python worker, kept
for its next tasks, ``native_task._block_buffer``) plus the partial sums and one block's product, 24 x k x n
bytes (366 MB at 250k samples x 61 scores). One BLAS thread per task (Spark runs one task per
core).

Files must be readable by every executor as a local (or mounted, e.g. gcsfuse) path: pgenlib
(and the BGEN reader) do not read gs:// or hdfs:// URIs.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import IO, TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd

from trd_spark.errors import InputDataError, raise_other_width
from trd_spark.pgs.bgen_reader import BgenFiles, BlockReader
from trd_spark.pgs.contig_lengths import builds_holding
from trd_spark.pgs.mt_entries import EntriesFiles
from trd_spark.pgs.native_task import (
    BLOCK_BYTES_PER_ENTRY,
    UNCALLED_SLICE,
    WEIGHT_FIELDS,
    PlinkFiles,
    Task,
    TaskRows,
    UncalledItems,
    WeightsGate,
    add_partials,
    pass_files_gone,
    pass_function,
    scored_slice,
    shared_task_rows,
    spill_function,
    tasks_of,
    worker_ready,
)
from trd_spark.pgs.variant_list import VariantIndex, is_compressed, open_variant_text, variant_text_errors

if TYPE_CHECKING:
    import hail as hl_types
    from pyspark.sql import SparkSession

    from trd_spark.config import NativeEngineSettings
    from trd_spark.pgs.matching import WeightMatrices
    from trd_spark.pgs.scoring import FtFailedCalls, UncalledVariants

log = logging.getLogger(__name__)

# Bytes per sample x score of one task's partial sums: score and missing-call n_vars, float64.
_PARTIAL_BYTES_PER_ENTRY = 16
# Driver bytes per score row built from the sums (``_ScoreRows.of_slice``: seven 8-byte columns,
# the IDs as pointers to shared strings) with pandas' and Arrow's copies.
_ROW_BYTES_PER_ENTRY = 64



def count_samples(files: PlinkFiles) -> int:
    """Samples in the .fam (one line each) or .psam (header lines start with ``#``)."""
    with open(files.samples) as f:
        return sum(1 for line in f if line.strip() and not line.startswith("#"))


def variant_index(files: PlinkFiles, reference_genome: str) -> VariantIndex:
    """The file's variants, ``VariantIndex.frame`` one row per ``[ref, alt]`` (multi-allelic .pvar rows split per alt):
    ``contig`` (the reference's name, as ``genotypes.read_genotypes`` recodes it), ``position``,
    ``ref``, ``alt``, ``rsid`` (the ID column; None without one), ``variant_idx`` (0-based row
    in the file), ``allele_idx`` (1-based alt index in the row; pgenlib's ``allele_idx``).
    .bim: A2 is REF, A1 ALT (as ``import_plink`` with ``a2_reference``). With it pgenlib's
    cumulative allele counts per variant (``allele_idx_offsets``; None when every row is
    biallelic) and the file line of variant 0 (``first_line``).
    Raises InputDataError naming the file for a missing or malformed file."""
    from trd_spark.pgs.genotypes import plink_contig_recoding

    path = files.variants
    first_line = 1
    unreadable: tuple[type[Exception], ...] = (*variant_text_errors(), pd.errors.ParserError)
    try:
        if files.format == "plink":
            bim = read_bim_columns(path, 0, ["a1", "a2"])
            table = pd.DataFrame({"chrom": bim["chrom"], "pos": bim["pos"], "ref": bim["a2"], "alt": bim["a1"],
                                  "rsid": bim["id"]})
        else:
            table, first_line = _read_pvar(path)
    except unreadable as e:
        raise InputDataError(f"cannot read the variant list: {(str(e).splitlines() or [type(e).__name__])[0]}",
                             where=path) from None
    # A line cut short reads its missing alleles as empty (pandas pads it): a variant with no REF
    # or ALT would go unmatched silently, where plink2 refuses the file. An empty (or blank) line
    # reads as a row of empty fields (read with skip_blank_lines=False, so that a row's number is
    # its line's): plink2 refuses it ('Unexpected interior empty line', also at the end of the
    # file), and skipped it would shift every later line named in an error.
    empty = (table["ref"].to_numpy(object) == "") | (table["alt"].to_numpy(object) == "")
    if empty.any():
        at = int(np.flatnonzero(empty)[0])
        blank = not "".join(str(table[c].iat[at]) for c in ("chrom", "pos", "ref", "alt")).strip()
        raise InputDataError("an empty line (plink2 refuses empty lines in a variant list)" if blank else
                             "a variant line has no REF or no ALT field (fewer fields than the first variant line)",
                             where=f"{path}:{at + first_line}")
    table["variant_idx"] = np.arange(len(table), dtype=np.int64)
    if table["alt"].str.contains(",", regex=False).any():
        alts = table["alt"].str.split(",")
        n_alleles = alts.str.len().to_numpy() + 1
        out = table.assign(alt=alts).explode("alt", ignore_index=True)
        out["allele_idx"] = out.groupby("variant_idx").cumcount().to_numpy(np.int32) + 1
    else:  # biallelic rows only (every .bed): no split (a list per row costs ~1 s at 200k rows)
        n_alleles = np.full(len(table), 2)
        out = table.assign(allele_idx=np.ones(len(table), dtype=np.int32))
    recode = plink_contig_recoding(reference_genome)
    codes, uniques = pd.factorize(out["chrom"])  # recoded per distinct name, not per row
    out["contig"] = np.append(np.array([recode.get(c, c) for c in uniques], dtype=object),
                              np.array([None], dtype=object))[codes]
    try:
        out["position"] = out["pos"].astype(np.int64)
    except (ValueError, OverflowError):  # not a number, or beyond int64 (OverflowError: no traceback)
        bad = ~out["pos"].str.fullmatch(r"[+-]?\d{1,18}").fillna(False).to_numpy(bool)
        row = out[bad].iloc[0] if bad.any() else None
        where = path if row is None else f"{path}:{int(row['variant_idx']) + first_line}"
        shown = "" if row is None else f" ({str(row['pos'])[:40]!r})"
        raise InputDataError(f"a position is not an integer of at most 18 digits{shown}", where=where) from None
    out = out[["contig", "position", "ref", "alt", "rsid", "variant_idx", "allele_idx"]]
    offsets = None if (n_alleles == 2).all() else np.r_[0, np.cumsum(n_alleles)].astype(np.uintp)
    return VariantIndex(out, offsets, first_line, variant_numbers=False, multiallelic_loci=(), n_multiallelic=0)


def _read_pvar(path: str) -> tuple[pd.DataFrame, int]:
    """A .pvar's #CHROM, POS, REF, ALT and ID (``rsid``, None without the column) columns, by the
    names the #CHROM line gives (any order; tab-separated, or by runs of spaces when that line
    has no tab, as plink2 reads both), and the file line of its first variant (``##`` meta lines skipped; a headerless pvar is
    .bim-ordered: CHROM ID CM POS ALT REF, or five fields without CM, ``read_bim_columns``); a
    .pvar.zst is decompressed as it is read (``open_variant_text``). Every list here (.pvar, .bim,
    .psam, .fam) is read one row per line with a quote a character, as plink2 reads it: with pandas'
    default quoting a field opening with '"' (an ID '"v1') ran on to the next '"', lines later, and
    the lines between were one row, so every later variant was given the genotypes of one before it
    (its ``variant_idx``), silently."""
    with open_variant_text(path) as f:
        skip, line = 0, ""  # an empty file: no line (read_bim_columns then names its line 1)
        for line in f:
            if not line.startswith("##"):
                break
            skip += 1
    if line.startswith("#CHROM"):
        # Tab-separated as plink2 writes it; a header line with no tab is read split on runs of
        # spaces, as plink2 reads such a .pvar (and as psam_samples reads a .psam): before, its
        # one column failed 'usecols' and the fileset was refused though plink2 scores it.
        sep = "\t" if "\t" in line else r"\s+"
        header = line.rstrip("\r\n").split("\t") if sep == "\t" else line.split()
        cols = ["#CHROM", "POS", "REF", "ALT", *(["ID"] if "ID" in header else [])]
        with _csv_source(path) as text:
            pvar = pd.read_csv(text, sep=sep, skiprows=skip, dtype=str, usecols=cols, keep_default_na=False,
                               skip_blank_lines=False, quoting=csv.QUOTE_NONE)
        pvar = pvar.rename(columns={"#CHROM": "chrom", "POS": "pos", "REF": "ref", "ALT": "alt", "ID": "rsid"})
        if "rsid" not in pvar.columns:
            pvar["rsid"] = None
        return pvar[["chrom", "pos", "ref", "alt", "rsid"]], skip + 2
    pvar = read_bim_columns(path, skip, ["alt", "ref"])
    return pvar.rename(columns={"id": "rsid"})[["chrom", "pos", "ref", "alt", "rsid"]], skip + 1


def read_bim_columns(path: str, skip: int, alleles: list[str]) -> pd.DataFrame:
    """A .bim-ordered variant list (a .bim, or a headerless .pvar after ``skip`` ``##`` lines)
    as text columns ``chrom``, ``id``, ``pos`` and the two ``alleles`` names (A1 then A2: for
    a .bim ALT then REF). Six fields (CHROM ID CM POS A1 A2) or five without the centimorgan
    column, as plink2 reads both (its .bim/.pvar spec: the CM column is optional); the count
    is taken from the first variant line, as plink2 does. Raises InputDataError naming
    ``path:line`` for another field count; pandas errors (a later line with another count)
    propagate to the caller's one-line error."""
    with open_variant_text(path) as f:
        at, first = next(((i, line) for i, line in enumerate(f) if i >= skip and line.strip()), (skip, ""))
    n = len(first.split())
    if n not in (5, 6):
        raise InputDataError(f"{n} fields in the first variant line; a .bim-ordered variant list has 6 "
                             "(CHROM ID CM POS A1 A2) or 5 (no CM)", where=f"{path}:{at + 1}")
    cols = [0, 1, 3, 4, 5] if n == 6 else [0, 1, 2, 3, 4]
    names = ["chrom", "id", "cm", "pos", *alleles] if n == 6 else ["chrom", "id", "pos", *alleles]
    with _csv_source(path) as text:
        return pd.read_csv(text, sep=r"\s+", header=None, skiprows=skip, dtype=str, usecols=cols, names=names,
                           keep_default_na=False, skip_blank_lines=False,  # a blank line: a row (variant_index)
                           quoting=csv.QUOTE_NONE)


@contextmanager
def _csv_source(path: str) -> Iterator[str | IO[str]]:
    """What pandas reads ``path`` from: the path of a plain file (its own reader), else the text
    ``open_variant_text`` decompresses (a .pvar.zst: pandas reads zstd only with ``zstandard``)."""
    if not is_compressed(path):
        yield path
        return
    with open_variant_text(path) as f:
        yield f


# PLINK's chromosome code 0 (unplaced), as a .bim/.pvar/BGEN writes it.
UNPLACED_CONTIGS = frozenset({"0", "chr0"})


def check_variant_loci(variants: VariantIndex, lengths: dict[str, int], reference_genome: str, path: str, *,
                       other_builds: Mapping[str, Mapping[str, int]] | None = None) -> int:
    """Raise InputDataError naming ``path:line`` (BGEN: ``path variant N``) of the first variant whose (recoded) contig is
    not a contig of ``reference_genome`` or whose position is outside it (``lengths``: contig
    -> length, ``hl.get_reference(...).lengths``): Hail's ``import_plink`` refused such
    files, and matching must not silently skip their rows. Rows on chromosome 0 (``UNPLACED_CONTIGS``:
    PLINK's code for a variant not placed on the genome, which arrays' .bim files carry and
    plink2 reads) are no error: they cannot match a score (no score row is on chromosome 0), so
    they are counted (one WARNING naming the file) and stay in the index unmatched. Returns
    their number (a plain value: a count kept in ``DataFrame.attrs`` is lost silently by many
    pandas operations). ``other_builds`` (``contig_lengths.primary_lengths`` of the builds not
    declared): a position beyond the declared contig that lies within another build's is said
    so in the error, with the config key (a GRCh37 .bim's chr1 runs 294 kb past GRCh38's)."""
    index = variants.frame
    length = index["contig"].map(lengths).fillna(0).to_numpy(np.int64)
    pos = index["position"].to_numpy(np.int64)
    unplaced = index["contig"].isin(UNPLACED_CONTIGS).to_numpy()
    n_unplaced = int(unplaced.sum())
    if n_unplaced:
        log.warning("%s: %d variant row(s) on chromosome 0 (PLINK's code for unplaced variants) cannot match a "
                    "score: read, left unmatched (as plink2 reads them)", path, n_unplaced)
    bad = np.flatnonzero(((pos < 1) | (pos > length)) & ~unplaced)
    if bad.size:
        r = index.iloc[int(bad[0])]
        where = variants.where(path, int(r["variant_idx"]))  # a BGEN's: a variant number, not a line
        fits = builds_holding(str(r["contig"]), int(r["position"]), other_builds or {})
        why = (f"; it lies within {fits[0]}'s {r['contig']}: the genotypes look like {fits[0]}, not {reference_genome} "
               f"as datasets[].genotypes.reference_genome declares" if fits else
               "; a contig name or build mismatch?")
        raise InputDataError(f"{r['contig']}:{r['position']} is not a {reference_genome} locus ({bad.size} such "
                             f"variant rows{why})", where=where)
    return n_unplaced


def check_bed_size(files: PlinkFiles, n_variants: int, n_samples: int) -> None:
    """Raise InputDataError naming the .bed when its size is not the 3-byte header plus one
    ``ceil(n_samples / 4)``-byte record per .bim variant (a cut copy or another fileset's .bim
    or .fam: pgenlib would read wrong rows). Source: the PLINK 1 .bed format (variant-major)."""
    expected = 3 + n_variants * ((n_samples + 3) // 4)
    size = os.path.getsize(files.matrix)
    if size != expected:
        # No byte counts: with the .bim's variants they give the .fam's samples (persons).
        raise InputDataError(f"{'shorter' if size < expected else 'longer'} than the 3-byte header and one record "
                             "per .bim variant for the .fam's samples (.bim/.fam from another fileset, or a truncated "
                             "copy?)", where=files.matrix)


def check_pgen_counts(files: PlinkFiles, n_variants: int, n_samples: int,
                      allele_idx_offsets: np.ndarray | None) -> None:
    """Raise InputDataError naming the .pgen when its header's variant count is not the .pvar's
    ``n_variants`` rows, or its sample count not the .psam's ``n_samples`` (pgenlib opens it as
    the scoring tasks will, ``native_task._block_reader``, given those counts).

    Why: a .pvar (or .pvar.zst) cut short at a line's end (an interrupted copy; a zstd stream
    cut at a frame's end decompresses without error), or another fileset's .pvar, was read
    against the .pgen's first rows: the variants past its end were never matched, counted as
    not found with no word of the cause (field case round 45 short-pvar), where plink2 refuses
    such a fileset (the .pvar's and .pgen's variant counts differ). A .psam of another sample
    count failed inside a Spark task (pgenlib's error). The .bed's analogue is
    ``check_bed_size``. No sample counts in the message (samples are persons). Other errors of
    pgenlib's are not raised here."""
    import pgenlib

    kwargs: dict[str, Any] = {"raw_sample_ct": n_samples, "variant_ct": n_variants}
    if allele_idx_offsets is not None:
        kwargs["allele_idx_offsets"] = allele_idx_offsets
    try:
        with pgenlib.PgenReader(files.matrix.encode(), **kwargs):
            pass
    except RuntimeError as e:
        text = str(e)
        if "raw_variant_ct" in text:
            found = re.search(r"contains (\d+) variants", text)
            raise InputDataError(
                f"the .pgen holds {found.group(1) if found else 'another number of'} variants, its .pvar "
                f"{files.variants} {n_variants:,} rows: a .pvar cut short (an interrupted copy or decompression) or "
                "another fileset's; copy the fileset again (plink2 refuses it too)", where=files.matrix) from None
        if "raw_sample_ct" in text:
            raise InputDataError(f"the .pgen holds another number of samples than its {files.samples} lists: a "
                                 "sample file cut short or another fileset's; copy the fileset again",
                                 where=files.matrix) from None
        # Any other failure (a .pgen cut short past its header) is left to the scoring tasks, whose
        # error names the dataset and pgenlib's words (tests/test_pgs_worker_errors.py).


def psam_samples(files: PlinkFiles) -> list[str]:
    """Sample IDs (IID) of a .psam, or of a .fam, in file order (a headerless .psam is
    .fam-ordered: FID IID ...). A .psam is tab-separated, but plink2 also reads one separated
    by spaces (its header line then has no tab), so this does too.

    Raises InputDataError naming the file when it cannot be read or its header has no IID, and
    its line when a line has another number of fields than the first (pandas read a first
    sample line with one field more than the header as an index, every column shifted: IID took
    the next column's values, e.g. SEX, as sample IDs, silently) or a sample has no IID."""
    path = files.samples
    skipped = 0  # leading comment lines (##source=..., ##note ...) before the header or first sample
    try:
        with open(path) as f:
            header = f.readline()
            # plink2 (psam spec: "the last header line starts with #FID or #IID") skips the lines
            # starting with '#' before it, e.g. the ## lines a tool adds; a headerless file after
            # them is .fam-ordered (checked with plink2 2.0 --write-samples, tests round 15).
            while header.startswith("#") and (header.split() or [""])[0] not in ("#FID", "#IID"):
                skipped += 1
                header = f.readline()
        if header.startswith("#"):  # #FID IID ... or #IID ...
            psam = pd.read_csv(path, sep="\t" if "\t" in header else r"\s+", dtype=str, keep_default_na=False,
                               skiprows=skipped, quoting=csv.QUOTE_NONE)
            psam = psam.rename(columns=lambda c: c.lstrip("#"))
            if "IID" not in psam.columns:
                raise InputDataError(f"header has no IID column (columns: {', '.join(map(str, psam.columns))})",
                                     where=path)
            psam = psam[["IID"]]
        else:
            # Every field, not usecols=[1]: with usecols pandas reads a line with more fields than
            # the first without a word, so a field inserted before the IID made it another
            # person's (plink2 reads such a .fam too); read whole, the line is refused below.
            psam = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, keep_default_na=False, skiprows=skipped,
                               quoting=csv.QUOTE_NONE)
            if psam.shape[1] < 2:
                raise ValueError("a .fam line has FID IID PAT MAT SEX PHENO; the first line has one field")
            psam = psam.iloc[:, [1]].set_axis(["IID"], axis=1)
    except pd.errors.ParserError as e:  # a later line with more fields than the first: name it
        has_header = header.startswith("#")
        raise_other_width(path, None, first_data_line=skipped + 2,
                          reference="the header" if has_header else "the first line",
                          sep="\t" if has_header and "\t" in header else None, reference_line=skipped + 1,
                          otherwise=f"cannot read the samples: {str(e).splitlines()[0]}")
    except (OSError, ValueError) as e:
        raise InputDataError(f"cannot read the samples: {str(e).splitlines()[0]}", where=path) from None
    if not isinstance(psam.index, pd.RangeIndex) or (psam["IID"] == "").any():
        has_header = header.startswith("#")
        raise_other_width(path, None, first_data_line=skipped + 2,
                          reference="the header" if has_header else "the first line",
                          sep="\t" if has_header and "\t" in header else None, reference_line=skipped + 1,
                          otherwise="a sample line has an empty IID")
    return psam["IID"].tolist()


def sample_sex_codes(files: PlinkFiles) -> np.ndarray | None:
    """Per sample in file order, the sex (``sample_sex.MALE`` / ``FEMALE`` / ``UNKNOWN``, int8)
    of the .fam's fifth field or the .psam's ``SEX`` column (a headerless .psam is
    .fam-ordered), as plink2 reads them (``sample_sex.plink_sex_codes``); None when the .psam
    has no SEX column. Read after ``psam_samples`` (which names a malformed file)."""
    from trd_spark.pgs.sample_sex import plink_sex_codes

    path = files.samples
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    header = next((i for i, line in enumerate(lines) if line.split()[0] in ("#FID", "#IID")), None)
    if header is not None:
        fields = lines[header].lstrip("#").split()
        if "SEX" not in fields:
            return None
        column = fields.index("SEX")
        body = lines[header + 1:]
    else:
        column, body = 4, [line for line in lines if not line.startswith("#")]
    # A line without the column (a short .fam line) is unknown, as an empty field.
    return plink_sex_codes(r[column] if len(r) > column else "" for r in (line.split() for line in body))


def male_samples(files: PlinkFiles) -> np.ndarray | None:
    """Per sample in file order, True for a male by the .fam/.psam sex (``sample_sex_codes``),
    as plink2 reads them; None when no sample is male or the .psam has no SEX column. Why:
    plink2 counts a male's X call (outside the pseudo-autosomal regions) as one allele
    observation in the frequency that imputes a missing call (``score``)."""
    from trd_spark.pgs.sample_sex import MALE

    codes = sample_sex_codes(files)
    male = None if codes is None else codes == MALE
    return male if male is not None and male.any() else None


def task_bounds(n_rows: int, n_samples: int, parallelism: int, task_entries: int,
                max_rows: int | None = None) -> list[int]:
    """Row boundaries of a pass's Spark tasks (task i scores rows ``bounds[i]`` to
    ``bounds[i + 1]``; ``[0]`` for no rows): the fewest tasks of at most ``task_entries``
    genotype entries (rows x samples) and at most ``max_rows`` rows (None: no cap) each, their
    count rounded up to a multiple of ``parallelism`` (``task_slots``, the tasks Spark runs at
    once: every core runs as many tasks, so none idles through a last round; at least one task per core) and at
    most one per row, the rows shared as evenly as possible (``pgs.native.task_entries``,
    ``variants_per_task``). Sized by entries, not rows, the tasks' fixed cost (~0.2 CPU-s each
    of Spark and the Python worker, whatever the task's size) does not grow with the variant
    count at small cohorts: 200k rows cut 20,000 per task made 10 tasks at 2,500 samples and at
    20,000 alike (benchmarks/RESULTS.md, session 26)."""
    if n_rows <= 0:
        return [0]
    wanted = max(1, math.ceil(n_rows * max(1, n_samples) / task_entries))
    if max_rows is not None:
        wanted = max(wanted, math.ceil(n_rows / max_rows))
    n_tasks = min(n_rows, math.ceil(wanted / max(1, parallelism)) * max(1, parallelism))
    return [n_rows * i // n_tasks for i in range(n_tasks + 1)]


def pass_bounds(sc, files: PlinkFiles | BgenFiles | EntriesFiles, variant_idx: np.ndarray, n_samples: int,
                settings: NativeEngineSettings) -> list[int]:
    """``score``'s task bounds over its weighted rows (``variant_idx``, in file order):
    ``task_bounds`` with ``task_slots`` and the settings' sizes; for a MatrixTable's entry files
    moved to its parts' first rows unless that unbalances the tasks more than a part decoded by
    two tasks costs (``mt_entries.EntriesFiles.at_part_starts``)."""
    bounds = task_bounds(len(variant_idx), n_samples, task_slots(sc), settings.task_entries,
                         settings.variants_per_task)
    return files.at_part_starts(bounds, variant_idx) if isinstance(files, EntriesFiles) else bounds


def task_slots(sc) -> int:
    """Tasks Spark runs at once (``task_bounds``' parallelism): N of ``local[N]`` (``local[*]``:
    this machine's cores; ``local``: 1), W x C of ``local-cluster[W,C,M]``, else
    ``spark.executor.instances`` x ``spark.executor.cores`` when both are set, else Spark's
    default parallelism. Not ``defaultParallelism`` alone: the session sets it to the shuffle
    partitions (``session.spark_conf``; 8 by default, on 2 cores)."""
    import re

    master = sc.master or ""
    local = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\d+)?\])?", master)
    if local:
        return 1 if local.group(1) is None else (os.cpu_count() or 1) if local.group(1) == "*" else int(local.group(1))
    cluster = re.fullmatch(r"local-cluster\[(\d+),(\d+),\d+\]", master)
    if cluster:
        return int(cluster.group(1)) * int(cluster.group(2))
    conf = sc.getConf()
    instances, cores = conf.get("spark.executor.instances"), conf.get("spark.executor.cores")
    if instances and cores and instances.isdigit() and cores.isdigit():
        return int(instances) * int(cores)
    return int(sc.defaultParallelism)


# Rows of a block, at most, whatever the memory budget (``block_rows``). A block's product is one
# dgemm of k x rows x samples; beyond a few thousand rows a larger block makes it no cheaper per
# entry, while a Python worker's first task faults in its whole block buffer (``native_task.
# _block_buffer``): at 2,500 samples the 256 MB budget gave 13,421 rows and a first task paid
# ~0.15 CPU-s of page faults more than later ones (0.6-0.8 CPU-s with the host's memory under
# pressure), at 5,000 samples half that; the pass's two tasks run one per worker, so each paid
# it. First-task CPU of 100k rows x 2,500 samples x 61 scores, five alternated fresh processes
# (load 20-35): median 1.23 CPU-s at 13,421 rows, 1.12 at 4,096, 1.14 at 2,048; later tasks
# 1.10 / 1.06 / 1.10 (issue 16, session 31; benchmarks/RESULTS.md). From 10k samples up the
# budget gives fewer rows than this (3,355 at 10k, 1,677 at 20k): unchanged there.
BLOCK_ROWS_MAX = 4096


def block_rows(n_samples: int, block_memory_mb: float) -> int:
    """Variants per block: as many as fit ``block_memory_mb`` with all samples (``budget /
    (n_samples x bytes per entry)``), at most ``BLOCK_ROWS_MAX``, at least 1."""
    per_row = max(1, n_samples) * BLOCK_BYTES_PER_ENTRY
    return max(1, min(BLOCK_ROWS_MAX, int(block_memory_mb * 2**20) // per_row))


# The native pass's local directory of weighted rows and partials (``pass_directory``): pgs_native_partials_<random>.
SPILL_PREFIX = "pgs_native_partials_"
# Bytes per weighted row of a pass's files beside its per-score matrices: variant_idx (8),
# allele_idx (4), a BGEN's extent (16), the X and Y flags (1 + 1), rounded up.
_ROW_FILE_BYTES = 32
# Bytes per weighted row and score of its matrices' files: slope and (``zero``) offset float64, n_vars
# at most int32 (``matching.weight_matrices``).
_CELL_FILE_BYTES = 20


def pass_files_bytes(n_rows: int, k: int, partials_bytes: int) -> int:
    """Bytes a native pass's local files take at most (``pass_directory``'s ``need_bytes``):
    ``n_rows`` weighted rows x ``k`` scores of matrices and per-row arrays, plus
    ``partials_bytes`` of the tasks' partial sums (``native_task.spilled``) and per-sample
    arrays."""
    return n_rows * (k * _CELL_FILE_BYTES + _ROW_FILE_BYTES) + partials_bytes


class PassDirectory(str):
    """The path of a pass's directory (``pass_directory``), carrying where it was put:
    ``files_in`` "memory_dir" (under ``pgs.native.memory_dir``) or "local dir" (``spark.local.dir``
    or the system's temp dir), for ``_PassTimes.files_in``. A ``str``, so the path goes on through
    ``weight_matrices`` and ``WeightMatrices.directory`` to ``score`` as any path does."""

    files_in: str

    def __new__(cls, path: str, files_in: str) -> PassDirectory:
        made = super().__new__(cls, path)
        made.files_in = files_in
        return made


@contextmanager
def _spill_dir(spark: SparkSession, given: str | None = None, memory_dir: str | None = None,
               need_bytes: int = 0, share: float = 0.0) -> Iterator[str | None]:
    """``given`` (a ``pass_directory`` the caller made and removes: ``WeightMatrices.directory``,
    the matrices built in its files), else a new ``pass_directory`` (``memory_dir``, ``need_bytes``:
    its)."""
    if given is not None:
        yield given
        return
    with pass_directory(spark, memory_dir, need_bytes, share, background=False) as path:
        yield path


@contextmanager
def pass_directory(spark: SparkSession, memory_dir: str | None = None, need_bytes: int = 0, share: float = 0.0,
                   background: bool = True) -> Iterator[PassDirectory | None]:
    """A new local directory for the pass's weighted rows (``native_task.shared_task_rows``) and the tasks'
    partial sums (``native_task.spilled``), removed on exit (an error or interrupt included), when
    Spark runs on this one machine (``local[N]``: the tasks write where the driver reads); None
    otherwise (a cluster: the rows go in the tasks' pickles, the partials come back as Spark task
    results). Under ``memory_dir`` (``pgs.native.memory_dir``, a tmpfs such as ``/dev/shm``) when
    it is a directory this process may write into and ``need_bytes`` (``pass_files_bytes``) is at
    most ``share`` (``pgs.native.memory_dir_share``) of its room (``memory.room_for_files``): no page of the files is ever
    written to a disk, and the driver's faults into the matrices it builds in them cost a tmpfs's,
    not ext4's (0.2-0.45 kernel CPU-s at 200k rows x 61 scores on the benchmark host; issue 16,
    session 34). Else (an INFO line says so when ``memory_dir`` is set) under Spark's first
    ``spark.local.dir`` when set (the config's ``spark.tmp_dir``), else the system's temp dir.
    The directory holds its owner record (``scratch.claim``); the ones a SIGKILLed run (an OOM
    kill, a preempted VM) left in either place, whose process is gone, are removed first
    (``scratch.remove_abandoned``, as ``pgs.native.export_dir``'s folders): they held that run's
    weighted rows and partial sums, hundreds of MB at All of Us scale (on tmpfs, memory), and
    nothing removed them. ``background``: the directory's files are removed by a background thread
    (``scratch.release_soon``: its name is free on exit, the files gone before the pgs stage ends;
    the next pass's directory is made after they are), not on the caller's path (``score``'s own
    directory: removed on exit)."""
    import tempfile

    from trd_spark.pgs.memory import room_for_files
    from trd_spark.pgs.scratch import claim, release, release_soon, remove_abandoned, wait_removals

    sc = spark.sparkContext
    if not (sc.master or "").startswith("local"):
        yield None
        return
    # The session's runtime conf (Spark copies the SparkConf into it): one py4j round trip, where
    # ``sc.getConf()`` copies every entry through py4j (~100 round trips, ~0.05 driver CPU-s and
    # the JVM's side of each, in every pass; issue 16, session 31).
    local = spark.conf.get("spark.local.dir", None)
    base = local.split(",")[0] if local else None
    wait_removals()  # an earlier pass's files (``background``): their room counted free, as it is then
    if base is not None:
        os.makedirs(base, exist_ok=True)
    # Another host's (a shared mount) or an older version's folder without a record: kept.
    remove_abandoned(base or tempfile.gettempdir(), SPILL_PREFIX, None)
    path = None
    if memory_dir is not None:
        # Leftovers first, then the room: a killed run's folder would otherwise count against this
        # run (sending it to the disk), and with the tmpfs full (room 0) never be removed.
        if os.path.isdir(memory_dir) and os.access(memory_dir, os.W_OK | os.X_OK):
            remove_abandoned(memory_dir, SPILL_PREFIX, None)
        room = room_for_files(memory_dir)
        if need_bytes > room * share or not room:
            why = (f"is no directory this process may write into or has too little room for them (at most "
                   f"{share:.0%} (pgs.native.memory_dir_share) of its free space, of the host's available "
                   "memory and of the memory cgroup's room)")
        else:
            try:
                path = tempfile.mkdtemp(prefix=SPILL_PREFIX, dir=memory_dir)
            except OSError as e:
                why = f"cannot take them ({e.strerror or type(e).__name__})"
        if path is None:  # no byte counts: the need holds the partials' size, samples x scores
            log.info("pgs.native.memory_dir %s %s: the native pass's files go to %s", memory_dir, why,
                     base or tempfile.gettempdir())
    files_in = "memory_dir" if path is not None else "local dir"
    if path is None:
        path = tempfile.mkdtemp(prefix=SPILL_PREFIX, dir=base)
    try:
        claim(path)
        yield PassDirectory(path, files_in)
    finally:
        (release_soon if background else release)(path)  # its refresher stopped first (scratch.release)


def _placed_weights(weights: WeightMatrices, index: pd.DataFrame | None, files: PlinkFiles | BgenFiles | EntriesFiles
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The weighted rows in file order: variant_idx (int64), allele_idx (int32), and slope
    (float64) and n_vars (integer) as rows x k matrices, for BGEN each row's variant block
    (offset, size; int64 rows x 2; None otherwise), and the order that put ``weights``' rows in
    file order (None: they were; the offsets, ``weights.offset`` or only their column sums
    ``weights.offset_total``, are taken in it by the caller). ``weights``: ``score``'s.
    Raises InputDataError naming the variant list when a weighted row is not in it."""
    variant_idx, allele_idx, extent, order = _placed_rows(weights.rows, index, files)
    if order is None:
        # Already in file order (rows matched on this very index are): no copies of the matrices
        # (three rows x k arrays, ~250 MB of fresh pages at 200k rows x 61 scores).
        return variant_idx, allele_idx, weights.slope, weights.n_vars, extent, None
    return variant_idx, allele_idx, weights.slope[order], weights.n_vars[order], extent, order


def _placed_rows(rows: pd.DataFrame, index: pd.DataFrame | None, files: PlinkFiles | BgenFiles | EntriesFiles
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``_placed_weights`` of the weighted ``rows`` alone (no matrix read): variant_idx,
    allele_idx, a BGEN's extents, in file order, and the order that put them so (None: they
    were). Errors as ``_placed_weights``."""
    placed = ["variant_idx", "allele_idx", *(["offset", "size"] if isinstance(files, BgenFiles) else [])]
    if not set(placed) <= set(rows.columns):  # not matched on this very index
        assert index is not None  # only rows placed by the caller come without one
        rows = rows[["contig", "position", "ref", "alt"]].merge(
            index[["contig", "position", "ref", "alt", *placed]],
            on=["contig", "position", "ref", "alt"], how="left", validate="one_to_one")
    unplaced = int(rows["variant_idx"].isna().sum())
    if unplaced:
        raise InputDataError(f"{unplaced} matched genotype rows are not in the variant list (changed since "
                             "matching?)", where=files.variants)
    variant_idx = rows["variant_idx"].to_numpy(np.int64)
    allele_idx = rows["allele_idx"].to_numpy(np.int32)
    extent = rows[["offset", "size"]].to_numpy(np.int64) if isinstance(files, BgenFiles) else None
    if len(rows) > 1 and ((np.diff(variant_idx) > 0) | ((np.diff(variant_idx) == 0) & (np.diff(allele_idx) > 0))).all():
        return variant_idx, allele_idx, extent, None
    order = np.lexsort((allele_idx, variant_idx))  # stable: file order, alts in order
    return variant_idx[order], allele_idx[order], None if extent is None else extent[order], order


def split_site_sums(rows: pd.DataFrame, order: np.ndarray | None, bounds: list[int],
                    site_group: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], list[int]]:
    """The weighted ``rows`` (``WeightMatrices.rows``, taken in ``order``: the pass's file order;
    None: as they are) that are alts of one site given split, one row per alt (same contig,
    position and REF as the file writes them, ``matching.file_rows``, two alts or more: a .bim /
    .pvar / BGEN written split, or a .pgen's multi-allelic row read per alt), as the
    ``native_task.Task`` arrays of ``native_task._SplitSiteCheck`` (``sum_group`` per row, int32,
    -1 none; per site ``sum_limit`` = 2 + ``genotypes.DOSAGE_SUM_SLACK`` x its rows, float64,
    and ``sum_site``, its name 'chr4:1000000 A>G,C'; per row ``sum_flip``, bool, only when some
    row holds its site's REF as its alt (a BGEN written REF-last, ``matching.swapped_site_refs``):
    that row gives ``2 - its dosage`` alt copies; {} when there is none), and ``bounds``
    (the tasks' row ranges) moved so that each such site's rows, and each of ``site_group``'s
    (``matching.SiteModels.placed``'s, already whole), fall in one task (no task left empty).
    Why: a sample's alt copies over a site's rows are at most 2 (Hail's pass checks a
    multi-allelic record's dosages the same way, ``genotypes.to_biallelic_dosage``); split rows
    summing above 2 made a REF effect allele's dosage negative, summed as given. Only rows the
    pass reads are checked (a REF effect allele reads all its site's alts). Driver cost: one
    ``duplicated`` over the rows' positions; the grouping runs on rows at shared positions."""
    from trd_spark.pgs.genotypes import DOSAGE_SUM_SLACK
    from trd_spark.pgs.matching import file_rows, swapped_site_refs

    position, ref, alt = file_rows(rows)
    contig = rows["contig"].to_numpy(object)
    if order is not None:
        position, ref, alt, contig = position[order], ref[order], alt[order], contig[order]
    at = np.flatnonzero(pd.Series(position, copy=False).duplicated(keep=False).to_numpy(bool))
    if not at.size:
        return {}, bounds
    near = pd.DataFrame({"contig": contig[at], "gp": position[at], "gr": ref[at], "ga": alt[at]})
    # SNV rows at one position not all holding the site's REF as REF (a BGEN written REF-last:
    # ``C,A`` and ``G,A`` for A>C,G; a .bim's A1/A2 by frequency): the site is the position, its
    # REF the allele every row has (``matching.swapped_site_refs``, the rule matching scores a REF
    # effect allele by), and a row holding that REF as its alt gives ``2 - its dosage`` alt copies
    # (``sum_flip``). Before session 41 grouping by the REF as written missed such a site.
    swapped, swapped_ref = swapped_site_refs(near)
    flip_of = np.zeros(len(near), dtype=bool)
    if swapped_ref:
        key = list(zip(swapped["contig"], swapped["gp"]))
        in_site = np.array([k in swapped_ref for k in key], dtype=bool)
        site_ref = np.array([swapped_ref.get(k, "") for k in key], dtype=object)
        placed = near.index.get_indexer(swapped.index[in_site])
        flip_of[placed] = swapped["ga"].to_numpy(object)[in_site] == site_ref[in_site]
        # the site's REF as its written REF (every row of the site one group; other alleles as alts)
        near.loc[near.index[placed], "ga"] = np.where(flip_of[placed], swapped["gr"].to_numpy(object)[in_site],
                                                      swapped["ga"].to_numpy(object)[in_site])
        near.loc[near.index[placed], "gr"] = site_ref[in_site]
    by_site = near.groupby(["contig", "gp", "gr"], sort=False)
    split = by_site["ga"].transform("nunique").to_numpy() > 1
    if not split.any():
        return {}, bounds
    at, near, flip_of = at[split], near[split], flip_of[split]
    # Sites numbered in the order of their first row (ngroup's numbers follow first appearance).
    site = near.groupby(["contig", "gp", "gr"], sort=False).ngroup().to_numpy(np.int32)
    group = np.full(len(position), -1, dtype=np.int32)
    group[at] = site
    n_rows = np.bincount(site)
    first = np.unique(site, return_index=True)[1]  # each site's first row among ``near``
    alts = near.groupby(site, sort=True)["ga"].agg(",".join).to_numpy(object)
    names = [f"{c}:{p} {r}>{a}" for c, p, r, a in zip(near["contig"].to_numpy(object)[first],
                                                        near["gp"].to_numpy(np.int64)[first],
                                                        near["gr"].to_numpy(object)[first], alts)]
    arrays: dict[str, np.ndarray] = {"sum_group": group, "sum_limit": 2.0 + DOSAGE_SUM_SLACK * n_rows.astype(np.float64),
              "sum_site": np.array(names, dtype=str)}
    if flip_of.any():
        flip = np.zeros(len(position), dtype=bool)
        flip[at[flip_of]] = True
        arrays["sum_flip"] = flip
    # Each site's rows (and site_group's) in one task: a bound inside one's rows moves past its last.
    spans = [g for g in (group, site_group) if g is not None and (g >= 0).any()]
    lo = np.concatenate([_group_span(g)[0] for g in spans])
    hi = np.concatenate([_group_span(g)[1] for g in spans])
    moved: list[int] = []
    for b in bounds:
        inside = (lo < b) & (b <= hi)
        while inside.any():
            b = int(hi[inside].max()) + 1
            inside = (lo < b) & (b <= hi)
        if not moved or b > moved[-1]:
            moved.append(b)
    if moved[-1] != bounds[-1]:  # (a moved bound went past the last: it is the last)
        moved.append(bounds[-1])
    return arrays, moved


def _group_span(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each group's first and last row (int64; groups 0..max of ``group``, -1 = none; a group
    without rows spans nothing: first past last)."""
    at = np.flatnonzero(group >= 0)
    n = int(group[at].max()) + 1
    first, last = np.full(n, len(group), dtype=np.int64), np.full(n, -1, dtype=np.int64)
    np.minimum.at(first, group[at], at)
    np.maximum.at(last, group[at], at)
    return first, last


def _sex_rows_of(hl: hl_types, files: PlinkFiles | BgenFiles | EntriesFiles, reference_genome: str,
                 index: VariantIndex | None, variant_idx: np.ndarray, y_rows: np.ndarray, impute: bool,
                 extent: np.ndarray | None, n_samples: int, declared: np.ndarray | None = None
                 ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``score``'s rows (``variant_idx``, file order) where the sex matters and the males:
    ``(x_haploid, y_rows, male)``. ``x_haploid``: the rows on X outside its PARs, for mean
    imputation there (None when nothing is imputed, no row is there or no sample is male: the
    plain mean is then the same); ``y_rows`` (bool per row, chrY: given, None when none is there),
    where plink2 --score counts males only (``native_task._drop_non_males_on_y``); ``male`` (bool
    per sample, None when neither is needed): ``declared`` when given (a sex file, a BGEN
    .sample's sex: ``engine.score``), else those of a .fam/.psam (``male_samples``) or, for a
    BGEN (``extent``: its rows' blocks), the samples with a haploid call in the X and Y rows'
    blocks (``BlockReader.haploid_samples``: no sex in a BGEN, as the VCF route takes males from
    haploid calls). No male at all on chrY rows: every sample's chrY calls are skipped, as
    plink2 skips them for a fileset without sex (``engine.score`` warns)."""
    no_y = None if not y_rows.any() else y_rows
    if isinstance(files, EntriesFiles) or not len(variant_idx) or (index is None and no_y is None):
        return None, None, None
    from trd_spark.pgs.genotypes import x_haploid_rows

    x_haploid = None
    if impute and index is not None:
        rg = hl.get_reference(reference_genome)
        frame = index.frame
        on_x = frame[frame["contig"].isin(list(rg.x_contigs))]
        haploid = on_x["variant_idx"].to_numpy(np.int64)[
            x_haploid_rows(rg, on_x["contig"].to_numpy(object), on_x["position"].to_numpy(np.int64))]
        found = np.isin(variant_idx, haploid)
        x_haploid = found if found.any() else None
    if x_haploid is None and no_y is None:
        return None, None, None
    if declared is not None:
        male: np.ndarray | None = declared
    elif isinstance(files, BgenFiles):
        if extent is None:
            raise ValueError("a BGEN's rows are read at their blocks' extents")
        male = bgen_males(files, extent, y_rows=no_y, x_rows=x_haploid, impute=impute)
    else:
        male = male_samples(files)
    if male is None or not male.any():
        # No male: X's frequency is the plain mean; on chrY every sample is skipped.
        if no_y is None:
            return None, None, None
        warn_no_male_on_y(int(no_y.sum()))
        return None, no_y, np.zeros(n_samples, dtype=bool)
    return x_haploid, no_y, male


def bgen_males(files: BgenFiles, extent: np.ndarray, *, y_rows: np.ndarray | None, x_rows: np.ndarray | None,
               impute: bool) -> np.ndarray:
    """Per sample of the BGEN ``files`` (file order), True for a male: a haploid call (ploidy 1,
    missing or not) in the block of a weighted row on chrY (``y_rows``, bool per row) or, when a
    missing call is mean-imputed (``impute``), on X outside its PARs (``x_rows``); None: no row
    there. ``extent``: each row's block (rows x 2: byte offset, size). A BGEN has no sex column;
    its males are told by their calls, as the VCF route tells them (``BlockReader.haploid_samples``).
    The one rule of the pass (``_sex_rows_of``) and of ``engine.score``, which tells them once for
    its two passes (each would tell them from the rows it reads)."""
    told = np.zeros(len(extent), dtype=bool)
    for rows in (y_rows, x_rows if impute else None):
        if rows is not None:
            told |= rows
    with BlockReader(files) as reader:
        return reader.haploid_samples(np.unique(extent[told], axis=0))


def warn_no_male_on_y(n_rows: int) -> None:
    """The WARNING of a dataset scored on ``n_rows`` weighted chrY rows with no sample known to
    be male: those rows add nothing to any score (plink2 --score skips a non-male's chrY calls,
    and every sample's on a fileset without sex), which is plink2's answer and rarely what was
    meant. Counts rows, never persons."""
    log.warning("pgs: %d weighted genotype rows on chrY and no sample known to be male: chrY adds nothing to any "
                "score (plink2 --score counts males only there); declare the sex "
                "(datasets[].genotypes.sex_source, or the .fam/.psam SEX, a BGEN .sample's sex column)", n_rows)


def _in_place(weights: WeightMatrices, arrays: dict[str, np.ndarray | None]) -> frozenset[str]:
    """The fields of ``arrays`` that are ``weights``' matrices built in the pass's files
    (``weights.directory``: not written again, ``native_task.shared_task_rows``)."""
    if weights.directory is None or "slope" not in arrays:
        return frozenset()
    return frozenset(name for name, built in (("slope", weights.slope), ("n_vars", weights.n_vars))
                     if arrays[name] is built)


def _weights_written(weigh: Callable[[], None], arrays: dict[str, np.ndarray | None],
                     weights: WeightMatrices, directory: str) -> None:
    """``score``'s deferred weights built (``weigh``: into ``arrays``) and the ones not built in
    the pass's files written there (``native_task.shared_task_rows``)."""
    weigh()
    in_place = _in_place(weights, arrays)
    shared_task_rows(directory, {name: a for name, a in arrays.items() if name in WEIGHT_FIELDS}, [0], in_place)


def _collect_while(sc, rdd, shared: str, build: Callable[[], Any],
                   then: Callable[[], Any] | None = None) -> tuple[list, Any]:
    """``rdd.collect()`` run in a thread while this one calls ``build`` (``_weights_written``), the
    tasks held by a ``native_task.WeightsGate`` on ``shared`` (the pass's weights directory) until ``build``
    returns, then ``then`` (``score``'s score-row totals, which the tasks do not need: computed
    while they run, not before they may start); (the collected items, ``then``'s result, or
    ``build``'s without ``then``). When ``build`` raises (or is interrupted),
    the gate is closed without its ready mark, so the waiting tasks raise and read nothing,
    the job is cancelled (its job group) and the thread joined before the error propagates; a
    failed job's error propagates as ``collect``'s would. An interrupt (KeyboardInterrupt, the
    CLI's SIGTERM) or an error of ``then`` while the job runs cancels the job group too and waits for
    the job's end, so that the caller's cleanup never removes the pass's directory under running
    tasks (``trd-spark run`` also cancels all jobs; an in-process caller has only this); when the
    job had failed already, its error is that error's ``__cause__`` (not lost behind it)."""
    import uuid

    # pyspark's InheritableThread, not threading.Thread: in pinned-thread mode (PySpark 3.5) a
    # plain thread neither inherits this thread's JVM local properties nor closes its JVM
    # thread at its end (one leaked per pass); ``stage._warm_up_meanwhile`` does the same.
    from pyspark import InheritableThread

    gate = WeightsGate(shared)
    group = f"pgs-native-pass-{uuid.uuid4().hex}"
    got: dict[str, object] = {}

    def run() -> None:
        try:
            sc.setJobGroup(group, "native pass (weights built meanwhile)", interruptOnCancel=True)
            got["items"] = rdd.collect()
        except BaseException as e:  # handed to the caller's thread
            got["error"] = e

    thread = InheritableThread(target=run, name="native pass job", daemon=True)
    thread.start()
    try:
        result = build()
        gate.open()
    except BaseException:
        gate.close()
        sc.cancelJobGroup(group)
        thread.join()
        raise
    try:
        if then is not None:
            result = then()
        thread.join()
    except BaseException as e:  # interrupted while the job runs, or ``then`` failed: see the docstring
        # The job ended before this error: its own failure (not the cancel's) goes along as the cause.
        job_failed = not thread.is_alive() and "error" in got
        sc.cancelJobGroup(group)
        thread.join()
        if job_failed and e.__cause__ is None:
            raise e from cast(BaseException, got["error"])
        raise
    if "error" in got:
        raise cast(BaseException, got["error"])
    return cast(list, got["items"]), result


def score(
    spark: SparkSession,
    hl: hl_types,
    files: PlinkFiles | BgenFiles | EntriesFiles,
    reference_genome: str,
    weights: WeightMatrices,
    samples: Sequence[str],
    pgs_ids: Sequence[str],
    n_matched: Sequence[int],
    *,
    missing_genotypes: Literal["mean_impute", "zero"],
    settings: NativeEngineSettings,
    index: VariantIndex | None = None,
    male: np.ndarray | None = None,
) -> SummedScores | SummedInSpark:
    """Score a PLINK fileset natively; the same rows as ``scoring.compute_scores``' table:
    s, pgs_id, score_sum, allele_count, score_avg, n_missing, n_matched (one row per sample x
    score). Summed on the driver (the partials within ``pgs.native.driver_sum_mb``,
    ``driver_sum_bytes``), they come back as ``SummedScores`` (numpy; no Hail job at all: the
    stage writes its Parquet table from them, ``scoring.score_rows_arrow``); summed in Spark (larger
    passes), as ``SummedInSpark``: an unkeyed Hail Table (sample-major, scores in ``pgs_ids``
    order) whose tasks run at the caller's write.

    ``weights``: ``matching.weight_matrices`` (per genotype row ``[ref, alt]``: slope, offset,
    n_vars as rows x k matrices, k = ``len(pgs_ids)``); rows that already carry
    ``variant_idx``/``allele_idx`` (matched on this very index) are not looked up again; ``samples``: the person IDs
    in file order (``genotypes.sample_persons``); ``n_matched``: per score, in ``pgs_ids``
    order; ``index``: ``variant_index`` when the caller has it (else read here); ``male``: per
    sample in file order, the males on X when the caller read them (a sex file, a BGEN .sample's
    sex column; else the file's own, ``_sex_rows_of``): on X outside its PARs a male's call is one
    allele observation of the imputing frequency, on chrY only males' calls count (plink2 --score).
    The weighted rows no sample has a call on (``scoring.UncalledVariants``) are the result's
    ``uncalled`` (``SummedInSpark``'s: read once its table is written).
    Raises InputDataError naming the file when the sample count differs from ``samples`` or a
    weighted row is missing from / repeated in the variant list.
    """
    started = time.perf_counter()
    k = len(pgs_ids)
    n = files.n_samples if isinstance(files, (BgenFiles, EntriesFiles)) else count_samples(files)
    if n != len(samples):
        raise InputDataError(f"{'fewer' if n < len(samples) else 'more'} samples in the file than genotype columns "
                             "(no count: samples are persons)", where=files.samples)
    if index is None:
        if isinstance(files, BgenFiles):
            raise ValueError("a BGEN is scored on the variant index it was matched on (bgen_reader.variant_index)")
        if not isinstance(files, EntriesFiles):  # a MatrixTable's rows come placed (its file rows)
            index = variant_index(files, reference_genome)
    variant_idx, allele_idx, extent, order = _placed_rows(weights.rows, None if index is None else index.frame,
                                                          files)
    impute = missing_genotypes == "mean_impute"
    bounds = pass_bounds(spark.sparkContext, files, variant_idx, n, settings)
    # A dosage over several rows (``matching.SiteModels``: a REF effect allele's dominant / recessive
    # row at a multi-allelic site): each such site's rows in one task, which sums them.
    site_arrays, bounds = ({}, bounds) if weights.site_models is None else weights.site_models.placed(order, bounds)
    # Rows of one site given split: their alt copies together checked in the task that reads them all.
    sum_arrays, bounds = split_site_sums(weights.rows, order, bounds, site_arrays.get("site_group"))
    # (pandas' hash-table isin: numpy's sorts the 200k object contigs, ~2x the CPU before the job)
    y_rows = weights.rows["contig"].isin(list(hl.get_reference(reference_genome).y_contigs)).to_numpy(bool)
    x_haploid, y_placed, male = _sex_rows_of(hl, files, reference_genome, index, variant_idx,
                                             y_rows if order is None else y_rows[order], impute, extent, n, male)
    # The pass's row arrays by ``native_task.Task`` field, cut into the tasks' row ranges by ``bounds``
    # (``male``, per sample, whole: ``native_task._WHOLE_FIELDS``); the weights' arrays below.
    arrays: dict[str, np.ndarray | None] = {"variant_idx": variant_idx, "allele_idx": allele_idx, "extent": extent,
                                            "x_haploid": x_haploid, "y_rows": y_placed, "male": male, **sum_arrays}
    # A row no sample is called at: its missing calls 2/k alt copies at a k-allele site (plink2's 1/k;
    # ``matching.no_call_dosages``, per weighted row when some row's site has more than 2 alleles).
    from trd_spark.pgs.matching import NO_CALL_DOSAGE

    if impute and NO_CALL_DOSAGE in weights.rows:
        no_call = weights.rows[NO_CALL_DOSAGE].to_numpy(np.float64)
        arrays["no_call_dosage"] = no_call if order is None else no_call[order]
    n_tasks = len(bounds) - 1
    rows_per_block = block_rows(n, settings.block_memory_mb)
    sample_slice = settings.sample_slice
    allele_idx_offsets = None if index is None else index.allele_idx_offsets
    n_slices = max(1, math.ceil(n / sample_slice))
    # A non-male's chrY rows add nothing, their offsets (2w' of a REF effect allele) included: the
    # tasks read her calls there as 0 alt copies, and her row drops the offsets' chrY part.
    non_male = None if y_placed is None or male is None else ~male

    placed_n_vars: list[np.ndarray] = []  # (``weigh``'s n_vars in the pass's row order, for ``score_rows``)

    def weigh() -> None:
        """The weights' arrays added to ``arrays`` (built now if deferred: ``matching.DeferredWeights``)."""
        slope, n_vars = (weights.slope, weights.n_vars) if order is None else \
            (weights.slope[order], weights.n_vars[order])
        placed_n_vars.append(n_vars)
        # What a task needs, compactly (mapped from a file or pickled into every task): offsets only for
        # ``zero`` (a zeroed call drops its offset; imputed calls keep it: then only their column sums
        # are used, ``offset_total``, and the rows x k matrix is not built), n_vars as the smallest
        # integer type that holds them (counts of score variants per row: exact in any integer type).
        # (copy=False: ``weight_matrices`` makes them in that type already in the common case; uint8
        # is the smallest there is, so its maximum, a pass over rows x k, is not looked for.)
        arrays["slope"] = slope
        arrays["n_vars"] = n_vars if n_vars.dtype == np.uint8 else \
            n_vars.astype(np.min_scalar_type(max(1, int(n_vars.max(initial=0)))), copy=False)
        arrays["offset"] = None if impute else weights.offset if order is None else weights.offset[order]
        arrays.update({name: None if m is None else m if order is None else m[order]  # dominant / recessive models
                       for name, m in (("dominant", weights.dominant), ("recessive", weights.recessive))})
        arrays.update(site_arrays)

    def score_rows() -> _ScoreRows:
        """The score rows' totals (``weigh``'s weights: per score the offsets' and n_vars' column sums);
        the tasks do not need them, so a gated pass computes them while its tasks run (``_collect_while``)."""
        n_vars = placed_n_vars[-1]
        return _ScoreRows(np.asarray(list(samples), dtype=object), list(pgs_ids), np.array(n_matched, dtype=np.int64),
                          weights.offset_total(order), n_vars.sum(axis=0), sample_slice, non_male,
                          None if non_male is None else weights.offset_total(np.flatnonzero(y_rows)))

    def weighed() -> _ScoreRows:
        """``weigh``, then ``score_rows``."""
        weigh()
        return score_rows()

    sc = spark.sparkContext

    def partials(tasks: Sequence[Task | TaskRows]):
        """The pass's RDD of (slice, (score k x s, missing vars k x s)) partials, one task per item
        (``native_task.pass_function``: the workers import ``native_task``, not this module)."""
        if tasks:
            return sc.parallelize(tasks, len(tasks)).flatMap(
                pass_function(files, n, allele_idx_offsets, rows_per_block, impute, sample_slice))
        # nothing matched: every sum is 0, every matched count 0
        return sc.parallelize([(i, (np.zeros((k, min(sample_slice, n - i * sample_slice))),) * 2)
                               for i in range(n_slices)], n_slices)

    # The score table's partitions: one per reduced slice, at most the default parallelism.
    n_partitions = min(n_slices, sc.defaultParallelism)
    if driver_sum_bytes(n_tasks, k, n) <= settings.driver_sum_mb * 2**20:
        need = pass_files_bytes(len(variant_idx), k, n_tasks * _PARTIAL_BYTES_PER_ENTRY * k * n + n)
        with _spill_dir(spark, weights.directory, settings.memory_dir, need, settings.memory_dir_share) as spill:
            spilled = spill is not None and n_tasks > 0
            # Matrices still to be built (``matching.DeferredWeights``, the stage's) are built after the
            # job is submitted when the tasks map their rows from the pass's files: the tasks open the
            # genotypes and read their first block meanwhile, and wait for the weights' files
            # (``native_task.WeightsGate``); else built now.
            from trd_spark.pgs.matching import DeferredWeights

            gated = spilled and order is None and isinstance(weights, DeferredWeights) and not weights.is_built
            rows = None if gated else weighed()
            # Under a local master the row arrays go to the tasks as .npy files of the pass's
            # directory, each task mapping its rows (``native_task.TaskRows``), instead of inside each task's
            # pickle (110 MB at 200k rows x 61 scores, copied by the driver, the JVM and the
            # worker on its way); on a cluster, whose executors cannot read the driver's disk, in
            # the pickles. Matrices built in the directory's files (``weights.directory``, the
            # stage's ``weight_matrices``) are not written again.
            tasks = shared_task_rows(str(spill), arrays, bounds, _in_place(weights, arrays), gated) if spilled \
                else tasks_of(arrays, bounds)
            split = _PassTimes(n_tasks, len(variant_idx), k, time.perf_counter() - started)
            split.partials = "local files" if spilled else "Spark task results"
            split.weights = "local files" if spilled else "task pickles"
            if spilled:  # where pass_directory put them (a path from elsewhere: not said)
                split.files_in = spill.files_in if isinstance(spill, PassDirectory) else None
            partial_rdd = partials(tasks).mapPartitions(spill_function(str(spill))) if spilled else partials(tasks)
            if gated:
                submitted = time.perf_counter()
                items, rows = _collect_while(sc, partial_rdd, cast(TaskRows, tasks[0]).directory,
                                             lambda: _weights_written(weigh, arrays, weights, str(spill)),
                                             score_rows)
                summed_scores = _rows_summed_on_driver(_Collected(items), rows, k, n, split, submitted)
            else:
                assert rows is not None
                summed_scores = _rows_summed_on_driver(partial_rdd, rows, k, n, split)
        split.log()
        return replace(summed_scores, uncalled=uncalled_variants(
            summed_scores.uncalled_found, pgs_ids, weights.rows, variant_idx, allele_idx, order))
    # The tasks run when the caller writes the table (reduced in Spark), after this returns:
    # their rows go in their pickles.
    rows = weighed()
    split = _PassTimes(n_tasks, len(variant_idx), k, time.perf_counter() - started, weights="task pickles")
    split.log()
    # A task's uncalled rows (``native_task.UNCALLED_SLICE``) are no slice: not summed here, but
    # gathered by an accumulator, read after the caller's write runs the tasks (``SummedInSpark``).
    found: Any = sc.accumulator({}, cast(Any, UncalledItems()))  # (duck-typed AccumulatorParam)
    summed = partials(tasks_of(arrays, bounds)).filter(partial(scored_slice, found)).reduceByKey(
        add_partials, numPartitions=n_partitions)

    def to_batches(batches):
        # Each slice -> its rows as one Arrow batch, sample-major (vectorised: k x slice numbers;
        # the 1.2M rows of 20k samples x 61 scores as Python tuples cost seconds).
        import pickle

        import pyarrow as pa

        for batch in batches:
            for i, blob in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                columns = rows.of_slice(i, *pickle.loads(blob))
                yield pa.RecordBatch.from_arrays(
                    [pa.array(c, pa.string()) if c.dtype == object else pa.array(c, mask=np.isnan(c))
                     if name == "score_avg" else pa.array(c) for name, c in columns.items()],
                    names=list(columns))

    import pickle

    from pyspark.sql import types as T

    # A StructType, not a DDL string: parsing DDL is a JVM round trip (0.6 s on a cold session).
    slices = spark.createDataFrame(summed.map(lambda kv: (kv[0], bytearray(pickle.dumps(kv[1], protocol=5)))),
                                   T.StructType([T.StructField("slice", T.IntegerType(), False),
                                                 T.StructField("partial", T.BinaryType(), False)]))
    return SummedInSpark(hl.Table.from_spark(slices.mapInArrow(to_batches, score_rows_schema())),
                         lambda: uncalled_variants(list(found.value.values()), pgs_ids, weights.rows, variant_idx,
                                                   allele_idx, order))


def score_rows_schema():
    """The Spark schema of the score rows (``scoring.compute_scores``' columns and types)."""
    from pyspark.sql import types as T

    return T.StructType([
        T.StructField("s", T.StringType(), False),
        T.StructField("pgs_id", T.StringType(), False),
        T.StructField("score_sum", T.DoubleType(), False),
        T.StructField("allele_count", T.LongType(), False),
        T.StructField("score_avg", T.DoubleType(), True),
        T.StructField("n_missing", T.LongType(), False),
        T.StructField("n_matched", T.LongType(), False),
    ])


def driver_sum_bytes(n_tasks: int, k: int, n: int) -> int:
    """Driver memory (bytes) of adding the partial sums there: every task's k x n partials
    (collected at once) plus the k x n score rows built from the sums (``score`` compares it
    with ``pgs.native.driver_sum_mb``)."""
    return (n_tasks * _PARTIAL_BYTES_PER_ENTRY + _ROW_BYTES_PER_ENTRY) * k * n


@dataclass(frozen=True)
class _ScoreRows:
    """What turns a slice's summed partials into score rows (plink2 ``--score``'s columns):
    sample IDs in file order, pgs_ids, per score the matched variant count (DENOM / 2) and the
    totals of offsets and n_vars over all weighted rows, and the slice width."""

    sample_ids: np.ndarray  # object (n,)
    pgs_ids: list[str]
    n_matched: np.ndarray  # int64 (k,)
    offset_total: np.ndarray  # float64 (k,)
    n_vars_total: np.ndarray  # (k,)
    sample_slice: int
    # The samples whose chrY rows add nothing (bool (n,): plink2 --score skips a non-male there)
    # and the chrY rows' offset total (float64 (k,)), which their rows do not add; None: no such row.
    non_male_y: np.ndarray | None = None
    y_offset_total: np.ndarray | None = None

    def of_slice(self, i: int, part: np.ndarray, missing_vars: np.ndarray) -> dict[str, np.ndarray]:
        """Slice ``i``'s rows, sample-major, scores in ``pgs_ids`` order, as columns of
        ``score_rows_schema`` (score_avg NaN where no variant matched: null in the table).
        ``part``: summed slope x dosage (k x slice); ``missing_vars``: summed n_vars of the
        missing calls (k x slice). The IDs as object columns (``s``, ``pgs_id``) and
        ``value_columns``."""
        k, n_slice = part.shape
        start = i * self.sample_slice
        return {"s": np.repeat(self.sample_ids[start:start + n_slice], k),
                "pgs_id": np.tile(np.asarray(self.pgs_ids, dtype=object), n_slice),
                **self.value_columns(i, part, missing_vars)}

    def value_columns(self, i: int, part: np.ndarray, missing_vars: np.ndarray) -> dict[str, np.ndarray]:
        """``of_slice``'s numeric columns (score_sum, score_avg float64; allele_count,
        n_missing, n_matched int64; k x slice values each, sample-major) without the IDs, each
        computed straight into its own sample-major array, the one temporary (a float k x
        slice) held in score_avg's array until score_avg is computed there: five fresh arrays
        where the transposed copies of k x slice results made twelve, fresh memory being most of
        this step's driver CPU at 20k samples x 61 scores (huge pages zeroed; issue 16,
        benchmarks/RESULTS.md session 36 scorerows). Same operations, element by element, as
        plink2's rule in ``scoring``'s module doc: score_sum = part + offset total (less a
        non-male's chrY offsets), called = rint(n_vars total - missing n_vars), allele_count =
        2 x called, n_missing = n_matched - called, score_avg = score_sum / (2 x n_matched)."""
        k, n_slice = part.shape
        start = i * self.sample_slice
        score_sum, score_avg = np.empty(n_slice * k), np.empty(n_slice * k)
        allele_count, n_missing, n_matched = (np.empty(n_slice * k, dtype=np.int64) for _ in range(3))
        total, scratch = score_sum.reshape(n_slice, k), score_avg.reshape(n_slice, k)  # views, sample-major
        called = n_missing.reshape(n_slice, k)  # called first, then n_matched - called in place
        np.subtract(self.n_vars_total[None, :], missing_vars.T, out=scratch)
        np.rint(scratch, out=scratch)
        np.copyto(called, scratch, casting="unsafe")  # as astype(np.int64)
        np.multiply(called, 2, out=allele_count.reshape(n_slice, k))
        n_matched.reshape(n_slice, k)[...] = self.n_matched[None, :]
        np.subtract(n_matched.reshape(n_slice, k), called, out=called)
        np.add(part.T, self.offset_total[None, :], out=total)
        if self.non_male_y is not None and self.y_offset_total is not None:
            np.multiply(self.y_offset_total[None, :], self.non_male_y[start:start + n_slice][:, None], out=scratch)
            np.subtract(total, scratch, out=total)
        denom = 2 * self.n_matched
        scratch.fill(np.nan)
        np.divide(total, denom[None, :], out=scratch, where=(denom > 0)[None, :])
        return {"score_sum": score_sum, "allele_count": allele_count, "score_avg": score_avg,
                "n_missing": n_missing, "n_matched": n_matched}


@dataclass
class _PassTimes:
    """Where a native pass's time went (seconds, wall clock), logged once by ``score`` (the
    ``native_pass`` attribute of the log record holds them as a dict, for benchmarks): the
    driver's preparation (weights placed in file order, tasks cut) and the Spark job (tasks run,
    partials collected and added on the driver: ``SummedScores``); None when the partials are
    reduced in Spark (the job runs at the caller's write of the Hail Table)."""

    tasks: int
    rows: int
    scores: int
    # (With deferred weights, ``matching.DeferredWeights``, their build is in ``job_s``: it runs while the tasks start.)
    prepare_s: float
    job_s: float | None = None
    # How the partials reached the driver: "local files" (``native_task.spilled``), "Spark task results",
    # or None when reduced in Spark.
    partials: str | None = None
    # CPU seconds of the tasks' own Python code summed over tasks (``native_task.spilled``: reading the
    # rows, the block products, the partials written; not the Python workers' start or pyspark's
    # per-task work), the engine's genotype work alone; None unless the partials came as local files.
    task_cpu_s: float | None = None
    # How the tasks got their rows' weights: "local files" (``native_task.TaskRows``, a local master) or
    # "task pickles" (``native_task.Task``: a cluster, or partials reduced in Spark after ``score`` returns).
    weights: str | None = None
    # Where the pass's local files were (``pass_directory``): "memory_dir" (``pgs.native.memory_dir``,
    # a tmpfs) or "local dir" (``spark.local.dir``, on disk); None without such files.
    files_in: str | None = None

    def log(self) -> None:
        job = "reduced in Spark at the write" if self.job_s is None else \
            f"job (tasks + collect + sum; weights as {self.weights}, partials as {self.partials}" \
            f"{f', files in the {self.files_in}' if self.files_in else ''}) {self.job_s:.1f} s, " \
            "sums kept as numpy"
        # No sample count: a log names no count of persons.
        log.info("native pass: %d tasks over %d genotype rows x %d scores; prepared in %.1f s, %s", self.tasks,
                 self.rows, self.scores, self.prepare_s, job, extra={"native_pass": vars(self).copy()})


@dataclass(frozen=True)
class SummedScores:
    """All samples' sums of a native pass, added on the driver (``score``): ``part`` (slope x
    dosage) and ``missing_vars`` (n_vars of the missing calls) are k x n float64 (scores in
    ``rows.pgs_ids`` order, samples in file order); ``columns`` gives the score rows as numpy
    columns (the stage's table from them: ``scoring.score_rows_arrow``)."""

    rows: _ScoreRows
    part: np.ndarray
    missing_vars: np.ndarray
    # The calls the genotype filter FT made missing (``scoring.FtFailedCalls``), set by
    # ``engine.score`` for an export whose calls went through the filter; None otherwise.
    ft_failed_calls: FtFailedCalls | None = None
    # Per score and sample (k x n int64), the alleles the pass counted 2 per called variant where
    # plink2's ALLELE_CT counts fewer: 1 per called chrY (a male's) or chrM variant, 0 per
    # non-male's chrY variant (``engine._haploid_allele_counts``); None: no weighted row there.
    fewer_alleles: np.ndarray | None = None
    # The tasks' items of uncalled rows (``native_task.UNCALLED_SLICE``) as collected, and what
    # ``score`` makes of them (``uncalled_variants``: counts per score, the first rows' IDs).
    uncalled_found: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    uncalled: UncalledVariants | None = None

    def columns(self) -> dict[str, np.ndarray]:
        """The score rows (``_ScoreRows.of_slice``: s, pgs_id, score_sum, allele_count,
        score_avg (NaN where no variant matched), n_missing, n_matched), sample-major, scores
        in ``rows.pgs_ids`` order: k x n rows; ``allele_count`` less ``fewer_alleles``."""
        k, n = self.part.shape
        return {"s": np.repeat(self.rows.sample_ids[:n], k), "pgs_id": np.tile(np.asarray(self.rows.pgs_ids, object), n),
                **self.value_columns()}

    def value_columns(self) -> dict[str, np.ndarray]:
        """``columns`` without the IDs (``_ScoreRows.value_columns``; what
        ``scoring.score_rows_arrow`` takes: it encodes the IDs itself)."""
        columns = self.rows.value_columns(0, self.part, self.missing_vars)
        if self.fewer_alleles is not None:
            k, n = self.part.shape
            allele_count = columns["allele_count"].reshape(n, k)
            np.subtract(allele_count, self.fewer_alleles.T, out=allele_count)
        return columns


@dataclass(frozen=True)
class SummedInSpark:
    """A native pass's sums added in Spark (``score``): ``table``, its score rows as a lazy,
    unkeyed Hail Table (the caller writes it: its tasks run then), and its weighted rows no sample
    has a call on, which the tasks gather in an accumulator as they run (``read_uncalled``): read
    them (``uncalled``) once the table is written, as ``SummedScores.uncalled`` is read at once and
    Hail's pass's count from its written table's globals (``scoring.UNCALLED_VARIANTS``)."""

    table: hl_types.Table
    read_uncalled: Callable[[], UncalledVariants]

    @property
    def uncalled(self) -> UncalledVariants:
        """The pass's ``scoring.UncalledVariants``; before the table is written, none counted yet."""
        return self.read_uncalled()

    def with_table(self, table: hl_types.Table) -> SummedInSpark:
        """The same pass with its rows' Table transformed (``table``: of this one's rows)."""
        return replace(self, table=table)


def _rows_summed_on_driver(partial, rows: _ScoreRows, k: int, n: int, split: _PassTimes,
                           since: float | None = None) -> SummedScores:
    """The tasks' partials (``partial``: the RDD of (slice, (k x s, k x s)) pairs, or of (slice,
    (file name, task CPU seconds)) pairs of ``native_task.spilled``, the file read and removed here;
    or ``_Collected`` such pairs) collected and added on the driver: no shuffle stage and no Python
    worker after the tasks. ``since``: when the job was submitted (``split.job_s`` from then;
    default: from this call).
    Memory: ``driver_sum_bytes``, in arrays made without huge pages (``memory.small_pages``:
    ~10 fresh k x n arrays, 10 MB each at 20k x 61). Times go to ``split``."""
    from trd_spark.pgs.memory import small_pages

    with small_pages():
        return _summed_rows(partial, rows, k, n, split, since)


@dataclass(frozen=True)
class _Collected:
    """Items a job already collected (``_collect_while``), as ``_summed_rows`` takes an RDD."""

    items: list

    def collect(self) -> list:
        return self.items


def _summed_rows(partial, rows: _ScoreRows, k: int, n: int, split: _PassTimes,
                 since: float | None = None) -> SummedScores:
    """``_rows_summed_on_driver``'s work."""
    started = time.perf_counter() if since is None else since
    score = np.zeros((k, n))
    missing_vars = np.zeros((k, n))
    uncalled = []
    for i, got in partial.collect():
        if isinstance(got[0], str):  # native_task.spilled: the same two arrays, from a local file
            path, task_cpu = got
            try:
                with open(path, "rb") as f:
                    part, mis = np.load(f, allow_pickle=False), np.load(f, allow_pickle=False)
            except FileNotFoundError:
                raise pass_files_gone(path) from None
            os.remove(path)
            split.task_cpu_s = (split.task_cpu_s or 0.0) + task_cpu
        else:
            part, mis = got
        if i == UNCALLED_SLICE:  # a task's uncalled rows, not a slice's sums
            uncalled.append((part, mis))
            continue
        start = i * rows.sample_slice
        score[:, start:start + part.shape[1]] += part
        missing_vars[:, start:start + part.shape[1]] += mis
    split.job_s = time.perf_counter() - started
    return SummedScores(rows, score, missing_vars, uncalled_found=tuple(uncalled))


def uncalled_variants(found: Sequence[tuple[np.ndarray, np.ndarray]], pgs_ids: Sequence[str], rows: pd.DataFrame,
                      variant_idx: np.ndarray, allele_idx: np.ndarray, order: np.ndarray | None) -> UncalledVariants:
    """The pass's ``scoring.UncalledVariants`` from its tasks' items (``found``: per task the
    per-score n_vars of its uncalled rows, their count and the no-male chrY ones', float64
    (k + 2,), and its first such rows as (variant_idx, allele_idx, shown),
    ``native_task._UncalledRows``). ``rows``: the weighted rows
    (``contig``, ``position``, ``ref``, ``alt``), ``variant_idx``/``allele_idx``: their places in the
    file in the pass's order, ``order`` the pass's order of ``rows`` (None: as given). The IDs are
    the first ``scoring.UNCALLED_SHOWN`` shown rows (no no-male chrY row) by their place in the file."""
    from trd_spark.pgs.scoring import UNCALLED_SHOWN, UncalledVariants

    k = len(pgs_ids)
    counts = np.sum([c for c, _ in found], axis=0) if found else np.zeros(k + 2)
    kept = np.concatenate([r for _, r in found]) if found else np.zeros((0, 3), dtype=np.int64)
    kept = kept[kept[:, 2] == 1]
    kept = kept[np.lexsort((kept[:, 1], kept[:, 0]))][:UNCALLED_SHOWN]
    # (few rows: a lookup of each in the pass's row arrays)
    at = [int(np.flatnonzero((variant_idx == v) & (allele_idx == a))[0]) for v, a, _ in kept]
    picked = rows.iloc[[int(order[p]) if order is not None else p for p in at]]
    first = tuple(f"{c}:{p}:{r}:{a}" for c, p, r, a in zip(picked["contig"], picked["position"], picked["ref"],
                                                          picked["alt"]))
    return UncalledVariants(tuple(pgs_ids), np.rint(counts[:k]).astype(np.int64), int(round(counts[k])), first,
                            int(round(counts[k + 1])))


def warm_workers(spark: SparkSession) -> None:
    """Start the Python workers a native pass's tasks run in and import the task modules there
    (``native_task.worker_ready``: numpy, pgenlib, scipy.sparse, threadpoolctl, ``mt_entries``),
    one tiny task per default-parallelism slot: Spark reuses an idle Python worker for a later
    job's tasks (for a minute: pyspark ends a worker idle longer). A Spark job
    only: no Hail query and no Spark SQL, so it may run beside the driver's Hail work
    (``stage.native_warm_up`` for a MatrixTable scored from its entry files). Its first PythonRDD
    job also loads the JVM's classes of that path. Errors are Spark's, unwrapped."""
    sc = spark.sparkContext
    sc.parallelize(range(sc.defaultParallelism), sc.defaultParallelism).map(worker_ready).collect()


# Spark applications (``applicationId``) whose native pass ``warm_up`` has run in this process.
_WARMED: set[str] = set()


def warm_up(spark: SparkSession, hl: hl_types) -> bool:
    """Pay the native pass's one-off costs on tiny data, once per Spark application and
    process (False when already done), so that a caller can run it in a background thread
    while the driver parses and matches (``stage.native_warm_up``): the Python workers start
    and import the task modules (one tiny task per default-parallelism slot), and one score
    row (``scoring.score_rows_arrow``) goes the way a pandas frame goes into a table Spark
    writes (pandas -> Arrow -> Spark SQL -> Parquet, ``io.write_table``; written to a temporary
    directory, removed after): class loading and Spark SQL's planning and code generation on a
    cold JVM, which the stage's Spark writes pay (``variant_matches``, and ``scores`` when a
    dataset took Hail's route: ``stage.write_scores``). A native pass's own scores are written
    by pyarrow without Spark or Hail (session 25); Hail's ``from_spark``, key and write had been
    most of this warm-up's ~16 CPU-s (benchmarks/RESULTS.md session 23) until session 24.
    Profiled in benchmarks/RESULTS.md (sessions 8, 9, 15): 15-25 s of a cold pass at 20k x
    200k. Errors are Spark's and Hail's, unwrapped."""
    from pyspark.sql.pandas.types import to_arrow_schema

    from trd_spark.io import write_table
    from trd_spark.pgs.matching import pandas_to_spark
    from trd_spark.pgs.scoring import score_rows_arrow
    from trd_spark.schemas import PGS_SCORES

    sc = spark.sparkContext
    if sc.applicationId in _WARMED:
        return False
    warm_workers(spark)
    rows = _ScoreRows(np.array(["0"], dtype=object), ["warm-up"], np.ones(1, dtype=np.int64), np.zeros(1),
                      np.zeros(1), 1)
    row = score_rows_arrow(SummedScores(rows, np.zeros((1, 1)), np.zeros((1, 1))), "warm-up")
    frame = row.cast(to_arrow_schema(PGS_SCORES.struct)).to_pandas()  # as stage.write_scores' Spark route
    path = hl.utils.new_temp_file(prefix="pgs_warm_up", extension="parquet")
    try:
        write_table(pandas_to_spark(spark, frame, PGS_SCORES.struct), path)
    finally:  # also when the write fails part-way (its files so far)
        fs = hl.current_backend().fs
        if fs.exists(path):
            fs.rmtree(path)
    _WARMED.add(sc.applicationId)
    return True


def import_warm_up_modules() -> None:
    """Import, in the caller's thread, what ``warm_up`` imports when it first runs, so that the
    warm-up's thread imports nothing while the caller's goes on parsing and matching (pandas,
    pyarrow, Hail: ``stage.native_warm_up``). Two threads importing overlapping module graphs at
    once can hand one of them a half-initialised module ("module aiohttp has no attribute
    typedefs" inside ``import hail``, session 31; ``scoring_files._import_parse_modules`` for the
    parse). Its thread imported 80 modules (runsafe, session 32): PySpark's ``to_arrow_type``
    imports ``distutils.version`` on its first call (setuptools' distutils, ``packaging``,
    ``jaraco``, ``more_itertools``) and ``Table.to_pandas`` imports ``pyarrow.pandas_compat``; so
    they are imported by those calls, on the warm-up's one-row schema, not by a list of names
    that a library's next version changes. Once per process: ~0.3 s the first time.
    tests/test_runsafe_s32.py checks that the warm-up's thread imports nothing."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    from trd_spark.io import write_table  # noqa: F401 - warm_up's own imports
    from trd_spark.pgs.matching import pandas_to_spark  # noqa: F401
    from trd_spark.pgs.scoring import score_rows_arrow  # noqa: F401
    from trd_spark.schemas import PGS_SCORES

    schema = to_arrow_schema(PGS_SCORES.struct)
    pa.table({name: pa.array([], type=schema.field(name).type) for name in schema.names}).to_pandas()
