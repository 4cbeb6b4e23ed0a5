"""Export tables with small-count suppression audited across tables (pure pandas functions).

Every participant count that leaves the cluster goes through ``suppress_release``: counts
1..threshold-1 become "<threshold" and the linear audit in ``suppression.audit_suppression``
hides further cells ("suppressed") until none of them is recoverable from totals,
complements, consecutive cohort-flow steps or the same groups counted in another table.
Relations between tables are added only where they hold exactly on the data (e.g. a model's
n equals TRD + non-MDD in cohort_counts), i.e. the ones an outsider could exploit.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import pandas as pd

from trd_spark.report.suppression import audit_suppression, chain_relations

# Which statuses make a contrast's cases and its whole model sample.
CONTRAST_GROUPS = {
    "trd_vs_nonmdd": (("TRD",), ("TRD", "non_MDD")),
    "trmdd_vs_nonmdd": (("trMDD",), ("trMDD", "non_MDD")),
    "trd_vs_trmdd": (("TRD",), ("TRD", "trMDD")),
    "mdd_vs_nonmdd": (("TRD", "trMDD", "MDD_other"), ("TRD", "trMDD", "MDD_other", "non_MDD")),
}
MDD_STATUSES = ("TRD", "trMDD", "MDD_other")


@dataclass
class ReleaseCounts:
    """The count-bearing tables of one release (pandas, unsuppressed, internal)."""

    cohort_flow: pd.DataFrame  # definition, step_order, step, n
    cohort_counts: pd.DataFrame | None  # dataset, definition, status, n
    logistic: pd.DataFrame  # ... n, n_cases
    cox: pd.DataFrame | None  # ... n, n_events
    pgs_distribution: pd.DataFrame | None  # dataset, ancestry, pgs_id, n, quantiles
    primary_definition: str


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


def build_audit(rc: ReleaseCounts) -> tuple[dict, set, list[dict]]:
    """(cell values, published cells, relations) for every participant count of a release."""
    values: dict = {}
    published: set = set()
    relations: list[dict] = []

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

    status: dict = {}
    if rc.cohort_counts is not None:
        for r in rc.cohort_counts.itertuples(index=False):
            key = ("status", r.dataset, r.definition, r.status)
            pub(key, r.n)
            status[(r.dataset, r.definition, r.status)] = int(r.n)

    def link(cell, parts: tuple, ds, definition):
        """Add ``cell = sum(status parts)`` when every part is known and the sum matches."""
        keys = [(ds, definition, s) for s in parts]
        if all(k in status for k in keys) and sum(status[k] for k in keys) == values[cell]:
            rel = {cell: 1}
            for k in keys:
                rel[("status", *k)] = rel.get(("status", *k), 0) - 1
            relations.append(rel)

    def model_cells(table, df, total, part, group_of):
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

    model_cells("logistic", rc.logistic, "n", "n_cases", lambda c: CONTRAST_GROUPS.get(c, ((), ())))
    if rc.cox is not None and len(rc.cox):
        cox = rc.cox.assign(contrast="progression")
        model_cells("cox", cox, "n", "n_events", lambda c: (("TRD",), MDD_STATUSES))

    # The same group counted under several definitions (non-MDD controls do not depend on the
    # TRD definition; the MDD steps are shared): equal counts of the same status or step are
    # linked, so hiding one copy while another is shown protects nothing.
    families: dict = {}
    for key in list(published):
        if key[0] == "status":
            families.setdefault(("status", key[1], key[3], values[key]), []).append(key)
        elif key[0] == "flow":
            families.setdefault(("flow", key[2], values[key]), []).append(key)
    for same in families.values():
        same = sorted(same, key=str)
        relations += [{same[0]: 1, other: -1} for other in same[1:]]

    if rc.pgs_distribution is not None and len(rc.pgs_distribution):
        groups = rc.pgs_distribution.drop_duplicates(["dataset", "ancestry"])
        for ds, grp in groups.groupby("dataset", sort=True):
            total = ("dist_total", ds)
            values[total] = int(grp["n"].sum())
            rel = {total: -1}
            for r in grp.itertuples(index=False):
                key = ("dist", ds, r.ancestry)
                pub(key, r.n)
                rel[key] = 1
            relations.append(rel)
            # The genotyped persons of a dataset are its statuses under the primary definition.
            everyone = ("TRD", "trMDD", "MDD_other", "non_MDD")
            link(total, everyone, ds, rc.primary_definition)
    return values, published, relations


def suppress_release(rc: ReleaseCounts, threshold: int) -> dict[str, pd.DataFrame]:
    """The export versions of the count-bearing tables (count columns as objects)."""
    values, published, relations = build_audit(rc)
    hide = audit_suppression(values, published, relations, threshold)

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
        dist = rc.pgs_distribution.copy()
        labels = [shown(("dist", ds, a), n) for ds, a, n in zip(dist["dataset"], dist["ancestry"], dist["n"])]
        small = [not isinstance(v, int) for v in labels]
        stats = [c for c in dist.columns if c not in ("dataset", "ancestry", "pgs_id", "n")]
        # Quantiles of a group whose size is hidden are dropped too (few persons: close to
        # individual values).
        dist[stats] = dist[stats].astype(float)
        dist.loc[small, stats] = float("nan")
        dist["n"] = pd.Series(labels, index=dist.index, dtype=object)
        out["pgs_distribution"] = dist
    return out


def km_for_export(km: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Kaplan-Meier points with at least ``threshold`` persons at risk (the curve is cut where
    fewer remain, as for published KM plots under small-cell rules)."""
    return km[km["n_at_risk"] >= threshold].reset_index(drop=True)
