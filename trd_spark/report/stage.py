"""Report stage: the study's results as one self-contained HTML page plus TSV tables.

Reads the published stages of a release (optional tables such as meta-analysis, replication
or Kaplan-Meier curves are shown when the models stage wrote them and skipped otherwise) and
publishes the same files twice: ``{release}/report/`` and ``{release}/export/``, the only
folder meant to leave the cluster. Every participant count in them is suppressed and audited
(``trd_spark.report.tables``); PGS distributions are aggregated in Spark (quantiles per
dataset x ancestry group, groups under the threshold dropped); Kaplan-Meier curves are cut
where fewer than the threshold remain at risk. No person ID, sample ID or individual date is
read into the report.
"""

from __future__ import annotations

import logging
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trd_spark.config import Config
from trd_spark.errors import InputDataError
from trd_spark.io import Fs, read_table
from trd_spark.layout import EXPORT, STAGES, Layout, code_version, publish_stage
from trd_spark.models.stage import to_tsv
from trd_spark.report.html import (
    distribution_svg, figure, forest_plot_svg, html_table, km_legend, km_svg, render_page, scatter_svg, significance_svg,
)
from trd_spark.report.tables import ReleaseCounts, km_for_export, suppress_release
from trd_spark.schemas import COHORT_FLOW, PGS_MATCH_SUMMARY

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

FOREST_CONTRAST = "trd_vs_nonmdd"
CONTRAST_LABELS = {"trd_vs_nonmdd": "TRD vs non-MDD", "trmdd_vs_nonmdd": "trMDD vs non-MDD",
                   "trd_vs_trmdd": "TRD vs trMDD", "mdd_vs_nonmdd": "MDD vs non-MDD"}
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
OPTIONAL_MODEL_TABLES = ("cox", "difference", "replication", "meta", "consistency", "km_curves")


def forest_rows(results: pd.DataFrame, cfg: Config, contrast: str = FOREST_CONTRAST) -> tuple[pd.DataFrame, str]:
    """A forest plot's rows: discovery dataset, primary definition, one contrast."""
    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    definition = cfg.phenotypes.primary_definition
    rows = results[
        (results["dataset"] == discovery) & (results["definition"] == definition) & (results["contrast"] == contrast)
    ]
    title = f"{CONTRAST_LABELS.get(contrast, contrast)}: {discovery} dataset, definition {definition}, by domain"
    return rows, title


def pgs_distribution(frame: "DataFrame", pgs_ids: list[str], definition: str) -> pd.DataFrame:
    """Per dataset x ancestry group x PGS: n, mean, sd and quantiles of the PGS (per SD),
    computed in Spark (one definition's rows, so each person counts once). Only aggregates
    reach the driver."""
    from pyspark.sql import functions as F

    have = [p for p in pgs_ids if p in frame.columns]
    if not have:
        return pd.DataFrame(columns=["dataset", "ancestry", "pgs_id", "n", "mean", "sd", "p05", "p25", "p50", "p75", "p95"])
    stack = "stack({}, {}) as (pgs_id, value)".format(
        len(have), ", ".join(f"'{p}', cast(`{p}` as double)" for p in have))
    long = (frame.where(F.col("definition") == definition)
            .select("dataset", F.coalesce(F.col("ancestry"), F.lit("unknown")).alias("ancestry"), F.expr(stack))
            .where(F.col("value").isNotNull()))
    agg = long.groupBy("dataset", "ancestry", "pgs_id").agg(
        F.count("*").alias("n"), F.mean("value").alias("mean"), F.stddev("value").alias("sd"),
        F.percentile_approx("value", list(QUANTILES), 10000).alias("q"))
    pdf = agg.toPandas()
    for i, name in enumerate(["p05", "p25", "p50", "p75", "p95"]):
        pdf[name] = pdf["q"].map(lambda q, i=i: float(q[i]) if q is not None else np.nan)
    pdf = pdf.drop(columns="q").sort_values(["dataset", "ancestry", "pgs_id"], kind="mergesort")
    return pdf.reset_index(drop=True)


