"""The PGS stage: for each dataset, read genotypes, match every score, score in one pass.

Writes through ``ctx.publish()`` (``layout.publish_stage``):
  scores           PGS_SCORES           one row per dataset x person x score
  match_summary    PGS_MATCH_SUMMARY    one row per dataset x score (+ match_summary.tsv)
  variant_matches  PGS_VARIANT_MATCHES  one row per dataset x score variant

If any score matches fewer than ``pgs.min_overlap`` of its variants in any dataset, nothing is
published: the match logs go to ``{release_dir}/pgs_failed_match/`` and MatchRateError is
raised naming every failing score and dataset.
"""

from __future__ import annotations

import builtins
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from trd_spark.compressed import decode_text
from trd_spark.config import PACKAGE_DIR, Config, GenotypeSource, is_uri, local_path
from trd_spark.errors import ConfigError, EnvironmentFault, InputDataError, MatchRateError, TrdSparkError
from trd_spark.gates import label_reach, share_range
from trd_spark.io import Fs, write_pandas, write_table
from trd_spark.logs import counted, is_small_count, person_count_text, suppressed_label
from trd_spark.pgs import engine, pgen_engine
from trd_spark.pgs.bgen_reader import BgenFiles, check_first_variant
from trd_spark.pgs.bgen_reader import sample_ids as bgen_sample_ids
from trd_spark.pgs.bgen_reader import variant_index as bgen_variant_index
from trd_spark.pgs.build_positions import build_evidence, check_build_evidence, check_places
from trd_spark.pgs.contig_lengths import check_declared_build, hail_text, primary_lengths
from trd_spark.pgs.genotypes import (
    FT_FAILED,
    SITE_POSITION,
    UNREADABLE_LOCI,
    biallelic_dosages,
    file_rows,
    haploid_contigs,
    line_at_offset,
    local_temp_file,
    plink_contig_recoding,
    plink_unplaced_variants,
    read_calls,
    read_sample_map,
    sample_persons,
    samples_to_persons,
    scratch_file,
    vcf_half_call_rows,
    vcf_sample_ids,
    vds_variant_rows,
    x_haploid_rows,
)
from trd_spark.pgs.matching import (
    AT_SCORE_LOCI,
    SHIFT_ONLY,
    UNASSIGNED_DOMAIN,
    FrameMatches,
    ScoreLabel,
    ScoreLoci,
    ShiftWindows,
    check_duplicate_rows_frame,
    count_complex_skipped,
    file_rows_at,
    frame_matches,
    genotype_rows_at,
    left_aligned_counts,
    left_aligned_rows,
    left_aligned_sites,
    loci_table,
    match_rate_failures,
    match_sites_frame,
    member_effect_types,
    pandas_to_spark,
    ref_matches_off_score_loci,
    score_sites,
    shifted_rows_near,
    summarise_frame_matches,
    unnormalised_examples,
    variant_matches_pandas,
    weight_matrices,
    written_alleles,
)
from trd_spark.pgs.native_task import PASS_FILES_GONE
from trd_spark.pgs.reference_fasta import ReferenceFasta
from trd_spark.pgs.sample_sex import SexOnX, dataset_sex
from trd_spark.pgs.scoring import (
    FtFailedCalls,
    UncalledVariants,
    check_score_arrow,
    check_score_table,
    score_rows_arrow,
    scores_frame,
)
from trd_spark.pgs.scoring_files import (
    EFFECT_TYPES,
    LIFTOVER_BUILDS,
    SCORING_FILES_AHEAD,
    ParseAhead,
    ScoringFile,
    files_not_read,
    read_scoring_files,
)
from trd_spark.pgs.scratch import claim, process_alive, release, remove_abandoned
from trd_spark.pgs.variant_list import VariantIndex
from trd_spark.releases import LOCK_REFRESH_SECONDS, lock_refresh_seconds
from trd_spark.schemas import PGS_MATCH_SUMMARY, PGS_SCORES, PGS_VARIANT_MATCHES
from trd_spark.stages import file_sha256

if TYPE_CHECKING:
    import hail as hl_types
    from pyspark.sql import DataFrame, SparkSession

    from trd_spark.layout import StageWriter
    from trd_spark.stages import StageContext

log = logging.getLogger(__name__)

FAILED_MATCH_DIR = "pgs_failed_match"


@dataclass
class DatasetMatches:
    """One dataset's matching result, kept until scoring: the frames of the one matcher
    (``frame``: ``matching.FrameMatches`` on the dataset's genotype rows) and either the
    genotypes Hail reads (``mt``, as matched, and ``calls``, the same as the file has them:
    ``genotypes.read_calls``) or, for the native engine (bed/pgen), the person IDs in file
    order (``samples``), with no Hail table at all. A local MatrixTable has both: ``samples``
    (its column order) for a .fam written without Hail (``scoring.export_hard_calls``)."""

    dataset: str
    summary: pd.DataFrame
    scoring_files: list[ScoringFile]
    frame: FrameMatches
    mt: hl_types.MatrixTable | None = None
    samples: list[str] | None = None
    calls: hl_types.MatrixTable | None = None
    # Genotype rows on chromosome 0 (PLINK's unplaced code) in a .bim/.pvar/BGEN: read, never matched.
    unplaced_variants: int = 0
    # A natively matched dataset's variant list (``frame.rows`` is its frame), which the native pass reads.
    variants: VariantIndex | None = None
    # VCF records among the matched rows with a GT half-call (genotypes.vcf_half_call_rows); None: not counted.
    half_call_rows: int | None = None
    # The share of the scored calls that were missing (scoring.missing_call_share), set by scores_of_dataset.
    missing_call_share: float | None = None
    # The calls the genotype filter FT made missing, counted by the scoring pass (scoring.FtFailedCalls);
    # None when not counted (no FT applied: a native format, pgs.apply_genotype_filter false, no FT field).
    ft_failed: FtFailedCalls | None = None
    # The sex on X the dataset is scored with (sample_sex.dataset_sex; its counts set by scoring).
    sex: SexOnX | None = None
    # The scored rows no sample has a call on, counted by the scoring pass (scoring.UncalledVariants).
    uncalled: UncalledVariants | None = None
    # With pgs.reference_fasta: the genotype records and score indels it left-aligned (``left_aligned_note``).
    left_aligned: dict[str, Any] | None = None


def uncalled_variant_counts(results: list[DatasetMatches]) -> dict[str, dict[str, Any]]:
    """dataset -> ``{"rows": <its scored genotype rows no sample has a call on>, "by_score":
    {pgs_id: <the score's matched variants on them>}, "no_male_chry_rows": <those of the rows on
    chrY with no sample known to be male, named by the no-male WARNING, not by the stage's>}``
    (``scoring.UncalledVariants``; scores without such a variant left out), for the pgs manifest's
    notes (``uncalled_variants``); every scored dataset is listed, 0 included. Variants, not persons."""
    return {r.dataset: {"rows": r.uncalled.rows,
                        "by_score": {p: int(n) for p, n in zip(r.uncalled.pgs_ids, r.uncalled.variants) if n},
                        "no_male_chry_rows": r.uncalled.no_male_rows}
            for r in results if r.uncalled is not None}


def check_uncalled(r: DatasetMatches) -> None:
    """One WARNING when some scored row of ``r`` has no called sample (on chrY no called male):
    every person gets the frequency 0.5 of no observation there (alt dosage 1; 0 with
    ``pgs.missing_genotypes: zero``), as plink2 --score gives it without a word; the usual causes
    are a dosage field the records do not carry (``dosage_field: DS`` on GP-only records), a
    record whose calls are all missing, or a sample-less chrY. Names the dataset, the count and
    the first rows' IDs (``scoring.UNCALLED_SHOWN``; variants, no sample ID). The chrY rows of a
    dataset with no sample known to be male (``UncalledVariants.no_male_rows``) are left out:
    ``pgen_engine.warn_no_male_on_y`` already named them (one cause, one WARNING); the line says
    how many were left out, and none is warned when they are all."""
    u = r.uncalled
    if u is None or u.rows == u.no_male_rows:
        return
    besides = "" if not u.no_male_rows else \
        f" (besides the {u.no_male_rows} chrY row(s) of the no-male WARNING above)"
    log.warning("pgs: dataset %s: %d scored genotype row(s)%s have no called sample (on chrY no called male), "
                "e.g. %s: every person's call there is missing and scored as plink2 scores it, under mean_impute "
                "frequency 1/k of no observation for each of a site's k alleles (0.5 when biallelic), 0 under "
                "zero; check the dataset's dosage_field and those records "
                "(notes.uncalled_variants: %d score variant(s) over all scores)", r.dataset, u.rows - u.no_male_rows,
                besides, ", ".join(u.first), u.n_variants)


def missing_call_shares(results: list[DatasetMatches]) -> dict[str, float]:
    """dataset -> the share of its scored calls (person x matched variant) that were missing
    (``scores_of_dataset``), rounded to 4 digits, for the pgs manifest's notes
    (``missing_call_share``); datasets with nothing matched are left out. A share of calls, not
    a count of persons."""
    return {r.dataset: round(r.missing_call_share, 4) for r in results if r.missing_call_share is not None}


def check_missing_calls(cfg: Config, r: DatasetMatches) -> None:
    """Log the share of ``r``'s scored calls that were missing, a WARNING above
    ``pgs.missing_call_warn``: with most calls missing every person scores near the mean and
    nothing fails. The WARNING names the genotype filter when it made calls missing (a VCF,
    MatrixTable or VDS with ``pgs.apply_genotype_filter``: an FT that is not meaningful, e.g.
    False on most calls, reads as most calls failed)."""
    share = r.missing_call_share
    if share is None:
        return
    if share <= cfg.pgs.missing_call_warn:
        log.info("pgs: dataset %s: %.2f%% of the scored calls missing (%s)", r.dataset, 100 * share,
                 cfg.pgs.missing_genotypes)
        return
    source = cfg.dataset(r.dataset).genotypes
    ft = (" Calls whose genotype filter FT failed are missing (pgs.apply_genotype_filter: true; their share "
          "apart: the FT line of this dataset, notes.ft_failed_call_share): if this dataset's FT is not "
          "meaningful, set it false." if cfg.pgs.apply_genotype_filter
          and source.format in ("vcf", "mt", "vds") else "")
    log.warning("pgs: dataset %s: %.1f%% of the scored calls are missing (above pgs.missing_call_warn %.2f), "
                "%s: its scores are mostly the imputed frequencies, not the persons' genotypes.%s", r.dataset,
                100 * share, cfg.pgs.missing_call_warn, cfg.pgs.missing_genotypes, ft)


