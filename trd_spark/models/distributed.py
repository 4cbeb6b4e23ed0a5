"""The model grids on Spark: one ``applyInPandas`` task per group, the same pure fit functions.

Logistic: groups (dataset, definition, contrast), made by cross-joining the analysis frame with
the configured contrasts, so a contrast with no persons still gives its failed rows as in the
serial loop. Cox and Kaplan-Meier: groups (dataset, definition). Each group arrives on an
executor as a pandas frame, is put in person_id order (as the serial path does) and handed to
``logistic_task`` / ``cox_group`` / ``km_group``; the small result tables come back to the
driver, where the family-wise corrections are made. Results equal ``logistic_grid`` /
``cox_grid`` on the same frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from trd_spark.config import Config
from trd_spark.models.covariates import (
    AGE_COLUMNS,
    COX_AGE,
    COX_DURATION,
    COX_EVENT,
    SEX,
    STATUS_VALUE_COUNTS,
    covariate_columns,
)
from trd_spark.models.cox import DURATION, EVENT, cox_group
from trd_spark.models.km import km_group
from trd_spark.models.logistic import (
    check_analysis_columns,
    finish_logistic,
    finish_order,
    logistic_task,
    model_panel,
    warn_absent,
)
from trd_spark.schemas import COX_RESULTS, KM_CURVES, LOGISTIC_RESULTS, TableSchema
from trd_spark.vocabulary import MDD_STATUSES

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

GROUP = ["dataset", "definition"]


def _model_columns(frame: DataFrame, cfg: Config, extra: tuple[str, ...] = (), *, age: str = "age") -> list[str]:
    """Check the frame (columns, status values, the age covariates' ranges: ``logistic.
    check_analysis_columns``) and return the columns the models read
    (``age``: the age column of the models, see ``covariates.covariate_columns``)."""
    from pyspark.sql import functions as F

    covariates = covariate_columns(cfg, age=age)
    # The distinct statuses, the age covariates' ranges and covariates.status_value_counts in one job
    # (per status, then combined). NaN as null: Spark orders NaN above every number, so a NaN would
    # hide the largest age (and pass as a duration >= 0).
    def number(c: str) -> Column:
        return F.nanvl(F.col(c).cast("double"), F.lit(None).cast("double")) if c in frame.columns \
            else F.lit(None).cast("double")

    ages = [c for c in covariates if c in AGE_COLUMNS and c in frame.columns]
    value = {c: number(c) for c in ages}
    sex, duration, event = number(SEX), number(COX_DURATION), number(COX_EVENT)
    meets = {"sex_ok": sex.isin(0.0, 1.0), "duration_ok": duration >= 0, "event_1": event == 1.0,
             "event_0": event == 0.0}
    rows = frame.groupBy("status").agg(F.count(F.lit(1)).alias("n"), *[F.min(value[c]).alias(f"min_{c}") for c in ages],
                                       *[F.max(value[c]).alias(f"max_{c}") for c in ages],
                                       *[F.sum(value[c].isNull().cast("long")).alias(f"null_{c}") for c in ages],
                                       *[F.sum(F.coalesce(m, F.lit(False)).cast("long")).alias(k)
                                         for k, m in meets.items()]).collect() \
        if "status" in frame.columns else []
    counts = {r["status"]: {k: int(r[k]) for k in STATUS_VALUE_COUNTS} for r in rows if r["status"] is not None}
    statuses = [r["status"] for r in rows if r["status"] is not None]
    ranges = {c: (min((float(r[f"min_{c}"]) for r in rows if r[f"min_{c}"] is not None), default=None),
                  max((float(r[f"max_{c}"]) for r in rows if r[f"max_{c}"] is not None), default=None)) for c in ages}
    # covariates.age_columns_missing's rule: the Cox age is needed by the MDD statuses only
    missing = [c for c in ages if any(r[f"null_{c}"] for r in rows if c != COX_AGE or r["status"] in MDD_STATUSES)]
    check_analysis_columns(frame.columns, statuses, covariates, extra, age_ranges=ranges, age_missing=missing,
                           status_counts=counts)
    panel = model_panel(cfg)
    warn_absent(panel, frame.columns)
    pgs = [e.pgs_id for e in panel if e.pgs_id in frame.columns]
    keep = [*GROUP, "person_id", "status", *extra, *covariates, *pgs]
    return [c for c in dict.fromkeys(keep) if c in frame.columns]


def persons_on_more_rows(frame: DataFrame) -> tuple[int, int, int]:
    """(persons, persons in more than one dataset, persons with more than one row of one
    definition) of the Spark analysis frame, in one job: ``logistic.check_one_row_per_person``'s
    input (the pandas grids count the same in ``logistic.check_analysis_frame``)."""
    from pyspark.sql import functions as F

    per_person = frame.groupBy("person_id").agg(F.count(F.lit(1)).alias("rows"),
                                                F.countDistinct("definition").alias("definitions"),
                                                F.countDistinct("dataset").alias("datasets"))
    row = per_person.agg(F.count(F.lit(1)).alias("persons"),
                         F.sum((F.col("datasets") > 1).cast("long")).alias("in_two"),
                         F.sum((F.col("rows") > F.col("definitions")).cast("long")).alias("repeated")).first()
    assert row is not None  # a global aggregate has one row
    return int(row["persons"]), int(row["in_two"] or 0), int(row["repeated"] or 0)


def _collect(df: DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Collect a small result DataFrame; nulls in double columns as NaN, declared column order."""
    out = df.toPandas()
    for name, typ, _ in schema.columns:
        if typ.simpleString() == "double":
            out[name] = out[name].astype(float)
    return out[schema.names]


