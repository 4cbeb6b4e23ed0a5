"""Report stage: model results, cohort flow and match summary -> suppressed TSVs + report.html.

Publishes ``{release}/report/`` with ``results.tsv`` (logistic), ``cox.tsv`` (when Cox was
run), ``cohort_flow.tsv`` and ``report.html``. Every participant count is suppressed
(1..threshold-1 -> "<threshold"); variant counts in the match summary are not participant
counts and are shown as they are.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from trd_spark.config import Config
from trd_spark.errors import InputDataError
from trd_spark.io import Fs, read_table
from trd_spark.layout import Layout, publish_stage
from trd_spark.models.stage import to_tsv
from trd_spark.report.html import forest_plot_svg, render_report
from trd_spark.report.suppression import suppress_complement, suppress_small_counts
from trd_spark.schemas import COHORT_FLOW, COX_RESULTS_COLUMNS, LOGISTIC_RESULTS_COLUMNS, PGS_MATCH_SUMMARY

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

FOREST_CONTRAST = "trd_vs_nonmdd"


def suppressed_logistic(results: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Logistic rows with n and n_cases suppressed (n also when n - n_cases, the controls, is small)."""
    out = suppress_complement(results, "n", "n_cases", threshold)
    return suppress_small_counts(out, ["n", "n_cases"], threshold)


def suppressed_cox(results: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Cox rows with n and n_events suppressed (n also when the censored count is small)."""
    out = suppress_complement(results, "n", "n_events", threshold)
    return suppress_small_counts(out, ["n", "n_events"], threshold)


def forest_rows(results: pd.DataFrame, cfg: Config) -> tuple[pd.DataFrame, str]:
    """The forest plot's rows: discovery dataset, primary definition, TRD vs non-MDD."""
    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    definition = cfg.phenotypes.primary_definition
    rows = results[
        (results["dataset"] == discovery)
        & (results["definition"] == definition)
        & (results["contrast"] == FOREST_CONTRAST)
    ]
    title = f"TRD vs non-MDD: {discovery} dataset, definition {definition}, by domain"
    return rows, title


def _read(spark: "SparkSession", path: str, what: str) -> pd.DataFrame:
    if not Fs(spark).exists(path):
        raise InputDataError(f"{what} not found (run the stage that writes it first)", where=path)
    return read_table(spark, path).toPandas()


def run(spark: "SparkSession", cfg: Config) -> dict[str, str]:
    """Build the report from published stage outputs; returns {file name: published path}."""
    layout = Layout.of(cfg)
    threshold = cfg.report.small_count_threshold
    paths = {
        "logistic": layout.table("models", "logistic"),
        "cohort_flow": layout.table("phenotypes", "cohort_flow"),
        "match_summary": layout.table("pgs", "match_summary"),
    }
    if cfg.models.cox:
        paths["cox"] = layout.table("models", "cox")
    logistic = _read(spark, paths["logistic"], "logistic results")[LOGISTIC_RESULTS_COLUMNS]
    cox = _read(spark, paths["cox"], "Cox results")[COX_RESULTS_COLUMNS] if cfg.models.cox else None
    flow = _read(spark, paths["cohort_flow"], "cohort flow")[COHORT_FLOW.names]
    # Steps shared by all definitions first, then each definition's steps in order.
    flow = flow.assign(_later=flow["definition"] != "all")
    flow = flow.sort_values(["_later", "definition", "step_order"], kind="mergesort").drop(columns="_later")
    match = _read(spark, paths["match_summary"], "PGS match summary")[PGS_MATCH_SUMMARY.names]
    match = match.sort_values(["dataset", "pgs_id"], kind="mergesort")

    results_out = suppressed_logistic(logistic, threshold)
    cox_out = suppressed_cox(cox, threshold) if cox is not None else None
    flow_out = suppress_small_counts(flow, ["n"], threshold)

    rows, title = forest_rows(logistic, cfg)
    domains = cfg.trait_panel.domains if cfg.trait_panel else []
    svg = forest_plot_svg(rows, domains=domains, title=title)
    page = render_report(
        release=cfg.release, forest_title=title, forest_svg=svg, results=results_out, cox=cox_out,
        cohort_flow=flow_out, match_summary=match, threshold=threshold,
        meta={"config": cfg.source_path or "", "config hash": cfg.fingerprint()[:12]},
    )
    log.info("report: %d logistic rows, forest plot with %d PGS", len(results_out), len(rows))

    files = {"results.tsv": to_tsv(results_out), "cohort_flow.tsv": to_tsv(flow_out), "report.html": page}
    if cox_out is not None:
        files["cox.tsv"] = to_tsv(cox_out)
    with publish_stage(spark, cfg, "report", fingerprint_inputs=paths) as writer:
        for name, text in files.items():
            writer.write_text(name, text)
    return {name: layout.file("report", name) for name in files}
