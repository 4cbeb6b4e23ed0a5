"""Read and validate PGS Catalog scoring files (format 2.0), before any Spark work.

A scoring file is ``#key=value`` header lines, one tab-separated column-header line, then one
row per variant. We return a typed header and a pandas frame of variants:

    chrom (str: 1..22, X, Y, MT; no ``chr`` prefix; null when the variant has no position on
    ``positions_build``), pos (Int64, 1-based, null likewise), effect_allele (str),
    other_allele (str or null), effect_weight (float64), line (int: 1-based line in the file),
    rsid (str or null: the ``rsID`` column, else ``hm_rsID``)

Positions come from the harmonised ``hm_chr``/``hm_pos`` columns when ``#HmPOS_build`` is the
dataset's build, else from ``chr_name``/``chr_position`` when ``#genome_build`` is. Otherwise:

- ``liftover=True``: author positions on ``#genome_build`` (GRCh37/GRCh38) are kept with
  ``positions_build`` set to it, and ``matching.score_variants_table`` lifts them over;
- ``match_rsid=True`` and an rsID column without positions: ``positions_from="rsid"``, all
  positions null, matched on the genotypes' rsIDs (``matching.place_sites_by_rsid``);
- else an error saying how to fix it (the harmonised file, or the config option).

Every problem raises ``InputDataError`` with ``where="<file>:<line>"``. Files are local paths or
Hadoop FS URIs (``gs://``, ``hdfs://``, ``file://``; read through ``trd_spark.io.Fs``).

Why our own parser and not ``pgscatalog.core`` (installed, 1.1.1): its ``ScoringFile``
parses the header well, but variant errors surface as bare pydantic ValidationErrors with no
file line, non-Catalog headers drop ``weight_type``/``variants_number``, invalid alleles
(e.g. ``X``) are accepted, and one pydantic object per row is slow for million-variant
scores. A vectorised parser gives line-precise errors and stays fast: well-formed variant rows
are read by pyarrow's CSV reader into Arrow-backed text columns (``read_body_arrow``), any
other shape by the line-by-line pandas path (the same records; its errors name file:line),
and the checks run on Arrow strings either way (a million-row file: ~4x faster than on
Python objects).
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import logging
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from trd_spark.compressed import decode_text
from trd_spark.compressed import open_text as open_compressed_text
from trd_spark.compressed import stream_errors as compressed_stream_errors
from trd_spark.config import is_uri, local_path
from trd_spark.errors import InputDataError
from trd_spark.io import Fs
from trd_spark.logs import counted
from trd_spark.pgs.genotypes import BGZF_EOF, compression_of  # at the top: a parse ahead imports nothing

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from trd_spark.config import Config, PgsSettings

log = logging.getLogger(__name__)

VARIANT_COLUMNS = ["chrom", "pos", "effect_allele", "other_allele", "effect_weight", "line", "rsid"]
# Builds Hail can place loci on (hl.liftover needs both ends to be Hail reference genomes).
LIFTOVER_BUILDS = ("GRCh37", "GRCh38")

_BUILD_ALIASES = {
    "grch38": "GRCh38", "hg38": "GRCh38",
    "grch37": "GRCh37", "hg19": "GRCh37",
    "ncbi36": "NCBI36", "hg18": "NCBI36",
}
# PLINK's codes, as the genotype readers recode them (genotypes.plink_contig_recoding): 23 X,
# 24 Y, 25 / XY the pseudo-autosomal part of X (X coordinates), 26 MT, PAR1 / PAR2 (plink2
# --split-par) X's two pseudo-autosomal regions.
_CHROM_ALIASES = {"23": "X", "24": "Y", "25": "X", "XY": "X", "M": "MT", "26": "MT", "PAR1": "X", "PAR2": "X"}
# The names read case-insensitively (``normalise_chrom``): numbers, the sex and mitochondrial
# codes and plink2's X codes; any other contig name keeps its case.
_PRIMARY_CHROM = r"[0-9]+|X|Y|XY|M|MT|PAR1|PAR2"
_ALLELE = re.compile(r"^[ACGT]+$")
# An other_allele listing alternatives, 'G/T': the format's "other allele(s)" (pgscatalog-core's
# CatalogScoreVariant), read as no other allele (``parse_scoring_file``).
_ALLELE_LIST = re.compile(r"^[ACGT]+(?:/[ACGT]+)+$")
# Line breaks of str.splitlines besides \n in ASCII text (the header/body split must see them).
_OTHER_ASCII_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
# A decimal number (weights, positions), or inf/nan (refused later with their line); RE2 syntax,
# \d is ASCII only. Anything else reads as not a number.
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?(?i:inf|infinity|nan)$"
# Positions become Hail loci (int32 positions): a larger one is an error, not an overflow later.
MAX_POSITION = 2**31 - 1
# What an error adds when the file ends inside the line it names (no line break after it).
_CUT_SHORT = "the file ends inside this line, cut short (an interrupted copy or decompression, a full disk?): copy it again"
# Files parsed at once (read_scoring_files): bounds the driver's peak memory, not a study setting.
MAX_PARSE_THREADS = 4
# Largest block of variant rows Arrow's CSV reader parses at once (read_body_arrow): a 200k-row
# file (~5 MB) is one block; a multi-million-variant file's parse buffers stay bounded per thread.
CSV_BLOCK_BYTES = 64 << 20
# Text columns are Arrow-backed: vectorised string operations (the python-object ones were
# most of the parse time of a million-row file).
TEXT = pd.StringDtype("pyarrow")
# The PGS Catalog's per-row model flags: is_dominant / is_recessive are read into
# ``effect_types`` (below); the others (haplotype, diplotype, interaction rows) are refused.
_MODEL_FLAGS = ("is_haplotype", "is_diplotype", "is_interaction", "is_dominant", "is_recessive")
_DOSAGE_WEIGHTS = ("dosage_0_weight", "dosage_1_weight", "dosage_2_weight")
# Rows flagged is_dominant / is_recessive are scored as pgsc_calc scores them: its matcher splits
# a scoring file by effect type and runs plink2 --score with the 'dominant' / 'recessive'
# modifier on each part (pgsc_calc modules/local/plink2_score.nf; pgscatalog-core's
# ScoreVariant.effect_type, which refuses a row flagged both). ``ScoringFile.effect_types`` holds
# them per row (``EFFECT_TYPES``' codes); the engines apply plink2's dosage models
# (``matching.weight_matrices``).
EFFECT_TYPES = ("additive", "dominant", "recessive")
_EFFECT_TYPE_FLAGS = {"is_dominant": 1, "is_recessive": 2}
# Values of those flag columns, lower-cased: the PGS Catalog writes TRUE/FALSE; R exports T/F and
# NA; spreadsheets 1/0 or yes/no. Empty / NA / '.' is not flagged; anything else is an error.
_FLAG_TRUE = ("true", "t", "1", "yes", "y")
_FLAG_FALSE = ("false", "f", "0", "no", "n", "", "na", ".")
# Effect alleles that name no DNA sequence but a complex allele the PGS Catalog curates (its
# guidelines' Appendix A, pgscatalog-core's VariantType: APOE_allele, CYP_allele, HLA_allele,
# HLA_AA, HLA_serotype): a gene allele written in words ('APOE_e2', 'e4', 'HLA-DQA1*01:02',
# 'del', 'ins': two or more characters, one letter outside A/C/G/T/N, no '/' list; the class
# below also holds the IUPAC ambiguity letters B D H K M R S V W Y, so 'RY' counts as named), or
# 'P', the Catalog's HLA presence code. A one-character code ('N', 'X', '-', PLINK 1's I/D) or an
# 'A/G' list stays an error at its line (a typo or a fixable spelling of a sequence variant)
# unless its row is marked as a complex allele (``complex_allele_rows``).
# (RE2 syntax, no look-ahead: the letter and the length are tested apart.)
_NAMED_ALLELE_LETTER = r"[BDEFHIJKLMOPQRSUVWXYZ]"
_HLA_PRESENCE = "P"
# Flags that mark a row as a complex allele (``complex_allele_rows``).
_COMPLEX_FLAGS = ("is_haplotype", "is_diplotype")
# ``variant_type`` values that mark a row as a complex allele, lower-cased: exactly the members of
# pgscatalog-core's VariantType (its models.py; the Catalog's curation guidelines, Appendix A).
# Kept here, not imported: pgscatalog.core.lib costs 0.2 s of import in every process that reads
# a scoring file; tests/test_fixesA_s34.py checks the two agree. Any other value (an author's
# 'SNV', 'SNP', 'indel') marks nothing, so an 'N' or '-' typo on such a row stays a line error.
_COMPLEX_VARIANT_TYPES = ("apoe_allele", "cyp_allele", "hla_allele", "hla_aa", "hla_serotype")


# ``#weight_type`` values (case-insensitive, spaces ignored) and what is summed. PGS Catalog:
# weights are betas or log(OR)/log(HR) unless the header says OR/HR; NR/absent means beta.
_WEIGHTS_AS_IS = {"beta", "log(or)", "log(hr)", "logor", "loghr", "ln(or)", "ln(hr)", "log_or", "log_hr"}
_WEIGHTS_TO_LOG = {"or", "hr", "oddsratio", "hazardratio"}


def weight_scale(weight_type: str | None) -> Literal["as_is", "log"]:
    """How a score's weights are summed: ``as_is`` (beta, log(OR), log(HR), not reported) or
    ``log`` (OR, HR: summed as ln(weight), the PGS Catalog convention). Raises ValueError for
    any other weight type (e.g. ``Z-score``, ``NES``): it cannot be converted to a per-allele
    additive effect."""
    if weight_type is None:
        return "as_is"
    key = weight_type.replace(" ", "").lower()
    if key in _WEIGHTS_AS_IS:
        return "as_is"
    if key in _WEIGHTS_TO_LOG:
        return "log"
    raise ValueError(f"#weight_type={weight_type} cannot be converted to per-allele log-scale weights "
                     "(known: beta, log(OR), log(HR), OR, HR, NR)")


def row_weight_scales(df: pd.DataFrame, header_type: str | None, header_log: bool,
                      source: str) -> tuple[np.ndarray, list[str] | None]:
    """Per variant row: is its weight a ratio to sum as ln(weight)? (bool array). Without a
    ``weight_type`` column every row follows the header (``header_log``). With one (files
    assembled from several sources), a row's own value (``weight_scale`` rules) decides and an
    empty or ``NR`` cell follows the header (``header_type``, read as a ratio when
    ``header_log``); returns also the weight types read as ratios (sorted; None without the
    column). An unknown row value is an ``InputDataError`` at the first line holding it (the
    ``line`` column of ``df``)."""
    if "weight_type" not in df.columns:
        return np.full(len(df), header_log), None
    codes, uniques = pd.factorize(df["weight_type"].astype(TEXT).str.strip())
    logs, names = [], []
    for i, value in enumerate(uniques):
        if value == "" or str(value).upper() == "NR":
            logs.append(header_log)
            names.append(str(header_type))
            continue
        names.append(str(value))
        try:
            logs.append(weight_scale(str(value)) == "log")
        except ValueError as e:
            line = int(df["line"].to_numpy()[np.argmax(codes == i)])
            raise InputDataError(f"column weight_type: {e}", where=f"{source}:{line}") from None
    to_log = np.append(np.array(logs, dtype=bool), header_log)[codes]
    if (codes < 0).any() and header_log:  # missing cells follow the header too
        names.append(str(header_type))
        logs.append(True)
    return to_log, sorted({n for n, is_log in zip(names, logs, strict=True) if is_log})


def complex_allele_rows(df: pd.DataFrame, effect: tuple[np.ndarray, Any] | None = None) -> np.ndarray:
    """Which rows of a scoring file's variant columns (text, as read; ``effect_allele`` required)
    give a complex allele no genotype file holds: an effect allele that is no DNA sequence and
    that either is a named allele (two or more characters, one a letter other than A/C/G/T/N,
    IUPAC codes such as R or Y included, no '/' list: 'APOE_e2', 'e4', 'HLA-DQA1*01:02', 'del',
    'ins'; or the HLA presence code 'P') or stands in a row the file marks as a complex allele:
    a ``variant_type`` of pgscatalog-core's VariantType (APOE_allele, CYP_allele, HLA_allele,
    HLA_AA, HLA_serotype, any case; other values such as 'SNV' mark nothing), ``is_haplotype``
    / ``is_diplotype`` true, or an HLA allele
    in ``rsID`` / ``hm_rsID`` (the format writes HLA alleles there). ``effect``: the effect
    alleles' codes per row and distinct raw values (``pd.factorize``; computed when None).
    Returns a bool array, one per row.

    pgsc_calc (pgscatalog-core's ``normalise``: ``check_effect_allele`` warns of effect alleles
    "not ACTG", ``detect_complex`` of a complex file) keeps such rows, which then match no target
    variant: the file is scored on its other rows and these count as unmatched in its match rate.
    The rows are left out here the same way (``parse_scoring_file``: a counted note, counted as
    not found in the match summary)."""
    # Tested per distinct allele (a few per file), as the parse's own allele check, not per row.
    codes, uniques = effect if effect is not None else pd.factorize(df["effect_allele"].astype(TEXT))
    ea = pd.Series(uniques, dtype=TEXT).str.strip().str.upper()
    not_dna_distinct = (~ea.str.fullmatch(_ALLELE)).fillna(False).to_numpy(bool)
    flagged = haplotype_flagged_rows(df)
    if not not_dna_distinct.any():
        return flagged
    named = (ea.str.len() >= 2) & ea.str.contains(_NAMED_ALLELE_LETTER) & ~ea.str.contains("/", regex=False)
    named_distinct = (named | (ea == _HLA_PRESENCE)).fillna(False).to_numpy(bool)
    # Code -1 (a missing allele, refused later at its line) -> the appended False.
    not_dna = np.append(not_dna_distinct, False)[codes]
    marked = np.append(named_distinct, False)[codes]
    if "variant_type" in df.columns:
        vt = df["variant_type"].astype(TEXT).str.strip().str.lower()
        marked |= vt.isin(_COMPLEX_VARIANT_TYPES).fillna(False).to_numpy(bool)
    for col in _COMPLEX_FLAGS:
        if col in df.columns:
            marked |= df[col].astype(TEXT).str.strip().str.lower().isin(_FLAG_TRUE).fillna(False).to_numpy(bool)
    for col in ("rsID", "hm_rsID"):
        if col in df.columns:
            marked |= df[col].astype(TEXT).str.strip().str.upper().str.startswith("HLA").fillna(False).to_numpy(bool)
    return (not_dna & marked) | flagged


def haplotype_flagged_rows(df: pd.DataFrame) -> np.ndarray:
    """Which rows of a scoring file's variant columns (text, as read) are flagged ``is_haplotype``
    or ``is_diplotype`` true (TRUE, T, 1, yes, any case): bool array, one per row.

    Such a row's weight is a haplotype's or diplotype's ("rather than a single SNP", the PGS
    Catalog's column definition; its constituent SNPs ';'-separated), whatever its effect allele:
    a DNA allele too is one (pgscatalog-core's ``ScoreVariant.is_complex`` is true for ``A``
    flagged is_haplotype). Summed as the one variant at its position, its weight would be applied
    to that SNP's dosage, which is not the haplotype's unless phase-free and tagged by that SNP
    alone; pgsc_calc does sum it so, with a file-level warning ("Complex scoring file
    detected"). Left out here like the complex alleles (``complex_allele_rows``: counted, not
    found in the match summary, a WARNING): before, one such row made the whole file an error."""
    flagged = np.zeros(len(df), dtype=bool)
    for col in _COMPLEX_FLAGS:
        if col in df.columns:
            flagged |= df[col].astype(TEXT).str.strip().str.lower().isin(_FLAG_TRUE).fillna(False).to_numpy(bool)
    return flagged


def duplicate_sites(codes: dict[str, TextCodes], pos: np.ndarray, *, by_rsid: bool) -> np.ndarray:
    """True on every row after the first of its site: same chrom/pos (or rsID for rsID-only
    files) and the same allele pair in either order (``A/G`` and ``G/A`` are one site).
    Unplaced rows are never duplicates (they match nothing). ``codes``: the file's
    ``TextCodes`` of chrom, effect_allele, other_allele and rsid; ``pos``: int64 (any value
    where the position is missing)."""
    if not by_rsid and _sites_strictly_increasing(codes["chrom"].codes, pos):
        return np.zeros(len(pos), dtype=bool)
    # One integer code per allele text across both columns (a missing other allele is its own
    # code, -1): the unordered pair is (min, max) of the codes, compared as integers.
    effect, other = codes["effect_allele"], codes["other_allele"]
    joint, _ = pd.factorize(np.concatenate([effect.values, other.values]))
    n_effect = len(effect.values)
    a = np.append(joint[:n_effect], -1)[effect.codes]
    b = np.append(joint[n_effect:], -1)[other.codes]
    key = {"_a1": np.minimum(a, b), "_a2": np.maximum(a, b)}
    if by_rsid:
        key["rsid"], placed = codes["rsid"].codes, codes["rsid"].codes >= 0
    else:
        key["chrom"], key["pos"], placed = codes["chrom"].codes, pos, codes["chrom"].codes >= 0
    # One hash per row instead of a factorisation per column (codes >= -1, positions >= -1).
    return placed & pd.Series(packed_key(list(key.values())), copy=False).duplicated(keep="first").to_numpy(bool)


def _sites_strictly_increasing(chrom_codes: np.ndarray, pos: np.ndarray) -> bool:
    """Whether every row is placed and (chromosome code, position) increases strictly from row
    to row: then no two rows share a position, so none is a duplicate site, and the hash of
    every row's site and alleles is not needed. A file sorted by position (the usual; the
    codes number the chromosomes in order of first appearance, so a file grouped by chromosome
    has them non-decreasing) takes ~1 ms here instead of ~10 ms (issue 16, session 21); any
    other file is checked in full."""
    if len(pos) < 2 or chrom_codes.min() < 0:
        return False
    # One int64 per row, equal for equal sites (a function of them; positions <= MAX_POSITION
    # and codes < 2**31, so the values do not wrap), strictly increasing iff the sites do.
    key = chrom_codes.astype(np.int64)
    key *= MAX_POSITION + 1
    key += pos
    return bool((key[1:] > key[:-1]).all())


def packed_key(columns: list[np.ndarray]) -> np.ndarray:
    """One int64 per row, equal for two rows exactly when all ``columns`` are: integer arrays of
    one length with values >= -1 (factorisation codes, -1 for missing; positions) packed in
    mixed radix (max + 2 values per column). Where the product of the ranges would reach 2**62,
    what is packed so far is renumbered first (``pd.factorize``), so it never overflows. Hashing
    one int64 per row is many times faster than grouping or deduplicating several columns of
    millions of rows (pandas factorises each; ``duplicate_sites``, ``matching._group_ids``)."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    size = 1
    for col in columns:
        values = np.asarray(col, dtype=np.int64)
        width = int(values.max(initial=-1)) + 2
        if size * width >= 2**62:
            key = pd.factorize(key)[0].astype(np.int64)
            size = int(key.max(initial=-1)) + 1
        # In place: each fresh 12M-row int64 array costs ~0.1-0.7 s of page faults here (session 16).
        key *= width
        key += values
        key += 1
        size *= width
    return key


