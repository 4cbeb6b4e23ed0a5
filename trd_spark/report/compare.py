"""`trd-spark compare-releases A B`: what changed between two releases' results.

Writes ``{output_root}/compare/{A}_vs_{B}/`` with
- ``cohort_sizes.tsv``: each cohort-flow step's count in A and B and the change, audited as
  one table (``cohort_size_changes``: a change of 1..threshold-1 is never derivable from it);
- ``_disclosure.json``: whether the folder may leave the workbench (``for_export``);
- ``pgs_correlation.tsv``: per dataset x PGS, the Pearson correlation of the raw score
  (score_sum) between releases for persons in both, computed in Spark (only the correlation
  and the suppressed number of persons leave the executors; none for a score of one or a few
  rare variants, whose correlation counts the persons whose genotype changed);
- ``estimates.tsv``: ORs (logistic) and HRs (Cox) side by side, ``ci_overlap`` false where the
  95% CIs no longer overlap, as the two exports show them (``exported_estimates``): a model
  whose counts an export hides has no estimate there, nor here.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trd_spark.config import MAX_PGS_EXCESS_KURTOSIS, Config, local_path, named_key
from trd_spark.errors import ConfigError, InputDataError, TrdSparkError
from trd_spark.io import Fs, read_table, to_tsv
from trd_spark.layout import (
    EXPORT,
    MANIFEST,
    Layout,
    audit_root_problem,
    held_columns,
    manifest_field,
    publish_folder,
    read_manifest,
)
from trd_spark.logs import count_text, is_small_count
from trd_spark.report.suppression import (
    SECONDARY_LABEL,
    audit_suppression,
    chain_relations,
    label_bounds,
    suppressed_label,
)
from trd_spark.report.tables import REPORT_SHOWS, checked_hidden_counts, group_member_relation, partition_relations
from trd_spark.vocabulary import ALL_DEFINITIONS, DatasetFlowStep

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from trd_spark.releases import FsLike

log = logging.getLogger(__name__)

KEYS = {"logistic": ["dataset", "definition", "contrast", "pgs_id"], "cox": ["dataset", "definition", "pgs_id"]}
EFFECT = {"logistic": "odds_ratio", "cox": "hazard_ratio"}


def comparison_threshold(threshold: int, *export_thresholds: int) -> int:
    """The small-count threshold a comparison works under: the strictest of the config's
    (``threshold``) and those the two releases were exported under (``export_threshold``). A
    release exported under 25 and compared under 20 had changes of 20..24 persons shown (1000 ->
    1022), counts of 1..24 by that release's rule."""
    return max(threshold, *export_thresholds)


def export_threshold(fs: FsLike, lay: Layout, default: int) -> int:
    """The threshold a release's export was made under, as its ``export/_manifest.json`` names
    it (``small_count_threshold``); ``default`` for an export whose manifest names none (made
    before manifests recorded it). A damaged manifest, or a threshold that is no whole number:
    InputDataError naming the file (``layout.read_manifest``, ``layout.manifest_field``)."""
    path = lay.file(EXPORT, MANIFEST)
    threshold = manifest_field(read_manifest(fs, path), "small_count_threshold", int, path)
    return default if threshold is None else int(threshold)


def cohort_size_changes(flow_a: pd.DataFrame, flow_b: pd.DataFrame, shown_a: pd.DataFrame, shown_b: pd.DataFrame,
                        threshold: int, export_thresholds: tuple[int, int] | None = None) -> tuple[pd.DataFrame, bool]:
    """Cohort-flow counts of A and B side by side with the change, audited as one table.

    ``flow_a``/``flow_b``: the releases' internal cohort_flow (definition, step_order, step,
    n); ``shown_a``/``shown_b``: the same tables as exported (text). A change is a count too:
    the audit (``suppression.audit_suppression``, with each release's own flow relations) sees
    each release's counts as its export shows them and hides further ones here until no change
    of 1..threshold-1 can be derived, nor a change of the persons excluded between two steps.
    A change next to a count an export hides is blank (``<T`` would bound that count).
    ``threshold``: the comparison's (``comparison_threshold``: at least each export's);
    ``export_thresholds``: those A's and B's exports were made under (default ``threshold``):
    each export's labels are read as its own (``label_bounds``: B's ``<20`` is 1..19, A's
    ``suppressed`` under 25 at least 25) and shown as that export shows them, and a count an
    export shows that is under ``threshold`` (22, exported under 20, compared under 25) is
    known to the outsider: fixed in the audit, shown here as ``<threshold``.
    Returns (table with n_a, n_b, change as text, ``for_export``): ``for_export`` is False when
    this table had to hide a count that a release's export shows, or when the counts the exports
    show pin a change by themselves, i.e. the two exports together reveal a small change.
    """
    export_thresholds = export_thresholds or (threshold, threshold)
    values: dict[tuple, int] = {}
    published, relations, pre, pre_bounds, known = set(), [], {}, {}, set()
    for tag, flow, shown, t_export in (("a", flow_a, shown_a, export_thresholds[0]),
                                       ("b", flow_b, shown_b, export_thresholds[1])):
        text = {(d, st): str(v) for d, st, v in zip(shown["definition"], shown["step"], shown["n"])}
        for definition, grp in flow.groupby("definition", sort=True):
            grp = grp.sort_values("step_order")
            cells = [(tag, definition, st) for st in grp["step"]]
            for c, v in zip(cells, grp["n"]):
                values[c] = int(v)
                published.add(c)
                if not text.get(c[1:], "").isdigit():
                    pre[c] = text.get(c[1:], SECONDARY_LABEL)
                    pre_bounds[c] = label_bounds(pre[c], t_export)
                elif is_small_count(int(v), threshold):  # shown there under a lower threshold
                    known.add(c)
            implicit, rels = chain_relations(cells, values, ("step_diff", tag, definition))
            values.update(implicit)
            relations += rels + partition_relations(cells, values)
    both = sorted({c[1:] for c in published if c[0] == "a"} & {c[1:] for c in published if c[0] == "b"})
    for key in both:
        d = values[("b", *key)] - values[("a", *key)]
        values[("change", *key)] = abs(d)
        relations.append({("b", *key): 1, ("a", *key): -1, ("change", *key): -1 if d >= 0 else 1})
    # The persons newly excluded between two steps of a definition (1000 -> 1500 persons, 300
    # -> 793 MDD included: 7 more excluded between them): a signed cell per pair (the outsider
    # does not know its sign; ``tables.RELEASE_CHANGE_BETWEEN``).
    signed = set()
    for x, y in combinations(both, 2):
        if x[0] == y[0]:
            between = ("change_between", *x, y[1])
            values[between] = (values[("b", *x)] - values[("b", *y)]) - (values[("a", *x)] - values[("a", *y)])
            relations.append({("b", *x): 1, ("b", *y): -1, ("a", *x): -1, ("a", *y): 1, between: -1})
            signed.add(between)
    audit = audit_suppression(values, published, relations, threshold, hidden=pre, signed=signed,
                              known=known, hidden_bounds=pre_bounds)
    hide = audit.hide

    def shown_value(cell):
        return pre.get(cell, hide.get(cell, values[cell])) if cell in values else ""

    a = flow_a[["definition", "step_order", "step"]]
    out = a.merge(flow_b[["definition", "step"]], on=["definition", "step"], how="outer")
    out["n_a"] = [str(shown_value(("a", d, st))) for d, st in zip(out["definition"], out["step"])]
    out["n_b"] = [str(shown_value(("b", d, st))) for d, st in zip(out["definition"], out["step"])]

    def change(d, st):
        if ("change", d, st) not in values:
            return ""
        # Next to a count an export hides, a change is blank, never "<T": that label is not in
        # the audit, and with the other release's count it bounds the hidden one (170 in B and a
        # change of 1..19 put A's hidden 166 in 151..169, and with 160 shown on the next step the
        # 6 persons excluded between them in 0..9). Both counts shown in the exports: the change
        # is theirs to derive, so its label tells nothing new.
        if ("a", d, st) in pre or ("b", d, st) in pre:
            return ""
        if ("a", d, st) in hide or ("b", d, st) in hide:
            return suppressed_label(threshold) if is_small_count(values[("change", d, st)], threshold) else ""
        return str(values[("b", d, st)] - values[("a", d, st)])

    out["change"] = [change(d, st) for d, st in zip(out["definition"], out["step"])]
    for_export = (set(hide) <= set(pre) | {c for c in published if is_small_count(values[c], threshold)}
                  and not audit.pinned_by_known)
    out = out.sort_values(["definition", "step_order"], kind="mergesort", na_position="last").reset_index(drop=True)
    return out[["definition", "step_order", "step", "n_a", "n_b", "change"]], for_export


