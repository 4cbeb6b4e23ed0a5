"""Report stage: the study's results as one self-contained HTML page plus TSV tables.

Reads the published stages of a release (optional tables such as meta-analysis, replication
or Kaplan-Meier curves are shown when the models stage wrote them and skipped otherwise) and
publishes the same files twice: ``{release}/report/`` and ``{release}/export/``, the only
folder meant to leave the cluster. Every participant count in them is suppressed and audited
(``trd_spark.report.tables``); PGS distributions are aggregated in Spark (quantiles per
dataset x ancestry group, groups under the threshold dropped); Kaplan-Meier curves keep only
steps of at least the threshold events and at risk (``models.km.coarsen_km``). No person ID,
sample ID or individual date is read into the report. ``export/`` carries its own manifest
(relative names and hashes, no paths; ``publish_export``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trd_spark.cohort.standardise import BEYOND_SD, fallback_fix, floor_set_by_pcs
from trd_spark.config import Config, is_uri
from trd_spark.errors import ConfigError, InputDataError, ModelError
from trd_spark.gates import known_levels
from trd_spark.io import Fs, to_tsv
from trd_spark.layout import (
    EXPORT,
    EXPORT_HISTORY,
    MANIFEST,
    PUBLISHED_WITH_RUN_ID,
    STAGES,
    SUCCESS,
    Layout,
    audit_root_problem,
    code_version,
    held_columns,
    made_by_same_run,
    manifest_field,
    publish_folder,
    read_manifest,
)
from trd_spark.models.covariates import COX_AGE, covariate_columns
from trd_spark.models.km import coarsen_km
from trd_spark.models.synthesis import non_finite_cells
from trd_spark.report.figures import (
    attrition_figure,
    distribution_figure,
    forest_data,
    forest_figure,
    km_figure,
    scatter_figure,
    significance_figure,
)
from trd_spark.report.html import figure, html_table, render_page, warning
from trd_spark.report.tables import (
    DATASET_DISTINCT_VALUES,
    DATASET_LARGEST_TIE,
    DISTINCT_VALUES,
    EXCESS_KURTOSIS,
    GATE_CELLS,
    GENOTYPED_WITHOUT_PERSON,
    HIDDEN_COUNTS_FORMAT,
    LARGEST_TIE,
    NEWER_RECORD_ADVICE,
    QUANTILE_LEVELS,
    RESIDUAL_COLUMNS,
    SKEWNESS,
    VALUE_MAX,
    VALUE_MIN,
    ReleaseCounts,
    checked_hidden_counts,
    hidden_counts,
    nested_definitions,
    prior_counts,
    prior_labels,
    prior_moments,
    prior_quantiles,
    prior_thresholds,
    shown_under_threshold,
    suppress_release,
)
from trd_spark.schemas import COHORT_FLOW
from trd_spark.vocabulary import (
    AFTER_EXCLUSION_PREFIX,
    ALL_DEFINITIONS,
    CONTRAST_STATUSES,
    EXCLUDED_PREFIX,
    MAX_PLAUSIBLE_AGE_YEARS,
    MDD_STATUSES,
    PLAUSIBLE_BIRTH_YEAR_LOW,
    Contrast,
    ExclusionReason,
    FitFailure,
    FlowStep,
    excluded_step,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from trd_spark.stages import StageContext

log = logging.getLogger(__name__)

FOREST_CONTRAST = Contrast.TRD_VS_NONMDD
CONTRAST_LABELS: dict[str, str] = {Contrast.TRD_VS_NONMDD: "TRD vs non-MDD", Contrast.TRMDD_VS_NONMDD: "trMDD vs non-MDD",
                   Contrast.TRD_VS_TRMDD: "TRD vs trMDD", Contrast.MDD_VS_NONMDD: "MDD vs non-MDD"}
OPTIONAL_MODEL_TABLES = ("cox", "difference", "replication", "meta", "consistency", "km_curves")


def forest_rows(results: pd.DataFrame, meta: pd.DataFrame | None, cfg: Config,
                contrast: str = FOREST_CONTRAST) -> tuple[pd.DataFrame, str]:
    """A forest plot's rows (``figures.forest_data``): every dataset (discovery first, then
    the replications in config order) and the fixed-effect meta-analysis, primary definition,
    one contrast, grouped by the trait panel's domains."""
    definition = cfg.phenotypes.primary_definition
    datasets = [d.name for d in sorted(cfg.datasets, key=lambda d: d.role != "discovery")]
    domains = list(cfg.trait_panel.domains) if cfg.trait_panel else []
    rows = forest_data(results, meta, contrast=contrast, definition=definition, datasets=datasets, domains=domains)
    title = f"{CONTRAST_LABELS.get(contrast, contrast)}: definition {definition}, by domain"
    return rows, title


# Readable names of the cohort-flow steps (trd_spark.phenotypes.flow); others: id with spaces.
FLOW_MAIN_CHAIN = [FlowStep.ALL_PERSONS, FlowStep.WITH_MDD_DIAGNOSIS, FlowStep.MDD_MIN_DISTINCT_DATES]
# Readable names of the fixed exclusion reasons (vocabulary.ExclusionReason) in the flow's labels,
# where the ids with spaces read "depression not mdd", "no ehr data" (session 46 new-user trial).
# The step ids of cohort_flow.tsv keep the reason ids. ExclusionReason.UNDER_AGE is worded in
# flow_labels (it names the configured age); a config concept-set name is shown with spaces.
REASON_LABELS: dict[str, str] = {
    ExclusionReason.DEPRESSION_NOT_MDD: "depression, not MDD",
    ExclusionReason.ANTIDEPRESSANT_NO_MDD: "antidepressant without MDD",
    ExclusionReason.NO_EHR_DATA: "no EHR data",
}


# How a definition's MDD steps add up (phenotypes.flow.definition_partitions), in the labels' words.
FLOW_NESTING = ("MDD included = with an adequate antidepressant trial + TRD by somatic treatment, no adequate "
                "trial + other MDD: no adequate trial; with an adequate trial = TRD (all) - TRD by somatic "
                "treatment + trMDD + other MDD: short follow-up.")


def flow_labels(cfg: Config, steps: list[str], deaths_known: bool = True) -> tuple[list[str], dict[str, str]]:
    """The inclusion chain of the attrition diagram (all persons to MDD included, through each
    MDD exclusion in precedence order) and readable labels for every step id in ``steps``.
    ``deaths_known`` False: the release had no death table (``absent_tables_text``), so a person
    without an observation period is followed to the data cutoff, not to a death."""
    mdd = cfg.phenotypes.mdd
    labels: dict[str, str] = {
        FlowStep.ALL_PERSONS: "All persons in the EHR extract",
        FlowStep.EXCLUDED_IMPLAUSIBLE_YEAR_OF_BIRTH: "excluded: implausible year of birth (no usable age)",
        FlowStep.WITH_MDD_DIAGNOSIS: "At least one MDD diagnosis",
        FlowStep.MDD_MIN_DISTINCT_DATES: f"MDD diagnoses on at least {mdd.min_diagnoses} distinct dates",
        FlowStep.MDD_INCLUDED: "MDD included", FlowStep.NON_MDD: "non-MDD controls",
        FlowStep.WITH_ADEQUATE_TRIAL: "with an adequate antidepressant trial",
        FlowStep.TRD_WITHOUT_ADEQUATE_TRIAL: "TRD by somatic treatment, no adequate trial",
        FlowStep.TRD: "TRD (all)",
        FlowStep.TRMDD: "trMDD", FlowStep.MDD_OTHER_NO_ADEQUATE_TRIAL: "other MDD: no adequate trial",
        FlowStep.MDD_OTHER_SHORT_FOLLOWUP: f"other MDD: follow-up < {cfg.phenotypes.trmdd_min_followup_days} days",
        FlowStep.NO_OBSERVATION_PERIOD: "without an observation period (followed to "
                                        f"{'death or cutoff' if deaths_known else 'the data cutoff: no death table'})",
        FlowStep.EXCLUDED_OUTSIDE_FOLLOWUP_ONLY: "excluded only by records outside follow-up"}
    # The reason ids were named for the default age (under_18_at_index) and hold a concept set's
    # ``_without_mdd`` (vocabulary.excluded_step): the label says the configured age and "MDD".
    reasons = {**REASON_LABELS, ExclusionReason.UNDER_AGE: f"age < {mdd.min_age_at_index} at the MDD index",
               **{excluded_step(name).removeprefix(EXCLUDED_PREFIX): f"{name.replace('_', ' ')} without MDD"
                  for name in mdd.exclude_concept_sets}}
    # Plain str: the step ids go into the attrition figure's data table.
    chain = [str(s) for s in FLOW_MAIN_CHAIN]
    for step in steps:
        if step.startswith(AFTER_EXCLUSION_PREFIX):
            reason = step.removeprefix(AFTER_EXCLUSION_PREFIX)
            labels[step] = f"after excluding {reasons.get(reason, reason.replace('_', ' '))}"
            chain.append(step)
        elif step.startswith(EXCLUDED_PREFIX) and step not in labels:
            reason = step.removeprefix(EXCLUDED_PREFIX)
            labels[step] = f"controls excluded: {reasons.get(reason, reason.replace('_', ' '))}"
    chain.append(str(FlowStep.MDD_INCLUDED))
    return chain, labels