def parse_numbers(values: pd.Series) -> pd.Series:
    """Text -> float64: NaN where missing or not a decimal number (``_NUMBER``; spaces around
    it ignored). Correctly rounded (Arrow's parser): pandas' ``to_numeric`` is off by one unit
    in the last place for many 17-digit weights (``repr`` of a float64)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    raw = pa.array(values.astype(TEXT))
    try:
        # Arrow's cast accepts a subset of what the pattern accepts (no spaces around it; no hex;
        # its extra "nan(...)" forms give NaN, as the pattern's refusal does): when every value
        # casts, the result is the pattern's, without the trim and the regular expression over
        # every row (~40% of a 200k-row file's parse; issue 16, session 18).
        return pd.Series(pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False), index=values.index)
    except pa.ArrowInvalid:
        pass
    text = pc.utf8_trim_whitespace(raw)
    number = pc.if_else(pc.match_substring_regex(text, _NUMBER), text, pa.scalar(None, pa.string()))
    return pd.Series(pc.cast(number, pa.float64()).to_numpy(zero_copy_only=False), index=values.index)


def _exponent_form(values: pd.Series) -> np.ndarray:
    """Per row (bool) whether the text has an exponent (``e``/``E``: ``1e5``, ``1.23457E+08``);
    missing values are not. A substring test in Arrow (~ms per 200k rows): the caller has refused
    any text that is not a number already."""
    import pyarrow as pa
    import pyarrow.compute as pc

    raw = pa.array(values.astype(TEXT))
    return pc.fill_null(pc.match_substring(raw, "e", ignore_case=True), False).to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class TextCodes:
    """A text column of a scoring file as ``codes`` per row (int32; -1 = missing) into
    ``values`` (object array of its distinct strings, normalised). ``matching.score_sites``
    groups millions of score rows on these codes instead of hashing the text again."""

    codes: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, codes: np.ndarray, distinct: pd.Series) -> TextCodes:
        """Rows' ``codes`` into ``distinct`` (raw values) -> codes into the distinct values of
        ``distinct`` as normalised (equal normalised values merge; NA becomes missing)."""
        merged, values = pd.factorize(distinct)
        return cls(np.append(merged, -1)[codes].astype(np.int32), np.asarray(values, dtype=object))

    @classmethod
    def missing(cls, n: int) -> TextCodes:
        """A column missing on all ``n`` rows."""
        return cls(np.full(n, -1, dtype=np.int32), np.empty(0, dtype=object))

    def decoded(self) -> np.ndarray:
        """One object per row: the shared string of its value, None where missing."""
        return np.append(self.values, np.array([None], dtype=object))[self.codes]

    def take(self, rows: np.ndarray) -> TextCodes:
        """The rows selected by ``rows`` (a mask or indices)."""
        return TextCodes(self.codes[rows], self.values)


@dataclass(frozen=True)
class ScoreHeader:
    """The header fields we use; ``None`` when absent or ``NR`` (not reported)."""

    pgs_id: str
    pgs_name: str | None
    trait_reported: str | None
    genome_build: str | None
    weight_type: str | None
    variants_number: int | None
    HmPOS_build: str | None


@dataclass(frozen=True)
class OtherPositions:
    """A scoring file's second set of positions, on another build than the one read: the author's
    ``chr_name``/``chr_position`` on ``#genome_build`` beside harmonised ``hm_chr``/``hm_pos`` read
    (or the harmonised ones beside author positions read), one entry per row of
    ``ScoringFile.variants`` (after duplicates are dropped). ``chrom``: codes into ``1``..``22``,
    ``X``, ``Y``, ``MT`` (``normalise_chrom``; -1 missing); ``pos``: int32, 0 where missing or not
    a position. Kept as evidence of the genotypes' build (``build_positions``), never matched on."""

    build: str
    chrom: TextCodes
    pos: np.ndarray


@dataclass(frozen=True)
class ScoringFile:
    """One parsed scoring file: its header, variants (see module doc) and what was done."""

    path: str
    header: ScoreHeader
    variants: pd.DataFrame
    positions_from: Literal["harmonised", "author", "rsid"]
    # Build of ``variants.chrom/pos``: the target build, or the one to lift over from.
    positions_build: str | None = None
    n_duplicates_dropped: int = 0
    n_unplaced: int = 0  # rows without a position on the target build (kept; never match)
    # Rows of complex alleles left out (``complex_allele_rows``): not in ``variants``, counted
    # as not found in the match summary (``matching.count_complex_skipped``).
    n_complex_skipped: int = 0
    # Harmonised files read by hm_chr/hm_pos (``harmonised_disagreements``): rows whose author
    # chr_name/chr_position name another place (the chromosome; the position too when
    # #genome_build is #HmPOS_build), and rows the harmonisation left without one.
    n_harmonised_differ: int = 0
    n_harmonised_missing: int = 0
    notes: list[str] = field(default_factory=list)
    # ``variants``' text columns (chrom, effect_allele, other_allele, rsid) as codes (see
    # ``TextCodes``); None when the frame was made otherwise (then the text is hashed again).
    text_codes: dict[str, TextCodes] | None = field(default=None, repr=False, compare=False)
    # The rows' positions on the other build of LIFTOVER_BUILDS the file also gives (None when it
    # gives none, or both sets are on one build).
    other_positions: OtherPositions | None = field(default=None, repr=False, compare=False)
    # Each row's effect type (int8 codes into ``EFFECT_TYPES``: 0 additive, 1 dominant, 2
    # recessive; ``is_dominant`` / ``is_recessive``), one entry per row of ``variants``; None when
    # every row is additive.
    effect_types: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def pgs_id(self) -> str:
        return self.header.pgs_id


def place_columns(df: pd.DataFrame, chrom_col: str, pos_col: str) -> tuple[TextCodes, np.ndarray]:
    """A pair of place columns of the raw rows (``chr_name``/``chr_position`` or
    ``hm_chr``/``hm_pos``) as chromosome codes (``normalise_chrom``; -1 missing) and float64
    positions (NaN where missing or not a number)."""
    codes, raw = pd.factorize(df[chrom_col].astype(TEXT))
    return (TextCodes.of(codes, normalise_chrom(pd.Series(raw, dtype=TEXT))),
            parse_numbers(df[pos_col]).to_numpy("float64", na_value=np.nan))


def other_positions(place: tuple[TextCodes, np.ndarray], build: str) -> OtherPositions:
    """``place_columns``' output as ``OtherPositions`` on ``build``: a row whose position is no
    whole number in 1..MAX_POSITION, or whose chromosome is missing, has none (this set is only
    evidence, not read: no error for it)."""
    chrom, pos = place
    ok = (chrom.codes >= 0) & np.isfinite(pos) & (pos >= 1) & (pos <= MAX_POSITION) & (pos % 1 == 0)
    return OtherPositions(build, TextCodes(np.where(ok, chrom.codes, -1).astype(np.int32), chrom.values),
                          np.where(ok, pos, 0).astype(np.int32))


def harmonised_disagreements(df: pd.DataFrame, chrom: TextCodes, pos: pd.Series, *,
                             same_build: bool, author: tuple[TextCodes, np.ndarray] | None = None) -> tuple[int, int]:
    """(rows whose author place differs from the harmonised one, rows the harmonisation left
    unplaced although the author gave a place), for a file read by ``hm_chr``/``hm_pos``.

    ``df``: the raw rows with ``chr_name``/``chr_position``; ``chrom``/``pos``: the parsed
    ``hm_chr`` codes (``normalise_chrom``, -1 missing) and ``hm_pos`` numbers (NaN missing).
    A row differs when both places are given and the chromosomes differ (``normalise_chrom`` on
    both: ``chr1`` is ``1``), or, with ``same_build`` (``#genome_build`` is ``#HmPOS_build``),
    the positions do; on two builds positions differ by design. Source: pgsc_calc matches on
    the harmonised columns (pgscatalog-core's remap_harmonised), so a disagreement is silent
    there; the PGS Catalog leaves hm_chr/hm_pos empty where it could not map a variant
    (``hm_source`` empty, liftover failed). ``author``: ``place_columns`` of the author columns,
    when already parsed."""
    a_chrom, a_pos = author if author is not None else place_columns(df, "chr_name", "chr_position")
    placed = (a_chrom.codes >= 0) & ~np.isnan(a_pos)
    hm = (chrom.codes >= 0) & pos.notna().to_numpy(bool)
    # Chromosomes compared as codes of one factorisation of both columns' distinct values (few).
    joint, _ = pd.factorize(np.concatenate([np.asarray(chrom.values, dtype=object),
                                            np.asarray(a_chrom.values, dtype=object)]))
    hm_c = np.append(joint[: len(chrom.values)], -1)[chrom.codes]
    a_c = np.append(joint[len(chrom.values):], -2)[a_chrom.codes]
    differ = hm & placed & (hm_c != a_c)
    if same_build:
        differ |= hm & placed & (pos.to_numpy("float64", na_value=np.nan) != a_pos)
    return int(differ.sum()), int((placed & ~hm).sum())