def scored_persons_shown(fs: FsLike, lay: Layout) -> set[str]:
    """The datasets whose genotyped persons with PGS (the first step of the genotyped ->
    analysed table, on report.html only) the release's report shows as a number, read from its
    internal manifest's record of how it showed them (``tables.hidden_counts``' ``report_shows``
    entries: [REPORT_SHOWS, "dflow", dataset, definition, step, text]). A report with no such
    record (an older version): none. Raises InputDataError naming the manifest when its record
    is of a format or kind this version does not read (``tables.checked_hidden_counts``)."""
    notes = (lay.manifest(fs, "report") or {}).get("notes") or {}
    entries = checked_hidden_counts(notes.get("hidden_counts") or [], notes.get("hidden_counts_format"),
                                    lay.file("report", MANIFEST))
    with_pgs = ("dflow", ALL_DEFINITIONS, str(DatasetFlowStep.WITH_PGS))
    # [kind, *audit cell, text]: the cell ("dflow", dataset, definition, step) less its dataset.
    return {str(cell[1]) for kind, *cell, text in entries
            if kind == REPORT_SHOWS and (*cell[:1], *cell[2:]) == with_pgs and str(text).isdigit()}


def score_correlation(scores_a: DataFrame, scores_b: DataFrame, threshold: int,
                      shown: tuple[set[str], set[str]] | None = None,
                      kurtosis_limit: float = MAX_PGS_EXCESS_KURTOSIS) -> pd.DataFrame:
    """Per dataset x pgs_id (those with persons in both releases): ``n_both``, the persons
    scored in both releases (audited by ``pair_counts_shown``), and the Pearson
    ``correlation`` of score_sum between releases (null when ``n_both`` < ``threshold``, and for
    a score of few values, one most persons share or a heavy tail above ``kurtosis_limit``,
    ``carrier_count_pairs``).
    ``shown``: the datasets whose scored persons release A's and B's reports show
    (``scored_persons_shown``); None: every dataset (``pair_counts_shown``)."""
    return score_correlation_audited(scores_a, scores_b, threshold, shown, kurtosis_limit=kurtosis_limit)[0]


def score_correlation_audited(scores_a: DataFrame, scores_b: DataFrame, threshold: int,
                              shown: tuple[set[str], set[str]] | None = None,
                              prior: pd.DataFrame | None = None,
                              kurtosis_limit: float = MAX_PGS_EXCESS_KURTOSIS) -> tuple[pd.DataFrame, bool]:
    """(``score_correlation``'s table, ``pinned``): ``n_both`` audited also against ``prior``,
    the ``n_both`` earlier published comparisons show (``published_pair_counts``), and
    ``pinned`` True when what is already published pins a small change of them by itself
    (``pair_counts_audit``): the comparison is then not for export."""
    from pyspark.sql import functions as F

    keys = ["dataset", "person_id", "pgs_id"]
    a = scores_a.select(*keys, F.col("score_sum").alias("a"), F.lit(1).alias("_in_a"))
    b = scores_b.select(*keys, F.col("score_sum").alias("b"), F.lit(1).alias("_in_b"))
    in_both = F.col("_in_a").isNotNull() & F.col("_in_b").isNotNull()
    joined = a.join(b, keys, "full")
    agg = (joined.groupBy("dataset", "pgs_id").agg(
        F.count("_in_a").alias("n_a"), F.count("_in_b").alias("n_b"),
        F.count(F.when(in_both, 1)).alias("n_both"),
        F.corr(F.when(in_both, F.col("a")), F.when(in_both, F.col("b"))).alias("correlation"))
        .where(F.col("n_both") > 0).toPandas().sort_values(["dataset", "pgs_id"]).reset_index(drop=True))
    agg.loc[agg["n_both"] < threshold, "correlation"] = float("nan")
    agg.loc[carrier_count_pairs(joined.where(in_both), agg, threshold, kurtosis_limit), "correlation"] = float("nan")
    if shown is not None:
        agg["shown_a"], agg["shown_b"] = (agg["dataset"].isin(sorted(s)) for s in shown)
    # Each dataset's scored persons (with any score), the number its report shows: a person
    # lacking one score counts there, not in that score's n_a.
    for tag, scores in (("a", scores_a), ("b", scores_b)):
        scored = scores.groupBy("dataset").agg(F.countDistinct("person_id").alias(f"scored_{tag}")).toPandas()
        agg = agg.merge(scored, on="dataset", how="left")
    agg["n_both"], pinned = pair_counts_audit(agg, threshold, prior)
    return agg[["dataset", "pgs_id", "n_both", "correlation"]], pinned


def carrier_count_pairs(both: DataFrame, agg: pd.DataFrame, threshold: int,
                        kurtosis_limit: float = MAX_PGS_EXCESS_KURTOSIS) -> pd.Series:
    """Rows of ``agg`` (dataset, pgs_id, n_both) whose score takes few values, or has a value
    most of the persons in both releases share, in either release (``both``: dataset, pgs_id, the
    scores ``a`` and ``b`` of those persons; the report's rules on one group of them:
    ``tables.few_valued_scores``, ``tables.tie_heavy_scores``). Such a correlation is a 2x2 table's
    phi at full precision: a one-variant score's r of 0.9514828010902 among 100,000 persons in
    both was one table only, 40 carriers in A, 42 in B, 39 in both: the 1 person whose call was
    lost and the 3 whose call was gained since (tests/test_privacy_s51.py). So does one whose
    excess kurtosis in either release is above ``tables.kurtosis_bar`` (``kurtosis_limit``:
    report.max_pgs_excess_kurtosis; ``tables.heavy_tailed_scores``): a rare variant of large weight
    carrying most of its variance, the correlation then mostly its carriers' table
    (tests/test_privacy9_s52.py). One Spark job per release on the distinct values (rounded to
    ``report.stage.DISTINCT_DECIMALS``) and one on both releases' kurtosis; a boolean Series on
    ``agg``'s index."""
    from pyspark.sql import functions as F

    from trd_spark.report.stage import DISTINCT_DECIMALS
    from trd_spark.report.tables import DISTINCT_VALUES, LARGEST_TIE, few_valued_scores, kurtosis_bar, tie_heavy_scores

    out = pd.Series(False, index=agg.index, dtype=bool)
    if agg.empty:
        return out
    tails = agg[["dataset", "pgs_id", "n_both"]].merge(
        both.groupBy("dataset", "pgs_id").agg(F.kurtosis("a").alias("k_a"), F.kurtosis("b").alias("k_b")).toPandas(),
        on=["dataset", "pgs_id"], how="left")
    out |= pd.Series([any(pd.notna(k) and k > kurtosis_bar(float(n), kurtosis_limit) for k in (ka, kb))
                      for n, ka, kb in zip(tails["n_both"], tails["k_a"], tails["k_b"])], index=agg.index, dtype=bool)
    for side in ("a", "b"):
        spread = (both.groupBy("dataset", "pgs_id", F.round(side, DISTINCT_DECIMALS).alias("value")).count()
                  .groupBy("dataset", "pgs_id").agg(F.count("*").alias(DISTINCT_VALUES),
                                                    F.max("count").alias(LARGEST_TIE)).toPandas())
        dist = agg[["dataset", "pgs_id", "n_both"]].rename(columns={"n_both": "n"}).merge(
            spread, on=["dataset", "pgs_id"], how="left")
        dist.index = agg.index
        out |= few_valued_scores(dist, threshold) | tie_heavy_scores(dist, threshold)
    return out


def pair_counts_shown(counts: pd.DataFrame, threshold: int) -> pd.Series:
    """``pair_counts_audit``'s shown ``n_both`` with no earlier comparison published."""
    return pair_counts_audit(counts, threshold)[0]