def dataset_flow_html(dflow: pd.DataFrame, definition: str, threshold: int) -> str:
    """The per-dataset step from genotyped to analysed persons (the cohort stage's
    ``dataset_flow`` as ``tables.suppress_release`` shows it: counts and removed counts of 1 to
    threshold-1 as "<threshold", further cells "suppressed" by the audit), for ``definition``:
    persons with PGS, removed as related, without genetic ancestry / PCs, not in the analysis
    frame (no EHR person, sex not male/female or no analysed status), then per status."""
    rows = dflow[dflow["definition"].isin([ALL_DEFINITIONS, definition])]
    show = pd.DataFrame({"dataset": rows["dataset"], "step": rows["step"].astype(str),
                         "persons": rows["n"], "removed by the step": rows["removed"]})
    return html_table(show, f"Genotyped to analysed persons per dataset (definition {definition}); removed: persons "
                            f"dropped by the step (counts 1-{threshold - 1} as <{threshold}, some further counts "
                            "suppressed so that none can be derived)")


def km_reasons(internal: pd.DataFrame, coarsened: pd.DataFrame, shown: pd.DataFrame, pgs_ids: list[str],
               threshold: int) -> dict[str, str]:
    """Why each PGS of ``pgs_ids`` has no Kaplan-Meier curves in the report, or curves cut short:
    {pgs_id: reason} (a PGS whose three curves run to the end of follow-up is absent). The
    frames are one (dataset, definition) slice of the models stage's ``km_curves``
    (``internal``), its ``models.km.coarsen_km`` points (``coarsened``) and what the export
    audit (``tables.suppress_release``) leaves (``shown``). Curves left out get one text naming
    both steps that leave curves out, not which did: a PGS third starting with fewer than
    ``threshold`` persons (or curves not computed, fewer than 3 MDD persons with the PGS and
    follow-up) bounds the curve set's persons, a count the audit may hide; the audit (the
    curves' counts with the other exported counts would give away a count under
    ``threshold``). A shown curve ends
    before the last follow-up day when no later day meets ``coarsen_km``'s rule. Which part of
    the rule failed is not said: that is a fact about unpublished counts ("fewer than 20 events
    before fewer than 20 remain at risk" put each third's TRD onsets after its last point at 38
    at most, and with the Cox model's events less the onsets read from the survival values, 114
    after day 30 over three thirds, pinned 19 onsets in each; ``tests/test_privacy_km_reasons.py``),
    and the text was wrong when the rule failed on 1..19 censored persons instead."""
    out: dict[str, str] = {}
    # One text whichever step left the curves out: "not computed" (fewer than 3 persons) would
    # narrow a hidden count to 1..2, and "a third starts with fewer than T persons" put the curve
    # set's persons, the Cox model's n, at 3 (T - 1) + 2 at most: a Cox n hidden to protect its 5
    # censored persons (n 55, 50 events shown) read as 50..59, the 5 as 0..9
    # (tests/test_privacy_km_reasons.py). Either step may have left out any curve set.
    hidden = (f"not shown: a PGS third starts with fewer than {threshold} persons, or with the other exported "
              f"counts its numbers would give away a count under {threshold} (disclosure control)")
    for p in pgs_ids:
        i, c, s = (df[df["pgs_id"] == p] for df in (internal, coarsened, shown))
        if not len(i) or not len(c) or not len(s):
            out[p] = hidden
        else:
            cut: dict[int, list[str]] = {}  # last day -> thirds
            for k, g in s.groupby("tertile", sort=True):
                last = int(g["time_days"].max())
                if last < int(i.loc[i["tertile"] == k, "time_days"].max()):
                    cut.setdefault(last, []).append(str(k))
            if cut:
                out[p] = "; ".join(f"{'third' if len(ks) == 1 else 'thirds'} {', '.join(ks)} "
                                   f"{'ends' if len(ks) == 1 else 'end'} at day {last} (no later day meets the "
                                   "publication rule)" for last, ks in cut.items())
    return out


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st ..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# Decimal places (of a PGS per SD) at which two values count as one in ``pgs_distribution``'s
# distinct values: far below any real difference between two persons' scores, far above float noise.
DISTINCT_DECIMALS = 9


def pgs_distribution(frame: DataFrame, pgs_ids: list[str], definition: str) -> pd.DataFrame:
    """Per dataset x ancestry group x PGS: n, mean, sd and quantiles of the PGS (per SD),
    computed in Spark (one definition's rows, so each person counts once), and the group's
    distinct PGS values (``tables.DISTINCT_VALUES``), the persons at its most frequent value
    (``tables.LARGEST_TIE``: 1 when no two persons share a value) and its skewness and excess
    kurtosis (``tables.SKEWNESS``, ``tables.EXCESS_KURTOSIS``: Spark's, population moments), and
    those of its residual on the dataset's other scores (``residual_moments``); all internal: the
    export's suppression reads them (``tables.few_valued_scores``, ``tables.tie_heavy_scores``,
    ``tables.heavy_tailed_scores``) and leaves them out. Only aggregates reach the driver.

    The distinct values are counted exactly, on values rounded to ``DISTINCT_DECIMALS`` places
    (per SD): an approximate count (HyperLogLog, ~5% error) of a continuous score's group of 20-25
    persons read below 20 in one run and above it in the next, and a few-valued score's equal values
    computed in another summation order (a cluster run that lost a worker) differ in their last
    bits; either way the same data were suppressed in one run and published in the other."""
    from pyspark.sql import functions as F

    have = [p for p in pgs_ids if p in frame.columns]
    if not have:
        return pd.DataFrame(columns=["dataset", "ancestry", "pgs_id", "n", "mean", "sd", SKEWNESS, EXCESS_KURTOSIS,
                                     *QUANTILE_LEVELS, DISTINCT_VALUES, LARGEST_TIE, *RESIDUAL_COLUMNS.values(),
                                     DATASET_DISTINCT_VALUES, DATASET_LARGEST_TIE, VALUE_MIN, VALUE_MAX])
    stack = "stack({}, {}) as (pgs_id, value)".format(
        len(have), ", ".join(f"'{p}', cast(`{p}` as double)" for p in have))
    long = (frame.where(F.col("definition") == definition)
            .select("dataset", F.coalesce(F.col("ancestry"), F.lit("unknown")).alias("ancestry"), F.expr(stack))
            .where(F.col("value").isNotNull()))
    group = ["dataset", "ancestry", "pgs_id"]
    # The group's values (rounded) and their persons: the distinct values are its rows, the largest
    # tie its largest count.
    rounded = long.groupBy(*group, F.round("value", DISTINCT_DECIMALS).alias("rounded")).count()
    values = rounded.groupBy(*group).agg(F.count("*").alias(DISTINCT_VALUES), F.max("count").alias(LARGEST_TIE))
    # The same over the dataset's persons, every group pooled (the fits' persons).
    pooled = (rounded.groupBy("dataset", "pgs_id", "rounded").agg(F.sum("count").alias("count"))
              .groupBy("dataset", "pgs_id").agg(F.count("*").alias(DATASET_DISTINCT_VALUES),
                                                F.max("count").alias(DATASET_LARGEST_TIE)))
    agg = long.groupBy(*group).agg(
        F.count("*").alias("n"), F.mean("value").alias("mean"), F.stddev("value").alias("sd"),
        F.skewness("value").alias(SKEWNESS), F.kurtosis("value").alias(EXCESS_KURTOSIS),
        F.min("value").alias(VALUE_MIN), F.max("value").alias(VALUE_MAX),
        F.percentile_approx("value", list(QUANTILE_LEVELS.values()), 10000).alias("q")).join(values, group) \
        .join(pooled, ["dataset", "pgs_id"])
    pdf = agg.toPandas()
    for i, name in enumerate(QUANTILE_LEVELS):
        pdf[name] = [float(q[i]) if q is not None else np.nan for q in pdf["q"]]
    pdf = pdf.drop(columns="q").merge(residual_moments(frame, have, definition), on=group, how="left")
    pdf = pdf.sort_values(["dataset", "ancestry", "pgs_id"], kind="mergesort")
    return pdf.reset_index(drop=True)


# A residual whose variance is below this share of its score's is taken as none (the score is
# another one, or a combination of others, up to float noise): its moments would be noise's.
RESIDUAL_VARIANCE_FLOOR = 1e-9