def _read(spark: "SparkSession", path: str, what: str, required: bool = True) -> pd.DataFrame | None:
    if not Fs(spark).exists(path):
        if required:
            raise InputDataError(f"{what} not found (run the stage that writes it first)", where=path)
        return None
    return read_table(spark, path).toPandas()


def match_rates(match: pd.DataFrame) -> pd.DataFrame:
    """Matched variants per score (rows) and dataset (columns): "n_matched / n_variants (pct%)"."""
    m = match.assign(shown=[f"{a} / {b} ({f:.0%})" for a, b, f in
                            zip(match["n_matched"], match["n_variants"], match["matched_fraction"])])
    wide = m.pivot_table(index=["domain", "trait", "pgs_id"], columns="dataset", values="shown", aggfunc="first")
    return wide.reset_index().rename_axis(columns=None)


def methods_html(cfg: Config, versions: dict, threshold: int) -> str:
    """Methods generated from the config and the recorded versions."""
    ph = cfg.phenotypes
    defs = []
    for d in ph.trd_definitions:
        if d.rule == "antidepressant_sequence":
            text = f"start of the {d.n_trials}th adequate trial of a distinct antidepressant"
        elif d.rule == "augmentation":
            text = f"{d.n_trials} adequate trials, then an augmentation agent ({d.augmentation_concept_set})"
        else:
            text = "a somatic treatment (" + ", ".join(d.somatic_concept_sets) + ")"
        defs.append(f"<li><b>{d.name}</b>{' (primary)' if d.name == ph.primary_definition else ''}: {text}</li>")
    ds = ", ".join(f"{d.name} ({d.role}, {d.genotypes.format}, {d.genotypes.reference_genome})" for d in cfg.datasets)
    cov = cfg.covariates
    items = {
        "Release": cfg.release,
        "Datasets": ds,
        "EHR data cutoff": str(cfg.omop.data_cutoff_date),
        "MDD": (f"at least {ph.mdd.min_diagnoses} diagnoses ({ph.mdd.concept_set}) on distinct dates, age "
                f"&ge; {ph.mdd.min_age_at_index} at the first; excluded: {', '.join(ph.mdd.exclude_concept_sets)}; "
                f"controls: no {ph.mdd.control_exclusion_concept_set} diagnosis and no antidepressant ever"),
        "Adequate antidepressant trial": (
            f"exposures of one ingredient merged across gaps &le; {ph.trials.persistence_gap_days} days, lasting "
            f"&ge; {ph.trials.min_trial_days} days (missing days' supply: {ph.trials.default_days_supply})"),
        "TRD definitions": "<ul>" + "".join(defs) + "</ul>",
        "trMDD": f"MDD with an adequate trial, not TRD, followed &ge; {ph.trmdd_min_followup_days} days",
        "PGS": (f"scoring files matched by position and alleles (strand-ambiguous "
                f"{'kept' if cfg.pgs.keep_ambiguous else 'dropped'}), minimum overlap {cfg.pgs.min_overlap:.0%}, "
                f"missing genotypes {cfg.pgs.missing_genotypes.replace('_', ' ')}; scores per SD"),
        "Models": (f"logistic regression per SD of PGS for contrasts {', '.join(cfg.models.contrasts)}, adjusted for "
                   f"{'age, ' if cov.age else ''}{'sex, ' if cov.sex else ''}{cov.n_pcs} PCs; Bonferroni and "
                   f"Benjamini-Hochberg within dataset x definition x contrast, alpha {cfg.models.alpha}"
                   + ("; Cox proportional hazards from MDD index to TRD" if cfg.models.cox else "")),
        "Disclosure control": (f"counts 1-{threshold - 1} shown as &lt;{threshold}; secondary suppression audited "
                               "against totals, complements and consecutive cohort-flow steps; PGS quantiles only for "
                               f"groups of &ge; {threshold}; Kaplan-Meier curves cut below {threshold} at risk"),
        "Software": ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        "Config hash": cfg.fingerprint()[:16],
    }
    return '<dl class="methods">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items.items()) + "</dl>"