def pair_counts_audit(counts: pd.DataFrame, threshold: int,
                      prior: pd.DataFrame | None = None) -> tuple[pd.Series, bool]:
    """``n_both`` as it may leave (object Series: int, "<T" or "suppressed").

    ``counts``: dataset, pgs_id, n_a, n_b (persons scored in release A / B), n_both (in both).
    ``n_both`` is a count, and so are the persons scored in one release only (``n_a - n_both``,
    e.g. 5 withdrawn participants): each release's export gives its scored persons away
    (pgs_distribution adds up to them), so the audit (``suppression.audit_suppression``) takes
    ``n_a`` and ``n_b`` as known and hides ``n_both`` ("<T" for 1..T-1, else "suppressed")
    until neither it nor a one-release count of 1..T-1 can be derived. Equal counts of one
    dataset under several scores (the same persons) are linked: hiding one copy protects nothing;
    and two scores' n_both of one dataset give the persons in both releases lacking one score
    (500 and 493: 7), a cell of the audit too.
    Optional ``scored_a`` / ``scored_b``: the dataset's scored persons in A / B (with any score),
    the number its report shows (the first step of the genotyped -> analysed table). That, not
    ``n_a`` / ``n_b``, is what an outsider knows: where a person lacks a score, that score's
    ``n_a`` is the dataset's less a cell (``group_member_relation``), unknown, and the dataset's
    scored persons less ``n_both`` counts persons too (500 scored in A, each of two scores lacking
    one of them, all 499 in B: n_both 499 and 499 gave 1; tests/test_privacy_s35.py). Without
    them each ``n_a`` / ``n_b`` is taken as shown.
    Optional ``shown_a`` / ``shown_b`` (bool): whether release A's (B's) report shows the
    dataset's scored persons. Where either does not, the dataset's ``n_both`` are all hidden (a
    label): ``n_a`` is no known count there, and every person of an earlier release still in the
    later one (none withdrawn) makes ``n_both`` that release's scored persons, which its report
    hid to protect a smaller count. Shown, the toy releases' 195 persons of replication_wgs in
    both, less toy-r1's removed as related (0) and without ancestry (0), less its analysis frame
    (187: the MDD vs non-MDD model's N) gave the 8 persons with PCs outside the frame
    (tests/test_privacy_s34.py).
    ``prior``: dataset, pgs_id, n_both (int), source: the ``n_both`` an earlier published
    comparison shows exactly (``published_pair_counts``: of these releases' earlier exports, or of
    another pair). Each is known, and its difference with this ``n_both`` (same dataset and score)
    a signed cell: 480 persons of A in B, then 473 after B was re-exported without 7 withdrawn
    participants, gave the 7, each comparison audited alone (session 46, C3). Returns (shown
    ``n_both``, ``pinned``: a small difference pinned by the known counts alone, which no label
    here hides: the comparison is then not for export, ``NOT_FOR_EXPORT_PAIRS``). That happens
    where ``n_both`` is its release's shown scored persons and the threshold at once: all 20
    persons A's report shows scored in B, an earlier comparison's 27 (or 13, published under a
    threshold of 10), and ``n_both`` hidden as ``suppressed`` (at least 20, at most A's 20) is
    still 20: the 7 (tests/test_leftovers2_s47.py).
    """
    values: dict = {}
    published: set[tuple] = set()
    known: set[tuple] = set()
    relations: list[dict] = []
    same: dict = {}
    dataset_scored = {tag: counts[f"scored_{tag}"] if f"scored_{tag}" in counts else counts[f"n_{tag}"]
                      for tag in ("a", "b")}
    for ds, pgs, n_a, n_b, n_both, all_a, all_b in zip(counts["dataset"], counts["pgs_id"], counts["n_a"],
                                                       counts["n_b"], counts["n_both"], dataset_scored["a"],
                                                       dataset_scored["b"]):
        both = ("pgs_both", ds, pgs)
        values[both] = int(n_both)
        published.add(both)
        same.setdefault((ds, int(n_both)), []).append(both)
        for tag, n, n_all in (("a", n_a, all_a), ("b", n_b, all_b)):
            scored, only = ("pgs_scored", tag, ds, pgs), ("pgs_only", tag, ds, pgs)
            values[scored], values[only] = int(n), int(n) - int(n_both)
            relations.append({scored: 1, both: -1, only: -1})
            if int(n) == int(n_all):  # everyone scored has this score: its count is the one shown
                known.add(scored)
                continue
            total = ("pgs_scored_persons", tag, ds)
            values[total] = int(n_all)
            known.add(total)
            relations.append(group_member_relation(values, total, scored, ("pgs_lacking", tag, ds, pgs)))
    for group in same.values():
        relations += [{group[0]: 1, other: -1} for other in group[1:]]
    # The persons in both releases with one score but not another (500 with P1, 493 with P2: 7
    # lacking P2 in a release): each score's n_both is at most the dataset's largest (an
    # implicit group), the rest a cell (left out when 0), as tables.build_audit does for
    # pgs_distribution's groups.
    for ds, g in counts.groupby("dataset", sort=True):
        group = ("pgs_both_group", ds)
        values[group] = int(g["n_both"].max())
        for pgs in g["pgs_id"]:
            relations.append(group_member_relation(values, group, ("pgs_both", ds, pgs), ("pgs_both_lacking", ds, pgs)))
    signed = set()
    if prior is not None:
        for i, (ds, pgs, n, source) in enumerate(zip(prior["dataset"], prior["pgs_id"], prior["n_both"],
                                                     prior["source"])):
            both = ("pgs_both", ds, pgs)
            if both not in values:
                continue
            earlier, change = ("pgs_both_prior", source, ds, pgs, i), ("pgs_both_change", source, ds, pgs, i)
            values[earlier], values[change] = int(n), values[both] - int(n)
            known.add(earlier)
            signed.add(change)
            relations.append({both: 1, earlier: -1, change: -1})
    audit = audit_suppression(values, published, relations, threshold, known=known, signed=signed)
    hide = audit.hide
    unknown = {ds for ds, a, b in zip(counts["dataset"], counts.get("shown_a", [True] * len(counts)),
                                      counts.get("shown_b", [True] * len(counts))) if not (a and b)}
    return pd.Series([(suppressed_label(threshold) if is_small_count(int(n), threshold) else SECONDARY_LABEL)
                      if ds in unknown else hide.get(("pgs_both", ds, pgs), int(n)) for ds, pgs, n in
                      zip(counts["dataset"], counts["pgs_id"], counts["n_both"])],
                     index=counts.index, dtype=object), any(c[0] == "pgs_both_change" for c in audit.pinned_by_known)


def estimates_side_by_side(res_a: pd.DataFrame, res_b: pd.DataFrame, model: str) -> pd.DataFrame:
    """Effects and 95% CIs of A and B per model key; ``ci_overlap`` false when the CIs are disjoint."""
    keys, eff = KEYS[model], EFFECT[model]
    cols = keys + [eff, "ci_low", "ci_high", "p"]
    m = res_a[cols].merge(res_b[cols], on=keys, how="outer", suffixes=("_a", "_b"))
    # The trait as A names it, else as B does (a model in B only; an export of A made before
    # its tables carried the trait): never a blank where either release names it.
    named = [df[keys + ["trait"]] for df in (res_a, res_b) if "trait" in df.columns]
    traits = pd.concat(named).drop_duplicates(keys) if named else pd.DataFrame(columns=[*keys, "trait"])
    m = m.merge(traits, on=keys, how="left")
    m.insert(len(keys), "trait", m.pop("trait"))
    m.insert(0, "model", model)
    both = m[[f"{eff}_a", f"{eff}_b"]].notna().all(axis=1)
    disjoint = (m["ci_high_a"] < m["ci_low_b"]) | (m["ci_high_b"] < m["ci_low_a"])
    m["ci_overlap"] = pd.Series([None if not k else not d for k, d in zip(both, disjoint)], dtype=object)
    return m.rename(columns={f"{eff}_a": "effect_a", f"{eff}_b": "effect_b"})


# The outputs a comparison reads (cohort_flow from phenotypes and from the export, scores, models).
COMPARED_OUTPUTS = ("pgs", "phenotypes", "models", EXPORT)


# Exported model tables compared (export file -> model) and their estimate columns.
EXPORTED_MODELS = {"results.tsv": "logistic", "cox.tsv": "cox"}


def read_export(fs: FsLike, lay: Layout, name: str) -> pd.DataFrame:
    """One exported table of a release (``export/{name}``) as text, as an outsider reads it."""
    return pd.read_csv(io.StringIO(fs.read_text(lay.file(EXPORT, name))), sep="\t", dtype=str, keep_default_na=False)


def release_estimates(fs: FsLike, la: Layout, lb: Layout) -> pd.DataFrame:
    """``exported_estimates`` of two releases' ``export/`` folders (``fs``: io.Fs or
    io.LocalFs): what ``estimates.tsv`` holds."""
    a, b = ({name: read_export(fs, lay, name) for name in EXPORTED_MODELS if fs.exists(lay.file(EXPORT, name))}
            for lay in (la, lb))
    for lay, export in ((la, a), (lb, b)):  # a release exported by an older version: what it holds, or one line
        for name, table in export.items():
            model = EXPORTED_MODELS[name]
            held_columns(list(table.columns), [*KEYS[model], EFFECT[model], "ci_low", "ci_high", "p"],
                         lay.file(EXPORT, name), "report")
    return exported_estimates(a, b)