def ft_failed_calls_applied(cfg: Config, r: DatasetMatches) -> str | None:
    """Why ``r``'s calls have no count of FT-failed calls, as the manifest says it: ``not
    applicable`` (bed/pgen/BGEN: no genotype filter FT in the format), ``not applied``
    (``pgs.apply_genotype_filter`` false), ``no FT field`` (a VCF/MatrixTable/VDS without one);
    None when they have one (``r.ft_failed``). Raises TrdSparkError when the calls went through
    the filter (``genotypes.FT_FAILED``) and the scoring route left them uncounted: the note
    would say "no FT field" of a dataset whose FT removed calls."""
    if cfg.dataset(r.dataset).genotypes.format not in ("vcf", "mt", "vds"):
        return "not applicable: bed, pgen and BGEN carry no genotype filter FT"
    if not cfg.pgs.apply_genotype_filter:
        return "not applied (pgs.apply_genotype_filter: false)"
    if r.ft_failed is not None:
        return None
    if r.calls is not None and FT_FAILED in r.calls.entry:
        raise TrdSparkError(f"pgs: dataset {r.dataset}: the calls its genotype filter FT made missing were not "
                            "counted by the scoring route (a bug: every route counts them)")
    return "no FT field"


def ft_failed_share_text(n: int, total: int, persons_below: int) -> float | str | None:
    """The share ``n / total`` of scored calls (rounded to 4 digits) as the manifest gives it;
    a count ``n`` of 1 to ``persons_below`` - 1 as its label (``<20 calls``, ``logs.suppressed_label``),
    since the share times the scored calls (samples x matched variants) gives it back, and at
    one or a few variants such calls are nearly persons (as gates.py's labels: no count 1..T-1
    by arithmetic). None when nothing was scored."""
    if total <= 0:
        return None
    if is_small_count(n, persons_below):
        return f"{suppressed_label(persons_below)} calls"
    return round(n / total, 4)


def ft_failed_call_shares(cfg: Config, results: list[DatasetMatches]) -> dict[str, Any]:
    """dataset -> the calls its genotype filter FT made missing, for the pgs manifest's notes
    (``ft_failed_call_share``): ``{"share": <share of the dataset's scored calls>}``
    (``ft_failed_share_text``: a small count as its label), as its log line gives it, or why
    there is no such count (``ft_failed_calls_applied``: not applicable, not applied, no FT
    field). The FT share is part of ``missing_call_share`` (an FT-failed call is a missing call):
    the rest is missing in the data itself. The dataset's total only, never a share per score:
    two scores that share variants give, as their counts' difference, the calls at the variants
    one score alone has, and at one such variant that is the persons whose call there failed FT
    (1,234 - 1,227 = 7: docs/privacy.md). The exact counts per score are in the stage's internal
    record (``ft_failed_calls_by_score``). Shares of calls, not counts of persons."""
    t = cfg.report.small_count_threshold
    out: dict[str, Any] = {}
    for r in results:
        why = ft_failed_calls_applied(cfg, r)
        if why is not None or r.ft_failed is None:
            out[r.dataset] = why
            continue
        out[r.dataset] = {"share": ft_failed_share_text(r.ft_failed.n_failed, r.ft_failed.n_scored, t)}
    return out


def ft_failed_calls_by_score(results: list[DatasetMatches]) -> dict[str, dict[str, dict[str, int]]]:
    """dataset -> pgs_id -> ``{"failed": <calls FT made missing>, "scored": <scored calls>}``,
    exact (``scoring.FtFailedCalls``), for the pgs manifest's ``notes.ft_failed_calls_by_score``:
    QC detail for the workbench (which score's sites FT hit), internal like ``notes.gates``'
    exact counts and never logged or exported. Datasets without a count and scores that scored
    no call are left out."""
    return {r.dataset: {p: {"failed": int(n), "scored": int(total)}
                        for p, n, total in zip(r.ft_failed.pgs_ids, r.ft_failed.failed, r.ft_failed.scored)
                        if total > 0}
            for r in results if r.ft_failed is not None}


def check_ft_failed(cfg: Config, r: DatasetMatches) -> None:
    """Log the share of ``r``'s scored calls the genotype filter FT made missing (INFO), a
    WARNING when it reaches ``pgs.ft_failed_warn``: those calls are imputed like missing ones,
    a QC decision that moves the scores (GVS's FT, VETS, fails a few % of calls; a
    share far above that is an FT that means something else). A count of 1 to
    ``report.small_count_threshold`` - 1 is shown as its label and decides as gates.py's person
    gates do (``gates.share_range``: it warns when some count of its label could reach the
    level)."""
    ft = r.ft_failed
    if ft is None or ft.n_scored == 0:
        return
    t = cfg.report.small_count_threshold
    least, largest = share_range(ft.n_failed, ft.n_scored, t)
    if least == largest:
        shown = f"{100 * ft.n_failed / ft.n_scored:.1f}% of the scored calls"
    else:
        shown = f"{person_count_text(ft.n_failed, t)} of the scored calls"
    if ft.n_failed and largest >= cfg.pgs.ft_failed_warn:
        log.warning("pgs: dataset %s: the genotype filter FT failed %s (at or above pgs.ft_failed_warn %.2f%s): "
                    "those calls are missing and %s, which moves the scores; if this dataset's FT is not "
                    "meaningful, set pgs.apply_genotype_filter false (notes.ft_failed_call_share)", r.dataset, shown,
                    cfg.pgs.ft_failed_warn, label_reach((least, largest), labels=1),
                    cfg.pgs.missing_genotypes)
    else:
        log.info("pgs: dataset %s: the genotype filter FT failed %s (missing, %s)", r.dataset, shown,
                 cfg.pgs.missing_genotypes)


def half_call_row_counts(results: list[DatasetMatches]) -> dict[str, int]:
    """dataset -> its matched VCF records holding a GT half-call (read per ``pgs.vcf_half_call``), for
    the pgs manifest's notes (``vcf_half_call_rows``); datasets not counted or without any are
    left out. Variants, not persons."""
    return {r.dataset: r.half_call_rows for r in results if r.half_call_rows}


def left_aligned_note(records: int, score_indels: int, frame: FrameMatches) -> dict[str, Any]:
    """One dataset's entry of the pgs manifest's ``notes.reference_fasta_left_aligned``: the
    genotype records near the score's indels ``pgs.reference_fasta`` left-aligned before the match
    (``genotype_records``), the score sites written not left-aligned it moved (``score_indels``,
    shifted right or anchored on their right; pgsc_calc's match report counts each such case too)
    and per score the variants matched only thanks to it (``matched_by_score``, pgs_id -> count;
    ``matching.left_aligned_counts``). Variants and records, not persons."""
    return {"genotype_records": int(records), "score_indels": int(score_indels),
            "matched_by_score": left_aligned_counts(frame)}


def left_aligned_notes(results: list[DatasetMatches]) -> dict[str, dict[str, Any]]:
    """dataset -> ``left_aligned_note`` for each dataset matched with ``pgs.reference_fasta`` (0s
    included: the FASTA was read and moved nothing); {} without it."""
    return {r.dataset: r.left_aligned for r in results if r.left_aligned is not None}


def unplaced_variant_counts(results: list[DatasetMatches]) -> dict[str, int]:
    """dataset -> its genotype rows on chromosome 0 (``pgen_engine.check_variant_loci``: read,
    left unmatched, as plink2 reads them), for the pgs manifest's notes (``unplaced_variants``);
    datasets without such rows are left out. Variants, not persons."""
    return {r.dataset: r.unplaced_variants for r in results if r.unplaced_variants}


def duplicate_rows_dropped(results: list[DatasetMatches]) -> dict[str, dict[str, int]]:
    """dataset -> pgs_id -> score rows ``pgs.duplicate_variants: first`` dropped while matching
    that dataset (``matching.FrameMatches.duplicates_dropped``: one variant in two forms only the
    genotypes show, two rsIDs placed on one variant), for the pgs manifest's notes, beside the
    scoring files' own dropped duplicates (``scoring_file_notes``); datasets without drops are
    left out. The match summary's n_variants does not count these rows."""
    return {r.dataset: dict(r.frame.duplicates_dropped) for r in results if r.frame.duplicates_dropped}