def _details(inner: str, summary: str) -> str:
    return f"<details><summary>{summary}</summary>{inner}</details>"


def build_report(cfg: Config, t: dict[str, pd.DataFrame | None], versions: dict) -> dict[str, str]:
    """All exported files {name: text} from the release's (internal) tables. Pure."""
    threshold = cfg.report.small_count_threshold
    domains = list(cfg.trait_panel.domains) if cfg.trait_panel else []
    traits = dict(zip(t["match_summary"]["pgs_id"], t["match_summary"]["trait"]))
    rc = ReleaseCounts(
        cohort_flow=t["cohort_flow"], cohort_counts=t.get("cohort_counts"), logistic=t["logistic"],
        cox=t.get("cox"), pgs_distribution=t.get("pgs_distribution"),
        primary_definition=cfg.phenotypes.primary_definition,
    )
    safe = suppress_release(rc, threshold)
    files: dict[str, pd.DataFrame] = {
        "cohort_flow.tsv": safe["cohort_flow"],
        "match_rates.tsv": t["match_summary"][["dataset", "pgs_id", "trait", "domain", "n_variants", "n_matched",
                                               "matched_fraction"]],
        "results.tsv": safe["logistic"],
    }
    for name in ("cohort_counts", "cox", "pgs_distribution"):
        if name in safe:
            files[f"{name}.tsv"] = safe[name]
    for name in ("difference", "replication", "meta", "consistency"):
        if t.get(name) is not None:
            files[f"{name}.tsv"] = t[name]
    km = km_for_export(t["km_curves"], threshold) if t.get("km_curves") is not None else None
    if km is not None:
        files["km_curves.tsv"] = km

    sections: list[tuple[str, str, str]] = []
    flow_html = html_table(safe["cohort_flow"], "Persons remaining after each step (per TRD definition)")
    if "cohort_counts" in safe:
        cc = safe["cohort_counts"].pivot_table(index=["dataset", "definition"], columns="status", values="n",
                                               aggfunc="first").reset_index().rename_axis(columns=None)
        flow_html += html_table(cc, "Analysed persons by status (genotyped, unrelated)")
    sections.append(("cohort", "Cohort flow", flow_html))
    sections.append(("matching", "PGS variant matching", html_table(
        match_rates(t["match_summary"]), "Variants matched / in the scoring file, per dataset (variant counts)")))
    if "pgs_distribution" in safe:
        dist = safe["pgs_distribution"]
        figs = "".join(figure(distribution_svg(g, title=f"PGS by genetic ancestry group: {ds}", traits=traits),
                              f"{ds}: PGS per SD by ancestry group (groups under {threshold} persons not shown)")
                       for ds, g in dist.groupby("dataset", sort=True))
        sections.append(("distributions", "PGS distributions by ancestry group", figs + _details(
            html_table(dist, "Quantiles of the PGS per SD"), "table")))

    logistic = t["logistic"]
    forests = []
    for contrast in cfg.models.contrasts:
        rows, title = forest_rows(logistic, cfg, contrast)
        if len(rows):
            forests.append(figure(forest_plot_svg(rows, domains=domains, title=title),
                                  "Odds ratio per SD of PGS with 95% CI, adjusted for the covariates"))
    sections.append(("forest", "Associations by domain (forest plots)", "".join(forests)))

    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    primary = cfg.phenotypes.primary_definition
    sel = logistic[(logistic["dataset"] == discovery) & (logistic["definition"] == primary)]
    n_pgs = max(int(sel.groupby("contrast")["pgs_id"].nunique().max()) if len(sel) else 1, 1)
    bonf = cfg.models.alpha / n_pgs
    sections.append(("significance", "Significance overview", figure(
        significance_svg(sel, domains=domains, contrasts=list(cfg.models.contrasts), bonferroni_p=bonf,
                         title=f"All PGS by domain: {discovery}, definition {primary}"),
        f"-log10 p per PGS and contrast; dashed line: Bonferroni threshold alpha/{n_pgs}")))
    sections.append(("logistic", "Logistic regression results", _details(html_table(
        safe["logistic"], "PGS per SD vs case status; corrections within dataset x definition x contrast"),
        f"all {len(safe['logistic'])} models")))
    if t.get("difference") is not None:
        sections.append(("difference", "TRD vs trMDD: difference of log ORs", _details(
            html_table(t["difference"], "z-test of beta_trd - beta_trmdd"), f"{len(t['difference'])} rows")))
    if t.get("replication") is not None:
        sections.append(("replication", "Replication", html_table(
            t["replication"], "Discovery-significant results in each replication dataset")))
    if t.get("meta") is not None:
        meta = t["meta"]
        show = meta[(meta["definition"] == primary)]
        sections.append(("meta", "Meta-analysis across datasets", html_table(
            show, f"Inverse-variance meta-analysis, definition {primary}; Cochran's Q, I\u00b2")
            + _details(html_table(meta, "All definitions"), "all definitions")))

    scatter = _consistency_figures(cfg, logistic, t.get("meta"), t.get("consistency"))
    if scatter:
        sections.append(("consistency", "Consistency across TRD definitions", scatter))

    prog = ""
    if km is not None and len(km):
        sub = km[(km["dataset"] == discovery) & (km["definition"] == primary)]
        prog += km_legend() + '<div class="figs">' + "".join(
            km_svg(g, title=f"{traits.get(p, p)}") for p, g in sub.groupby("pgs_id", sort=True)) + "</div>"
        prog += (f'<p class="note">Kaplan-Meier probability of staying TRD-free by PGS third ({discovery}, '
                 f"definition {primary}); curves end where fewer than {threshold} persons remain at risk.</p>")
    if "cox" in safe:
        cox = safe["cox"]
        main = cox[(cox["dataset"] == discovery) & (cox["definition"] == primary)]
        prog += html_table(main, f"Cox PH: time from MDD index to TRD per SD of PGS ({discovery}, definition {primary})")
        prog += _details(html_table(cox, "Cox PH, all datasets and definitions"), f"all {len(cox)} models")
    if prog:
        sections.append(("progression", "Progression from MDD to TRD", prog))
    sections.append(("methods", "Methods", methods_html(cfg, versions, threshold)))

    page = render_page(release=cfg.release, sections=sections, threshold=threshold,
                       meta={"config hash": cfg.fingerprint()[:12], "code version": code_version()})
    out = {name: to_tsv(df) for name, df in files.items()}
    out["report.html"] = page
    return out