def inverted_mapping_rows(chrom: TextCodes, pos: np.ndarray, author: tuple[TextCodes, np.ndarray]) -> np.ndarray:
    """bool per row of a harmonised file (``chrom``/``pos``: ``hm_chr`` codes and ``hm_pos``,
    NaN missing; ``author``: ``place_columns`` of ``chr_name``/``chr_position`` on the other
    build): the row lies where the two builds run in opposite directions (a chain's negative-
    strand block: a region inverted between GRCh37 and GRCh38, a few Mb in all). Told from the
    file alone: on such a block author position x and harmonised position y keep x + y constant,
    so a row is on one when its neighbour in author order (same chromosome in both columns,
    another position) has the same x + y; on a plus-strand block y - x is constant instead, and
    neighbours' x + y differ. A row alone on its block is not seen (left as read)."""
    a_chrom, a_pos = author
    hm_name, a_name = chrom.decoded(), a_chrom.decoded()
    ok = np.flatnonzero((chrom.codes >= 0) & ~np.isnan(pos) & (a_chrom.codes >= 0) & ~np.isnan(a_pos)
                        & (pd.Series(hm_name, dtype=object) == pd.Series(a_name, dtype=object)).to_numpy(bool))
    out = np.zeros(len(pos), dtype=bool)
    if len(ok) < 2:
        return out
    key = pd.DataFrame({"c": chrom.codes[ok], "x": a_pos[ok].astype(np.int64),
                        "s": a_pos[ok].astype(np.int64) + pos[ok].astype(np.int64)})
    u = key.drop_duplicates().sort_values(["c", "x", "s"], kind="stable").reset_index(drop=True)
    c, x, sums = u["c"].to_numpy(), u["x"].to_numpy(), u["s"].to_numpy()
    pair = (c[1:] == c[:-1]) & (x[1:] != x[:-1]) & (sums[1:] == sums[:-1])
    flag = np.zeros(len(u), dtype=bool)
    flag[1:] |= pair
    flag[:-1] |= pair
    hit = pd.MultiIndex.from_frame(u.loc[flag, ["c", "x", "s"]])
    out[ok] = pd.MultiIndex.from_frame(key).isin(hit)
    return out


def flippable_pairs(effect: TextCodes, other: TextCodes) -> np.ndarray:
    """bool per row: both alleles one base each and not an A/T or C/G pair (a strand flip names
    its variant whichever strand the file is on)."""
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    e = pd.Series(effect.decoded(), dtype=object)
    o = pd.Series(other.decoded(), dtype=object)
    single = (e.str.len() == 1).to_numpy(bool) & (o.str.len() == 1).to_numpy(bool)
    return single & (e.map(comp) != o).to_numpy(bool)


def normalise_build(value: str | None) -> str | None:
    """``hg38``/``GRCh38`` -> ``GRCh38`` etc.; a patch suffix (``GRCh38.p13``: patches keep
    the primary assembly's coordinates) dropped; ``NR``/empty -> None; unknown kept as given."""
    if value is None:
        return None
    v = re.sub(r"\.p\d+$", "", value.strip(), flags=re.IGNORECASE)
    if not v or v.upper() == "NR":
        return None
    return _BUILD_ALIASES.get(v.lower(), v)


def normalise_chrom(chrom: pd.Series) -> pd.Series:
    """``chr1``/``1``/``01`` -> ``1``; ``23``/``chrX`` -> ``X``; ``25``/``XY`` (PLINK's X
    pseudo-autosomal code, on X coordinates; before: chr25, never matched, though the
    genotypes' 25/XY rows are read as chrX) -> ``X``; ``chrM``/``M`` -> ``MT`` (nulls
    kept). Leading zeros (``01``, ``chr09``: zero-padded for sorting) are dropped, so such a row
    matches the genotypes' ``chr1`` and is one site with a ``1`` row of the same position.
    Any other name (an alt, random, unplaced or decoy contig: ``1_KI270706v1_random``,
    ``Un_KI270302v1``, GRCh37's ``GL000192.1``) keeps its letters as written, the ``chr`` prefix
    read as for the others: the references (Hail's GRCh38 ``chr1_KI270706v1_random``) and the
    genotypes (``genotypes.plink_contig_recoding`` recodes only the chromosome codes) spell them
    in mixed case, and an upper-cased ``1_KI270706V1_RANDOM`` matched no contig, its rows
    unplaced (before session 35)."""
    raw = chrom.astype(TEXT).str.strip().str.replace(r"^(?i:chr)", "", regex=True)
    upper = raw.str.upper()
    primary = upper.str.fullmatch(_PRIMARY_CHROM).fillna(False)
    out = upper.where(primary, raw).str.replace(r"^0+([0-9])", r"\1", regex=True)
    return out.replace(_CHROM_ALIASES)


def _read_bytes(path: str, spark: SparkSession | None = None) -> bytes:
    if is_uri(path):
        from pyspark.sql import SparkSession

        # The active session is per thread: read_scoring_files' threads are given the session.
        spark = spark or SparkSession.getActiveSession()
        if spark is None:
            raise InputDataError("reading a scoring file from a URI needs the Spark session", where=path)
        fs = Fs(spark)
        if not fs.exists(path):
            raise InputDataError("scoring file not found", where=path)
        try:
            return fs.read_bytes(path)
        except Exception as e:  # py4j wraps the Hadoop IOException
            raise InputDataError(f"cannot read scoring file: {str(e).splitlines()[0]}", where=path) from None
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputDataError("scoring file not found", where=path) from None
    except OSError as e:
        raise InputDataError(f"cannot read scoring file: {e.strerror}", where=path) from None


_GZIP_MAGIC = b"\x1f\x8b"  # a gzip file's first bytes, whatever the file is called
_NOT_SPACE = re.compile(r"\S")  # (str.isspace's characters: both use Py_UNICODE_ISSPACE)


def _gunzip(raw: bytes, path: str) -> bytes:
    """The decompressed bytes of gzip data (every member, as ``gzip.decompress``). Inflated by
    zlib-ng (a dependency: ~1.7x the standard library's zlib, 61 scoring files of 200k rows:
    ~0.7 CPU-s less; issue 16, session 21); on any error the standard library's ``gzip`` reads
    it again, so what a truncated, corrupt or trailing-garbage file gives (its data, or the
    error and its text) is the standard library's."""
    from zlib_ng import gzip_ng

    try:
        return gzip_ng.decompress(raw)
    except Exception:  # any failure: the standard library decides below
        pass
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # truncated; corrupt deflate data (zlib.error)
        raise InputDataError(f"corrupt gzip data: {e}", where=path) from None


def _check_bgzf_end(raw: bytes, path: str) -> None:
    """Raise InputDataError naming ``path`` when ``raw`` is BGZF (``genotypes.compression_of``:
    a bgzipped file, e.g. one indexed with tabix) without its end-of-file block (SAM/BAM spec
    4.1.2; the VCF's rule, ``genotypes.check_vcf_files``). Why: a BGZF file is a chain of
    complete gzip members of at most 64 KiB, so a copy cut at a member's end decompresses without
    error (gzip reads the members it has) to its first rows only, the last one cut anywhere:
    ``1 8247 G A 0.7247`` read as weight 0, the rows after it lost, unseen where the file has no
    ``#variants_number`` (author files; field case round 45 truncated-bgzf-scoring-file).
    A plain-gzip file cut short fails its stream's check in ``_gunzip``."""
    if compression_of(raw[:16]) == "bgzf" and not raw.endswith(BGZF_EOF):
        raise InputDataError("truncated BGZF file (no BGZF end-of-file block: the copy was cut short); "
                             "copy it again", where=path)


def _open_text(path: str, spark: SparkSession | None = None) -> str:
    raw = _read_bytes(path, spark)
    if raw[:2] == _GZIP_MAGIC:
        _check_bgzf_end(raw, path)
        raw = _gunzip(raw, path)
    # zstd / bzip2 / xz (a recompressed Catalog file) read by their first bytes, a zip is one
    # error saying to extract it: they failed as "not UTF-8 text", which did not say why.
    return decode_text(raw, path, "scoring file")


def read_scoring_file(
    path: str,
    *,
    target_build: str = "GRCh38",
    duplicate_variants: Literal["error", "first"] = "error",
    liftover: bool = False,
    match_rsid: bool = False,
    max_abs_weight: float | None = None,
    harmonised_disagreement_warn: float | None = None,
    spark: SparkSession | None = None,
) -> ScoringFile:
    """Read a scoring file (local path or Hadoop FS URI, read through ``spark`` or the thread's
    active session; plain, or gzip / zstd / bzip2 / xz by its first bytes: ``compressed``) and
    validate it; see ``parse_scoring_file``."""
    return parse_scoring_file(
        _open_text(path, spark), source=path, target_build=target_build, duplicate_variants=duplicate_variants,
        liftover=liftover, match_rsid=match_rsid, max_abs_weight=max_abs_weight,
        harmonised_disagreement_warn=harmonised_disagreement_warn,
    )


def read_scoring_file_header(path: str) -> dict[str, tuple[str, int]]:
    """The ``#key=value`` header of a local scoring file (plain or compressed as
    ``compressed.open_text`` reads it), reading only its
    leading ``#`` lines: ``{key: (value, line_no)}`` as ``parse_scoring_file`` reads it (PGS
    Catalog format 1.0 keys under their 2.0 names), for a look at the header without parsing
    the variants (the trait-panel check). A byte-order mark is dropped and bytes that are not
    UTF-8 are replaced (``read_scoring_file`` names them). The header's errors are the full
    parse's (``_check_header``): a key given twice with two meanings (``#pgs_id=PGS1`` then
    ``#pgs_id=PGS2``: the later line was taken here while the parse refused the file) or named
    without '='. Raises InputDataError at that line or for a zip archive, OSError (unreadable;
    bzip2 / xz / zstd data that is corrupt, as gzip's BadGzipFile is one) or EOFError /
    zlib.error (truncated or corrupt gzip)."""
    lines: list[str] = []
    with open_compressed_text(path, encoding="utf-8-sig", errors="replace") as f:
        try:
            for line in f:
                if not line.startswith("#"):
                    break
                lines.append(line.rstrip("\r\n"))
        except compressed_stream_errors() as e:  # as an OSError: what preflight's caller catches
            raise OSError(f"corrupt compressed data: {e}") from None
    head_read = _parse_header([*lines, ""], path)  # "": the column line is not needed here
    _check_header(head_read, path)
    return head_read.meta


# The checksum sidecar ``pgs.download`` writes beside each scoring file ({file}.md5).
CHECKSUM_SUFFIX = ".md5"


# What a folder of scoring files (a ``pgs.scoring_files`` directory or glob) may hold besides
# them, not read: a name is a scoring file's when it ends in .txt or .tsv (gzipped or not, or
# .zst / .bz2 / .xz: read by their first bytes; the
# PGS Catalog's ``PGS000001.txt.gz``, ``PGS000001_hmPOS_GRCh38.txt.gz``, gunzipped copies, a
# lab's own .tsv) and is not a README / licence / checksum list (``sha256sums.txt``,
# ``MD5SUMS``). Anything else (README.md, the Catalog's metadata .csv/.xlsx/.json, checksum
# files) was parsed as a score and failed the run on its first line.
_SCORING_FILE_NAME = re.compile(r".+\.(txt|tsv)(\.(b?gz|zst|bz2|xz))?", re.IGNORECASE)
_NOT_SCORING_FILE_NAME = re.compile(
    r"(readme|licen[cs]e|notice|changelog)([._-].*)?|(md5|sha\d*|checksum)(sum)?s?([._-].*)?", re.IGNORECASE)


def is_scoring_file_name(name: str) -> bool:
    """True when a file ``name`` (no folder) in a folder of scoring files is read as a scoring
    file (``_SCORING_FILE_NAME``, not ``_NOT_SCORING_FILE_NAME``). A file named on its own in
    ``pgs.scoring_files`` is read whatever its name."""
    return bool(_SCORING_FILE_NAME.fullmatch(name)) and not _NOT_SCORING_FILE_NAME.fullmatch(name)


def _entry_files(pattern: str, glob_uri: Callable[[str], list[str]]) -> tuple[list[str], list[str]]:
    """(the scoring files one ``pgs.scoring_files`` entry names, the other files there that are
    not read), each sorted: a local glob's files, else a local directory's files (not below it;
    hidden and ``_``-prefixed ones left out), a URI's files through ``glob_uri``
    (``io.Fs.glob_files``). A file the entry names itself is read whatever its name; among a
    folder's or a glob's files only those ``is_scoring_file_name`` are, and checksum sidecars
    (``CHECKSUM_SUFFIX``, ``trd-spark download-scores``' own) are left out without a word."""
    if is_uri(pattern):
        hits = glob_uri(pattern)
    else:
        hits = sorted(p for p in glob.glob(pattern) if Path(p).is_file())
        if not hits and Path(pattern).is_dir():
            hits = sorted(str(p) for p in Path(pattern).iterdir() if p.is_file() and not p.name.startswith((".", "_")))
    hits = [h for h in hits if not h.endswith(CHECKSUM_SUFFIX)]
    if hits == [pattern] or hits == [pattern.rstrip("/")]:  # the entry names this one file
        return hits, []
    read = [h for h in hits if is_scoring_file_name(h.rsplit("/", 1)[-1])]
    return read, [h for h in hits if h not in read]


