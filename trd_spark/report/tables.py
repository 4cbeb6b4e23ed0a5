"""Export tables with small-count suppression audited across tables (pure pandas functions).

Every participant count that leaves the cluster goes through ``suppress_release``: counts
1..threshold-1 become "<threshold" and the linear audit in ``suppression.audit_suppression``
hides further cells ("suppressed") until none of them is recoverable from totals,
complements, consecutive cohort-flow steps or the same groups counted in another table.
Relations between tables are added only where they hold exactly on the data (e.g. a model's
n equals TRD + non-MDD in cohort_counts), i.e. the ones an outsider could exploit.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pandas as pd

from trd_spark.config import MAX_PGS_EXCESS_KURTOSIS
from trd_spark.errors import InputDataError
from trd_spark.logs import is_small_count
from trd_spark.models.covariates import MISSING_VALUES_NOTE, NEGATIVE_DURATION_NOTE
from trd_spark.models.multiple_testing import CORRECTION_FAMILIES, adjust_within_families
from trd_spark.phenotypes.flow import all_persons_parts, definition_partitions
from trd_spark.report.suppression import (
    SECONDARY_LABEL,
    audit_with_fewer_hidden,
    chain_relations,
    label_bounds,
    suppressed_label,
)
from trd_spark.vocabulary import (
    ALL_DEFINITIONS,
    ANALYSED_STATUSES,
    ANCESTRY_GROUPS,
    CONTRAST_STATUSES,
    MDD_STATUSES,
    UNNAMED_ANCESTRY,
    DatasetFlowStep,
    FlowStep,
    HiddenEstimatesNote,
    ReplicationNote,
    Status,
)


def _plain(values) -> tuple[str, ...]:
    # Audit cell keys are ordered by their text (sorted(key=str) on tuples uses repr), so the
    # statuses in them stay plain str: an enum member's repr would change the order.
    return tuple(str(v) for v in values)


# Which statuses make a contrast's cases and its whole model sample.
CONTRAST_GROUPS = {str(c): (_plain(cases), _plain((*cases, *controls)))
                   for c, (cases, controls) in CONTRAST_STATUSES.items()}
MDD_GROUP = _plain(MDD_STATUSES)
TRD_GROUP = _plain((Status.TRD,))
# Cohort-flow steps (trd_spark.phenotypes.flow) that count a status group of cohort_counts
# ("MDD": TRD + trMDD + MDD_other).
FLOW_STATUS = {str(step): str(status) for step, status in (
    (FlowStep.MDD_INCLUDED, Status.MDD), (FlowStep.TRD, Status.TRD), (FlowStep.TRMDD, Status.TRMDD),
    (FlowStep.NON_MDD, Status.NON_MDD), (FlowStep.MDD_OTHER_NO_ADEQUATE_TRIAL, Status.MDD_OTHER))}


@dataclass
class ReleaseCounts:
    """The count-bearing tables of one release (pandas, unsuppressed, internal)."""

    cohort_flow: pd.DataFrame  # definition, step_order, step, n
    cohort_counts: pd.DataFrame | None  # dataset, definition, status, n
    logistic: pd.DataFrame  # ... n, n_cases
    cox: pd.DataFrame | None  # ... n, n_events
    pgs_distribution: pd.DataFrame | None  # dataset, ancestry, pgs_id, n, quantiles
    primary_definition: str
    km_curves: pd.DataFrame | None = None  # KM_CURVES rows already coarsened (models.km.coarsen_km)
    # The models stage's KM_CURVES rows on the whole day grid (internal, before coarsening): the
    # numbers at risk and events of a third on a day it has no point, which another curve set of
    # the same persons gives away (``km_cross_set_cells``).
    km_grid: pd.DataFrame | None = None
    # Tables of estimates derived from the logistic fits (models stage): no counts, but their
    # standard errors carry the fits' sample sizes (``hide_estimates_of_hidden_counts``).
    difference: pd.DataFrame | None = None  # dataset, definition, pgs_id, ... (three contrasts)
    replication: pd.DataFrame | None = None  # dataset, definition, contrast, pgs_id, ... (and discovery's)
    meta: pd.DataFrame | None = None  # method, definition, contrast, pgs_id, ..., k, ..., datasets
    consistency: pd.DataFrame | None = None  # contrast, definition_a, definition_b, n_pgs, r2 (of meta's betas)
    # Counts other releases' exports already show ({(release, audit cell): n}, ``prior_counts``).
    prior: dict[tuple, int] | None = None
    # The labels those exports show instead of a count ({(release, audit cell): label}, ``prior_labels``).
    prior_labels: dict[tuple, str] | None = None
    # The threshold each of those exports was made under ({release: T}, ``prior_thresholds``): its
    # labels mean what they meant there (its "<25" is 1..24, its "suppressed" at least 25).
    prior_thresholds: dict[str, int] | None = None
    # The cohort stage's per-dataset flow (dataset, definition, step_order, step, n; cohort.flow).
    dataset_flow: pd.DataFrame | None = None
    # The dataset with role discovery (config): replication rows exist for its significant fits.
    discovery_dataset: str | None = None
    # The corrected p of the discovery fit that replication.tsv shows (models.discovery_significance).
    discovery_significance: str = "q_fdr"
    # models.alpha: a replication row whose shown corrected p is not below it says why it is
    # listed (``corrections_over_shown``); None: not checked.
    discovery_alpha: float | None = None
    # The person gates' records (phenotypes manifest ``notes.gates``: n, total, level) with the
    # warning level they were checked against (``warn``): ``gate_relations``.
    gates: dict[str, dict] | None = None
    # The cohort stage's genotyped_without_person gate per dataset (cohort manifest ``notes.gates``:
    # dataset -> n, total, level), with its ``warn`` level: ``dataset_gate_relations``.
    dataset_gates: dict[str, dict] | None = None
    # Pairs of TRD definitions whose TRD persons nest by design, (wider, narrower)
    # (``nested_definitions``): the difference of their TRD counts is a group of persons.
    nested_definitions: list[tuple[str, str]] | None = None
    # The cohort manifest's ``notes.pgs_beyond_sd`` (dataset -> {pgs_id: persons' label}): scores
    # with a standardised person beyond +-cohort.standardise.BEYOND_SD (``carrier_count_scores``).
    beyond_sd: dict[str, dict[str, str]] | None = None
    # report.max_pgs_excess_kurtosis: a score whose excess kurtosis in a dataset or one of its
    # groups is above it counts carriers (``heavy_tailed_scores``, ``carrier_count_scores``).
    max_pgs_excess_kurtosis: float = MAX_PGS_EXCESS_KURTOSIS
    # The PGS-distribution groups' n, mean and sd other exports show ({(dataset, ancestry, pgs_id):
    # [(n, mean, sd) or None per export], ``prior_moments``): a group's persons who joined since
    # (``moved_groups``).
    prior_moments: PriorMoments | None = None
    # Their quantiles in the same positions (``prior_quantiles``): the group's own map between two
    # exports (``moved_groups``, ``quantile_scale``).
    prior_quantiles: PriorQuantiles | None = None


# Person gates whose count and total are both cells of the export: (count cell, total cell).
GATE_CELLS = {"no_observation_period": (("flow", ALL_DEFINITIONS, str(FlowStep.NO_OBSERVATION_PERIOD)),
                                        ("flow", ALL_DEFINITIONS, str(FlowStep.ALL_PERSONS)))}
GATE_SLACK = "gate_slack"
GENOTYPED_WITHOUT_PERSON = "genotyped_without_person"  # the cohort stage's person gate (``dataset_gates``)


def gate_outcomes(gate: dict) -> list[tuple[int, float]]:
    """[(sign, level)] of what a person gate's messages tell of its count, each read as
    ``count >= level x total`` (sign 1) or ``count < level x total`` (-1), where it holds on the
    gate's record (``n``, ``total``): its WARNING at ``warn`` (sign 1) or its absence (-1), and
    the largest of ``known_levels`` its count reaches (sign 1): a level an earlier run of the same
    data could have stopped or warned at, whose message, pasted into a ticket, told as much
    (``gates.known_levels``: the configured and default levels, none for a count of 1..T-1). An
    outcome that does not hold on the record is left out (a small count's gate decides on its
    label, ``gates.share_range``, and may warn below its level: the warning tells nothing then)."""
    n, total = int(gate["n"]), int(gate["total"])
    out: list[tuple[int, float]] = []
    lower = [float(x) for x in gate.get("known_levels") or [] if n >= float(x) * total]
    warn = gate.get("warn")
    if warn is not None and gate.get("level") == "warning" and n >= float(warn) * total:
        lower.append(float(warn))
    if lower:
        out.append((1, max(lower)))
    if warn is not None and gate.get("level") != "warning" and n < float(warn) * total:
        out.append((-1, float(warn)))
    return out


def _gate_slack(values: dict, key: tuple, sign: int, level: float, count: float, total: float) -> tuple:
    """The slack cell of ``count >= level x total`` (``sign`` 1) or below (-1), added to ``values``
    (>= 0 on the data: ``gate_outcomes`` states only what holds) under ``key`` + the sign."""
    slack_key = (*key, sign)
    values[slack_key] = count - level * total if sign == 1 else level * total - count
    return slack_key


def gate_relations(gates: dict[str, dict] | None, values: dict) -> list[dict]:
    """What a person gate's outcome tells with the export, as relations of the audit. A gate
    whose count is 0 or T or more decides on its exact share (``gates.share_range``): whether its
    WARNING is in the run log tells count >= warn x total, or below. 250 persons, 24 without an
    observation period (hidden: 20..250 to an outsider) and a 10% gate that did not warn put the
    24 in 20..24, and the 30 excluded only for records outside their follow-up then told the 6
    between the two steps within 6..10. So does an error of an earlier run of the same data,
    pasted into a ticket, at its level (``gate_outcomes``' ``known_levels``). Each such inequality
    is an equation with a slack cell (``GATE_SLACK``, >= 0, no count: the audit never protects
    it), stated where it holds on the data (a small count's gate decides on its label and may
    warn below the level: its relation is then left out, the warning telling nothing the label
    does not). Adds the slack cells to ``values``. The cohort stage's gate:
    ``dataset_gate_relations``. ``sex_other`` counts persons of no export cell (all persons with
    sex 'other'; they need not be genotyped, and those who are share the step 'not in the
    analysis frame' with others): neither outcome bounds a cell, no relation."""
    out = []
    for name, (n_cell, total_cell) in GATE_CELLS.items():
        g = (gates or {}).get(name)
        if not g or n_cell not in values or total_cell not in values:
            continue
        n, total = values[n_cell], values[total_cell]
        if (int(g["n"]), int(g["total"])) != (n, total):  # not the counts the export shows
            continue
        for sign, level in gate_outcomes(g):
            slack = _gate_slack(values, (GATE_SLACK, name), sign, level, n, total)
            out.append({n_cell: sign, total_cell: -sign * level, slack: -1})
    return out


def dataset_gate_relations(dataset_gates: dict[str, dict] | None, values: dict) -> list[dict]:
    """``gate_relations`` for the cohort stage's ``genotyped_without_person`` gate
    (``dataset_gates``: dataset -> record with its ``warn`` level and ``known_levels``). Its total
    is the dataset's persons with ancestry and PCs (a step of report.html's genotyped -> analysed
    table), its count a part of the persons each definition leaves out of its analysis frame (that
    step less the frame, never shown). A WARNING with a count of T or more tells that part >=
    level x total, so each definition's removed count is too (1,239 persons, a frame of 1,212 + 7
    hidden TRD, 20 absent from OMOP and a 1.6% gate that warned put the 7 in 1..7;
    tests/test_privacy_logs.py); so does an earlier run's error at its level (a default 50%:
    ``gate_outcomes``); no warning bounds only the part, not the step: no relation. Call after
    ``dataset_flow_audit``'s cells are in ``values``."""
    out = []
    for ds, g in sorted((dataset_gates or {}).items()):
        total_cell = ("dflow", ds, ALL_DEFINITIONS, str(DatasetFlowStep.WITH_ANCESTRY))
        lower = [level for sign, level in gate_outcomes(g) if sign == 1] if g else []
        if not lower or values.get(total_cell) != int(g["total"]):
            continue
        n_pre = sum(1 for k in values if k[:3] == ("dflow", ds, ALL_DEFINITIONS))
        removed = sorted(k for k in values if k[:2] == ("dflow_removed", ds) and k[2] != ALL_DEFINITIONS
                         and k[3:] == (n_pre - 1, n_pre))
        for cell in removed:  # the persons with ancestry and PCs less one definition's frame (>= 0)
            if values[cell] < lower[0] * values[total_cell]:  # not a superset of the gate's persons here
                continue
            slack = _gate_slack(values, (GATE_SLACK, GENOTYPED_WITHOUT_PERSON, ds, cell[2]), 1, lower[0],
                                values[cell], values[total_cell])
            out.append({cell: 1, total_cell: -lower[0], slack: -1})
    return out


def nested_definitions(definitions: list) -> list[tuple[str, str]]:
    """(wider, narrower) pairs of TRD definitions (``config.TrdDefinition``) whose TRD persons
    nest by design, so that an outsider reading the config knows the narrower's TRD persons are
    among the wider's: ``antidepressant_sequence`` with n trials holds every person of it with
    more trials, and of ``augmentation`` with as many or more trials (n adequate trials, then an
    augmentation agent: the n-th trial was started); ``augmentation`` with one concept set holds
    the same rule with more trials. Their TRD counts' difference is then the persons TRD under the
    one and not the other (60 under n = 3, 53 under n = 4: 7 persons with exactly three trials),
    which ``nested_definition_relations`` gives the audit as a count to protect."""
    def holds(wide, narrow) -> bool:
        if wide.name == narrow.name:
            return False
        if wide.rule == "antidepressant_sequence" and narrow.rule == "antidepressant_sequence":
            # n - 1 adequate trials then any n-th started holds n adequate ones, not the reverse
            # (phenotypes.trd.sequence_onset_expr; last_trial_adequate)
            return narrow.n_trials > wide.n_trials or (
                narrow.n_trials == wide.n_trials and narrow.last_trial_adequate >= wide.last_trial_adequate)
        if wide.rule == "antidepressant_sequence" and narrow.rule == "augmentation":
            return narrow.n_trials >= wide.n_trials
        return (wide.rule == narrow.rule == "augmentation" and narrow.n_trials >= wide.n_trials
                and wide.augmentation_concept_set == narrow.augmentation_concept_set)

    return [(w.name, n.name) for w in definitions for n in definitions if holds(w, n)]


def nested_definition_relations(pairs: list[tuple[str, str]] | None, values: dict) -> list[dict]:
    """Per dataset (status counts) and for the cohort flow (its TRD steps), for each nested pair
    (``nested_definitions``: wider, narrower), the persons TRD under the wider definition and not
    the narrower as an unpublished cell ``("definition_gap", dataset or "flow", wider,
    narrower)``, stated where it is >= 0 on the data (a count that breaks the nesting is no group
    an outsider can rely on). Adds the cells to ``values``."""
    out = []
    trd = str(Status.TRD)
    for wide, narrow in pairs or []:
        cells: list[tuple[str, tuple, tuple]] = [(ds, ("status", ds, wide, trd), ("status", ds, narrow, trd))
                 for ds in sorted({k[1] for k in values if k[0] == "status"})]
        cells.append(("flow", ("flow", wide, str(FlowStep.TRD)), ("flow", narrow, str(FlowStep.TRD))))
        for where, a, b in cells:
            if a in values and b in values and values[a] >= values[b]:
                gap = ("definition_gap", where, wide, narrow)
                values[gap] = values[a] - values[b]
                out.append({a: 1, b: -1, gap: -1})
    return out


def nested_model_relations(pairs: list[tuple[str, str]] | None, model_cell: dict[tuple, tuple],
                           values: dict) -> list[dict]:
    """The TRD cases of nested definitions' models (``nested_definitions``: wider, narrower),
    as relations of the audit: a model's TRD cases (``n_cases`` of a contrast whose cases are
    the TRD persons, a Cox model's ``n_events``) under the wider definition hold its cases under
    the narrower one with the same score and covariates, so their difference is a group, the
    nested persons with data (n_cases 50 and 45: 5), cell ``("definition_gap_model", table,
    dataset, contrast, wider, narrower, k_wide, k_narrow)``; it is part of the dataset's
    ``definition_gap`` (``nested_definition_relations``), the rest the nested persons lacking
    data. ``model_cell``: ``build_audit``'s model identity -> audit cell (``model_count_cells``).
    Stated where it holds on the data (>= 0; a part at most the whole). Adds the cells to
    ``values``."""
    out: list[dict] = []
    seen: set = set()
    trd_cases = {contrast for contrast, (cases, _) in CONTRAST_GROUPS.items() if cases == TRD_GROUP}
    for wide, narrow in pairs or []:
        for (_, table, ds, definition, contrast, pgs, col), cell in sorted(model_cell.items(), key=str):
            counts_trd = (table, col) == ("cox", "n_events") or (col == "n_cases" and contrast in trd_cases)
            if definition != wide or not counts_trd:
                continue
            other = model_cell.get(("model", table, ds, narrow, contrast, pgs, col))
            if other is None or cell[1] != ds or values[cell] < values[other]:
                continue
            gap = ("definition_gap_model", table, ds, contrast, wide, narrow, values[cell], values[other])
            if gap in seen:
                continue
            seen.add(gap)
            values[gap] = values[cell] - values[other]
            out.append({cell: 1, other: -1, gap: -1})
            whole = ("definition_gap", ds, wide, narrow)
            if whole in values and values[whole] >= values[gap]:
                out.append(group_member_relation(values, whole, gap, ("definition_gap_lacking", *gap[1:])))
    return out


def nested_km_relations(pairs: list[tuple[str, str]] | None, values: dict) -> list[dict]:
    """The Kaplan-Meier numbers at risk of nested definitions (``nested_definitions``: wider,
    narrower) as relations of the audit. A curve set's thirds are the same persons under both
    (the MDD persons with the score and follow-up, cut at the same scores: every third's day-0
    count agrees), and a person at risk on day t under the wider definition (no TRD onset
    before t) is at risk under the narrower one too (its onset is no earlier, or none), so a
    third's count on a day both curve sets show differs by a group: its persons TRD before day t
    under the wider definition and still at risk under the narrower one. 40 and 47 at risk on
    day 60 in one third gave 7 (privacy round 15). Cell ``("km_definition_gap", dataset, pgs_id,
    third, day, wider, narrower)``, stated where it is >= 0 on the data. ``values``: ``km_cells``'
    cells (at risk: ``("km", dataset, definition, pgs_id, third, "at_risk", day)``); adds the
    cells to it."""
    at_risk: dict[tuple, dict[tuple, tuple]] = {}  # (dataset, definition, pgs) -> {(third, day): cell}
    for key in sorted((k for k in values if k[0] == "km" and len(k) == 7 and k[5] == "at_risk"), key=str):
        at_risk.setdefault(key[1:4], {})[(key[4], key[6])] = key
    out: list[dict] = []
    for wide, narrow in pairs or []:
        for (ds, definition, pgs), cells in sorted(at_risk.items(), key=str):
            other = at_risk.get((ds, narrow, pgs))
            if definition != wide or other is None:
                continue
            thirds = {k for k, _ in cells} | {k for k, _ in other}
            if any((k, 0) not in cells or values[cells[(k, 0)]] != values.get(other.get((k, 0))) for k in thirds):
                continue  # not the same persons in each third
            for k, t in sorted(set(cells) & set(other)):
                if t > 0 and values[other[(k, t)]] >= values[cells[(k, t)]]:
                    gap = ("km_definition_gap", ds, pgs, k, t, wide, narrow)
                    values[gap] = values[other[(k, t)]] - values[cells[(k, t)]]
                    out.append({other[(k, t)]: 1, cells[(k, t)]: -1, gap: -1})
    return out


def prior_counts(exports: dict[str, dict]) -> dict[tuple, int]:
    """{(release, audit cell): n} of the status, cohort-flow, PGS-distribution group and model
    counts (``n``, ``n_cases``, ``n_events`` of each logistic and Cox row, cells as
    ``model_count_cells`` names them) that other releases' exports show as numbers, and of
    those they hide when their report recorded the count. ``exports``: release ->
    {"cohort_counts": ..., "cohort_flow": ..., "pgs_distribution": ..., "results": ...,
    "cox": ...} as read from their ``export/`` TSVs
    (text; a table absent: left out) and optionally "hidden_counts"
    (``hidden_counts`` of that release's report: [[*audit cell, n], ...]). An outsider holding
    two releases' exports subtracts them: 60 TRD persons in one and 67 in the next are 7 new
    ones, so ``build_audit`` links each count to the same count of every other release
    (``release_change`` cells) and the audit hides what a small change would show. A count
    the other export hides is linked as if the outsider knew it exactly: its interval there
    can be narrow (a "<20" bounded to 1..17 by a shown total; a secondary "suppressed" mirrors
    it), and 20 shown here against 1..17 there pins the persons who joined to 3..19; knowing
    the count exactly is the outsider's best case, so protecting against it is enough."""
    out: dict[tuple, int] = {}
    for release, tables in sorted(exports.items()):
        for *cell, n in tables.get("hidden_counts") or []:
            if cell[0] != REPORT_SHOWS:  # how the report showed a count, not a count (``hidden_counts``)
                out[(release, tuple(cell))] = int(n)
        for cell, n in model_count_cells(tables).items():
            if n.isdigit():
                out[(release, cell)] = int(n)
        out.update({(release, cell): n for cell, n in km_persons(tables.get("km_curves")).items()})
        out.update({(release, cell): n for cell, n in km_at_risk(tables.get("km_curves")).items()})
        out.update({(release, cell): n for cell, n in km_left_by(tables.get("km_curves")).items()})
        out.update({(release, cell): int(n) for cell, n in exported_group_counts(tables) if n.isdigit()})
    return out


# The exported tables with one ``n`` per group -> the audit cell's kind and key columns.
GROUP_COUNT_TABLES = {"cohort_counts": ("status", ("dataset", "definition", "status")),
                      "cohort_flow": ("flow", ("definition", "step")),
                      "pgs_distribution": ("dist", ("dataset", "ancestry", "pgs_id"))}


def exported_group_counts(tables: dict) -> list[tuple[tuple, str]]:
    """[(audit cell, n as exported text)] of the status, cohort-flow and PGS-distribution group
    counts of one export's ``tables`` (a table absent: left out), cells named as ``build_audit``
    names them (("status", dataset, definition, status), ("flow", definition, step), ("dist",
    dataset, ancestry, pgs_id)). ``prior_counts`` takes the numbers, ``prior_labels`` the labels
    and ``hidden_counts`` the labelled ones' true values: one naming for the three."""
    out = []
    for name, (kind, keys) in GROUP_COUNT_TABLES.items():
        df = tables.get(name)
        if df is not None:
            out += [((kind, *k), n) for *k, n in df[[*keys, "n"]].astype(str).itertuples(index=False)]
    return out


# How ``prior_labels`` names a Kaplan-Meier curve set an export left out.
DROPPED = "dropped"
# How ``build_audit``'s ``carried`` names a count an export of the same counts shows as a number.
SHOWN = "shown"
# First element of a ``hidden_counts`` entry [REPORT_SHOWS, *audit cell, text] recording how the
# report shows a count that no exported TSV carries (the genotyped -> analysed table).
REPORT_SHOWS = "report_shows"
# Format of the ``hidden_counts`` records a report writes for later releases' audits (the report
# manifest's notes "hidden_counts_format", an archived export's hidden_counts.json "format").
# A record without one (written before this) is read as format 1. A reader stops at a newer
# format or an entry kind it does not know (``checked_hidden_counts``): leaving them out would
# weaken the audit, and reading them as today's entries would misread them.
HIDDEN_COUNTS_FORMAT = 1
# The audit cell kinds a ``hidden_counts`` entry of format 1 starts with.
HIDDEN_COUNT_KINDS = frozenset({"status", "flow", "dist", "model", "km_persons", "dflow", REPORT_SHOWS})
# What the one error line about such a record tells the user to do.
NEWER_RECORD_ADVICE = ("rerun the report with the trd-spark version that wrote it or a newer one, "
                       "or export to a new output_root")


def _unknown_record(source: str, what: str) -> InputDataError:
    return InputDataError(f"{source}: {what}, which this trd-spark (hidden_counts format "
                          f"{HIDDEN_COUNTS_FORMAT}) does not know: {NEWER_RECORD_ADVICE}")


def checked_hidden_counts(entries: object, version: object, source: str) -> list[list]:
    """``entries`` (a ``hidden_counts`` record as read from ``source``, a file path) when its
    ``version`` (None: written before records carried one, format 1) and every entry's kind are
    ones this version reads; else InputDataError (exit 3), one line naming ``source`` and what
    to do. The line quotes no entry (they hold the true values of hidden counts), only the
    version or an unknown kind's name."""
    if version is not None and not (isinstance(version, int) and 1 <= version <= HIDDEN_COUNTS_FORMAT):
        shown = version if isinstance(version, int) else "of an unknown shape"
        raise _unknown_record(source, f"hidden_counts records of format {shown}")
    if not isinstance(entries, list):
        raise _unknown_record(source, "hidden_counts records that are not a list")
    for i, entry in enumerate(entries, 1):
        kind = entry[0] if isinstance(entry, list) and len(entry) >= 2 else None
        if kind not in HIDDEN_COUNT_KINDS:
            name = f"kind {kind!r}" if isinstance(kind, str) and kind.isidentifier() else "an unknown shape"
            raise _unknown_record(source, f"hidden_counts entry {i} of {name}")
        if kind != REPORT_SHOWS and (not isinstance(entry[-1], int) or isinstance(entry[-1], bool)):
            raise _unknown_record(source, f"hidden_counts entry {i} of kind {kind!r} without a count")
    return entries


def prior_labels(exports: dict[str, dict]) -> dict[tuple, str]:
    """{(release, cell): label} of the counts other exports hide, cells named as
    ``prior_counts`` names them: a status, cohort-flow, PGS-distribution or model count shown
    as a label ("<20", "suppressed") in that export's TSVs, and ("km_persons", dataset,
    definition, pgs_id) -> ``DROPPED`` for a Kaplan-Meier curve set it left out (from its
    "hidden_counts"; an export without them: none). ``exports`` as ``prior_counts`` takes them.
    ``build_audit`` hides these again in an export whose every count equals that export's (a
    re-export of the same data), so the two read as the same persons show nothing either hides.
    The genotyped -> analysed counts (report.html only, no TSV) come from the ``REPORT_SHOWS``
    entries of its "hidden_counts": a label, or ``SHOWN`` for a count it shows (that count is
    then known, ``build_audit``'s ``carried``; ``prior_counts`` has every one of them, shown or
    not, so only these entries tell which it showed)."""
    out: dict[tuple, str] = {}
    for release, tables in sorted(exports.items()):
        for cell, n in model_count_cells(tables).items():
            if not n.isdigit():
                out[(release, cell)] = n
        out.update({(release, cell): n for cell, n in exported_group_counts(tables) if not n.isdigit()})
        for *cell, n in tables.get("hidden_counts") or []:
            if cell and cell[0] == "km_persons":
                out[(release, tuple(cell))] = DROPPED
            elif cell and cell[0] == REPORT_SHOWS:
                out[(release, tuple(cell[1:]))] = SHOWN if str(n).isdigit() else str(n)
    return out


def prior_thresholds(exports: dict[str, dict]) -> dict[str, int]:
    """{release: the small-count threshold its export was made under} (``exports`` as
    ``prior_counts`` takes them, with "threshold" from the export's ``_manifest.json``; an
    export whose manifest names none is left out: its labels are read under this report's)."""
    return {release: int(tables["threshold"]) for release, tables in sorted(exports.items())
            if tables.get("threshold") is not None}


def shown_under_threshold(exports: dict[str, dict], release: str, threshold: int) -> dict[str, int | None]:
    """{label: the threshold it was made under (None: its manifest names none)} of the earlier
    exports of ``release`` (labels ``release@run id``, as ``released_exports`` names them) that
    show as a number some count from 1 to ``threshold`` - 1: a status, cohort-flow,
    PGS-distribution or model count (``prior_counts``' shown cells) or a Kaplan-Meier number at
    risk. Such an export was made under a lower threshold (toy-r1 under 20 showing a cell of
    20, re-exported under 21 for an AoU submission): the new export hides that count, but
    whoever holds the earlier one still has it, and no re-export can take it back. The report
    warns and names these exports in ``export/_manifest.json``; it does not stop (the earlier
    export may never have left the workbench, which only its user knows). Other releases'
    exports count other persons and are left out. ``exports`` as ``prior_counts`` takes them."""
    out: dict[str, int | None] = {}
    for label, tables in sorted(exports.items()):
        if not label.startswith(f"{release}@"):
            continue
        shown = prior_counts({label: {k: v for k, v in tables.items() if k != "hidden_counts"}}).values()
        km = tables.get("km_curves")
        at_risk = [] if km is None else [int(v) for v in km["n_at_risk"].astype(str) if v.isdigit()]
        if any(1 <= int(n) < threshold for n in [*shown, *at_risk]):
            out[label] = None if tables.get("threshold") is None else int(tables["threshold"])
    return out


def km_persons(km: pd.DataFrame | None) -> dict[tuple, int]:
    """{("km_persons", dataset, definition, pgs_id): n} of a Kaplan-Meier table (exported
    text or internal): the persons of a curve set, its thirds' numbers at risk at their first
    point (the MDD persons with that PGS; ``km_cells`` names the same implicit cell). A curve
    set whose first points are not all shown as numbers: left out. Two releases' exports give
    its change (300 -> 307: 7 new MDD persons with the score), so ``build_audit`` links it to
    the other release's as it does shown counts."""
    out: dict[tuple, int] = {}
    if km is None or not len(km):
        return out
    times = pd.to_numeric(km["time_days"])
    for (ds, definition, pgs), g in km.assign(_t=times).groupby(["dataset", "definition", "pgs_id"], sort=True):
        firsts = g.sort_values("_t").groupby("tertile").head(1)["n_at_risk"].astype(str)
        if len(firsts) and firsts.str.isdigit().all():
            out[("km_persons", str(ds), str(definition), str(pgs))] = int(firsts.astype(int).sum())
    return out


def km_at_risk(km: pd.DataFrame | None) -> dict[tuple, int]:
    """{("km_at_risk", dataset, definition, pgs_id, day): n} of a Kaplan-Meier table (exported
    text or internal): per curve set and day after 0 at which every third has a point with its
    number at risk shown, their sum, the MDD persons with that PGS still at risk that day
    (``km_cells`` names the same implicit cell). The thirds are other persons in another release
    (their cut points move), but the sum is the same group: 250 at risk on day 365 in one
    release's export and 257 in the next are 7 new persons followed that long, so
    ``build_audit`` links it to the other release's as ``km_persons`` (day 0). Days at which a
    third has no point (coarsened away) are left out. ``km_cells`` declares the same sums of
    this release's curves (one rule for both)."""
    out: dict[tuple, int] = {}
    if km is None or not len(km):
        return out
    # A count (int, or its text in an export) is a number; a label ("<20") is NaN.
    km = km.assign(_t=pd.to_numeric(km["time_days"]).astype(int), _n=pd.to_numeric(km["n_at_risk"], errors="coerce"))
    key: Any  # a groupby key (pandas-stubs type it as any hashable)
    thirds: dict[tuple, int] = {}
    for key, n in km.groupby(["dataset", "definition", "pgs_id"])["tertile"].nunique().items():
        thirds[tuple(str(v) for v in key)] = int(n)
    for key, g in km[km["_t"] > 0].groupby(["dataset", "definition", "pgs_id", "_t"], sort=True):
        ds, definition, pgs = (str(v) for v in key[:3])
        if len(g) == thirds[(ds, definition, pgs)] and g["_n"].notna().all():
            out[("km_at_risk", ds, definition, pgs, int(key[3]))] = int(g["_n"].sum())
    return out


# The sums of a Kaplan-Meier curve set linked to other releases' exports (``km_persons``,
# ``km_at_risk``, ``km_left_by``): the same group in every release, whatever the thirds.
KM_EVENTS_BY, KM_CENSORED_BY = "km_events_by", "km_censored_by"
# Implicit cells of ``km_cells``: a curve set's onsets, or censorings, on or after such a day.
KM_EVENTS_AFTER, KM_CENSORED_AFTER = "km_events_after", "km_censored_after"
KM_LINKED_SUMS = ("km_persons", "km_at_risk", KM_EVENTS_BY, KM_CENSORED_BY)


def _km_step_events(g: pd.DataFrame) -> list[int] | None:
    """The events between consecutive points of one third (``g`` sorted by time, counts as
    numbers): from ``n_events_after`` (internal table), else read back from the life-table
    survival the export publishes (``models.km.life_table_on_points``: S_j / S_{j-1} = 1 - d /
    (n - c/2) with d + c the at-risk drop, so d = 2 (1 - r)(n - drop/2) / (1 + r)), as an outsider
    does; None when a step does not read back to a whole number (a survival of 0 or not shown,
    an export of product-limit values)."""
    n = [int(v) for v in g["_n"]]
    if "n_events_after" in g.columns:
        after = [int(v) for v in g["n_events_after"]]
        return [after[j - 1] - after[j] for j in range(1, len(after))]
    if "survival" not in g.columns:  # an export without survival values: nothing to read back
        return None
    s = pd.to_numeric(g["survival"], errors="coerce").tolist()
    out = []
    for j in range(1, len(n)):
        drop = n[j - 1] - n[j]
        if not (s[j - 1] > 0 and s[j] >= 0):
            return None
        r = s[j] / s[j - 1]
        d = round(2 * (1 - r) * (n[j - 1] - drop / 2) / (1 + r))
        if not (0 <= d <= drop and abs(1 - d / (n[j - 1] - (drop - d) / 2) - r) < 1e-9):
            return None
        out.append(d)
    return out


def km_left_by(km: pd.DataFrame | None) -> dict[tuple, int]:
    """{(``KM_EVENTS_BY`` | ``KM_CENSORED_BY``, dataset, definition, pgs_id, day): n} of a
    Kaplan-Meier table (exported text or internal): per curve set and day after 0 at which every
    third has a point (the days of ``km_at_risk``), the MDD persons with that PGS who had their
    TRD onset before that day, and those censored before it (the thirds' events and censored
    between their points, summed; an export's events are read from its survival values,
    ``_km_step_events``). The same groups in every release: 60 TRD onsets before day 30 in one
    release's export and 67 in the next are 7 new persons with an onset that early, while the
    persons at risk on days 0 and 30 changed by 40 and 20 (13 more censored before day 30), so
    ``build_audit`` links them to other releases' as it does ``km_at_risk``. A curve set whose
    events do not read back: left out (an outsider reading them approximately learns less)."""
    out: dict[tuple, int] = {}
    if km is None or not len(km):
        return out
    km = km.assign(_t=pd.to_numeric(km["time_days"]).astype(int), _n=pd.to_numeric(km["n_at_risk"], errors="coerce"))
    key: Any  # a groupby key (pandas-stubs type it as any hashable)
    for key, curves in km.groupby(["dataset", "definition", "pgs_id"], sort=True):
        ds, definition, pgs = (str(v) for v in key)
        events: dict[int, int] = {}
        censored: dict[int, int] = {}
        days: dict[int, int] = {}  # day -> thirds with a point on it
        readable = True
        for _, g in curves.groupby("tertile", sort=True):
            g = g.sort_values("_t")
            steps = _km_step_events(g) if g["_n"].notna().all() else None
            if steps is None:
                readable = False
                break
            n, times = [int(v) for v in g["_n"]], g["_t"].tolist()
            ev = cens = 0
            for j, t in enumerate(times):
                if j:
                    ev += steps[j - 1]
                    cens += n[j - 1] - n[j] - steps[j - 1]
                events[t] = events.get(t, 0) + ev
                censored[t] = censored.get(t, 0) + cens
                days[t] = days.get(t, 0) + 1
        if not readable:
            continue
        thirds = curves["tertile"].nunique()
        for t in sorted(t for t, k in days.items() if t > 0 and k == thirds):
            out[(KM_EVENTS_BY, ds, definition, pgs, t)] = events[t]
            out[(KM_CENSORED_BY, ds, definition, pgs, t)] = censored[t]
    return out


# Model tables whose counts are linked across releases: export name -> (table, count columns).
MODEL_COUNTS = {"results": ("logistic", ("n", "n_cases")), "cox": ("cox", ("n", "n_events"))}


def model_count_cells(tables: dict) -> dict[tuple, str]:
    """{("model", table, dataset, definition, contrast, pgs_id, column): count as text} of the
    model tables in ``tables`` (export name -> frame: "results" for the logistic models, "cox";
    a Cox row's contrast is "progression"; an absent table or a row without a count: left out).
    A model's identity does not depend on the release, so the same cell of two releases'
    exports names the same model: 40 cases in one, 47 in the next are 7 new cases."""
    out: dict[tuple, str] = {}
    for name, (table, columns) in MODEL_COUNTS.items():
        df = tables.get(name)
        if df is None:
            continue
        contrasts = df["contrast"] if "contrast" in df.columns else ["progression"] * len(df)
        for col in columns:
            for ds, d, c, p, n in zip(df["dataset"], df["definition"], contrasts, df["pgs_id"], df[col]):
                if _is_int(n) and n not in ("", "nan"):
                    out[("model", table, str(ds), str(d), str(c), str(p), col)] = n if isinstance(n, str) else str(int(n))
    return out


def hidden_counts(exported: dict[str, str], internal: dict[str, pd.DataFrame],
                  dataset_flow_shown: pd.DataFrame | None = None) -> list[list]:
    """[[*audit cell, n], ...]: the status, cohort-flow, PGS-distribution group, model (cells as
    ``model_count_cells`` names them) and Kaplan-Meier curve-set counts this release's export
    hides ("<T", "suppressed", a curve set left out), with their true value, as
    ``prior_counts`` links them in a later release's audit; and every count of
    ``dataset_flow`` (the per-dataset genotyped -> analysed table), shown or not: report.html
    alone shows them, so a later release cannot read them from this export's TSVs; and, from
    ``dataset_flow_shown`` (``suppress_release``'s dataset_flow, as report.html shows it), how
    the report shows each of its published counts (a step's persons, the persons removed by a
    step before the definitions split): [``REPORT_SHOWS``, *audit cell, number or label as
    text], so that a re-export of the same counts hides what this one hid and takes what it
    showed as known (``prior_labels``; without them a re-export hid 2978 where this one hid
    2993, and the two gave the 15 persons between them).
    ``exported``: "cohort_counts.tsv" / "cohort_flow.tsv" / "pgs_distribution.tsv" /
    "results.tsv" / "cox.tsv" / "km_curves.tsv" as the export's text (absent: left out);
    ``internal``: "cohort_counts" / "cohort_flow" / "pgs_distribution" / "logistic" / "cox" /
    "km_curves" / "dataset_flow" as the report read them. Kept in the report's internal
    manifest, never exported."""
    out: list[list] = []
    for name, (kind, keys) in GROUP_COUNT_TABLES.items():
        text, truth = exported.get(f"{name}.tsv"), internal.get(name)
        if text is None or truth is None:
            continue
        shown = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
        true_n = {tuple(str(v) for v in k): int(n) for *k, n in truth[[*keys, "n"]].itertuples(index=False)}
        for (_, *k), n in exported_group_counts({name: shown}):
            if not n.isdigit() and tuple(k) in true_n:
                out.append([kind, *k, true_n[tuple(k)]])
    for name, (table, _) in MODEL_COUNTS.items():
        text, truth = exported.get(f"{name}.tsv"), internal.get(table)
        if text is None or truth is None:
            continue
        shown_cells = model_count_cells({name: pd.read_csv(io.StringIO(text), sep="\t", dtype=str,
                                                           keep_default_na=False)})
        true_cells = model_count_cells({name: truth})
        out += [[*cell, int(true_cells[cell])] for cell, n in shown_cells.items()
                if not n.isdigit() and n != "" and cell in true_cells]
    dflow, cc = internal.get("dataset_flow"), internal.get("cohort_counts")
    if dflow is not None:  # shown on report.html only, no TSV of another release carries it: all recorded
        status = {} if cc is None else {(str(d), str(f), str(st)): int(n) for d, f, st, n in
                                        cc[["dataset", "definition", "status", "n"]].itertuples(index=False)}
        cells, removed = dataset_flow_cells(dflow, status)
        out += [[*c, int(n)] for c, n in zip(cells, dflow["n"]) if c[0] == "dflow"]
        if dataset_flow_shown is not None:
            as_shown: dict[tuple, tuple] = {(str(d), str(f), str(s)): (n, r) for d, f, s, n, r in dataset_flow_shown[
                ["dataset", "definition", "step", "n", "removed"]].itertuples(index=False)}
            for c, r, key in zip(cells, removed, zip(dflow["dataset"], dflow["definition"], dflow["step"])):
                n_text, r_text = as_shown[tuple(str(k) for k in key)]
                if c[0] == "dflow":
                    out.append([REPORT_SHOWS, *c, str(n_text)])
                if r is not None and r[2] == ALL_DEFINITIONS:  # published (``dataset_flow_audit``)
                    out.append([REPORT_SHOWS, *r, str(r_text)])
    text, truth = exported.get("km_curves.tsv"), internal.get("km_curves")
    if text is not None and truth is not None:  # curve sets the export left out
        shown_sets = km_persons(pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False))
        out += [[*cell, n] for cell, n in km_persons(truth).items() if cell not in shown_sets]
    return out


# The note of a model row whose estimates the export leaves out (``hide_estimates_of_hidden_counts``).
HIDDEN_ESTIMATES_NOTE = str(HiddenEstimatesNote.HIDDEN_COUNT)
# ... and of a model row of a score whose fits count its carriers (``carrier_count_scores``).
CARRIER_COUNT_NOTE = str(HiddenEstimatesNote.CARRIER_COUNT_SCORE)
# Contrasts whose fits the TRD vs trMDD difference combines (models.synthesis).
DIFFERENCE_CONTRASTS = ("trd_vs_nonmdd", "trmdd_vs_nonmdd", "trd_vs_trmdd")
# Columns kept in a row whose estimates are hidden: what identifies it and its (suppressed) counts.
_IDENTITY = ("method", "dataset", "definition", "contrast", "pgs_id", "trait", "domain", "n", "n_cases", "n_events")


def _blank(df: pd.DataFrame, hidden: list[bool], keep: tuple[str, ...] = _IDENTITY,
           note: str = HIDDEN_ESTIMATES_NOTE) -> pd.DataFrame:
    """``df`` with every column but ``keep`` emptied in the ``hidden`` rows, their ``note``
    (also the failure reason and ``converged``: a fit that failed for too few cases would tell
    that the hidden count is under ``models.min_cases``). A table without a ``note`` column
    (meta, consistency) gets one, last, empty in the rows shown, so a blank row says why."""
    df = df.copy()
    if "note" not in df.columns:
        df["note"] = ""
    mask = pd.Series(hidden, index=df.index, dtype=bool)
    if not mask.any():
        return df
    for c in df.columns:
        if c in keep:
            continue
        if pd.api.types.is_float_dtype(df[c]):
            df.loc[mask, c] = float("nan")
        else:  # flags, text, k: empty
            df[c] = df[c].astype(object)
            df.loc[mask, c] = "" if c in ("note", "failure_reason", "datasets") else None
    df.loc[mask, "note"] = note
    return df


# A fit's notes that it left persons out (``models.covariates.prefit_check``), with the "; " that
# joins a note to the next (``join_notes``): any duration column's name.
_LEFT_OUT = re.compile("(?:" + "|".join(r"\w+".join(re.escape(part) for part in note.split("{duration}"))
                                        for note in (MISSING_VALUES_NOTE, NEGATIVE_DURATION_NOTE)) + ")(?:; )?")


def exported_note(note: object) -> object:
    """A model row's ``note`` as the export shows it: without "persons with missing values left
    out" or "persons with a negative <duration> left out" (other notes and non-text unchanged;
    "replication fit failed: persons with missing values left out; too few cases ..." reads
    "replication fit failed: too few cases ..."). Such a note tells that at least one person of
    the model's status groups is not in its N, where the audit takes the persons lacking data
    (``build_audit``'s ``missing`` cells) as 0 or more: one person narrower than the audit's
    interval (tests/test_privacy_s34.py). The Methods say once that every model is fitted on
    complete cases (``report.stage``); the internal models tables keep the notes."""
    if not isinstance(note, str) or not _LEFT_OUT.search(note):
        return note
    return _LEFT_OUT.sub("", note).rstrip("; :")


def _model_keys(df: pd.DataFrame) -> list[tuple]:
    """(dataset, definition, contrast, pgs_id) of each model row (Cox: contrast
    ``progression``; a column the table lacks: None)."""
    absent: dict[str, object] = {"contrast": "progression"}
    cols: list[list[object]] = [list(df[c]) if c in df.columns else [absent.get(c)] * len(df)
                                for c in ("dataset", "definition", "contrast", "pgs_id")]
    return list(zip(*cols))


def hide_estimates_of_hidden_counts(safe: dict[str, pd.DataFrame], rc: ReleaseCounts,
                                    threshold: int | None = None) -> dict[str, pd.DataFrame]:
    """The export's model tables with no estimate of a fit whose n, cases or events are hidden,
    nor of a fit of a score that counts its carriers in its dataset (``threshold`` given:
    ``carrier_count_scores`` on ``rc.pgs_distribution``; None: no such rule).

    A standard error pins the sample it was fitted on: 1/se^2 of a logistic PGS effect is about
    n_cases x (1 - n_cases/n) x var(PGS), so a shown model of the same dataset calibrates it and
    the se of a model with "<20" cases gives them to about one (18 cases of a toy release read
    as 17 from ten such rows); a model whose count is "suppressed" gives it the same way, and
    with the totals the small group next to it. So every estimate (beta, se, OR, CI, p,
    corrections, convergence, failure reason) of such a logistic or Cox row is left out, and
    of every derived row that uses one: a TRD vs trMDD difference using one of its three
    contrasts, a replication row of that dataset (it shows its discovery model's beta too), or a
    meta-analysis row of that definition, contrast and PGS (its pooled se minus the shown
    datasets' would give the hidden one's; its ``k`` and ``datasets`` would tell a fit failed for
    too few cases).
    A replication row whose discovery fit is hidden (``rc.discovery_dataset``) is left out: it
    exists only because that fit was significant.
    A consistency row (R^2 of fixed-effect meta log ORs between definitions, over PGS) shows
    no ``n_pgs`` or ``r2`` when a fixed-effect meta row of its contrast under one of its
    definitions (any definition for the "all" row) is hidden: the R^2 is a function of those
    estimates, so it must not be computed from ones the export leaves out.
    A score of few values, or whose most frequent value holds half a group's persons or leaves
    fewer than ``threshold`` off it, in a dataset (``carrier_count_scores``: a score of one or a
    few rare variants, its group statistics already hidden) shows no estimate of any fit in that
    dataset (every definition: the same persons' scores) nor of a row derived from one: its
    per-SD effect is a genotype's 2x2 table in disguise. A one-variant score, 40 carriers among
    4,300 persons: the four logistic fits' beta and se (the z-statistics and the ratios of the
    se's, the SD cancelling) matched the crude 2x2 tables of 6 TRD, 8 trMDD, 6 other MDD and 20
    non-MDD carriers best of every candidate, covariates and all (privacy round 8 of session 51,
    ``tests/test_privacy_s51.py``). Their note is ``HiddenEstimatesNote.CARRIER_COUNT_SCORE``
    (a derived row's too, unless a hidden count blanks it as well).
    ``safe``: ``suppress_release``'s tables (counts as labels). Keys as ``safe`` plus
    difference / replication / meta / consistency when ``rc`` has them."""
    out = dict(safe)
    hidden: set[tuple] = set()
    # (dataset, pgs_id) of the scores whose fits count carriers; their fits' keys, apart from
    # the count-hidden ones (a derived row hidden by both reads the count note).
    carriers = set() if threshold is None else carrier_count_scores(rc.pgs_distribution, threshold, rc.beyond_sd,
                                                                    rc.max_pgs_excess_kurtosis)
    by_score: set[tuple] = set()
    for name, part in (("logistic", "n_cases"), ("cox", "n_events")):
        df = safe.get(name)
        if df is None:
            continue
        rows = [isinstance(n, str) or isinstance(k, str) for n, k in zip(df["n"], df[part])]
        keys = _model_keys(df)
        hidden |= {key for key, h in zip(keys, rows) if h}
        score_rows = [not h and (k[0], k[3]) in carriers for k, h in zip(keys, rows)]
        by_score |= {key for key, h in zip(keys, score_rows) if h}
        blank = _blank(_blank(df, rows), score_rows, note=CARRIER_COUNT_NOTE)
        out[name] = blank.assign(note=lambda d: d["note"].map(exported_note))

    def blank_derived(df: pd.DataFrame, uses: list[list[tuple]]) -> pd.DataFrame:
        """``df`` blank in each row one of whose fits (``uses``, per row) is hidden: with the
        count note where a count is hidden, else with the carrier-count one."""
        by_count = [any(k in hidden for k in ks) for ks in uses]
        by_carriers = [not c and any(k in by_score for k in ks) for c, ks in zip(by_count, uses)]
        return _blank(_blank(df, by_count), by_carriers, note=CARRIER_COUNT_NOTE)

    datasets = sorted(set(rc.logistic["dataset"]))
    if rc.difference is not None:
        df = rc.difference
        out["difference"] = blank_derived(df, [[(ds, d, c, p) for c in DIFFERENCE_CONTRASTS]
                                               for ds, d, p in zip(df["dataset"], df["definition"], df["pgs_id"])])
    if rc.replication is not None:
        # A row is there because its discovery fit was significant: a fact about that fit's
        # estimates, so a row whose discovery fit is hidden is left out, not only blanked.
        df = rc.replication
        if rc.discovery_dataset is not None:
            # A list mask, not df[list]: an empty list would select no COLUMNS of a 0-row frame.
            hidden_fits = hidden | by_score
            keep = [(rc.discovery_dataset, d, c, p) not in hidden_fits
                    for d, c, p in zip(df["definition"], df["contrast"], df["pgs_id"])]
            df = df.loc[pd.Series(keep, index=df.index, dtype=bool)].reset_index(drop=True)
        # Its own fit and discovery's (any dataset's when no dataset has the role), not the other
        # replication datasets': a hidden fit of one left the other's rows blank.
        discovery = datasets if rc.discovery_dataset is None else [rc.discovery_dataset]
        out["replication"] = blank_derived(df, [[(x, d, c, p) for x in (ds, *discovery)] for ds, d, c, p
                                                in zip(df["dataset"], df["definition"], df["contrast"], df["pgs_id"])]
                                           ).assign(note=lambda d: d["note"].map(exported_note))
    if rc.meta is not None:
        df = rc.meta
        uses = [[(x, d, c, p) for x in datasets] for d, c, p in zip(df["definition"], df["contrast"], df["pgs_id"])]
        meta_hidden = [any(k in hidden or k in by_score for k in ks) for ks in uses]
        out["meta"] = blank_derived(df, uses)
    if rc.consistency is not None:
        df = rc.consistency
        if rc.meta is None:  # estimates it was computed from are unknown here: none shown
            gone = [True] * len(df)
        else:
            fixed = rc.meta["method"] == "fixed"
            hidden_meta = {(c, d) for c, d, h, f in zip(rc.meta["contrast"], rc.meta["definition"], meta_hidden, fixed)
                           if h and f}
            gone = [any(hc == c and (a == ALL_DEFINITIONS or hd in (a, b)) for hc, hd in hidden_meta)
                    for c, a, b in zip(df["contrast"], df["definition_a"], df["definition_b"])]
        out["consistency"] = _blank(df, gone, keep=("contrast", "definition_a", "definition_b"),
                                    note=HiddenEstimatesNote.HIDDEN_META)
    return out


def _is_int(v) -> bool:
    return v is not None and not (isinstance(v, float) and v != v)


def partition_relations(cells: list, values: dict, max_parts: int = 4) -> list[dict]:
    """``total = part_1 + ... + part_k`` (2 <= k <= max_parts) wherever it holds exactly among
    the cells: a flow's groups that add up to an earlier step (all persons = MDD diagnosis +
    non-MDD + excluded ...) let an outsider recover one hidden part. Zero cells are left out
    (they add nothing); a coincidental sum only makes the audit more cautious."""
    nonzero = [c for c in cells if values[c] > 0]
    out = []
    for total in nonzero:
        others = [c for c in nonzero if c != total and values[c] < values[total]]
        for k in range(2, min(max_parts, len(others)) + 1):
            for parts in combinations(others, k):
                if sum(values[c] for c in parts) == values[total]:
                    rel = {total: 1}
                    rel.update({c: -1 for c in parts})
                    out.append(rel)
    return out


def group_member_relation(values: dict, group: tuple, member: tuple, lacking: tuple) -> dict:
    """``group = member + lacking``: ``member`` counts the persons of ``group`` with one
    attribute (a PGS), ``lacking`` those of the group without it. ``values`` holds the group
    (implicit: the largest member count of the group, its smallest possible size) and the
    member; ``lacking`` is added to it when not 0, else left out of ``values`` and the relation
    (an outsider may assume complete data). So 100 AFR persons with one score and 85 with
    another give a cell of 15. The relation of ``build_audit``'s pgs_distribution groups and of
    ``compare.pair_counts_shown``'s persons in both releases."""
    short = values[group] - values[member]
    if not short:
        return {group: 1, member: -1}
    values[lacking] = short
    return {group: 1, member: -1, lacking: -1}


def one_group_relations(values: dict, group: tuple, cells, lacking) -> list[dict]:
    """Counts (``cells``) of one group of persons, each less those lacking what it needs (a
    score, a covariate, follow-up): the largest count is the group (``group``, an implicit cell
    added to ``values``), each other one the group less a cell (``lacking(cell)``;
    ``group_member_relation``). [] when they are all equal (nothing to subtract). The relations of
    ``build_audit``'s models' controls across scores and of the counts of the same status groups
    by several models, scores and curve sets."""
    cells = sorted(set(cells), key=str)
    if len({values[c] for c in cells}) < 2:
        return []
    values[group] = max(values[c] for c in cells)
    return [group_member_relation(values, group, c, lacking(c)) for c in cells]


def km_cells(km: pd.DataFrame) -> tuple[dict, set, list[dict], dict]:
    """Audit cells of coarsened Kaplan-Meier curves: (values, published, relations, units).

    Per (dataset, definition, pgs_id, tertile) and shown time t_j: persons at risk (shown) and
    the events between t_{j-1} and t_j (counted as shown: the survival drop gives them away);
    the censored between them, the events and censored after the last time (and, per curve set,
    their sums over the thirds: ``km_events_after_end``, ``km_censored_after_end``) and the
    tertile's events are implicit. Per (dataset, definition, pgs_id) the tertiles add up to the MDD
    persons (``km_persons``) and TRD events (``km_events``) of the curve set, which
    ``build_audit`` links to the same groups elsewhere, and on each day after 0 at which every
    third has a point, to the persons still at risk (``km_at_risk``, linked to other releases).
    All shown cells of a curve set form one unit (the audit drops a curve set whole).
    """
    values: dict = {}
    published: set = set()
    relations: list[dict] = []
    units: dict = {}
    k: Any  # a tertile label from groupby (pandas-stubs type it as any scalar)
    for (ds, definition, pgs), curves in km.groupby(["dataset", "definition", "pgs_id"], sort=True):
        unit = ("km_curve_set", ds, definition, pgs)
        persons, events = ("km_persons", ds, definition, pgs), ("km_events", ds, definition, pgs)
        values[persons], values[events] = 0, 0
        rel_persons: dict[tuple, int] = {persons: -1}
        rel_events: dict[tuple, int] = {events: -1}
        steps: list[tuple] = []  # the thirds' events and censored cells between their points
        tails: list[tuple] = []  # the thirds' events and censored cells after their last points
        for k, g in curves.groupby("tertile", sort=True):
            g = g.sort_values("time_days")
            base = ("km", ds, definition, pgs, int(k))
            times, at_risk, after = list(g["time_days"]), list(g["n_at_risk"]), list(g["n_events_after"])
            cells = [base + ("at_risk", int(t)) for t in times]
            for c, v in zip(cells, at_risk):
                values[c] = int(v)
                published.add(c)
                units[c] = unit
            total = base + ("events_total",)
            values[total] = int(after[0])
            rel_persons[cells[0]] = 1
            rel_events[total] = 1
            values[persons] += int(at_risk[0])
            values[events] += int(after[0])
            remaining: dict[tuple, int] = {total: 1}  # events_total = sum of step events + events after the end
            for j in range(1, len(cells)):
                ev, cens = base + ("events", int(times[j])), base + ("censored", int(times[j]))
                values[ev] = int(after[j - 1] - after[j])
                values[cens] = int(at_risk[j - 1] - at_risk[j]) - values[ev]
                published.add(ev)
                units[ev] = unit
                relations.append({cells[j - 1]: 1, cells[j]: -1, ev: -1, cens: -1})
                remaining[ev] = -1
                steps += [ev, cens]
            tail_ev, tail_cens = base + ("events_after_end",), base + ("censored_after_end",)
            values[tail_ev] = int(after[-1])
            values[tail_cens] = int(at_risk[-1] - after[-1])
            relations.append({cells[-1]: 1, tail_ev: -1, tail_cens: -1})
            remaining[tail_ev] = -1
            relations.append(remaining)
            tails += [tail_ev, tail_cens]
        relations += [rel_persons, rel_events]
        # The curve set's onsets (and censored) after each third's last point, together: the Cox
        # model's events less the onsets read from the survival, whatever day each third stops
        # (privacy round 8, session 39: thirds ending on days 960, 900 and 930, 93 Cox events and
        # 75 onsets read gave 18 onsets after the curves, exactly; ``km_events_after`` covers a day
        # every third has a point only).
        for kind in ("events_after_end", "censored_after_end"):
            together = (f"km_{kind}", ds, definition, pgs)
            values[together] = sum(values[c] for c in tails if c[-1] == kind)
            relations.append({together: -1, **{c: 1 for c in tails if c[-1] == kind}})
        # The persons at risk on a day after 0 at which every third has a point (``km_at_risk``,
        # as another release's export is read): the same group there, linked by ``build_audit``.
        thirds = sorted(int(k) for k in curves["tertile"].unique())
        for at_risk_sum, n in km_at_risk(curves).items():
            values[at_risk_sum] = n
            relations.append({at_risk_sum: -1, **{("km", ds, definition, pgs, k, "at_risk", at_risk_sum[-1]): 1
                                                   for k in thirds}})
        # ... and the persons whose TRD onset, or censoring, came before such a day (``km_left_by``):
        # the sum of the thirds' step cells up to that day.
        lefts = km_left_by(curves)
        for left, n in lefts.items():
            values[left] = n
            kind = "events" if left[0] == KM_EVENTS_BY else "censored"
            relations.append({left: -1, **{c: 1 for c in steps if c[5] == kind and c[6] <= left[-1]}})
        # ... and those with an onset, or censored, on or after it: the curve set's events (the Cox
        # model's, the TRD persons with data) less the onsets before, and the persons at risk less
        # those: groups in every release too (207 - 140 events in one release, 180 - 120 in the
        # other: 7 new persons with an onset after day 60; ``implicit_release_changes`` links them).
        for by in sorted((k for k in lefts if k[0] == KM_EVENTS_BY), key=str):
            at_risk_sum = ("km_at_risk", ds, definition, pgs, by[-1])
            after_ev, after_cens = (KM_EVENTS_AFTER, *by[1:]), (KM_CENSORED_AFTER, *by[1:])
            values[after_ev] = values[events] - values[by]
            relations.append({events: 1, by: -1, after_ev: -1})
            if at_risk_sum in values:
                values[after_cens] = values[at_risk_sum] - values[after_ev]
                relations.append({at_risk_sum: 1, after_ev: -1, after_cens: -1})
    return values, published, relations, units


KM_BETWEEN = "at_risk_between"  # a third's number at risk on a day it has no point (``km_cross_set_cells``)


def km_cross_set_cells(km: pd.DataFrame, grid: pd.DataFrame, values: dict) -> tuple[dict, list[dict]]:
    """(implicit cell values, relations) of the Kaplan-Meier curve sets of one dataset and
    definition that count the same persons (every MDD person with follow-up has every score):
    on a day after 0 at which every third of curve set A has a point, A's thirds add up to the
    persons still at risk (``km_at_risk``), and so do B's thirds, whatever their cut points. A
    third of B with no point that day then has its number at risk there by subtraction, which
    its points around it do not give: P1's thirds 58 + 58 + 57 at risk on day 60, P2's first two
    50 + 50 and its third 80 on day 0, gave the 7 persons of P2's third who left its risk set
    before day 60 (an onset, or censored), a step ``models.km.coarsen_km`` did not publish
    because it was under 20; with A's onsets before that day (``km_left_by``) they were 7 onsets
    (tests/test_privacy_s33.py). So each such third gets its number at risk on that day (``KM_BETWEEN``)
    and the step it lies in is split there: the events and the censored before and after it,
    cells of their own that add up to the step's (or to those after the last point), and B's
    at-risk sum, onsets and censorings before that day are equated with A's; the audit then
    protects the split groups as any other (it hides counts or drops a curve set).
    ``km``: the coarsened points with ``n_events_after`` (``ReleaseCounts.km_curves``);
    ``grid``: the models stage's table on every grid day (``ReleaseCounts.km_grid``), for the
    true values; ``values``: ``km_cells``' cells (the published points, ``km_at_risk``,
    ``km_left_by``'s sums). Linked where the counts agree on the data (a coincidence only makes
    the audit more cautious); a day at which neither curve set has all thirds is not linked
    (the two sums are then both unknown: docs/privacy.md "Not covered")."""
    new: dict = {}
    relations: list[dict] = []
    if grid is None or not len(grid) or km is None or not len(km):
        return new, relations
    for (ds, definition), curves in km.groupby(["dataset", "definition"], sort=True):
        points: dict[str, dict[int, list[int]]] = {}  # pgs -> third -> its published days
        for pgs, k, days in zip(*(curves.groupby(["pgs_id", "tertile"], sort=True)["time_days"].agg(list)
                                  .reset_index()[c] for c in ("pgs_id", "tertile", "time_days"))):
            points.setdefault(str(pgs), {})[int(k)] = sorted(int(t) for t in days)
        rows = grid[(grid["dataset"] == ds) & (grid["definition"] == definition) & grid["pgs_id"].isin(points)]
        at = {(str(p), int(k), int(t)): (int(n), int(e)) for p, k, t, n, e in zip(
            rows["pgs_id"], rows["tertile"], rows["time_days"], rows["n_at_risk"], rows["n_events_after"])}
        full = {p: set.intersection(*(set(days) for days in th.values())) - {0} for p, th in points.items()}
        inserted: dict[tuple[str, int], set[int]] = {}
        links: dict[tuple[str, int], str] = {}  # (B, day) -> A, the curve set with every third there
        for a in sorted(points):
            for t in sorted(full[a]):
                total = values.get(("km_at_risk", ds, definition, a, t))
                for b in sorted(points):
                    if total is None or b == a or t in full[b] or (b, t) in links:
                        continue
                    if any((b, k, t) not in at for k in points[b]) \
                            or sum(at[(b, k, t)][0] for k in points[b]) != total:
                        continue
                    links[(b, t)] = a
                    for k, days in points[b].items():
                        if t not in days:
                            inserted.setdefault((b, k), set()).add(t)
        # Each third's days (published and inserted) in order, and the cells between two of them.
        between: dict[tuple[str, int], list[tuple[int, int | str, tuple, tuple]]] = {}
        for (b, k), added in sorted(inserted.items(), key=str):
            base = ("km", ds, definition, b, k)
            published = points[b][k]

            def n_cell(t: int, base: tuple = base, published: list[int] = published) -> tuple:
                return base + (("at_risk" if t in published else KM_BETWEEN), t)

            for t in added:
                new[n_cell(t)] = at[(b, k, t)][0]
            for j, start in enumerate(published):
                end = published[j + 1] if j + 1 < len(published) else None
                inner = sorted(t for t in added if t > start and (end is None or t < end))
                if not inner:
                    continue
                chain: list[int | str] = [start, *inner, end if end is not None else "end"]
                step_ev = base + (("events", end) if end is not None else ("events_after_end",))
                step_cens = base + (("censored", end) if end is not None else ("censored_after_end",))
                ev_sum: dict[tuple, int] = {step_ev: 1}
                cens_sum: dict[tuple, int] = {step_cens: 1}
                for x, y in zip(chain, chain[1:]):
                    assert isinstance(x, int)  # only the chain's last day is "end"
                    ev, cens = base + ("events_between", x, y), base + ("censored_between", x, y)
                    nx, after_x = at[(b, k, x)]
                    ny, after_y = at[(b, k, y)] if isinstance(y, int) else (0, 0)
                    new[ev] = after_x - after_y
                    new[cens] = nx - ny - new[ev]
                    rel = {n_cell(x): 1, ev: -1, cens: -1}
                    if isinstance(y, int):
                        rel[n_cell(y)] = -1
                    relations.append(rel)
                    ev_sum[ev], cens_sum[cens] = -1, -1
                    between.setdefault((b, k), []).append((x, y, ev, cens))
                relations += [ev_sum, cens_sum]
        # B's sums on the linked day are A's: its persons at risk, and its onsets and
        # censorings before the day (each third's steps, or split steps, up to it).
        for (b, t), a in sorted(links.items(), key=str):
            relations.append({("km_at_risk", ds, definition, a, t): 1,
                              **{("km", ds, definition, b, k) + (("at_risk" if t in days else KM_BETWEEN), t): -1
                                 for k, days in points[b].items()}})
            for kind, by_kind in (("events", KM_EVENTS_BY), ("censored", KM_CENSORED_BY)):
                by = (by_kind, ds, definition, a, t)
                if by not in values:
                    continue
                cells: list[tuple] = []
                for k, days in points[b].items():
                    base = ("km", ds, definition, b, k)
                    whole = [d for d in days if 0 < d <= t]
                    cells += [base + (kind, d) for d in whole]
                    if t not in days:  # the pieces of its step from its last point before t up to t
                        last = whole[-1] if whole else 0
                        cells += [ev if kind == "events" else cens for x, y, ev, cens in between.get((b, k), [])
                                  if isinstance(y, int) and last <= x and y <= t]
                vals = [new.get(c, values.get(c)) for c in cells]
                if None not in vals and sum(int(v) for v in vals if v is not None) == values[by]:
                    relations.append({by: 1, **{c: -1 for c in cells}})
    return new, relations


STATUS_STEP = "status "  # prefix of a per-status step of dataset_flow (vocabulary.status_step)
# The analysis frame of a dataset and definition is the sum of its statuses: not a published
# cell (shown only when its statuses are all shown: it then tells nothing new), so the
# dataset flow hides no status count that cohort_counts would show.
FRAME_CELL = "dflow_frame"


def dataset_flow_cells(flow: pd.DataFrame, status: dict) -> tuple[list[tuple], list[tuple | None]]:
    """Audit cells of each row of the cohort stage's ``dataset_flow`` (in row order): its count
    and the count removed since the step before it (None for a dataset's first step and the
    status rows). A status row is the ``cohort_counts`` cell of the same dataset, definition and
    status (``status``: {(dataset, definition, status): n}) when that holds the same count: one
    count, one cell. Removed counts are the neighbour differences of ``dataset_flow_audit``'s
    chains: (``dflow_removed``, dataset, definition, i, i + 1)."""
    cells: list[tuple] = []
    removed: list[tuple | None] = []
    pre_steps: dict[str, int] = {}
    r: Any  # rows of the count frame (pandas-stubs type itertuples' fields as any scalar)
    for r in flow.itertuples(index=False):
        if str(r.step).startswith(STATUS_STEP):
            st = str(r.step)[len(STATUS_STEP):]
            same = status.get((r.dataset, r.definition, st)) == int(r.n)
            cells.append(("status", r.dataset, r.definition, st) if same else ("dflow", r.dataset, r.definition, r.step))
            removed.append(None)
        elif r.definition == ALL_DEFINITIONS:
            i = pre_steps[r.dataset] = pre_steps.get(r.dataset, -1) + 1
            cells.append(("dflow", r.dataset, r.definition, r.step))
            removed.append(("dflow_removed", r.dataset, ALL_DEFINITIONS, i - 1, i) if i else None)
        else:  # the analysis frame of one definition: after the dataset's last step before it
            i = pre_steps.get(r.dataset, -1) + 1
            cells.append((FRAME_CELL, r.dataset, r.definition, r.step))
            removed.append(("dflow_removed", r.dataset, r.definition, i - 1, i) if i else None)
    return cells, removed


def dataset_flow_audit(flow: pd.DataFrame, status: dict) -> tuple[dict, set, list[dict]]:
    """(cell values, published cells, relations) of ``dataset_flow`` (``dataset_flow_cells``):
    per dataset and definition, the chain of its steps before the split ('all') and its
    analysis frame, every pair's difference an implicit cell (``chain_relations``: persons
    removed by consecutive steps together are a count too), the neighbours' differences
    published (the report shows them) except the one into the analysis frame; the analysis
    frame is the sum of its status rows, an implicit cell (``FRAME_CELL``)."""
    cells, removed = dataset_flow_cells(flow, status)
    values: dict = {c: int(n) for c, n in zip(cells, flow["n"])}
    # Published: each step's count and the removed counts between the steps before the split;
    # the frame and the removed count before it are derived (``suppress_release``).
    published = {c for c in cells if c[0] != FRAME_CELL} | {
        r for r in removed if r is not None and r[2] == ALL_DEFINITIONS}
    relations: list[dict] = []
    rows = list(zip(flow["dataset"], flow["definition"], flow["step"].astype(str), cells))
    for ds in dict.fromkeys(flow["dataset"]):
        pre = [c for d, f, _, c in rows if d == ds and f == ALL_DEFINITIONS]
        frames = [(f, c) for d, f, step, c in rows if d == ds and f != ALL_DEFINITIONS and not step.startswith(STATUS_STEP)]
        for definition, frame in [(ALL_DEFINITIONS, None), *frames]:
            chain = pre if frame is None else [*pre, frame]
            implicit, rels = chain_relations(chain, values, ("dflow_removed", ds, definition))
            values.update(implicit)
            relations += rels
            if frame is not None:
                parts = [c for d, f, step, c in rows if d == ds and f == definition and step.startswith(STATUS_STEP)]
                if parts and values[frame] == sum(values[c] for c in parts):
                    relations.append({frame: 1, **{c: -1 for c in parts}})
    return values, published, relations


def build_audit(rc: ReleaseCounts) -> tuple[dict, set, list[dict], dict, dict, dict]:
    """(cell values, published cells, relations, units, carried, carried bounds) for every participant count
    of a release (units: published cell -> what is hidden with it, see ``audit_suppression``;
    carried: published cell -> label, or Kaplan-Meier unit -> ``DROPPED``, that an export with
    the same counts hid, ``rc.prior_labels``: hidden here too; or -> ``SHOWN``, a count (or a
    curve set's persons) that export shows: known to the outsider, never hidden to protect another;
    carried bounds: such a hidden cell -> what its labels tell, each read under the threshold
    its export was made under (``rc.prior_thresholds``; ``suppression.label_bounds``, intersected
    over the exports): a re-export under 20 of one made under 25 hides its "<25" 22 as
    "suppressed", and whoever holds both reads 20..24, not 20 or more)."""
    values: dict = {}
    published: set = set()
    relations: list[dict] = []
    units: dict = {}
    key: tuple
    r: Any  # rows of the count frames (pandas-stubs type itertuples' fields as any scalar)

    def pub(key, v):
        values[key] = int(v)
        published.add(key)

    # Cohort flow: consecutive steps within each definition (and 'all').
    for definition, grp in rc.cohort_flow.groupby("definition", sort=True):
        grp = grp.sort_values("step_order")
        cells = [("flow", definition, s) for s in grp["step"]]
        for c, v in zip(cells, grp["n"]):
            pub(c, v)
        implicit, rels = chain_relations(cells, values, ("flow_step_diff", definition))
        values.update(implicit)
        relations += rels
        relations += partition_relations(cells, values)
        # Every person is in one box (phenotypes.flow): all_persons = with_mdd_diagnosis +
        # non_MDD + the side boxes, up to 2 + one per exclusion set, more parts than
        # partition_relations searches; linked explicitly where it holds.
        flow_total = ("flow", definition, str(FlowStep.ALL_PERSONS))
        boxes = [("flow", definition, s) for s in all_persons_parts(list(grp["step"]))]
        if definition == ALL_DEFINITIONS and all(c in values for c in [flow_total, *boxes]) \
                and values[flow_total] == sum(values[c] for c in boxes):
            relations.append({flow_total: 1, **{c: -1 for c in boxes}})
        # A TRD definition's MDD steps nest (phenotypes.flow.definition_partitions, with the
        # TRD persons without an adequate trial); declared where they hold, whatever the sizes.
        for signs, _ in definition_partitions():
            nesting: dict = {("flow", definition, step): sign for step, sign in signs.items()}
            if all(c in values for c in nesting) and sum(values[c] * sign for c, sign in nesting.items()) == 0:
                relations.append(nesting)

    relations += gate_relations(rc.gates, values)

    status: dict = {}
    if rc.cohort_counts is not None:
        for r in rc.cohort_counts.itertuples(index=False):
            key = ("status", r.dataset, r.definition, r.status)
            pub(key, r.n)
            status[(r.dataset, r.definition, r.status)] = int(r.n)
        # A status with nobody has no row (the cohort stage counts by group): an outsider reads
        # its absence as 0, a shown count. Without it the MDD total of that dataset and
        # definition, and every model relation of the status, were missing from the audit, and
        # with definition C's 0 TRD persons absent the persons lacking a PGS in a Kaplan-Meier
        # curve set (3) were determined exactly.
        for ds, definition in sorted({(d, f) for d, f, _ in status}):
            for st in _plain(ANALYSED_STATUSES):
                if (ds, definition, st) not in status:
                    pub(("status", ds, definition, st), 0)
                    status[(ds, definition, st)] = 0
        # The MDD persons of a dataset (TRD + trMDD + MDD_other) are an implicit group; it is
        # the same under every TRD definition, linked below when the totals agree.
        for ds, definition in sorted({(d, f) for d, f, _ in status}):
            parts = [(ds, definition, st) for st in MDD_GROUP]
            if all(p in status for p in parts):
                total = ("status_total", ds, definition, str(Status.MDD))
                values[total] = sum(status[p] for p in parts)
                relations.append({total: 1, **{("status", *p): -1 for p in parts}})

    relations += nested_definition_relations(rc.nested_definitions, values)

    if rc.dataset_flow is not None:
        flow_values, flow_published, flow_relations = dataset_flow_audit(rc.dataset_flow, status)
        for key, v in flow_values.items():
            values.setdefault(key, v)
        published |= flow_published
        relations += flow_relations
        relations += dataset_gate_relations(rc.dataset_gates, values)

    def link(cell, parts: tuple, ds, definition):
        """``cell`` counts a subset of the status groups ``parts`` (a model or curve leaves out
        persons lacking a PGS or covariate): ``cell + missing = sum(parts)``, with ``missing``
        an implicit cell, or without it when nobody is missing (an outsider may assume
        complete data)."""
        keys = [(ds, definition, s) for s in parts]
        if not all(k in status for k in keys):
            return
        missing = sum(status[k] for k in keys) - values[cell]
        if missing < 0:  # not a subset of these groups: no relation an outsider could rely on
            return
        rel = {cell: 1}
        for k in keys:
            rel[("status", *k)] = rel.get(("status", *k), 0) - 1
        if missing:
            values[("missing", cell)] = missing
            rel[("missing", cell)] = 1
        relations.append(rel)
        counts_of_groups.setdefault((ds, definition, tuple(sorted(str(p) for p in parts))), []).append(cell)

    counts_of_groups: dict[tuple, list] = {}

    def model_cells(table, df, total, part, group_of):
        # Each row's identity across releases (``model_count_cells``) -> its audit cell here.
        pgs_ids = df["pgs_id"] if "pgs_id" in df.columns else [None] * len(df)
        for ds, definition, contrast, pgs, n, k in zip(df["dataset"], df["definition"], df["contrast"], pgs_ids,
                                                       df[total], df[part]):
            if pgs is not None and _is_int(n) and _is_int(k):
                ident = ("model", table, str(ds), str(definition), str(contrast), str(pgs))
                model_cell[(*ident, total)] = (table, ds, definition, contrast, total, int(n))
                model_cell[(*ident, part)] = (table, ds, definition, contrast, part, int(k))
        for (ds, definition, contrast, n, k), _ in df.groupby(
            ["dataset", "definition", "contrast", total, part], dropna=True, sort=True
        ):
            t_key = (table, ds, definition, contrast, total, int(n))
            p_key = (table, ds, definition, contrast, part, int(k))
            pub(t_key, n)
            pub(p_key, k)
            rest = (table + "_rest", ds, definition, contrast, int(n), int(k))
            values[rest] = int(n) - int(k)
            relations.append({t_key: 1, p_key: -1, rest: -1})
            cases, whole = group_of(contrast)
            link(p_key, cases, ds, definition)
            link(t_key, whole, ds, definition)
            # ... and its controls with data are at most its control statuses (n - n_cases <=
            # non-MDD: with n 804 and non-MDD 759 shown, a hidden n_cases was >= 45).
            link(rest, tuple(s for s in whole if s not in cases), ds, definition)
        # The models of one dataset, definition and contrast under several scores count the same
        # controls less those lacking each score (n - cases: 760 with P1, 753 with P2 gave 7).
        # Their n and cases are grouped with every count of the same status groups (``link``).
        for (ds, definition, contrast), grp in df.dropna(subset=[total, part]).groupby(
                ["dataset", "definition", "contrast"], sort=True):
            relations.extend(one_group_relations(
                values, ("model_group", table + "_rest", ds, definition, contrast),
                [(table + "_rest", ds, definition, contrast, int(n), int(k)) for n, k in zip(grp[total], grp[part])],
                lambda k: ("model_lacking", *k)))

    model_cell: dict[tuple, tuple] = {}
    model_cells("logistic", rc.logistic, "n", "n_cases", lambda c: CONTRAST_GROUPS.get(c, ((), ())))
    group_values, group_relations = contrast_group_relations(rc.logistic, rc.cox)
    values.update(group_values)
    relations += group_relations
    # MDD vs non-MDD's MDD_other persons with data are at most the MDD_other persons: 425 cases,
    # TRD vs trMDD's n 330 and MDD_other 100 shown gave the 5 MDD_other persons lacking a score.
    for key in sorted(group_values, key=str):
        if key[0] == "model_group" and key[-1] == str(Status.MDD_OTHER):
            link(key, (str(Status.MDD_OTHER),), key[2], key[3])
    if rc.cox is not None and len(rc.cox):
        cox = rc.cox.assign(contrast="progression")
        model_cells("cox", cox, "n", "n_events", lambda c: (TRD_GROUP, MDD_GROUP))

    relations += nested_model_relations(rc.nested_definitions, model_cell, values)

    if rc.km_curves is not None and len(rc.km_curves):
        km_values, km_published, km_relations, km_units = km_cells(rc.km_curves)
        values.update(km_values)
        published |= km_published
        relations += km_relations
        units.update(km_units)
        for key in km_values:
            if key[0] == "km_persons":
                link(key, MDD_GROUP, key[1], key[2])
            elif key[0] == "km_events":
                link(key, TRD_GROUP, key[1], key[2])
        # A curve set's persons (MDD persons with the score and follow-up) under each definition.
        km_sets: dict[tuple, list[tuple[tuple, int]]] = {}
        for key in sorted((k for k in km_values if k[0] == "km_persons"), key=str):
            km_sets.setdefault((key[1], key[3]), []).append((key, values[key]))
        for km_set in km_sets.values():
            relations += same_across_definitions(km_set)
        relations += nested_km_relations(rc.nested_definitions, values)
        if rc.km_grid is not None:
            cross_values, cross_relations = km_cross_set_cells(rc.km_curves, rc.km_grid, values)
            values.update(cross_values)
            relations += cross_relations

    # Counts of the same status groups (a dataset and definition's TRD persons, its MDD persons,
    # ...) by several models, scores and curve sets are each the group less the persons lacking
    # what that count needs (a score, a covariate, follow-up): TRD vs non-MDD n 835 with P1 and
    # 828 with P2 (cases 75 both) gave the 7 lacking P2 only, by subtraction, while each was
    # linked to the status groups alone (65 and 72 missing); a Cox model's n 460 and MDD vs
    # non-MDD's cases 467 the 7 MDD persons without follow-up. As for pgs_distribution's groups:
    # the largest count is the group (an implicit cell), each other one the group less a cell.
    for (ds, definition, parts), cells in sorted(counts_of_groups.items(), key=str):
        relations += one_group_relations(values, ("linked_group", ds, definition, parts), cells,
                                         lambda c: ("linked_lacking", c))

    # The same group counted under several definitions (non-MDD controls and the MDD total do
    # not depend on the TRD definition; the MDD steps are shared): equal counts of the same
    # group are linked, so hiding one copy while another is shown protects nothing. A
    # coincidental equality only makes the audit more cautious.
    families: dict = {}
    for key in sorted(values, key=str):
        if key[0] == "status":
            families.setdefault(("status", key[1], key[3], values[key]), []).append(key)
        elif key[0] == "status_total":
            families.setdefault(("status", key[1], str(Status.MDD), values[key]), []).append(key)
        elif key[0] == "flow":
            families.setdefault(("flow", key[2], values[key]), []).append(key)
    # A cohort-flow step counting a status group (before genotyping) is the same group as the
    # analysed status count when everyone was genotyped: linked wherever the counts agree.
    for key in sorted((k for k in published if k[0] == "flow" and k[2] in FLOW_STATUS), key=str):
        for family, same in families.items():
            if family[0] == "status" and family[2:] == (FLOW_STATUS[key[2]], values[key]):
                same.append(key)
        # ... or the sum over datasets of that group (every person genotyped in one dataset).
        datasets = sorted({k[0] for k in status})
        definitions = sorted({k[1] for k in status}) if key[1] == ALL_DEFINITIONS else [key[1]]
        groups = MDD_GROUP if FLOW_STATUS[key[2]] == Status.MDD else (FLOW_STATUS[key[2]],)
        for definition in definitions:
            parts = [(ds, definition, g) for ds in datasets for g in groups]
            if not all(p in status for p in parts):
                continue
            analysed = sum(status[p] for p in parts)
            if len(datasets) > 1 and analysed == values[key]:
                relations.append({key: 1, **{("status", *p): -1 for p in parts}})
            elif analysed < values[key]:
                # The datasets analyse some of the step's persons (disjoint datasets,
                # cohort.check_disjoint_datasets): 120 TRD persons in the flow and 60 + 53
                # analysed gave the 7 not analysed (not genotyped, related, no ancestry).
                rest = ("flow_not_analysed", *key[1:], definition)
                values[rest] = values[key] - analysed
                relations.append({key: 1, **{("status", *p): -1 for p in parts}, rest: -1})
    for same in families.values():
        same = sorted(set(same), key=str)
        relations += [{same[0]: 1, other: -1} for other in same[1:]]

    if rc.pgs_distribution is not None and len(rc.pgs_distribution):
        # One n per dataset, ancestry group and PGS (the persons of the group with that score):
        # each is a cell, at most the group's persons (an implicit cell, its value the largest n
        # of the group); the difference is the group's persons lacking the score (implicit;
        # left out when 0: an outsider may assume complete data), so 100 AFR persons with one
        # score and 85 with another give 15. The groups add up to the dataset's analysed persons
        # (its statuses under the primary definition), minus those in no group's count.
        everyone = _plain(ANALYSED_STATUSES)
        for ds, grp in rc.pgs_distribution.groupby("dataset", sort=True):
            groups_total = ("dist_total", ds)
            rel: dict[tuple, int] = {groups_total: -1}
            values[groups_total] = 0
            for ancestry, by_pgs in grp.groupby("ancestry", sort=True):
                group = ("dist_group", ds, ancestry)
                values[group] = int(by_pgs["n"].max())
                values[groups_total] += values[group]
                rel[group] = 1
                for r in by_pgs.itertuples(index=False):
                    key = ("dist", ds, ancestry, r.pgs_id)
                    pub(key, r.n)
                    relations.append(group_member_relation(values, group, key, ("dist_lacking", ds, ancestry, r.pgs_id)))
            relations.append(rel)
            link(groups_total, everyone, ds, rc.primary_definition)

    # The same count as another release's export shows it (known exactly, ``prior_counts``):
    # their difference is a count too (persons who joined, or left, the group). A model's
    # counts are named by the model (its cell here also carries the value). A cell with no value
    # here (a model not fitted, a curve set not computed) is not linked. An analysed status with
    # nobody is a published 0 (above, f04403a) and is linked: the change is then the other
    # release's count, which that export protects; the audit leaves a change pinned only by
    # known cells to that export's audit (``audit_suppression``'s ``known``).
    # An export whose every count equals this one's (a re-export of the same release from the
    # same data: a report setting, a code version) is not linked: its changes are all 0, and
    # linking would only move this export's secondary suppression to other cells, so that the
    # two exports' shown cells together, read as the same persons, give what each hides
    # (TRD 7 "<20": non-MDD hidden, n 766 shown there; n hidden, non-MDD 759 shown here).
    # Unlinked, the audit repeats the earlier one (deterministic) when the other links match.
    # A count it has and this export lacks (a TRD definition, a dataset or a score dropped from
    # the config; an absent status of a present definition is a 0 here) does not make it
    # changed: r1 re-exported without definition B (TRD 7) counted as changed, was linked
    # without its labels, and showed A's trMDD, which the earlier export hid for B's 7.
    by_release: dict[str, list[tuple[tuple, int]]] = {}
    for (release, name), n in (rc.prior or {}).items():
        by_release.setdefault(release, []).append((name, n))
    unchanged = {release for release, cells in by_release.items()
                 if all(values[model_cell.get(name, name)] == n for name, n in cells
                        if model_cell.get(name, name) in values)}
    # ... but what it hid stays hidden. Unlinked, the audit can hide other cells than it did
    # when an export made since is linked here (r1 TRD 7: its first export hid non-MDD and
    # showed n 766; re-exported from the same counts after r2's export, a free audit hid n and
    # showed non-MDD 759: the two gave 7). Carried in, the re-export hides at least as much, so
    # the two show no more than the earlier one, which later exports were audited against.
    carried: dict[tuple, str] = {}
    carried_bounds: dict[tuple, tuple[float, float | None]] = {}
    for (release, name), label in sorted((rc.prior_labels or {}).items(), key=str):
        cell = model_cell.get(name, name)
        if release not in unchanged:
            continue
        if label == DROPPED:
            carried[("km_curve_set", *name[1:])] = DROPPED
        elif cell in published:
            carried[cell] = label
            if label != SHOWN and release in (rc.prior_thresholds or {}):
                carried_bounds[cell] = _intersect(carried_bounds.get(cell, (0.0, None)),
                                                  label_bounds(label, (rc.prior_thresholds or {})[release]))
    # ... and what it showed is known: to whoever holds it, its numbers are this export's. Hiding
    # one of them here protects nothing, yet the audit, seeing it hidden, relied on it: r1
    # re-exported after definition C (TRD 7) was added hid A's trMDD 300, which the earlier
    # export shows, and A's MDD total less C's trMDD and MDD_other gave the 7. Such a count is
    # ``SHOWN``: fixed in the audit (``audit_suppression``'s ``known``), also where another such
    # export hid it (hiding it again would keep nothing from whoever holds both). Not the
    # genotyped -> analysed counts its report recorded: those are all recorded, shown or hidden.
    for (release, name), _ in sorted((rc.prior or {}).items(), key=str):
        cell = model_cell.get(name, name)
        if release in unchanged and rc.prior_labels is not None and (release, name) not in rc.prior_labels \
                and name[0] != "dflow" \
                and (cell in published or (cell[0] in KM_LINKED_SUMS and cell in values)):
            carried[cell] = SHOWN
    linked: dict[tuple, list[tuple]] = {}
    own_relations = list(relations)  # this release's, before any link to another
    linked_priors: dict[str, dict[tuple, int]] = {}
    for (release, name), n in sorted((rc.prior or {}).items(), key=str):
        if release in unchanged:
            continue
        cell = model_cell.get(name, name)
        if cell not in published and not (cell[0] in KM_LINKED_SUMS and cell in values):
            continue
        prior, change = ("prior", release, name), ("release_change", release, name)
        values[prior] = n
        values[change] = abs(values[cell] - n)
        relations.append({cell: 1, prior: -1, change: -1 if values[cell] >= n else 1})
        linked_priors.setdefault(release, {})[cell] = n
        if (chain := _chain_of(cell)) is not None:
            linked.setdefault((release, chain), []).append((cell, prior))
    relations += implicit_release_changes(values, published, own_relations, linked_priors)
    # Persons excluded between two steps of one chain (a definition's cohort flow, a dataset's
    # genotyped -> analysed steps before the split) are a group in each release, and so is the
    # change of that group: all persons 1000 -> 1500 and MDD included 300 -> 793 are changes of
    # 500 and 493, and 7 more persons excluded between them. Each pair of steps linked to the
    # same release gets that change as a signed cell (``RELEASE_CHANGE_BETWEEN``: newly
    # excluded minus no longer excluded; the outsider does not know its sign, so neither does
    # the audit: a sign fixed from the data pinned small counts of the 600- and 3000-person toy
    # releases whatever was hidden, e2cc101).
    for (release, _), pairs in sorted(linked.items(), key=str):
        for (a, pa), (b, pb) in combinations(pairs, 2):
            key = (RELEASE_CHANGE_BETWEEN, release, a, b)
            values[key] = (values[a] - values[b]) - (values[pa] - values[pb])
            relations.append({a: 1, b: -1, pa: -1, pb: 1, key: -1})
    return values, published, relations, units, carried, carried_bounds


def _intersect(a: tuple[float, float | None], b: tuple[float, float | None]) -> tuple[float, float | None]:
    """The range two labels of one count leave together ((least, largest or None))."""
    highs = [h for h in (a[1], b[1]) if h is not None]
    return max(a[0], b[0]), min(highs) if highs else None


# Signed audit cells (``audit_suppression``'s ``signed``): the change, between two releases, of
# the persons excluded between two steps of one chain (``build_audit``), and of a group this
# audit has as an implicit cell (``implicit_release_changes``).
RELEASE_CHANGE_BETWEEN = "release_change_between"
RELEASE_CHANGE_IMPLICIT = "release_change_implicit"
# Implicit cells whose value in another release is not linked: links themselves, slack (no
# count), a Kaplan-Meier third's cells (the thirds are other persons in another release), and
# the differences of a cohort-flow chain (``RELEASE_CHANGE_BETWEEN`` has their changes).
_NOT_LINKED_IMPLICIT = frozenset({"prior", "release_change", RELEASE_CHANGE_BETWEEN, RELEASE_CHANGE_IMPLICIT,
                                  GATE_SLACK, "km", "flow_step_diff"})


def implicit_release_changes(values: dict, published: set, relations: list[dict],
                             linked_priors: dict[str, dict[tuple, int]]) -> list[dict]:
    """The change between two releases of each group this release's audit has as an implicit cell
    (persons lacking a score, a model's controls with data, a dataset's MDD persons, ...) whose
    value in the other release follows from the counts linked to it, as a signed cell
    ``(RELEASE_CHANGE_IMPLICIT, release, cell)`` with the relation ``cell - prior = change``.
    Each linked count's change is a cell already (``build_audit``), but not their sums and
    differences: TRD vs non-MDD's n 800 -> 830 and n_cases 60 -> 83 with non-MDD 760 -> 780 all
    changed by 20 or more, and gave 7 new non-MDD persons with the score (the controls with data,
    740 -> 747) and 13 new ones lacking it. ``relations``: this release's own (no link to another
    release); ``linked_priors``: release -> {audit cell here: its count in that release's export}.
    An implicit cell's other-release value is solved from a relation whose other cells all have
    one (repeatedly, so a group of groups follows); a cell whose value there is not a whole count
    >= 0, or that two relations give different values, is no such group there and is not linked.
    Adds the prior and change cells to ``values``; returns the relations."""
    by_cell: dict[tuple, list[int]] = {}
    for i, rel in enumerate(relations):
        for c in rel:
            by_cell.setdefault(c, []).append(i)
    out: list[dict] = []
    for release, linked in sorted(linked_priors.items()):
        prior = dict(linked)
        refused: set = set()
        while True:
            queue = sorted({i for c in prior for i in by_cell.get(c, [])}, reverse=True)
            while queue:
                rel = relations[queue.pop()]
                unknown = [c for c in rel if c not in prior]
                if len(unknown) != 1:
                    continue
                x = unknown[0]
                if x in published or x in refused or x[0] in _NOT_LINKED_IMPLICIT or x not in values:
                    continue
                v = -sum(coef * prior[c] for c, coef in rel.items() if c != x) / rel[x]
                if v < 0 or v != int(v):
                    refused.add(x)
                    continue
                prior[x] = int(v)
                queue += sorted(by_cell[x], reverse=True)
            # A relation all of whose cells have a value there must hold on those values.
            broken = {c for c in prior if c not in linked for i in by_cell[c]
                      if all(d in prior for d in relations[i])
                      and sum(coef * prior[d] for d, coef in relations[i].items()) != 0}
            if not broken:
                break
            refused |= broken
            prior = dict(linked)
        for x in sorted(set(prior) - set(linked), key=str):
            p, change = ("prior", release, x), (RELEASE_CHANGE_IMPLICIT, release, x)
            values[p] = prior[x]
            values[change] = values[x] - prior[x]
            out.append({x: 1, p: -1, change: -1})
    return out


def _chain_of(cell: tuple) -> tuple | None:
    """The chain of steps an audit cell belongs to (persons only leave along it), or None:
    ("flow", definition) for a cohort-flow step, ("dflow", dataset) for a dataset's genotyped ->
    analysed steps before the definitions split, ("km", dataset, definition, pgs_id) for a
    Kaplan-Meier curve set's persons at risk on day 0 and later days (``km_persons``,
    ``km_at_risk``: 300 -> 332 on day 0 and 180 -> 205 on day 30 tell 7 new persons who left
    the risk set before day 30), and (``KM_EVENTS_BY`` | ``KM_CENSORED_BY``, dataset, definition,
    pgs_id) for its TRD onsets, or censorings, before each such day (``km_left_by``: two days'
    counts differ by the persons with an onset between them)."""
    if cell[0] == "flow":
        return ("flow", cell[1])
    if cell[0] == "dflow" and cell[2] == ALL_DEFINITIONS:
        return ("dflow", cell[1])
    if cell[0] in ("km_persons", "km_at_risk"):
        return ("km", *cell[1:4])
    if cell[0] in (KM_EVENTS_BY, KM_CENSORED_BY):
        return cell[:4]
    return None


# Statuses counted by the cases or the controls of one logistic contrast (its other side).
CONTRAST_SIDES = {c: (cases, tuple(s for s in whole if s not in cases)) for c, (cases, whole) in CONTRAST_GROUPS.items()}


def contrast_group_relations(logistic: pd.DataFrame, cox: pd.DataFrame | None = None) -> tuple[dict, list[dict]]:
    """(implicit cell values, relations) tying the logistic models of one dataset, definition
    and PGS that count the same persons: every contrast is fitted on the persons with the PGS
    and covariates, so the TRD cases of TRD vs non-MDD are those of TRD vs trMDD, the controls
    (n - n_cases) of the three contrasts against non-MDD are one group, the trMDD cases of trMDD
    vs non-MDD are the controls of TRD vs trMDD, and MDD vs non-MDD's cases are those TRD and
    trMDD persons plus the MDD_other ones with data (an implicit cell); MDD vs non-MDD counts
    the same persons under every TRD definition; a Cox model's n and events (``cox``: the MDD
    and TRD persons with the PGS and its covariates) are those cases when the counts agree. Of
    one dataset and PGS, the persons with an adequate trial and data (TRD vs trMDD's n), the
    MDD_other ones with data and the Cox model's n (MDD persons with data and follow-up) are
    the same under every definition that does not change who they are (``same_across_definitions``).
    An outsider who knows the design equates them (a small group narrowed by a margin of another
    contrast), so each is declared where the counts agree (a coincidence only makes the audit
    more cautious). Cells as ``build_audit``'s
    ``model_cells`` names them."""
    values: dict = {}
    relations: list[dict] = []
    seen: set = set()

    def same(a: tuple, b: tuple) -> None:
        if a != b and frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            relations.append({a: 1, b: -1})

    need = {"dataset", "definition", "contrast", "pgs_id", "n", "n_cases"}
    if not need <= set(logistic.columns):
        return values, relations
    sides: dict[tuple, dict[str, list[tuple[tuple, int]]]] = {}  # (ds, def, pgs) -> status -> [(cell, n)]
    mdd_cases: dict[tuple, tuple[tuple, int]] = {}
    whole_mdd: dict[tuple, list[tuple[tuple, tuple, int, int]]] = {}  # (ds, pgs) -> [(n cell, cases cell, n, k)]
    # (kind, ds, pgs) -> [(cell, n)] of the counts of one group that no TRD definition changes.
    across_definitions: dict[tuple, list[tuple[tuple, int]]] = {}
    for ds, definition, contrast, pgs, n, k in zip(logistic["dataset"], logistic["definition"], logistic["contrast"],
                                                   logistic["pgs_id"], logistic["n"], logistic["n_cases"]):
        if contrast not in CONTRAST_SIDES or not (_is_int(n) and _is_int(k)):
            continue
        n, k = int(n), int(k)
        t_key = ("logistic", ds, definition, contrast, "n", n)
        p_key = ("logistic", ds, definition, contrast, "n_cases", k)
        rest = ("logistic_rest", ds, definition, contrast, n, k)
        cases, controls = CONTRAST_SIDES[contrast]
        by_status = sides.setdefault((ds, definition, pgs), {})
        for group, cell, v in ((cases, p_key, k), (controls, rest, n - k)):
            if len(group) == 1:
                by_status.setdefault(group[0], []).append((cell, v))
        if len(cases) > 1:
            mdd_cases[(ds, definition, pgs)] = (p_key, k)
            whole_mdd.setdefault((ds, pgs), []).append((t_key, p_key, n, k))
        if set(CONTRAST_GROUPS[contrast][1]) == {str(Status.TRD), str(Status.TRMDD)}:  # with an adequate trial
            across_definitions.setdefault(("adequate_trial", ds, pgs), []).append((t_key, n))
    for key, by_status in sorted(sides.items(), key=str):
        for cells in by_status.values():
            for (a, va), (b, vb) in zip(cells, cells[1:]):
                if va == vb:
                    same(a, b)
        if key in mdd_cases and all(len(by_status.get(st, [])) for st in (Status.TRD, Status.TRMDD)):
            (cell, k), trd, trmdd = mdd_cases[key], by_status[Status.TRD][0], by_status[Status.TRMDD][0]
            if len({v for _, v in by_status[Status.TRD]}) == 1 and len({v for _, v in by_status[Status.TRMDD]}) == 1 \
                    and k - trd[1] - trmdd[1] >= 0:
                other = ("model_group", "logistic", *key, str(Status.MDD_OTHER))
                values[other] = k - trd[1] - trmdd[1]
                relations.append({cell: 1, trd[0]: -1, trmdd[0]: -1, other: -1})
                across_definitions.setdefault(("mdd_other", key[0], key[2]), []).append((other, values[other]))
    # The non-MDD controls with data do not depend on the TRD definition either (linked where
    # the counts agree): TRD vs non-MDD's controls under nested definitions, equal, turn the
    # difference of their n into that of their cases (``nested_model_relations``).
    across: dict[tuple, list[tuple[tuple, int]]] = {}
    for (ds, _, pgs), by_status in sorted(sides.items(), key=str):
        across.setdefault((ds, pgs), []).extend(by_status.get(str(Status.NON_MDD), []))
    for cells in across.values():
        for (a, va), (b, vb) in zip(cells, cells[1:]):
            if va == vb:
                same(a, b)
    for rows in whole_mdd.values():
        for (t_a, p_a, n_a, k_a), (t_b, p_b, n_b, k_b) in zip(rows, rows[1:]):
            if (n_a, k_a) == (n_b, k_b):
                same(t_a, t_b)
                same(p_a, p_b)
    if cox is not None and len(cox):
        for ds, definition, pgs, n, k in zip(cox["dataset"], cox["definition"], cox["pgs_id"], cox["n"],
                                             cox["n_events"]):
            if not (_is_int(n) and _is_int(k)):
                continue
            mdd = mdd_cases.get((ds, definition, pgs))
            trd_cases = sides.get((ds, definition, pgs), {}).get(Status.TRD)
            if mdd is not None and mdd[1] == int(n):
                same(("cox", ds, definition, "progression", "n", int(n)), mdd[0])
            if trd_cases and trd_cases[0][1] == int(k):
                same(("cox", ds, definition, "progression", "n_events", int(k)), trd_cases[0][0])
            across_definitions.setdefault(("cox", ds, pgs), []).append(
                (("cox", ds, definition, "progression", "n", int(n)), int(n)))
    for cells in across_definitions.values():
        relations += [r for r in same_across_definitions(cells) if frozenset(r) not in seen]
    return values, relations


def same_across_definitions(cells: list[tuple[tuple, int]]) -> list[dict]:
    """``{a: 1, b: -1}`` for the cells of ``cells`` ([(cell, count)]: counts of one group of one
    dataset and PGS under several TRD definitions) that hold the same count, each chained to the
    first of its count (text order): a group no definition changes (the persons with an
    adequate trial and data, the MDD_other persons with data, a Cox model's or a Kaplan-Meier
    curve set's MDD persons) is the same persons under every definition, and an outsider who
    knows the design reads one definition's shown count as another's hidden one. Design facts
    docs/privacy.md "Not covered" (then in README) listed until privacy round 15: TRD vs trMDD's n 335 shown under one
    definition, hidden under another whose trMDD persons with data (328) are shown, gave that
    definition's 7 TRD persons with data. Stated where the counts agree (a definition that
    changes the group, e.g. one without a trial rule, seldom keeps its count; a coincidence only
    makes the audit more cautious), by value, not by neighbours: 335, 340, 335 link the first
    and the last."""
    by_count: dict[int, list[tuple]] = {}
    for cell, n in cells:
        by_count.setdefault(n, []).append(cell)
    out = []
    for same in by_count.values():
        same = sorted(dict.fromkeys(same), key=str)
        out += [{same[0]: 1, other: -1} for other in same[1:]]
    return out


# The quantile columns of pgs_distribution and their levels: what ``report.stage`` computes
# (Spark's percentile_approx) and what ``quantile_shown`` checks, one list for both.
QUANTILE_LEVELS = {"p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
# pgs_distribution's internal column: the distinct PGS values of the group (``report.stage``:
# exact, on values rounded to ``report.stage.DISTINCT_DECIMALS`` places); read by
# ``few_valued_scores``, never exported.
DISTINCT_VALUES = "n_values"
# pgs_distribution's internal column: the persons of the group at its most frequent value (on the
# values ``DISTINCT_VALUES`` counts; 1 when no two share one); read by ``tie_heavy_scores``,
# never exported.
LARGEST_TIE = "n_largest_tie"
# pgs_distribution's internal columns: the group's skewness and excess kurtosis (Spark's
# ``skewness`` and ``kurtosis``: population moments, m3 / m2^1.5 and m4 / m2^2 - 3); read by
# ``heavy_tailed_scores``, never exported.
SKEWNESS = "skewness"
EXCESS_KURTOSIS = "excess_kurtosis"
# pgs_distribution's internal columns: the n, mean, sd, skewness and excess kurtosis of the group's
# residual of the score on the dataset's other scores (``report.stage.residual_moments``: least
# squares on their covariances over the dataset's persons); read by ``heavy_tailed_scores``, never
# exported. Keyed by the score's own column they stand beside.
RESIDUAL_COLUMNS = {"n": "residual_n", "mean": "residual_mean", "sd": "residual_sd",
                    SKEWNESS: "residual_skewness", EXCESS_KURTOSIS: "residual_excess_kurtosis"}
# pgs_distribution's internal columns: the distinct values and the largest tie of the dataset's
# persons with the score, every group pooled (on every row of the dataset and score; the fits'
# persons are the dataset's, whatever their group): read by ``few_valued_scores`` and
# ``tie_heavy_scores`` in place of the groups of fewer than T persons, never exported.
DATASET_DISTINCT_VALUES = "dataset_n_values"
DATASET_LARGEST_TIE = "dataset_n_largest_tie"
# pgs_distribution's internal columns: the group's lowest and highest score (Spark's ``min`` /
# ``max``); read by ``outlying_groups``, never exported.
VALUE_MIN = "value_min"
VALUE_MAX = "value_max"
# The internal columns of pgs_distribution, dropped before the export.
INTERNAL_DIST_COLUMNS = (DISTINCT_VALUES, LARGEST_TIE, SKEWNESS, EXCESS_KURTOSIS, *RESIDUAL_COLUMNS.values(),
                         DATASET_DISTINCT_VALUES, DATASET_LARGEST_TIE, VALUE_MIN, VALUE_MAX)
# Standard errors of a group's sum of squares (sqrt(2 (n - 1)) rest variances) one person's squared
# distance from the group's median must exceed to hide the group's mean and sd (``outlying_groups``).
OUTLIER_STANDARD_ERRORS = 2.0
# Standard errors of a normal sample's excess kurtosis (sqrt(24 / n)) a group's must exceed, beside
# report.max_pgs_excess_kurtosis, to flag its score (``kurtosis_bar``).
KURTOSIS_STANDARD_ERRORS = 6.0


def few_valued_scores(dist: pd.DataFrame, threshold: int) -> pd.Series:
    """Rows of ``dist`` (pgs_distribution with ``DISTINCT_VALUES``) whose score takes few values in
    its dataset: some group of the (dataset, pgs_id) has fewer than ``threshold`` distinct values and
    fewer than its persons (ties: a polygenic score of many variants has one value per person). A
    score of few matched variants (round 39's sparse score, one rare variant on a microarray) has
    one value per genotype, the same in every group of the dataset; a group's mean and sd then
    give its persons at each value: with two values z0 (the median of any large group) and z1,
    (sd^2 (n - 1) / n) / (mean - z0)^2 = (1 - f) / f, so 3 carriers among 500 EAS persons read
    as 3.000 from the export (with three values, mean and sd give the genotype counts). The
    median alone gives them too: it is the non-carriers' value z0, and a z-score of two values has
    z0^2 = k (N - 1) / (N (N - k)) for k carriers among the N standardised persons (N is a group's
    shown n under ``ancestry`` standardisation, about the sum of the groups' n under ``overall``),
    and any quantile of a group of few values is one of them. Every group of such a score loses
    every statistic (mean, sd, quantiles), its n stays. A group of fewer than ``threshold`` persons
    (no statistic shown) is read only through the dataset's persons pooled (``_group_read``).
    Boolean Series on ``dist``'s index; all False without the column (a table from before it)."""
    out = pd.Series(False, index=dist.index, dtype=bool)
    if DISTINCT_VALUES not in dist.columns or dist.empty:
        return out
    k = pd.to_numeric(dist[DISTINCT_VALUES], errors="coerce")
    n = pd.to_numeric(dist["n"], errors="coerce")
    few = (k < threshold) & (k < n) & _group_read(n, dist, threshold)
    return _flag_scores(dist, few, lambda n_all, k_all, tie: (k_all < threshold) & (k_all < n_all))


def tie_heavy_scores(dist: pd.DataFrame, threshold: int) -> pd.Series:
    """Rows of ``dist`` (pgs_distribution with ``LARGEST_TIE``) whose score has, in some group of its
    (dataset, pgs_id), a value shared by two or more persons with fewer than ``threshold`` persons
    off it (n - largest tie < threshold): a score of a few rare variants where nearly everyone
    carries none. ``few_valued_scores`` misses the one such group of ``threshold`` or more distinct
    values: ``threshold`` - 1 persons off the tie, each at a value of its own (more values need more
    persons). Its statistics count them: every quantile shown is the tie's value z0 (the median
    needs 42 persons), and with the group's n, mean and sd the deviations from z0 of the persons
    off it are known as a sum S1 = n (mean - z0) and a sum of squares S2 = (n - 1) sd^2 +
    n (mean - z0)^2, whose ratio S1^2 / S2 is scale-free (the unknown SD cancels): a reader with
    the score's published weights (a few variants: their genotype sums are the candidate
    deviations) searches the sets of candidates for that ratio, exported at full precision, and
    finds the count (22 variants, 19 carriers of one each among 500: one set matches, 19; tests/
    test_field_cases_round40_models.py). Below 20 distinct values the mean, sd and median count
    carriers without the weights (``few_valued_scores``). So does a group whose largest tie (2 or
    more) holds half its persons or more, whatever their number off it: its median is the tie's
    value z0, and the same search finds its persons off the tie one by one, a count per variant
    (22 variants, 21 EAS persons off the tie each carrying another one of them: of the 1,794 sets
    of 19 to 22 variants one matches, the true one, so each variant's carriers in EAS, 1 or 0, are
    known; tests/test_privacy_s51.py). A polygenic score has no such tie. Every group of such a
    score loses every statistic, as a few-valued score's; its n stays (and its fits' estimates:
    ``carrier_count_scores``). A group of fewer than ``threshold`` persons (no statistic shown) is
    read only through the dataset's persons pooled (``_group_read``). Boolean Series on ``dist``'s
    index; all False without the column (a table from before it)."""
    out = pd.Series(False, index=dist.index, dtype=bool)
    if LARGEST_TIE not in dist.columns or dist.empty:
        return out
    tie = pd.to_numeric(dist[LARGEST_TIE], errors="coerce")
    n = pd.to_numeric(dist["n"], errors="coerce")
    heavy = (tie > 1) & ((n - tie < threshold) | (2 * tie >= n)) & _group_read(n, dist, threshold)
    return _flag_scores(dist, heavy, lambda n_all, k_all, t: (t > 1) & ((n_all - t < threshold) | (2 * t >= n_all)))


def _group_read(n: pd.Series, dist: pd.DataFrame, threshold: int) -> pd.Series:
    """Which groups of ``dist`` ``few_valued_scores`` and ``tie_heavy_scores`` read on their own:
    those of ``threshold`` or more persons when the table has the dataset's pooled columns
    (``DATASET_DISTINCT_VALUES``, ``DATASET_LARGEST_TIE``), every group without them (a table
    from before them, or compare-releases' one row per dataset). Why not the smaller ones: such a
    group's n reads ``<T`` and every statistic of it is hidden (``suppress_release``), its mean and
    sd are no sum the shown groups complete (``moment_complements`` hides the largest shown
    group's), so its values reach the export only through the fits, whose persons are the
    dataset's: the pooled rule reads those (a one-variant score in a dataset of three groups of
    15 persons: 2 values pooled, flagged). Read on its own, a tie of two persons in a group of
    fewer than T (k < T values: ``few_valued_scores``) hid every estimate of the score in the
    dataset, a polygenic one's too (session 53 privacy10)."""
    if DATASET_DISTINCT_VALUES in dist.columns and DATASET_LARGEST_TIE in dist.columns:
        return n >= threshold
    return pd.Series(True, index=dist.index, dtype=bool)


def _flag_scores(dist: pd.DataFrame, groups: pd.Series, pooled_rule) -> pd.Series:
    """Every row of a (dataset, pgs_id) of ``dist`` with a group flagged in ``groups`` or, where
    the table has the pooled columns, whose dataset's persons pooled meet ``pooled_rule``
    (n, distinct values, largest tie -> bool)."""
    out = pd.Series(False, index=dist.index, dtype=bool)
    pooled = DATASET_DISTINCT_VALUES in dist.columns and DATASET_LARGEST_TIE in dist.columns
    for _, idx in dist.groupby(["dataset", "pgs_id"], sort=False).groups.items():
        flag = bool(groups[idx].any())
        if pooled and not flag:
            n_all = float(pd.to_numeric(dist.loc[idx, "n"], errors="coerce").fillna(0).sum())
            k_all = pd.to_numeric(dist.loc[idx, DATASET_DISTINCT_VALUES], errors="coerce").max()
            tie = pd.to_numeric(dist.loc[idx, DATASET_LARGEST_TIE], errors="coerce").max()
            flag = bool(pd.notna(k_all) and pd.notna(tie) and pooled_rule(n_all, k_all, tie))
        if flag:
            out[idx] = True
    return out


def kurtosis_bar(n: float, limit: float) -> float:
    """The excess kurtosis above which a group of ``n`` persons' score counts carriers: ``limit``
    (report.max_pgs_excess_kurtosis) or ``KURTOSIS_STANDARD_ERRORS`` standard errors of a normal
    sample's, 6 x sqrt(24 / n), whichever is larger: a polygenic score's estimate in a group of 30
    exceeds 1 in 6% of normal samples, 5.37 in 0.02% (at most 0.04% at any n, 40,000 samples
    each); the bar is ``limit`` from 864 persons up at the default 1.0. A toy release's group of
    93 persons with one person at -4.3 SD read 2.78 (bar 3.05; 2.54 at 5 errors). Infinite for
    fewer than 4 persons (no fourth moment to read)."""
    return max(limit, KURTOSIS_STANDARD_ERRORS * (24.0 / n) ** 0.5) if n >= 4 else float("inf")


def pooled_moments(n: Any, mean: Any, sd: Any, skew: Any, kurt: Any) -> tuple[float, float]:
    """(skewness, excess kurtosis) of the union of groups, from each group's n, mean, sd (n - 1
    denominator), skewness and excess kurtosis (population moments, as Spark's): the groups'
    central moments are turned into raw ones, summed with weights n and turned back. A group of
    one person (sd null) adds its value only. NaN when the union has no spread."""
    import numpy as np

    n = np.asarray(n, dtype=float)
    m = np.asarray(mean, dtype=float)
    m2 = np.nan_to_num(np.asarray(sd, dtype=float) ** 2 * (n - 1) / n)
    m3 = np.nan_to_num(np.asarray(skew, dtype=float)) * m2 ** 1.5
    m4 = (np.nan_to_num(np.asarray(kurt, dtype=float)) + 3) * m2 ** 2
    w = n / n.sum()
    e1 = (w * m).sum()
    e2 = (w * (m2 + m ** 2)).sum()
    e3 = (w * (m3 + 3 * m * m2 + m ** 3)).sum()
    e4 = (w * (m4 + 4 * m * m3 + 6 * m ** 2 * m2 + m ** 4)).sum()
    c2 = e2 - e1 ** 2
    c3 = e3 - 3 * e1 * e2 + 2 * e1 ** 3
    c4 = e4 - 4 * e1 * e3 + 6 * e1 ** 2 * e2 - 3 * e1 ** 4
    if not c2 > 0:
        return float("nan"), float("nan")
    return float(c3 / c2 ** 1.5), float(c4 / c2 ** 2 - 3)


def heavy_tailed_scores(dist: pd.DataFrame, limit: float = MAX_PGS_EXCESS_KURTOSIS) -> pd.Series:
    """Rows of ``dist`` (pgs_distribution with ``SKEWNESS`` and ``EXCESS_KURTOSIS``) whose score has
    an excess kurtosis above ``kurtosis_bar`` in its dataset (its groups pooled, ``pooled_moments``)
    or in one of its groups: a score whose variance a few persons carry, the carriers of a rare
    variant of large weight, without ties or a person beyond 10 SD. A variant carrying a share s of
    the variance, carried by a fraction p of the persons, gives about s^2 / p (a polygenic score
    about 0), and a group's mean, SD and quartiles count its carriers: its sum of squares less its
    persons times the rest's variance (its quartiles' spread) is the carriers times their shift
    squared, which the weights give (the variant's weight over the score's raw SD, that over the
    rest's variance from the weights and public allele frequencies). At s = 0.7, 40 carriers among
    4,300 persons at 9-10 SD: EAS's 5 carriers of 500 read exactly in 50 of 60 simulations, AFR's
    7 of 800 in 43, both within one in all; at s = 0.5 in 36 and 26; at s = 0.1 (s^2 / p = 1.0) in
    4 and 3, chance (tests/test_privacy9_s52.py). Every group of such a score loses every
    statistic and its fits their estimates (``carrier_count_scores``).
    The same bars apply to the score's residual on the dataset's other scores (``RESIDUAL_COLUMNS``):
    two scores of the panel that differ by a rare variant (one a version of the other with a variant
    more) are polygenic each, but the difference of their groups' means is that variant's carriers
    per group, the rest cancelling exactly: with 0.2% of the variance (3 of EAS's 500, 22 of 4,300)
    each group's carriers read to +-0.05 from the two scores' shown means and the weights, every
    group exact in 18 of 20 simulations (tests/test_privacy9_s52.py). Their residuals are the variant: both scores are flagged.
    Boolean Series on ``dist``'s index; all False without the columns (a table from before them)."""
    out = pd.Series(False, index=dist.index, dtype=bool)
    if dist.empty:
        return out
    sets = [cols for cols in (["n", "mean", "sd", SKEWNESS, EXCESS_KURTOSIS],
                              [RESIDUAL_COLUMNS[c] for c in ("n", "mean", "sd", SKEWNESS, EXCESS_KURTOSIS)])
            if all(c in dist.columns for c in cols)]
    for cols in sets:
        n_all, mean, sd, sk, ku = (pd.to_numeric(dist[c], errors="coerce") for c in cols)
        for _, idx in dist.groupby(["dataset", "pgs_id"], sort=False).groups.items():
            n = n_all[idx].fillna(0)
            keep = n > 0
            if not keep.any():
                continue
            groups = any(k > kurtosis_bar(m, limit) for m, k in zip(n, ku[idx]) if pd.notna(k))
            _, pooled = pooled_moments(n[keep], mean[idx][keep], sd[idx][keep], sk[idx][keep], ku[idx][keep])
            if groups or pooled > kurtosis_bar(float(n.sum()), limit):
                out[idx] = True
    return out


def carrier_count_scores(dist: pd.DataFrame | None, threshold: int,
                         beyond_sd: dict[str, dict[str, str]] | None = None,
                         kurtosis_limit: float = MAX_PGS_EXCESS_KURTOSIS) -> set[tuple[str, str]]:
    """(dataset, pgs_id) of the scores whose statistics count carriers of their variants: those of
    ``dist`` (pgs_distribution with its internal columns; None: none) flagged by
    ``few_valued_scores`` or ``tie_heavy_scores`` (one or a few rare variants), and those of
    ``beyond_sd`` (the cohort manifest's ``notes.pgs_beyond_sd``: a standardised person beyond
    +-``cohort.standardise.BEYOND_SD``, which no polygenic score reaches: a score driven by a rare
    variant of large weight, whose carriers sit far out above a polygenic rest, or a broken
    sample). Their fits' estimates count those persons (a logistic beta and se per SD of a
    one-variant score are its 2x2 table of carriers by status, the SD cancelling in the
    z-statistic and the ratios of the se's; so, nearly, are those of a score whose one variant
    carries 99.9% of its variance: its 40 carriers among 4,300 persons at 10.3 SD), so the
    export shows none of that dataset (``hide_estimates_of_hidden_counts``), and their groups'
    statistics (mean, sd, quantiles: ``suppress_release``) as a few-valued score's. So are those
    ``heavy_tailed_scores`` flags with ``kurtosis_limit`` (report.max_pgs_excess_kurtosis): a rare
    variant carrying most of the variance, its carriers within 10 SD, counted by a group's SD."""
    out = {(str(ds), str(p)) for ds, scores in (beyond_sd or {}).items() if isinstance(scores, dict) for p in scores}
    if dist is None or dist.empty:
        return out
    flagged = (few_valued_scores(dist, threshold) | tie_heavy_scores(dist, threshold)
               | heavy_tailed_scores(dist, kurtosis_limit))
    return out | {(str(ds), str(p)) for ds, p in zip(dist.loc[flagged, "dataset"], dist.loc[flagged, "pgs_id"])}


def outlying_groups(dist: pd.DataFrame) -> pd.Series:
    """Rows of ``dist`` (pgs_distribution with ``VALUE_MIN``, ``VALUE_MAX`` and its p25 / p50 / p75,
    before suppression) whose mean and sd count persons far out: a person whose squared distance
    from the group's median exceeds ``OUTLIER_STANDARD_ERRORS`` x sqrt(2 (n - 1)) variances of the
    group's bulk, the scale being the smaller of the group's own robust SD ((p75 - p25) / 1.349)
    and that of the largest group of its dataset and score (the own one alone misses a group a
    quarter or more of whose persons sit far out: its quartiles are theirs). Why: the carriers of
    a rare variant of large weight but small variance share (the score's excess kurtosis under
    ``report.max_pgs_excess_kurtosis``, the group's under its 6-error bar) sit d SD out in a small
    group, and (n - 1) sd^2 = (n - 1) r^2 + d^2 c (1 - c / n): with d from the weights and r^2, the
    bulk's variance, from the weights and public allele frequencies, c reads to sqrt(2 (n - 1)) / d^2
    (the sampling error of the bulk's sum of squares), and the mean adds c d / n: 1 carrier at 5 SD
    in a group of 30 read exactly in 37 of 60 simulations, 3 at 6 SD in 33, where the kurtosis bars
    flagged 25% and 0% (``tests/test_privacy10_s53.py``). Such a group's mean and sd are hidden
    (its quantiles stay: a person shifts one by one rank; its n stays), and so are the largest
    shown group's (``moment_complements``), the scores' n x mean adding up to 0. A normal group of
    20 persons trips the bar in about 12% of samples, of 30 in 4%, of 50 in 2%, of 100 or more in
    none of 400: the cost, the group's two moments. All False without the columns."""
    out = pd.Series(False, index=dist.index, dtype=bool)
    need = (VALUE_MIN, VALUE_MAX, "p25", "p50", "p75", "n")
    if dist.empty or not all(c in dist.columns for c in need):
        return out
    num = {c: pd.to_numeric(dist[c], errors="coerce") for c in need}
    scale = (num["p75"] - num["p25"]) / 1.349
    for _, idx in dist.groupby(["dataset", "pgs_id"], sort=False).groups.items():
        n = num["n"][idx]
        if not n.notna().any():
            continue
        largest = scale[n.idxmax()]
        own = scale[idx]
        s = own.where(own.isna() | ~(own > largest), largest) if pd.notna(largest) and largest > 0 else own
        s = s.where(s > 0)
        far = pd.concat([num[VALUE_MAX][idx] - num["p50"][idx], num["p50"][idx] - num[VALUE_MIN][idx]], axis=1).max(axis=1)
        bar = OUTLIER_STANDARD_ERRORS * (2.0 * (n - 1).clip(lower=1)) ** 0.5
        out[idx] = ((far / s) ** 2 > bar).fillna(False).astype(bool)
    return out


# Standard errors of a normal sum of squares (sqrt(2 (k - 1)) rest variances, k the persons who joined
# or left a group since an earlier export), with the error of the re-standardisation's fitted scale
# added, by which theirs may differ from k - 1 rest variances before the group's mean and sd are
# hidden (``moved_groups``); the bar ``outlying_groups`` sets one person's squared distance.
MOVED_STANDARD_ERRORS = OUTLIER_STANDARD_ERRORS
# Standard errors by which the fit of the hidden groups must miss the identity before a group that no
# shown group can be read against is read against that fit instead (``unfitted_scale``):
# under one standardisation (a = 1) a fit misses it by chance in 0.27% of releases (at 2: 4.6%, and
# the identity's protection went with it).
MAP_MOVED_STANDARD_ERRORS = 3.0

# One group's (n, mean, sd) as an export shows it; None where that export does not show it.
Moments = tuple[int, float, float]
PriorMoments = dict[tuple[str, str, str], list[Moments | None]]


def prior_moments(exports: dict[str, dict]) -> PriorMoments:
    """{(dataset, ancestry, pgs_id): [(n, mean, sd) or None, ...]} of the PGS-distribution groups other
    exports show with a number for each (``exports`` as ``prior_counts`` takes them: label ->
    {"pgs_distribution": text table, ...}; a table absent, a label for n or a blank moment: left out).
    One position per export with a pgs_distribution table, in label order, the same position in every
    group's list (None where that export does not show the group; trailing Nones dropped), so that
    ``moved_groups`` fits each export's re-standardisation from the groups it shows; a group no export
    shows has no key."""
    out: dict[tuple[str, str, str], list[Moments | None]] = {}
    for position, _, rows in _shown_moments(exports):
        for _, key, moments in rows:
            _place(out, key, position, moments)
    return out


# (row index, (dataset, ancestry, pgs_id), (n, mean, sd)) of one pgs_distribution row with moments.
ShownMoments = tuple[int, tuple[str, str, str], Moments]


def _shown_moments(exports: dict[str, dict]) -> Iterator[tuple[int, pd.DataFrame, list[ShownMoments]]]:
    """Per export with a pgs_distribution table (in label order): its position (counting those
    exports only), the table, and its rows that show a number for n and finite moments as (row
    index, (dataset, ancestry, pgs_id), (n, mean, sd)). The one reading ``prior_moments`` and
    ``prior_quantiles`` share, so their positions agree."""
    position = 0
    for _, tables in sorted(exports.items()):
        dist = tables.get("pgs_distribution")
        if dist is None or not len(dist) or not {"n", "mean", "sd"} <= set(dist.columns):
            continue
        mean = pd.to_numeric(dist["mean"], errors="coerce")
        sd = pd.to_numeric(dist["sd"], errors="coerce")
        rows = [(i, (str(ds), str(anc), str(pgs)), (int(n), float(m), float(s)))
                for i, (ds, anc, pgs, n, m, s) in enumerate(zip(dist["dataset"], dist["ancestry"], dist["pgs_id"],
                                                                dist["n"], mean, sd))
                if str(n).isdigit() and math.isfinite(m) and math.isfinite(s)]
        yield position, dist, rows
        position += 1


def _place(out: dict, key: tuple[str, str, str], position: int, value: object) -> None:
    """Append ``value`` to ``out[key]`` at ``position``, None in the positions it skipped."""
    entries = out.setdefault(key, [])
    entries.extend([None] * (position - len(entries)))
    entries.append(value)


# One group's published quantiles in an export ({QUANTILE_LEVELS column: value}, the finite ones), in
# the positions of ``prior_moments``: None where that export does not show the group's moments.
PriorQuantiles = dict[tuple[str, str, str], list[dict[str, float] | None]]


def prior_quantiles(exports: dict[str, dict]) -> PriorQuantiles:
    """{(dataset, ancestry, pgs_id): [{quantile column: value} or None, ...]}: the quantiles each other
    export shows of the groups ``prior_moments`` takes from it, in the same positions (the same
    exports, the same groups, None where ``prior_moments`` has None), for ``quantile_scale``."""
    out: dict[tuple[str, str, str], list[dict[str, float] | None]] = {}
    for position, dist, rows in _shown_moments(exports):
        levels = {c: pd.to_numeric(dist[c], errors="coerce") if c in dist.columns
                  else pd.Series(float("nan"), index=dist.index) for c in QUANTILE_LEVELS}
        for i, key, _ in rows:
            _place(out, key, position, {c: float(v.iloc[i]) for c, v in levels.items() if math.isfinite(v.iloc[i])})
    return out


def quantile_step(n: float, level: float) -> float:
    """The grid (SD units) a group of ``n`` persons' ``level`` quantile (0..1) is published on: one
    standard error of a normal group's quantile, sqrt(p (1 - p)) / (phi(u_p) sqrt(n)).

    Why (privacy round 13, session 57): a quantile is one person's score, so the same group's
    quantiles in two exports give the map z2 = a z1 + b of the persons in both to within the few
    ranks the persons who joined or left move them (``quantile_scale``), and with it the
    newcomers' sum of squares from the group's n, mean and sd: under ``pc_adjusted`` (each group's
    map its own, which the other groups cannot give) a carrier 5 SD out among 25 newcomers to a group
    of 500 was read exactly in 25 of 40 simulations (a group without one read as holding one in 8),
    all left shown by ``moved_groups``. On a grid of half a standard error: 23 (6); of one: 23 (19,
    so the read tells nothing); of two: 17 (18). The grid costs the quantile a twelfth of its own
    sampling variance (a rounding's h^2 / 12), and a group of 100,000 keeps 0.004 SD; a reader who
    fits the map from the groups' moments (``moved_groups``' own test) is not affected."""
    from statistics import NormalDist

    return math.sqrt(level * (1.0 - level)) / (NormalDist().pdf(NormalDist().inv_cdf(level)) * math.sqrt(n))


def published_quantile(value: float, n: float, level: float) -> float:
    """``value`` (a group of ``n`` persons' ``level`` quantile) on its grid (``quantile_step``)."""
    step = quantile_step(n, level)
    return round(value / step) * step if math.isfinite(value) else value


def _on_grid(value: float, n: float, level: float) -> bool:
    step = quantile_step(n, level)
    return abs(value / step - round(value / step)) < 1e-6


def quantile_scale(n1: float, q1: dict[str, float], n2: float, s2: float,
                   q2: dict[str, float]) -> tuple[float, float]:
    """(A, w): the re-standardisation's a^2 of one group's persons read from its quantiles in two
    exports (``q1``, ``q2``: {``QUANTILE_LEVELS`` column: value}, the levels each shows; n1 and n2
    persons, sd s2 in the second), and A's relative sampling variance w; NaN, NaN with fewer than
    two levels in both.

    Why (privacy round 13, session 57): a quantile is one person's score, and the k = |n2 - n1|
    persons between two exports move a level-p quantile's rank only by how many of them fall below
    it less k p (binomial: variance k p (1 - p), covariance k p (1 - p') between levels p < p'), so
    the quantiles of the persons in both give their map z2 = a z1 + b to within those few ranks
    (each rank ~ s / (n phi(u_p)) SD of a normal group), whatever a carrier among the k does (a
    quantile does not see how far out a person is). Under ``pc_adjusted`` (the default) each group
    has a map of its own, which the refitted variance model also stretches by the carrier's
    excess, so the other groups' fit (``common_scale``) misses it while this one reads it: EAS 500
    + 25, 1 carrier at 5 SD, the carrier read exactly with the quantile map in 25 of 40 simulations,
    all left shown by ``moved_groups`` without this (benchmarks/RESULTS.md, session 57 privacy13).
    Fitted by generalised least squares of q2 on q1 with that covariance (plus a twelfth of a rank
    squared per level, the ranks' rounding, and a twelfth of the grid's step squared per export
    whose quantile is on its grid, ``published_quantile``): A = a^2, w = 4 var(a) / a^2."""
    levels = [c for c in QUANTILE_LEVELS if c in q1 and c in q2 and math.isfinite(q1[c]) and math.isfinite(q2[c])]
    if len(levels) < 2 or not (n1 >= 2 and n2 >= 2 and s2 > 0):
        return float("nan"), float("nan")
    from statistics import NormalDist

    import numpy as np

    k, large = abs(n2 - n1), max(n1, n2)
    p = np.array([QUANTILE_LEVELS[c] for c in levels])
    density = np.array([NormalDist().pdf(NormalDist().inv_cdf(v)) for v in p]) * large / s2  # persons per SD
    lo, hi = np.minimum.outer(p, p), np.maximum.outer(p, p)
    cov = (k * lo * (1.0 - hi) + (np.eye(len(p)) / 12.0 if k else 0.0)) / np.outer(density, density)
    grid = [sum(quantile_step(n, QUANTILE_LEVELS[c]) ** 2 / 12.0 for n, q in ((n1, q1), (n2, q2))
                if _on_grid(q[c], n, QUANTILE_LEVELS[c])) for c in levels]
    cov = cov + np.diag(grid)
    x = np.column_stack([[q1[c] for c in levels], np.ones(len(levels))])
    y = np.array([q2[c] for c in levels])
    if not cov.any():  # the same persons, not rounded: the map exactly
        a = float(np.polyfit(x[:, 0], y, 1)[0])
        return a * a, 0.0
    inv = np.linalg.pinv(cov)
    info = x.T @ inv @ x
    if np.linalg.matrix_rank(info) < 2:
        return float("nan"), float("nan")
    covb = np.linalg.inv(info)
    a = float((covb @ x.T @ inv @ y)[0])
    if not a > 0:
        return float("nan"), float("nan")
    return a * a, 4.0 * float(covb[0, 0]) / (a * a)


def scale_ratio(n1: float, s1: float, n2: float, s2: float) -> tuple[float, float, float]:
    """(A, v, D) of one group shown as n1 persons of sd s1 in an export and n2 of sd s2 in another,
    the smaller set's persons being in both and their scores mapped z2 = a z1 + b between the
    two standardisations. The centred sum of squares (n - 1) sd^2 of the larger set is the smaller
    set's, rescaled by a^2, plus the k = |n2 - n1| others' plus their between-means term, whose
    expectation for a normal group of variance sd1^2 is (k - 1 + n_small / n_large) sd1^2, so
    (n2 - 1) sd2^2 = A D sd1^2 with D = n2 - 2 + n1 / n2 (joined, n2 >= n1) or n2 - n2 / n1 (left)
    gives A, the group's estimate of a^2, with the relative sampling variance
    v = 2 (k' + (n_small / n_large)^2 + k'^2 / (n1 - 1)) / D^2, k' = max(k - 1, 0): the k others'
    sum of squares (chi-squared on k - 1), the between term (chi-squared on 1) and sd1^2 as the
    estimate of the k persons' variance (its relative variance 2 / (n1 - 1)): a comparison of two
    variances, F on (k - 1, n1 - 1) degrees of freedom; near 0 for the same persons re-standardised.
    The mean's drift b does not enter: a group's own mean shift takes it, at a cost of the one
    between term. NaN when either export shows fewer than 2 persons or no spread."""
    if not (n1 >= 2 and n2 >= 2 and s1 > 0 and s2 >= 0):
        return float("nan"), float("nan"), float("nan")
    small, large = min(n1, n2), max(n1, n2)
    d = n2 - 2 + n1 / n2 if n2 >= n1 else n2 - n2 / n1
    a = (n2 - 1) * s2 * s2 / (d * s1 * s1)
    k1 = max(large - small - 1, 0)
    v = 2.0 * (k1 + (small / large) ** 2 + k1 * k1 / (n1 - 1)) / (d * d)
    return a, v, d


def common_scale(ratios: list[tuple[float, float]]) -> tuple[float, float]:
    """(A, w): the re-standardisation's a^2 common to the groups of a dataset and score, fitted from
    the other groups' (A_h, v_h) (``scale_ratio``) by inverse-variance weights, A = sum(A_h / v_h) /
    sum(1 / v_h), and w = 1 / sum(1 / v_h), its relative sampling variance (the reader's fit: under
    ``overall`` standardisation every person in both exports shares one map z2 = a z1 + b). With no
    other group (1.0, 0.0): the persons in both taken to keep their scores (``moved_groups`` then
    reads the group against ``unfitted_scale``)."""
    ratios = usable_ratios(ratios)
    if not ratios:
        return 1.0, 0.0
    weight = sum(1.0 / v for _, v in ratios)
    return sum(a / v for a, v in ratios) / weight, 1.0 / weight


def usable_ratios(ratios: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (A, v) of ``ratios`` a fit can weigh: both finite, v > 0 (``scale_ratio`` gives NaN for a
    group of fewer than 2 persons or no spread)."""
    return [(a, v) for a, v in ratios if math.isfinite(a) and math.isfinite(v) and v > 0]


def unfitted_scale(hidden: list[tuple[float, float]]) -> tuple[float, float]:
    """(A, w) a group is read against when no other group both exports show remains to fit the
    re-standardisation from (``moved_groups``); ``hidden``: the (A_h, v_h) (``scale_ratio``) of the
    other groups both exports hold that this export hides by ``moved_groups`` or as the complement
    of a hidden group (``moment_complements``; not those another rule hides: a size under T, few
    values, a person far out).

    What a reader can read there (docs/privacy.md "Heavy-tailed scores", two exports of one
    group): with one group's n1, m1, s1 and n2, m2, s2 and the map z2 = a z1 + b of the persons in
    both unknown, the k = n2 - n1 newcomers' sum of squares about their mean is
    (n2 - 1) s2^2 - a^2 (n1 - 1) s1^2 - (n1 n2 / k) (m2 - a m1 - b)^2: b makes the last term
    anything from 0 up and a^2 the second anything, so the two exports alone determine nothing of
    the newcomers; a reader who knows a^2 to a relative error e reads their sum of squares to
    (n1 - 1) s1^2 e (beside its own sampling error sqrt(2 (k - 1)) s1^2). By arithmetic from what
    is published a^2 is known only where the two exports share one standardisation (a re-export of
    a release whose frame changed but not the persons standardised): a = 1, b = 0 exactly. So the
    group is read against the identity (1, 0: the rule before session 56) unless the hidden groups'
    fit (``common_scale``; the report holds their moments, the reader not) misses 1 by more than
    ``MAP_MOVED_STANDARD_ERRORS`` of its own error: then the map moved and no reader knows the
    identity, and the group is read against that fit (A, w), the map as well as the report can know
    it (a reader with a prior on the release's drift knows it no better). Before session 56 the
    identity was taken always: a 0.5% rescale flagged a group of 30,000 (+3,000) left alone beside
    a group of 100,000 (+10,000) hidden as the complement of a small one in 39 of 40 simulations,
    though nobody can read its 3,000 newcomers (``tests/test_moved3_s56.py``). No such group, or
    none the earlier export showed: the identity."""
    a, w = common_scale(hidden)
    if not usable_ratios(hidden) or abs(a - 1.0) <= MAP_MOVED_STANDARD_ERRORS * math.sqrt(w):
        return 1.0, 0.0
    return a, w


def _dist_key(dist: pd.DataFrame, i: Any) -> tuple[str, str, str]:
    """(dataset, ancestry, pgs_id) of row ``i`` of a pgs_distribution table: a ``prior_moments`` key."""
    return str(dist.at[i, "dataset"]), str(dist.at[i, "ancestry"]), str(dist.at[i, "pgs_id"])


def moved_groups(dist: pd.DataFrame, prior: PriorMoments | None, threshold: int,
                 hidden: list[bool] | None = None, quantiles: PriorQuantiles | None = None) -> pd.Series:
    """Rows of ``dist`` (pgs_distribution, before suppression) whose mean and sd, read with the same
    group's n, mean and sd in another export (``prior``, ``prior_moments``), count a person far out
    among those who joined or left the group in between.

    The attack (docs/privacy.md "Heavy-tailed scores", two exports of one group): with n1, m1, s1
    shown before and n2, m2, s2 now, the k = |n2 - n1| persons between them are a group of k whose
    own moments no other rule reads. Whoever is in both has their score mapped z2 = a z1 + b by the
    re-standardisation (each release standardises anew), so for joiners
    (k - 1) var = (n2 - 1) s2^2 - a^2 (n1 - 1) s1^2 - (n1 n2 / k) (m2 - a m1 - b)^2
    = (k - 1) r^2 + d^2 c (1 - c / k) + noise for c carriers d SD out (d and the rest's variance
    r^2 from the published weights). 25 newcomers to a group of 500 of 10,000 persons, 1 at 5 SD:
    read exactly in 45 of 60 simulations, 35 of them where the later export is flagged by no other
    rule (``tests/test_privacy11_s54.py``). a^2 matters, b hardly: a's error moves the sum of squares
    by (n2 - 2) s1^2 per unit of a^2, a drift that grows with the group while the newcomers' sampling
    error grows with k (a 0.5% rescale flagged every group of 100,000 + 10,000 when the rule took
    a = 1, b = 0: ``tests/test_moved_s55.py``); b enters through one between-means term, which the
    group's own mean absorbs at a cost of one chi-square degree of freedom (``scale_ratio``).
    Every person in both shares the map under ``overall`` standardisation, so the reader fits a^2
    from the other groups of the dataset and score that both exports show (``common_scale``).

    Rule, per (dataset, pgs_id) and earlier export: each group's A_g (its own a^2 estimate, of
    relative sampling variance v_g: ``scale_ratio``) against A and w (its relative variance) fitted
    from the other groups whose mean and sd both exports show (leave-one-out, ``common_scale``): not
    ``hidden``'s (positional: the rows this export hides by another rule, a size shown as a label,
    a few-valued score, ``outlying_groups``), nor the largest group hidden as their complement
    (``moment_complements``), nor a group this rule hid, nor its complement; a hidden group is not
    tested either (its moments are not published: nothing to read; a flag would only move the
    complement on). Before session 55 moved2 the fit took every row: a large hidden group of the
    same persons in both exports (its a^2 exact, so the fit's) with a scale of its own masked a
    carrier among another group's newcomers that a reader, fitting from the groups shown, read
    exactly (``tests/test_moved2_s55.py``); |A_g / A - 1| beyond
    ``MOVED_STANDARD_ERRORS`` x sqrt(v_g + w) (v_g: the sampling error of a normal group's sum of
    squares, as ``outlying_groups`` bounds one person's squared distance, with the between-means
    term and sd1^2 standing for the k persons' variance; w: the fitted drift's error carried to
    this group; either sign: a carrier who left reads as well) hides this export's mean and sd of
    the group (and, as their complement, the largest shown group's: ``moment_complements``); the
    farthest group over every earlier export first, then it and its complement left out of every
    fit for the others (a hidden group is in no reader's fit, and a carrier's group would pull the
    fit of the others). So does a change of
    1..``threshold`` - 1 persons (the audit hides such an n anyway). With no other group shown in
    both (a dataset of three groups once one is flagged and the largest hidden as its complement, or
    of two beside a group hidden by another rule) the group is read against ``unfitted_scale``: the
    identity (A = 1, w = 0) unless the fit of the other groups this rule or the complement hides
    shows the map moved (no reader then knows the map better; before session 56 the identity
    always, and a release's 0.5% rescale flagged the third group in 33 of 35 such simulations, with
    nothing to read). Why the carriers stay flagged: c carriers d SD out move
    A_g by d^2 c (1 - c / k) / D_g, against a bar of about 2 sqrt(2 k + D_g^2 w) / D_g; where a
    carrier can be read at all (k of 25-100, sqrt(2 k) under d^2) D_g^2 w is a few units beside a
    dataset's large groups and the bar is session 54's, while D_g^2 w is large only for a large
    group, where sqrt(2 k) already exceeds any carrier's d^2 (measured: docs/privacy.md). The
    group's earlier variance, not a robust scale of this release: a scale read in one release
    against sums of the other flagged 25 of the 69 groups toy-r1's export shows against toy-r2's,
    s1^2 none. A group of the same n in both (persons swapped, or the same persons re-standardised)
    is not read, but gives the fit A exactly. A drift that differs between the groups
    (``pc_adjusted``'s variance model refitted, beyond the fit's sampling error) flags them: the
    safe direction. What is computed is what the reader computes: the earlier export's published
    moments against this export's. All False without ``prior``.

    Also, per earlier export whose quantiles of the group ``quantiles`` holds (``prior_quantiles``),
    A_g against the group's own map read from its quantiles in both exports (``quantile_scale``:
    this export's quantiles where ``quantile_shown``), |A_g / A_q - 1| beyond
    ``MOVED_STANDARD_ERRORS`` x sqrt(v_g + w_q): a reader needs no other group for that map, and under
    ``pc_adjusted`` (each group its own map) it is the one that reads the carrier (session 57)."""
    out = pd.Series(False, index=dist.index, dtype=bool)
    need = ("n", "mean", "sd")
    if not prior or dist.empty or not all(c in dist.columns for c in need):
        return out
    before = pd.Series(False if hidden is None else list(hidden), index=dist.index, dtype=bool)
    num = {c: pd.to_numeric(dist[c], errors="coerce") for c in need}
    qnum = {c: pd.to_numeric(dist[c], errors="coerce") for c in QUANTILE_LEVELS if c in dist.columns}
    for _, idx in dist.groupby(["dataset", "pgs_id"], sort=False).groups.items():
        rows = [i for i in idx if not before[i] and all(math.isfinite(num[c][i]) for c in need)]
        entries = {i: prior.get(_dist_key(dist, i)) or [] for i in rows}
        exports: list[tuple[dict, dict]] = []  # per earlier export: ({row: scale_ratio}, {row: persons moved})
        for j in range(max((len(e) for e in entries.values()), default=0)):
            earlier = {i: e[j] for i, e in entries.items() if j < len(e)}
            pairs = {i: (b[0], b[2], num["n"][i], num["sd"][i]) for i, b in earlier.items() if b is not None}
            ratios = {i: scale_ratio(*p) for i, p in pairs.items()}
            moved = {i: abs(int(n2) - n1) for i, (n1, _, n2, _) in pairs.items()}
            for i, k in moved.items():
                if 0 < k < threshold or (k and not math.isfinite(ratios[i][0])):
                    out[i] = True
                    continue
                got = (quantiles or {}).get(_dist_key(dist, i)) or []
                q1 = got[j] if j < len(got) else None
                if k and q1:  # the group's own map from its quantiles in both exports
                    a_q, w_q = quantile_scale(pairs[i][0], q1, num["n"][i], num["sd"][i],
                                              {c: published_quantile(float(qnum[c][i]), num["n"][i], level)
                                               for c, level in QUANTILE_LEVELS.items()
                                               if c in qnum and quantile_shown(int(num["n"][i]), level, threshold)})
                    a_g, v_g, _ = ratios[i]
                    if math.isfinite(a_q) and abs(a_g / a_q - 1.0) > MOVED_STANDARD_ERRORS * math.sqrt(v_g + w_q):
                        out[i] = True
            exports.append((ratios, moved))
        while True:  # the farthest first: a flagged group is hidden, so no reader fits with it
            off = before[idx] | out[idx]
            off = off | moment_complements(dist.loc[idx], list(off))  # hidden as their complement
            gone = set(off[off].index)
            z: dict[Any, float] = {}
            for ratios, moved in exports:
                fit = {i: r for i, r in ratios.items() if i not in gone}
                for i, (a_g, v_g, _) in fit.items():
                    if moved[i]:
                        others = [r[:2] for h, r in fit.items() if h != i]
                        a, w = (common_scale(others) if usable_ratios(others) else
                                unfitted_scale([r[:2] for h, r in ratios.items() if h != i]))
                        z[i] = max(z.get(i, 0.0), abs(a_g / a - 1.0) / (v_g + w) ** 0.5 if a > 0 else math.inf)
            worst = max(z, key=lambda i: z[i], default=None)
            if worst is None or not z[worst] > MOVED_STANDARD_ERRORS:
                break
            out[worst] = True
    return out


def moment_complements(dist: pd.DataFrame, hidden: list[bool]) -> pd.Series:
    """Rows of ``dist`` (pgs_distribution: dataset, ancestry, pgs_id, n, mean, sd, ...) whose mean
    and sd are hidden with the groups whose size is hidden (``hidden``, positional): per dataset
    and score with a hidden group, its largest shown group. The scores are per SD over the
    dataset's persons (``cohort.frame.standardise_pgs``, ``overall``: mean 0, sample SD 1), so the
    groups' n x mean add up to 0 and their (n - 1) sd^2 + n mean^2 to N - 1: with every other
    group's n, mean and sd shown, a hidden group's n x mean is known, and Cauchy-Schwarz bounds its
    size from below (12 EAS persons 1.9 SD above the rest, 25 persons lacking the score so that
    the group sizes do not add up to the dataset: 10.1..19; ``tests/export_attacker.py``
    ``group_sizes_from_score_moments``). A mean left free leaves no equation; the largest group's,
    so that its n, fixed, cannot stand in for the hidden one either (hiding a group like the hidden
    one, n x mean and spread alike, would bound their sum, hence the hidden one, less the shown
    n). Its quantiles stay (their centre tells its mean to within far more than a small group's
    n x mean). Returns a boolean Series on ``dist``'s index."""
    hidden_s = pd.Series(hidden, index=dist.index, dtype=bool)
    out = pd.Series(False, index=dist.index, dtype=bool)
    for _, g in dist.groupby(["dataset", "pgs_id"], sort=False):
        shown = g[~hidden_s[g.index]]
        if hidden_s[g.index].any() and len(shown):
            out[pd.to_numeric(shown["n"]).idxmax()] = True
    return out


def union_moments(rows: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """(n, mean, sd) of the persons of several groups pooled, from each group's (n, mean, sd) (a group
    of one person has no sd: its spread 0)."""
    n = sum(r[0] for r in rows)
    total = sum(r[0] * r[1] for r in rows)
    squares = sum((r[0] - 1) * (r[2] if math.isfinite(r[2]) else 0.0) ** 2 + r[0] * r[1] ** 2 for r in rows)
    mean = total / n if n else float("nan")
    return n, mean, math.sqrt(max(squares - n * mean * mean, 0.0) / (n - 1)) if n > 1 else float("nan")


def reader_scale(pairs: list[tuple[float, float, float, float]]) -> tuple[float, float]:
    """(A, w) of the re-standardisation's a^2 as a reader fits it from groups shown in both exports
    (``pairs``: (n1, sd1, n2, sd2) each): a group of the same n in both, taken for the same persons,
    gives it exactly (A = (sd2 / sd1)^2, w = 0: the exports print the moments at full precision;
    ``scale_ratio``'s v of 2 / D^2 there is the between-means allowance of a group with movers, which
    such a group has not), the largest such group's; else ``common_scale`` of the groups'
    ``scale_ratio``. Used for the hidden groups pooled (``pooled_complements``), whose size makes a
    fit's error of 2 / D^2 of a 2,000-person group as large as a carrier among 25 newcomers."""
    same = sorted(((n2, (s2 / s1) ** 2) for n1, s1, n2, s2 in pairs
                   if int(n1) == int(n2) and n1 >= 2 and s1 > 0 and math.isfinite(s2)), reverse=True)
    if same:
        return same[0][1], 0.0
    ratios = [scale_ratio(*p)[:2] for p in pairs]
    return common_scale(ratios) if usable_ratios(ratios) else unfitted_scale([])


def pooled_complements(dist: pd.DataFrame, hidden: list[bool], prior: PriorMoments | None,
                       threshold: int) -> tuple[pd.Series, pd.Series]:
    """(rows of ``dist`` whose mean and sd are hidden as the complement of the ``hidden`` groups, rows
    whose every statistic is hidden): ``moment_complements``' largest shown group, then, while the
    hidden groups of a dataset and score pooled read as one group whose persons moved since an
    earlier export (``prior``), the next largest shown group too; with none left, every quantile of
    the dataset and score as well. ``dist``: pgs_distribution before suppression (the true moments);
    ``hidden``: positional, the groups whose mean and sd the other rules hide.

    Why (privacy round 12, session 56): under ``overall`` standardisation the groups' n x mean add
    up to 0 and their (n - 1) sd^2 + n mean^2 to N - 1 in every release, so the shown groups give
    the hidden groups' sums pooled; the complement leaves no equation for one export, but with an
    earlier export that showed the same groups, the pooled sums of those persons are the earlier
    ones mapped z2 = a z1 + b (a and b from any group shown in both), and what is left is the pooled
    hidden groups' movers: the two-exports attack of ``moved_groups`` on their union. The largest
    group as the complement protects only when its own persons moved enough: EAS 500 + 25 (1 carrier
    at 5 SD) flagged by ``moved_groups``, EUR 20,000 its complement, AFR 2,000 shown, both of the same
    persons in both exports: the carrier read exactly in 26 of 40 simulations (EUR + 40 newcomers:
    17, + 400: 3; ``tests/test_privacy12_s56.py``). So the union is tested as ``moved_groups`` tests a
    group (``scale_ratio`` against ``common_scale`` of the shown groups, ``unfitted_scale`` of the
    complements' own when none is shown; a change of 1..``threshold`` - 1 persons flagged) for each
    earlier export showing every one of its groups, and grown by the next largest shown group until
    it passes. Once every group is hidden the dataset's persons are the union (its mean 0 and sd 1
    are known, and the quantiles of a group of the same persons give a and b): the quantiles go too."""
    hidden_s = pd.Series(hidden, index=dist.index, dtype=bool)
    comp = moment_complements(dist, hidden)
    every = pd.Series(False, index=dist.index, dtype=bool)
    if not prior or not {"n", "mean", "sd"} <= set(dist.columns):
        return comp, every
    num = {c: pd.to_numeric(dist[c], errors="coerce") for c in ("n", "mean", "sd")}
    for _, idx in dist.groupby(["dataset", "pgs_id"], sort=False).groups.items():
        if not hidden_s[idx].any():
            continue
        entries = {i: prior.get((str(dist.at[i, "dataset"]), str(dist.at[i, "ancestry"]), str(dist.at[i, "pgs_id"])))
                   or [] for i in idx}
        while True:
            off = [i for i in idx if hidden_s[i] or comp[i]]
            shown = [i for i in idx if i not in off]
            now = union_moments([(float(num["n"][i]), float(num["mean"][i]), float(num["sd"][i])) for i in off])
            moved = False
            for j in range(max((len(e) for e in entries.values()), default=0)):
                before = [entries[i][j] if j < len(entries[i]) else None for i in off]
                if any(b is None for b in before) or not all(math.isfinite(v) for v in now):
                    continue  # an earlier export that does not show every hidden group: no pooled sums to map
                then = union_moments([(float(b[0]), b[1], b[2]) for b in before if b is not None])
                k = abs(int(round(now[0] - then[0])))
                if 0 < k < threshold:
                    moved = True
                    break
                a_h, v_h, _ = scale_ratio(then[0], then[2], now[0], now[2])
                pairs = [(float(e[0]), e[2], float(num["n"][i]), float(num["sd"][i]))
                         for i in shown if j < len(entries[i]) and (e := entries[i][j]) is not None]
                spare = [scale_ratio(e[0], e[2], num["n"][i], num["sd"][i])[:2]
                         for i in off if comp[i] and j < len(entries[i]) and (e := entries[i][j]) is not None]
                a, w = reader_scale(pairs) if pairs else unfitted_scale(spare)
                if math.isfinite(a_h) and a > 0 and abs(a_h / a - 1.0) > MOVED_STANDARD_ERRORS * math.sqrt(v_h + w):
                    moved = True
                    break
            if not moved:
                break
            if not shown:
                every[list(idx)] = True
                break
            comp[max(shown, key=lambda i: num["n"][i])] = True
    return comp, every


def quantile_shown(n: int, level: float, threshold: int) -> bool:
    """Whether the ``level`` quantile (0..1) of a group of ``n`` persons may be published: true
    when n x min(level, 1 - level) >= threshold + 1. Spark's ``percentile_approx`` returns the
    value of the person at rank ceil(n x level), so at least ``threshold`` persons then lie
    strictly below it and at least ``threshold`` strictly above: the value is not the edge of
    a small group (a dominance-style threshold rule for percentiles, as statistical offices
    apply to magnitude tables; the 5th percentile needs 420 persons, the median 42)."""
    return n * min(level, 1.0 - level) >= threshold + 1


def corrections_over_shown(tables: dict[str, pd.DataFrame], rc: ReleaseCounts) -> dict[str, pd.DataFrame]:
    """``tables`` (``hide_estimates_of_hidden_counts``' output) with ``p_bonferroni`` and
    ``q_fdr`` of each table in ``CORRECTION_FAMILIES`` recomputed within each family over the
    p-values the export shows (``models.multiple_testing.adjust_within_families``; a hidden or
    failed fit has no p and is not counted), and replication.tsv's ``p_adjusted_discovery``
    taken from the recomputed discovery fit (``rc.discovery_significance``). Computed over
    every fit, a shown q-value gave away the hidden fits' p-values: q = p x m / rank, so
    q / p of a shown fit tells its rank among all fits, hence how many hidden p-values lie
    below it (one hidden fit with p 0.001 under shown p 0.01 and 0.04: q 0.015 = 0.01 x 3/2),
    and p_bonferroni / p tells m, so whether a hidden fit failed (too few cases). A family
    without a hidden row is unchanged (the same function of the same p-values). Benjamini &
    Hochberg (1995) step-up within the family, as the models stage computes it.

    The replication rows stay those the models stage selected on the q over every fit (the
    study's answer; the full q is not published). Where the shown ``p_adjusted_discovery`` is
    not below ``rc.discovery_alpha`` (hidden p 0.001, shown 0.03 and 0.9: q 0.045 selected the
    row, the export shows 0.06) the row's note says so (``ReplicationNote``), appended to any
    note it has: before session 47 such a row read as a "significant" result that was not,
    silently. The note tells nothing the shown q and alpha do not."""
    out = dict(tables)
    for name, family in CORRECTION_FAMILIES.items():
        df = out.get(name)
        if df is not None and len(df) and {"p", "p_bonferroni", "q_fdr"} <= set(df.columns):
            out[name] = adjust_within_families(df, family)
    rep, logistic = out.get("replication"), out.get("logistic")
    if rep is not None and len(rep) and logistic is not None and rc.discovery_dataset is not None:
        disc = logistic[logistic["dataset"] == rc.discovery_dataset].set_index(["definition", "contrast", "pgs_id"])
        adjusted = disc[rc.discovery_significance]
        rep = rep.copy()
        rep["p_adjusted_discovery"] = [adjusted.get(k, float("nan")) for k in
                                       zip(rep["definition"], rep["contrast"], rep["pgs_id"])]
        if rc.discovery_alpha is not None:
            above = pd.to_numeric(rep["p_adjusted_discovery"], errors="coerce") >= rc.discovery_alpha
            note = rep["note"].fillna("").astype(str)
            joined = note.where(note == "", note + "; ") + str(ReplicationNote.SELECTED_OVER_EVERY_FIT)
            rep["note"] = note.where(~above, joined)
        out["replication"] = rep
    return out


def unnamed_small_ancestry_groups(dist: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """The suppressed pgs_distribution rows (``dataset, ancestry, pgs_id, n`` as a label, ...) with a
    group of fewer than T persons (n ``<T``) named only by a label of ``vocabulary.ANCESTRY_GROUPS`` (any case)
    or the stage's own "unknown" (no ancestry, ``report.stage.pgs_distribution``): a file of
    per-person labels (an ID as the label) would print them. The others of a (dataset, score) are
    one row, ``UNNAMED_ANCESTRY`` (their rows are alike: n ``<T``, every statistic hidden). README
    "Privacy"; session 50 privguard."""
    known = dist["ancestry"].astype(str).str.lower().isin(ANCESTRY_GROUPS | {"unknown"})  # any case: AFR, EUR
    unnamed = (dist["n"] == suppressed_label(threshold)) & ~known
    dist = dist.copy()
    dist.loc[unnamed, "ancestry"] = UNNAMED_ANCESTRY
    return dist.drop_duplicates(["dataset", "ancestry", "pgs_id"]).reset_index(drop=True)


def suppress_release(rc: ReleaseCounts, threshold: int) -> dict[str, pd.DataFrame]:
    """The export versions of the count-bearing tables (count columns as objects): cells of
    1..threshold-1 as "<threshold", further cells hidden by the audit as "suppressed",
    Kaplan-Meier curve sets the audit dropped left out (and the internal ``n_events_after``
    column removed), no estimate of a model whose counts are hidden nor of a derived row using
    one (``hide_estimates_of_hidden_counts``). Keys: cohort_flow, logistic, and cohort_counts /
    cox / pgs_distribution / km_curves / difference / replication / meta when given. Raises
    TrdSparkError if the audit cannot protect a cell."""
    values, published, relations, units, carried, carried_bounds = build_audit(rc)
    # What an export with the same counts hid is hidden again ("suppressed", or "<threshold"
    # for a small count: the audit labels those itself), read with its labels there.
    here = {k: label_bounds(suppressed_label(threshold) if is_small_count(values[k], threshold) else SECONDARY_LABEL,
                            threshold) for k in carried_bounds}
    audit = audit_with_fewer_hidden(values, published, relations, threshold, units=units,
                                    hidden={k: SECONDARY_LABEL for k, label in carried.items() if label not in (DROPPED, SHOWN)},
                                    hidden_bounds={k: _intersect(b, here[k]) for k, b in carried_bounds.items()},
                                    known={k for k in values if k[0] == "prior"} | {k for k, label in carried.items()
                                                                                   if label == SHOWN},
                                    signed={k for k in values if k[0] in (RELEASE_CHANGE_BETWEEN,
                                                                          RELEASE_CHANGE_IMPLICIT)},
                                    dropped={k for k, label in carried.items() if label == DROPPED},
                                    slack={k for k in values if k[0] == GATE_SLACK})
    hide = audit.hide

    def shown(key, v):
        if not _is_int(v):
            return v
        return hide.get(key, int(v))

    out: dict[str, pd.DataFrame] = {}
    flow = rc.cohort_flow.copy()
    flow["n"] = [shown(("flow", d, s), n) for d, s, n in zip(flow["definition"], flow["step"], flow["n"])]
    out["cohort_flow"] = flow
    if rc.cohort_counts is not None:
        cc = rc.cohort_counts.copy()
        cc["n"] = [shown(("status", *k), n) for k, n in
                   zip(zip(cc["dataset"], cc["definition"], cc["status"]), cc["n"])]
        out["cohort_counts"] = cc
    if rc.dataset_flow is not None:
        status = {} if rc.cohort_counts is None else {
            (d, f, st): int(n) for d, f, st, n in zip(rc.cohort_counts["dataset"], rc.cohort_counts["definition"],
                                                      rc.cohort_counts["status"], rc.cohort_counts["n"])}
        cells, removed_cells = dataset_flow_cells(rc.dataset_flow, status)
        dflow = rc.dataset_flow.copy()
        n_shown = [shown(c, n) for c, n in zip(cells, dflow["n"])]
        by_cell = dict(zip(cells, n_shown))
        removed_shown: list[object] = []
        for i, (c, r) in enumerate(zip(cells, removed_cells)):
            if c[0] == FRAME_CELL:  # the sum of its statuses when they are all shown, else hidden
                parts = [v for k, v in zip(cells, n_shown) if k[0] != FRAME_CELL and k[1:3] == c[1:3]]
                counts = [v for v in parts if isinstance(v, int)]  # shown() gives an int or a label
                frame_n = sum(counts) if parts and len(counts) == len(parts) else None
                before = by_cell.get(next(k for k in reversed(cells[:i]) if k[1] == c[1] and k[2] == ALL_DEFINITIONS))
                n_shown[i] = SECONDARY_LABEL if frame_n is None else frame_n
                removed_shown.append(before - frame_n if isinstance(before, int) and frame_n is not None
                                     else SECONDARY_LABEL)
            else:
                removed_shown.append(None if r is None else shown(r, values[r]))
        dflow["n"] = pd.Series(n_shown, index=dflow.index, dtype=object)
        dflow["removed"] = pd.Series(removed_shown, index=dflow.index, dtype=object)
        out["dataset_flow"] = dflow

    def model(df, table, total, part, contrast_col):
        df = df.copy()
        contrasts = df[contrast_col] if contrast_col else ["progression"] * len(df)
        t_new, p_new = [], []
        for ds, d, c, n, k in zip(df["dataset"], df["definition"], contrasts, df[total], df[part]):
            if not (_is_int(n) and _is_int(k)):
                t_new.append(n)
                p_new.append(k)
                continue
            t_new.append(shown((table, ds, d, c, total, int(n)), n))
            p_new.append(shown((table, ds, d, c, part, int(k)), k))
        df[total] = pd.Series(t_new, index=df.index, dtype=object)
        df[part] = pd.Series(p_new, index=df.index, dtype=object)
        return df

    out["logistic"] = model(rc.logistic, "logistic", "n", "n_cases", "contrast")
    if rc.cox is not None:
        out["cox"] = model(rc.cox, "cox", "n", "n_events", None)
    if rc.pgs_distribution is not None:
        carriers = carrier_count_scores(rc.pgs_distribution, threshold, rc.beyond_sd, rc.max_pgs_excess_kurtosis)
        few_valued = pd.Series([(str(ds), str(p)) in carriers for ds, p in
                                zip(rc.pgs_distribution["dataset"], rc.pgs_distribution["pgs_id"])],
                               index=rc.pgs_distribution.index, dtype=bool)
        dist = rc.pgs_distribution.drop(columns=list(INTERNAL_DIST_COLUMNS), errors="ignore")
        labels = [shown(("dist", ds, a, p), n) for ds, a, p, n in
                  zip(dist["dataset"], dist["ancestry"], dist["pgs_id"], dist["n"])]
        small = [not isinstance(v, int) for v in labels]
        outlying = outlying_groups(rc.pgs_distribution)
        # A group whose persons who joined or left since another export show a person far out (moved_groups)
        # is read as one whose own moments do (outlying_groups). Its fit of the re-standardisation is the
        # reader's: the groups whose mean and sd the rules above hide (and their complement) are not in it.
        outlying |= moved_groups(rc.pgs_distribution, rc.prior_moments, threshold,
                                 [a or b or c for a, b, c in zip(small, few_valued, outlying)], rc.prior_quantiles)
        stats = [c for c in dist.columns if c not in ("dataset", "ancestry", "pgs_id", "n")]
        moments = [c for c in ("mean", "sd") if c in dist.columns]
        # Quantiles of a group whose size is hidden are dropped too (few persons: close to
        # individual values).
        dist[stats] = dist[stats].astype(float)
        dist.loc[small, stats] = float("nan")
        # A score of few values: its groups' moments, and each of its quantiles (one of the few
        # values, the median z0 alone gives the carriers), count the persons at each value; so do
        # those of a score with fewer than ``threshold`` persons off a group's tie, or a tie of half
        # a group (tie_heavy_scores), and of a score with persons beyond BEYOND_SD (rc.beyond_sd).
        dist.loc[few_valued, stats] = float("nan")
        # A group whose mean and sd count a person far out (outlying_groups) shows neither, nor,
        # as for a hidden group, does the largest shown group of its dataset and score.
        dist.loc[outlying, moments] = float("nan")
        # With earlier exports, the complement grows until the hidden groups pooled are no group whose
        # movers a reader reads (pooled_complements); with every group hidden, the quantiles go too.
        complements, everything = pooled_complements(rc.pgs_distribution, [a or b for a, b in zip(small, outlying)],
                                                      rc.prior_moments, threshold)
        dist.loc[complements, moments] = float("nan")
        dist.loc[everything, stats] = float("nan")
        # A quantile is one person's score (percentile_approx returns a value of the group): the
        # 5th percentile of 25 persons was the second-lowest score. Shown only with at least
        # ``threshold`` persons strictly below and above it (``quantile_shown``).
        # Each on its grid of one standard error (``quantile_step``): two exports' quantiles of one
        # group give its persons' map, and with it the newcomers' sum of squares.
        for col, level in QUANTILE_LEVELS.items():
            if col in dist.columns:
                few = [not (isinstance(v, int) and quantile_shown(v, level, threshold)) for v in labels]
                dist.loc[pd.Series(few, index=dist.index, dtype=bool), col] = float("nan")
                dist[col] = [published_quantile(v, n, level) if isinstance(n, int) else v
                             for v, n in zip(dist[col], labels)]
        dist["n"] = pd.Series(labels, index=dist.index, dtype=object)
        out["pgs_distribution"] = unnamed_small_ancestry_groups(dist, threshold)
    if rc.km_curves is not None:
        km = rc.km_curves
        gone = [("km_curve_set", *k) in audit.dropped for k in zip(km["dataset"], km["definition"], km["pgs_id"])]
        out["km_curves"] = km[~pd.Series(gone, index=km.index, dtype=bool)].drop(
            columns="n_events_after").reset_index(drop=True)
    return corrections_over_shown(hide_estimates_of_hidden_counts(out, rc, threshold), rc)
