"""Models stage: analysis frame -> ``logistic`` and ``cox`` result tables (+ TSV copies).

Reads ``{release}/cohort/analysis_frame.parquet`` and publishes ``{release}/models/`` with
``logistic.parquet``, ``cox.parquet`` (when ``cfg.models.cox``), ``logistic.tsv`` and
``cox.tsv``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from trd_spark.config import Config
from trd_spark.errors import InputDataError
from trd_spark.io import Fs, read_table
from trd_spark.layout import Layout, publish_stage
from trd_spark.models.cox import cox_grid
from trd_spark.models.logistic import logistic_grid
from trd_spark.schemas import COX_RESULTS, LOGISTIC_RESULTS, TableSchema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


def to_tsv(results: pd.DataFrame) -> str:
    """Tab-separated text with a header; NaN as empty, full float precision."""
    return results.to_csv(sep="\t", index=False, na_rep="", lineterminator="\n")


def results_to_spark(spark: "SparkSession", results: pd.DataFrame, schema: TableSchema) -> "DataFrame":
    """A (small) result frame as a Spark DataFrame with the declared types; NaN -> null.

    Failed fits have null estimates in Parquet (NaN would poison Spark aggregates).
    """
    pdf = results[schema.names].astype(object)
    pdf = pdf.where(pdf.notna(), None)
    return spark.createDataFrame(list(pdf.itertuples(index=False, name=None)), schema.struct)


def _log_fits(what: str, results: pd.DataFrame) -> None:
    failed = results[~results["converged"].astype(bool)]
    log.info("%s: %d fits, %d failed", what, len(results), len(failed))
    for note, k in failed["note"].value_counts().items():
        log.info("  %s failures: %d x %s", what, k, note)


def load_analysis_frame(spark: "SparkSession", cfg: Config) -> pd.DataFrame:
    """The cohort stage's analysis frame as pandas (aggregated, model-ready: small)."""
    path = Layout.of(cfg).table("cohort", "analysis_frame")
    if not Fs(spark).exists(path):
        raise InputDataError("analysis frame not found (run the cohort stage first)", where=path)
    frame = read_table(spark, path).toPandas()
    if frame.empty:
        raise InputDataError("analysis frame has no rows", where=path)
    return frame


def run(spark: "SparkSession", cfg: Config) -> dict[str, int]:
    """Fit the logistic (and Cox) grids and publish the models stage; returns rows per table."""
    frame = load_analysis_frame(spark, cfg)
    log.info(
        "models: analysis frame with %d rows, %d datasets, %d definitions",
        len(frame), frame["dataset"].nunique(), frame["definition"].nunique(),
    )
    logistic = logistic_grid(frame, cfg)
    _log_fits("logistic", logistic)
    cox = cox_grid(frame, cfg) if cfg.models.cox else None
    if cox is not None:
        _log_fits("cox", cox)

    written: dict[str, int] = {}
    path = Layout.of(cfg).table("cohort", "analysis_frame")
    with publish_stage(spark, cfg, "models", fingerprint_inputs={"analysis_frame": path}) as writer:
        written["logistic"] = writer.write_table(
            "logistic", results_to_spark(spark, logistic, LOGISTIC_RESULTS).coalesce(1), LOGISTIC_RESULTS)
        writer.write_text("logistic.tsv", to_tsv(logistic))
        if cox is not None:
            written["cox"] = writer.write_table("cox", results_to_spark(spark, cox, COX_RESULTS).coalesce(1), COX_RESULTS)
            writer.write_text("cox.tsv", to_tsv(cox))
        writer.notes["logistic_failed"] = int((~logistic["converged"].astype(bool)).sum())
        if cox is not None:
            writer.notes["cox_failed"] = int((~cox["converged"].astype(bool)).sum())
    return written
