"""Models stage: analysis frame -> model tables (+ TSV copies of the main ones).

Reads ``{release}/cohort/analysis_frame.parquet`` and publishes ``{release}/models/``:
``logistic`` (+ .tsv), ``difference``, ``replication``, ``meta``, ``consistency`` and, when
``cfg.models.cox``, ``cox`` (+ .tsv) and ``km_curves``. The fits run on the executors
(models/distributed.py); the cross-model tables are computed on the driver from the small
logistic table (models/synthesis.py).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import pandas as pd

from trd_spark.errors import InputDataError, ModelError
from trd_spark.io import to_tsv
from trd_spark.models.covariates import COLLINEAR_NOTE, EMPTY_COVARIATE_NOTE
from trd_spark.models.distributed import cox_grid_spark, km_curves_spark, logistic_grid_spark, persons_on_more_rows
from trd_spark.models.synthesis import (
    META_OUT_OF_RANGE_NOTE,
    consistency_table,
    difference_table,
    meta_table,
    non_finite_cells,
    replication_table,
    warn_unusable,
)
from trd_spark.schemas import (
    CONSISTENCY,
    COX_RESULTS,
    DIFFERENCE,
    KM_CURVES,
    LOGISTIC_RESULTS,
    META,
    REPLICATION,
    TableSchema,
)
from trd_spark.vocabulary import ModelFailure

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from trd_spark.stages import StageContext

log = logging.getLogger(__name__)


# Failures that say a group is smaller than models.min_cases: a bound on a count (``_log_fits``).
COUNT_FAILURES = (ModelFailure.TOO_FEW_CASES, ModelFailure.TOO_FEW_CONTROLS, ModelFailure.TOO_FEW_EVENTS)


def _small_groups(results: pd.DataFrame, part: str, persons_below: int) -> pd.Series:
    """Per fit: a group (``part``: cases or events, or the rest of ``n``) of 1..``persons_below``-1."""
    n, k = results["n"].fillna(0), results[part].fillna(0)
    return ((k > 0) & (k < persons_below)) | ((n - k > 0) & (n - k < persons_below))


def warn_ratio_out_of_range(what: str, results: pd.DataFrame, part: str, persons_below: int) -> int:
    """One WARNING naming each fit (dataset/definition/contrast/pgs_id) failed as
    ``RATIO_OUT_OF_RANGE`` (its odds / hazard ratio or a 95% CI bound infinite or 0, the
    estimates withheld: ``logistic.ratio_and_ci``), with their number. A fit with a group of 1 to
    ``persons_below`` - 1 persons is neither named nor counted in it (``_log_fits``' rule: the
    export hides whether such a fit failed, and a failure other than too few cases would put its
    hidden count at ``models.min_cases`` or more); its row says so. Returns the number of such
    fits, all of them (the manifest's ``notes.ratio_out_of_range``)."""
    failed = results[results["failure_reason"] == ModelFailure.RATIO_OUT_OF_RANGE]
    named = failed[~_small_groups(failed, part, persons_below)]
    if len(named):
        cols = [c for c in ("dataset", "definition", "contrast", "pgs_id") if c in named.columns]
        names = "; ".join("/".join(str(v) for v in row) for row in named[cols].itertuples(index=False))
        log.warning("%s: %d fit(s) with an odds / hazard ratio or a 95%% CI bound beyond double precision (infinite "
                    "or 0: a huge standard error), estimates withheld (failure_reason %s; fits with a group of 1 to %d "
                    "persons are not named or counted here, their rows say so; %s): %s", what, len(named),
                    ModelFailure.RATIO_OUT_OF_RANGE, persons_below - 1, "/".join(cols), names)
    return len(failed)


def check_published_estimates(tables: dict[str, tuple[pd.DataFrame, TableSchema]]) -> None:
    """Raise ModelError when a table to publish holds +/-inf, or NaN in a converged row's
    estimate (``synthesis.non_finite_cells``): the fitters and the meta-analysis withhold such
    estimates, so this is a fault of this code, never published as if a number."""
    for name, (table, _) in tables.items():
        bad = non_finite_cells(table)
        if bad:
            raise ModelError(f"{len(bad)} non-finite estimate(s) in a converged row, first {bad[0]} "
                             "(a fitter or the meta-analysis let a non-number through)", where=f"models/{name}")


def _log_fits(what: str, results: pd.DataFrame, part: str, persons_below: int) -> None:
    """The run log's count of fits and of failed fits by reason. A failure is counted only for a
    fit whose groups (``part``: cases or events, and the rest of ``n``) are all 0 or at least
    ``persons_below`` (T), and not for too few cases, controls or events: "12 x too_few_cases"
    with the export's "<20" cases of one definition's 12 fits put them below models.min_cases
    (1..4, not 1..19), and with min_cases above T a fit's hidden count of T or more below it.
    Those fits' rows are in the models stage's tables; the export shows what may be shown."""
    small = _small_groups(results, part, persons_below)
    failed = results[~small & ~results["converged"].astype(bool) & ~results["failure_reason"].isin(COUNT_FAILURES)]
    # "not counted" alone read as if those fits were left out of the fits (new-user trial, session 24).
    log.info("%s: %d fits, %d failed (failures for too few cases, controls or events, and of fits with a group of 1 "
             "to %d persons, are not counted here; every fit is a row of the models tables)",
             what, len(results), len(failed), persons_below - 1)
    for reason, count in failed["failure_reason"].value_counts().items():
        log.info("  %s failures: %d x %s", what, count, reason)


def warn_covariates_without_values(what: str, results: pd.DataFrame) -> dict[str, list[str]]:
    """One WARNING per dataset whose fits dropped a covariate that no person of the fit had a
    value of (``covariates.EMPTY_COVARIATE_NOTE`` in a row's ``note``): such a column (a PC whose
    ``pca_features`` elements are empty or ``nan`` for the dataset's persons) is an input fault
    that each row's note alone would leave unseen among hundreds of rows. Returns dataset ->
    the covariates (sorted), only datasets with one. No count: names only."""
    return _warn_noted_covariates(what, results, EMPTY_COVARIATE_NOTE, "without a value for any person of a fit")


def warn_collinear_covariates(what: str, results: pd.DataFrame) -> dict[str, list[str]]:
    """One WARNING per dataset whose fits dropped a covariate as a linear function of the ones before
    it (``covariates.COLLINEAR_NOTE``, ``aliased_columns``): a PC equal to another up to scale and
    shift is an input fault (the ancestry file's ``pca_features``), and the PGS estimates are those
    of the smaller design. Returns dataset -> the covariates (sorted). No count: names only."""
    return _warn_noted_covariates(what, results, COLLINEAR_NOTE,
                                  "a linear function of the covariates before them in a fit")


def _warn_noted_covariates(what: str, results: pd.DataFrame, note_text: str, problem: str) -> dict[str, list[str]]:
    """One WARNING per dataset naming the covariates its rows' notes drop under ``note_text``
    (``problem`` says why); dataset -> those covariates (sorted)."""
    out = _noted_covariates(results, note_text)
    for dataset, columns in out.items():
        log.warning("%s: dataset %s: covariate(s) %s %s, dropped from those fits (their note says so); check the "
                    "analysis frame's columns (a PC: the ancestry file's pca_features for the dataset's persons)",
                    what, dataset, ", ".join(columns), problem)
    return out


def _noted_covariates(results: pd.DataFrame, note_text: str) -> dict[str, list[str]]:
    """dataset -> the covariates (sorted) named after ``note_text: `` in its rows' notes."""
    found: dict[str, set[str]] = {}
    pattern = re.escape(note_text) + r": ([^;]+)"
    for dataset, note in zip(results["dataset"], results["note"].fillna("").astype(str)):
        for names in re.findall(pattern, note):
            found.setdefault(str(dataset), set()).update(n.strip() for n in names.split(","))
    return {d: sorted(c) for d, c in sorted(found.items())}


def check_one_row_per_person(in_two_datasets: int, repeated: int) -> None:
    """Raise ModelError when ``in_two_datasets`` persons of the analysis frame are in more than one
    dataset or ``repeated`` persons have more than one row of one definition (counted by
    ``distributed.persons_on_more_rows`` for ``load_analysis_frame``). The cohort stage makes
    one row per person and definition, and refuses a person in two datasets; a frame built
    otherwise would count such a person twice (in one fit, or in two datasets the meta-analysis
    takes as independent) without a word. No count or identifier in the message."""
    if in_two_datasets:
        raise ModelError("a person is in more than one dataset of the analysis frame (the cohort stage refuses "
                         "that: the meta-analysis takes the datasets as independent samples)",
                         where="cohort/analysis_frame.person_id")
    if repeated:
        raise ModelError("a person has more than one row of one (dataset, definition) in the analysis frame (the "
                         "cohort stage makes one: a fit would count the person twice)",
                         where="cohort/analysis_frame.person_id")


def load_analysis_frame(ctx: StageContext) -> DataFrame:
    """The cohort stage's analysis frame (Spark; the fits read it group by group). Raises
    InputDataError naming its path when it is absent or has no rows, and ModelError when a person
    is in two datasets or on two rows of one definition (``check_one_row_per_person``;
    one Spark job, ``distributed.persons_on_more_rows``)."""
    frame = ctx.read_optional("cohort", "analysis_frame")
    if frame is None:
        raise InputDataError("analysis frame not found (run the cohort stage first)",
                             where=ctx.table_path("cohort", "analysis_frame"))
    persons, in_two_datasets, repeated = persons_on_more_rows(frame)
    if persons == 0:
        raise InputDataError("analysis frame has no rows", where=ctx.table_path("cohort", "analysis_frame"))
    check_one_row_per_person(in_two_datasets, repeated)
    return frame


def run(ctx: StageContext) -> dict[str, int]:
    """Fit the logistic (and Cox) grids, derive the cross-model tables, publish; rows per table."""
    cfg = ctx.cfg
    frame = load_analysis_frame(ctx)
    logistic = logistic_grid_spark(frame, cfg)
    log.info("models: %d datasets, %d definitions", logistic["dataset"].nunique(), logistic["definition"].nunique())
    _log_fits("logistic", logistic, "n_cases", cfg.report.small_count_threshold)
    warn_covariates_without_values("logistic", logistic)
    warn_collinear_covariates("logistic", logistic)
    tables: dict[str, tuple[pd.DataFrame, TableSchema]] = {"logistic": (logistic, LOGISTIC_RESULTS)}
    # A converged fit without a usable estimate is left out of the tables built on the fits.
    n_unusable = warn_unusable(logistic, "logistic")
    out_of_range = {"logistic": warn_ratio_out_of_range("logistic", logistic, "n_cases",
                                                        cfg.report.small_count_threshold)}
    meta = meta_table(logistic, cfg)
    tables.update({
        "difference": (difference_table(logistic), DIFFERENCE),
        "replication": (replication_table(logistic, cfg), REPLICATION),
        "meta": (meta, META),
        "consistency": (consistency_table(meta), CONSISTENCY),
    })
    if cfg.models.cox:
        cox = cox_grid_spark(frame, cfg)
        _log_fits("cox", cox, "n_events", cfg.report.small_count_threshold)
        warn_covariates_without_values("cox", cox)
        warn_collinear_covariates("cox", cox)
        out_of_range["cox"] = warn_ratio_out_of_range("cox", cox, "n_events", cfg.report.small_count_threshold)
        tables["cox"] = (cox, COX_RESULTS)
        tables["km_curves"] = (km_curves_spark(frame, cfg), KM_CURVES)

    check_published_estimates(tables)
    out_of_range["meta"] = int(meta["note"].fillna("").astype(str).str.contains(META_OUT_OF_RANGE_NOTE,
                                                                                  regex=False).sum())
    written: dict[str, int] = {}
    with ctx.publish() as writer:
        for name, (table, schema) in tables.items():
            written[name] = writer.write_pandas(name, table, schema)
        writer.write_text("logistic.tsv", to_tsv(logistic))
        writer.notes["logistic_failed"] = int((~logistic["converged"].astype(bool)).sum())
        writer.notes["logistic_converged_unusable"] = n_unusable
        # Fits (and meta rows) whose ratio or a CI bound is infinite or 0: estimates withheld.
        writer.notes["ratio_out_of_range"] = out_of_range
        if "cox" in tables:
            cox = tables["cox"][0]
            writer.write_text("cox.tsv", to_tsv(cox))
            writer.notes["cox_failed"] = int((~cox["converged"].astype(bool)).sum())
    return written