def _pattern_files(pattern: str, glob_uri: Callable[[str], list[str]]) -> list[str]:
    """The scoring files one ``pgs.scoring_files`` entry names (sorted; [] when none):
    ``_entry_files``' first list."""
    return _entry_files(pattern, glob_uri)[0]


def files_not_read(spark: SparkSession | None, patterns: list[str]) -> list[str]:
    """The files in the folders and globs of ``patterns`` that are not read as scoring files
    (``_entry_files``: a README, a checksum list, the Catalog's metadata), for the pgs manifest
    (``notes.scoring_files_not_read``) and the log: a score file named otherwise is not lost
    without a word. URI entries without ``spark`` are not listed."""
    def glob_uri(pattern: str) -> list[str]:
        return Fs(spark).glob_files(pattern) if spark is not None else []

    out: list[str] = []
    for pat in patterns:
        out.extend(_entry_files(pat, glob_uri)[1])
    return list(dict.fromkeys(out))


def scoring_file_paths(spark: SparkSession | None, patterns: list[str], what: str = "pgs.scoring_files") -> list[str]:
    """Expand ``patterns`` to files (sorted per pattern, deduplicated): local globs, and URIs
    (globs and directories) through Hadoop FS. A pattern matching nothing is an error.
    Checksum sidecars (``*.md5``: ``trd-spark download-scores`` writes one beside each file,
    into the first ``pgs.scoring_files`` entry by default, and the README's AoU steps copy the
    directory to the bucket) are not scoring files and are left out."""
    def glob_uri(pattern: str) -> list[str]:
        if spark is None:
            raise InputDataError("expanding a URI needs the Spark session", where=what)
        return Fs(spark).glob_files(pattern)

    out: list[str] = []
    for pat in patterns:
        hits, others = _entry_files(pat, glob_uri)
        if not hits:
            named = f" ({len(others)} file(s) there not named as scoring files: *.txt, *.tsv, plain or .gz/.zst/.bz2/.xz)" \
                if others else ""
            raise InputDataError(f"no file matches {pat}{named}", where=what)
        out.extend(hits)
    return list(dict.fromkeys(out))


def files_read(patterns: list[str], builds: Iterable[str],
               glob_uri: Callable[[str], list[str]] | None) -> list[list[str] | None]:
    """Per ``pgs.scoring_files`` entry, the files the pgs stage reads from it for datasets on
    ``builds`` (``read_scoring_files`` for each build): the entry's scoring files less those
    every build leaves out (``other_build_copies``); a README, a checksum sidecar, a hidden file,
    a sub-directory's files or a copy for a build no dataset uses are not read, so the rerun
    fingerprint (``stages.fingerprint_parts``) leaves them out and adding one reruns nothing.
    None for a URI entry when ``glob_uri`` is None (no Spark: not listed). No error for an entry
    matching nothing ([]): preflight and the stage say so."""
    per = [None if glob_uri is None and is_uri(p) else _pattern_files(p, glob_uri or (lambda _: [])) for p in patterns]
    every = list(dict.fromkeys(f for files in per for f in files or []))
    builds = list(builds)
    skipped = set(every) if builds else set()
    for build in builds:
        skipped &= set(other_build_copies(every, build))
    return [None if files is None else [f for f in files if f not in skipped] for files in per]


def stage_input_files(cfg: Config, fs: Fs | None) -> dict[str, list[str] | None]:
    """``files_read`` for the pgs stage's rerun fingerprint (``stages.StageSpec.input_files``):
    {``pgs.scoring_files.<i>``: the files read from that entry, or None (not listed)}, for the
    builds of ``cfg.datasets``; URIs globbed through ``fs`` (``io.Fs``; None: not listed)."""
    builds = dict.fromkeys(d.genotypes.reference_genome for d in cfg.datasets)
    # A file:// entry is listed with os, as the fingerprint reads it (``stages.input_fingerprint``).
    read = files_read([local_path(p) or p for p in cfg.pgs.scoring_files], builds,
                      None if fs is None else fs.glob_files)
    return {f"pgs.scoring_files.{i}": files for i, files in enumerate(read)}


def read_scoring_files(
    spark: SparkSession | None,
    pgs: PgsSettings,
    target_build: str,
    *,
    ahead: ParseAhead | None = None,
) -> list[ScoringFile]:
    """Every configured scoring file (``pgs.scoring_files``), parsed for ``target_build`` with
    the config's duplicate, liftover and rsID options, in file order.

    Files are parsed in a thread per core: the reading and the checks run mostly in Arrow's
    and numpy's C code, which release the GIL (61 files of 200k variants: issue 16). The first
    failing file in file order raises its error, as a serial loop would. When ``ahead`` (a
    ``ParseAhead`` the runner started and handed to the stage: ``StageContext.handed``) parsed the
    same files (same paths, size, mtime, ctime and inode) with the same options, its result (or
    its error) is taken instead of parsing them again."""
    paths = scoring_file_paths(spark, pgs.scoring_files)
    other = set(other_build_copies(paths, target_build))
    if other:
        log.info("%d PGS Catalog file(s) harmonised to another build than %s left out (that build's copy of "
                 "each score is listed): %s", len(other), target_build, ", ".join(sorted(other)))
        paths = [p for p in paths if p not in other]
    options = _ParseOptions.of(pgs, target_build)
    files = ahead.take(paths, options) if ahead is not None else None
    if files is None:
        files = _parse_files(paths, options, spark)
    check_one_file_per_score(files)
    return files


@dataclass(frozen=True)
class _ParseOptions:
    """What a scoring file's parse depends on besides its text (``read_scoring_file``'s options)."""
    target_build: str
    duplicate_variants: Literal["error", "first"]
    liftover: bool
    match_rsid: bool
    max_abs_weight: float | None
    harmonised_disagreement_warn: float | None = None

    @classmethod
    def of(cls, pgs: PgsSettings, target_build: str) -> _ParseOptions:
        return cls(target_build, pgs.duplicate_variants, pgs.liftover is not None, pgs.match_rsid, pgs.max_abs_weight,
                   pgs.harmonised_disagreement_warn)


class _Cancelled(Exception):
    """A ``ParseAhead`` closed before its parse ended: the files not yet started are skipped."""


def _parse_files(paths: list[str], options: _ParseOptions, spark: SparkSession | None,
                 cancel: threading.Event | None = None) -> list[ScoringFile]:
    """``paths`` parsed with ``options`` in a thread per core (``read_scoring_files``); the first
    failing file in file order raises its error. ``cancel`` set: files not yet started raise
    ``_Cancelled`` instead."""
    from concurrent.futures import ThreadPoolExecutor

    def read(path: str) -> ScoringFile:
        if cancel is not None and cancel.is_set():
            raise _Cancelled
        return read_scoring_file(path, target_build=options.target_build, duplicate_variants=options.duplicate_variants,
                                 liftover=options.liftover, match_rsid=options.match_rsid,
                                 max_abs_weight=options.max_abs_weight,
                                 harmonised_disagreement_warn=options.harmonised_disagreement_warn, spark=spark)

    # Threads: the cores this process may use (cgroup/affinity, not the host's count), at most
    # MAX_PARSE_THREADS: each thread holds one file's parse intermediates on the driver, and
    # a multi-million-variant score's are large.
    threads = min(len(paths), len(os.sched_getaffinity(0)), MAX_PARSE_THREADS)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        try:
            return list(pool.map(read, paths))
        except BaseException:
            # Every file before the failing one parsed: its error is the one raised, now, not
            # after the files queued behind it were parsed too (seconds each at 200k variants).
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _file_state(path: str) -> tuple[int, int, int, int] | None:
    """(size, mtime_ns, ctime_ns, inode) of a local file, None when it cannot be read: any write
    changes its ctime, so equal states mean the bytes a parse read are the file's now."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


@dataclass
class _Parsed:
    """One build's parse by a ``ParseAhead``: the files, their states before the parse read them,
    the parsed files or the error the parse raised, and its wall seconds."""
    paths: list[str]
    states: list[tuple[int, int, int, int] | None]
    result: list[ScoringFile] | Exception
    seconds: float


# The key of a ``ParseAhead`` in ``StageContext.handed`` (the pgs stage's run context).
SCORING_FILES_AHEAD = "scoring_files_ahead"


def _import_parse_modules() -> None:
    """Import every module the parse imports when it runs (pyarrow's CSV reader, compute
    functions and pandas bridge with its vendored version module, numpy's record arrays, zlib-ng, the file pool's
    concurrent.futures), so ``ParseAhead``'s threads import none while the caller's thread goes
    on to import Hail and start Spark. Two threads importing overlapping module graphs at once
    can hand one of them a half-initialised module: ``import hail`` during the session's start
    failed with "module aiohttp has no attribute typedefs" twice under load (a ``run --stages
    pgs phenotypes`` test, session 31). Modules are imported once per process: ~0.1 s here, the
    first time only. The list is what a parse imported that ``trd_spark.cli`` had not
    (tests/test_pgs_scoring_files.py checks that a parse ahead imports nothing)."""
    import concurrent.futures  # noqa: F401

    import numpy.rec  # noqa: F401
    import pyarrow.compute  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import pyarrow.pandas_compat  # noqa: F401
    from zlib_ng import gzip_ng  # noqa: F401

    with suppress(ImportError):  # pyarrow's private module (pandas_compat's): may move
        import pyarrow.vendored.version  # noqa: F401


class ParseAhead:
    """Local scoring files parsed in a background thread, one build after another, while the
    caller does something else: the CLI starts Spark and Hail meanwhile
    (``pipeline.scoring_files_parsed_ahead``; issue 16: the parse, 6-8 s at 61 files of 200k
    variants, ran after the JVM's start, which mostly waits) and hands it to the pgs stage in its
    run context (``StageContext.handed[SCORING_FILES_AHEAD]``; no global registry: a stage reads
    what it is given). ``read_scoring_files(..., ahead=)`` then takes a build's result (once)
    instead of parsing: only for the same paths, each file unchanged
    since the thread read it (``_file_state``), and the same options; its error, if the parse
    failed, is raised there, where the parse would have raised it. The thread logs and prints
    nothing (while the JVM starts, this process's stdout and stderr go to the run log:
    ``session.jvm_output_to_log``). ``close`` cancels what has not started and joins the thread.

    ``pgs`` (the config's, or the pgs stage's view of it) is read here, in the caller's thread;
    scoring files on a URI need the Spark session (``start`` then does nothing).

    ``when_failed``: a callback told of a parse's error as soon as it is known, in the parse's
    thread (the CLI abandons Spark's start with it: ``cli._session``), or of a score
    with two files (``check_one_file_per_score``, which the stage runs on the files it takes)."""

    def __init__(self, pgs: PgsSettings, builds: list[str]) -> None:
        self.patterns = list(pgs.scoring_files)
        self.options = [_ParseOptions.of(pgs, b) for b in dict.fromkeys(builds)]
        self._parsed: dict[_ParseOptions, _Parsed] = {}
        self._ready = {o: threading.Event() for o in self.options}
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure_lock = threading.Lock()
        self._failure: Exception | None = None
        self._on_failure: list[Callable[[Exception], None]] = []

    def when_failed(self, callback: Callable[[Exception], None]) -> None:
        """Call ``callback(error)`` with the first error a parse raised: at once when it is known
        already, else from the parse's thread when it is raised (once; never after ``close``).
        The error is still raised where the stage takes the result (``take``)."""
        with self._failure_lock:
            if self._failure is None:
                self._on_failure.append(callback)
                return
            failure = self._failure
        callback(failure)

    def _failed(self, error: Exception) -> None:
        with self._failure_lock:
            if self._failure is not None or self._cancel.is_set():
                return
            self._failure, callbacks = error, list(self._on_failure)
        for callback in callbacks:
            callback(error)

    def start(self) -> ParseAhead:
        """Start the thread (not for scoring files on a URI: ``take`` then gives nothing), after
        importing in the caller's thread what the parse imports (``_import_parse_modules``)."""
        if not any(is_uri(p) for p in self.patterns):
            _import_parse_modules()
            self._thread = threading.Thread(target=self._run, name="scoring-files-ahead", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for options in self.options:
                if self._cancel.is_set():
                    return
                try:
                    paths = scoring_file_paths(None, self.patterns)
                except Exception:  # the stage expands them again and raises this itself
                    self._ready[options].set()
                    continue
                other = set(other_build_copies(paths, options.target_build))
                paths = [p for p in paths if p not in other]
                states = [_file_state(p) for p in paths]
                t0 = time.perf_counter()
                result: list[ScoringFile] | Exception
                try:
                    result = _parse_files(paths, options, None, self._cancel)
                except _Cancelled:
                    return
                except Exception as e:  # raised where the stage takes it
                    result = e
                self._parsed[options] = _Parsed(paths, states, result, time.perf_counter() - t0)
                self._ready[options].set()
                if isinstance(result, Exception):
                    self._failed(result)
                    continue
                try:  # known now too; the stage checks it again where it takes the files (read_scoring_files)
                    check_one_file_per_score(result)
                except Exception as e:  # noqa: BLE001 - told to when_failed's callback, raised by the stage
                    self._failed(e)
        finally:
            for ready in self._ready.values():
                ready.set()

    def wait(self) -> None:
        """Until the thread has parsed every build (or stopped)."""
        if self._thread is not None:
            self._thread.join()

    def take(self, paths: list[str], options: _ParseOptions) -> list[ScoringFile] | None:
        """The files this parsed for ``options``, when they are ``paths`` as they are now (waits
        for the parse); None when it parsed other files, or any of them changed since, or it
        did not parse them. Raises the parse's error. Each build's result is taken once."""
        ready = self._ready.get(options)
        if ready is None or self._thread is None:
            return None
        ready.wait()
        parsed = self._parsed.pop(options, None)
        if parsed is None:
            return None
        if parsed.paths != paths or parsed.states != [_file_state(p) for p in paths]:
            log.info("scoring files for %s changed since they were parsed ahead: parsed again", options.target_build)
            return None
        if isinstance(parsed.result, Exception):
            raise parsed.result
        log.info("%s for %s parsed while the session started (%.1f s)", counted(len(parsed.result), "scoring file"),
                 options.target_build, parsed.seconds)
        return parsed.result

    def close(self) -> None:
        """Stop the thread (files not yet started are skipped) and drop what was not taken."""
        self._cancel.set()
        self.wait()
        self._parsed.clear()


@contextmanager
def parsed_ahead(pgs: PgsSettings, builds: list[str]) -> Iterator[ParseAhead]:
    """A started ``ParseAhead`` of ``pgs``' scoring files for ``builds`` while the block runs;
    closed on exit (also on an error: nothing is left running)."""
    ahead = ParseAhead(pgs, builds).start()
    try:
        yield ahead
    finally:
        ahead.close()


def harmonised_file_name(pgs_id: str, build: str) -> str:
    """The PGS Catalog's harmonised file name, e.g. ``PGS000001_hmPOS_GRCh38.txt.gz``: what
    ``trd-spark download-scores`` writes (``pgs.download.scoring_file_name``) and what
    ``other_build_copies`` recognises (also gunzipped, ``.txt``). The one statement of it."""
    return f"{pgs_id}_hmPOS_{build}.txt.gz"


def _harmonised_score_build(name: str) -> tuple[str, str] | None:
    """(pgs_id, build) of a file ``name`` that is ``harmonised_file_name(pgs_id, build)`` for a
    PGS Catalog accession and a build of ``LIFTOVER_BUILDS``, or that name gunzipped; else None."""
    pgs_id = name.partition("_")[0]
    if re.fullmatch(r"PGS\d{6}", pgs_id):
        for build in LIFTOVER_BUILDS:
            full = harmonised_file_name(pgs_id, build)
            if name in (full, full.removesuffix(".gz")):
                return pgs_id, build
    return None


def other_build_copies(paths: list[str], target_build: str) -> list[str]:
    """The PGS Catalog harmonised files among ``paths`` (``{pgs_id}_hmPOS_{build}.txt.gz``) that
    are another build's copy of a score whose ``target_build`` copy is among them too, in
    ``paths`` order. ``trd-spark download-scores`` writes one copy per build the datasets use
    into one directory; read for the other build, each was a second file of its score
    (``check_one_file_per_score``), or failed to parse (no positions on that build)."""
    named = {p: key for p in paths if (key := _harmonised_score_build(p.rsplit("/", 1)[-1]))}
    own = {pgs_id for pgs_id, build in named.values() if build == target_build}
    return [p for p, (pgs_id, build) in named.items() if build != target_build and pgs_id in own]


def check_one_file_per_score(files: list[ScoringFile]) -> None:
    """One scoring file per ``#pgs_id``: two files of one score (the author file beside its
    harmonised copy, both downloaded into one directory; a score split per chromosome) were
    scored as two scores of one name, their match counts merged into one summary row, and the
    score table failed its invariants only after the whole scoring pass, naming neither file.
    Raises InputDataError at the later file naming the first, before any genotype is read."""
    first: dict[str, str] = {}
    for sf in files:
        if sf.pgs_id in first:
            raise InputDataError(
                f"#pgs_id={sf.pgs_id} is also the score of {first[sf.pgs_id]}: one file per score (e.g. the "
                "author file beside its harmonised copy, or a score split per chromosome: join the parts into "
                "one file); list only one of them in pgs.scoring_files", where=sf.path)
        first[sf.pgs_id] = sf.path


def read_body_arrow(body: str, columns: list[str], start: int = 0, end: int | None = None) -> pd.DataFrame | None:
    """The variant rows ``body[start:end]`` of a well-formed scoring file read by pyarrow's CSV
    reader (in place: the caller's text is not sliced): every column as Arrow-backed text
    (``TEXT``), an empty field missing, one row per line, the same records as the line-by-line
    pandas path (tests/test_pgs_scoring_files.py compares both).

    Returns None, so that the caller falls back to that path and its line-precise errors, for
    an empty body and for any shape it reads differently or reports by line: a quote or CR
    character, a row with another number of fields (pyarrow raises ArrowInvalid). A blank line
    is a row of nulls in both. Source of the speed-up: issue 16 (parsing 8.6 s of a 68x run).
    """
    end = len(body) if end is None else end
    if (start >= end or _NOT_SPACE.search(body, start, end) is None or body.find('"', start, end) >= 0
            or body.find("\r", start, end) >= 0):
        return None
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if body.isascii():  # one byte per character: the rows' bytes are at the same offsets
        data = pa.py_buffer(body.encode("utf-8"))[start:end]
    else:
        data = pa.py_buffer(body[start:end].encode("utf-8"))
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            # One thread: read_scoring_files parses a file per core already, and Arrow's own
            # pool then only adds CPU (~1.6 ms per 200k rows idle, 2-3x that under load). One
            # block up to CSV_BLOCK_BYTES: one chunk per column (5 of 1 MB for 200k rows), so
            # the factorisations encode one dictionary per column and merge none.
            read_options=pacsv.ReadOptions(column_names=columns, use_threads=False,
                                           block_size=min(max(len(data) + 1, 1 << 20), CSV_BLOCK_BYTES)),
            # A blank line is a row of nulls, as in the line-by-line parser (skip_blank_lines=False):
            # the caller drops trailing ones and names the line of an interior one. (A search for
            # "\n\n" in the body to send such files to that parser cost ~5 ms per 200k rows.)
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, double_quote=False,
                                             escape_char=False, newlines_in_values=False,
                                             ignore_empty_lines=False),
            # large_string: what pandas' Arrow-backed text stores; read as string, each column
            # was cast to it (its offsets copied) when the frame was made (issue 16, session 22).
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(columns, pa.large_string()),
                                                 null_values=[""], strings_can_be_null=True),
        )
    except pa.ArrowInvalid:
        return None
    # Arrow-backed text: the validation's string operations then run in Arrow compute.
    return table.to_pandas(types_mapper={pa.large_string(): TEXT}.get)