def residual_moments(frame: DataFrame, pgs_ids: list[str], definition: str) -> pd.DataFrame:
    """Per dataset x ancestry group x PGS: n, mean, sd, skewness and excess kurtosis (Spark's,
    population moments) of the score's residual on the dataset's other scores
    (``tables.RESIDUAL_COLUMNS``), internal to ``pgs_distribution``. The coefficients are least
    squares on the covariances of the dataset's persons of ``definition`` (each pair of scores over
    the persons with both; one Spark job: the pairs' counts, sums and sums of products); a score
    none of whose persons has a value there is left out of its dataset's fits, so a score missing
    from one dataset does not stop the others' residuals there. The residuals (persons with every
    score of the fit) and their moments are a second job. No row for a dataset of one score, nor
    for a score the others explain to ``RESIDUAL_VARIANCE_FLOOR`` (a duplicate). Why: two scores
    that differ by a rare variant are polygenic each, and the difference of their groups' means
    counts that variant's carriers (``tables.heavy_tailed_scores``)."""
    from pyspark.sql import Column
    from pyspark.sql import functions as F

    columns = ["dataset", "ancestry", "pgs_id", *RESIDUAL_COLUMNS.values()]
    if len(pgs_ids) < 2:
        return pd.DataFrame(columns=columns)
    scores = (frame.where(F.col("definition") == definition)
              .select("dataset", F.coalesce(F.col("ancestry"), F.lit("unknown")).alias("ancestry"),
                      *[F.col(f"`{p}`").cast("double").alias(f"s{i}") for i, p in enumerate(pgs_ids)]))
    k = len(pgs_ids)
    pairs = [(i, j) for i in range(k) for j in range(i, k)]

    def both(i: int, j: int, value: Column) -> Column:
        return F.when(F.col(f"s{i}").isNotNull() & F.col(f"s{j}").isNotNull(), value)

    sums = scores.groupBy("dataset").agg(*[agg for i, j in pairs for agg in (
        F.count(both(i, j, F.lit(1))).alias(f"n{i}_{j}"), F.sum(both(i, j, F.col(f"s{i}"))).alias(f"a{i}_{j}"),
        F.sum(both(i, j, F.col(f"s{j}"))).alias(f"b{i}_{j}"),
        F.sum(F.col(f"s{i}") * F.col(f"s{j}")).alias(f"c{i}_{j}"))]).toPandas()
    fitted: dict[str, list[tuple[int, list[int], np.ndarray]]] = {}
    for _, row in sums.iterrows():
        cov = np.zeros((k, k))
        for i, j in pairs:
            n = float(row[f"n{i}_{j}"])
            if n >= 4:
                cov[i, j] = cov[j, i] = (row[f"c{i}_{j}"] - row[f"a{i}_{j}"] * row[f"b{i}_{j}"] / n) / n
        present = [i for i in range(k) if float(row[f"n{i}_{i}"]) >= 4 and cov[i, i] > 0]
        for j in present:
            others = [i for i in present if i != j]
            if not others:
                continue
            b = np.linalg.lstsq(cov[np.ix_(others, others)], cov[others, j], rcond=1e-12)[0]
            rest = cov[j, j] - float(b @ cov[others, j])
            if rest > RESIDUAL_VARIANCE_FLOOR * cov[j, j]:
                fitted.setdefault(str(row["dataset"]), []).append((j, others, b))
    if not fitted:
        return pd.DataFrame(columns=columns)
    entries = []
    for j, p in enumerate(pgs_ids):
        value = F.lit(None).cast("double")
        for ds, fits in fitted.items():
            for jj, others, b in fits:
                if jj == j:
                    # residual = score j - sum of b_i x score i (null where a score of the fit is)
                    expr = F.col(f"s{j}") - sum((F.col(f"s{i}") * float(c) for i, c in zip(others, b)), F.lit(0.0))
                    value = F.when(F.col("dataset") == ds, expr).otherwise(value)
        entries.append(F.struct(F.lit(p).alias("pgs_id"), value.alias("value")))
    long = (scores.select("dataset", "ancestry", F.explode(F.array(*entries)).alias("e"))
            .select("dataset", "ancestry", "e.pgs_id", "e.value").where(F.col("value").isNotNull()))
    names = RESIDUAL_COLUMNS
    pdf = long.groupBy("dataset", "ancestry", "pgs_id").agg(
        F.count("*").alias(names["n"]), F.mean("value").alias(names["mean"]), F.stddev("value").alias(names["sd"]),
        F.skewness("value").alias(names[SKEWNESS]), F.kurtosis("value").alias(names[EXCESS_KURTOSIS])).toPandas()
    return pdf[columns]


# The match summary's columns the report shows (match_rates.tsv, the matching section): the
# columns a pgs stage of any release wrote (``held_columns``).
REPORT_MATCH_COLUMNS = ["dataset", "pgs_id", "trait", "domain", "n_variants", "n_matched", "matched_fraction"]