def logistic_grid_spark(frame: DataFrame, cfg: Config) -> pd.DataFrame:
    """``logistic_grid`` for a Spark analysis frame, fits spread over executors."""
    from pyspark.sql import functions as F

    columns = _model_columns(frame, cfg)
    covariates, panel, min_cases = covariate_columns(cfg), model_panel(cfg), cfg.models.min_cases
    spark = frame.sparkSession
    contrasts = spark.createDataFrame([(c,) for c in cfg.models.contrasts], "contrast string")
    tasks = frame.select(*columns).crossJoin(F.broadcast(contrasts))

    def fit(pdf: pd.DataFrame) -> pd.DataFrame:
        contrast = pdf["contrast"].iloc[0]
        return logistic_task(pdf.drop(columns="contrast"), contrast, panel=panel, covariates=covariates,
                             min_cases=min_cases)

    results = tasks.groupBy(*GROUP, "contrast").applyInPandas(fit, schema=LOGISTIC_RESULTS.struct)
    return finish_logistic(_collect(results, LOGISTIC_RESULTS), cfg)


def cox_grid_spark(frame: DataFrame, cfg: Config) -> pd.DataFrame:
    """``cox_grid`` for a Spark analysis frame, one task per (dataset, definition)."""
    columns = _model_columns(frame, cfg, extra=(DURATION, EVENT), age=COX_AGE)
    covariates, panel = covariate_columns(cfg, age=COX_AGE), model_panel(cfg)
    min_events, transform = cfg.models.min_cases, cfg.models.ph_time_transform

    def fit(pdf: pd.DataFrame) -> pd.DataFrame:
        return cox_group(pdf, panel=panel, covariates=covariates, min_events=min_events,
                         ph_time_transform=transform)

    results = frame.select(*columns).groupBy(*GROUP).applyInPandas(fit, schema=COX_RESULTS.struct)
    return finish_order(_collect(results, COX_RESULTS), cfg, ["dataset", "definition", "pgs_id"])


def km_curves_spark(frame: DataFrame, cfg: Config) -> pd.DataFrame:
    """Kaplan-Meier curves by PGS tertile (KM_CURVES) for every (dataset, definition, pgs_id)."""
    panel = model_panel(cfg)
    pgs = [e.pgs_id for e in panel if e.pgs_id in frame.columns]
    step = cfg.models.km_step_days

    def curves(pdf: pd.DataFrame) -> pd.DataFrame:
        return km_group(pdf, panel=panel, duration=DURATION, event=EVENT, step_days=step)

    cols = [*GROUP, "person_id", "status", DURATION, EVENT, *pgs]
    results = frame.select(*cols).groupBy(*GROUP).applyInPandas(curves, schema=KM_CURVES.struct)
    out = _collect(results, KM_CURVES)
    return finish_order(out, cfg, ["dataset", "definition", "pgs_id", "tertile", "time_days"])