def _unquoted_fields(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (text columns read without quoting, one row per line) with each field written wholly
    in double quotes (``"A"``, ``"0.5"``: R's ``write.table`` quotes text so) read as its content, a
    doubled quote inside as one (``""`` alone: empty, missing); any other quote stays as written
    (``"MHC`` in a locus_name; an allele or a number holding one is then an error at its line)."""
    for col in df.columns:
        values = df[col]
        quoted = values.str.fullmatch(r'"(?:[^"]|"")*"', na=False)
        if quoted.any():
            inner = values[quoted].str.slice(1, -1).str.replace('""', '"', regex=False)
            df[col] = values.where(~quoted, inner.where(inner != ""))
    return df


def _split_head(text: str) -> tuple[list[str], int] | None:
    """The lines up to the first that does not start with ``#`` (the column header line), and
    where the variant rows start: ``text[start:].removesuffix("\\n")`` is
    ``"\\n".join(text.splitlines()[n:])``, found without splitting the whole text into lines (a
    200k-row file's list of lines costs more than the rest of the split) and without copying
    the rows (``read_body_arrow`` reads them in place). None, and the caller splits every line,
    when the text has line breaks other than ``\\n`` (CR, and the others ``str.splitlines``
    breaks at) or no such line."""
    # ASCII text: only the ASCII breaks can occur (each test is a fast memchr-like search).
    if not text.isascii() or any(c in text for c in _OTHER_ASCII_BREAKS):
        return None
    lines, start = [], 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        lines.append(text[start:end])
        start = end + 1
        if not lines[-1].startswith("#"):
            return lines, min(start, len(text))
    return None


# PGS Catalog format 1.0 header keys (``# PGS ID = PGS000001``) -> their format 2.0 names, as the
# Catalog's own scripts remap them. Unmapped, such a file had no #pgs_id and no build. By
# lower-case name (read case-insensitively, as the format 2.0 keys below).
_LEGACY_HEADER_KEYS = {"pgs id": "pgs_id", "pgs name": "pgs_name", "reported trait": "trait_reported",
                       "original genome build": "genome_build", "number of variants": "variants_number"}
# The format 2.0 header keys this parser reads, by lower-case name. A hand-edited file's
# '#Weight_Type=OR' was not read: its odds ratios were summed as betas, silently.
_HEADER_SPELLING = {k.lower(): k for k in (
    "pgs_id", "pgs_name", "trait_reported", "genome_build", "weight_type", "variants_number", "HmPOS_build")}


def _header_key(key: str) -> str:
    """A header key as ``_HEADER_SPELLING`` looks it up: lower case, a run of spaces or hyphens
    as one '_'. Format 1.0's keys are words ('# PGS ID = ...'), so a hand edit in that style
    wrote '# Weight Type = OR' (or 'weight-type'): unread, its odds ratios were summed as betas."""
    return re.sub(r"[\s-]+", "_", key.strip().lower())


# The scoring-file columns this parser reads, as PGS Catalog format 2.0 (and 1.0's
# reference_allele) spells them, by lower-case name.
_COLUMN_SPELLING = {c.lower(): c for c in (
    "rsID", "chr_name", "chr_position", "effect_allele", "other_allele", "reference_allele", "effect_weight",
    "weight_type", "hm_chr", "hm_pos", "hm_rsID", "hm_inferOtherAllele", *_MODEL_FLAGS, *_DOSAGE_WEIGHTS)}


@dataclass(frozen=True)
class _Header:
    """A scoring file's ``#`` header as ``_parse_header`` reads it: ``meta`` ``{key: (value,
    line_no)}`` under the format 2.0 key names, the index of the column-header line, the keys
    read in another spelling (``'Weight_Type as weight_type'``) and the lines that name a key
    this parser reads but give it no ``=`` (``(key, line_no)``, e.g. ``#weight_type: OR``)."""

    meta: dict[str, tuple[str, int]]
    column_index: int
    respelled: list[str]
    without_value: list[tuple[str, int]]
    # A key read twice, in one spelling or in two, with values of different meaning:
    # (key, earlier (value, line_no), later (value, line_no)).
    conflicts: list[tuple[str, tuple[str, int], tuple[str, int]]] = field(default_factory=list)


def _header_meaning(key: str, value: str) -> str | None:
    """What a header value says, for telling two lines of one key apart: a build as
    ``normalise_build`` reads it (``hg38`` is ``GRCh38``), any other value in lower case with its
    spaces dropped (``OR`` and `` or ``); ``NR`` and empty are None (not reported)."""
    if key in ("genome_build", "HmPOS_build"):
        return normalise_build(value)
    text = "".join(value.split()).lower()
    return None if text in ("", "nr") else text


def _parse_header(lines: list[str], source: str) -> _Header:
    """The ``#key=value`` lines up to the column-header line (``_Header``). Keys are read
    case-insensitively, spaces and hyphens as '_' (``_header_key``), as the format spells them
    (``_HEADER_SPELLING``; format 1.0's under their 2.0 names), a key spelled as the format
    spells it winning over another spelling of it of the same meaning (two meanings, in any
    spellings: ``conflicts``, an error in ``parse_scoring_file``); a ``#`` line without ``=`` is
    a comment (the Catalog's ``##POLYGENIC SCORE ...`` titles), unless its first word, or its
    text before a ':', is such a key. Raises InputDataError when no line follows the header."""
    exact: dict[str, tuple[str, int]] = {}
    other: dict[str, tuple[str, int]] = {}
    spelled: dict[str, str] = {}
    without_value: list[tuple[str, int]] = []
    conflicts: list[tuple[str, tuple[str, int], tuple[str, int]]] = []

    def put(read: dict[str, tuple[str, int]], name: str, entry: tuple[str, int], *, first_wins: bool = False) -> None:
        # A key this parser reads, given twice with another meaning, in one spelling or in two
        # ('#weight_type=beta' beside '#Weight Type=OR', or a format 1.0 word beside its 2.0 key):
        # which line the file means is unknown (the later one, or the format's spelling, won:
        # the weights were summed as ln(OR) or as betas by line order or spelling, silently).
        # Same meaning twice: one value, the format's spelling winning as before.
        for earlier in (exact.get(name), other.get(name)):
            if (earlier is not None and name in _HEADER_SPELLING.values()
                    and _header_meaning(name, earlier[0]) != _header_meaning(name, entry[0])):
                conflicts.append((name, earlier, entry))
                break
        earlier = read.get(name)
        if earlier is None or not first_wins:
            read[name] = entry

    for i, line in enumerate(lines):
        if not line.startswith("#"):
            respelled = [f"{spelled[k]} as {k}" for k in other if k in spelled and k not in exact]
            return _Header({**other, **exact}, i, respelled, without_value, conflicts)
        body = line.lstrip("#").strip()
        key, eq, value = body.partition("=")
        key = key.strip()
        if not eq:
            # '#weight_type OR', '#weight_type: OR', '#Weight Type: OR'
            words = (re.split(r"[\s:]", body, maxsplit=1)[0], body.split(":", 1)[0] if ":" in body else "")
            named = next((_HEADER_SPELLING[_header_key(w)] for w in words if _header_key(w) in _HEADER_SPELLING), None)
            if named is not None:
                without_value.append((named, i + 1))
            continue
        legacy = _LEGACY_HEADER_KEYS.get(" ".join(key.lower().split()))
        canonical = _HEADER_SPELLING.get(_header_key(key))
        if legacy is not None:  # a format 2.0 key in the same file wins
            put(other, legacy, (value.strip(), i + 1), first_wins=True)
        elif canonical is not None and canonical != key:
            put(other, canonical, (value.strip(), i + 1))
            spelled[canonical] = key
        else:
            put(exact, key, (value.strip(), i + 1))
    raise InputDataError("no column header line after the # header", where=f"{source}:{len(lines)}")


def _check_header(head_read: _Header, source: str) -> None:
    """The header's own errors, one rule for the full parse (``parse_scoring_file``) and the
    header-only read (``read_scoring_file_header``): a line naming a key this parser reads with
    no '=' (unread, the file would be scored without it), then a key given twice with values of
    different meaning (``_Header.conflicts``). Raises InputDataError at the line."""
    if head_read.without_value:
        key, key_line = head_read.without_value[0]
        raise InputDataError(f"header line names {key} without '=' (write #{key}=value): unread, the file "
                             "would be scored without it", where=f"{source}:{key_line}")
    if head_read.conflicts:
        key, (first, first_line), (later, later_line) = head_read.conflicts[0]
        raise InputDataError(f"header gives {key} twice with different values (line {first_line}: {first!r}, "
                             f"line {later_line}: {later!r}): which one the file means is unknown; keep one",
                             where=f"{source}:{later_line}")


def parse_scoring_file(
    text: str,
    *,
    source: str,
    target_build: str = "GRCh38",
    duplicate_variants: Literal["error", "first"] = "error",
    liftover: bool = False,
    match_rsid: bool = False,
    max_abs_weight: float | None = None,
    harmonised_disagreement_warn: float | None = None,
) -> ScoringFile:
    """Parse and validate scoring-file text; ``source`` names the file in errors.

    ``liftover``: a file on another build keeps its author positions for lifting over
    (``positions_build``); ``match_rsid``: an rsID-only file is accepted (see module doc).
    Weights are converted per ``weight_scale(#weight_type)``; a weight beyond
    ``max_abs_weight`` (after conversion) is an error naming its line. Read by hm_chr/hm_pos,
    the rows whose author columns disagree or that the harmonisation left unplaced are counted
    (``harmonised_disagreements``; a note) and a WARNING names the file when they are more than
    the share ``harmonised_disagreement_warn`` of its rows (None: no warning)."""
    # A byte-order mark (spreadsheet exports) before #pgs_id is not part of it.
    text = text.removeprefix("\ufeff")
    if not text or text.isspace():  # (not text.strip(): a copy of the whole text)
        raise InputDataError("empty scoring file (no header, no variants)", where=f"{source}:1")
    ends_with_break = text.endswith(("\n", "\r"))
    head = _split_head(text)
    body: str | None = None
    rows_at = 0
    if head is None:
        lines = text.splitlines()
    else:
        lines, rows_at = head
    head_read = _parse_header(lines, source)
    _check_header(head_read, source)
    meta, col_idx = head_read.meta, head_read.column_index
    col_line = col_idx + 1

    def value(key: str) -> str | None:
        v = meta.get(key, (None, 0))[0]
        return None if v is None or v == "" or v.upper() == "NR" else v

    def where_key(key: str) -> str:
        return f"{source}:{meta[key][1]}" if key in meta else f"{source}:1"

    pgs_id = value("pgs_id")
    if not pgs_id:
        raise InputDataError("header has no #pgs_id", where=f"{source}:1")
    variants_number = None
    if value("variants_number") is not None:
        try:
            variants_number = int(value("variants_number"))  # type: ignore[arg-type]
        except ValueError:
            raise InputDataError(
                f"#variants_number is not an integer: {value('variants_number')!r}", where=where_key("variants_number")
            ) from None
    header = ScoreHeader(
        pgs_id=pgs_id,
        pgs_name=value("pgs_name"),
        trait_reported=value("trait_reported"),
        genome_build=normalise_build(value("genome_build")),
        weight_type=value("weight_type"),
        variants_number=variants_number,
        HmPOS_build=normalise_build(value("HmPOS_build")),
    )

    columns = [c.strip() for c in lines[col_idx].split("\t")]
    if len(set(columns)) != len(columns):
        raise InputDataError(f"duplicate column names in {columns}", where=f"{source}:{col_line}")
    # PGS Catalog format 1.0 (and author files in its shape) name the other allele
    # reference_allele; the Catalog's own curation renames it to other_allele. Left unread, every
    # row was matched on its effect allele alone: G/A scored at a G>T site, C/A not_found at a
    # multi-allelic A>C,G site.
    # Column names as the format spells them, whatever their case ('Other_Allele', 'IS_DOMINANT' in
    # a hand-edited file): unread, other_allele matched rows on the effect allele alone and a
    # non-additive flag or a weight_type column was ignored. A name already spelled right wins.
    respelled = []
    for i, c in enumerate(columns):
        canonical = _COLUMN_SPELLING.get(c.lower())
        if canonical is not None and canonical != c and canonical not in columns:
            columns[i] = canonical
            respelled.append(f"{c} as {canonical}")
    legacy_other = "other_allele" not in columns and "reference_allele" in columns
    if legacy_other:
        columns[columns.index("reference_allele")] = "other_allele"
    body_lines: list[str] | None
    # Variant rows commented out: a line starting with '#' after the column line (a variant
    # excluded by hand, '#rs150<TAB>1<TAB>150...'). pgscatalog-core's reader (pgsc_calc) skips
    # every line starting with '#'; read as a row, its rsID or chr_name took the '#' and, with the
    # positions in other columns (chr_name/chr_position after rsID, or hm_chr/hm_pos), the row was
    # placed and its weight summed, silently. Left out here as there, counted in a note naming the
    # first such line; ``line_numbers`` keeps every other row's own line in errors.
    line_numbers: np.ndarray | None = None
    n_commented = first_commented = 0
    if head is None:
        body_lines = lines[col_idx + 1 :]
    elif text.startswith("#", rows_at) or text.find("\n#", rows_at) >= 0:
        body_lines = text[rows_at:].removesuffix("\n").split("\n")
    else:
        body_lines = None
    if body_lines is not None and any(line.startswith("#") for line in body_lines):
        commented = np.array([line.startswith("#") for line in body_lines], dtype=bool)
        n_commented, first_commented = int(commented.sum()), col_line + 1 + int(np.argmax(commented))
        line_numbers = col_line + 1 + np.flatnonzero(~commented)
        body_lines = [line for line, c in zip(body_lines, commented, strict=True) if not c]
        head = None  # the rows as the kept lines, below
        # A comment last ('#end' with no line break after it): the last row ended with one.
        ends_with_break = ends_with_break or bool(commented[-1])

    def line_no(i: int) -> int:
        """The file's line of the i-th (0-based) variant row read."""
        return col_line + 1 + i if line_numbers is None else int(line_numbers[i])

    if head is None:
        assert body_lines is not None  # set above when head is None
        body = "\n".join(body_lines)
        fast = read_body_arrow(body, columns)
    else:
        body_lines = None  # split below, only if the line-by-line parser runs
        # The rows in place: text[rows_at:] without its final line break (no copy of them).
        rows_end = len(text) - 1 if rows_at < len(text) and text.endswith("\n") else len(text)
        fast = read_body_arrow(text, columns, start=rows_at, end=rows_end)
        if fast is None:
            body = text[rows_at:].removesuffix("\n")
    if fast is not None:
        df = fast
    elif body is not None and body.strip():
        if body_lines is None:
            body_lines = body.split("\n")
        # Check field counts ourselves: pandas silently turns an extra first-row field into an index.
        n_tabs = len(columns) - 1
        for i, line in enumerate(body_lines):
            if line.count("\t") != n_tabs and line.strip():
                last = not any(rest.strip() for rest in body_lines[i + 1:]) and not ends_with_break
                raise InputDataError(
                    f"expected {len(columns)} tab-separated fields, saw {line.count(chr(9)) + 1}"
                    f"{'; ' + _CUT_SHORT if last else ''}",
                    where=f"{source}:{line_no(i)}",
                )
        try:
            # One row per line, as the field counts above were checked: with pandas' default quoting a
            # field opening with '"' (a locus_name '"MHC') ran on to the next '"', lines later, and
            # the rows between were one field of it, dropped without a word (every later line named
            # wrong); plink2 reads a quote as a character. A field wholly in quotes (R's write.table)
            # is still read unquoted, as pgscatalog-core's csv reader reads it (_unquoted_fields).
            df = _unquoted_fields(pd.read_csv(
                io.StringIO(body), sep="\t", header=None, names=columns, dtype=str, quoting=csv.QUOTE_NONE,
                keep_default_na=False, na_values=[""], skip_blank_lines=False, engine="c", index_col=False,
            ))
        except pd.errors.ParserError as e:
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
            if m:
                raise InputDataError(
                    f"expected {len(columns)} tab-separated fields, saw {m.group(3)}",
                    where=f"{source}:{line_no(int(m.group(2)) - 1)}",
                ) from None
            raise InputDataError(f"cannot parse variant rows: {e}", where=source) from None
    else:
        df = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    df["line"] = np.arange(col_line + 1, col_line + 1 + len(df)) if line_numbers is None else line_numbers[:len(df)]
    # A blank line reads as an all-null row: drop trailing blanks, reject interior ones.
    # (Only a row missing its first field can be blank: one column checked when none is.)
    blank = df[columns[0]].isna()
    if blank.any():
        blank = df[columns].isna().all(axis=1)
    if blank.any():
        last_real = (~blank).to_numpy().nonzero()[0]
        cut = last_real[-1] + 1 if len(last_real) else 0
        if blank.iloc[:cut].any():
            first_blank = blank.iloc[:cut][blank.iloc[:cut]].index[0]
            raise InputDataError("blank line inside the variant rows", where=f"{source}:{int(df.loc[first_blank, 'line'])}")
        df = df.iloc[:cut]
    if df.empty:
        # A header with no variant row scores nobody: before, a WARNING (#variants_number) and,
        # after the genotype match, 'matched 0/0 variants' (MatchRateError, exit 4).
        commented_too = f"; {counted(n_commented, 'row')} commented out ('#')" if n_commented else ""
        raise InputDataError(f"empty scoring file (a column header but no variant rows{commented_too})",
                             where=f"{source}:{col_line}")
    # A plain file cut short (an interrupted 'zcat f.txt.gz > f.txt', a full disk; a gzipped one
    # fails its stream's check): its last line, cut inside its last field, gave a weight or a
    # position the file never wrote, and its lost rows were a note blaming a subset. Rows short of
    # #variants_number and no line break after the last one: cut short (the PGS Catalog's files,
    # and a subset any tool writes, end with one). A cut exactly at a row's end, or in the last
    # row of the file, leaves no such trace.
    if header.variants_number is not None and len(df) < header.variants_number and not ends_with_break:
        raise InputDataError(
            f"only {len(df):,} of the {header.variants_number:,} variant rows #variants_number says, and no line break "
            f"after the last: {_CUT_SHORT} (a subset of the rows ends with a line break; or correct #variants_number)",
            where=f"{source}:{int(df['line'].iloc[-1])}")

    def fail_at(mask: pd.Series | np.ndarray, column: str, problem: str) -> None:
        if mask.any():
            row = df[mask].iloc[0]
            shown = row[column] if column in df.columns else None
            shown = None if shown is None or shown is pd.NA or shown != shown else shown  # NaN/NA: missing
            value = "the value is empty" if shown is None else f"value {shown!r}"  # was 'value None'
            raise InputDataError(
                f"column {column}: {problem} ({value}; {counted(int(mask.sum()), 'such row')})",
                where=f"{source}:{int(row['line'])}",
            )

    # ---- required columns and positions on the target build
    for col in ("effect_allele", "effect_weight"):
        if col not in df.columns:
            raise InputDataError(f"required column {col} is missing (columns: {columns})", where=f"{source}:{col_line}")
    # Complex alleles (APOE e2/e4, HLA alleles, 'P'): no genotype file holds them. They made the
    # whole file an error, where pgsc_calc scores the other rows and counts these unmatched: left
    # out before any other check of their row (their positions, other alleles and flags follow
    # no rule of a sequence variant), counted (a note, the WARNING it becomes, the match
    # summary's not found). A file of nothing else is no score of sequence variants.
    n_rows_read = len(df)
    # The effect alleles' distinct values, factorized once for this and the allele check below.
    e_factorized = pd.factorize(df["effect_allele"].astype(TEXT))
    # A column-header line again among the rows: two scoring files joined into one ('cat a.txt
    # b.txt > both.txt', 'zcat a.gz b.gz | gzip'), or a header line pasted twice. The second
    # file's '#' lines were left out as commented rows and its column line read as a row whose
    # effect allele 'effect_allele' is a complex allele, left out with a note: the second score's
    # variants were summed into the first's, with only two WARNINGs (session 52, newuser). An
    # effect allele is never a column name; checked on the distinct alleles (a few), at no cost.
    names = {c.lower() for c in columns} | set(_COLUMN_SPELLING)
    is_name = np.append(pd.Series(e_factorized[1], dtype=object).astype(str).str.strip().str.lower()
                        .isin(names).to_numpy(bool), False)[e_factorized[0]]
    if is_name.any():
        row = df[is_name].iloc[0]
        raise InputDataError(
            f"a column-header line among the variant rows (effect_allele {str(row['effect_allele']).strip()!r}): "
            "two scoring files joined into one, or a header pasted twice; give each score its own file",
            where=f"{source}:{int(row['line'])}")
    complex_rows = complex_allele_rows(df, e_factorized)
    n_complex = int(complex_rows.sum())
    complex_shown: list[str] = []
    # Of those, rows of a DNA effect allele flagged is_haplotype / is_diplotype (a haplotype's
    # weight, ``haplotype_flagged_rows``): their own note, which names no allele.
    n_flagged_dna = 0
    if n_complex:
        dna = np.append(pd.Series(e_factorized[1], dtype=TEXT).str.strip().str.upper()
                        .str.fullmatch(_ALLELE).fillna(False).to_numpy(bool), False)[e_factorized[0]]
        n_flagged_dna = int((complex_rows & dna).sum())
        if n_complex == len(df):
            raise InputDataError(
                (f"no variant row has a DNA effect allele (all {counted(n_complex, 'row')} are complex alleles such as "
                 f"{df['effect_allele'].iloc[0]!r}: HLA/APOE alleles, haplotypes)" if not n_flagged_dna else
                 f"no variant row to score (all {counted(n_complex, 'row')} are complex alleles or rows flagged "
                 "is_haplotype/is_diplotype: a haplotype's weight, not a single variant's)") + ": nothing to score",
                where=f"{source}:{int(df['line'].iloc[0])}")
        complex_shown = list(dict.fromkeys(df.loc[complex_rows & ~dna, "effect_allele"].astype(str).str.strip()))
        df = df[~complex_rows].reset_index(drop=True)
        e_factorized = (e_factorized[0][~complex_rows], e_factorized[1])
    has_hm = {"hm_chr", "hm_pos"} <= set(df.columns)
    has_author = {"chr_name", "chr_position"} <= set(df.columns)
    rsid_col = "rsID" if "rsID" in df.columns else ("hm_rsID" if "hm_rsID" in df.columns else None)
    harmonised_fix = (f"use the PGS Catalog file harmonised to {target_build} "
                      f"(*_hmPOS_{target_build}.txt.gz, with hm_chr/hm_pos)")
    chrom_col: str | None
    pos_col: str | None
    positions_from: Literal["harmonised", "author", "rsid"]
    positions_build: str | None = target_build
    if has_hm and header.HmPOS_build == target_build:
        chrom_col, pos_col, positions_from = "hm_chr", "hm_pos", "harmonised"
    elif has_author and header.genome_build == target_build:
        chrom_col, pos_col, positions_from = "chr_name", "chr_position", "author"
    elif not has_hm and not has_author:
        if rsid_col is None:
            raise InputDataError(f"no positions and no rsID column: need chr_name/chr_position or hm_chr/hm_pos; "
                                 f"{harmonised_fix}", where=f"{source}:{col_line}")
        if not match_rsid:
            raise InputDataError(
                f"rsID-only scoring file (no chr_name/chr_position, no hm_chr/hm_pos): {harmonised_fix}, "
                "or set pgs.match_rsid: true to match on the genotypes' rsIDs",
                where=f"{source}:{col_line}",
            )
        chrom_col = pos_col = None
        positions_from, positions_build = "rsid", None
    elif liftover and has_author and header.genome_build in LIFTOVER_BUILDS:
        chrom_col, pos_col, positions_from = "chr_name", "chr_position", "author"
        positions_build = header.genome_build
    elif liftover and has_hm and header.HmPOS_build in LIFTOVER_BUILDS:
        chrom_col, pos_col, positions_from = "hm_chr", "hm_pos", "harmonised"
        positions_build = header.HmPOS_build
    else:
        on = header.genome_build or "not reported"
        fixes = harmonised_fix
        if (header.genome_build or header.HmPOS_build) in LIFTOVER_BUILDS and not liftover:
            source_build = header.genome_build or header.HmPOS_build
            fixes += f", or set pgs.liftover.chain_file to a {source_build}->{target_build} chain file"
        # The dataset's build may be the mistake (a GRCh38 callset declared GRCh37): name its key.
        on_build = header.HmPOS_build if header.HmPOS_build in LIFTOVER_BUILDS else header.genome_build
        key = (f" (datasets[].genotypes.reference_genome; if the genotypes are on {on_build}, correct that key "
               "instead)") if on_build in LIFTOVER_BUILDS else ""
        raise InputDataError(
            f"scoring file is on build {on}"
            f"{f' (harmonised to {header.HmPOS_build})' if header.HmPOS_build else ''} but the dataset "
            f"is {target_build}{key}; {fixes}",
            where=where_key("HmPOS_build" if "HmPOS_build" in meta else "genome_build"),
        )

    # ---- model flags: additive, dominant or recessive per row (plink2 --score semantics, its
    # 'dominant' / 'recessive' modifiers); other models and dosage-specific weights refused
    effect_types: np.ndarray | None = None
    for col in _MODEL_FLAGS:
        if col in df.columns:
            flag = df[col].fillna("").str.strip().str.lower()
            flagged = flag.isin(_FLAG_TRUE)
            if col in _EFFECT_TYPE_FLAGS:
                if flagged.any():
                    if effect_types is None:
                        effect_types = np.zeros(len(df), dtype=np.int8)
                    # pgscatalog-core's effect_type: a row both dominant and recessive is no model.
                    fail_at(flagged.to_numpy(bool) & (effect_types != 0), col,
                            "a row flagged both is_dominant and is_recessive has no dosage model")
                    effect_types[flagged.to_numpy(bool)] = _EFFECT_TYPE_FLAGS[col]
            else:
                fail_at(flagged, col, "non-additive variants are not supported")
            # A value read as neither (R's T, a typo) was taken as false: a haplotype or
            # interaction row summed as an additive variant, silently.
            fail_at(~flagged & ~flag.isin(_FLAG_FALSE), col, "not a boolean (TRUE/FALSE, T/F, 1/0, yes/no, or empty)")
    for col in _DOSAGE_WEIGHTS:
        if col in df.columns:
            fail_at(df[col].notna(), col, "dosage-specific weights are not supported")

    # ---- weights (PGS Catalog convention: OR/HR are summed on the log scale)
    weight = parse_numbers(df["effect_weight"])
    fail_at(~np.isfinite(weight), "effect_weight", "weight is not a finite number")
    try:
        scale = weight_scale(header.weight_type)
    except ValueError as e:
        raise InputDataError(str(e), where=where_key("weight_type")) from None
    to_log, row_types = row_weight_scales(df, header.weight_type, scale == "log", source)
    if to_log.any():
        kind = header.weight_type if row_types is None else "OR/HR (column weight_type)"
        fail_at(to_log & (weight <= 0).to_numpy(bool), "effect_weight", f"#weight_type={kind} needs a positive ratio")
        values = weight.to_numpy("float64")
        weight = pd.Series(np.where(to_log, np.log(np.where(to_log, values, 1.0)), values), index=weight.index)
    if max_abs_weight is not None:
        fail_at(weight.abs() > max_abs_weight, "effect_weight",
                f"|weight| > pgs.max_abs_weight {max_abs_weight:g}"
                f"{' after ln()' if to_log.any() else ''} (a wrong column or weight_type?)")

    # ---- alleles, rsIDs, chromosomes: normalised and checked once per DISTINCT value (a few
    # alleles and contigs per file, not 200k rows), rows kept as integer codes (``TextCodes``)
    def distinct(col: str) -> tuple[np.ndarray, pd.Series]:
        # Codes per row (-1: missing) into the column's distinct raw values (Arrow's dictionary
        # encoding).
        codes, uniques = pd.factorize(df[col].astype(TEXT))
        return codes, pd.Series(uniques, dtype=TEXT)

    def rows_where(distinct_mask: pd.Series, codes: np.ndarray) -> np.ndarray:
        """A mask over the distinct values -> the rows holding them (missing rows: False)."""
        return np.append(distinct_mask.to_numpy(bool), False)[codes]

    e_codes, e_raw = e_factorized[0], pd.Series(e_factorized[1], dtype=TEXT)
    e_norm = e_raw.str.strip().str.upper()
    fail_at(e_codes < 0, "effect_allele", "effect allele is missing")
    fail_at(rows_where(~e_norm.str.fullmatch(_ALLELE), e_codes), "effect_allele", "allele must contain only A/C/G/T")
    effect = TextCodes.of(e_codes, e_norm)
    if "other_allele" in df.columns:
        o_codes, o_raw = distinct("other_allele")
        o_norm = o_raw.str.strip().str.upper()
        # A list of alternatives ('G/T'): the format's "other allele(s)" (pgscatalog-core's model),
        # read as no other allele, as pgsc_calc reads it (pgscatalog-core's normalise,
        # assign_other_allele: set missing, a WARNING), then matched on the effect allele as any
        # row without one; a counted note. Before: an error at its line, the whole score unread.
        listed = rows_where(o_norm.str.fullmatch(_ALLELE_LIST).fillna(False), o_codes)  # (kept: no inferred fill)
        n_other_lists = int(listed.sum())
        other_lists_shown: list[str] = []
        if n_other_lists:
            other_lists_shown = list(dict.fromkeys(o_norm.to_numpy(object)[o_codes[listed]]))
            o_codes = np.where(listed, -1, o_codes)
            # Only the values a row still holds (a list's value left in would be read as an allele).
            used = np.unique(o_codes[o_codes >= 0])
            renumber = np.full(len(o_norm) + 1, -1, dtype=o_codes.dtype)
            renumber[used] = np.arange(len(used), dtype=o_codes.dtype)
            o_codes = renumber[o_codes]  # -1 -> the last entry, -1
            o_norm = o_norm.iloc[used].reset_index(drop=True)
        fail_at(rows_where(~o_norm.str.fullmatch(_ALLELE), o_codes), "other_allele",
                "allele must contain only A/C/G/T")
        other = TextCodes.of(o_codes, o_norm)
        # One allele as both (A/A): no variant. Matched, it was read as the alt of a site written
        # with a missing allele code ('A .'): a sample with two A scored 0 copies. Compared as
        # integer codes of the distinct alleles (few), not as text per row.
        joint, _ = pd.factorize(np.concatenate([effect.values, other.values]))
        same = (np.append(joint[: len(effect.values)], -1)[effect.codes]
                == np.append(joint[len(effect.values):], -2)[other.codes])
        fail_at(same, "other_allele", "the other allele is the effect allele (no variant)")
    else:
        other = TextCodes.missing(len(df))
        n_other_lists, other_lists_shown, listed = 0, [], np.zeros(len(df), dtype=bool)
    # A harmonised file's missing other allele is hm_inferOtherAllele when that names one allele
    # (pgscatalog-core's normalise, i.e. pgsc_calc: remap_harmonised, then assign_other_allele
    # leaves "G/T" alternatives missing). Matched on the effect allele alone instead, A at a
    # C>T locus was taken as T on the other strand although the Catalog inferred A/C.
    # An inferred allele that is the effect allele names no other allele (a hand-edited or
    # tool-assembled file): taken, the row was A/A, the pair round 10 refuses as other_allele,
    # matched as the alt of a monomorphic 'A .' site (every A/A carrier scored 0 copies) and
    # not_found at an A>G site, silently. Left out (counted), the row is matched on its effect
    # allele as any row without other_allele. Here we depart from pgsc_calc: pgscatalog-core's
    # remap_harmonised keeps such an inferred allele (other_allele 'A' beside effect 'A'), and
    # the A/A row then matches no variant (unmatched, counted in its match rate, not scored).
    # Ours scores what the effect allele alone identifies, as for any row without an other
    # allele, and says how many rows it did so for (a counted note): the same where the locus
    # is ambiguous, a score that keeps the row where the locus has one alt.
    # A row whose other_allele listed alternatives ('G/T', set missing above) is not filled:
    # pgsc_calc's remap_harmonised fills only an allele that is absent (the list is there then)
    # and assign_other_allele blanks the list afterwards, so it stays without one. Filled, an A
    # row with 'G/T' and an inferred C was read as A/C, beside a note saying it had none.
    n_inferred = n_inferred_effect = 0
    if positions_from == "harmonised" and "hm_inferOtherAllele" in df.columns:
        inferred = df["hm_inferOtherAllele"].astype(TEXT).str.strip().str.upper()
        usable = (other.codes < 0) & ~listed & inferred.str.fullmatch(_ALLELE).fillna(False).to_numpy(bool)
        if usable.any():
            is_effect = usable & (inferred == pd.Series(effect.decoded(), dtype=TEXT)).fillna(False).to_numpy(bool)
            n_inferred_effect = int(is_effect.sum())
            usable &= ~is_effect
        n_inferred = int(usable.sum())
        if n_inferred:
            combined = pd.Series(other.decoded(), dtype=object)
            combined[usable] = inferred[usable].to_numpy(object)
            i_codes, i_uniques = pd.factorize(combined.astype(TEXT))
            other = TextCodes.of(i_codes, pd.Series(i_uniques, dtype=TEXT))

    # ---- rsIDs (kept for rsID matching and the log)
    if rsid_col is not None:
        r_codes, r_raw = distinct(rsid_col)
        r_norm = r_raw.str.strip()
        rsid = TextCodes.of(r_codes, r_norm.where(r_norm.notna() & ~r_norm.isin(["", ".", "NR"])))
    else:
        rsid = TextCodes.missing(len(df))
    if positions_from == "rsid":
        assert rsid_col is not None  # an rsID-only file has one (checked above)
        fail_at(rsid.codes < 0, rsid_col, "rsID missing in an rsID-only scoring file")

    # ---- positions (null when the harmonisation could not place the variant)
    if chrom_col is not None:
        assert pos_col is not None  # set together with chrom_col
        c_codes, c_raw = distinct(chrom_col)
        chrom = TextCodes.of(c_codes, normalise_chrom(c_raw))
        pos_num = parse_numbers(df[pos_col])
        fail_at(df[pos_col].notna() & (pos_num.isna() | (pos_num < 1) | (pos_num % 1 != 0)), pos_col,
                "position must be a positive integer")
        # A position in exponent form (a spreadsheet's or R's 1.23457E+08) may have been rounded to
        # the digits shown: read as a number it named another base (123457000), silently matched there
        # or not found. pgscatalog-core (pgsc_calc) refuses it too (pydantic's int; it takes 100.0,
        # +100 and 0100, as this reader does).
        fail_at(_exponent_form(df[pos_col]), pos_col,
                "position written in exponent form (a spreadsheet's or R's 1.23457E+08 may be rounded to the "
                "digits shown): write positions as whole numbers, e.g. from the original file")
        fail_at(pos_num > MAX_POSITION, pos_col, f"position beyond {MAX_POSITION} (not a genome position)")
        fail_at((chrom.codes < 0) != df[pos_col].isna().to_numpy(bool), chrom_col,
                "chromosome and position must both be given or both be empty")
        if positions_from == "author":
            # A row with an rsID and no position is unplaced, counted as not found (``n_unplaced``'s
            # note), as a harmonised file's unplaced rows are: pgsc_calc reads it so
            # (pgscatalog-core's ScoreVariant.check_position takes an rsID without coordinates; it
            # matches nothing and counts in its match rate). Before, one such row made the whole
            # file an error. A row with neither is one still, as there.
            fail_at((chrom.codes < 0) & (rsid.codes < 0), chrom_col, "chromosome/position missing, and no rsID")
            # Columns with no position at all: an rsID-only file in effect, read as such (its error).
            if len(df) and (chrom.codes < 0).all():
                raise InputDataError(
                    f"no row has a chr_name/chr_position (an rsID-only scoring file): {harmonised_fix}, or drop "
                    + ("the empty columns to match on the genotypes' rsIDs (pgs.match_rsid is true)" if match_rsid
                       else "the empty columns and set pgs.match_rsid: true to match on the genotypes' rsIDs"),
                    where=f"{source}:{int(df['line'].iloc[0])}")
    else:
        chrom = TextCodes.missing(len(df))
        pos_num = pd.Series(np.nan, index=df.index)

    pos_missing = pos_num.isna().to_numpy()
    n_hm_differ = n_hm_missing = 0
    # The file's other positions, when on the other build of the pair: what the genotypes would
    # match on were they on that build (build_positions compares the two).
    other_place: tuple[TextCodes, np.ndarray] | None = None
    other_build: str | None = None
    if positions_from == "harmonised" and has_author:
        other_place = place_columns(df, "chr_name", "chr_position")
        other_build = header.genome_build
        n_hm_differ, n_hm_missing = harmonised_disagreements(
            df, chrom, pos_num, same_build=header.genome_build is not None and header.genome_build == positions_build,
            author=other_place)
    elif positions_from == "author" and has_hm:
        other_build = header.HmPOS_build
        if other_build in LIFTOVER_BUILDS and other_build != positions_build:
            other_place = place_columns(df, "hm_chr", "hm_pos")
    if other_build not in LIFTOVER_BUILDS or other_build == positions_build:
        other_place = other_build = None
    # A harmonised file's alleles are the author's, on the author's build's strand: where the two
    # builds run in opposite directions, rows whose bases' order or strand matter are left unplaced.
    n_inverted_unplaced = 0
    if positions_from == "harmonised" and other_place is not None:
        inverted = inverted_mapping_rows(chrom, pos_num.to_numpy("float64", na_value=np.nan), other_place)
        # A row the Catalog placed by liftover (hm_source 'liftover'): pgs-harmonizer's
        # liftover_tools.lift hands the 1-based chr_position to pyliftover's 0-based
        # convert_coordinate and writes its answer, exact on a plus-strand block but, where
        # pyliftover returns target_size - 1 - position (a negative-strand block), 2 bases left of
        # the variant: not placed there even as a flippable pair (session 55, from the code; rows
        # placed by rsID, 'ENSEMBL', are exact).
        lifted = (df["hm_source"].astype(TEXT).str.strip().str.lower() == "liftover").fillna(False).to_numpy(bool) \
            if "hm_source" in df.columns else np.zeros(len(df), dtype=bool)
        unplace = inverted & (~flippable_pairs(effect, other) | lifted)
        n_inverted_unplaced = int(unplace.sum())
        if n_inverted_unplaced:
            chrom = TextCodes(np.where(unplace, -1, chrom.codes).astype(np.int32), chrom.values)
            pos_num = pos_num.mask(pd.Series(unplace, index=pos_num.index))
            pos_missing = pos_num.isna().to_numpy()
    # Whole numbers <= MAX_POSITION (checked above): exact as int64.
    pos = np.nan_to_num(pos_num.to_numpy("float64")).astype(np.int64)
    # None (not NA/NaN) for missing text; one Python string per distinct value (shared by its
    # rows), so that grouping millions of rows later compares and hashes few objects. Text as
    # object Series (no scan of every string for dates) and copy=False (no consolidation of the
    # columns into 2-D blocks): together ~40% of a 200k-row file's parse (issue 16, session 15).
    # Built in VARIANT_COLUMNS' order: selecting them again copied every column (session 21).
    variants = pd.DataFrame({
        "chrom": pd.Series(chrom.decoded(), dtype=object, copy=False),
        "pos": pd.arrays.IntegerArray(pos, pos_missing),
        "effect_allele": pd.Series(effect.decoded(), dtype=object, copy=False),
        "other_allele": pd.Series(other.decoded(), dtype=object, copy=False),
        "effect_weight": weight.to_numpy("float64"),
        "line": df["line"].to_numpy("int64"),
        "rsid": pd.Series(rsid.decoded(), dtype=object, copy=False),
    }, copy=False)

    # A file split per chromosome keeps the whole score's count: a counted note, not an error.
    n_rows_differ = 0
    # #variants_number counts the complex-allele rows left out above too.
    if header.variants_number is not None and header.variants_number != n_rows_read:
        n_rows_differ = n_rows_read - header.variants_number

    # ---- duplicates: one site (position, or rsID, and its allele pair in EITHER order) listed
    # twice in one score; the policy (error, or keep the first row) applies to the site.
    codes = {"chrom": chrom, "effect_allele": effect, "other_allele": other, "rsid": rsid}
    dup = duplicate_sites(codes, np.where(pos_missing, -1, pos), by_rsid=positions_from == "rsid")
    n_dup = int(dup.sum())
    if n_dup and duplicate_variants == "error":
        row = variants[dup].iloc[0]
        at = row["rsid"] if positions_from == "rsid" else f"{row['chrom']}:{row['pos']}"
        raise InputDataError(
            f"duplicate variant {at} {row['effect_allele']}/{row['other_allele']}: the same site and allele pair "
            f"(in either order) as an earlier row ({counted(n_dup, 'duplicate row')}; set pgs.duplicate_variants: first "
            "to keep the first)",
            where=f"{source}:{int(row['line'])}",
        )
    if n_dup:
        variants = variants[~dup].reset_index(drop=True)
        codes = {name: c.take(~dup) for name, c in codes.items()}
        if effect_types is not None:
            effect_types = effect_types[~dup]
    others = None
    if other_place is not None and other_build is not None:
        others = other_positions(other_place, other_build)
        if n_dup:
            others = OtherPositions(others.build, others.chrom.take(~dup), others.pos[~dup])

    # From the codes: a null check of 200k Python objects cost more (issue 16, session 21).
    n_unplaced = 0 if positions_from == "rsid" else int((codes["chrom"].codes < 0).sum())
    notes = []
    if row_types is not None and to_log.any():
        rows_weights = counted(int(to_log.sum()), "row's", "rows'")
        notes.append(f"column weight_type: {rows_weights} weights ({', '.join(row_types)}) converted "
                     "to ln(ratio) (PGS Catalog convention)")
    elif scale == "log":
        notes.append(f"#weight_type={header.weight_type}: weights converted to ln({header.weight_type}) "
                     "(PGS Catalog convention)")
    if n_rows_differ:
        notes.append(f"#variants_number says {header.variants_number} but the file has "
                     f"{counted(n_rows_read, 'variant row')} (a subset such as one chromosome?); "
                     "all rows are used")
    if n_commented:
        notes.append(f"{counted(n_commented, 'variant row')} commented out ('#' first, line {first_commented}"
                     f"{' onwards' if n_commented > 1 else ''}) left out, as pgsc_calc's reader skips them")
    if head_read.respelled:
        notes.append(f"header keys read case-insensitively: {', '.join(head_read.respelled)}")
    if respelled:
        notes.append(f"column names read case-insensitively: {', '.join(respelled)}")
    if legacy_other:
        notes.append("column reference_allele read as other_allele (PGS Catalog format 1.0)")
    if n_complex - n_flagged_dna:
        shown = ", ".join(repr(a) for a in complex_shown[:5]) + (", ..." if len(complex_shown) > 5 else "")
        notes.append(f"{counted(n_complex - n_flagged_dna, 'variant row')} with a complex effect allele ({shown}: "
                     "HLA/APOE alleles or haplotypes, in no genotype file) left out: counted as not found in the match "
                     "summary, as pgsc_calc leaves them unmatched")
    if n_flagged_dna:
        notes.append(f"{counted(n_flagged_dna, 'variant row')} of a DNA effect allele flagged is_haplotype/is_diplotype "
                     "(a haplotype's weight, not its one SNP's) left out: counted as not found in the match summary "
                     "(pgsc_calc sums such a row as its SNP, with a 'complex scoring file' warning)")
    if n_dup:
        notes.append(f"{counted(n_dup, 'duplicate variant row')} dropped (kept the first)")
    if effect_types is not None and (effect_types != 0).any():
        per_type = ", ".join(f"{int((effect_types == code).sum())} {name}" for code, name in enumerate(EFFECT_TYPES))
        notes.append(f"variant rows by effect type: {per_type}; dominant rows scored as plink2 --score dominant "
                     "(min(dosage, 1)), recessive ones as recessive (max(dosage - 1, 0)), as pgsc_calc scores them")
    else:
        effect_types = None
    if n_other_lists:
        shown = ", ".join(repr(a) for a in other_lists_shown[:5]) + (", ..." if len(other_lists_shown) > 5 else "")
        notes.append(f"{counted(n_other_lists, 'variant row')} whose other_allele lists alternatives ({shown}) read "
                     "without other_allele (matched on the effect allele), as pgsc_calc reads them")
    if n_inferred:
        notes.append(f"{counted(n_inferred, 'variant')} without other_allele take{'s' if n_inferred == 1 else ''} "
                     "hm_inferOtherAllele (one allele; "
                     "'/'-separated alternatives are left out, as pgsc_calc does)")
    if n_inferred_effect:
        their = "its" if n_inferred_effect == 1 else "their"
        notes.append(f"{counted(n_inferred_effect, 'variant')} whose hm_inferOtherAllele is {their} effect allele (no "
                     "other allele) left without other_allele (matched on the effect allele)")
    if n_unplaced:
        notes.append(f"{counted(n_unplaced, 'variant')} {'has' if n_unplaced == 1 else 'have'} no position on "
                     f"{positions_build} (counted as not found)")
    if n_inverted_unplaced:
        notes.append(f"{counted(n_inverted_unplaced, 'variant row')} where {other_build} and {positions_build} run in "
                     f"opposite directions (hm_pos falls as chr_position rises, over two rows or more) left unplaced "
                     f"(counted as not found): their alleles are on {other_build}'s strand, and an allele of several "
                     "bases, a row without other allele or an A/T or C/G pair cannot be placed or oriented there "
                     "from the file, nor a row placed by liftover (hm_source: its hm_pos is 2 bases off there); "
                     "its other single-base pairs match by strand flip")
    if n_hm_differ:
        differ_rows = counted(n_hm_differ, "variant row's", "variant rows'")
        notes.append(f"{differ_rows} hm_chr/hm_pos differ from their chr_name/chr_position "
                     f"({'chromosome or position, one build' if header.genome_build == positions_build else 'chromosome'}"
                     "); the harmonised ones are used, as pgsc_calc does")
    if n_hm_missing:
        notes.append(f"{counted(n_hm_missing, 'variant row')} {'has' if n_hm_missing == 1 else 'have'} "
                     "chr_name/chr_position but no hm_chr/hm_pos (the "
                     "harmonisation could not place them: counted as not found)")
    if (harmonised_disagreement_warn is not None and len(df)
            and (n_hm_differ + n_hm_missing) > harmonised_disagreement_warn * len(df)):
        log.warning("%s: %d of %d variant rows' harmonised positions differ from the author's or are missing "
                    "(more than pgs.harmonised_disagreement_warn %g): a scoring file harmonised to the wrong "
                    "build, or edited by hand?", source, n_hm_differ + n_hm_missing, len(df),
                    harmonised_disagreement_warn)
    if positions_from == "rsid":
        notes.append(f"rsID-only file: {counted(len(variants), 'variant')} placed by the genotypes' rsIDs")
    elif positions_build != target_build:
        notes.append(f"positions on {positions_build} ({positions_from}), lifted over to {target_build}")
    return ScoringFile(
        path=source, header=header, variants=variants, positions_from=positions_from,
        positions_build=positions_build, n_duplicates_dropped=n_dup, n_unplaced=n_unplaced,
        n_complex_skipped=n_complex, notes=notes,
        n_harmonised_differ=n_hm_differ, n_harmonised_missing=n_hm_missing,
        text_codes=codes, other_positions=others, effect_types=effect_types,
    )

