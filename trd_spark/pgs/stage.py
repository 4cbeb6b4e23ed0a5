"""The PGS stage: for each dataset, read genotypes, match every score, score in one pass.

Writes through ``ctx.publish()`` (``layout.publish_stage``):
  scores           PGS_SCORES           one row per dataset x person x score
  scores_<dataset>.ht  the same rows per dataset as a Hail Table (``s``, pgs_id, score_sum,
                   allele_count, score_avg, n_missing, n_matched; keyed by s, pgs_id)
  match_summary    PGS_MATCH_SUMMARY    one row per dataset x score (+ match_summary.tsv)
  variant_matches  PGS_VARIANT_MATCHES  one row per dataset x score variant

If any score matches fewer than ``pgs.min_overlap`` of its variants in any dataset, nothing is
published: the match logs go to ``{release_dir}/pgs_failed_match/`` and MatchRateError is
raised naming every failing score and dataset.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Any

import pandas as pd

from trd_spark.config import Config
from trd_spark.errors import InputDataError, MatchRateError, TrdSparkError
from trd_spark.io import Fs, write_pandas, write_table
from trd_spark.pgs import engine
from trd_spark.pgs.genotypes import read_genotypes, read_sample_map, samples_to_persons
from trd_spark.pgs.matching import (
    UNASSIGNED_DOMAIN,
    ScoreLabel,
    check_genotype_duplicates,
    explode_members,
    match_rate_failures,
    match_sites,
    score_variants_table,
    summarise_matches,
    variant_matches_frame,
)
from trd_spark.pgs.scoring import (
    check_score_table,
    score_weights_table,
    scores_frame,
)
from trd_spark.pgs.scoring_files import ScoringFile, read_scoring_files
from trd_spark.schemas import PGS_MATCH_SUMMARY, PGS_SCORES, PGS_VARIANT_MATCHES

if TYPE_CHECKING:
    import hail as hl_types
    from pyspark.sql import DataFrame, SparkSession

    from trd_spark.stages import StageContext

log = logging.getLogger(__name__)

FAILED_MATCH_DIR = "pgs_failed_match"


@dataclass
class DatasetMatches:
    """One dataset's genotypes and matching result, kept until scoring."""

    dataset: str
    mt: hl_types.MatrixTable
    matches: hl_types.Table
    summary: pd.DataFrame
    scoring_files: list[ScoringFile]


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


def load_scoring_files(spark: SparkSession, cfg: Config, reference_genome: str) -> list[ScoringFile]:
    """Parse and validate every configured scoring file for one build (local paths, globs,
    directories or Hadoop FS URIs; duplicate, liftover and rsID options from ``cfg.pgs``)."""
    files = read_scoring_files(spark, cfg.pgs, reference_genome)
    for sf in files:
        for note in sf.notes:
            log.warning("%s: %s", sf.pgs_id, note)
    return files


def match_dataset(hl: hl_types, spark: SparkSession, cfg: Config, dataset_name: str,
                  scoring_files: list[ScoringFile]) -> DatasetMatches:
    """Read one dataset's genotypes and match every score (match table checkpointed)."""
    ds = cfg.dataset(dataset_name)
    where = genotypes_where(cfg, dataset_name)
    sv = score_variants_table(hl, spark, scoring_files, ds.genotypes.reference_genome, liftover=cfg.pgs.liftover)
    loci = sv.filter(hl.is_defined(sv.locus)).key_by("locus").select().distinct()
    mt = read_genotypes(hl, ds.genotypes, loci=loci, keep_rsid=cfg.pgs.match_rsid)
    sample_map = None
    if ds.genotypes.sample_map:
        text = Fs(spark).read_text(ds.genotypes.sample_map)
        sample_map = read_sample_map(text, ds.genotypes.sample_map)
    with hail_errors(where):
        mt = samples_to_persons(hl, mt, where=where, sample_map=sample_map)
        sites = match_sites(hl, mt, sv, keep_ambiguous=cfg.pgs.keep_ambiguous)
        sites = sites.checkpoint(hl.utils.new_temp_file(prefix=f"pgs_sites_{dataset_name}", extension="ht"))
    check_genotype_duplicates(hl, sites, where, ds.genotypes)
    matches = explode_members(hl, sites)
    pgs_ids = [sf.pgs_id for sf in scoring_files]
    summary = summarise_matches(hl, matches, dataset_name, pgs_ids, score_labels(cfg, scoring_files))
    r: Any  # a row of summary (pandas-stubs type itertuples' fields as any scalar)
    for r in summary.itertuples(index=False):
        log.info("  %s %s: %d/%d variants matched (%.1f%%; flipped %d, ambiguous dropped %d, not found %d)",
                 dataset_name, r.pgs_id, r.n_matched, r.n_variants, 100 * r.matched_fraction,
                 r.n_matched_flipped, r.n_ambiguous_dropped, r.n_not_found)
        if r.n_unreadable:
            log.warning("  %s %s: %d variants not scored: their locus has a multi-allelic genotype row the "
                        "reader skips (n_unreadable; see the genotype WARNING)", dataset_name, r.pgs_id,
                        r.n_unreadable)
    return DatasetMatches(dataset_name, mt, matches, summary, scoring_files)


