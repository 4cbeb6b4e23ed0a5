"""An outsider who reads an export and knows the study's structure (test helper).

Written independently of ``trd_spark.report.tables``: it parses the exported tables as text
and states the relations from the study design (status counts add up to the MDD total, which
is the same under every TRD definition; a model's n is the sum of its groups; the KM curves'
thirds add up to the MDD persons and their events to the TRD persons; ...), then asks two
questions per hidden cell:

- ``determined``: is the cell fixed exactly by the equations once the shown numbers are
  plugged in? (null space of the hidden part of the system, numpy SVD; no bounds);
- ``interval``: min and max of the cell over real non-negative solutions that respect
  every shown number and label ("<20" = 1..19, "suppressed" = at least 20), by linear
  programming (HiGHS interior point through highspy, one model per group of linked cells;
  a different method from the audit's primal simplex).
"""

from __future__ import annotations

import re
from itertools import combinations

import highspy
import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix


class Attacker:
    """Variables named by tuples; ``know`` adds a linear equation ``sum(coef * var) = rhs``."""

    def __init__(self, threshold: int = 20):
        self.threshold = threshold
        self.bounds: dict = {}
        self.equations: list[tuple[dict, float]] = []
        self._cache: dict = {}

    def cell(self, name, shown=None):
        """A variable; ``shown`` is its exported text (a number, "<T", "suppressed") or None."""
        if name in self.bounds and shown is None:
            return name
        t = self.threshold
        if shown is None:
            b = (0.0, None)
        elif isinstance(shown, str) and shown.startswith("<"):
            b = (1.0, float(int(shown[1:]) - 1))
        elif shown == "suppressed":
            b = (float(t), None)
        else:
            b = (float(shown), float(shown))
        self.bounds[name] = b
        self._cache.clear()
        return name

    def know(self, coefs: dict, rhs: float = 0.0) -> None:
        for v in coefs:
            self.cell(v)
        self.equations.append((coefs, rhs))
        self._cache.clear()

    def _system(self):
        if "system" not in self._cache:
            self._cache["system"] = self._build()
        return self._cache["system"]

    def _build(self):
        """Index the cells and split the equations into connected components (cells linked
        through shared equations). Both questions are exact per component: the solution set
        is the product of the components' solution sets, so a cell's null-space row and its
        range over the bounded solutions depend on its own component only, and a few small
        systems are far cheaper than one dense SVD / LP of the whole export (~3,000 cells)."""
        names = sorted(self.bounds, key=str)
        idx = {n: i for i, n in enumerate(names)}
        parent = list(range(len(names)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for coefs, _ in self.equations:
            first, *rest = (root(idx[v]) for v in coefs)
            for r in rest:
                parent[r] = first
        component = [root(i) for i in range(len(names))]
        rows: dict[int, list[int]] = {}
        for r, (coefs, _) in enumerate(self.equations):
            rows.setdefault(component[idx[next(iter(coefs))]], []).append(r)
        cells: dict[int, list[int]] = {}
        for i, c in enumerate(component):
            cells.setdefault(c, []).append(i)
        return names, idx, component, rows, cells

    def _component_system(self, c: int):
        """The equations of component ``c`` as (cell indexes, dense matrix, right-hand sides)."""
        key = ("component", c)
        if key not in self._cache:
            _, idx, _, rows, cells = self._system()
            members = cells[c]
            col = {i: j for j, i in enumerate(members)}
            eqs = rows.get(c, [])
            a = np.zeros((len(eqs), len(members)))
            b = np.zeros(len(eqs))
            for k, r in enumerate(eqs):
                coefs, rhs = self.equations[r]
                for v, coef in coefs.items():
                    a[k, col[idx[v]]] += coef
                b[k] = rhs
            self._cache[key] = (members, a, b)
        return self._cache[key]

    def determined(self, name) -> bool:
        lo, hi = self.bounds[name]
        if lo == hi:
            return True  # shown
        names, idx, component, _, _ = self._system()
        c = component[idx[name]]
        key = ("determined", c)
        if key not in self._cache:
            members, a, _ = self._component_system(c)
            unknown = [j for j, i in enumerate(members) if self.bounds[names[i]][0] != self.bounds[names[i]][1]]
            self._cache[key] = dict(zip((members[j] for j in unknown), _determined_columns(a[:, unknown]),
                                        strict=True))
        return self._cache[key][idx[name]]

    def interval(self, name) -> tuple[float, float]:
        lo, hi = self.bounds[name]
        if lo == hi:  # shown: its own value (the equations hold on the true values)
            return lo, hi
        names, idx, component, _, _ = self._system()
        members, a_dense, b = self._component_system(component[idx[name]])
        if not len(b):  # in no equation: its own bounds
            return lo, np.inf if hi is None else hi
        c = component[idx[name]]
        key = ("lp", c)
        if key not in self._cache:
            self._cache[key] = self._component_lp(members, a_dense, b)
        lp, col = self._cache[key]
        j = col[idx[name]]
        status = highspy.HighsModelStatus
        out = []
        for sign in (1.0, -1.0):
            lp.changeColCost(j, sign)
            try:
                lp.setOptionValue("solver", "ipm")
                lp.run()
                st = lp.getModelStatus()
                if st not in (status.kOptimal, status.kUnbounded):  # kUnboundedOrInfeasible too, as linprog did
                    # HiGHS's interior point reports some unbounded LPs, after its presolve, as a
                    # "Solve error" (the fully hidden baseline with mdd_other_with_data: the persons
                    # lacking a score unbounded above, as every "suppressed" count is); dual
                    # simplex on the same LP tells unbounded from failed.
                    lp.setOptionValue("solver", "simplex")
                    lp.setOptionValue("simplex_strategy", 1)  # dual
                    lp.run()
                    st = lp.getModelStatus()
                value = lp.getInfo().objective_function_value  # read before the cost is reset
            finally:
                lp.changeColCost(j, 0.0)
            if st == status.kUnbounded:
                out.append(np.inf)
                continue
            # the equations must hold on the true values
            assert st == status.kOptimal, lp.modelStatusToString(st)
            out.append(sign * value)
        return out[0], out[1]

    def _component_lp(self, members: list[int], a_dense: np.ndarray, b: np.ndarray):
        """One HiGHS model of a component's equations and its cells' bounds, kept for every cell
        asked of it, and the column of each cell (index -> column): only the objective changes
        from question to question. scipy's ``linprog`` rebuilt and re-validated the model and
        its options for every one of the ~1,600 LPs the toy exports' attacker test solves (~a
        third of their CPU); the optimum value is unique, so the intervals are the same (all
        1,600 of that test identical on session 33's toy releases, session 34)."""
        names = self._system()[0]
        lp = highspy.Highs()
        lp.setOptionValue("output_flag", False)  # before anything else: no banner on stdout
        inf = lp.getInfinity()
        lower = np.array([self.bounds[names[i]][0] for i in members], dtype=np.float64)
        upper = np.array([inf if self.bounds[names[i]][1] is None else self.bounds[names[i]][1] for i in members],
                         dtype=np.float64)
        lp.addVars(len(members), lower, upper)
        a = csr_matrix(a_dense)
        rhs = np.asarray(b, dtype=np.float64)
        lp.addRows(len(rhs), rhs, rhs, a.nnz, a.indptr.astype(np.int32), a.indices.astype(np.int32),
                   a.data.astype(np.float64))
        return lp, {i: j for j, i in enumerate(members)}


def _determined_columns(sub: np.ndarray) -> np.ndarray:
    """Per column of ``sub`` (the hidden cells' coefficients in their component's equations):
    True when every solution of ``sub @ x = 0`` has that entry 0 (the cell is fixed by the
    shown numbers), by the null space of ``sub`` (numpy SVD).

    Before the SVD, an exact reduction (integer coefficients, no rounding): an equation left
    with one hidden cell fixes it (0 in every null vector), so that column goes, which may
    leave another equation with one cell (repeated to the end); then equations with no cell
    left and repeated equations go (neither changes the null space). The null space of the
    rest, on the remaining columns, is the original's there. On the toy releases' exports this
    halves the largest system (4146 x 3087 -> 2017 x 1636 on toy-r1) and cut the SVDs' CPU
    from 74.7 to 19.6 s, with the same answer for each of the 13,710 hidden cells of both
    releases' exports and their fully hidden baselines (session 33)."""
    nonzero = sub != 0
    alive = np.ones(sub.shape[1], dtype=bool)
    fixed = np.zeros(sub.shape[1], dtype=bool)
    while alive.any():
        single = np.flatnonzero((nonzero & alive).sum(axis=1) == 1)
        if not len(single):
            break
        cols = np.unique(np.argmax(nonzero[single] & alive, axis=1))
        fixed[cols], alive[cols] = True, False
    rest = np.flatnonzero(alive)
    reduced = sub[:, rest]
    reduced = np.unique(reduced[(reduced != 0).any(axis=1)], axis=0)
    if not reduced.size:  # the columns left are in no equation: free
        return fixed
    # A tall system (more equations than unknowns, as the toy release's is) has all of its
    # null space in the thin SVD's vt; the full U (rows x rows) is never read and cost most of
    # the decomposition (3746 x 2907 on the toy: ~26 CPU-s).
    _, s, vt = np.linalg.svd(reduced, full_matrices=reduced.shape[0] < reduced.shape[1])
    rank = int((s > 1e-9 * max(s.max(initial=0), 1)).sum())
    null = vt[rank:].T  # rows: the columns left; columns span the null space
    fixed[rest] = np.all(np.abs(null) < 1e-9, axis=1) if null.size else True
    return fixed


# Which status groups a model contrast counts (study design; docs/phenotypes.md).
CONTRASTS = {
    "trd_vs_nonmdd": (("TRD",), ("TRD", "non_MDD")),
    "trmdd_vs_nonmdd": (("trMDD",), ("trMDD", "non_MDD")),
    "trd_vs_trmdd": (("TRD",), ("TRD", "trMDD")),
    "mdd_vs_nonmdd": (("TRD", "trMDD", "MDD_other"), ("TRD", "trMDD", "MDD_other", "non_MDD")),
}
MDD = ("TRD", "trMDD", "MDD_other")
STATUSES = (*MDD, "non_MDD")
FLOW_GROUPS = {"mdd_included": MDD, "TRD": ("TRD",), "trMDD": ("trMDD",), "non_MDD": ("non_MDD",),
               "MDD_other_no_adequate_trial": ("MDD_other",)}


def attack_release(export: dict, internal: dict, persons, primary: str, threshold: int = 20):
    """The outsider's system for one release. ``export``: exported tables as text (names as in
    export/: cohort_counts, results, cox, km_curves, pgs_distribution, cohort_flow);
    ``internal``: the same tables unsuppressed (logistic for results; km_curves with
    n_events_after) -- used only to decide which design facts hold (a model with complete
    data, a flow step equal to a status count) and to give the exact events of each shown KM
    step (a worst case: the survival drop reveals them approximately); ``persons``: the
    analysis frame (dataset, definition, status, ancestry). Returns (Attacker, targets):
    targets are the hidden small groups {variable: true value}: status counts, persons left
    out of a model, ancestry groups, KM events after a curve's end."""
    a = Attacker(threshold)
    targets: dict = {}
    true = persons.groupby(["dataset", "definition", "status"]).size().to_dict()
    datasets, definitions = sorted(persons.dataset.unique()), sorted(persons.definition.unique())

    def group(ds, definition, statuses) -> int:
        return sum(true.get((ds, definition, s), 0) for s in statuses)

    def st(ds, definition, s):
        return ("status", ds, definition, s)

    for r in export["cohort_counts"].itertuples():
        a.cell(st(r.dataset, r.definition, r.status), r.n)
    for ds in datasets:
        for definition in definitions:
            # Design: the MDD total and non-MDD do not depend on the TRD definition (checked
            # on the data, as is MDD_other being shared).
            for var, statuses in ((("mdd", ds), MDD), (("non", ds), ("non_MDD",)), (("other", ds), ("MDD_other",))):
                if group(ds, definition, statuses) == group(ds, definitions[0], statuses):
                    a.know({var: 1, **{st(ds, definition, s): -1 for s in statuses}})
    targets.update({st(*k): v for k, v in true.items() if 0 < v < threshold})

    def subset(cell, ds, definition, statuses, true_n, tag):
        """cell + missing = sum(statuses); missing = 0 when the data say so, else a target."""
        miss = ("missing", tag)
        a.know({cell: 1, miss: 1, **{st(ds, definition, s): -1 for s in statuses}})
        gap = group(ds, definition, statuses) - int(true_n)
        if gap == 0:
            a.know({miss: 1})
        elif 0 < gap < threshold:
            targets[miss] = gap

    lg = internal["results"].set_index(["dataset", "definition", "contrast", "pgs_id"]).sort_index()
    for r in export["results"].itertuples():
        cases, whole = CONTRASTS[r.contrast]
        key = (r.dataset, r.definition, r.contrast, r.pgs_id)
        if not str(r.n) or str(r.n) == "nan":
            continue
        subset(a.cell(("n",) + key, r.n), r.dataset, r.definition, whole, lg.loc[key, "n"], ("n",) + key)
        subset(a.cell(("n_cases",) + key, r.n_cases), r.dataset, r.definition, cases, lg.loc[key, "n_cases"],
               ("n_cases",) + key)
    same_persons(a, export["results"], lg)
    mdd_other_with_data(a, targets, export["results"], lg, true, threshold)
    if export.get("cox") is not None:
        cx = internal["cox"].set_index(["dataset", "definition", "pgs_id"])
        # A Cox model's n and events are the MDD and TRD persons with the PGS and covariates:
        # MDD vs non-MDD's and TRD vs non-MDD's cases, where the data agree.
        for r in export["cox"].itertuples():
            key = (r.dataset, r.definition, r.pgs_id)
            for col, contrast in (("cox_n", "mdd_vs_nonmdd"), ("cox_events", "trd_vs_nonmdd")):
                logistic = (r.dataset, r.definition, contrast, r.pgs_id)
                if str(r.n) in ("", "nan") or logistic not in lg.index:
                    continue
                if int(cx.loc[key, "n" if col == "cox_n" else "n_events"]) == int(lg.loc[logistic, "n_cases"]):
                    a.know({(col,) + key: 1, ("n_cases",) + logistic: -1})
        for r in export["cox"].itertuples():
            key = (r.dataset, r.definition, r.pgs_id)
            if not str(r.n) or str(r.n) == "nan":
                continue
            subset(a.cell(("cox_n",) + key, r.n), r.dataset, r.definition, MDD, cx.loc[key, "n"], ("cox_n",) + key)
            subset(a.cell(("cox_events",) + key, r.n_events), r.dataset, r.definition, ("TRD",),
                   cx.loc[key, "n_events"], ("cox_events",) + key)
    score_gaps(a, targets, export, lg, internal.get("cox"), threshold)
    if export.get("km_curves") is not None:
        km = internal["km_curves"].set_index(["dataset", "definition", "pgs_id", "tertile", "time_days"])
        for (ds, definition, pgs), curves in export["km_curves"].groupby(["dataset", "definition", "pgs_id"]):
            key = (ds, definition, pgs)
            persons_eq, events_eq = {("km_persons",) + key: -1}, {("km_events",) + key: -1}
            n_all = ev_all = 0
            by_day: dict[int, dict] = {}  # day after 0 -> {third's at-risk variable: 1}
            for k, g in curves.groupby("tertile"):
                g = g.sort_values("time_days", key=lambda c: c.astype(int))
                k, times = int(k), [int(t) for t in g.time_days]
                risk = [a.cell(("km_risk",) + key + (k, t), v) for t, v in zip(times, g.n_at_risk)]
                for t, r in zip(times, risk):
                    if t > 0:
                        by_day.setdefault(t, {})[r] = 1
                after = [int(km.loc[key + (k, t), "n_events_after"]) for t in times]
                n_all += int(km.loc[key + (k, times[0]), "n_at_risk"])
                ev_all += after[0]
                persons_eq[risk[0]] = 1
                for j in range(1, len(risk)):
                    step = ("km_step_events",) + key + (k, j)
                    a.know({step: 1}, after[j - 1] - after[j])
                    a.know({risk[j - 1]: 1, risk[j]: -1, step: -1, ("km_cens",) + key + (k, j): -1})
                    events_eq[step] = 1
                tail = ("km_tail_events",) + key + (k,)
                a.know({risk[-1]: 1, tail: -1, ("km_tail_cens",) + key + (k,): -1})
                events_eq[tail] = 1
                if 0 < after[-1] < threshold:
                    targets[tail] = after[-1]
            a.know(persons_eq)
            a.know(events_eq)
            # The persons of the curve set still at risk on a day every third shows (the same
            # group in another release's export, whatever its thirds' cut points).
            for t, thirds in by_day.items():
                if len(thirds) == curves.tertile.nunique():
                    a.know({("km_at_risk",) + key + (t,): -1, **thirds})
            subset(("km_persons",) + key, ds, definition, MDD, n_all, ("km_persons",) + key)
            subset(("km_events",) + key, ds, definition, ("TRD",), ev_all, ("km_events",) + key)
    same_groups_across_definitions(a, export, lg, internal.get("cox"), internal.get("km_curves"))
    if export.get("pgs_distribution") is not None:
        dist = export["pgs_distribution"].drop_duplicates(["dataset", "ancestry"])
        true_dist = internal["pgs_distribution"].drop_duplicates(["dataset", "ancestry"])
        for ds, g in dist.groupby("dataset"):
            cells = {a.cell(("anc", ds, r.ancestry), r.n): 1 for r in g.itertuples()}
            total = int(true_dist[true_dist.dataset == ds].n.sum())
            a.know({**cells, ("anc_missing", ds): 1, **{st(ds, primary, x): -1 for x in STATUSES}})
            everyone = group(ds, primary, STATUSES)
            if everyone == total:
                a.know({("anc_missing", ds): 1})
            for r in true_dist[true_dist.dataset == ds].itertuples():
                if 0 < r.n < threshold:
                    targets[("anc", ds, r.ancestry)] = int(r.n)
    flow_true = internal["cohort_flow"]
    for definition, g in export["cohort_flow"].groupby("definition"):
        tg = flow_true[flow_true.definition == definition].set_index("step")["n"]
        g = g.sort_values("step_order", key=lambda c: c.astype(int))
        s = {r.step: a.cell(("flow", definition, r.step), r.n) for r in g.itertuples()}
        for step, statuses in FLOW_GROUPS.items():
            if step not in s:
                continue
            for d in ([definition] if definition in definitions else definitions):
                if sum(group(ds, d, statuses) for ds in datasets) == int(tg[step]):
                    a.know({s[step]: 1, **{st(ds, d, x): -1 for ds in datasets for x in statuses}})
        if {"mdd_included", "TRD", "trMDD", "MDD_other_no_adequate_trial"} <= set(s):
            rest = ("flow_other_rest", definition)
            a.know({s["mdd_included"]: 1, s["TRD"]: -1, s["trMDD"]: -1, s["MDD_other_no_adequate_trial"]: -1,
                    rest: -1})
            gap = int(tg["mdd_included"] - tg["TRD"] - tg["trMDD"] - tg["MDD_other_no_adequate_trial"])
            if gap == 0:
                a.know({rest: 1})
        steps = list(g.step)
        for x, y in zip(steps, steps[1:]):  # an attrition table only loses persons
            if int(tg[x]) >= int(tg[y]):
                a.know({s[x]: 1, s[y]: -1, ("flow_drop", definition, x, y): -1})
                if 0 < int(tg[x]) - int(tg[y]) < threshold:
                    targets[("flow_drop", definition, x, y)] = int(tg[x]) - int(tg[y])
    return a, targets


def score_gaps(a: Attacker, targets: dict, export: dict, lg, cox, threshold: int) -> None:
    """The models of one dataset, definition and contrast under two scores count the same group
    less the persons lacking each score: their counts' difference is a group of persons (n 835
    with P1, 828 with P2: 7 lacking P2 only), a target when 1..threshold-1 (true values from
    ``lg`` / ``cox``, the internal tables)."""
    rows = [(("n", "n"), ("n_cases", "n_cases"))]
    tables = [(export["results"], lg.reset_index(), ["dataset", "definition", "contrast"], rows[0])]
    if export.get("cox") is not None and cox is not None:
        tables.append((export["cox"], cox, ["dataset", "definition"], (("cox_n", "n"), ("cox_events", "n_events"))))
    for shown, true, keys, columns in tables:
        truth = true.set_index([*keys, "pgs_id"])
        for group, g in shown.groupby(keys):
            group = group if isinstance(group, tuple) else (group,)
            for var, col in columns:
                cells = [((var, *group, p), int(truth.loc[(*group, p), col])) for p, n in zip(g.pgs_id, g.n)
                         if str(n) not in ("", "nan") and (var, *group, p) in a.bounds]
                # Largest first (stable: ties keep the table's order): the gaps of neighbours,
                # each >= 0, order every pair as all pairwise gaps would (transitivity), with
                # n - 1 equations instead of n(n-1)/2 (61 scores: 60, not 1,830); a pair further
                # apart gets its own gap only when it is a target.
                cells.sort(key=lambda c: -c[1])
                for i, j in combinations(range(len(cells)), 2):
                    (hi, v_hi), (lo, v_lo) = cells[i], cells[j]
                    small = 0 < v_hi - v_lo < threshold
                    if j == i + 1 or small:
                        gap = ("score_gap", hi, lo)
                        a.know({hi: 1, lo: -1, gap: -1})
                        if small:
                            targets[gap] = v_hi - v_lo


def same_persons(a: Attacker, results, lg) -> None:
    """Design facts across the logistic models of one dataset, definition and PGS (all fitted on
    the persons with the PGS and covariates): TRD vs non-MDD and TRD vs trMDD have the same
    cases; the three contrasts against non-MDD the same controls (n - n_cases); trMDD vs
    non-MDD's cases are TRD vs trMDD's controls; MDD vs non-MDD has the same n and cases under
    every definition. Each stated where the internal table ``lg`` (indexed by dataset,
    definition, contrast, pgs_id) agrees."""
    rows = {(r.dataset, r.definition, r.contrast, r.pgs_id) for r in results.itertuples()
            if str(r.n) not in ("", "nan")}

    def var(col, ds, d, c, p):
        return (col, ds, d, c, p)

    def true(ds, d, c, p, side):  # cases or controls with data
        n, k = int(lg.loc[(ds, d, c, p), "n"]), int(lg.loc[(ds, d, c, p), "n_cases"])
        return k if side == "cases" else n - k

    def side_vars(ds, d, c, p, side):
        return {var("n_cases", ds, d, c, p): 1} if side == "cases" else \
            {var("n", ds, d, c, p): 1, var("n_cases", ds, d, c, p): -1}

    groups = ((("trd_vs_nonmdd", "cases"), ("trd_vs_trmdd", "cases")),
              (("trd_vs_nonmdd", "controls"), ("trmdd_vs_nonmdd", "controls"), ("mdd_vs_nonmdd", "controls")),
              (("trmdd_vs_nonmdd", "cases"), ("trd_vs_trmdd", "controls")))
    for ds, d, p in sorted({(ds, d, p) for ds, d, _, p in rows}):
        for group in groups:
            have = [(c, side) for c, side in group if (ds, d, c, p) in rows]
            for (c1, s1), (c2, s2) in zip(have, have[1:]):
                if true(ds, d, c1, p, s1) == true(ds, d, c2, p, s2):
                    neg = {k: -v for k, v in side_vars(ds, d, c2, p, s2).items()}
                    a.know({**side_vars(ds, d, c1, p, s1), **neg})
    mdd = sorted(k for k in rows if k[2] == "mdd_vs_nonmdd")
    for x, y in zip(mdd, mdd[1:]):
        if (x[0], x[3]) == (y[0], y[3]):
            for col in ("n", "n_cases"):
                if lg.loc[x, col] == lg.loc[y, col]:
                    a.know({var(col, *x): 1, var(col, *y): -1})


def mdd_other_with_data(a: Attacker, targets: dict, results, lg, statuses: dict, threshold: int = 20) -> None:
    """MDD vs non-MDD's cases are TRD vs trMDD's n (the TRD and trMDD persons with the score and
    covariates) plus the MDD_other persons with data, who are at most the MDD_other persons:
    cases 425, n 330 and MDD_other 100 shown give the 5 MDD_other persons lacking the score.
    Per dataset, definition and score with both models shown, where the internal table ``lg``
    (indexed by dataset, definition, contrast, pgs_id) agrees; ``statuses``: (dataset,
    definition, status) -> true count. The lacking persons are a target when 1..threshold-1."""
    rows = {(r.dataset, r.definition, r.contrast, r.pgs_id) for r in results.itertuples()
            if str(r.n) not in ("", "nan")}
    for ds, d, c, p in sorted(rows):
        if c != "mdd_vs_nonmdd" or (ds, d, "trd_vs_trmdd", p) not in rows:
            continue
        with_data = int(lg.loc[(ds, d, c, p), "n_cases"]) - int(lg.loc[(ds, d, "trd_vs_trmdd", p), "n"])
        lacking = statuses.get((ds, d, "MDD_other"), 0) - with_data
        if with_data < 0 or lacking < 0:
            continue
        other, lack = ("mdd_other_with_data", ds, d, p), ("mdd_other_lacking", ds, d, p)
        a.know({("n_cases", ds, d, c, p): 1, ("n", ds, d, "trd_vs_trmdd", p): -1, other: -1})
        a.know({other: 1, lack: 1, ("status", ds, d, "MDD_other"): -1})
        if 0 < lacking < threshold:
            targets[lack] = lacking


def same_groups_across_definitions(a: Attacker, export: dict, lg, cox, km) -> None:
    """Counts of one dataset and PGS whose group no TRD definition changes, equal under every
    definition where the internal tables agree: TRD vs trMDD's n (the persons with an adequate
    trial and data), the MDD_other persons with data (``mdd_other_with_data``'s cells), a Cox
    model's n (MDD persons with data and follow-up) and a Kaplan-Meier curve set's persons.
    ``lg``: internal logistic table indexed by (dataset, definition, contrast, pgs_id); ``cox``,
    ``km``: internal tables (or None)."""
    groups: dict[tuple, list[tuple[tuple, int]]] = {}
    for r in export["results"].itertuples():
        key = (r.dataset, r.definition, r.contrast, r.pgs_id)
        if r.contrast == "trd_vs_trmdd" and str(r.n) not in ("", "nan"):
            groups.setdefault(("adequate", r.dataset, r.pgs_id), []).append((("n", *key), int(lg.loc[key, "n"])))
        other = ("mdd_other_with_data", r.dataset, r.definition, r.pgs_id)
        if r.contrast == "mdd_vs_nonmdd" and other in a.bounds:
            n = int(lg.loc[key, "n_cases"]) - int(lg.loc[(r.dataset, r.definition, "trd_vs_trmdd", r.pgs_id), "n"])
            groups.setdefault(("other", r.dataset, r.pgs_id), []).append((other, n))
    if export.get("cox") is not None and cox is not None:
        cx = cox.set_index(["dataset", "definition", "pgs_id"])
        for r in export["cox"].itertuples():
            if str(r.n) not in ("", "nan"):
                key = (r.dataset, r.definition, r.pgs_id)
                groups.setdefault(("cox", r.dataset, r.pgs_id), []).append((("cox_n", *key), int(cx.loc[key, "n"])))
    if export.get("km_curves") is not None and km is not None:
        first = km.assign(_t=km.time_days.astype(int)).sort_values("_t").groupby(
            ["dataset", "definition", "pgs_id", "tertile"]).head(1)
        for (ds, d, p), n in first.groupby(["dataset", "definition", "pgs_id"]).n_at_risk.sum().items():
            if ("km_persons", ds, d, p) in a.bounds:
                groups.setdefault(("km", ds, p), []).append((("km_persons", ds, d, p), int(n)))
    for cells in groups.values():
        for v in sorted({v for _, v in cells}):
            same = [x for x, vx in cells if vx == v]
            for y in same[1:]:
                a.know({same[0]: 1, y: -1})


def fully_hidden(export: dict, threshold: int = 20) -> dict:
    """The same exported tables with every non-zero count hidden ("<T" or "suppressed"): what
    the outsider learns from it is what the labels alone say (the baseline of the check)."""
    def label(v: str) -> str:
        if not v.isdigit() or int(v) == 0:
            return v
        return f"<{threshold}" if int(v) < threshold else "suppressed"

    out = {}
    for name, df in export.items():
        df = df.copy()
        for col in ("n", "n_cases", "n_events", "n_at_risk"):
            if col in df:
                df[col] = df[col].astype(str).map(label)
        out[name] = df
    return out


def cases_from_standard_errors(results, threshold: int = 20) -> dict:
    """The standard-error attack on ``results.tsv`` (exported text): the Fisher information of
    a logistic PGS effect, 1/se^2, is about n_cases x (1 - n_cases/n) x v, v the PGS variance
    left by the covariates (about 1 for a score per SD). v is calibrated per dataset and
    contrast on the rows whose n and n_cases are shown (median); a row whose n_cases is hidden
    but whose se is shown then gives n_cases ~ (1/se^2) / v (the small-group term n_cases/n
    left out: it only lowers the estimate by under 3% when n_cases < 20 <= n / 7).
    Returns {(dataset, definition, contrast, pgs_id): estimated n_cases} for hidden n_cases."""
    import pandas as pd

    df = results.copy()
    se = pd.to_numeric(df["se"], errors="coerce")
    n = pd.to_numeric(df["n"], errors="coerce")
    k = pd.to_numeric(df["n_cases"], errors="coerce")
    info = 1 / se**2
    shown = n.notna() & k.notna() & se.notna() & (k > 0)
    df["_v"] = info / (k * (1 - k / n))
    calib = df[shown].groupby(["dataset", "contrast"])["_v"].median()
    out = {}
    for i, r in df[k.isna() & se.notna()].iterrows():
        v = calib.get((r["dataset"], r["contrast"]))
        if v is not None and np.isfinite(v):
            out[(r["dataset"], r["definition"], r["contrast"], r["pgs_id"])] = float(info[i] / v)
    return out


def small_release_changes(attacker: Attacker, prior: dict, threshold: int = 20) -> dict:
    """The two-release attack: ``prior`` = {cell: n} of counts another release's export shows
    (``("status", ds, definition, status)``, ``("flow", definition, step)``, model counts as
    ``attacker_name`` reads them); ``attacker`` holds
    this release's export (``attack_release``). The change of a cell is its interval here minus
    the other release's number; a change pinned inside 1..threshold-1 (or -(threshold-1)..-1)
    more tightly than "<threshold" (width < threshold - 2) is a small group recovered: the
    persons who joined or left it. Returns {cell: (low, high) of the change}."""
    out = {}
    for cell, n in sorted(prior.items(), key=str):
        cell = attacker_name(cell)
        if cell not in attacker.bounds:
            continue
        lo, hi = attacker.interval(cell)
        change = (lo - n, hi - n)
        if _pinned_small(change, threshold):
            out[cell] = change
    return out


def attacker_name(cell: tuple) -> tuple:
    """A model count as ``report.tables.prior_counts`` names it, ("model", "logistic" | "cox",
    dataset, definition, contrast, pgs_id, column), as ``attack_release`` names it (("n" |
    "n_cases", dataset, definition, contrast, pgs_id); ("cox_n" | "cox_events", dataset,
    definition, pgs_id)); any other cell unchanged."""
    if not (isinstance(cell, tuple) and len(cell) == 7 and cell[0] == "model"):
        return cell
    _, table, ds, definition, contrast, pgs, col = cell
    if table == "cox":
        return ({"n": "cox_n", "n_events": "cox_events"}[col], ds, definition, pgs)
    return (col, ds, definition, contrast, pgs)


def _pinned_small(change: tuple[float, float], threshold: int) -> bool:
    """A change's range lies inside 1..threshold-1 persons (either sign) and is narrower than
    "<threshold" says (width < threshold - 2)."""
    return any(low >= 1 - 1e-6 and high <= threshold - 1 + 1e-6 and high - low < threshold - 2 - 1e-6
               for low, high in (change, (-change[1], -change[0])))


def release_changes(this: Attacker, other: Attacker, threshold: int = 20, cells: list | None = None) -> dict:
    """The two-release attack on every status and cohort-flow count the two exports share,
    shown or hidden on either side: the change of a cell lies in its interval here minus its
    interval there (the two exports' systems share no unknown, so this is the outsider's exact
    range of the difference). A change pinned inside 1..threshold-1 (or -(threshold-1)..-1)
    more tightly than "<threshold" (width < threshold - 2) is a small group recovered: "<20"
    bounded to 1..17 in one export against 20 shown in the next leaves 3..19 persons who
    joined. ``small_release_changes`` is the case of a count shown in the other export. Both
    signs are checked, so (a, b) finds what (b, a) does. ``cells``: only these (default: all
    shared). Returns {cell: (low, high) of the change}."""
    out = {}
    shared = {k for k in this.bounds if isinstance(k, tuple) and k and k[0] in ("status", "flow")} & set(other.bounds)
    for cell in sorted(shared if cells is None else shared & set(cells), key=str):
        lo_a, hi_a = this.interval(cell)
        lo_b, hi_b = other.interval(cell)
        change = (lo_a - hi_b, hi_a - lo_b)
        if _pinned_small(change, threshold):
            out[cell] = change
    return out


def km_censored_before_events(km, threshold: int = 20, tol: float = 1e-12) -> dict:
    """The product-limit attack on ``km_curves.tsv``: between two published points a and b of a
    curve the at-risk drop n_a - n_b is d events plus c censored; if the d events fell on one
    day after k of the c censored, S(b-)/S(a-) = (n_a - k - d) / (n_a - k). Every (d, k) with
    1 <= d <= n_a - n_b and 0 <= k <= n_a - n_b - d is tried against the published ratio (full
    precision); when exactly one fits, k (persons censored before the events) is read off.
    Exact: a ratio that is the life table's 1 - d / (n_a - c/2) for some split of the drop into
    d events and c censored (what the export publishes, ``models.km.life_table_on_points``) is a
    function of the published counts and tells no k: with c even it equals the product-limit
    form at k = c/2 (100 at risk, 20 events, 20 censored: 70/90 reads as k = 10), which flagged
    every toy export's points as small counts. Only a ratio no life table gives is read.
    Returns {(dataset, definition, pgs_id, tertile, time_days of b): k} for k in 1..threshold-1.
    """
    out = {}
    keys = ["dataset", "definition", "pgs_id", "tertile"]
    for key, g in km.groupby(keys, sort=True):
        g = g.sort_values("time_days", key=lambda c: c.astype(int))
        t = [int(x) for x in g["time_days"]]
        n = [int(x) for x in g["n_at_risk"]]
        s = [float(x) for x in g["survival"]]
        for j in range(1, len(t)):
            if s[j - 1] <= 0:
                continue
            ratio, drop = s[j] / s[j - 1], n[j - 1] - n[j]
            if any(abs(1 - d / (n[j - 1] - (drop - d) / 2) - ratio) < tol for d in range(0, drop + 1)):
                continue  # the life table of the published counts: no k in it
            fits = [(d, k) for d in range(1, drop + 1) for k in range(0, drop - d + 1)
                    if abs((n[j - 1] - k - d) / (n[j - 1] - k) - ratio) < tol]
            if len(fits) == 1 and 1 <= fits[0][1] < threshold:
                out[(*key, t[j])] = fits[0][1]
    return out


def km_left_before_days(km) -> dict:
    """What ``km_curves.tsv`` (exported text) tells of the persons who left a curve set's risk
    set: per curve set and day after 0 at which every third has a point, (TRD onsets, censored)
    before that day, summed over the thirds. Each step's events d are read from the published
    life-table ratio S_j / S_{j-1} = 1 - d / (n - c/2), c = at-risk drop - d (the one d in
    0..drop that gives it; a step that no d gives leaves the curve set out); the censored are
    the drop less d. Two releases' values of the same curve set and day differ by the persons
    who joined the group (the thirds are other persons, their sum the same group).
    Returns {(dataset, definition, pgs_id, day): (events, censored)}."""
    out = {}
    for key, curves in km.groupby(["dataset", "definition", "pgs_id"], sort=True):
        per_day: dict[int, list] = {}
        readable = True
        for _, g in curves.groupby("tertile"):
            g = g.sort_values("time_days", key=lambda c: c.astype(int))
            t = [int(x) for x in g["time_days"]]
            n = [int(x) for x in g["n_at_risk"]]
            s = [float(x) for x in g["survival"]]
            ev = cens = 0
            per_day.setdefault(t[0], []).append((0, 0))
            for j in range(1, len(t)):
                drop = n[j - 1] - n[j]
                fits = [d for d in range(drop + 1) if s[j - 1] > 0
                        and abs(1 - d / (n[j - 1] - (drop - d) / 2) - s[j] / s[j - 1]) < 1e-9]
                if len(fits) != 1:
                    readable = False
                    break
                ev, cens = ev + fits[0], cens + drop - fits[0]
                per_day.setdefault(t[j], []).append((ev, cens))
        thirds = curves["tertile"].nunique()
        if readable:
            out.update({(*key, t): (sum(e for e, _ in v), sum(c for _, c in v)) for t, v in per_day.items()
                        if t > 0 and len(v) == thirds})
    return out


def _km_step_events(t: list[int], n: list[int], s: list[float]) -> list[int] | None:
    """Each step's TRD events of one published third, read from the life-table ratio
    S_j / S_{j-1} = 1 - d / (n - c/2), c = at-risk drop - d (as ``km_left_before_days``);
    None when a step reads back to no single d."""
    out = []
    for j in range(1, len(t)):
        drop = n[j - 1] - n[j]
        fits = [d for d in range(drop + 1) if s[j - 1] > 0
                and abs(1 - d / (n[j - 1] - (drop - d) / 2) - s[j] / s[j - 1]) < 1e-9]
        if len(fits) != 1:
            return None
        out.append(fits[0])
    return out


def km_two_definitions_bounds(third_a, third_b, groups: list[tuple], tails: tuple[int, int] | None = None) -> dict:
    """The exact outsider of one PGS third's Kaplan-Meier points under two TRD definitions that
    are not nested (privacy round 16's simulation, README "Not covered").

    The third is the same persons under both (the MDD persons with the score and follow-up, cut
    at the same scores) and a person's censoring day is the same under both; only the TRD onset
    differs. ``third_a`` / ``third_b``: the exported points (time_days, n_at_risk, survival, as
    text or numbers) of the third under each definition. The union of both definitions' days
    cuts time into intervals k = 0..m-1 (the last open-ended); a person is a type (c, a, b):
    the interval of the censoring day, and of the onset under each definition (-1: none; an
    onset lies in an interval <= c's). Every published number is a linear equation over the
    counts of the types: at risk on a day (onset, or else censoring, on or after it) and the
    onsets between two points (read from the survival values, ``_km_step_events``);
    ``tails``: the onsets on or after each definition's last point, if the outsider is to know
    them too (the curve set's are the Cox model's events less the onsets read; per third only
    when the other thirds' are known: the outsider's best case).

    ``groups``: the groups to bound, each ``("onset" | "censored", "A" | "B", k1, k2)`` (the
    persons whose onset, or censoring without an onset, under that definition lies in
    intervals k1..k2), ``("joint", (kind_a, k_a), (kind_b, k_b))`` (one interval's class under
    each definition) or ``("onset", "A not B")`` / ``("onset", "B not A")`` (an onset under one
    only). Returns (the days cutting the intervals, {group: (least, largest)} over real counts
    >= 0, scipy ``linprog`` HiGHS dual simplex; an unbounded end is inf). Raises ValueError when
    a third's survival values do not read back to whole events."""
    sides = []
    for third in (third_a, third_b):
        g = third.sort_values("time_days", key=lambda c: c.astype(int))
        t = [int(x) for x in g["time_days"]]
        n = [int(x) for x in g["n_at_risk"]]
        d = _km_step_events(t, n, [float(x) for x in g["survival"]])
        if d is None:
            raise ValueError("km_two_definitions_bounds: a step's survival gives no whole number of events")
        sides.append((t, n, d))
    days = sorted({x for t, _, _ in sides for x in t})
    m = len(days)
    grid = np.array([(c, a, b) for c in range(m) for a in range(-1, c + 1) for b in range(-1, c + 1)])
    ci, onset = grid[:, 0], {"A": grid[:, 1], "B": grid[:, 2]}
    rows, rhs = [], []
    for name, (t, n, d) in zip("AB", sides):
        e = onset[name]
        leave = np.where(e >= 0, e, ci)  # the interval the person leaves the risk set in
        pos = [days.index(x) for x in t]
        for j, p in enumerate(pos):
            rows.append(leave >= p)
            rhs.append(n[j])
            if j:
                rows.append((e >= pos[j - 1]) & (e < p))
                rhs.append(d[j - 1])
        if tails is not None:
            rows.append(e >= pos[-1])
            rhs.append(tails["AB".index(name)])
    a_eq = csr_matrix(np.array(rows, dtype=float))
    b_eq = np.array(rhs, dtype=float)

    def member(group: tuple) -> np.ndarray:
        if group[0] == "joint":
            out = np.ones(len(grid), dtype=bool)
            for name, (kind, k) in zip("AB", group[1:]):
                e = onset[name]
                out &= (e == k) if kind == "onset" else ((e < 0) & (ci == k))
            return out
        if group[1] in ("A not B", "B not A"):
            first, other = ("A", "B") if group[1] == "A not B" else ("B", "A")
            return (onset[first] >= 0) & (onset[other] < 0)
        kind, name, k1, k2 = group
        e = onset[name]
        where = e if kind == "onset" else np.where(e < 0, ci, -1)
        return (where >= k1) & (where <= k2)

    bounds = {}
    for group in groups:
        w = member(group).astype(float)
        ends = []
        for sign in (1.0, -1.0):
            res = linprog(sign * w, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs-ds")
            assert res.status in (0, 3), res.message  # the equations hold on the true counts
            ends.append(np.inf if res.status == 3 else sign * res.fun)
        bounds[group] = (ends[0], ends[1])
    return days, bounds


def km_tail_onsets_from_cut_reasons(reason: str, km, events: int, threshold: int = 20) -> dict:
    """What report.html's reason for Kaplan-Meier thirds cut short tells of a curve set's TRD
    onsets after their last points. ``reason``: the text report.html gives the PGS (stage
    ``km_reasons``); ``km``: the curve set's exported points (``km_curves.tsv`` rows of one
    dataset, definition and PGS); ``events``: its Cox model's ``n_events`` (the same persons).

    A third said to end "(fewer than T events before fewer than T remain at risk after it)" had
    at most T-1 onsets after its last point before the risk set fell under T, and at most T-1
    after (fewer were left), so its onsets after the last point are at most 2(T-1); any other
    text bounds them by the persons at risk at the last point only. The curve set's onsets after
    the last points are its events less the onsets read from the survival values
    (``km_left_before_days``: every third must end on the same day); each third's are at least
    that less the others' upper bounds. Returns {tertile: (least, largest)} of the onsets between
    its last point and the day fewer than T remain at risk (largest T-1 when the reason says
    so), or {} when the thirds end on different days or a step does not read back."""
    last = {int(k): int(g["time_days"].astype(int).max()) for k, g in km.groupby("tertile")}
    days = set(last.values())
    if len(days) != 1:
        return {}
    day = days.pop()
    read = km_left_before_days(km.assign(dataset="d", definition="d", pgs_id="p"))
    if ("d", "d", "p", day) not in read:
        return {}
    tail = events - read[("d", "d", "p", day)][0]
    at_last = {int(k): int(g.loc[g["time_days"].astype(int) == day, "n_at_risk"].astype(int).iloc[0])
               for k, g in km.groupby("tertile")}
    said = f"fewer than {threshold} events before fewer than {threshold} remain at risk"
    capped = {int(k) for part in reason.split(";") if said in part
              for k in re.findall(r"\d+", part.split(" end")[0])}
    top = {k: 2 * (threshold - 1) if k in capped else n for k, n in at_last.items()}
    out = {}
    for k in at_last:
        least_tail = tail - sum(v for j, v in top.items() if j != k)
        window_top = threshold - 1 if k in capped else at_last[k]
        out[k] = (max(0, least_tail - (threshold - 1 if k in capped else at_last[k])), window_top)
    return out


def curve_set_persons_from_km_reason(reason: str, threshold: int = 20) -> float:
    """The most persons a PGS's Kaplan-Meier curve set (the Cox model's persons, the MDD persons
    with the score and follow-up) can have by report.html's reason for not showing it: a reason
    that says only that a third starts with fewer than T persons puts the thirds (equal sizes up
    to one) at 3 (T - 1) + 2 persons at most; any other text (or one that names another cause
    too) tells nothing (inf)."""
    said = f"a PGS third starts with fewer than {threshold} persons"
    return 3 * (threshold - 1) + 2 if said in reason and " or " not in reason else np.inf


def compare_leaks(cohort_sizes, flow_a, flow_b, threshold: int = 20) -> list[tuple]:
    """What compare-releases' ``cohort_sizes.tsv`` tells beyond the two exports' ``cohort_flow.tsv``
    (text tables as read from the files): per (definition, step), a count shown there as a number
    its export does not show (a label or another number there; hiding a shown one tells less), a change shown as a number next to a count either export hides (that
    count = the other one -/+ the change), a change of 1..threshold-1 shown as a number, and a
    change that is not the difference of the two counts shown. Returns [(definition, step,
    what)]; [] when the comparison shows nothing the exports do not."""
    out = []
    shown = {k: dict(zip(zip(f["definition"], f["step"]), f["n"].astype(str))) for k, f in (("a", flow_a), ("b", flow_b))}
    for r in cohort_sizes.astype(str).itertuples(index=False):
        key = (r.definition, r.step)
        for side, value in (("a", r.n_a), ("b", r.n_b)):
            export = shown[side].get(key, "0")  # a status with nobody has no row: 0
            if value.isdigit() and value != export:  # a label where the export shows a number tells less
                out.append((*key, f"n_{side} {value} where export {side} shows {export}"))
        if not re.fullmatch(r"-?\d+", r.change):
            continue
        if not (r.n_a.isdigit() and r.n_b.isdigit()):
            out.append((*key, f"change {r.change} next to a hidden count"))
        elif int(r.change) != int(r.n_b) - int(r.n_a):
            out.append((*key, f"change {r.change} is not {r.n_b} - {r.n_a}"))
        if 1 <= abs(int(r.change)) < threshold:
            out.append((*key, f"change {r.change} under {threshold}"))
    return out


# Table headers of report.html that hold person counts (report.html.COLUMN_LABELS and the
# genotyped -> analysed table's own headers), and the status columns of the status pivot.
HTML_COUNT_HEADERS = {"N", "Cases", "TRD events", "At risk", "persons", "removed by the step",
                      "TRD", "trMDD", "MDD_other", "non_MDD"}
_INT = re.compile(r"\d+|\d{1,3}(?:,\d{3})+")


def _html_tables(page: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """(caption, headers, rows of cell text) of every <table> of ``page``."""
    from html import unescape

    out = []
    for body in re.findall(r"<table.*?</table>", page, re.S):
        caption = unescape(re.sub(r"<[^>]+>", "", "".join(re.findall(r"<caption>(.*?)</caption>", body, re.S))))
        rows = [[unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)]
                for tr in re.findall(r"<tr.*?</tr>", body, re.S)]
        if rows:
            out.append((caption, rows[0], rows[1:]))
    return out


def _svg_texts(page: str, cls: str) -> list[tuple[str, list[str]]]:
    """(aria-label, texts in drawing order) of every inline <svg class=cls> of ``page``."""
    from html import unescape

    return [(unescape(label), [unescape(t).strip() for t in re.findall(r"<text[^>]*>(.*?)</text>", body, re.S)])
            for label, body in re.findall(rf'<svg class="{cls}"[^>]*aria-label="([^"]*)"(.*?)</svg>', page, re.S)]


def html_counts_beyond_exports(page: str, tsvs: dict, threshold: int = 20) -> list[tuple[str, str]]:
    """What ``report.html`` shows as a person count that the export's TSVs do not: every count
    in a table column of persons (``HTML_COUNT_HEADERS``), in the attrition diagram (``n =``,
    ``label: n``, ``excluded: n``), in a Kaplan-Meier plot's number-at-risk table and in a
    forest plot's N and cases. A count of 1..threshold-1 is a leak wherever it is; any other
    count must be one the TSVs show (a cohort-flow, status, model, PGS-distribution or
    Kaplan-Meier count), or in the diagram the difference of two cohort-flow counts shown
    (persons excluded between steps), or in the genotyped -> analysed table (report.html only,
    audited with the rest: its numbers are its own). ``tsvs``: {name: text table as read with
    dtype=str}. Returns [(where, value)]; [] when the page shows no count the TSVs do not."""
    def ints(df, cols) -> set[int]:
        return {int(v.replace(",", "")) for c in cols if c in df for v in df[c].astype(str) if _INT.fullmatch(v)}

    shown = set()
    for name, cols in (("cohort_flow", ["n"]), ("cohort_counts", ["n"]), ("results", ["n", "n_cases"]),
                       ("cox", ["n", "n_events"]), ("pgs_distribution", ["n"]), ("km_curves", ["n_at_risk"])):
        if tsvs.get(name) is not None:
            shown |= ints(tsvs[name], cols)
    flow = ints(tsvs["cohort_flow"], ["n"])
    between = {abs(a - b) for a in flow for b in flow}
    out: list[tuple[str, str]] = []

    def check(where: str, text: str, allowed: set[int] | None) -> None:
        """``allowed``: the counts it may be (None: any of threshold or more)."""
        if not _INT.fullmatch(text):
            return
        v = int(text.replace(",", ""))
        if 1 <= v < threshold or (v and allowed is not None and v not in allowed):
            out.append((where, text))

    for caption, head, rows in _html_tables(page):
        own = caption.startswith("Genotyped to analysed persons")
        for i, h in enumerate(head):
            if h in HTML_COUNT_HEADERS:
                for r in rows:
                    if i < len(r):
                        check(f"table '{caption[:40]}' {h}", r[i], None if own else shown)
    for _label, texts in _svg_texts(page, "attrition"):
        for t in texts:
            m = re.fullmatch(r"(?:n = |.*: )(\S+)", t)
            if m:
                check(f"attrition '{t[:40]}'", m.group(1), between if "excluded:" in t and t.startswith("excluded") else shown)
    for label, texts in _svg_texts(page, "km"):
        if "highest" in texts and "number at risk (at published points)" in texts:
            start = len(texts) - texts[::-1].index("highest")
            for t in texts[start:texts.index("number at risk (at published points)")]:
                check(f"km at risk '{label[:40]}'", t, shown)
    datasets = set(tsvs["results"]["dataset"]) if tsvs.get("results") is not None else set()
    for label, texts in _svg_texts(page, "forest"):
        for i, t in enumerate(texts[:-2]):
            if t in datasets:  # a dataset's row: its name, N, cases, OR (CI), p
                for j in (i + 1, i + 2):
                    check(f"forest '{label[:40]}' {t}", texts[j], shown)
    return out


def group_sizes_from_score_moments(dist, threshold: int = 20) -> dict:
    """The moments attack on ``pgs_distribution.tsv`` (exported text): the scores are per SD over
    the dataset's persons (``overall`` standardisation: mean 0, sample SD 1), so over the groups
    of a dataset and score sum(n x mean) = 0 and sum((n - 1) sd^2 + n mean^2) = N - 1, N = sum(n).
    With every other group's n, mean and sd shown, the hidden groups' sum(n x mean) is A = -(the
    shown groups') and their sum((n - 1) sd^2 + n mean^2) is R = N - 1 - (the shown groups'); by
    Cauchy-Schwarz R >= A^2 / n_hidden, so n_hidden >= A^2 / R (R = n_shown + n_hidden - 1 - B:
    solved as a quadratic in n_hidden). A single hidden group of "<T" then lies in
    [bound, T - 1]. Returns {(dataset, pgs_id, ancestry): (low, high)} where that interval is
    narrower than "<T" says (width < T - 2); a dataset and score with a shown group lacking its
    mean or sd gives no equation and is skipped."""
    import pandas as pd

    out = {}
    for (ds, pgs), g in dist.groupby(["dataset", "pgs_id"]):
        n_text = g["n"].astype(str)
        shown = n_text.str.fullmatch(r"\d+")
        hidden = g[~shown]
        if len(hidden) != 1 or not str(hidden["n"].iloc[0]).startswith("<"):
            continue
        n = pd.to_numeric(g.loc[shown, "n"])
        mean, sd = pd.to_numeric(g.loc[shown, "mean"], errors="coerce"), pd.to_numeric(g.loc[shown, "sd"], errors="coerce")
        if mean.isna().any() or sd.isna().any():
            continue
        a = -float((n * mean).sum())
        b = float(((n - 1) * sd**2 + n * mean**2).sum())
        # n_h^2 + (n_shown - 1 - b) n_h - a^2 >= 0
        p = float(n.sum()) - 1 - b
        low = (-p + np.sqrt(p * p + 4 * a * a)) / 2
        high = int(str(hidden["n"].iloc[0])[1:]) - 1
        low = max(1.0, low)
        if high - low < threshold - 2 - 1e-6:
            out[(ds, pgs, hidden["ancestry"].iloc[0])] = (low, float(high))
    return out


def newcomer_carriers_from_two_exports(before: tuple[float, float, float], after: tuple[float, float, float],
                                       d2: float, r2: float, threshold: int = 20,
                                       drift: tuple[float, float] = (1.0, 0.0)) -> int | None:
    """The two-releases moments attack (session 53 privacy10; docs/privacy.md "Heavy-tailed scores",
    two exports of one group): one group's (n, mean, sd) as two exports publish them, ``before`` (n1 persons) and
    ``after`` (n2), in SD units of each release's standardisation. Whoever is in both is taken to keep
    their score (the re-standardisation's drift ignored), so the k = n2 - n1 newcomers' sum is
    S = n2 m2 - n1 m1 and their sum of squares Q = (n2 - 1) sd2^2 + n2 m2^2 - (n1 - 1) sd1^2 - n1 m1^2:
    a group of k whose own moments no rule reads. Of c carriers d SD out (d2 = d^2 and r2, the rest's
    variance, from the published weights and a public allele frequency), (k - 1) var = Q - S^2 / k =
    (k - 1) r2 + d2 c (1 - c / k) + noise: the c of 0..``threshold`` - 1 (c < k / 2) that fits best,
    as ``carriers_from_group_moments`` reads one group. None when the group did not grow by 2 or
    more, or a moment is not shown (blank). ``drift`` (a, b): the persons in both mapped
    z2 = a z1 + b by the re-standardisation (``drift_from_other_groups``; default: kept)."""
    (n1, m1, s1), (n2, m2, s2) = before, after
    if any(not np.isfinite(v) for v in (m1, s1, m2, s2)):
        return None
    k = int(n2) - int(n1)
    if k < 2:
        return None
    a, b = drift
    s = n2 * m2 - n1 * (a * m1 + b)
    q = (n2 - 1) * s2 ** 2 + n2 * m2 ** 2 - a * a * ((n1 - 1) * s1 ** 2 + n1 * m1 ** 2) - 2 * a * b * n1 * m1 - b * b * n1
    spread = q - s * s / k - (k - 1) * r2
    cs = [c for c in range(threshold) if 2 * c < k]
    return min(cs, key=lambda c: abs(spread - d2 * c * (1 - c / k)))


def drift_from_other_groups(before: dict, after: dict, target) -> tuple[float, float]:
    """(a, b): the re-standardisation's map z2 = a z1 + b of the persons in both exports, as a reader
    fits it from the groups other than ``target`` that both exports show (``before`` / ``after``:
    {group: (n, mean, sd)}): a^2 by ``tables.common_scale`` over the groups' ``tables.scale_ratio``
    (a group of the same persons in both gives it exactly), b as the mean of m2 - a m1 weighted by
    n2^2 / k (the k persons between move the group's mean by k / n2 of theirs; the same persons: exact).
    Under ``overall`` standardisation every person in both shares the map."""
    from trd_spark.report import tables

    others = [g for g in before if g != target and g in after]
    ratios = [tables.scale_ratio(before[g][0], before[g][2], after[g][0], after[g][2])[:2] for g in others]
    a2, _ = tables.common_scale(ratios)
    a = float(np.sqrt(a2))
    w = np.array([after[g][0] ** 2 / max(abs(after[g][0] - before[g][0]), 1e-6) for g in others])
    if not len(w):
        return a, 0.0
    bs = np.array([after[g][1] - a * before[g][1] for g in others])
    return a, float((w * bs).sum() / w.sum())


def newcomer_carriers_behind_complements(before: dict, after: dict, sizes: dict, target, d2: float, r2: float,
                                         threshold: int = 20) -> int | None:
    """The two-exports attack on a group whose mean and sd the later export hides (privacy round 12,
    session 56; ``tables.pooled_complements``): under ``overall`` standardisation the groups' n x mean
    add up to 0 and their (n - 1) sd^2 + n mean^2 to N - 1, so the groups the later export shows
    (``after``: {group: (n, mean, sd)}; ``sizes``: every group's n it shows) give the hidden ones'
    sums pooled. Every hidden group but ``target`` is taken from the earlier export (``before``,
    every group) mapped z2 = a z1 + b (``drift_from_other_groups``: a group of the same persons in
    both gives the map exactly), its persons between the two drawn like its earlier ones (their
    expected sums); what is left is ``target``'s sums, read as ``newcomer_carriers_from_two_exports``
    reads a shown group. None when no group both exports show is left, a size is a label, or
    ``target`` is shown (read it directly)."""
    if target in after or target not in before or not all(isinstance(n, (int, float)) for n in sizes.values()):
        return None
    if not [g for g in after if g in before]:
        return None
    a, b = drift_from_other_groups(before, after, target)
    total = squares = 0.0
    for g, n in sizes.items():
        if g == target:
            continue
        if g in after:
            _, m, s = after[g]
        elif g in before:  # hidden: its earlier persons mapped, its movers like them
            m, s = a * before[g][1] + b, a * before[g][2]
        else:
            return None
        total += n * m
        squares += (n - 1) * s * s + n * m * m
    n_t = sizes[target]
    mean = -total / n_t
    var = ((sum(sizes.values()) - 1) - squares - n_t * mean * mean) / (n_t - 1)
    if var <= 0:
        return None
    return newcomer_carriers_from_two_exports(before[target], (n_t, mean, float(np.sqrt(var))), d2, r2,
                                              threshold, drift=(a, b))


def map_from_quantiles(q1: dict, q2: dict) -> tuple[float, float] | None:
    """(a, b): one group's map z2 = a z1 + b between two exports as a reader fits it from the group's
    own quantiles (privacy round 13, session 57): ``q1`` / ``q2`` {level column: value} as each export
    shows them (blank: not shown); least squares of q2 on q1 over the levels both show. A quantile is
    one person's score, and the persons who joined in between move its rank by a few places only, so
    this needs no other group: under ``pc_adjusted`` standardisation each group has a map of its own
    (the variance model refitted near its PCs) that no other group gives. None with fewer than two
    levels in both."""
    levels = [c for c in q1 if c in q2 and np.isfinite(q1[c]) and np.isfinite(q2[c])]
    if len(levels) < 2:
        return None
    x, y = np.array([q1[c] for c in levels]), np.array([q2[c] for c in levels])
    if np.ptp(x) == 0:
        return None
    a, b = np.polyfit(x, y, 1)
    return float(a), float(b)


def newcomer_carriers_from_quantile_map(before: dict, after: dict, d2: float, r2: float,
                                        threshold: int = 20) -> int | None:
    """``newcomer_carriers_from_two_exports`` with the map from the group's own quantiles
    (``map_from_quantiles``): ``before`` / ``after`` one group's exported row as {column: value}
    (n, mean, sd and the quantile columns; a hidden value NaN). None when a moment or the map is not
    shown."""
    levels = ("p05", "p25", "p50", "p75", "p95")
    drift = map_from_quantiles({c: float(before.get(c, np.nan)) for c in levels},
                               {c: float(after.get(c, np.nan)) for c in levels})
    if drift is None:
        return None
    return newcomer_carriers_from_two_exports(*(tuple(float(r[c]) for c in ("n", "mean", "sd"))
                                                for r in (before, after)), d2, r2, threshold, drift=drift)