def _read(ctx: StageContext, stage: str, table: str, what: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A required upstream table as pandas (only ``columns`` when given); InputDataError naming
    its path when absent, or when it lacks one of ``columns`` (``held_columns``)."""
    df = ctx.read_optional(stage, table)
    if df is None:
        raise InputDataError(f"{what} not found (run the stage that writes it first)",
                             where=ctx.table_path(stage, table))
    if columns is None:
        return df.toPandas()
    return df.select(*held_columns(df.columns, columns, ctx.table_path(stage, table), stage)).toPandas()


def match_rates(match: pd.DataFrame) -> pd.DataFrame:
    """Matched variants per score (rows) and dataset (columns): "n_matched / n_variants (pct%)"."""
    m = match.assign(shown=[f"{a} / {b} ({f:.0%})" for a, b, f in
                            zip(match["n_matched"], match["n_variants"], match["matched_fraction"])])
    wide = m.pivot_table(index=["domain", "trait", "pgs_id"], columns="dataset", values="shown", aggfunc="first")
    return wide.reset_index().rename_axis(columns=None)


def methods_html(cfg: Config, versions: dict, threshold: int, audited_against: list[str] | None = None,
                 absent_tables: list[str] | None = None, ehr_evidence: str | None = None) -> str:
    """Methods generated from the config and the recorded versions. ``audited_against``: the
    labels of the exports already published that the disclosure audit linked this one to
    (``released_exports``: other releases, ``release@run id`` for an earlier export); named,
    never their counts, so a reader knows why a cell is hidden. ``absent_tables``: the optional
    OMOP tables the release lacked (the phenotypes manifest's ``notes.optional_tables_absent``),
    named with what they change: without ``death`` no follow-up ends at a death, which the
    Methods' "the earliest of ..., death and the cutoff" told a reader it did. ``ehr_evidence``: the
    EHR evidence rule the phenotype stage applied (its manifest's ``notes.ehr_evidence.rule``, the
    ``omop.ehr_evidence`` of that run: ``controls_text``); None (an older manifest): not stated."""
    ph = cfg.phenotypes
    defs = []
    for d in ph.trd_definitions:
        if d.rule == "antidepressant_sequence":
            text = (f"start of the {ordinal(d.n_trials)} adequate trial of a distinct antidepressant"
                    if d.last_trial_adequate or d.n_trials == 1 else
                    f"{d.n_trials - 1} adequate trials of distinct antidepressants, then the start of "
                    f"another antidepressant")
        elif d.rule == "augmentation":
            # phenotypes.trd.augmentation_onset_expr: from the n-th trial's start, not after the trials
            text = (f"{d.n_trials} adequate trials, then an augmentation agent ({d.augmentation_concept_set}): its "
                    f"first exposure on or after the start of the {ordinal(d.n_trials)} adequate trial of a distinct "
                    "antidepressant")
        else:  # phenotypes.trd.somatic_onset_expr
            text = "a somatic treatment (" + ", ".join(d.somatic_concept_sets) + ") on or after the MDD index"
        defs.append(f"<li><b>{d.name}</b>{' (primary)' if d.name == ph.primary_definition else ''}: {text}</li>")
    ds = ", ".join(f"{d.name} ({d.role}, {d.genotypes.format}, {d.genotypes.reference_genome})" for d in cfg.datasets)
    items = {
        "Release": cfg.release,
        "Datasets": ds,
        "EHR data cutoff": str(cfg.omop.data_cutoff_date),
        # The expansion rule of concepts.load_vocabulary / expand_concept_set (docs/phenotypes.md, "Concepts").
        "Concept sets": ("OMOP concepts listed in phenotypes.concept_sets, each with its descendants in the "
                         "data's concept_ancestor table (unless the set says otherwise), less the set's excluded "
                         "concepts and their descendants; descendants whose concept row has an invalid_reason "
                         "(deprecated or upgraded) are left out, as OHDSI's ATLAS expands a set; records are read "
                         "by their standard concept only"),
        # phenotypes.persons.birth_implausible_expr: the first exclusion of every person.
        "Persons": (f"excluded when the year of birth is before {PLAUSIBLE_BIRTH_YEAR_LOW} (OHDSI Data Quality "
                    f"Dashboard) or gives an age below 0 or above {MAX_PLAUSIBLE_AGE_YEARS} at the end of observation "
                    "(no usable age)"),
        # phenotypes.mdd.derive_mdd: the count and index within follow-up, a preliminary or history-of
        # record no diagnosis (vocabulary.NOT_A_DIAGNOSIS_STATUS_IDS); the exclusions over the whole record
        "MDD": (f"at least {ph.mdd.min_diagnoses} diagnoses ({ph.mdd.concept_set}) on distinct dates within "
                "follow-up (a record whose condition status is a preliminary or history-of diagnosis is none), age "
                f"&ge; {ph.mdd.min_age_at_index} at the first; excluded: {', '.join(ph.mdd.exclude_concept_sets)} "
                "(any date, any status); "
                f"controls: no {', '.join([ph.mdd.control_exclusion_concept_set, *ph.mdd.exclude_concept_sets])} "
                "diagnosis and no antidepressant "
                f"({', '.join([ph.trials.concept_set, *ph.mdd.control_exclusion_drug_concept_sets])}"
                # the control rule's procedure sets (esketamine given in clinic, HCPCS G2082/G2083), read in the
                # table of each of their domains: procedure_occurrence and observation (esketamine_clinic)
                + (f"; as a procedure or observation record: {', '.join(ph.mdd.control_exclusion_procedure_concept_sets)}"
                   if ph.mdd.control_exclusion_procedure_concept_sets else "") + ") ever" + controls_text(ehr_evidence)),
        "Adequate antidepressant trial": trial_text(cfg),
        # phenotypes.trd.derive_phenotypes: an onset after the end of follow-up is no TRD
        "TRD definitions": "<ul>" + "".join(defs) + "</ul>each onset on or before the end of follow-up",
        "trMDD": (f"MDD with an adequate trial, not TRD, followed &ge; {ph.trmdd_min_followup_days} days after the "
                  "MDD index; other MDD: MDD without an adequate trial, or followed for less"),
        "PGS": (f"scoring files matched by position and alleles (strand-ambiguous "
                f"{'kept' if cfg.pgs.keep_ambiguous else 'dropped'}; variants at multi-allelic sites scored, as "
                "plink2 --score scores them, where pgsc_calc's default leaves them out), "
                f"minimum overlap {cfg.pgs.min_overlap:.0%}, "
                f"missing genotypes {cfg.pgs.missing_genotypes.replace('_', ' ')}; " + standardisation_text(cfg)),
        "Models": (f"logistic regression per SD of PGS for contrasts {contrasts_text(cfg.models.contrasts)}, "
                   f"adjusted for {covariates_text(covariate_columns(cfg))}; Bonferroni and "
                   f"Benjamini-Hochberg within dataset x definition x contrast, alpha {cfg.models.alpha}; "
                   # Said once for every model: the export's notes do not say which fit left
                   # persons out (``tables.exported_note``).
                   "each model on the persons of its groups with complete data (PGS, covariates; Cox: a "
                   "follow-up time of 0 or more), its N as shown; a 0/1 covariate (sex) without a case, a control "
                   "or an event at one value has an infinite coefficient: such a model's estimates are its limit, "
                   "the fit among the persons at the other value (its note names the value)"
                   + (f"; Cox proportional hazards from MDD index to TRD per SD of PGS, adjusted for "
                      f"{covariates_text(covariate_columns(cfg, age=COX_AGE))}" if cfg.models.cox else "")),
        **({"Progression (Cox)": cox_text(cfg, deaths_known="death" not in (absent_tables or []))}
           if cfg.models.cox else {}),
        **({"OMOP tables absent": absent_tables_text(cfg, absent_tables)} if absent_tables else {}),
        "Replication": replication_text(cfg),
        "Sources": ("TRD as at least 2 failed adequate antidepressant trials (Gaynes et al., Depress Anxiety 2020, "
                    "doi:10.1002/da.22968), an adequate trial lasting 4-6 weeks (Depress Anxiety 2021;38:456-467, "
                    "doi:10.1002/da.23135); trials strung together as OHDSI's standard drug eras; the MDD concept "
                    "set after OHDSI PhenotypeLibrary cohort 1009 (without its atypical and postpartum exclusions); "
                    "each rule, its default and the reason for it: "
                    "trd-spark's docs/phenotypes.md, at the code version under Software"),
        "Disclosure control": (f"counts 1-{threshold - 1} shown as &lt;{threshold}; every count of the export in one "
                               "linear system (totals, groups shared across TRD definitions, tables and models, "
                               "Kaplan-Meier steps); further counts hidden (&quot;suppressed&quot;) until linear "
                               "programming bounds no hidden small count more tightly than the label does; PGS "
                               f"quantiles only with &ge; {threshold} persons below and above them; Kaplan-Meier "
                               # models.km.coarsen_km: a step's censored persons too (0 or >= T), as the figure
                               # caption says; before session 50 the Methods named events and at risk only.
                               f"steps only with &ge; {threshold} events, 0 or &ge; {threshold} censored persons and "
                               f"&ge; {threshold} still at risk, their survival and CI the life "
                               "table of the published counts (no product-limit value at full precision, which would tell when "
                               "persons were censored); no estimate of a model whose N, cases or events "
                               "are hidden, nor of a difference, replication or meta-analysis using one (a standard "
                               "error carries its sample size)"
                               + audited_text(cfg.release, audited_against or [], threshold)),
        "Software": ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        "Config hash": cfg.fingerprint()[:16],
    }
    return '<dl class="methods">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items.items()) + "</dl>"


def contrasts_text(contrasts: list[Contrast]) -> str:
    """Each logistic contrast with the statuses it codes 1 and 0 (``vocabulary.CONTRAST_STATUSES``):
    ``mdd_vs_nonmdd (TRD, trMDD, MDD_other vs non_MDD)``, so a reader knows that 'MDD' includes
    the other MDD persons and that the other statuses are left out of a fit."""
    def side(statuses: tuple) -> str:
        return ", ".join(str(s) for s in statuses)
    return ", ".join(f"{c} ({side(CONTRAST_STATUSES[c][0])} vs {side(CONTRAST_STATUSES[c][1])})"
                     if c in CONTRAST_STATUSES else c for c in contrasts)


def absent_tables_text(cfg: Config, absent: list[str]) -> str:
    """The Methods' words for the optional OMOP tables the release lacked (read as empty,
    ``phenotypes.stage.read_omop``): each named, and for ``death`` what it changes."""
    # phenotypes.persons: observation_end_date = least(last observation end, death, cutoff).
    words = {"death": (f"{cfg.omop.death_table} (read as empty): no death is known, so no follow-up ends at a death "
                       "(trMDD's follow-up, Cox censoring, age at the end of observation): a person who died is "
                       "followed to the end of their last observation period or the data cutoff")}
    return "; ".join(words.get(t, f"{t} (read as empty)") for t in absent)


# The words of each ``omop.ehr_evidence`` for the Methods (``phenotypes.stage``'s EHR evidence rule:
# a person without it is no control, reason ``no_ehr_data``); "none": no such rule. any_record's
# rows count only when dated on or before the cutoff, or undated (``stage.ehr_row_in_release_expr``,
# since e76b067): the Methods said "a record" of any date until session 48.
EHR_EVIDENCE_WORDS = {
    "any_record": ("a record in condition_occurrence, drug_exposure, procedure_occurrence or device_exposure "
                   "dated on or before the EHR data cutoff, or undated (evidence of EHR data)"),
    "observation_period": "an observation period (evidence of EHR data)",
    "person_list": "a place in the configured list of persons with EHR data",
}


def controls_text(ehr_evidence: str | None) -> str:
    """The Methods' end of the control rule: the EHR evidence a control needs (``ehr_evidence``, the
    rule the phenotype stage applied, one of ``omop.ehr_evidence``'s values; without it a person is no
    control, ``no_ehr_data``; None: not known, not stated), and that a control needs no minimum age or
    observation (``mdd.min_age_at_index`` is the MDD persons' rule). Read from the phenotype stage's
    manifest, not the config: the report stage does not fingerprint ``omop`` (a changed rule reruns the
    phenotypes and hence the report). Before session 47 the Methods left out the evidence rule, which
    on All of Us keeps about a third of the persons with genomes out of the controls."""
    if ehr_evidence is None:
        evidence = ""
    elif ehr_evidence in EHR_EVIDENCE_WORDS:
        evidence = f", and {EHR_EVIDENCE_WORDS[ehr_evidence]}"
    else:  # "none": no evidence rule
        evidence = ", EHR data or not"
    return evidence + "; no minimum age or length of observation for controls"


def trial_text(cfg: Config) -> str:
    """The Methods' adequate trial (``phenotypes.trials.derive_antidepressant_trials``): the merge gap,
    the minimum length after the end is clipped at the end of follow-up, the start on/after the MDD index
    (less ``pre_index_window_days``) and the per-ingredient switches when configured. Before session 47
    it said the gap and the length only: a reader took a course begun before the index (never
    adequate) for a trial, and a configured ignored ingredient or per-ingredient length or dose was in
    no word of the export."""
    t = cfg.phenotypes.trials
    window = t.pre_index_window_days
    parts = [f"exposures of one ingredient merged across gaps &le; {t.persistence_gap_days} days, lasting "
             f"&ge; {t.min_trial_days} days up to the end of follow-up (missing days' supply: "
             f"{t.default_days_supply}), starting on or after the MDD index"
             + (f" or up to {window} days before it" if window else "")]
    if t.ingredient_min_trial_days:
        parts.append("minimum days per ingredient concept ID: " + ", ".join(
            f"{i}: {n}" for i, n in sorted(t.ingredient_min_trial_days.items())))
    if t.ignored_ingredient_ids:
        parts.append("never a trial (still no control): ingredient concept IDs "
                     + ", ".join(str(i) for i in sorted(t.ignored_ingredient_ids)))
    if t.ingredient_min_daily_dose:
        parts.append("an exposure whose known daily dose is below the ingredient's minimum is none: " + ", ".join(
            f"{i}: {v:g}" for i, v in sorted(t.ingredient_min_daily_dose.items()))
            + f" (mg/day); {LIQUID_QUANTITY_WORDS[t.quantified_liquid_quantity]}"
            + f" (trials.quantified_liquid_quantity: {t.quantified_liquid_quantity})")
    return "; ".join(parts)


# The words of each ``trials.quantified_liquid_quantity`` for the Methods: what the quantity of a
# liquid with a stated volume counts in the minimum-dose rule (``phenotypes.stage.
# strength_per_unit_exprs``; docs/phenotypes.md, "Per-ingredient switches and the minimum dose").
# Named only with a minimum dose (it changes nothing else). Before session 52 the Methods did not
# say which reading a run used, though "ml" and "items" give a 120 mL bottle of 20 mg/mL 40 or
# 2,400 mg/day over 60 days.
LIQUID_QUANTITY_WORDS = {
    "items": ("the quantity of a liquid with a stated volume (60 mL of 20 mg/mL) read as items (bottles, "
              "syringes: the OMOP reading): its dose the quantity x the item's mg"),
    "ml": ("the quantity of a liquid with a stated volume (60 mL of 20 mg/mL) read as mL (as US pharmacy data bill "
           "a liquid): its dose the quantity x the mg per mL"),
    "items_or_ml": ("the quantity of a liquid with a stated volume (60 mL of 20 mg/mL) read both as items (bottles, "
                    "syringes) and as mL: such an exposure is below the minimum only when both readings are, and of "
                    "unknown dose (it counts) when they disagree"),
}


def cox_text(cfg: Config, deaths_known: bool = True) -> str:
    """What a paper's methods need of the Cox models beyond their covariates: who is in them,
    the time origin and scale, censoring, day-0 events, ties and the PH test
    (``phenotypes.trd.derive_phenotypes``, ``models.cox.fit_cox``). ``deaths_known`` False: the
    release had no death table, so death is no end of follow-up (``absent_tables_text``)."""
    window = cfg.phenotypes.trials.pre_index_window_days
    return (f"persons with MDD ({', '.join(str(s) for s in MDD_STATUSES)}) of each dataset and TRD definition; "
            "time in days from the MDD index (the first MDD diagnosis) to the TRD onset date of the definition; "
            "persons without TRD censored at the end of follow-up, the earliest of the last observation period's "
            + ("end, death and the EHR data cutoff" if deaths_known else
               "end and the EHR data cutoff (no death table: see OMOP tables absent)")
            + "; an onset or censoring on the index day"
            + (f" (or an onset up to {window} days before it)" if window else "")
            + " counted at day 1; Efron's method for tied event times (lifelines CoxPHFitter); proportional hazards "
            f"of the PGS term tested on scaled Schoenfeld residuals against {cfg.models.ph_time_transform}-transformed "
            "time (chi-square, 1 df)")


# Words for the analysis frame's covariate columns (models.covariates.covariate_columns).
COVARIATE_WORDS = {"age": "age at the end of observation", COX_AGE: "age at the MDD index (the time origin)",
                   "sex_female": "sex"}


def audited_text(release: str, labels: list[str], threshold: int) -> str:
    """The Methods' sentence naming the exports the audit linked this one to (``labels`` from
    ``released_exports``; "" when none): no count, only which exports and why."""
    if not labels:
        return ""
    earlier = [x for x in sorted(labels) if x.startswith(f"{release}@")]
    others = [x for x in sorted(labels) if x not in earlier]
    parts = ([f"other releases' exports ({', '.join(others)})"] if others else []) + (
        [f"earlier exports of this release ({', '.join(earlier)}; release@run id)"] if earlier else [])
    return (f"; also audited against {' and '.join(parts)}: a count is hidden (&quot;suppressed&quot;) where its "
            f"difference from the same count there would show a change of 1-{threshold - 1} persons")


def covariates_text(columns: list[str]) -> str:
    """The adjustment covariates a model uses (``covariate_columns``' list), in words:
    ``COVARIATE_WORDS``, then the PCs as "genetic PCs 1-K" (K = the number of pc columns);
    "no covariates" for an empty list."""
    pcs = [c for c in columns if c.startswith("pc") and c[2:].isdigit()]
    words = [COVARIATE_WORDS.get(c, c) for c in columns if c not in pcs]
    if pcs:
        words.append(f"genetic PCs 1-{len(pcs)}" if len(pcs) > 1 else "genetic PC 1")
    return ", ".join(words) or "no covariates"


def replication_text(cfg: Config) -> str:
    """What "replicated" means (``models.synthesis.replication_table``): which discovery results
    are checked (``models.discovery_significance`` below ``models.alpha`` within dataset x
    definition x contrast), in which datasets (role ``replication``), and the rule there (same
    direction of the log OR, uncorrected p below ``models.replication_alpha``); and that the
    selection is over every fit of the family while the shown corrected p is over the shown fits
    (``tables.corrections_over_shown``): a listed result's may lie above alpha, an unlisted one's
    below it (session 47: said nowhere in the report)."""
    m = cfg.models
    which = {"q_fdr": "Benjamini-Hochberg q", "p_bonferroni": "Bonferroni-corrected p"}[m.discovery_significance]
    discovery = ", ".join(d.name for d in cfg.datasets if d.role == "discovery")
    replication = ", ".join(d.name for d in cfg.datasets if d.role == "replication") or "none"
    return (f"a result of the discovery dataset ({discovery}) is significant when its {which} "
            f"({m.discovery_significance}) &lt; {m.alpha} within its dataset x definition x contrast; it is checked in "
            f"each replication dataset ({replication}) and replicated there when the log OR has the same direction "
            f"(sign) and the uncorrected p &lt; {m.replication_alpha}. Significance is judged over every fit of the "
            "family, those whose estimates the export hides included; the corrected p-values shown are recomputed "
            "over the fits shown (a hidden fit's p would be read back from them), so a listed result's "
            f"p_adjusted_discovery may be &ge; {m.alpha} (its note says so) and a result not listed may show one "
            "below it")


def standardisation_text(cfg: Config) -> str:
    """The PGS standardisation (pgs.standardisation) in words, for the methods."""
    how = {
        "overall": "z-score over each dataset's unrelated samples",
        "ancestry": "z-score within each genetic ancestry group of each dataset",
        "pc_adjusted": (f"ancestry-adjusted as pgsc_calc (Khan et al. 2022): mean regressed on PCs 1-"
                        f"{cfg.pgs.standardisation_n_pcs}, variance modelled on the same PCs (Gamma GLM, log "
                        "link), fitted per dataset on its unrelated samples (pgsc_calc fits on its reference panel)"),
    }[cfg.pgs.standardisation]
    # Which persons set the scale (cohort.stage: before the analysis frame's restrictions), so a
    # reader knows one SD is the same for every definition and contrast, not 1 in each model.
    return (f"scores per SD: {how}; the samples: every unrelated genotyped person of the dataset with genetic PCs, "
            "whatever their phenotype status or sex, so one SD is the same in every TRD definition and contrast")


def _details(inner: str, summary: str) -> str:
    return f"<details><summary>{summary}</summary>{inner}</details>"


def standardisation_fallback_note(fallback: dict[str, dict[str, str]], *, pcs_set_floor: bool) -> str:
    """A visible warning naming each dataset and the scores whose PC-adjusted standardisation
    could not be fitted and fell back to the overall z-score, with the reason
    (``vocabulary.FitFailure``) and the fix that can help (``cohort.standardise.fallback_fix``,
    the cohort log's WARNING's words). ``fallback``: the cohort manifest's
    ``notes.pgs_standardisation_fallback``, dataset -> {pgs_id: reason}; ``pcs_set_floor``:
    the PCs + 2, not the small-count threshold, set the fewest persons a fit needs
    (``cohort.standardise.floor_set_by_pcs`` of the config the cohort stage ran with: both
    keys are in its slice), so fewer PCs can help too few persons. "" when nothing fell back."""
    parts = [f"dataset {ds}: {', '.join(f'{p} ({r})' for p, r in sorted(scores.items()))}"
             for ds, scores in sorted(fallback.items()) if scores]
    if not parts:
        return ""
    # A dataset under the small-count threshold always falls back (cohort.standardise.fit_floor,
    # privacy): fewer PCs cannot help there, so the fix names only what can.
    small_only = all(r == FitFailure.TOO_FEW_SAMPLES for scores in fallback.values() for r in scores.values())
    return warning("PC-adjusted standardisation could not be fitted for these scores, which use the overall "
                   "z-score of the dataset instead (not adjusted for ancestry): " + "; ".join(parts)
                   + f". Fix: {fallback_fix(small_only, pcs_set_floor)}.")


def beyond_sd_note(beyond: dict[str, dict[str, str]]) -> str:
    """A visible warning naming each dataset and the scores with a standardised person beyond
    +-``cohort.standardise.BEYOND_SD`` SD, the persons as count labels (the cohort log's WARNING,
    ``cohort.stage.warn_beyond_sd``). ``beyond``: the cohort manifest's ``notes.pgs_beyond_sd``,
    dataset -> {pgs_id: label (``logs.person_count_text``: never a count of 1..T-1)}. "" when none:
    a scheduled run otherwise published per-SD estimates leaning on a broken sample with the
    finding in a run log only."""
    parts = [f"dataset {ds}: {', '.join(f'{p} ({label} standardised person(s))' for p, label in sorted(scores.items()))}"
             for ds, scores in sorted(beyond.items()) if scores]
    if not parts:
        return ""
    return warning(f"A PGS per SD beyond +-{BEYOND_SD:g}, which no polygenic score reaches (a sample with broken "
                   "genotypes, or a score driven by a rare variant of large weight): the SD and every per-SD "
                   "estimate (OR, HR) of these scores lean on those persons: " + "; ".join(parts)
                   + ". Check those samples' genotypes and the scores' weights.")


# The count-bearing export tables: what an outsider holding an export can subtract.
EXPORT_COUNT_TABLES = ("cohort_counts", "cohort_flow", "pgs_distribution", "results", "cox", "km_curves")
HIDDEN_COUNTS_FILE = "hidden_counts.json"


def _export_label(release: str, run_id: str | None) -> str:
    """How the audit and the Methods name an earlier export of a release: ``release@run id``."""
    return f"{release}@{run_id or 'unknown'}"


def _read_export_tables(fs: Fs, folder: str) -> dict:
    """{table name: text table (str columns)} of the count tables present in ``folder``."""
    tables: dict = {}
    for name in EXPORT_COUNT_TABLES:
        path = f"{folder}/{name}.tsv"
        if fs.exists(path):
            tables[name] = pd.read_csv(io.StringIO(fs.read_text(path)), sep="\t", dtype=str, keep_default_na=False)
    return tables


def _current_export(fs: Fs, layout: Layout) -> tuple[str | None, dict] | None:
    """(run id, tables with "hidden_counts" when the report run that made it recorded them) of
    the release's complete ``export/``; None when there is none.

    The record is the report manifest's while that manifest is the same run's, else the copy
    ``archive_export`` kept of it in ``export_history/<run id>/``: a report run stopped (kill -9)
    after publishing ``report/`` and before replacing ``export/`` leaves a report manifest of a
    run whose export never appeared, and the resumed report read the current export without its
    hidden counts (as exported by an older version: shown counts only) and so chose other cells
    to hide than a run that was not stopped (``tests/test_report_reexport.py``)."""
    if not layout.is_complete(fs, EXPORT):
        return None
    tables = _read_export_tables(fs, layout.stage_dir(EXPORT))
    export = layout.manifest(fs, EXPORT)
    run_id = manifest_field(export or {}, "run_id", str, layout.file(EXPORT, MANIFEST))
    tables["threshold"] = manifest_field(export or {}, "small_count_threshold", int, layout.file(EXPORT, MANIFEST))
    report = layout.manifest(fs, "report") or {}
    kept = f"{layout.release_dir}/{EXPORT_HISTORY}/{run_id}"
    if made_by_same_run(export, report):
        notes = report.get("notes") or {}
        tables["hidden_counts"] = checked_hidden_counts(notes.get("hidden_counts") or [],
                                                        notes.get("hidden_counts_format"),
                                                        layout.file("report", MANIFEST))
    elif run_id and fs.exists(f"{kept}/{SUCCESS}"):
        tables["hidden_counts"] = read_hidden_counts_file(fs, f"{kept}/{HIDDEN_COUNTS_FILE}")
    return run_id, tables


def archive_export(fs: Fs, cfg: Config) -> str | None:
    """Keep the release's complete ``export/`` before a new export replaces it: its count
    tables (``EXPORT_COUNT_TABLES`` present), its ``_manifest.json`` and the true values of
    the counts it hides (``hidden_counts.json``: [[*audit cell, n]], from the report run that
    made it; [] when that report was rerun since or is older) in
    ``{release}/export_history/<run id>/`` with a ``_SUCCESS`` marker. Internal: never
    exported. An outsider who got the earlier export and gets the new one subtracts them (167
    TRD persons, then 166 after a one-person input fix: a change of 1), so the next report
    audits against it as against another release (``released_exports``). Returns that folder,
    or None when there is no complete export or it is already kept (same run id)."""
    layout = Layout.of(cfg)
    current = _current_export(fs, layout)
    if current is None:
        return None
    run_id, tables = current
    folder = f"{layout.release_dir}/{EXPORT_HISTORY}/{run_id or 'unknown'}"
    if fs.exists(f"{folder}/{SUCCESS}"):
        return None
    for name in (*EXPORT_COUNT_TABLES, "_manifest"):
        src = layout.file(EXPORT, MANIFEST if name == "_manifest" else f"{name}.tsv")
        if fs.exists(src):
            fs.write_text(f"{folder}/{src.rsplit('/', 1)[-1]}", fs.read_text(src))
    fs.write_text(f"{folder}/{HIDDEN_COUNTS_FILE}", json.dumps({"format": HIDDEN_COUNTS_FORMAT,
                                                               "hidden_counts": tables.get("hidden_counts") or []}))
    fs.write_text(f"{folder}/{SUCCESS}", "")
    drop_checksum_files(folder)
    log.info("export: the earlier export of release %s (run %s) kept in %s for later audits",
             cfg.release, run_id, folder)
    return folder


def read_hidden_counts_file(fs: Fs, path: str) -> list[list]:
    """The entries of an archived export's ``hidden_counts.json`` (``archive_export``): {"format":
    N, "hidden_counts": [...]}, or a bare list (written before records carried a format: format
    1), checked by ``tables.checked_hidden_counts`` (a newer format or an unknown entry kind: one
    InputDataError line naming ``path``)."""
    try:
        record = json.loads(fs.read_text(path))
    except json.JSONDecodeError as e:
        raise InputDataError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}): {NEWER_RECORD_ADVICE}") from None
    if isinstance(record, dict):
        return checked_hidden_counts(record.get("hidden_counts"), record.get("format", "missing"), path)
    return checked_hidden_counts(record, None, path)


def released_exports(fs: Fs, cfg: Config) -> dict[str, dict]:
    """{label: {"cohort_counts", "cohort_flow", "pgs_distribution", "results", "cox", "km_curves":
    table as text (the tables with person counts),
    "hidden_counts": [[*cell, n]]}}
    of every export already published under ``output_root`` that this release's export must not
    give a small difference with (``tables.prior_counts``): each other release's complete
    ``export/`` (label: the release), this release's complete ``export/`` (which the new one
    will replace; label ``release@run id``) and every earlier export kept in any release's
    ``export_history/`` (``archive_export``; label ``release@run id``; one that is still the
    current export is read once). ``hidden_counts``: the counts that export hides as its report
    recorded them (``tables.hidden_counts``; for a current export only when the report's
    internal manifest carries its run id; absent for one exported by an older version). Read
    when the report runs; not a rerun trigger (a release exported later is audited against
    this one). The output roots of ``report.audit_output_roots`` are read the same way (their
    exports labelled ``release@run id``: the same release name there is another export; a label
    already taken, as ``release@unknown`` of two roots, gets `` (report.audit_output_roots[i])``); one
    that does not exist, or holds no export (a typo'd root that exists, a release folder given
    instead of its output root: audited against nothing, silently), raises ConfigError naming
    the key and the root."""
    out: dict[str, dict] = {}
    for i, root in enumerate([Layout.of(cfg).output_root, *cfg.report.audit_output_roots]):
        # The run checked this at its start (preflight.check_audit_roots); again here, by the same
        # rule, for a root emptied since or a report run alone.
        problem = audit_root_problem(fs, root) if i else None
        if problem:
            raise ConfigError(f"report.audit_output_roots: {root} {problem}")
        for release in fs.listdirs(root):
            for label, tables in _root_exports(fs, cfg, Layout(root, release), own_root=i == 0).items():
                # Exports by an older version carry no run id (``release@unknown``): two roots can
                # give the same label, and one export would replace the other in the audit.
                out[f"{label} (report.audit_output_roots[{i - 1}])" if label in out else label] = tables
    return out


def _root_exports(fs: Fs, cfg: Config, layout: Layout, *, own_root: bool) -> dict[str, dict]:
    """``released_exports``' entries of one release folder (``layout``): its complete current
    ``export/`` (label: the release, or ``release@run id`` for this release's or one under another
    output root, ``own_root`` False) and every export kept in its ``export_history/``."""
    out: dict[str, dict] = {}
    release = layout.release
    current = _current_export(fs, layout)
    current_run = None
    if current is not None:
        current_run, tables = current
        own = own_root and release != cfg.release
        out[release if own else _export_label(release, current_run)] = tables
    history = f"{layout.release_dir}/{EXPORT_HISTORY}"
    for run_id in fs.listdirs(history) if fs.exists(history) else []:
        folder = f"{history}/{run_id}"
        if (current is not None and run_id == (current_run or "unknown")) or not fs.exists(f"{folder}/{SUCCESS}"):
            continue
        tables = _read_export_tables(fs, folder)
        tables["hidden_counts"] = read_hidden_counts_file(fs, f"{folder}/{HIDDEN_COUNTS_FILE}")
        kept_manifest = f"{folder}/{MANIFEST}"
        tables["threshold"] = manifest_field(read_manifest(fs, kept_manifest), "small_count_threshold", int,
                                             kept_manifest) if fs.exists(kept_manifest) else None
        out[_export_label(release, run_id)] = tables
    return out


def build_report(cfg: Config, t: dict[str, pd.DataFrame], versions: dict,
                 standardisation_fallback: dict[str, dict[str, str]] | None = None,
                 other_exports: dict[str, dict] | None = None,
                 audited: dict[str, pd.DataFrame] | None = None, gates: dict[str, dict] | None = None,
                 dataset_gates: dict[str, dict] | None = None, absent_tables: list[str] | None = None,
                 ehr_evidence: str | None = None, beyond_sd: dict[str, dict[str, str]] | None = None,
                 ) -> dict[str, str]:
    """All exported files {name: text} from the release's (internal) tables (``t``: name ->
    table; an optional table that was not written is absent). Pure but for filling ``audited``.

    ``other_exports``: exports already published, other releases' and this release's earlier
    ones (``released_exports``: label -> exported counts); no change of 1..threshold-1 between
    them and this export can be derived, and the Methods name them (labels only, no count).

    ``standardisation_fallback``: the cohort manifest's ``notes.pgs_standardisation_fallback``
    (dataset -> {pgs_id: FitFailure value}); any entry is a visible warning in the report, as is
    any entry of ``beyond_sd``, its ``notes.pgs_beyond_sd`` (``beyond_sd_note``).

    ``audited``: when given, filled with ``tables.suppress_release``'s tables (the counts as the
    export shows them; ``run`` records how report.html shows the genotyped -> analysed table,
    which no TSV carries: ``tables.hidden_counts``).

    ``gates``: the phenotypes manifest's ``notes.gates`` (gate -> n, total, level): whether a
    person gate warned is in the run log, an inequality the audit states (``tables.gate_relations``).
    ``dataset_gates``: the cohort manifest's ``notes.gates`` (dataset -> the genotyped_without_person
    record; ``tables.dataset_gate_relations``). ``absent_tables``: its ``notes.optional_tables_absent``,
    named in the Methods (``methods_html``); ``ehr_evidence``: its ``notes.ehr_evidence.rule``, the
    controls' EHR evidence rule the Methods state (``controls_text``)."""
    threshold = cfg.report.small_count_threshold
    domains = list(cfg.trait_panel.domains) if cfg.trait_panel else []
    traits = dict(zip(t["match_summary"]["pgs_id"], t["match_summary"]["trait"]))
    rc = ReleaseCounts(
        cohort_flow=t["cohort_flow"], cohort_counts=t.get("cohort_counts"), logistic=t["logistic"],
        cox=t.get("cox"), pgs_distribution=t.get("pgs_distribution"),
        primary_definition=cfg.phenotypes.primary_definition,
        km_curves=coarsen_km(t["km_curves"], threshold) if t.get("km_curves") is not None else None,
        km_grid=t.get("km_curves"),
        difference=t.get("difference"), replication=t.get("replication"), meta=t.get("meta"),
        consistency=t.get("consistency"), prior=prior_counts(other_exports or {}),
        prior_labels=prior_labels(other_exports or {}), prior_thresholds=prior_thresholds(other_exports or {}),
        prior_moments=prior_moments(other_exports or {}), prior_quantiles=prior_quantiles(other_exports or {}),
        discovery_dataset=next((d.name for d in cfg.datasets if d.role == "discovery"), None),
        discovery_significance=cfg.models.discovery_significance, discovery_alpha=cfg.models.alpha,
        dataset_flow=t["dataset_flow"].sort_values(["dataset", "step_order"], kind="mergesort")
        if t.get("dataset_flow") is not None else None,
        gates={name: {**g, "warn": getattr(cfg.phenotypes.gates, name).warn,
                      "known_levels": known_levels(name, g, getattr(cfg.phenotypes.gates, name), threshold)}
               for name, g in (gates or {}).items() if name in GATE_CELLS and isinstance(g, dict)},
        dataset_gates={ds: {**g, "warn": cfg.phenotypes.gates.genotyped_without_person.warn,
                            "known_levels": known_levels(GENOTYPED_WITHOUT_PERSON, g,
                                                         cfg.phenotypes.gates.genotyped_without_person, threshold)}
                       for ds, g in (dataset_gates or {}).items() if isinstance(g, dict)},
        nested_definitions=nested_definitions(cfg.phenotypes.trd_definitions),
        beyond_sd=beyond_sd,
        max_pgs_excess_kurtosis=cfg.report.max_pgs_excess_kurtosis,
    )
    safe = suppress_release(rc, threshold)
    if audited is not None:
        audited.update(safe)
    # Estimates of fits with hidden counts are left out of the export (tables and figures alike).
    t = {**t, **{name: safe[name] for name in ("difference", "replication", "meta", "consistency") if name in safe}}
    files: dict[str, pd.DataFrame] = {
        "cohort_flow.tsv": safe["cohort_flow"],
        "match_rates.tsv": t["match_summary"][REPORT_MATCH_COLUMNS],
        "results.tsv": safe["logistic"],
    }
    for name in ("cohort_counts", "cox", "pgs_distribution"):
        if name in safe:
            files[f"{name}.tsv"] = safe[name]
    for name in ("difference", "replication", "meta", "consistency"):
        if t.get(name) is not None:
            files[f"{name}.tsv"] = t[name]
    km = safe.get("km_curves")
    if km is not None:
        files["km_curves.tsv"] = km
    for name, df in files.items():  # the models stage refuses these; a table from elsewhere (an older run) may not
        bad = non_finite_cells(df)
        if bad:
            raise ModelError(f"{len(bad)} non-finite value(s) published as if a number, first {bad[0]}; rerun the "
                             "models stage (its fitters withhold such estimates)", where=f"export/{name}")

    sections: list[tuple[str, str, str]] = []
    flow = safe["cohort_flow"]
    chain, labels = flow_labels(cfg, list(flow["step"]), deaths_known="death" not in (absent_tables or []))
    diagram = attrition_figure(flow, main_steps=chain, labels=labels,
                               definition_order=[d.name for d in cfg.phenotypes.trd_definitions])
    flow_html = figure(diagram.svg, "Cohort attrition: persons remaining after each step, the persons excluded "
                       "between steps, and each TRD definition's groups (suppressed counts as shown in the table). "
                       f"Per definition, {FLOW_NESTING}")
    flow_html += _details(html_table(flow.assign(step=[labels.get(s, s) for s in flow["step"]]),
                                     "Persons remaining after each step (per TRD definition)"), "table")
    if "cohort_counts" in safe:
        cc = safe["cohort_counts"].pivot_table(index=["dataset", "definition"], columns="status", values="n",
                                               aggfunc="first").reset_index().rename_axis(columns=None)
        flow_html += html_table(cc, "Analysed persons by status (genotyped, unrelated)")
    if "dataset_flow" in safe:
        flow_html += dataset_flow_html(safe["dataset_flow"], cfg.phenotypes.primary_definition, threshold)
    sections.append(("cohort", "Cohort flow", flow_html))
    sections.append(("matching", "PGS variant matching", html_table(
        match_rates(t["match_summary"]), "Variants matched / in the scoring file, per dataset (variant counts)")))
    fallback_html = standardisation_fallback_note(
        standardisation_fallback or {}, pcs_set_floor=floor_set_by_pcs(threshold, cfg.pgs.standardisation_n_pcs))
    if fallback_html:
        sections.append(("standardisation", "PGS standardisation fallback", fallback_html))
    beyond_html = beyond_sd_note(beyond_sd or {})
    if beyond_html:
        sections.append(("beyond_sd", "PGS far beyond a normal tail", beyond_html))
    if "pgs_distribution" in safe:
        dist = safe["pgs_distribution"]
        # Which persons (pgs_distribution: the primary definition's analysis frame, every status),
        # and that the SD was set on another set (standardisation_text), so a mean or SD away
        # from 0 / 1 reads as what it is.
        who = (f"analysed persons (definition {cfg.phenotypes.primary_definition}, every status; the SD is that of "
               "all unrelated genotyped persons of the dataset with PCs, see Methods)")
        figs = "".join(figure(distribution_figure(g, title=f"PGS by genetic ancestry group: {ds}", traits=traits).svg,
                              f"{ds}: PGS per SD by ancestry group, {who} (a quantile with fewer than {threshold} "
                              "persons below or above it not shown, nor any statistic of a score of fewer than "
                              f"{threshold} values or of fewer than {threshold} persons off a group's most "
                              "frequent value)")
                       for ds, g in dist.groupby("dataset", sort=True))
        sections.append(("distributions", "PGS distributions by ancestry group", figs + _details(
            html_table(dist, f"Quantiles of the PGS per SD, {who}"), "table")))

    logistic = safe["logistic"]
    forests = []
    for contrast in cfg.models.contrasts:
        rows, title = forest_rows(safe["logistic"], t.get("meta"), cfg, contrast)
        if len(rows):
            forests.append(figure(forest_figure(rows, title=title).svg,
                                  "Odds ratio per SD of PGS with 95% CI, adjusted for the covariates, in each dataset "
                                  "and the fixed-effect meta-analysis (diamond; no pooled N shown); N and cases as "
                                  "exported (suppressed counts as labels)"))
    sections.append(("forest", "Associations by domain (forest plots)", "".join(forests)))

    discovery = next(d.name for d in cfg.datasets if d.role == "discovery")
    primary = cfg.phenotypes.primary_definition
    sel = logistic[(logistic["dataset"] == discovery) & (logistic["definition"] == primary)]
    n_tests, m_text = bonferroni_tests(sel)
    bonf = cfg.models.alpha / n_tests
    sections.append(("significance", "Significance overview", figure(
        significance_figure(sel, domains=domains, contrasts=list(cfg.models.contrasts), bonferroni_p=bonf,
                            title=f"All PGS by domain: {discovery}, definition {primary}").svg,
        f"-log10 p per PGS and contrast; dashed line: Bonferroni threshold alpha/{n_tests} ({m_text})")))
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
        cox_main = safe.get("cox")
        cox_rows = ({} if cox_main is None else {r["pgs_id"]: r for _, r in cox_main[
            (cox_main["dataset"] == discovery) & (cox_main["definition"] == primary)].iterrows()})
        prog += '<div class="figs">' + "".join(
            km_figure(g, title=f"{traits.get(p, p)} ({p})", cox=cox_rows.get(p)).svg
            for p, g in sub.groupby("pgs_id", sort=True)) + "</div>"
        internal, coarse = t["km_curves"], rc.km_curves
        assert coarse is not None  # km, the audited curves, are these points
        reasons = km_reasons(internal[(internal["dataset"] == discovery) & (internal["definition"] == primary)],
                             coarse[(coarse["dataset"] == discovery) & (coarse["definition"] == primary)],
                             sub, sorted(traits), threshold)
        prog += (f'<p class="note">Kaplan-Meier probability of staying TRD-free by PGS third with 95% CI bands '
                 f"({discovery}, definition {primary}), drawn as steps between the published points, each the "
                 "life table (actuarial) estimate from the published counts: a point is "
                 f"published only when at least {threshold} events and 0 or at least {threshold} censored persons "
                 f"lie since the previous one, and curves end where fewer than {threshold} remain at risk. Numbers at "
                 "risk are those of the published points (the first in each year). Cox HR per SD of PGS from the "
                 "Cox model below."
                 + "</p>")
        if reasons:
            prog += ('<p class="note">Curves not shown, or shown in part, and why:</p><ul class="note">'
                     + "".join(f"<li>{traits.get(p, p)} ({p}): {r}</li>" for p, r in reasons.items()) + "</ul>")
    if "cox" in safe:
        cox = safe["cox"]
        main = cox[(cox["dataset"] == discovery) & (cox["definition"] == primary)]
        prog += html_table(main, f"Cox PH: time from MDD index to TRD per SD of PGS ({discovery}, definition {primary})")
        prog += _details(html_table(cox, "Cox PH, all datasets and definitions"), f"all {len(cox)} models")
    if prog:
        sections.append(("progression", "Progression from MDD to TRD", prog))
    sections.append(("methods", "Methods", methods_html(cfg, versions, threshold, sorted(other_exports or {}),
                                                        absent_tables, ehr_evidence)))

    page = render_page(release=cfg.release, sections=sections, threshold=threshold,
                       meta={"report date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                             "config hash": cfg.fingerprint()[:12], "code version": code_version()})
    out = {name: to_tsv(with_provenance(df, cfg)) for name, df in files.items()}
    out["report.html"] = page
    return out


# The columns every exported TSV ends with, the same value in every row: the release and the config
# hash (its first 12 characters, as report.html's header shows it; export/_manifest.json has the whole
# hash, the code version and each file's SHA-256). A TSV copied out of export/ alone said neither
# (session 53's new user); as columns, not a comment line, so that every TSV reader (pandas, R,
# spreadsheets, the audit's own readers, which read columns by name) reads the file as before.
PROVENANCE_COLUMNS = ("release", "config_hash")


def with_provenance(df: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """``df`` with ``PROVENANCE_COLUMNS`` appended (a table of no row keeps them as its header).
    A release label and a hash: no count, no identifier (docs/privacy.md)."""
    clash = [c for c in PROVENANCE_COLUMNS if c in df.columns]
    if clash:
        raise AssertionError(f"an exported table already has the provenance column(s) {clash}")
    return df.assign(release=cfg.release, config_hash=cfg.fingerprint()[:12])


def bonferroni_tests(results: pd.DataFrame) -> tuple[int, str]:
    """The m of the significance figure's Bonferroni line alpha/m and its words, from the
    exported logistic rows of one dataset and definition (``results``: contrast, pgs_id, p).

    m is what the tables' ``p_bonferroni`` divides by: the fits with a p-value in the contrast's
    family (``models.multiple_testing``, over the shown p: ``tables.corrections_over_shown``); a
    failed fit (a panel score the analysis frame lacks, zero variance, separation) or one the
    export hides is no test. Counting every score of the panel drew the line at alpha/61 where
    the table's Bonferroni p used, say, 58 tests: a score between the two was significant in the
    table and under the line. One line for every contrast: where their m differ, the largest (the
    strictest line; a point above it is significant in every contrast's family). At least 1."""
    tested = results[pd.to_numeric(results["p"], errors="coerce").notna()]
    per_contrast = tested.groupby("contrast")["pgs_id"].nunique()
    if per_contrast.empty:
        return 1, "no fit with a p-value"
    m = int(per_contrast.max())
    return m, f"m = {m} fits with a p-value" + ("" if per_contrast.nunique() == 1 else ", the most of any contrast")


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
        figs.append(scatter_figure(wide[a], wide[b], labels=list(wide["trait"]), x_label=f"log OR, {a}",
                                   y_label=f"log OR, {b}", r2=r2, title=f"{a} vs {b}").svg)
    note = f'<p class="note">Log OR per SD of PGS, TRD vs non-MDD ({what}); dashed: identity line.</p>'
    return ('<div class="figs">' + "".join(figs) + "</div>" + note) if figs else ""


def _versions(ctx: StageContext) -> dict:
    """Library versions recorded in the upstream stages' manifests (plus this code's version)."""
    out: dict = {}
    for stage in (s for s in STAGES if s in ctx.spec.upstream):  # run order: later stages' versions win
        out.update(ctx.manifest(stage).get("versions") or {})
    out["trd_spark"] = code_version()
    return out


def run(ctx: StageContext) -> dict[str, str]:
    """Build the report from published stage outputs; publish ``report/`` and ``export/``.

    Reads models/logistic, phenotypes/cohort_flow and pgs/match_summary (required), the
    other models tables and cohort/cohort_counts when present, cohort/analysis_frame (PGS
    distributions) and the upstream manifests (versions, standardisation fallbacks).
    Returns {file name: published path under report/}."""
    cfg = ctx.cfg
    t: dict[str, pd.DataFrame] = {  # the required tables and the optional ones present
        "logistic": _read(ctx, "models", "logistic", "logistic results"),
        "cohort_flow": _read(ctx, "phenotypes", "cohort_flow", "cohort flow", COHORT_FLOW.names),
        "match_summary": _read(ctx, "pgs", "match_summary", "PGS match summary", REPORT_MATCH_COLUMNS)
        .sort_values(["dataset", "pgs_id"], kind="mergesort"),
    }
    optional = [("models", name) for name in OPTIONAL_MODEL_TABLES] + [("cohort", "cohort_counts"),
                                                                      ("cohort", "dataset_flow")]
    for stage, name in optional:
        if name == "cox" and not cfg.models.cox:
            continue
        df = ctx.read_optional(stage, name)
        if df is not None:
            t[name] = df.toPandas()
    flow = t["cohort_flow"]
    flow = flow.assign(_later=flow["definition"] != ALL_DEFINITIONS)
    t["cohort_flow"] = flow.sort_values(["_later", "definition", "step_order"], kind="mergesort").drop(columns="_later")
    frame = ctx.read_optional("cohort", "analysis_frame")
    if frame is not None:
        pgs_ids = [e.pgs_id for e in cfg.trait_panel.scores] if cfg.trait_panel else []
        t["pgs_distribution"] = pgs_distribution(frame, pgs_ids, cfg.phenotypes.primary_definition)
    skipped = [n for n in OPTIONAL_MODEL_TABLES if t.get(n) is None]
    if skipped:
        log.info("report: optional tables not present, sections skipped: %s", ", ".join(skipped))

    cohort_notes = ctx.manifest("cohort").get("notes") or {}
    others = released_exports(ctx.fs, cfg)
    if others:
        log.info("report: audited with the counts of %d published export(s): %s", len(others),
                 ", ".join(sorted(others)))
    threshold = cfg.report.small_count_threshold
    disclosed = shown_under_threshold(others, cfg.release, threshold)
    if disclosed:
        log.warning("report: earlier export(s) of release %s show counts from 1 to %d as numbers (%s); this export "
                    "hides them, but cannot take back what those showed: whoever holds one still has those counts. "
                    "Named in export/%s (%s); if one left the workbench, tell the data owner",
                    cfg.release, threshold - 1,
                    ", ".join(f"{label} under threshold {t if t is not None else 'unknown'}"
                              for label, t in disclosed.items()), MANIFEST, EARLIER_EXPORTS_SHOWING)
    # Before the report's manifest (which holds the current export's hidden counts) is replaced.
    archive_export(ctx.fs, cfg)
    audited: dict[str, pd.DataFrame] = {}
    # The driver's work of minutes (no Spark job): named, so the heartbeat can say what it waits for.
    log.info("report: building the tables, the disclosure audit and the figures from %d tables", len(t))
    phenotype_notes = ctx.manifest("phenotypes").get("notes") or {}
    files = build_report(cfg, t, _versions(ctx), cohort_notes.get("pgs_standardisation_fallback"), others, audited,
                         gates=phenotype_notes.get("gates"), dataset_gates=cohort_notes.get("gates"),
                         absent_tables=phenotype_notes.get("optional_tables_absent"),
                         ehr_evidence=(phenotype_notes.get("ehr_evidence") or {}).get("rule"),
                         beyond_sd=cohort_notes.get("pgs_beyond_sd"))
    log.info("report: %d files (%s)", len(files), ", ".join(sorted(files)))
    with ctx.publish() as writer:
        for name, text in files.items():
            writer.write_text(name, text)
        writer.notes["small_count_threshold"] = cfg.report.small_count_threshold
        # Internal (report/ stays on the workbench): what the export hides, for later releases' audits.
        writer.notes["hidden_counts"] = hidden_counts(files, t, audited.get("dataset_flow"))
        writer.notes["hidden_counts_format"] = HIDDEN_COUNTS_FORMAT
        # export/ carries this run's id: a run stopped before publishing it reruns the report.
        writer.notes[PUBLISHED_WITH_RUN_ID] = [EXPORT]
    # The export is part of the report stage's run: it carries that run's id (a random hex).
    publish_export(ctx.fs, cfg, files, run_id=writer.run_id, earlier_disclosed=disclosed)
    return {name: ctx.layout.file("report", name) for name in files}


# ``export/_manifest.json``'s key naming the earlier exports of the release that show counts this
# export's threshold hides ({label: their threshold}; ``tables.shown_under_threshold``).
EARLIER_EXPORTS_SHOWING = "earlier_exports_showing_counts_under_threshold"


def export_manifest(cfg: Config, files: dict[str, str], run_id: str | None = None,
                    earlier_disclosed: dict[str, int | None] | None = None) -> dict:
    """What ``export/_manifest.json`` says: release, the report run's id, code version,
    config hash, the suppression threshold and, per exported file (name relative to
    ``export/``), its SHA-256 and size in bytes. No path, host, input fingerprint or run time
    (unlike the internal stage manifests). ``earlier_disclosed``: the earlier exports of the
    release that show counts under this threshold ({release@run id: the threshold each was made
    under}; ``tables.shown_under_threshold``), named under ``EARLIER_EXPORTS_SHOWING`` when any,
    so whoever receives this export knows it does not undo them (labels and thresholds only)."""
    extra = {EARLIER_EXPORTS_SHOWING: dict(sorted(earlier_disclosed.items()))} if earlier_disclosed else {}
    return {
        **extra,
        "release": cfg.release,
        "run_id": run_id,
        "code_version": code_version(),
        "config_hash": cfg.fingerprint(),
        "small_count_threshold": cfg.report.small_count_threshold,
        "files": {name: {"sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                         "bytes": len(text.encode("utf-8"))} for name, text in sorted(files.items())},
    }


def drop_checksum_files(folder: str) -> int:
    """Remove the hidden ``.<name>.crc`` files Hadoop's local file system writes next to each
    file (other file systems write none); returns how many were removed."""
    if is_uri(folder):
        return 0
    crc = list(Path(folder).glob(".*.crc"))
    for p in crc:
        p.unlink()
    return len(crc)


def publish_export(fs: Fs, cfg: Config, files: dict[str, str], run_id: str | None = None,
                   earlier_disclosed: dict[str, int | None] | None = None) -> str:
    """Publish ``{release}/export/`` atomically with only what may leave the workbench: the
    report files, ``_manifest.json`` (``export_manifest``) and the empty ``_SUCCESS`` marker
    that completeness checks use. Hadoop's local file system writes a hidden ``.crc`` next to
    every file; they are removed before the folder becomes visible. A complete export it replaces
    is kept first (``archive_export``; ``run`` keeps it before the report's manifest changes, so
    that its hidden counts are kept too). Returns the folder."""
    layout = Layout.of(cfg)
    archive_export(fs, cfg)
    final = layout.stage_dir(EXPORT)
    manifest = export_manifest(cfg, files, run_id, earlier_disclosed)
    publish_folder(fs, final, {**files, MANIFEST: json.dumps(manifest, indent=2, sort_keys=True), SUCCESS: ""},
                   before_swap=drop_checksum_files)
    log.info("export: %d files and %s in %s", len(files), MANIFEST, final)
    return final