def dosage_model_rows_unmatched(results: list[DatasetMatches]) -> dict[str, dict[str, dict[str, int]]]:
    """dataset -> pgs_id -> effect type ('dominant' / 'recessive', ``scoring_files.EFFECT_TYPES``)
    -> the score file's rows of that type, for each score whose dominant and recessive rows
    all went unmatched on that dataset, for the pgs manifest's notes
    (``dosage_model_rows_unmatched``; datasets and scores without such a loss left out), each
    with a WARNING. Such a score is summed as an additive-only score, and the match summary's
    n_matched / match_rate do not tell which rows were lost (helper pgs28's gap, session 36).
    Variant rows, not persons."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for r in results:
        types = member_effect_types(r.frame, r.scoring_files)
        if types is None:
            continue
        mem = r.frame.members
        score_index = mem["score_index"].to_numpy()
        # Members are every score row placed on a site, matched or not (matched_row -1).
        used = r.frame.sites["matched_row"].to_numpy("int64")[mem["site"].to_numpy()] >= 0
        for i, sf in enumerate(r.scoring_files):
            if sf.effect_types is None or (types.members[(score_index == i) & used] != 0).any():
                continue
            in_file = {name: int((sf.effect_types == code).sum()) for code, name in enumerate(EFFECT_TYPES) if code}
            in_file = {name: n for name, n in in_file.items() if n}
            if not in_file:
                continue
            log.warning("pgs: dataset %s, score %s: none of its %s rows matched; scored as its additive "
                        "rows only", r.dataset, sf.pgs_id, " / ".join(f"{n:,} {name}" for name, n in in_file.items()))
            out.setdefault(r.dataset, {})[sf.pgs_id] = in_file
    return out


def score_labels(cfg: Config, scoring_files: list[ScoringFile]) -> dict[str, ScoreLabel]:
    """Trait and domain per pgs_id from the trait panel; scores not in it get the header's
    trait and domain ``unassigned`` (with a warning)."""
    panel = {e.pgs_id: e for e in (cfg.trait_panel.scores if cfg.trait_panel else [])}
    labels = {}
    for sf in scoring_files:
        entry = panel.get(sf.pgs_id)
        if entry is None:
            log.warning("score %s is not in the trait panel: trait from its header, domain %r",
                        sf.pgs_id, UNASSIGNED_DOMAIN)
            labels[sf.pgs_id] = ScoreLabel(sf.header.trait_reported or sf.pgs_id, UNASSIGNED_DOMAIN)
        else:
            labels[sf.pgs_id] = ScoreLabel(entry.trait, entry.domain)
    return labels


def scoring_file_provenance(spark: SparkSession, files_by_build: dict[str, list[ScoringFile]]) -> dict[str, dict[str, Any]]:
    """Which file made each score on each dataset build, for the stage manifest
    (``notes.scoring_files``: ``{pgs_id: {build: entry}}``): the entry gives the file's path,
    size and SHA-256 (``sha256sum`` of the file as stored, gzipped or not; a ``gs://``/``hdfs://``
    file by size and modification time, as its rerun fingerprint, rather than read a second
    time), the header's ``#genome_build``, ``#HmPOS_build`` and ``#weight_type``, its variant
    rows, and which positions were used (``positions.from``: ``harmonised`` hm_chr/hm_pos,
    ``author`` chr_name/chr_position, or ``rsid``: placed by the genotypes' rsIDs) on which build
    (``positions.build``: the build lifted from, when not the dataset's). Per build, since
    datasets on two builds read each build's own Catalog copy of a score
    (``scoring_files.other_build_copies``). The rerun fingerprint takes a glob or directory of
    ``pgs.scoring_files`` as one input (one digest over its files, no names): this says which
    files made the scores."""
    out: dict[str, dict[str, Any]] = {}
    stored_of: dict[str, dict[str, Any]] = {}
    for build, files in files_by_build.items():
        for sf in files:
            stored = stored_of.get(sf.path)
            if stored is None:
                local = local_path(sf.path)
                if local is None:  # gs:// / hdfs://: by size and mtime, as its rerun fingerprint
                    fp = Fs(spark).fingerprint(sf.path)
                    stored = {"bytes": fp.get("bytes"), "mtime_ms": fp.get("mtime_ms")}
                else:
                    stored = {"bytes": os.path.getsize(local), "sha256": file_sha256(local)}
                stored_of[sf.path] = stored
            h = sf.header
            out.setdefault(sf.pgs_id, {})[build] = {
                "path": sf.path, **stored, "genome_build": h.genome_build, "HmPOS_build": h.HmPOS_build,
                "weight_type": h.weight_type, "variants": len(sf.variants),
                "positions": {"from": sf.positions_from, "build": sf.positions_build},
            }
    return out


def scoring_file_notes(files_by_build: dict[str, list[ScoringFile]]) -> dict[str, dict[str, list[str]]]:
    """The parse notes of each score's file on each dataset build (``notes.scoring_file_notes``:
    ``{pgs_id: {build: notes}}``, scores and builds without notes left out): the counts they give
    (variants without a position on that build, duplicate rows dropped, other alleles inferred,
    a liftover) depend on the positions used, and datasets on two builds may read two files of
    one score. Keyed by pgs_id alone, the last build's notes replaced the first's."""
    out: dict[str, dict[str, list[str]]] = {}
    for build, files in files_by_build.items():
        for sf in files:
            if sf.notes:
                out.setdefault(sf.pgs_id, {})[build] = sf.notes
    return out


def load_scoring_files(spark: SparkSession, cfg: Config, reference_genome: str, *,
                       ahead: ParseAhead | None = None) -> list[ScoringFile]:
    """Parse and validate every configured scoring file for one build (local paths, globs,
    directories or Hadoop FS URIs; duplicate, liftover and rsID options from ``cfg.pgs``);
    ``ahead``'s parse of them taken instead when it fits (``read_scoring_files``)."""
    files = read_scoring_files(spark, cfg.pgs, reference_genome, ahead=ahead)
    for sf in files:
        for note in sf.notes:
            log.warning("%s: %s", sf.pgs_id, note)
    return files


def match_dataset(hl: hl_types, spark: SparkSession, cfg: Config, dataset_name: str,
                  scoring_files: list[ScoringFile], sites: pd.DataFrame | None = None,
                  scratch: str | None = None) -> DatasetMatches:
    """Read one dataset's variant list and samples and match every score with the frame
    matcher (``matching.match_sites_frame``): bed/pgen/BGEN scored by the native engine from the
    .bim/.pvar/BGEN index and .fam/.psam/BGEN sample IDs (``match_plink``, no Hail job beyond a
    liftover), other formats
    from the genotype rows Hail collects at the score loci (``match_hail``). ``sites``: the
    scoring files' ``matching.score_sites`` on the dataset's build (computed when None; the
    stage computes them once per build and shares them between datasets). ``scratch``: where
    Hail's reader puts a copy or index it needs (``genotypes.scratch_file``)."""
    ds = cfg.dataset(dataset_name)
    # A VCF's or .pvar's ##contig lengths may say another build than the declared one: refused
    # here, before its positions are matched on the wrong build (contig_lengths).
    check_declared_build(ds.genotypes, lambda build: hl.get_reference(build).lengths, open_uri=hail_text(hl),
                         glob_uri=Fs(spark).glob_files)
    if sites is None:
        sites = score_sites(hl, spark, scoring_files, ds.genotypes.reference_genome, liftover=cfg.pgs.liftover)
    sample_map = None
    if ds.genotypes.sample_map:
        # Read by its first bytes (gzip / zstd / bzip2 / xz; a zip is one error): a compressed
        # sample map or sex file failed on its first byte not being UTF-8, without the cause.
        text = decode_text(Fs(spark).read_bytes(ds.genotypes.sample_map), ds.genotypes.sample_map, "sample map")
        sample_map = read_sample_map(text, ds.genotypes.sample_map)
    sex = dataset_sex(ds.genotypes, sample_map, lambda path: decode_text(Fs(spark).read_bytes(path), path, "sex file"))
    if engine.engine_for(ds.genotypes, cfg.pgs.native) == "native":
        r = match_plink(hl, cfg, dataset_name, scoring_files, sites, sample_map)
    else:
        r = match_hail(hl, spark, cfg, dataset_name, scoring_files, sites, sample_map, scratch)
    r.sex = sex
    r.summary = count_complex_skipped(r.summary, scoring_files)
    row: Any  # a row of summary (pandas-stubs type itertuples' fields as any scalar)
    for row in r.summary.itertuples(index=False):
        log.info("  %s %s: %d/%d variants matched (%.1f%%; flipped %d, ambiguous dropped %d, not found %d)",
                 dataset_name, row.pgs_id, row.n_matched, row.n_variants, 100 * row.matched_fraction,
                 row.n_matched_flipped, row.n_ambiguous_dropped, row.n_not_found)
        if row.n_unreadable:
            log.warning("  %s %s: %s not scored: their locus has a multi-allelic genotype row the "
                        "reader skips (n_unreadable; see the genotype WARNING)", dataset_name, row.pgs_id,
                        counted(row.n_unreadable, "variant"))
    # With the FASTA only what it could not move is left: a genotype record another alt of which kept it
    # in place (bcftools norm -f leaves it too), or a score pair that is not the FASTA's bases.
    fix = ("split the genotypes' multi-allelic records before left-aligning them (bcftools norm -m- -f "
           "<reference FASTA>: pgs.reference_fasta moves a record whole, and another alt kept these in place) "
           "or check the scoring file's build") if cfg.pgs.reference_fasta else \
        "left-align the file's indels (e.g. bcftools norm -f <reference FASTA>; the scoring file as a VCF)"
    for pgs_id, (n, first) in unnormalised_examples(r.frame).items():
        log.warning("  %s %s: %s not found and written not left-aligned in the scoring file or in the genotypes "
                    "(an indel shifted right in a repeat or anchored on its right; first at %s): the other file "
                    "writes such a variant elsewhere, told apart only with the reference sequence; %s to score "
                    "them (variant_matches: not_found_unnormalised)",
                    dataset_name, pgs_id, counted(n, "indel"), first, fix)
    return r


def match_plink(hl: hl_types, cfg: Config, dataset_name: str, scoring_files: list[ScoringFile],
                sites: pd.DataFrame, sample_map: dict[str, int] | None) -> DatasetMatches:
    """Match a bed/pgen/BGEN dataset on frames: the variant list (``pgen_engine.variant_index``,
    ``bgen_reader.variant_index``; its loci checked against the reference), the samples
    (.fam/.psam IIDs, BGEN sample IDs, through ``genotypes.sample_persons``: the same
    person-ID rules and errors as Hail's path) and ``matching.match_sites_frame`` (a BGEN's
    multi-allelic variants, left out of its index, counted ``multiallelic_unreadable``).
    Raises InputDataError naming the file for a missing or unreadable file, a locus off the
    reference, a .bed of the wrong size, and as ``sample_persons`` /
    ``matching.check_duplicate_rows_frame``."""
    source = cfg.dataset(dataset_name).genotypes
    where = genotypes_where(cfg, dataset_name)
    rg = source.reference_genome
    if source.format == "bgen":
        bgen = BgenFiles.open(source.path)
        recode = plink_contig_recoding(rg)
        index = bgen_variant_index(bgen, lambda c: recode.get(c, c))
        unplaced = pgen_engine.check_variant_loci(index, hl.get_reference(rg).lengths, rg, bgen.variants,
                                                   other_builds=_other_builds(hl, rg))
        check_first_variant(bgen, index.frame)
        samples = sample_persons(bgen_sample_ids(bgen), where=where, sample_map=sample_map)
        sites, seen, aligned = _native_left_aligned(hl, cfg, dataset_name, where, sites, index.frame, rg)
        sites = written_alleles(match_sites_frame(sites, seen, keep_ambiguous=cfg.pgs.keep_ambiguous,
                                                  unreadable=index.multiallelic_loci,
                                                  duplicate_variants=cfg.pgs.duplicate_variants,
                                                  left_aligned=aligned is not None))
        _check_build(cfg, sites, index, scoring_files, rg, bgen.variants)
        return _frame_dataset(cfg, dataset_name, scoring_files, sites, index, samples, unplaced, aligned)
    files = pgen_engine.PlinkFiles.of(source)
    for path in (files.matrix, files.variants, files.samples):
        if not os.path.isfile(path):
            kind = "PLINK 1 fileset is .bed + .bim + .fam" if files.format == "plink" else \
                "pgen fileset is .pgen + .pvar (or .pvar.zst) + .psam"
            raise InputDataError(f"file not found (a {kind})", where=path)
    index = pgen_engine.variant_index(files, rg)
    unplaced = pgen_engine.check_variant_loci(index, hl.get_reference(rg).lengths, rg, files.variants,
                                                   other_builds=_other_builds(hl, rg))
    samples = sample_persons(pgen_engine.psam_samples(files), where=where, sample_map=sample_map)
    if files.format == "plink":
        pgen_engine.check_bed_size(files, int(index.frame["variant_idx"].max()) + 1 if len(index.frame) else 0,
                                   len(samples))
    else:  # a .pgen whose header disagrees with its .pvar's rows or .psam's samples
        pgen_engine.check_pgen_counts(files, int(index.frame["variant_idx"].max()) + 1 if len(index.frame) else 0,
                                      len(samples), index.allele_idx_offsets)
    sites, seen, aligned = _native_left_aligned(hl, cfg, dataset_name, where, sites, index.frame, rg)
    sites = written_alleles(match_sites_frame(sites, seen, keep_ambiguous=cfg.pgs.keep_ambiguous,
                                              duplicate_variants=cfg.pgs.duplicate_variants,
                                              left_aligned=aligned is not None))
    _check_build(cfg, sites, index, scoring_files, rg, files.variants)
    return _frame_dataset(cfg, dataset_name, scoring_files, sites, index, samples, unplaced, aligned)


def _reference_fasta(cfg: Config, where: str) -> ReferenceFasta | None:
    """``pgs.reference_fasta`` opened (``where``: the genotypes, named in its errors), or None."""
    path = cfg.pgs.reference_fasta
    return None if path is None else ReferenceFasta.open(path, where)


def _log_left_aligned(dataset_name: str, moved: int, path: str, score_indels: int = 0) -> None:
    if moved or score_indels:
        log.info("  %s: %d genotype record(s) near the score's indels and %d score indel(s) written not "
                 "left-aligned (shifted right or anchored on the right), left-aligned against pgs.reference_fasta %s "
                 "before the match (as bcftools norm -f; notes.reference_fasta_left_aligned)", dataset_name, moved,
                 score_indels, path)


def _native_left_aligned(hl: hl_types, cfg: Config, dataset_name: str, where: str, sites: pd.DataFrame,
                         rows: pd.DataFrame, reference_genome: str
                         ) -> tuple[pd.DataFrame, pd.DataFrame, tuple[int, int] | None]:
    """A native route's score sites and variant list as the match sees them: with
    ``pgs.reference_fasta``, the score's indels written not left-aligned moved
    (``left_aligned_sites``) and the records near the score's left-aligned indels left-aligned
    (``left_aligned_rows``: the same rows in the same order; the caller scores its own); the
    numbers of records and score sites moved (None: no FASTA)."""
    reference = _reference_fasta(cfg, where)
    if reference is None:
        return sites, rows, None
    sites, n_sites = left_aligned_sites(sites, reference)
    near = ShiftWindows.of(hl, sites, reference_genome, reference)
    seen, moved = left_aligned_rows(rows, reference, near,
                                    hl.get_reference(reference_genome).global_positions_dict)
    _log_left_aligned(dataset_name, moved, reference.path, n_sites)
    return sites, seen, (moved, n_sites)


# Hail's route formats whose build the score sites are asked (``build_positions``): a MatrixTable
# and a VDS carry theirs in their locus type (``genotypes``' check where they are read).
_BUILD_CHECKED_ON_HAIL = frozenset({"vcf", "plink", "bgen"})


def _variant_file(source: GenotypeSource) -> str:
    """The file a build check's error names on Hail's route: the .bim of a PLINK fileset, else
    the genotypes' path (a VCF or its glob, a BGEN)."""
    return pgen_engine.PlinkFiles.of(source).variants if source.format == "plink" else source.path


def _other_builds(hl: hl_types, reference_genome: str) -> dict[str, dict[str, int]]:
    """The primary contigs' lengths of the builds other than ``reference_genome`` Hail places loci
    on (``contig_lengths.primary_lengths``), for ``pgen_engine.check_variant_loci``'s error."""
    builds = tuple(b for b in LIFTOVER_BUILDS if b != reference_genome)
    return primary_lengths(lambda build: hl.get_reference(build).lengths, builds)


def _check_build(cfg: Config, sites: pd.DataFrame, index: VariantIndex, scoring_files: list[ScoringFile],
                 reference_genome: str, path: str) -> None:
    """A variant list without a header (.bim, BGEN; a .pvar's ##contig lengths are read before,
    ``contig_lengths``) on another build than declared: the score sites placed on two builds
    matched at their other place too (``build_positions``), on the index already read; raises
    InputDataError naming ``path``."""
    evidence = build_evidence(sites, index.frame, scoring_files, reference_genome,
                              keep_ambiguous=cfg.pgs.keep_ambiguous)
    check_build_evidence(evidence, path, reference_genome, cfg.pgs.build_check_margin)


def _frame_dataset(cfg: Config, dataset_name: str, scoring_files: list[ScoringFile], sites: pd.DataFrame,
                   index: VariantIndex, samples: list[str], unplaced: int,
                   aligned: tuple[int, int] | None = None) -> DatasetMatches:
    """A natively scored dataset's matches from its matched sites and variant index (``unplaced``:
    its rows on chromosome 0, ``pgen_engine.check_variant_loci``'s count; ``aligned``: the
    records and score sites ``pgs.reference_fasta`` moved, ``_native_left_aligned``)."""
    check_duplicate_rows_frame(sites, genotypes_where(cfg, dataset_name), cfg.dataset(dataset_name).genotypes)
    frame = frame_matches(sites, index.frame)
    summary = summarise_frame_matches(frame, dataset_name, score_labels(cfg, scoring_files))
    return DatasetMatches(dataset_name, summary, scoring_files, frame, samples=samples,
                          unplaced_variants=unplaced, variants=index,
                          left_aligned=None if aligned is None else left_aligned_note(*aligned, frame))


def match_hail(hl: hl_types, spark: SparkSession, cfg: Config, dataset_name: str,
               scoring_files: list[ScoringFile], sites: pd.DataFrame,
               sample_map: dict[str, int] | None, scratch: str | None = None) -> DatasetMatches:
    """Match a dataset Hail reads (VCF, MatrixTable, VDS, BGEN, a bed on a URI) with the same
    frame matcher as bed/pgen: the genotype rows at the score loci (and at the wanted rsIDs)
    are collected once (``matching.genotype_rows_at`` on ``genotypes.file_rows``: the file's
    rows without their entries, picked by ``matching.ScoreLoci`` and split on the driver), the
    MatrixTable is kept for the scoring route. A VDS is densified at the loci of
    ``matching.loci_table`` (built for it alone: a Spark-to-Hail conversion); with
    ``pgs.reference_fasta`` also at the written loci of its variant data's records near the score's
    indels (``shifted_rows_near``, read first), which are then left-aligned and matched as on
    the other routes. ``scratch``: as ``genotypes.read_calls``'.
    Errors as ``read_calls`` / ``samples_to_persons`` (one line through ``hail_errors``) and
    ``matching.check_duplicate_rows_frame``."""
    source = cfg.dataset(dataset_name).genotypes
    where = genotypes_where(cfg, dataset_name)
    rg = source.reference_genome
    reference = _reference_fasta(cfg, where)
    # With the FASTA the score's own indels written not left-aligned are moved first, so their rows
    # are collected (and a VDS densified) at their left-aligned loci and in their repeats.
    sites, n_sites = left_aligned_sites(sites, reference) if reference is not None else (sites, 0)
    near = ShiftWindows.of(hl, sites, rg, reference)
    near_vds: pd.DataFrame | None = None
    if source.format == "vds" and reference is not None and near is not None:
        # A VDS is densified at the loci asked for alone: with the FASTA its variant data's records
        # near the score's indels (only the partitions there) are densified at their written loci
        # too, so that they are collected, left-aligned and matched as on the other routes.
        with hail_errors(where):
            near_vds = shifted_rows_near(hl, vds_variant_rows(hl, source), near)
        near_vds = pd.DataFrame({"contig": near_vds["contig"], "position": near_vds[SITE_POSITION]})
    loci = loci_table(hl, spark, sites, rg, also=near_vds) if source.format == "vds" else None
    unplaced = plink_unplaced_variants(hl, source)  # a local .bed's chromosome-0 rows, as match_plink counts them
    calls = read_calls(hl, source, loci=loci, keep_rsid=cfg.pgs.match_rsid, unplaced=unplaced,
                       vcf_half_call=cfg.pgs.vcf_half_call, scratch=scratch,
                       apply_genotype_filter=cfg.pgs.apply_genotype_filter)
    wanted_rsids = sites.loc[sites["by_rsid"] & sites["rsid"].notna(), "rsid"].unique().tolist()
    # A local MatrixTable's calls may be read from its own files at scoring (scoring.export_hard_calls,
    # mt_entries): that needs each row's number in the file and the person IDs in column order.
    direct = entry_files_scored(cfg, source)
    persons = None
    with hail_errors(where):
        ids = vcf_sample_ids(source) if source.format == "vcf" else None
        if direct:  # the IDs samples_to_persons would collect, kept for the .fam
            ids = _mt_sample_ids(source.path, calls)
            persons = sample_persons(ids, where=where, sample_map=sample_map)
        calls = samples_to_persons(hl, calls, where=where, sample_map=sample_map, ids=ids)
        rows_table, split = file_rows(hl, source, calls, keep_rsid=cfg.pgs.match_rsid)

        neighbours: pd.DataFrame | None = None
        if source.format == "vds" and near is not None and reference is None:
            # Densified at the score loci alone: its variant data's rows near the score's indels
            # are read apart (only the partitions there), never densified nor matched.
            neighbours = shifted_rows_near(hl, vds_variant_rows(hl, source), near)
            near = None
        # With the FASTA the rows near the score's indels are matched (left-aligned first).
        aligned = reference is not None and near is not None

        def rows_at(loci: ScoreLoci, also: ScoreLoci | None = None) -> pd.DataFrame:
            """The genotype rows at ``loci`` (and the wanted rsIDs), split on the driver (and at
            ``also``, flagged: ``genotype_rows_at``); the rows holding an indel written not
            left-aligned near the score's indels go to ``neighbours`` (``ShiftWindows``)."""
            nonlocal neighbours
            rows = _mt_rows_at(hl, source.path, rows_table, loci, rg, near) if direct else None
            if rows is None:
                rows = genotype_rows_at(hl, rows_table, loci, wanted_rsids, split=split, row_numbers=direct,
                                        also=also, near=near)
            if SHIFT_ONLY in rows and aligned:
                if AT_SCORE_LOCI in rows:
                    rows[AT_SCORE_LOCI] = rows[AT_SCORE_LOCI].to_numpy(bool) | rows[SHIFT_ONLY].to_numpy(bool)
                rows = rows.drop(columns=SHIFT_ONLY)
            elif SHIFT_ONLY in rows:
                only = rows[SHIFT_ONLY].to_numpy(bool)
                neighbours = rows[only].reset_index(drop=True)
                rows = rows[~only].drop(columns=SHIFT_ONLY).reset_index(drop=True)
            return rows

        loci = ScoreLoci.of(hl, sites, rg)
        # The build check's places on the other build, collected in the same job (a VCF, .bed or
        # BGEN tells no build of its own beyond a VCF's ##contig lengths: build_positions).
        places = check_places(sites, scoring_files, rg) if source.format in _BUILD_CHECKED_ON_HAIL else None
        rows = rows_at(loci, None if places is None else ScoreLoci.at(hl, places.contig, places.position, rg))
        check_rows = rows
        if places is not None:
            rows = rows[rows[AT_SCORE_LOCI].to_numpy(bool)].drop(columns=AT_SCORE_LOCI).reset_index(drop=True)
        # Only these rows are ever scored: a dosage_field's ploidy pass reads their sex contigs alone.
        mt = biallelic_dosages(hl, source, calls, keep_rsid=cfg.pgs.match_rsid, scored_contigs=set(rows["contig"]))
    unreadable = hl.eval(mt.index_globals()[UNREADABLE_LOCI]) if UNREADABLE_LOCI in mt.globals else []

    offsets = hl.get_reference(rg).global_positions_dict
    moved = 0

    def match(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The matched sites and the rows as matched (left-aligned near the score's indels with
        the FASTA: ``left_aligned_rows``; ``rows`` itself without)."""
        nonlocal moved
        seen = rows
        if aligned:
            assert reference is not None
            seen, moved = left_aligned_rows(rows, reference, near, offsets)
        return match_sites_frame(sites, seen, keep_ambiguous=cfg.pgs.keep_ambiguous, unreadable=unreadable,
                                 duplicate_variants=cfg.pgs.duplicate_variants, neighbours=neighbours,
                                 left_aligned=aligned), seen

    matched, seen = match(rows)
    # A REF effect allele matched on a row that moved onto its locus: its site's other alts given
    # split are at the row's written locus, not collected above (rare: collected now, matched again).
    off_loci = ref_matches_off_score_loci(matched, seen, loci, offsets)
    if len(off_loci):
        loci = loci.with_global_positions(off_loci)
        with hail_errors(where):
            rows = rows_at(loci)
        matched, seen = match(rows)
    sites = written_alleles(matched)
    if reference is not None:
        _log_left_aligned(dataset_name, moved, reference.path, n_sites)
    if places is not None:
        check_build_evidence(build_evidence(sites, check_rows, scoring_files, rg, keep_ambiguous=cfg.pgs.keep_ambiguous,
                                            places=places), _variant_file(source), rg, cfg.pgs.build_check_margin)
    check_duplicate_rows_frame(sites, where, source)
    frame = frame_matches(sites, rows)
    summary = summarise_frame_matches(frame, dataset_name, score_labels(cfg, scoring_files))
    half = None
    if source.format == "vcf":
        used = frame.sites["matched_row"]
        matched = rows.iloc[sorted(set(used[used >= 0].tolist()))]
        written = matched[SITE_POSITION].fillna(matched["position"]) if SITE_POSITION in matched else matched["position"]
        half = vcf_half_call_rows(source, list(zip(matched["contig"], written.astype(int))))
        check_half_calls(half, cfg.pgs.vcf_half_call, dataset_name, where, uri=is_uri(source.path))
    return DatasetMatches(dataset_name, summary, scoring_files, frame, mt=mt, calls=calls, samples=persons,
                          unplaced_variants=unplaced or 0, half_call_rows=half,
                          left_aligned=None if reference is None else left_aligned_note(moved, n_sites, frame))


# How each ``pgs.vcf_half_call`` mode reads a half-call, for the WARNING (plink2's mode of the same name).
_HALF_CALL_READ = {"missing": "read as missing calls and imputed",
                   "haploid": "read as homozygous for the called allele (0/. as 0/0, ./1 as 1/1)",
                   "reference": "read with REF for the missing allele (./1 as 0/1)"}


def check_half_calls(half: int | None, mode: str, dataset_name: str, where: str, *, uri: bool = False) -> None:
    """Log or refuse the matched VCF records holding a GT half-call (``half``:
    ``vcf_half_call_rows``' count; None: not counted, the VCF has no tabix/CSI index or is read
    from a URI, ``uri``) under ``pgs.vcf_half_call`` ``mode``: "error" raises InputDataError
    naming the dataset's files (``where``) when any is found, and when the files cannot be
    looked at (a run that cannot check must not pass as checked; the message says why: an index
    to make, or a gs:// / hdfs:// VCF, which only a local copy lets us look at); another mode
    logs a WARNING with the count and how the half-calls were read (plink2 ``--vcf-half-call
    <mode>``). A count of records, not persons."""
    if mode == "error":
        if half is None and uri:
            raise InputDataError("pgs.vcf_half_call: error cannot look for GT half-calls in a VCF read from a URI "
                                 "(gs://, hdfs://: only a local VCF is looked at, through its tabix/CSI index): "
                                 "copy it and its index to local disk, or choose missing, haploid or reference",
                                 where=where)
        if half is None:
            raise InputDataError("pgs.vcf_half_call: error needs the VCF's tabix/CSI index to look for GT half-calls "
                                 "(index it: tabix -p vcf FILE, or bcftools index), or choose missing, haploid or "
                                 "reference", where=where)
        if half:
            raise InputDataError(f"{half} matched VCF record(s) hold GT half-calls (0/., ./1) and pgs.vcf_half_call "
                                 "is error (plink2's default): choose missing, haploid or reference (plink2 "
                                 "--vcf-half-call) or fix the calls", where=where)
        return
    if half is None:
        log.info("  %s: GT half-calls not counted (%s); any are %s (pgs.vcf_half_call: %s)", dataset_name,
                 "a VCF read from a URI" if uri else "the VCF has no tabix/CSI index", _HALF_CALL_READ[mode], mode)
    elif half:
        log.warning("  %s: %d matched VCF records hold GT half-calls (0/., ./1): %s, as plink2 --vcf-half-call %s "
                    "(pgs.vcf_half_call; plink2's default refuses the file)", dataset_name, half,
                    _HALF_CALL_READ[mode], mode)


def _mt_sample_ids(path: str, calls: hl_types.MatrixTable) -> list[str]:
    """The column keys of the local MatrixTable ``path`` (``calls``, as read) in column order,
    read from its own cols files (``mt_entries.file_cols``), or by Hail's collect when they are
    in another layout (a column field besides ``s``) or do not parse (logged)."""
    from trd_spark.pgs import mt_entries

    try:
        return mt_entries.file_cols(path)
    except (mt_entries.UnknownLayout, mt_entries.NotDecodable) as e:
        log.info("pgs: %s; Hail's job reads the sample IDs", e)
        return calls.key_cols_by().cols().s.collect()


def _mt_rows_at(hl: hl_types, path: str, rows_table: hl_types.Table, loci: ScoreLoci,
                reference_genome: str, near: ShiftWindows | None = None) -> pd.DataFrame | None:
    """``genotype_rows_at(split=True, row_numbers=True)``'s frame for the local MatrixTable
    ``path`` read from its own rows files, without Hail's rows job (``mt_entries.file_rows``,
    ``matching.file_rows_at``); None (the caller runs the job) when the rows hold more than the
    key (an rsID the match reads, other fields), are more than ``mt_entries.DIRECT_ROWS_MAX``, are
    in another layout or hold what Hail's job reports (a missing key, an alt equal to a long REF)."""
    from trd_spark.pgs import mt_entries

    if "rsid" in rows_table.row:
        return None
    try:
        frame = mt_entries.file_rows(path)
    except (mt_entries.UnknownLayout, mt_entries.NotDecodable) as e:
        log.info("pgs: %s; Hail's job reads the rows", e)
        return None
    if frame is None:
        return None
    rg = hl.get_reference(reference_genome)
    return file_rows_at(frame, loci, rg.global_positions_dict, rg.contigs, near)


def score_dataset(hl: hl_types, cfg: Config, r: DatasetMatches, scratch: str | None = None,
                  ) -> hl_types.Table | pgen_engine.SummedScores | pgen_engine.SummedInSpark:
    """Every score of one matched dataset by the route ``engine.score`` picks
    (``engine.route_for``: the native engine for bed/pgen; hard calls Hail reads exported to
    ``scratch``, a ``scoring_scratch`` directory, and scored natively; Hail's pass otherwise),
    with the weights handed over as matrices (``matching.weight_matrices``): a native pass summed
    on the driver as ``pgen_engine.SummedScores``, summed in Spark as ``pgen_engine.SummedInSpark``
    (its Table), else ``scoring.compute_scores``' long Hail Table; a Table is lazy: the caller
    writes it, inside ``hail_errors``, before ``scratch`` is removed (``scores_of_dataset``
    publishes any). The samples' sex on X (``r.sex``) is counted
    by the scoring and checked (``sample_sex.SexCounts.check``: INFO, a WARNING when
    implausible). A native route's weights are built in its pass's directory
    (``native_weights_directory``); for bed/pgen/BGEN (route ``native``) and a local MatrixTable
    whose entry files the pass may read (``entry_files_scored``) once the pass's tasks have started
    (``matching.DeferredWeights``, ``pgen_engine.score``; where the MatrixTable's calls are exported
    instead, at their first use). Errors of the export as ``hail_errors``."""
    source = cfg.dataset(r.dataset).genotypes
    with hail_errors(genotypes_where(cfg, r.dataset)), \
            native_weights_directory(cfg, source, scratch, len(r.frame.rows), len(r.scoring_files)) as directory:
        rg = hl.get_reference(source.reference_genome)
        haploid = haploid_contigs(rg)
        rows = r.frame.rows
        # X outside its PARs, for dominant / recessive rows only (plink2 refuses the models there).
        on_x = x_haploid_rows(rg, rows["contig"].to_numpy(object), rows["position"].to_numpy("int64")) \
            if any(sf.effect_types is not None for sf in r.scoring_files) else None
        # A bed/pgen/BGEN pass builds the matrices once its tasks have started (``pgen_engine.score``),
        # and so does a MatrixTable's pass over its own entry files (``engine._score_entries``).
        route = engine.route_for(source, cfg.pgs.native, scratch, len(r.frame.rows))
        defer = directory is not None and (route == "native" or route == "export" and entry_files_scored(cfg, source))
        weights = weight_matrices(r.frame, haploid, directory, member_effect_types(r.frame, r.scoring_files, on_x),
                                  defer=defer)
        scored = engine.score(hl, source, weights,
                              [sf.pgs_id for sf in r.scoring_files],
                              r.summary["n_matched"].tolist(), missing_genotypes=cfg.pgs.missing_genotypes,
                              settings=cfg.pgs.native, scratch=scratch, mt=r.mt, calls=r.calls, samples=r.samples,
                              index=r.variants if r.mt is None else None,
                              persons_below=cfg.report.small_count_threshold, sex=r.sex)
    if r.sex is not None and r.sex.counts is not None:
        r.sex.counts.check(r.dataset, cfg.pgs.sex_warn_share, cfg.report.small_count_threshold)
    return scored


@contextmanager
def native_weights_directory(cfg: Config, source: GenotypeSource, scratch: str | None,
                             n_rows: int, n_scores: int) -> Iterator[str | None]:
    """The directory a native pass of ``source`` (``engine.route_for``: not Hail's route) maps its
    weights from, under a local master (``pgen_engine.pass_directory``: removed on exit, an error
    included), for ``weight_matrices`` to build the slope and n_vars matrices in and
    ``pgen_engine.score`` to use as its pass's directory: the matrices are not built in memory and
    then written there (benchmarks/RESULTS.md, session 33 flatbed). None for Hail's route (its
    weights go into a Hail Table) and on a cluster, whose executors cannot read the driver's disk.
    ``n_rows``: the matched genotype rows, ``n_scores`` the scores: with ``pgs.native.driver_sum_mb``
    of partial sums, the most the pass's files take (``pgen_engine.pass_files_bytes``: whether
    ``pgs.native.memory_dir`` has room for them). Errors as ``engine.route_for``."""
    if engine.route_for(source, cfg.pgs.native, scratch, n_rows) == "hail":
        yield None
        return
    from pyspark.sql import SparkSession

    # The session Hail runs on (one per process): getOrCreate returns it, never a new one.
    native = cfg.pgs.native
    need = pgen_engine.pass_files_bytes(n_rows, n_scores, int(native.driver_sum_mb * 2**20))
    with pgen_engine.pass_directory(SparkSession.builder.getOrCreate(), native.memory_dir, need,
                                      native.memory_dir_share) as directory:
        yield directory


def scores_of_dataset(hl: hl_types, spark: SparkSession, cfg: Config, r: DatasetMatches,
                      scratch: str | None = None) -> Any:
    """One dataset's rows of the published ``scores`` table (PGS_SCORES), scored
    (``score_dataset``) and checked (``scoring.check_score_arrow``: one key per person x score,
    counts in range, finite sums; InputDataError naming the dataset otherwise). A native pass
    summed on the driver (bed/pgen/BGEN, and hard calls exported for it) gives its rows as a
    pyarrow Table (``scoring.score_rows_arrow``), checked in numpy: no Hail or Spark job
    (``write_scores`` writes it). Any other route gives a Spark DataFrame: its Hail Table is
    written once (so the check and the Parquet write do not run the pass twice) to ``scratch``
    (``genotypes.scratch_file``: the stage's scratch directory, which outlives the lazy frame
    until the scores are written and is removed when the stage ends, published or failed),
    checked there (``scoring.check_score_table``) and read into Spark (``scoring.scores_frame``).
    Nothing is lazy on the export's scratch directory afterwards.
    Errors of reading the genotypes as ``hail_errors``."""
    where = f"pgs scores of dataset {r.dataset}"
    with scoring_scratch(hl, spark, cfg, scratch) as export_dir, hail_errors(genotypes_where(cfg, r.dataset)):
        scored = score_dataset(hl, cfg, r, export_dir)
        if isinstance(scored, pgen_engine.SummedScores):
            rows = score_rows_arrow(scored, r.dataset)
            r.missing_call_share = check_score_arrow(rows, where)
            r.ft_failed = scored.ft_failed_calls
            r.uncalled = scored.uncalled
            check_missing_calls(cfg, r)
            check_ft_failed(cfg, r)
            check_uncalled(r)
            return rows
        path = scratch_file(hl, scratch, f"pgs_scores_{r.dataset}", "ht")
        table = scored.table if isinstance(scored, pgen_engine.SummedInSpark) else scored
        table.key_by("s", "pgs_id").write(path)
    written = hl.read_table(path)
    r.missing_call_share = check_score_table(hl, written, where)
    r.ft_failed = FtFailedCalls.of_table(hl, written, [sf.pgs_id for sf in r.scoring_files],
                                         r.summary["n_matched"].tolist())
    # Hail's pass counts them in its table; a native pass summed in Spark in its accumulator,
    # filled by the write above.
    r.uncalled = scored.uncalled if isinstance(scored, pgen_engine.SummedInSpark) else \
        UncalledVariants.of_table(hl, written, [sf.pgs_id for sf in r.scoring_files])
    check_missing_calls(cfg, r)
    check_ft_failed(cfg, r)
    check_uncalled(r)
    return scores_frame(hl, written, r.dataset)


def write_scores(writer: StageWriter, parts: list[Any]) -> int:
    """Publish the ``scores`` table (PGS_SCORES) from every dataset's ``scores_of_dataset``
    (a pyarrow Table or a Spark DataFrame each); its rows. When every part is a pyarrow Table
    (the native engine's rows, already on the driver), they are written by pyarrow without a
    Spark job (``StageWriter.write_arrow``): Spark's write of the same rows from Arrow, one
    long row per person and score, was the score phase's largest serial item (6.9-9.5 s, ~20
    JVM CPU-s at 20k samples x 61 scores; benchmarks/RESULTS.md, sessions 24-25). With any
    Spark part, the Tables go to Spark through Arrow and the union is written by Spark."""
    import pyarrow as pa
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql.pandas.types import to_arrow_schema

    tables = [p for p in parts if not isinstance(p, SparkFrame)]
    if len(tables) == len(parts):
        return writer.write_arrow("scores", pa.concat_tables(tables), PGS_SCORES)
    plain = to_arrow_schema(PGS_SCORES.struct)
    frames = [p if isinstance(p, SparkFrame) else
              pandas_to_spark(writer.spark, p.cast(plain).to_pandas(), PGS_SCORES.struct) for p in parts]
    return writer.write_table("scores", _union(frames), PGS_SCORES)


def variant_matches_of(spark: SparkSession, r: DatasetMatches) -> DataFrame:
    """The dataset's per-variant match log (PGS_VARIANT_MATCHES) as a Spark DataFrame."""
    return pandas_to_spark(spark, variant_matches_pandas(r.frame, r.dataset), PGS_VARIANT_MATCHES.struct)


def genotypes_where(cfg: Config, dataset_name: str) -> str:
    """How errors name a dataset's genotype files: ``datasets.<name>.genotypes <path>``."""
    return f"datasets.{dataset_name}.genotypes {cfg.dataset(dataset_name).genotypes.path}"


# The native engine's export folders: pgs_export_<random>.
EXPORT_PREFIX = "pgs_export_"


@contextmanager
def scoring_scratch(hl: hl_types, spark: SparkSession, cfg: Config,
                    scratch: str | None = None) -> Iterator[str | None]:
    """A new empty local directory for the PLINK exports of ``score_dataset``, removed on exit
    (also when scoring fails: nothing is left that looks like output). Under
    ``pgs.native.export_dir`` when set (a local or mounted path every executor reads), else,
    when Spark runs in local mode (tasks read the driver's disk), in ``scratch`` (the stage's
    ``stage_scratch`` directory) when that is local, or else in Hail's temp dir; None otherwise
    (a cluster whose executors cannot read the driver's disk: Hail's pass). In the stage's
    scratch, an export a SIGKILLed run left (every sample's hard calls at the matched rows) is
    removed by the next run's ``stage_scratch``. Under ``export_dir`` (a disk other runs share,
    on other hosts too) or directly in Hail's temp dir (a caller without the stage's scratch:
    no ``stage_scratch`` sweeps it, and such a folder stayed there for good) the folder holds its
    owner record (``scratch.claim``) and the folders a killed run left there are removed first
    (``scratch.remove_abandoned``: no live run owns them; a concurrent run's are left alone).
    Raises ConfigError for an ``export_dir`` URI (pgenlib reads local paths only)."""
    swept = cfg.pgs.native.export_dir  # a folder of other runs' exports too: owner records
    parent = swept
    if swept is not None:
        if is_uri(swept):
            raise ConfigError("must be a local or mounted path every executor reads (pgenlib reads no URIs)",
                              where="pgs.native.export_dir")
    elif local_master(spark):
        parent = None if scratch is None else local_temp_file(scratch)
        if parent is None:  # Hail's temp dir (None on a URI: Hail's pass)
            parent = swept = local_temp_file(hl.tmp_dir())
    if parent is None:
        yield None
        return
    if swept is not None:
        remove_abandoned(swept, EXPORT_PREFIX, cfg.releases.lock_stale_hours)
    path = f"{parent}/{EXPORT_PREFIX}{uuid.uuid4().hex}"
    os.makedirs(path)
    try:
        if swept is not None:  # the next run tells a killed run's folder by its owner
            claim(path, lock_refresh_seconds(cfg.releases))
        yield path
    finally:
        release(path)  # its refresher stopped first (scratch.release)


def local_master(spark: SparkSession) -> bool:
    """Spark runs on this one machine (``local[N]``, ``local-cluster``): tasks read the driver's disk."""
    return (spark.sparkContext.master or "").startswith("local")


def entry_files_scored(cfg: Config, source: GenotypeSource) -> bool:
    """A local MatrixTable read as it is (no ``dosage_field``) with ``pgs.native.engine:
    native``: its matched rows' calls may be scored from its own entry files by the native pass
    (``engine._entries_files``), so the match keeps its rows' numbers and column keys
    (``match_hail``) and the stage warms the pass's Python workers beside the match
    (``native_warm_up``)."""
    return (source.format == "mt" and source.dosage_field is None and not is_uri(source.path)
            and cfg.pgs.native.engine == "native")


@contextmanager
def native_warm_up(hl: hl_types, spark: SparkSession, cfg: Config) -> Iterator[None]:
    """Run the block (parsing and matching, on the driver) while the native pass's one-off
    costs are paid in a background thread; wait for it on exit. A failed warm-up is logged and
    ignored: the pass then pays those costs itself and reports any error.

    - Every dataset scored natively (``engine.engine_for``) and no liftover configured: the
      block runs no Hail job of its own (we do not run Hail from two threads at once), so
      ``pgen_engine.warm_up`` runs whole (Python workers and their imports, Spark SQL's Arrow
      and Parquet paths on a cold JVM). Not the pass's first-task costs (the block buffer faulted
      in): tried (0f288a4) and reverted, as it only moved them (16
      alternated whole runs at 2.5k x 200k x 61: the score phase -0.16 CPU-s, the match phase
      +0.18, the run's CPU and wall not lower; benchmarks/RESULTS.md session 46 flat6).
    - Else, when every dataset is scored natively or is a local MatrixTable scored from its
      entry files (``entry_files_scored``) and the tasks read the driver's disk (a local
      master, or ``pgs.native.export_dir``: ``scoring_scratch``): only the Python workers
      (``pgen_engine.warm_workers``, a Spark job without Hail or Spark SQL, beside the match's
      Hail work). Not the pass's first-task costs (the block buffer faulted in: session 32's
      045d238, reverted): 18 rotated whole runs at 2.5k x 50k x 61 showed them only moved (the
      score phase -0.13 CPU-s, the match phase's workers +0.155, the run equal; benchmarks/RESULTS.md
      session 47 flat7). Those scores are written by pyarrow, and the pass follows the match with no
      Hail job between (no export), so the workers are still alive (Spark keeps an idle one a
      minute). Measured under load (benchmarks/RESULTS.md, session 29: 2.5k samples x 50k
      variants x 61): the score phase 9.6-10.7 -> 5.9-6.6 CPU-s, its workers' start gone from
      it; the warm-up itself costs ~6 CPU-s beside the match (workers ~3, JVM ~3.4), more than
      it moves: a gain of wall time where the match leaves a core idle, not of CPU. A VCF or
      VDS is exported by Hail first: its workers would die during a long export (session 20),
      so none are started for it."""
    try:
        routes = [engine.engine_for(ds.genotypes, cfg.pgs.native) for ds in cfg.datasets]
    except TrdSparkError:  # raised again, where it belongs, when the dataset is matched
        routes = []
    if routes and cfg.pgs.liftover is None and all(r == "native" for r in routes):
        pgen_engine.import_warm_up_modules()  # here: its thread imports none beside this one's
        with _warm_up_meanwhile(lambda: "done" if pgen_engine.warm_up(spark, hl) else "already warm"):
            yield
        return
    readable = local_master(spark) or cfg.pgs.native.export_dir is not None
    if routes and readable and all(r == "native" or entry_files_scored(cfg, ds.genotypes)
                                   for r, ds in zip(routes, cfg.datasets)):
        def workers() -> str:
            pgen_engine.warm_workers(spark)
            return "done (Python workers only)"

        with _warm_up_meanwhile(workers):
            yield
        return
    yield


@contextmanager
def _warm_up_meanwhile(warm: Callable[[], str]) -> Iterator[None]:
    """``warm`` (returns its outcome's text) in a background thread while the block runs (the
    caller makes sure the two may run at once); joined on exit, its outcome logged; a failure
    is logged and ignored."""
    from pyspark import InheritableThread

    outcome: list[str] = []

    def work() -> None:
        try:
            outcome.append(warm())
        except Exception as e:  # an optimisation only: see the docstring
            outcome.append(f"failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")

    thread = InheritableThread(target=work, daemon=True)
    thread.start()
    try:
        yield
    finally:
        waited = time.perf_counter()
        thread.join()
        waited = time.perf_counter() - waited
        # warm_up_wait_s: the same figure for a reader of the record (the benchmark), not the text.
        log.info("pgs: native pass warm-up %s (waited %.1f s for it)", outcome[0] if outcome else "stopped",
                 waited, extra={"warm_up_wait_s": waited})


@contextmanager
def hail_errors(where: str):
    """Turn a Hail/Java exception raised while genotypes are read (Hail reads lazily, so at the
    first action) into one InputDataError line naming the dataset and its files; our own
    errors pass through unchanged, also when raised inside a Spark task (the line after
    ``trd_spark.errors.InputDataError:`` in the worker's traceback). A bug (``_our_bug``; in a
    Spark task, ``worker_exception``) passes through with its traceback; memory running out or a
    module missing (``environment_fault``) is one EnvironmentFault line (exit 1) saying so;
    another exception of a task (pgenlib on a cut .pgen) is named by its own line (digits as
    '#'), not the Java wrapper's first.

    A parse error's first line names no position (``VCFParseError: unexpected end of line``);
    Hail gives it further down, ``HailException: file:/x.vcf:offset 673639: error while
    parsing line`` (the byte offset where the bad line starts; a BGZF virtual offset in a
    block-gzipped file), so that location is appended as the file's line number
    (``genotypes.line_at_offset``): ``(at file:/x.vcf:2505)``, or as the offset when the line cannot
    be told cheaply (``(at gs://b/x.vcf.bgz:offset 377692729)``)."""
    try:
        yield
    except TrdSparkError:
        raise
    except Exception as e:  # FatalError / HailException / Py4JJavaError: no common base
        text = str(e)
        worker = worker_exception(text)
        if _our_bug(e) or (worker is not None and worker.our_bug):
            raise
        fault = environment_fault(e, worker)
        if fault is not None:
            raise EnvironmentFault(fault, where=where) from None
        # Our own error raised inside a Spark task (the native engine's readers, e.g. a BGEN
        # block that does not inflate) reaches the driver as the Python worker's traceback: its
        # one line (which names the file) is the error, after the dataset's name (``where``; before
        # session 40 the line named the file alone, where Hail's errors name both).
        ours = re.search(r"trd_spark\.errors\.InputDataError: (.+)", text)
        if ours:
            raise InputDataError(ours.group(1).strip(), where=where) from None
        # Another exception of a Spark task: its own line (pgenlib's 'RuntimeError: b'.pgen read
        # failure ...''), not the Java wrapper's first line ('PythonException: Traceback ...'),
        # its digits as '#': a reader's or numpy's text may hold array shapes, i.e. the samples
        # of a task (persons: logs.person_count_text).
        first = re.sub(r"\d", "#", worker.line) if worker is not None else \
            next((ln.strip() for ln in text.splitlines() if ln.strip()), type(e).__name__)
        first = first[:300]
        at = re.search(r"HailException: (\S+):offset (\d+): error while parsing line", text)
        if at and at.group(1) not in first:
            line = line_at_offset(at.group(1), int(at.group(2)))
            first += f" (at {at.group(1)}:{line})" if line else f" (at {at.group(1)}:offset {at.group(2)})"
        raise InputDataError(f"reading the genotypes failed: {first}", where=where) from None


# Errors that mean the code is wrong, whatever the input, when trd_spark's own frame raised them:
# our readers turn what bad input makes Python raise in their frames (struct.error, ValueError
# of numpy on a short block, UnicodeDecodeError) into an InputDataError themselves, so a
# ValueError, KeyError or ZeroDivisionError that leaves our code is a check or a lookup we got
# wrong, not bad genotypes. RuntimeError, OSError, EOFError and struct.error stay input errors
# (pgenlib and file reads on a cut or unreadable file), as does any exception raised in Hail's,
# PySpark's, pgenlib's or numpy's own frames.
_BUG_TYPES = (AttributeError, TypeError, NameError, AssertionError, LookupError, ValueError, ArithmeticError)
# What pgenlib's (Cython) frames raise when the caller hands an array of the wrong element type
# or shape ('RuntimeError: Invalid read_dosages() floatarr_out array element type (float32 or
# float64 expected).', 'ValueError: Buffer dtype mismatch, ...'): our dtype bug, whichever frame
# raised it, never a fault of the genotype files.
_CALLER_BUG_TEXT = re.compile(r"Invalid \w+\(\) \w+ array element type|Buffer dtype mismatch|"
                              r"Buffer has wrong number of dimensions")


@dataclass(frozen=True)
class WorkerException:
    """The Python exception of a Spark task as the driver sees it (``worker_exception``)."""
    line: str  # its last line, 'RuntimeError: read_range() error 4'
    our_bug: bool  # a ``_BUG_TYPES`` exception raised in a frame of trd_spark's own code


# A Python worker's traceback inside the Java error of a failed Spark task: indented frames,
# then the exception's line; the Java stack that follows starts with a tab ('\tat ...') or with
# 'Java stack trace:' (Hail's FatalError).
_WORKER_TRACEBACK = re.compile(r"Traceback \(most recent call last\):\n((?:[ \t]+\S.*\n)+)(\S.*)")
# A frame of a trd_spark module, wherever the package sits (an executor has its own copy).
_OUR_FRAME = re.compile(r"[/\\]trd_spark[/\\](?:\w+[/\\])*\w+\.py$")


def worker_exception(text: str) -> WorkerException | None:
    """The exception of the first failed Python task in ``text`` (a Py4JJavaError's or Hail
    FatalError's text), the last one of its chain; None when ``text`` holds no Python worker
    traceback. Its frames are Python's own ``File "...", line N, in f`` lines: a ``_BUG_TYPES``
    exception whose innermost frame is a trd_spark module is ``our_bug`` (pgenlib's Cython
    frames and numpy's Python ones are not ours; C code adds no frame, as on the driver), and so
    is pgenlib refusing our array (``_CALLER_BUG_TEXT``)."""
    start = text.find("Traceback (most recent call last):")
    if start < 0:
        return None
    block = re.split(r"\n\tat |\nJava stack trace:", text[start:], maxsplit=1)[0] + "\n"
    found = list(_WORKER_TRACEBACK.finditer(block))
    if not found:
        return None
    frames, line = found[-1].group(1), found[-1].group(2).strip()
    name = line.split(":", 1)[0].rsplit(".", 1)[-1]
    kind = getattr(builtins, name, None)
    files = re.findall(r'^[ \t]+File "([^"]+)"', frames, re.M)
    bug = (isinstance(kind, type) and issubclass(kind, _BUG_TYPES) and bool(files)
           and _OUR_FRAME.search(files[-1]) is not None) or _CALLER_BUG_TEXT.search(line) is not None
    return WorkerException(line, bug)


def environment_fault(e: BaseException, worker: WorkerException | None) -> str | None:
    """What ``hail_errors`` reports when ``e`` (or the Spark task's Python exception ``worker``,
    as ``worker_exception`` reads it) is the machine's fault, not the input's: memory ran out
    (MemoryError in the driver or a Python worker, java.lang.OutOfMemoryError in a JVM) or a
    Python module is missing (ModuleNotFoundError: the driver's or the executors' environment
    lacks a dependency, or the executors lack trd_spark), or the native pass's files are gone
    (``native_task.pass_files_gone``: a memory file system emptied at logout; its text names
    ``pgs.native.memory_dir`` and the path). None for any other exception."""
    name = worker.line.split(":", 1)[0].rsplit(".", 1)[-1] if worker is not None else type(e).__name__
    line = worker.line if worker is not None else f"{type(e).__name__}: {e}".rstrip(": ")
    where = "a Spark task's Python worker" if worker is not None else "the driver"
    if PASS_FILES_GONE in line:
        # native_task.pass_files_gone, in a task or on the driver: the machine removed the pass's
        # files (RemoveIPC), not a fault of the genotypes; the whole text (the setting, what to do
        # and the path at its end), where the input-error line cut it at 300 characters.
        return line.split("] ", 1)[-1] if line.startswith("FileNotFoundError: [Errno") else line
    if name == "MemoryError":
        more = ("spark.executor_memory, or fewer cores per executor" if worker is not None
                else "spark.driver_memory")
        return f"{where} ran out of memory ({line}); not an input error: give it more memory ({more})"
    if name == "ModuleNotFoundError":
        return (f"{where} cannot import a module ({line}); not an input error: install trd-spark and its "
                "dependencies where it runs (README: Running on a cluster)")
    oom = re.search(r"java\.lang\.OutOfMemoryError[^\n]*", str(e))
    if oom:
        return (f"a Spark JVM ran out of memory ({oom.group().strip()[:200]}); not an input error: give it "
                "more memory (spark.driver_memory / spark.executor_memory)")
    return None


def _our_bug(e: BaseException) -> bool:
    """A ``_BUG_TYPES`` exception (AttributeError, TypeError, NameError, AssertionError,
    KeyError/IndexError, ValueError, ZeroDivisionError/OverflowError) raised in trd_spark's own
    code: a bug, which ``hail_errors`` lets through with its traceback rather than report as bad
    input. The same types raised inside Hail or PySpark (``mt.GT`` on a MatrixTable without GT
    is Hail's AttributeError) are about the input and stay one InputDataError line. pgenlib
    refusing our array's element type or shape (``_CALLER_BUG_TEXT``) is a bug in any frame."""
    if isinstance(e, (RuntimeError, ValueError)) and _CALLER_BUG_TEXT.search(str(e)):
        return True
    if not isinstance(e, _BUG_TYPES):
        return False
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and Path(os.path.realpath(tb.tb_frame.f_code.co_filename)).is_relative_to(PACKAGE_DIR)


def summary_tsv(summary: pd.DataFrame) -> str:
    """The match summary as a TSV a human can read (fractions to 4 decimals)."""
    return summary.to_csv(sep="\t", index=False, float_format="%.4f")


def _union(frames: list[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b), frames)


def run(ctx: StageContext) -> None:
    """Run the PGS stage for every dataset in ``cfg.datasets`` (see module doc), with one scratch
    directory (``stage_scratch``) for what Hail's routes write on the way: the readers' copies
    and indexes (a 6-field .bim, a BGEN's index or copy) and each Hail route's score table
    (``scores_of_dataset``), which Spark reads lazily until the scores are written. Left in
    Hail's temp dir, a Hail route's score table (~250k persons x 61 scores per dataset at AoU
    scale) piled up run after run."""
    import hail as hl

    with stage_scratch(hl, ctx.cfg.releases.lock_stale_hours, lock_refresh_seconds(ctx.cfg.releases)) as scratch:
        _run(ctx, hl, scratch)


# A pgs stage's scratch directory in Hail's temp dir: pgs_stage_<pid>_<random>.
SCRATCH_PREFIX = "pgs_stage_"


@contextmanager
def stage_scratch(hl: hl_types, stale_hours: float | None = None,
                  refresh_seconds: float = LOCK_REFRESH_SECONDS) -> Iterator[str]:
    """A new directory in Hail's temp dir, ``pgs_stage_<pid>_<random>``, removed when the block
    ends, normally or by an exception (an interrupt too: a local directory is removed by Python,
    not through the JVM, which SIGTERM to the process group has stopped). A SIGKILLed run
    cannot remove its own: the directory holds its owner (``scratch.claim``), and the ones no
    live run owns are removed first (logged; ``scratch.remove_abandoned``): this machine's
    whose process is gone or whose pid now names another process, another host's (a temp dir
    on a shared mount) older than ``stale_hours`` (``releases.lock_stale_hours``; None: kept);
    one without an owner record (an older version's) when the pid in its name runs on no
    process here. A live run's (another release's sharing ``spark.tmp_dir``) is left alone.
    A temp dir on gs:// / hdfs:// (a cluster's) is Hail's (``hl.TemporaryDirectory``),
    removed on exit only."""
    base = local_temp_file(hl.tmp_dir())
    if base is None:
        with hl.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}_") as remote:
            yield remote
        return
    os.makedirs(base, exist_ok=True)
    remove_abandoned(base, SCRATCH_PREFIX, stale_hours, unclaimed=_named_by_a_dead_pid)
    path = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}_", dir=base)
    try:
        claim(path, refresh_seconds)  # releases.lock_refresh_seconds: well within stale_hours
        yield path
    finally:
        release(path)  # its refresher stopped first (scratch.release)