def score_dataset(hl: hl_types, cfg: Config, r: DatasetMatches) -> hl_types.Table:
    """Every score of one matched dataset in one pass (``scoring.compute_scores``' long table;
    lazy: the caller writes it, inside ``hail_errors``): the native engine for bed/pgen, Hail's
    pass otherwise (``engine.score``, ``pgs.native``)."""
    weights = score_weights_table(hl, r.matches, len(r.scoring_files))
    return engine.score(hl, cfg.dataset(r.dataset).genotypes, r.mt, weights,
                        [sf.pgs_id for sf in r.scoring_files], r.summary["n_matched"].tolist(),
                        missing_genotypes=cfg.pgs.missing_genotypes, settings=cfg.pgs.native)


def genotypes_where(cfg: Config, dataset_name: str) -> str:
    """How errors name a dataset's genotype files: ``datasets.<name>.genotypes <path>``."""
    return f"datasets.{dataset_name}.genotypes {cfg.dataset(dataset_name).genotypes.path}"


@contextmanager
def hail_errors(where: str):
    """Turn a Hail/Java exception raised while genotypes are read (Hail reads lazily, so at the
    first action) into one InputDataError line naming the dataset and its files; our own
    errors pass through unchanged."""
    try:
        yield
    except TrdSparkError:
        raise
    except Exception as e:  # FatalError / HailException / Py4JJavaError: no common base
        first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise InputDataError(f"reading the genotypes failed: {first[:300]}", where=where) from None


def summary_tsv(summary: pd.DataFrame) -> str:
    """The match summary as a TSV a human can read (fractions to 4 decimals)."""
    return summary.to_csv(sep="\t", index=False, float_format="%.4f")


def _union(frames: list[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b), frames)


def run(ctx: StageContext) -> None:
    """Run the PGS stage for every dataset in ``cfg.datasets`` (see module doc)."""
    import hail as hl

    spark, cfg, fs, layout = ctx.spark, ctx.cfg, ctx.fs, ctx.layout
    files_by_build: dict[str, list[ScoringFile]] = {}
    results: list[DatasetMatches] = []
    for ds in cfg.datasets:
        build = ds.genotypes.reference_genome
        if build not in files_by_build:
            files_by_build[build] = load_scoring_files(spark, cfg, build)
            log.info("pgs: %d scoring files validated for %s", len(files_by_build[build]), build)
        log.info("pgs: matching %d scores in dataset %s", len(files_by_build[build]), ds.name)
        results.append(match_dataset(hl, spark, cfg, ds.name, files_by_build[build]))

    summary = pd.concat([r.summary for r in results], ignore_index=True)[PGS_MATCH_SUMMARY.names]
    variant_matches = _union([variant_matches_frame(hl, r.matches, r.dataset) for r in results])
    failed_dir = f"{layout.release_dir}/{FAILED_MATCH_DIR}"
    failures = match_rate_failures(summary, cfg.pgs.min_overlap)
    if failures:
        # Nothing is published, so the logs the user needs to see why go beside the release.
        fs.delete(failed_dir)
        write_table(variant_matches.select(*PGS_VARIANT_MATCHES.names), f"{failed_dir}/variant_matches.parquet")
        write_pandas(spark, summary, f"{failed_dir}/match_summary.parquet")
        fs.write_text(f"{failed_dir}/match_summary.tsv", summary_tsv(summary))
        log.error("pgs: %d score(s) below min_overlap; match logs in %s", len(failures), failed_dir)
        raise MatchRateError(f"{'; '.join(failures)} (match logs: {failed_dir})", where="pgs.min_overlap")

    with ctx.publish() as writer:
        writer.write_table("variant_matches", variant_matches, PGS_VARIANT_MATCHES)
        writer.write_pandas("match_summary", summary, PGS_MATCH_SUMMARY.names)
        writer.write_text("match_summary.tsv", summary_tsv(summary))
        score_frames = []
        for r in results:
            log.info("pgs: scoring %d scores in dataset %s (one pass)", len(r.scoring_files), r.dataset)
            scores = score_dataset(hl, cfg, r)
            # Computed once into the Hail Table output, then converted for the Parquet table.
            ht_name = f"scores_{r.dataset}.ht"
            with hail_errors(genotypes_where(cfg, r.dataset)):
                scores.key_by("s", "pgs_id").write(f"{writer.dir}/{ht_name}")
            writer.files.append(ht_name)
            written = hl.read_table(f"{writer.dir}/{ht_name}")
            check_score_table(hl, written, f"pgs scores of dataset {r.dataset}")
            score_frames.append(scores_frame(hl, written, r.dataset))
        writer.write_table("scores", _union(score_frames), PGS_SCORES)
        writer.notes["scoring_file_notes"] = {
            sf.pgs_id: sf.notes for files in files_by_build.values() for sf in files if sf.notes
        }
    fs.delete(failed_dir)  # a stale failure log would contradict the published stage
    log.info("pgs: published %s", layout.stage_dir("pgs"))
