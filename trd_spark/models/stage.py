"""Models stage: analysis frame -> model tables (+ TSV copies of the main ones).

Reads ``{release}/cohort/analysis_frame.parquet`` and publishes ``{release}/models/``:
``logistic`` (+ .tsv), ``difference``, ``replication``, ``meta``, ``consistency`` and, when
``cfg.models.cox``, ``cox`` (+ .tsv) and ``km_curves``. The fits run on the executors
(models/distributed.py); the cross-model tables are computed on the driver from the small
logistic table (models/synthesis.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from trd_spark.errors import InputDataError
from trd_spark.io import to_tsv
from trd_spark.models.distributed import cox_grid_spark, km_curves_spark, logistic_grid_spark
from trd_spark.models.synthesis import consistency_table, difference_table, meta_table, replication_table
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

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from trd_spark.stages import StageContext

log = logging.getLogger(__name__)


def _log_fits(what: str, results: pd.DataFrame) -> None:
    failed = results[~results["converged"].astype(bool)]
    log.info("%s: %d fits, %d failed", what, len(results), len(failed))
    for reason, k in failed["failure_reason"].value_counts().items():
        log.info("  %s failures: %d x %s", what, k, reason)


def load_analysis_frame(ctx: StageContext) -> DataFrame:
    """The cohort stage's analysis frame (Spark; the fits read it group by group). Raises
    InputDataError naming its path when it is absent or has no rows."""
    frame = ctx.read_optional("cohort", "analysis_frame")
    if frame is None:
        raise InputDataError("analysis frame not found (run the cohort stage first)",
                             where=ctx.table_path("cohort", "analysis_frame"))
    if frame.limit(1).count() == 0:
        raise InputDataError("analysis frame has no rows", where=ctx.table_path("cohort", "analysis_frame"))
    return frame


def run(ctx: StageContext) -> dict[str, int]:
    """Fit the logistic (and Cox) grids, derive the cross-model tables, publish; rows per table."""
    cfg = ctx.cfg
    frame = load_analysis_frame(ctx)
    logistic = logistic_grid_spark(frame, cfg)
    log.info("models: %d datasets, %d definitions", logistic["dataset"].nunique(), logistic["definition"].nunique())
    _log_fits("logistic", logistic)
    tables: dict[str, tuple[pd.DataFrame, TableSchema]] = {"logistic": (logistic, LOGISTIC_RESULTS)}
    meta = meta_table(logistic, cfg)
    tables.update({
        "difference": (difference_table(logistic), DIFFERENCE),
        "replication": (replication_table(logistic, cfg), REPLICATION),
        "meta": (meta, META),
        "consistency": (consistency_table(meta), CONSISTENCY),
    })
    if cfg.models.cox:
        cox = cox_grid_spark(frame, cfg)
        _log_fits("cox", cox)
        tables["cox"] = (cox, COX_RESULTS)
        tables["km_curves"] = (km_curves_spark(frame, cfg), KM_CURVES)

    written: dict[str, int] = {}
    with ctx.publish() as writer:
        for name, (table, schema) in tables.items():
            written[name] = writer.write_pandas(name, table, schema)
        writer.write_text("logistic.tsv", to_tsv(logistic))
        writer.notes["logistic_failed"] = int((~logistic["converged"].astype(bool)).sum())
        if "cox" in tables:
            cox = tables["cox"][0]
            writer.write_text("cox.tsv", to_tsv(cox))
            writer.notes["cox_failed"] = int((~cox["converged"].astype(bool)).sum())
    return written