def _named_by_a_dead_pid(folder: str) -> bool:
    """A ``pgs_stage_<pid>_*`` folder without an owner record: the pid in its name runs on no
    process of this machine (the rule before owner records)."""
    pid = os.path.basename(folder)[len(SCRATCH_PREFIX):].split("_", 1)[0]
    return pid.isdigit() and not process_alive(int(pid))


def _run(ctx: StageContext, hl: hl_types, scratch: str) -> None:
    spark, cfg, fs, layout = ctx.spark, ctx.cfg, ctx.fs, ctx.layout
    ahead = ctx.handed.get(SCORING_FILES_AHEAD)  # the runner's parse while Spark started, if any
    files_by_build: dict[str, list[ScoringFile]] = {}
    sites_by_build: dict[str, pd.DataFrame] = {}  # parsed, deduplicated (and lifted) once per build
    results: list[DatasetMatches] = []
    not_read = files_not_read(spark, cfg.pgs.scoring_files)
    if not_read:
        log.warning("pgs: %d file(s) in the scoring-file folders not read (not named as scoring files: *.txt, "
                    "*.tsv, gzipped or not, other than a README or checksum list): %s", len(not_read),
                    ", ".join(not_read))
    with native_warm_up(hl, spark, cfg):
        for ds in cfg.datasets:
            build = ds.genotypes.reference_genome
            if build not in files_by_build:
                files_by_build[build] = load_scoring_files(
                    spark, cfg, build, ahead=ahead if isinstance(ahead, ParseAhead) else None)
                log.info("pgs: %d scoring files validated for %s", len(files_by_build[build]), build)
                sites_by_build[build] = score_sites(hl, spark, files_by_build[build], build,
                                                    liftover=cfg.pgs.liftover)
                # Progress per phase (parse, match, score): the driver's work between them runs
                # no Spark job, and the heartbeat alone read as a hang at biobank scale.
                log.info("pgs: %d score variants at %d distinct sites on %s", sum(len(sf.variants) for sf in
                         files_by_build[build]), len(sites_by_build[build]), build)
            log.info("pgs: matching %d scores in dataset %s", len(files_by_build[build]), ds.name)
            began = time.perf_counter()
            results.append(match_dataset(hl, spark, cfg, ds.name, files_by_build[build], sites_by_build[build],
                                         scratch))
            log.info("pgs: dataset %s matched (%.1f s)", ds.name, time.perf_counter() - began)

    summary = pd.concat([r.summary for r in results], ignore_index=True)[PGS_MATCH_SUMMARY.names]
    variant_matches = _union([variant_matches_of(spark, r) for r in results])
    failed_dir = f"{layout.release_dir}/{FAILED_MATCH_DIR}"
    failures = match_rate_failures(summary, cfg.pgs.min_overlap)
    if failures:
        # Nothing is published, so the logs the user needs to see why go beside the release.
        fs.delete(failed_dir)
        write_table(variant_matches.select(*PGS_VARIANT_MATCHES.names), f"{failed_dir}/variant_matches.parquet")
        write_pandas(spark, summary, f"{failed_dir}/match_summary.parquet", PGS_MATCH_SUMMARY.struct)
        fs.write_text(f"{failed_dir}/match_summary.tsv", summary_tsv(summary))
        # The error is the one ERROR line (the CLI logs it): it names the match logs' directory.
        raise MatchRateError(f"{'; '.join(failures)} (match logs: {failed_dir})", where="pgs.min_overlap")

    with ctx.publish() as writer:
        writer.write_table("variant_matches", variant_matches, PGS_VARIANT_MATCHES)
        writer.write_pandas("match_summary", summary, PGS_MATCH_SUMMARY)
        writer.write_text("match_summary.tsv", summary_tsv(summary))
        score_parts = []
        for r in results:
            log.info("pgs: scoring %d scores in dataset %s (one pass)", len(r.scoring_files), r.dataset)
            began = time.perf_counter()
            score_parts.append(scores_of_dataset(hl, spark, cfg, r, scratch))
            log.info("pgs: dataset %s scored and checked (%.1f s)", r.dataset, time.perf_counter() - began)
        write_scores(writer, score_parts)
        writer.notes["scoring_file_notes"] = scoring_file_notes(files_by_build)
        writer.notes["duplicate_rows_dropped"] = duplicate_rows_dropped(results)
        writer.notes["dosage_model_rows_unmatched"] = dosage_model_rows_unmatched(results)
        writer.notes["unplaced_variants"] = unplaced_variant_counts(results)
        writer.notes["reference_fasta_left_aligned"] = left_aligned_notes(results)
        writer.notes["vcf_half_call_rows"] = half_call_row_counts(results)
        writer.notes["missing_call_share"] = missing_call_shares(results)
        writer.notes["ft_failed_call_share"] = ft_failed_call_shares(cfg, results)
        writer.notes["ft_failed_calls_by_score"] = ft_failed_calls_by_score(results)  # exact: internal
        writer.notes["uncalled_variants"] = uncalled_variant_counts(results)
        # dataset -> where its sex on X came from and its samples by sex, as labels (sample_sex.SexCounts.note)
        writer.notes["sample_sex"] = {r.dataset: r.sex.counts.note(cfg.report.small_count_threshold)
                                      for r in results if r.sex is not None and r.sex.counts is not None}
        writer.notes["scoring_files"] = scoring_file_provenance(spark, files_by_build)
        writer.notes["scoring_files_not_read"] = not_read
    fs.delete(failed_dir)  # a stale failure log would contradict the published stage
    log.info("pgs: published %s", layout.stage_dir("pgs"))