def exported_estimates(export_a: dict[str, pd.DataFrame], export_b: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``estimates_side_by_side`` of the model tables both exports hold (``export_x``: export
    file name -> table as text, e.g. "results.tsv", "cox.tsv"; a file absent from either:
    left out; none: an empty frame). The estimates are those the exports show: a model whose
    n, cases or events an export hides has no estimate there (``tables.hide_estimates_of_hidden_counts``:
    its CI gives 1/se^2, about its cases), so its side here is empty, never the internal fit."""
    parts = []
    for name, model in EXPORTED_MODELS.items():
        if name not in export_a or name not in export_b:
            continue
        numeric = [EFFECT[model], "ci_low", "ci_high", "p"]
        a, b = (_ratios_or_none(df.assign(**{c: pd.to_numeric(df[c], errors="coerce") for c in numeric}), model,
                                f"{side}'s {name}")
                for side, df in (("A", export_a[name]), ("B", export_b[name])))
        parts.append(estimates_side_by_side(a, b, model))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _ratios_or_none(table: pd.DataFrame, model: str, what: str) -> pd.DataFrame:
    """``table`` (an export's model rows, estimates numeric) with the estimates of a row emptied
    when its ratio or a CI bound is not a positive finite number or its p not finite: an export
    written before session 54 could show "inf" or 0 (exp overflow of a huge SE; now a failed row,
    ``ModelFailure.RATIO_OUT_OF_RANGE``), which ``estimates.tsv`` would republish as a number and
    read as overlapping any CI. A WARNING names such rows (model keys only)."""
    cols = [EFFECT[model], "ci_low", "ci_high"]
    values = table[cols].to_numpy(dtype=float)
    shown = ~np.isnan(values).all(axis=1)
    p = table["p"].to_numpy(dtype=float)
    bad = shown & ~((np.isfinite(values) & (values > 0)).all(axis=1) & ~np.isinf(p))
    if not bad.any():
        return table
    keys = "; ".join("/".join(str(v) for v in row) for row in table.loc[bad, KEYS[model]].itertuples(index=False))
    log.warning("compare-releases: export %s shows %d estimate(s) whose ratio or 95%% CI bound is infinite or 0 "
                "(an export of a version before session 54): left out of estimates.tsv (%s): %s", what,
                int(bad.sum()), "/".join(KEYS[model]), keys)
    return table.assign(**{c: table[c].mask(bad) for c in [*cols, "p"]})


def check_comparable(cfg: Config, fs: FsLike, *releases: str, rerun_options: str = "") -> None:
    """Raise InputDataError (naming the release, the output and the command that mends it)
    unless each release has every output in ``COMPARED_OUTPUTS`` published and none of them
    stale (``releases.stale_outputs``: computed from an upstream output republished since, e.g.
    by an interrupted rerun, or edited since published): a stale export's suppression labels
    belong to other counts than the phenotypes' cohort flow, and its models to other scores.
    ``rerun_options``: the options the user gave (``--config PATH`` as typed ...), put into the
    suggested ``trd-spark run`` command so that it reruns the same config, not the embedded toy one."""
    from trd_spark.releases import release_status

    for release in releases:
        status = release_status(cfg, fs, release)
        lay = Layout(cfg.output_root.rstrip("/"), release)
        for stage in COMPARED_OUTPUTS:
            if stage not in status.complete_stages:
                raise InputDataError(f"release {release} has no complete {stage} output ("
                                     f"{rerun_advice(cfg, release, rerun_options, 'run it first')})",
                                     where=lay.stage_dir(stage))
        stale = [s for s in status.stale_stages if s in COMPARED_OUTPUTS]
        if stale:
            raise InputDataError(
                f"release {release} is stale ({', '.join(stale)} computed from an upstream output republished "
                f"or edited since): {rerun_advice(cfg, release, rerun_options, 'rerun it first')}",
                where=lay.stage_dir(stale[0]))


# An input whose path the release's config no longer names (the config moved; the data it read may not have)
MOVED = "is no longer the one its config names"


@dataclass(frozen=True)
class InputChange:
    """An external input of a published stage whose fingerprint now differs from the one the
    stage's manifest recorded (``release_input_changes``): ``key`` the config key (named:
    ``datasets.discovery.genotypes.path``), ``path`` the one the stage read, ``gone`` whether
    nothing is there any more (else its files changed, or, with ``now``, the config names another
    path: the one read may be unchanged, so not "changed"), ``now`` the path the release's config
    names today when that is another one."""
    release: str
    stage: str
    key: str
    path: str
    gone: bool
    now: str | None = None

    def text(self) -> str:
        """One line for the WARNING and the printed summary (a path, no count)."""
        state = "no longer exists" if self.gone else (MOVED if self.now else "changed since it was published")
        moved = f"; the release's config now reads {self.now}" if self.now else ""
        return f"input {self.key} ({self.path}) of its {self.stage} stage {state}{moved}"

    def record(self) -> str:
        """The line ``_disclosure.json`` keeps (no path: the folder may leave the workbench)."""
        state = "no longer exists" if self.gone else (MOVED if self.now else "changed since the release was published")
        return f"release {self.release}: input {self.key} of its {self.stage} stage {state}"


def release_input_changes(cfg: Config, fs: FsLike) -> list[InputChange]:
    """The external inputs of ``cfg``'s release (``cfg``: the config ``trd-spark run --release
    R`` loads, ``cli._release_config_for``) that changed since the stage reading them published
    (``stages.changed_inputs`` on ``fingerprint_parts(..., recorded=...)``: the comparison
    ``rerun_reasons`` and ``pipeline._check_inputs_as_published`` make; stat-only for an unchanged
    local file), one per input and stage, in run order. Inputs only: the code or config a release
    ran with is its manifests', and a release run with older code is outdated, not changed. A
    stage not published, or whose manifest has no input fingerprints (an older version), has
    nothing to compare."""
    from trd_spark.stages import STAGE_SPECS, changed_inputs, fingerprint_parts

    layout, out = Layout.of(cfg), []
    for spec in STAGE_SPECS.values():
        if not layout.is_complete(fs, spec.name):
            continue
        old = ((layout.manifest(fs, spec.name) or {}).get("fingerprint_parts") or {}).get("inputs")
        if not isinstance(old, dict):
            continue
        new = fingerprint_parts(cfg, spec, fs, recorded=old)["inputs"]
        for key in changed_inputs(old, new):
            path, now = (str((fp.get(key) or {}).get("path", "")) for fp in (old, new))
            if now == path or not path:
                gone = (new.get(key) or {}).get("exists") is False
            else:  # the config names another path now: is the one the release read still there?
                local = local_path(path)
                gone = not (glob.glob(local) if local is not None else fs.exists(path))
            out.append(InputChange(layout.release, spec.name, named_key(key, cfg), path or now, gone,
                                   now if path and now != path else None))
    return out


def warn_changed_inputs(config_for: Callable[[str], Config], fs_for: Callable[[Config], FsLike],
                        *releases: str) -> list[str]:
    """One WARNING per release whose inputs changed since it was published
    (``release_input_changes`` under ``config_for(release)``, read with ``fs_for(that config)``:
    Hadoop's file system where planning needs it, ``releases.needs_spark_to_plan``, else
    ``os``, as ``trd-spark releases`` reads them), naming the release and each such
    input (paths, no counts); the comparison still runs: it compares what was published, not
    what a rerun would give. Returns the lines ``_disclosure.json`` keeps
    (``INPUTS_CHANGED``). A release whose config cannot be loaded: its WARNING says its inputs
    were not checked, and so does its line."""
    lines = []
    for release in releases:
        try:
            release_cfg = config_for(release)
            changes = release_input_changes(release_cfg, fs_for(release_cfg))
        except TrdSparkError as e:
            log.warning("compare-releases: whether release %s's inputs changed since it was published could not be "
                        "checked: %s", release, e)
            lines.append(f"release {release}: whether its inputs changed since it was published was not checked")
            continue
        if changes:
            log.warning("compare-releases: release %s's inputs changed since it was published: %s; the comparison "
                        "shows what it published, not what a rerun of it would give (`trd-spark explain --release "
                        "%s` says what would rerun)", release, "; ".join(c.text() for c in changes), release)
            lines += [c.record() for c in changes]
    return lines


# At most this many of a stage's differing modules and libraries are named (``code_differences``).
NAMED_CODE = 5


def code_differences(fs: FsLike, root: str, release_a: str, release_b: str) -> list[str]:
    """``["<stage>: <module or lib:name>, ..."]`` of each stage complete in both releases under
    ``root`` whose code differs between them: the ``code`` of its manifest's
    ``fingerprint_parts`` (``provenance.code_digests``: the package modules it ran and the versions
    of its libraries and Java), the run-control modules either leaves out not counted
    (``provenance.recorded_code``). Why: ``run --release latest`` applies a code fix to the newest
    release first and to the older ones one call later each, so between two calls a comparison
    set one release's results under the fix beside the other's under the code before, and showed
    the fix's effect as what changed between the releases, without a word. A manifest with no code
    record (an older version), or that cannot be read, is not compared."""
    from trd_spark.provenance import recorded_code
    from trd_spark.stages import STAGE_SPECS

    out = []
    for stage in STAGE_SPECS:
        codes = []
        for release in (release_a, release_b):
            layout = Layout(root, release)
            try:  # a damaged manifest is the comparison's checks' to report, not this note's
                manifest = layout.manifest(fs, stage) if layout.is_complete(fs, stage) else None
            except InputDataError:
                manifest = None
            parts = (manifest or {}).get("fingerprint_parts")
            code = parts.get("code") if isinstance(parts, dict) else None
            codes.append(code if isinstance(code, dict) else None)
        a, b = codes
        if a is None or b is None:
            continue
        a, b = recorded_code(a, b), recorded_code(b, a)
        keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        if keys:
            more = f" and {len(keys) - NAMED_CODE} more" if len(keys) > NAMED_CODE else ""
            out.append(f"{stage}: {', '.join(keys[:NAMED_CODE])}{more}")
    return out


def warn_code_differences(fs: FsLike, root: str, release_a: str, release_b: str) -> list[str]:
    """One WARNING when the two releases' stages ran different code (``code_differences``);
    returns the summary's line (none when the code is the same). Not refused: each release is
    what it published, and ``trd-spark releases`` shows which is outdated."""
    differences = code_differences(fs, root, release_a, release_b)
    if not differences:
        return []
    log.warning("compare-releases: releases %s and %s were made by different code (%s): a difference between "
                "them may come from the code, not the data; rerun the outdated one first (`trd-spark releases` "
                "lists it)", release_a, release_b, "; ".join(differences))
    return [f"Made by different code (rerun the outdated release, then compare): {'; '.join(differences)}"]


def rerun_advice(cfg: Config, release: str, rerun_options: str, verb: str) -> str:
    """How ``check_comparable``'s error says to make ``release``'s outputs with this config:
    ``<verb>: trd-spark run<rerun_options> --release <release>`` where that run reads the
    release's own data: the config's input paths name ``{release}`` (``Config.inputs_release``
    None), or they are this release's (the file's ``release:``). Otherwise the inputs are another
    release's data (conf/toy.yaml's are toy-r1's), and that command would publish them under
    ``release``'s name (``config._warn_release_names_no_input`` only warns): the advice says so
    and how releases are declared instead (input paths with ``{release}``, README 'Data releases
    and scheduled reruns'). A toy config that lists its releases (``toy_data.releases``) runs
    no other (``config._check_toy_release``: exit 2): the advice names the known ones."""
    command = f"trd-spark run{rerun_options} --release {release}"
    data_of = cfg.inputs_release
    toy = cfg.toy_data.releases if cfg.toy_data is not None and cfg.toy_data.releases else None
    if data_of is None and toy is not None and release not in toy:
        return (f"release {release} is not a key of toy_data.releases (known: {', '.join(toy)}), so this config "
                f"runs no such release: add it there to generate it, then {command}")
    if data_of is None or data_of == release:
        return f"{verb}: {command}"
    return (f"this config's input paths name no {{release}}, so they are release {data_of}'s data and "
            f"`{command}` would publish them as {release}'s; run {release} with a config whose input paths "
            "name {release}, each release's inputs under releases.input_root/<release>/ as in "
            "conf/toy_releases.yaml, README 'Data releases and scheduled reruns', and compare with that config")


def compare_releases(
    spark: SparkSession, cfg: Config, release_a: str, release_b: str
) -> tuple[dict[str, pd.DataFrame], tuple[str, ...], int]:
    """({cohort_sizes, pgs_correlation, estimates}, why_not, threshold) for releases A and B
    (``why_not``: why the comparison may not leave the workbench, ``export_verdict``; empty: it
    may. ``threshold``: the one the comparison worked under, ``comparison_threshold``), which
    must have complete and current pgs, phenotypes, models and export outputs: the caller
    checks that first (``check_comparable``, as ``compare_releases_job`` does; each check
    hashes every output file of both releases, so it runs once). ``n_both`` is audited also
    against the ``n_both`` every earlier comparison published under the output root shows
    (``published_pair_counts``)."""
    fs = Fs(spark)
    la, lb = Layout(cfg.output_root.rstrip("/"), release_a), Layout(cfg.output_root.rstrip("/"), release_b)
    exported = (export_threshold(fs, la, cfg.report.small_count_threshold),
                export_threshold(fs, lb, cfg.report.small_count_threshold))
    threshold = comparison_threshold(cfg.report.small_count_threshold, *exported)

    flow_a, flow_b = (read_table(spark, lay.table("phenotypes", "cohort_flow")).toPandas() for lay in (la, lb))
    sizes, for_export = cohort_size_changes(flow_a, flow_b, read_export(fs, la, "cohort_flow.tsv"),
                                            read_export(fs, lb, "cohort_flow.tsv"), threshold, exported)
    out = {"cohort_sizes": sizes}
    prior = prior_pair_counts(fs, cfg, compared_exports(fs, la, lb))
    out["pgs_correlation"], pinned = score_correlation_audited(
        spark.read.parquet(la.table("pgs", "scores")), spark.read.parquet(lb.table("pgs", "scores")), threshold,
        (scored_persons_shown(fs, la), scored_persons_shown(fs, lb)), prior,
        kurtosis_limit=cfg.report.max_pgs_excess_kurtosis)
    out["estimates"] = release_estimates(fs, la, lb)
    return out, export_verdict(for_export, pinned), threshold


def export_verdict(sizes_for_export: bool, pairs_pinned: bool) -> tuple[str, ...]:
    """Why a comparison must stay on the workbench, one note per cause (empty: it may leave):
    ``NOT_FOR_EXPORT`` when ``cohort_size_changes`` says the two exports together reveal a small
    cohort-size change (``sizes_for_export`` False), ``NOT_FOR_EXPORT_PAIRS`` when
    ``pair_counts_audit`` found a small change of ``n_both`` that earlier comparisons pin
    (``pairs_pinned``): each note names its own cause (the first alone said "cohort-size
    change" of both)."""
    return (() if sizes_for_export else (NOT_FOR_EXPORT,)) + ((NOT_FOR_EXPORT_PAIRS,) if pairs_pinned else ())


def _count_cell(text: object) -> str:
    """A cohort_sizes cell as the summary prints it: a count (``-600`` too) with thousands
    separators (``logs.count_text``), a label (``<20``) or blank as it is."""
    value = str(text)
    return count_text(int(value)) if value.lstrip("-").isdigit() else value


def summary_text(tables: dict[str, pd.DataFrame], release_a: str, release_b: str, out_dir: str) -> str:
    """Human summary of a release comparison (suppressed counts only), ending with where the TSVs are."""
    sizes = tables["cohort_sizes"]
    est = tables["estimates"]
    corr = tables["pgs_correlation"]
    lines = [f"Release {release_a} -> {release_b}", "Cohort (shared steps):"]
    for r in sizes[sizes["definition"] == ALL_DEFINITIONS].itertuples(index=False):
        lines.append(f"  {r.step:<45} {_count_cell(r.n_a):>8} -> {_count_cell(r.n_b):>8}  {_count_cell(r.change)}")
    lines.append("PGS correlation between releases (persons in both), per dataset:")
    for ds, g in corr.groupby("dataset", sort=True):
        vals = g["correlation"].dropna()
        lines.append(f"  {ds:<20} min {vals.min():.3f}  median {vals.median():.3f}" if len(vals) else f"  {ds:<20} n/a")
    if len(est):
        flagged = est[est["ci_overlap"] == False]  # noqa: E712 (None = not comparable)
        lines.append(f"Estimates compared: {int(est['ci_overlap'].notna().sum())}; "
                     f"CIs no longer overlapping: {len(flagged)}")
        for r in flagged.head(20).itertuples(index=False):
            lines.append(f"  {r.model} {r.dataset} {r.definition} {getattr(r, 'contrast', '') or ''} {r.pgs_id}: "
                         f"{r.effect_a:.2f} ({r.ci_low_a:.2f}-{r.ci_high_a:.2f}) -> "
                         f"{r.effect_b:.2f} ({r.ci_low_b:.2f}-{r.ci_high_b:.2f})")
    lines.append(f"Tables in {out_dir}/")
    return "\n".join(lines)


def compare_releases_job(cfg: Config, release_a: str, release_b: str, *, rerun_options: str = "",
                         config_for: Callable[[str], Config] | None = None) -> str:
    """CLI entry: compare, write the TSVs, return the printed summary. ``rerun_options``: as
    ``check_comparable``'s (e.g. `` --config conf/aou.yaml``, each with a leading space).
    ``config_for``: release -> its config (default: ``cfg``'s file with that release and ``cfg``'s
    output root, as ``trd-spark run --release R`` with the same options loads it), with which
    each release's inputs are checked (``warn_changed_inputs``): a release
    whose inputs changed since it published is compared as published, with a WARNING, a line of
    the summary and ``_disclosure.json``'s ``inputs_changed_since_published`` saying so."""
    from trd_spark.releases import ExportLock, LocalFs, needs_spark_fs, needs_spark_to_plan
    from trd_spark.report.stage import drop_checksum_files
    from trd_spark.session import command_session
    from trd_spark.stages import check_spark_reads

    local = not needs_spark_fs(cfg)
    who = f"compare-releases {release_a} {release_b}"
    # The output root's export lock from the check of both exports until the comparison is published:
    # a release's report stage publishing meanwhile (it holds the same lock) changed an export read here
    # after its check (``releases.ExportLock``; session 45, coordinator's C2).
    with contextlib.ExitStack() as held:
        if local:  # refuse in a second, not after starting Spark and Hail
            held.enter_context(ExportLock(cfg, LocalFs(), who=who))
            check_comparable(cfg, LocalFs(), release_a, release_b, rerun_options=rerun_options)
        spark = command_session(cfg.spark)
        # The score reads (n_both, the correlations) go through Spark's file sources: a session
        # skipping unreadable parts (spark-defaults.conf, --conf) would shorten them with no count.
        # Here, not in command_session: that serves releases/explain too, whose reads are Hadoop FS
        # calls the settings do not touch, and the run, which checks in pipeline.run_stages.
        check_spark_reads(spark, cfg)
        if not local:  # object-store outputs: read through Spark's file systems
            held.enter_context(ExportLock(cfg, Fs(spark), who=who))
            check_comparable(cfg, Fs(spark), release_a, release_b, rerun_options=rerun_options)
        if config_for is None:
            from trd_spark.config import load_config

            def config_for(release: str) -> Config:
                return load_config(cfg.source_path, overrides={"release": release, "output_root": cfg.output_root})
        # Not refused: the release is what was published (a release run since 7ab2e85 is never
        # mixed), and refusing every outdated one would refuse all of them after any input move;
        # but never silent (session 46 mixrun: a release republished from mixed inputs before
        # that fix cannot otherwise be told from a consistent one).
        changed = warn_changed_inputs(config_for, lambda c: Fs(spark) if needs_spark_to_plan(c) else LocalFs(),
                                      release_a, release_b)
        root = cfg.output_root.rstrip("/")
        other_code = warn_code_differences(Fs(spark), root, release_a, release_b)
        # Before the tables are computed: the export lock holds the exports still, not the pgs or
        # phenotypes outputs (their stages do not take it). A rerun of one publishing meanwhile
        # then reads as a change since (out of date), never as what the tables were computed from.
        inputs = compared_inputs(Fs(spark), Layout(root, release_a), Layout(root, release_b))
        tables, why_not, threshold = compare_releases(spark, cfg, release_a, release_b)
        for_export = not why_not
        out_dir = f"{root}/{COMPARE}/{release_a}_vs_{release_b}"
        compared = compared_exports(Fs(spark), Layout(root, release_a), Layout(root, release_b))
        archive_comparison(Fs(spark), root, f"{release_a}_vs_{release_b}", compared)
        # Whole or not at all: a comparison stopped midway (a rerun after one release was rerun)
        # left its new tables beside the earlier comparison's, and its _disclosure.json, written
        # last, still said whether the earlier tables might leave the workbench.
        publish_folder(Fs(spark), out_dir, {**{f"{name}.tsv": to_tsv(df) for name, df in tables.items()},
                                            DISCLOSURE: json.dumps(disclosure(for_export, threshold, compared, why_not,
                                                                              changed, inputs), indent=2, sort_keys=True)},
                       before_swap=drop_checksum_files, markers=(DISCLOSURE,))
    log.info("compare-releases: wrote %s and %s (for export: %s)", ", ".join(f"{n}.tsv" for n in tables),
             DISCLOSURE, for_export)
    return summary_text(tables, release_a, release_b, out_dir) + "".join(
        f"\n{note}" for note in (*why_not, *changed, *other_code))


DISCLOSURE = "_disclosure.json"
NOT_FOR_EXPORT = ("NOT FOR EXPORT: the two releases' exports together reveal a cohort-size change of fewer "
                  "than the threshold; this comparison hides it, but must stay on the workbench")
NOT_FOR_EXPORT_PAIRS = ("NOT FOR EXPORT: pgs_correlation.tsv's n_both (persons scored in both releases) and an "
                        "earlier published comparison's together reveal a change of fewer than the threshold, "
                        "which no label here can hide; this comparison must stay on the workbench")


# Under the output root: the comparisons, and the earlier ones kept when a comparison of other
# exports replaced them (``archive_comparison``; internal, like ``export_history/``).
COMPARE = "compare"
COMPARE_HISTORY = "compare_history"
COMPARED_EXPORTS = "compared_exports"
# What a comparison's numbers were computed from, per release (``compared_inputs``), and the
# marks an out-of-date comparison's ``_disclosure.json`` gets (``mark_out_of_date_comparisons``):
# ``for_export`` then false (not fit for export now), ``was_for_export`` what it said when made
# (the privacy audits count what was published, whatever its state now), ``out_of_date`` why.
COMPARED_INPUTS = "compared_inputs"
WAS_FOR_EXPORT = "was_for_export"
OUT_OF_DATE = "out_of_date"
INPUTS_CHANGED = "inputs_changed_since_published"
# The tables of a comparison kept for later comparisons' audits: n_both is its one count that no
# export shows (cohort_sizes.tsv holds only what the two exports show, and every replaced export
# is kept in its release's export_history/, which each later report is audited against).
KEPT_TABLES = ("pgs_correlation.tsv",)


def disclosure(for_export: bool, threshold: int, compared: dict | None = None, why_not: tuple[str, ...] = (),
               inputs_changed: list[str] | None = None, inputs: dict | None = None) -> dict:
    """What ``_disclosure.json`` in a comparison folder says: whether it may leave the
    workbench, under which threshold (``comparison_threshold``: the strictest of the config's
    and the two exports'), why not (``why_not``: ``export_verdict``'s notes; none given:
    ``NOT_FOR_EXPORT``), and which exports it compared (``compared``: ``compared_exports``), so
    that a later comparison can tell one of other exports (a re-export of A or B since) from the
    same one recomputed. ``inputs_changed`` (``warn_changed_inputs``' lines, ``INPUTS_CHANGED``):
    the releases whose inputs changed since they published (input names, no paths); empty when
    none did. ``inputs`` (``compared_inputs``, ``COMPARED_INPUTS``): what its numbers were
    computed from, by which ``out_of_date_comparisons`` judges it later."""
    out = {"for_export": for_export, "small_count_threshold": threshold,
           "note": "counts audited like an export" if for_export else " ".join(why_not or (NOT_FOR_EXPORT,))}
    if inputs_changed is not None:
        out[INPUTS_CHANGED] = inputs_changed
    if compared is not None:
        out[COMPARED_EXPORTS] = compared
    if inputs is not None:
        out[COMPARED_INPUTS] = inputs
    return out


def was_published(record: dict) -> bool:
    """Whether the comparison whose ``_disclosure.json`` is ``record`` was marked for export when
    it was made: ``for_export``, or ``was_for_export`` once marked out of date
    (``mark_out_of_date_comparisons``). The privacy audits (``published_pair_counts``,
    ``archive_comparison``) read this, not ``for_export``: a folder that left the workbench before
    it went out of date is published all the same."""
    return record.get("for_export") is True or record.get(WAS_FOR_EXPORT) is True


def compared_exports(fs: FsLike, la: Layout, lb: Layout) -> dict:
    """{"a": {release, run_id, manifest_sha256}, "b": ...}: the two exports a comparison reads,
    each named by its release, the run id its ``_manifest.json`` names (None for an export of a
    version that wrote none) and the SHA-256 of that manifest's bytes (which lists every exported
    file's SHA-256: the same digest is the same export). An export without a manifest (none after
    ``check_comparable``; a test's stand-in releases) is named by its release alone."""
    return {tag: _export_identity(fs, lay) for tag, lay in (("a", la), ("b", lb))}


def _export_identity(fs: FsLike, lay: Layout) -> dict:
    """{release, run_id, manifest_sha256} of ``lay``'s release's current ``export/``
    (``compared_exports``' entry); run id and digest None without a ``_manifest.json``."""
    path = lay.file(EXPORT, MANIFEST)
    if not fs.exists(path):
        return {"release": lay.release, "run_id": None, "manifest_sha256": None}
    text = fs.read_text(path)
    return {"release": lay.release, "run_id": manifest_field(read_manifest(fs, path), "run_id", str, path),
            "manifest_sha256": hashlib.sha256(text.encode()).hexdigest()}


# The release outputs a comparison's numbers come from besides its export (``compare_releases``):
# the internal cohort flow (cohort_sizes.tsv's audit), the scores (n_both, the correlations) and
# the report's record of the scored persons it shows (``scored_persons_shown``).
COMPARED_STAGES = ("phenotypes", "pgs", "report")
# The exported files a comparison reads: each release's shown cohort flow and model estimates.
COMPARED_EXPORT_FILES = ("cohort_flow.tsv", *EXPORTED_MODELS)


def compared_inputs(fs: FsLike, la: Layout, lb: Layout) -> dict:
    """{"a": {...}, "b": {...}}: per release, what a comparison's numbers are computed from
    (``_inputs_identity``), kept in its ``_disclosure.json`` (``COMPARED_INPUTS``) for
    ``out_of_date_comparisons``: a rerun that changed none of it (a report rerun for a figure's
    fix) leaves the comparison current; one that changed any of it (a pgs rerun that changes
    ``n_both`` or the correlations and not one exported byte) makes it out of date."""
    return {tag: _inputs_identity(fs, lay) for tag, lay in (("a", la), ("b", lb))}


def _inputs_identity(fs: FsLike, lay: Layout) -> dict:
    """{release, export: {run_id, sha256}, phenotypes, pgs, scored_persons_shown} of ``lay``'s
    release now: the SHA-256 of the exported files a comparison reads (``COMPARED_EXPORT_FILES``,
    each by its bytes, None when absent) with the threshold the export names, the run id of the
    phenotypes and pgs outputs (the cohort flow and the scores it reads: tables of gigabytes are
    not hashed, so any rerun of those stages counts as a change) and the datasets whose scored
    persons the report shows. InputDataError naming a damaged manifest."""
    files = {}
    for name in COMPARED_EXPORT_FILES:
        path = lay.file(EXPORT, name)
        files[name] = hashlib.sha256(fs.read_bytes(path)).hexdigest() if fs.exists(path) else None
    path = lay.file(EXPORT, MANIFEST)
    record = read_manifest(fs, path) if fs.exists(path) else {}
    shown = {"files": files, "small_count_threshold": manifest_field(record, "small_count_threshold", int, path)}
    return {"release": lay.release,
            "export": {"run_id": manifest_field(record, "run_id", str, path),
                       "sha256": hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()},
            **{stage: (lay.manifest(fs, stage) or {}).get("run_id") for stage in ("phenotypes", "pgs")},
            # Names only: the exported report.html shows which datasets' numbers it shows.
            "scored_persons_shown": sorted(scored_persons_shown(fs, lay))}


def _why_changed(fs: FsLike, root: str, compared: dict, inputs: dict | None) -> list[str]:
    """Why a comparison no longer shows its releases as they are now, one line per change (none:
    current). ``inputs``: its ``COMPARED_INPUTS`` (``compared_inputs``); None for one made before
    session 49, judged by ``compared`` (``compared_exports``: any new export)."""
    why = []
    for tag in ("a", "b"):
        rel = str(compared[tag].get("release"))
        lay = Layout(root, rel)
        missing = [s for s in (EXPORT, *COMPARED_STAGES) if not lay.is_complete(fs, s)]
        if missing:
            why.append(f"{rel} has no complete {'export' if EXPORT in missing else missing[0] + ' output'} now")
            continue
        if inputs is None:
            if (now_export := _export_identity(fs, lay)) != compared[tag]:
                why.append(f"{rel} was exported again since (the comparison read its export of run "
                           f"{compared[tag].get('run_id')}, now {now_export['run_id']})")
            continue
        try:
            now, then = _inputs_identity(fs, lay), inputs[tag]
        except InputDataError as e:
            why.append(f"{rel}'s outputs cannot be read: {e}")
            continue
        if now["export"]["sha256"] != (then.get("export") or {}).get("sha256"):
            why.append(f"{rel} was exported again since with other tables (the comparison read its export of run "
                       f"{(then.get('export') or {}).get('run_id')}, now {now['export']['run_id']})")
        why += [f"{rel}'s {stage} stage was rerun since (the comparison read its output of run {then.get(stage)}, "
                f"now {now[stage]})" for stage in ("phenotypes", "pgs") if now[stage] != then.get(stage)]
        if now["scored_persons_shown"] != then.get("scored_persons_shown"):
            why.append(f"{rel}'s report shows the scored persons of other datasets since")
    return why


@dataclass(frozen=True)
class JudgedComparison:
    """A comparison folder ``compare/<name>/`` as ``_judged_comparisons`` found it: its
    ``_disclosure.json`` (``record``), its two releases and why it is out of date (empty: current)."""
    name: str
    folder: str
    record: dict
    releases: tuple[str, str]
    why: tuple[str, ...]

    def line(self) -> str:
        """``out_of_date_comparisons``' line: the folder, why, and the command that redoes it; no count."""
        a, b = self.releases
        return (f"{COMPARE}/{self.name}/ is out of date: {'; '.join(self.why)}; its tables are those of the earlier "
                f"outputs: rerun `trd-spark compare-releases {a} {b}`")


def _judged_comparisons(fs: FsLike, root: str, release: str | None = None) -> tuple[list[JudgedComparison], list[str]]:
    """(each comparison under ``root`` naming the exports it read, of ``release`` only when given,
    judged; one line per damaged ``_disclosure.json``). A comparison that names no exports (written
    before session 46) cannot be judged and is left out. One marked out of date earlier
    (``OUT_OF_DATE``) stays so until ``compare-releases`` redoes it, with its recorded reasons
    when its releases' outputs are again those it read (a re-export changed back)."""
    root = root.rstrip("/")
    folder_root = f"{root}/{COMPARE}"
    judged: list[JudgedComparison] = []
    damaged: list[str] = []
    for name in sorted(fs.listdirs(folder_root)) if fs.exists(folder_root) else []:
        folder = f"{folder_root}/{name}"
        if name.startswith((".", "_")) or not fs.exists(f"{folder}/{DISCLOSURE}"):
            continue  # publish_folder's hidden in-progress folders; a comparison stopped midway
        try:
            record = _read_disclosure(fs, folder)
        except InputDataError as e:  # not JSON: the listing says so; a run's closing check is no place to fail
            damaged.append(f"{COMPARE}/{name}/ cannot be judged: {e}")
            continue
        compared, inputs = record.get(COMPARED_EXPORTS), record.get(COMPARED_INPUTS)
        if not isinstance(compared, dict) or not all(isinstance(compared.get(t), dict) for t in ("a", "b")):
            continue
        names = (str(compared["a"].get("release")), str(compared["b"].get("release")))
        if release is not None and release not in names:
            continue
        if not (isinstance(inputs, dict) and all(isinstance(inputs.get(t), dict) for t in ("a", "b"))):
            inputs = None
        try:
            why = _why_changed(fs, root, compared, inputs)
        except InputDataError as e:  # a damaged export manifest (the rule before session 49)
            why = [f"an export it read cannot be read now: {e}"]
        if not why and isinstance(record.get(OUT_OF_DATE), list):
            why = [str(w) for w in record[OUT_OF_DATE]]
        judged.append(JudgedComparison(name, folder, record, names, tuple(why)))
    return judged, damaged


def out_of_date_comparisons(fs: FsLike, root: str, release: str | None = None) -> list[str]:
    """One line per comparison ``compare/<A_vs_B>/`` under ``root`` (of ``release`` only, when
    given) that no longer shows the two releases as they are: an output its numbers come from
    (``compared_inputs``: the exported tables it reads and the threshold, the phenotypes and pgs
    outputs, the report's shown scored persons) changed since, or is no longer complete; for a
    comparison made before session 49, any new export (``compared_exports``). Why: a comparison is
    made only by ``compare-releases``; nothing reran it, and the folder read as the comparison of
    the releases as they are (r1 re-exported under another threshold, ``compare/r1_vs_r2/
    estimates.tsv`` still showed the earlier export's ORs; session 48). A comparison that names no
    exports (written before session 46) cannot be judged and is not listed; one whose
    ``_disclosure.json`` is damaged is listed as such when ``release`` is None. Each line names
    the folder, the release and the command that redoes it; no count. Read-only: the run marks
    them (``mark_out_of_date_comparisons``)."""
    judged, damaged = _judged_comparisons(fs, root, release)
    return (damaged if release is None else []) + [j.line() for j in judged if j.why]


def mark_out_of_date_comparisons(fs: FsLike, root: str, release: str) -> list[str]:
    """Mark each comparison of ``release`` under ``root`` that is out of date
    (``out_of_date_comparisons``) in its ``_disclosure.json``: ``for_export`` false (not fit for
    export now: whoever reads the file, a user's export tool or a reviewer, sees it),
    ``was_for_export`` what it said when made (``was_published``: the privacy audits still count
    it among what was published) and ``out_of_date`` why, the note saying so. Before session 49
    only a WARNING and a ``trd-spark releases`` line named such a folder; its ``_disclosure.json``
    still said ``for_export: true``. Called by the run after each stage whose outputs a comparison
    reads (``pipeline.run_stage``; the report stage's under the export lock, which compare-releases
    holds while it publishes). Returns one line per folder marked now (none already marked)."""
    marked = []
    for j in _judged_comparisons(fs, root, release)[0]:
        if not j.why or OUT_OF_DATE in j.record:
            continue
        a, b = j.releases
        record = {**j.record, "for_export": False, WAS_FOR_EXPORT: j.record.get("for_export") is True,
                  OUT_OF_DATE: list(j.why),
                  "note": f"OUT OF DATE, NOT FOR EXPORT: {'; '.join(j.why)}; rerun `trd-spark compare-releases {a} "
                          f"{b}` (when made: {j.record.get('note')})"}
        fs.write_text(f"{j.folder}/{DISCLOSURE}", json.dumps(record, indent=2, sort_keys=True))
        marked.append(f"{COMPARE}/{j.name}/ marked not for export in its {DISCLOSURE}: out of date")
    return marked


def _published_comparisons(fs: FsLike, root: str) -> list[tuple[str, str]]:
    """(label, folder) of every complete comparison under ``root``: each ``compare/<A_vs_B>/``
    and each kept one, ``compare_history/<A_vs_B>/<digest>/`` (complete: ``_disclosure.json``,
    written last, is there)."""
    out = []
    if fs.exists(f"{root}/{COMPARE}"):
        out += [(name, f"{root}/{COMPARE}/{name}") for name in sorted(fs.listdirs(f"{root}/{COMPARE}"))]
    history = f"{root}/{COMPARE_HISTORY}"
    for name in sorted(fs.listdirs(history)) if fs.exists(history) else []:
        out += [(f"{name}@{kept}", f"{history}/{name}/{kept}") for kept in sorted(fs.listdirs(f"{history}/{name}"))]
    # A hidden folder (``publish_folder``'s ``.<name>.inprogress-`` / ``.replaced-``) is none.
    return [(label, folder) for label, folder in out
            if not label.startswith((".", "_")) and fs.exists(f"{folder}/{DISCLOSURE}")]


def _read_disclosure(fs: FsLike, folder: str) -> dict:
    """A comparison's ``_disclosure.json``; InputDataError naming it (line:column) when it is no
    JSON object (``layout.read_manifest``'s rule)."""
    return read_manifest(fs, f"{folder}/{DISCLOSURE}")


def published_pair_counts(fs: FsLike, root: str, compared: dict) -> pd.DataFrame:
    """The ``n_both`` earlier comparisons under ``root`` show as numbers (dataset, pgs_id,
    n_both int, source: the comparison's label), for ``pair_counts_audit``'s ``prior``.

    Read: every complete comparison marked for export when it was made (``_published_comparisons``,
    ``was_published``: also one marked out of date since; one not for export stays on the
    workbench), except one that compared the very exports
    ``compared`` names (``compared_exports``: its counts are these, recomputed). One that names
    no exports (written before session 46) is read: it may have compared others. A label
    (``<20``, ``suppressed``) is not linked: against a shown count it leaves a range as wide as
    itself. A damaged ``_disclosure.json``: InputDataError naming it."""
    rows = []
    for label, folder in _published_comparisons(fs, root):
        record = _read_disclosure(fs, folder)
        if not was_published(record) or record.get(COMPARED_EXPORTS) == compared:
            continue
        path = f"{folder}/pgs_correlation.tsv"
        if not fs.exists(path):
            continue
        table = pd.read_csv(io.StringIO(fs.read_text(path)), sep="\t", dtype=str, keep_default_na=False)
        held_columns(list(table.columns), ["dataset", "pgs_id", "n_both"], path, "compare-releases")
        shown = table[table["n_both"].str.isdigit()]
        rows += [(ds, pgs, int(n), label) for ds, pgs, n in zip(shown["dataset"], shown["pgs_id"], shown["n_both"])]
    return pd.DataFrame(rows, columns=["dataset", "pgs_id", "n_both", "source"])


def prior_pair_counts(fs: FsLike, cfg: Config, compared: dict) -> pd.DataFrame:
    """``published_pair_counts`` under ``cfg``'s output root and under each root of
    ``report.audit_output_roots`` (sources of the latter labelled `` (report.audit_output_roots[i])``):
    a comparison is audited against every comparison published where the report's exports are
    audited. Before session 49 only the own root was read: r1 vs r2 published 480 persons of r1
    in r2 from one bucket, the same pair rerun in a new bucket (``audit_output_roots`` naming the
    old one) without 7 withdrawn participants 473, and the two gave the 7 while each export was
    audited against the other root's. A root that does not exist or holds no export: ConfigError
    naming the key, as the report stage's (``layout.audit_root_problem``)."""
    parts = []
    for i, root in enumerate([cfg.output_root, *cfg.report.audit_output_roots]):
        root = root.rstrip("/")
        problem = audit_root_problem(fs, root) if i else None
        if problem:
            raise ConfigError(f"report.audit_output_roots: {root} {problem}", where=cfg.source_path)
        found = published_pair_counts(fs, root, compared)
        if i:
            found["source"] = found["source"] + f" (report.audit_output_roots[{i - 1}])"
        parts.append(found)
    return pd.concat(parts, ignore_index=True)


def archive_comparison(fs: Fs, root: str, name: str, compared: dict) -> str | None:
    """Keep the comparison ``compare/<name>/`` before one of other exports (``compared``)
    replaces it: its ``KEPT_TABLES`` and ``_disclosure.json`` in
    ``compare_history/<name>/<digest of that _disclosure.json>/`` (internal), so the next
    comparisons are audited against its ``n_both`` too (``published_pair_counts``): r1 vs r2
    showed 480 persons of r1 in r2, r1 vs r2 re-exported without 7 withdrawn participants 473, in
    the same folder, and whoever kept the first had the 7. Not kept: a comparison not for export
    when it was made (``was_published``: one marked out of date since is kept), or of the same
    exports (the same counts). Returns the folder, or None."""
    folder = f"{root}/{COMPARE}/{name}"
    if not fs.exists(f"{folder}/{DISCLOSURE}"):
        return None
    text = fs.read_text(f"{folder}/{DISCLOSURE}")
    record = _read_disclosure(fs, folder)
    if not was_published(record) or record.get(COMPARED_EXPORTS) == compared:
        return None
    kept = f"{root}/{COMPARE_HISTORY}/{name}/{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    if fs.exists(f"{kept}/{DISCLOSURE}"):
        return None
    from trd_spark.report.stage import drop_checksum_files

    publish_folder(fs, kept, {**{t: fs.read_text(f"{folder}/{t}") for t in KEPT_TABLES if fs.exists(f"{folder}/{t}")},
                              DISCLOSURE: text}, before_swap=drop_checksum_files, markers=(DISCLOSURE,))
    log.info("compare-releases: the earlier comparison %s kept in %s for later audits", name, kept)
    return kept