def _consistency_figures(cfg: Config, logistic: pd.DataFrame, meta: pd.DataFrame | None,
                         consistency: pd.DataFrame | None) -> str:
    """Scatter of log ORs (TRD vs non-MDD) between each pair of TRD definitions: fixed-effect
    meta estimates when present, else the discovery dataset's."""
    names = [d.name for d in cfg.phenotypes.trd_definitions]
    if len(names) < 2:
        return ""
    if meta is not None and len(meta):
        src = meta[(meta["method"] == "fixed") & (meta["contrast"] == FOREST_CONTRAST)]
        what = "fixed-effect meta-analysis"
    else:
        discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
        src = logistic[(logistic["dataset"] == discovery) & (logistic["contrast"] == FOREST_CONTRAST)]
        what = "discovery dataset"
    wide = src.pivot_table(index=["pgs_id", "trait"], columns="definition", values="beta").reset_index()
    figs = []
    for a, b in combinations(names, 2):
        if a not in wide or b not in wide:
            continue
        r2 = None
        if consistency is not None and len(consistency):
            hit = consistency[(consistency["contrast"] == FOREST_CONTRAST)
                              & (((consistency["definition_a"] == a) & (consistency["definition_b"] == b))
                                 | ((consistency["definition_a"] == b) & (consistency["definition_b"] == a)))]
            r2 = float(hit["r2"].iloc[0]) if len(hit) else None
        if r2 is None:
            ok = wide[[a, b]].dropna()
            r2 = float(np.corrcoef(ok[a], ok[b])[0, 1] ** 2) if len(ok) > 2 else None
        figs.append(scatter_svg(wide[a], wide[b], labels=list(wide["trait"]), x_label=f"log OR, {a}",
                                y_label=f"log OR, {b}", r2=r2, title=f"{a} vs {b}"))
    note = f'<p class="note">Log OR per SD of PGS, TRD vs non-MDD ({what}); dashed: identity line.</p>'
    return ('<div class="figs">' + "".join(figs) + "</div>" + note) if figs else ""


def _versions(fs: Fs, layout: Layout) -> dict:
    """Library versions recorded in the upstream stages' manifests (plus this code's version)."""
    out: dict = {}
    for stage in STAGES:
        m = layout.manifest(fs, stage) if layout.is_complete(fs, stage) else None
        if m:
            out.update(m.get("versions") or {})
    out["trd_spark"] = code_version()
    return out


def run(spark: "SparkSession", cfg: Config) -> dict[str, str]:
    """Build the report from published stage outputs; publish ``report/`` and ``export/``.

    Returns {file name: published path under report/}."""
    layout = Layout.of(cfg)
    fs = Fs(spark)
    paths = {
        "logistic": layout.table("models", "logistic"),
        "cohort_flow": layout.table("phenotypes", "cohort_flow"),
        "match_summary": layout.table("pgs", "match_summary"),
    }
    optional = {name: layout.table("models", name) for name in OPTIONAL_MODEL_TABLES}
    optional["cohort_counts"] = layout.table("cohort", "cohort_counts")
    t: dict[str, pd.DataFrame | None] = {
        "logistic": _read(spark, paths["logistic"], "logistic results"),
        "cohort_flow": _read(spark, paths["cohort_flow"], "cohort flow")[COHORT_FLOW.names],
        "match_summary": _read(spark, paths["match_summary"], "PGS match summary")[PGS_MATCH_SUMMARY.names]
        .sort_values(["dataset", "pgs_id"], kind="mergesort"),
    }
    for name, path in optional.items():
        if name == "cox" and not cfg.models.cox:
            continue
        t[name] = _read(spark, path, name, required=False)
        if t[name] is not None:
            paths[name] = path
    flow = t["cohort_flow"]
    flow = flow.assign(_later=flow["definition"] != "all")
    t["cohort_flow"] = flow.sort_values(["_later", "definition", "step_order"], kind="mergesort").drop(columns="_later")
    frame_path = layout.table("cohort", "analysis_frame")
    if fs.exists(frame_path):
        pgs_ids = [e.pgs_id for e in cfg.trait_panel.scores] if cfg.trait_panel else []
        t["pgs_distribution"] = pgs_distribution(read_table(spark, frame_path), pgs_ids,
                                                 cfg.phenotypes.primary_definition)
        paths["analysis_frame"] = frame_path
    skipped = [n for n in OPTIONAL_MODEL_TABLES if t.get(n) is None]
    if skipped:
        log.info("report: optional tables not present, sections skipped: %s", ", ".join(skipped))

    files = build_report(cfg, t, _versions(fs, layout))
    log.info("report: %d files (%s)", len(files), ", ".join(sorted(files)))
    for stage in ("report", EXPORT):
        with publish_stage(spark, cfg, stage) as writer:
            for name, text in files.items():
                writer.write_text(name, text)
            writer.notes["small_count_threshold"] = cfg.report.small_count_threshold
    return {name: layout.file("report", name) for name in files}

