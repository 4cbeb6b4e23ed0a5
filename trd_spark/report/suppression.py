"""Small-cell suppression (AoU dissemination policy): counts 1..threshold-1 shown as "<threshold".

Zero is allowed to leave the workbench, as are counts >= threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix, hstack, vstack

from trd_spark.errors import TrdSparkError
from trd_spark.logs import is_small_count
from trd_spark.logs import suppressed_label as suppressed_label  # re-exported: the report's callers take it here


def suppress_count(value: Any, threshold: int = 20) -> Any:
    """One count (a frame cell: int, float, None or an already suppressed str): 1..threshold-1
    -> "<threshold"; 0, >= threshold as int; missing and text unchanged."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return value
    if isinstance(value, str):
        return value
    return suppressed_label(threshold) if is_small_count(value, threshold) else int(value)


def suppress_small_counts(df: pd.DataFrame, count_columns: list[str], threshold: int = 20) -> pd.DataFrame:
    """A copy of ``df`` where each of ``count_columns`` has 1..threshold-1 replaced by "<threshold".

    The columns become object dtype (ints and strings). Missing values stay missing.
    """
    out = df.copy()
    for col in count_columns:
        out[col] = out[col].astype(object).map(lambda v: suppress_count(v, threshold))
    return out


# --------------------------------------------------------------------------------------------
# Secondary suppression: an LP audit of everything published (cell suppression as in tau-Argus)
# --------------------------------------------------------------------------------------------
# Every published count and every unpublished group an outsider could reason about (controls =
# n - n_cases, persons excluded between two cohort-flow steps, an MDD total shared by several
# TRD definitions, Kaplan-Meier events after the last shown time, ...) is a *cell*; exact linear
# relations ``sum(coef * cell) = 0`` link them. The attacker knows every relation and every shown
# number, that a "<T" cell lies in [1, T-1], that a "suppressed" cell is >= T (secondary
# suppression only hides cells of at least T) and that every cell is >= 0. A sensitive cell
# (true value 1..T-1, shown or not) is *protected* when, over all real non-negative solutions
# of that system, max - min >= T - 2: as wide as the interval [1, T-1] the "<T" label gives away
# anyway (for a "<T" cell: the attacker learns nothing beyond the label; in particular it is
# never determined exactly) -- or, where the labels alone already say more (three "<T" parts
# of a total: the total is >= 3), as wide as it would be with every non-zero count hidden.
# Min and max come from two linear programmes per cell (HiGHS through highspy). An unprotected
# cell gets the classic protection LP of cell suppression (Fischetti & Salazar, as in
# tau-Argus's optimal method): find the cheapest deviation of the shown counts (each shown
# cell of at least T may move, staying >= T; zeros stay) that lets the cell reach the low and
# the high end of its required interval; every cell that had to move is hidden. Both
# alternative tables then remain consistent with the export, so the cell is protected; the
# cost (deviation x weight, weight growing slowly with the count) prefers few and small cells.
# Hiding only relaxes the system, so protected cells stay protected. The integer restriction
# is relaxed (the real interval contains the integer one).

SECONDARY_LABEL = "suppressed"


def _describe(cell) -> str:
    """A cell's table and group for an error message, without its count."""
    return "/".join(str(x) for x in (cell[:4] if isinstance(cell, tuple) else (cell,)))

_EPS = 1e-6
# Weight of a change of a cell hidden anyway (for another sensitive cell's other end, or by an
# earlier pass): almost nothing, so the protection LP reuses it before hiding another.
_PREFERRED_COST = 1e-3


@dataclass
class AuditResult:
    """Outcome of ``audit_suppression``: ``hide`` maps a published cell to its label ("<T" or
    "suppressed"), ``dropped`` lists units removed whole (e.g. a Kaplan-Meier curve set), and
    ``intervals`` holds each sensitive cell's final (min, max) for an outsider;
    ``pinned_by_known`` the sensitive cells left narrow because ``known`` cells alone pin them
    (another export's counts: no label here can hide them)."""

    hide: dict
    dropped: set
    intervals: dict
    pinned_by_known: set = field(default_factory=set)
    # Each cell the audit hid (or member of a unit it dropped) -> the sensitive cells hidden for.
    hidden_for: dict = field(default_factory=dict)


def _components(n_cells: int, rel: np.ndarray) -> list[list[int]]:
    """Cells grouped by the relations connecting them (audited independently)."""
    parent = list(range(n_cells))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for row in rel:
        nz = np.flatnonzero(row)
        for other in nz[1:]:
            ra, rb = find(int(nz[0])), find(int(other))
            if ra != rb:
                parent[ra] = rb
    groups: dict[int, list[int]] = {}
    for c in range(n_cells):
        groups.setdefault(find(c), []).append(c)
    return list(groups.values())


class IntervalSolver:
    """Min and max of one cell over real x with ``rel @ x = 0`` and per-cell bounds: one HiGHS
    model per relation system, re-solved for each cell and each change of the bounds.

    Why not scipy's ``linprog``: the audit solves two LPs per sensitive cell (864 on a 700-person
    toy release, 1,221 cells x 949 relations), and ``linprog`` rebuilds, re-checks and presolves
    the whole model on each call, which was ~85% of the audit's time. Kept here, the model is
    built once; a new objective leaves the last basis primal feasible, so primal simplex
    restarts from it (presolve off: it would discard that basis). The optimum *value* of an LP
    is unique, so the intervals are those ``linprog`` gives.
    """

    def __init__(self, rel) -> None:
        rel = csr_matrix(rel)
        m, n = rel.shape
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)  # before anything else: no banner on stdout
        h.setOptionValue("presolve", "off")
        h.setOptionValue("simplex_strategy", 4)  # primal simplex
        inf = h.getInfinity()
        h.addVars(n, np.zeros(n), np.full(n, inf))
        if m:
            h.addRows(m, np.zeros(m), np.zeros(m), rel.nnz, rel.indptr.astype(np.int32),
                      rel.indices.astype(np.int32), rel.data.astype(np.float64))
        self._h, self._n, self._inf = h, n, inf
        self._bounds: tuple[np.ndarray, np.ndarray] | None = None

    def interval(self, bounds: list[tuple[float, float | None]], j: int) -> tuple[float, float]:
        """(min, max) of cell ``j`` (column of ``rel``) under ``bounds`` (None = no upper
        bound; a lower bound ``-inf``: a signed cell); max is ``inf`` when unbounded above, min
        ``-inf`` when unbounded below. Raises TrdSparkError when the system has no solution (the
        relations must hold on the true values)."""
        h, status = self._h, highspy.HighsModelStatus
        lo = np.array([b[0] for b in bounds], dtype=np.float64)
        lo[np.isneginf(lo)] = -self._inf  # a signed cell (``audit_suppression``'s ``signed``)
        hi = np.array([self._inf if b[1] is None else b[1] for b in bounds], dtype=np.float64)
        if self._bounds is None or not (np.array_equal(lo, self._bounds[0]) and np.array_equal(hi, self._bounds[1])):
            h.changeColsBounds(self._n, np.arange(self._n, dtype=np.int32), lo, hi)
            self._bounds = (lo, hi)
        out = []
        try:
            for sign in (1.0, -1.0):
                h.changeColCost(j, sign)
                h.run()
                st = h.getModelStatus()
                if st == status.kOptimal:
                    out.append(sign * h.getInfo().objective_function_value)
                elif st in (status.kUnbounded, status.kUnboundedOrInfeasible):
                    # The true values are a solution (every bound holds on them), so the system
                    # is feasible: unbounded above, or below for a signed cell.
                    out.append(-sign * np.inf)
                else:
                    raise TrdSparkError(f"suppression audit: linear programme failed ({h.modelStatusToString(st)}); "
                                        "export not written")
        finally:
            h.changeColCost(j, 0.0)
        return out[0], out[1]


def _relation_system(values: dict, relations: list[dict]) -> dict:
    """What ``audit_suppression`` derives from its cells and relations alone (``work``): cells in
    text order (``keys``), the relation matrix (``rel_all``, relations x cells), the true values
    (``truth``) and the groups of cells the relations connect (``components``), with empty LP
    models (``solvers``) and intervals (``intervals``) for the audit to fill. Raises
    AssertionError if a relation does not hold on ``values`` (a bug in the caller)."""
    keys = sorted(values, key=str)
    index = {k: i for i, k in enumerate(keys)}
    rel_all = np.zeros((len(relations), len(keys)))
    for r_i, r in enumerate(relations):
        for k, coef in r.items():
            if k in index:  # as before: a relation's cell without a value is left out
                rel_all[r_i, index[k]] = float(coef)
    truth = np.array([float(values[k]) for k in keys])
    if len(rel_all) and np.abs(rel_all @ truth).max() > _EPS:
        bad = relations[int(np.argmax(np.abs(rel_all @ truth)))]
        raise AssertionError(f"suppression audit: relation does not hold on the data: {[_describe(k) for k in bad]}")
    return {"keys": keys, "rel_all": rel_all, "truth": truth, "components": _components(len(keys), rel_all),
            "solvers": {}, "intervals": {}}


class _MemoSolver:
    """An ``IntervalSolver`` whose intervals are kept in ``solved`` (shared by the audits of one
    ``work``), keyed by the component, the cell and the bounds: the same bounds give the same
    optimum, so a second audit pass solves only what its own hiding changed."""

    def __init__(self, solver: IntervalSolver, solved: dict, component: int) -> None:
        self._solver, self._solved, self._component = solver, solved, component

    def interval(self, bounds: list[tuple[float, float | None]], j: int) -> tuple[float, float]:
        """``IntervalSolver.interval``, solved once per bounds."""
        key = (self._component, j, tuple(bounds))
        if key not in self._solved:
            self._solved[key] = self._solver.interval(bounds, j)
        return self._solved[key]


def _link_rows(pos: list[int], n: int) -> csr_matrix:
    """The protection LP's rows ``x_k - up_r + down_r`` (``_cells_to_move``), one per movable
    cell ``k = pos[r]``: a CSR matrix of shape (len(pos), n + 2 len(pos)) over the columns x (n),
    up, down. Built from its three entries a row: a dense block turned sparse (as before) held
    the same matrix, but scanning it for non-zeros was ~12% of the audit's CPU on the toy
    release (2,392 cells in one group). ``pos`` ascending and < n, so each row's columns are
    in order: the CSR arrays are those the dense block gave (tests/test_report_audit_lp.py)."""
    m = len(pos)
    cols = np.column_stack([np.asarray(pos, dtype=np.int32).reshape(m), n + np.arange(m, dtype=np.int32),
                            n + m + np.arange(m, dtype=np.int32)])
    return csr_matrix((np.tile([1.0, -1.0, 1.0], m), cols.ravel(), np.arange(0, 3 * m + 1, 3, dtype=np.int32)),
                      shape=(m, n + 2 * m))


def _cells_to_move(rel, bounds: list, movable: dict[int, tuple[float, float]], j: int,
                   target: tuple[float | None, float | None], preferred: frozenset[int] = frozenset()) -> set[int]:
    """The protection LP: shown cells (``movable``: position -> (value, weight)) that must
    change, at least weighted total change, for cell ``j`` to lie in ``target`` while every
    relation holds, a moved cell stays >= its bound in ``bounds`` and the others keep their
    values. ``preferred``: positions hidden anyway (``audit_suppression``'s ``prefer``), not
    counted when fewer moved cells are sought. Raises TrdSparkError when no such table exists.

    One HiGHS model (highspy) for the call, as ``IntervalSolver`` keeps one: the search for
    fewer moved cells below re-solves it with one cell's deviations fixed at a time, and each
    re-solve starts from the last basis. A scipy ``linprog`` call per solve rebuilt, re-checked
    and presolved the model each time: 22.1 / 18.5 CPU-s per toy-r1 / toy-r2 report build, 15.8 /
    13.2 here (UNDER LOAD, benchmarks/RESULTS.md, session 35), every exported file the same byte
    for byte but the report's date and code version. The solver's options are linprog's
    (presolve on, dual simplex). That LP's solution (which cells move) need not be unique; a
    warm start can reach another optimum than a cold one, so an export may hide other cells
    than it did with linprog, each choice protecting every sensitive cell (checked after)."""
    n, pos = rel.shape[1], sorted(movable)
    m = len(pos)
    counted = np.array([k not in preferred for k in pos], dtype=bool)
    # Variables: x (n), up (m), down (m); x_k - up_k + down_k = value_k for movable k.
    a_eq = vstack([hstack([rel, csr_matrix((rel.shape[0], 2 * m))]), _link_rows(pos, n)]).tocsc()
    b_eq = np.concatenate([np.zeros(rel.shape[0]), [movable[k][0] for k in pos]]).astype(np.float64)
    xb = list(bounds)
    lo, hi = xb[j]
    xb[j] = (max(lo, target[0]) if target[0] is not None else lo, target[1] if target[1] is not None else hi)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)  # before anything else: no banner on stdout
    h.setOptionValue("presolve", "on")
    h.setOptionValue("simplex_strategy", 1)  # dual simplex, as linprog's "highs"
    inf = h.getInfinity()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n + 2 * m, a_eq.shape[0]
    lp.col_cost_ = np.concatenate([np.zeros(n), [movable[k][1] for k in pos] * 2]).astype(np.float64)
    lp.col_lower_ = np.array([b[0] for b in xb] + [0.0] * (2 * m), dtype=np.float64)
    lp.col_upper_ = np.array([inf if b[1] is None else b[1] for b in xb] + [inf] * (2 * m), dtype=np.float64)
    lp.row_lower_ = lp.row_upper_ = b_eq
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n + 2 * m, a_eq.shape[0]
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a_eq.indptr, a_eq.indices, a_eq.data
    h.passModel(lp)

    def deviation(i, upper: float) -> None:
        """Fix cell i's deviations at 0 (``upper`` 0) or free them again (``inf``)."""
        h.changeColsBounds(2, np.array([n + i, n + m + i], dtype=np.int32), np.zeros(2), np.full(2, upper))

    def solve() -> np.ndarray | None:
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        x = np.asarray(h.getSolution().col_value)
        return x[n:n + m] + x[n + m:]

    first = solve()
    if first is None:
        raise TrdSparkError(f"suppression audit: no consistent table widens a hidden count "
                            f"({h.modelStatusToString(h.getModelStatus())}); export not written")
    moved: np.ndarray = first
    # The LP counts the size of the changes, not the number of cells: keep each moved cell
    # fixed in turn (smallest change first) when a table with fewer moved cells remains.
    for i in sorted(np.flatnonzero(moved > 1e-7), key=lambda i: (moved[i], i)):
        if moved[i] <= 1e-7:
            continue
        deviation(i, 0.0)
        new = solve()
        if new is not None and ((new > 1e-7) & counted).sum() < ((moved > 1e-7) & counted).sum():
            moved = new
        else:
            deviation(i, inf)
    return {pos[i] for i in np.flatnonzero(moved > 1e-7)}


def label_bounds(text: str, export_threshold: int) -> tuple[float, float | None]:
    """What an export's label tells whoever holds it: ``<N`` 1..N-1, ``suppressed`` (or no row
    where the flow has a count) at least the threshold that export was made under."""
    if text.startswith("<") and text[1:].isdigit():
        return 1.0, float(int(text[1:]) - 1)
    return float(export_threshold), None


def audit_suppression(
    values: dict, published: set, relations: list[dict], threshold: int = 20, units: dict | None = None,
    hidden: dict | None = None, known: set | None = None, signed: set | None = None, dropped: set | None = None,
    hidden_bounds: dict | None = None, slack: set | None = None, prefer: dict | None = None,
    work: dict | None = None,
) -> AuditResult:
    """Which published cells to hide so that no sensitive cell can be narrowed down.

    ``values``: every cell (published or implicit) -> its true count (>= 0). ``published``: the
    cells that would be shown. ``relations``: linear equations ``sum(coef * cell) = 0`` that hold
    on ``values``. ``units``: published cell -> the unit hidden with it (default: the cell
    itself); a unit of several cells (a Kaplan-Meier curve set) is dropped whole, its cells then
    bounded by >= 0 only. Published cells of 1..threshold-1 are hidden as "<threshold" first;
    secondary suppression hides single cells of at least ``threshold`` ("suppressed") or whole
    units, never zeros. ``hidden``: published cells already hidden elsewhere (cell -> label,
    e.g. as another export shows them). ``hidden_bounds``: for such cells hidden under another
    threshold, cell -> (least, largest or None) that label tells (``<25`` of an export made under
    25: (1, 24), its ``suppressed``: (25, None)); default the range of the label under
    ``threshold``; a cell these bounds alone pin (with every other count hidden: ``suppressed``
    under 20 there and ``<21`` here is 20) is left as it is, as
    one pinned by ``known`` cells (``pinned_by_known``): no label here can widen it. ``dropped``:
    units left out from the start (a curve
    set an export of the same counts left out). ``known``: unpublished cells an outsider knows
    exactly from elsewhere (e.g. persons scored in each release of a comparison, another
    release's counts: ``tables.prior_counts``), or published cells an earlier export of the
    same counts shows (hiding them here protects nothing): fixed in the audit, never hidden to
    protect another, not protected themselves (this export cannot hide them; a small change
    from them is protected).
    ``prefer``: published cell -> the sensitive cells an earlier audit of the same counts hid it
    for (``AuditResult.hidden_for``, ``audit_with_fewer_hidden``); where another cell needs
    protecting, such a cell is hidden first (its change costs almost nothing, and it is not
    counted when fewer hidden cells are sought): it will be hidden anyway. With ``prefer``, a
    group of cells none of which is in it is not audited again (the earlier audit hid nothing
    there and would do the same: its intervals are not in the result).
    ``slack``: unpublished cells >= 0 that are no count (an inequality's slack, e.g. a gate's
    level x total less its count: ``tables.gate_relations``): never sensitive.
    ``signed``: unpublished cells whose value may be negative (a net change, e.g. persons newly
    excluded between two steps minus those no longer excluded: ``values`` holds the signed
    count), unbounded for the outsider and sensitive when their size is 1..threshold-1.
    A sensitive cell that the labels alone pin (every non-zero count hidden) is an error, unless
    it is pinned only by ``known`` cells (another release's counts, e.g. 7 persons hidden there
    and 0 here, which no label can hide): its range for an outsider is then the range that
    release's own export and audit leave for those counts, not this export's to widen.
    ``work``: a dict this audit fills with what does not depend on what it hides (the relation
    matrix, its groups of cells, each group's LP model) and with each interval it solves, keyed
    by the bounds it was solved under; given again to an audit of the same ``values``,
    ``relations`` and ``threshold`` (``audit_with_fewer_hidden``'s second pass) it is reused, not
    recomputed (an LP's optimum value depends on its bounds alone).
    Deterministic (cells in text order). Returns ``AuditResult``. Raises AssertionError if the
    relations do not hold (a bug in the caller), TrdSparkError (exit code 1) if a cell cannot
    be protected.
    """
    units, known, signed, slack = units or {}, known or set(), signed or set(), slack or set()
    prefer = prefer or {}
    hidden_for: dict = {}
    hidden_bounds = {k: b for k, b in (hidden_bounds or {}).items() if k in (hidden or {})}
    work = {} if work is None else work
    if "keys" not in work:
        work.update(_relation_system(values, relations))
    keys, rel_all, truth = work["keys"], work["rel_all"], work["truth"]
    unit_of = {k: units.get(k, k) for k in published}
    members: dict = {}
    for k, u in unit_of.items():
        members.setdefault(u, []).append(k)
    hide = {**(hidden or {}), **{k: suppressed_label(threshold) for k in published if is_small_count(values[k], threshold)}}
    dropped = {u for u in dropped or () if u in members}
    low = threshold - 1
    top = max(truth.max(initial=1.0), 1.0)

    def shown(k) -> bool:
        return k in published and k not in hide and unit_of[k] not in dropped

    bounds_seen: dict = {}

    def bounds_for(comp: list[int], everything_hidden: bool = False,
                   known_free: bool = False, own_labels: bool = False) -> list[tuple[float, float | None]]:
        """The outsider's bounds: shown cells fixed, labels' ranges, >= 0 for the rest (any
        value for a signed cell), ``known`` cells fixed unless ``known_free``, ``hidden_bounds``
        unless ``own_labels`` (a new list, cached until a cell is hidden: ``hide`` and
        ``dropped`` only grow)."""
        state = (id(comp), everything_hidden, known_free, own_labels, len(hide), len(dropped))
        if state not in bounds_seen:
            bounds_seen[state] = _bounds(comp, everything_hidden, known_free, own_labels)
        return list(bounds_seen[state])

    def _bounds(comp: list[int], everything_hidden: bool, known_free: bool,
                own_labels: bool) -> list[tuple[float, float | None]]:
        out: list[tuple[float, float | None]] = []
        for c in comp:
            k = keys[c]
            if k in known:
                out.append((0.0, None) if known_free else (truth[c], truth[c]))
            elif k in signed and k not in published:
                out.append((-np.inf, None))
            elif k not in published or unit_of[k] in dropped:
                out.append((0.0, None))
            elif k in hidden_bounds and not own_labels:
                out.append(hidden_bounds[k])
            elif k in hide:
                out.append((1.0, float(low)) if hide[k] != SECONDARY_LABEL else (float(threshold), None))
            elif everything_hidden and truth[c] > 0:
                out.append((float(threshold), None) if len(members[unit_of[k]]) == 1 else (0.0, None))
            else:
                out.append((truth[c], truth[c]))
        return out

    def hide_unit(u) -> None:
        if len(members[u]) > 1:
            dropped.add(u)
        else:
            hide[u] = SECONDARY_LABEL

    intervals: dict = {}
    pinned: set = set()
    for comp in work["components"]:
        # A known cell is out of this export's hands (another export's count, known exactly or
        # taken as known: ``tables.prior_counts``); what it must protect is the rest.
        sensitive = [c for c in comp if is_small_count(abs(truth[c]), threshold) and keys[c] not in known
                     and keys[c] not in slack]
        if not sensitive or (prefer and not any(keys[d] in prefer for d in comp)):
            continue  # (with ``prefer``: the earlier audit hid nothing here, so it stands)
        if comp[0] not in work["solvers"]:  # (components are disjoint: the first cell names one)
            rows = csr_matrix(rel_all[np.any(rel_all[:, comp] != 0, axis=1)][:, comp])
            work["solvers"][comp[0]] = rows, _MemoSolver(IntervalSolver(rows), work["intervals"], comp[0])
        rows, solver = work["solvers"][comp[0]]
        for c in sorted(sensitive, key=lambda c: str(keys[c])):
            j = comp.index(c)
            lo, hi = solver.interval(bounds_for(comp), j)
            if hi - lo >= low - 1 - _EPS:
                intervals[keys[c]] = (lo, hi)
                continue
            # What the labels alone leave (every non-zero count hidden) caps the requirement:
            # three "<T" parts already tell that their total is at least 3.
            b_lo, b_hi = solver.interval(bounds_for(comp, everything_hidden=True), j)
            need = min(low - 1, b_hi - b_lo)
            if need <= _EPS and known and any(keys[d] in known for d in comp):
                k_lo, k_hi = solver.interval(bounds_for(comp, everything_hidden=True, known_free=True), j)
                if k_hi - k_lo > _EPS:  # pinned by another release's counts only (see the docstring)
                    intervals[keys[c]] = (lo, hi)
                    pinned.add(keys[c])
                    continue
            if need <= _EPS and any(keys[d] in hidden_bounds for d in comp):
                h_lo, h_hi = solver.interval(bounds_for(comp, everything_hidden=True, own_labels=True), j)
                if h_hi - h_lo > _EPS:  # pinned by another export's labels read with this one's
                    intervals[keys[c]] = (lo, hi)
                    pinned.add(keys[c])
                    continue
            if need <= _EPS:
                raise TrdSparkError(f"suppression audit: hidden count {_describe(keys[c])} is determined by the labels "
                                    "alone; export not written")
            if hi - lo < need - _EPS:
                # The required interval: around the true value, inside what is attainable.
                v = truth[c]
                t_lo = min(max(v - need / 2, b_lo), b_hi - need)
                anyway = {keys[d] for d in comp if prefer.get(keys[d], set()) - {keys[c]}}
                movable = {i: (truth[d], (_PREFERRED_COST if keys[d] in anyway else 1.0)
                               * (1.0 + 0.5 * np.log1p(truth[d]) / np.log1p(top)))
                           for i, d in enumerate(comp) if shown(keys[d]) and keys[d] not in known and truth[d] > 0
                           and (truth[d] >= threshold or len(members[unit_of[keys[d]]]) > 1)}
                bounds = bounds_for(comp)
                for i in movable:
                    k = keys[comp[i]]
                    bounds[i] = (float(threshold), None) if len(members[unit_of[k]]) == 1 else (0.0, None)
                preferred = frozenset(i for i in movable if keys[comp[i]] in anyway)
                moved = _cells_to_move(rows, bounds, movable, j, (t_lo + need, None), preferred)
                # The low end: cells hidden for the high end cost (almost) nothing more.
                movable.update({i: (movable[i][0], _PREFERRED_COST) for i in moved})
                moved |= _cells_to_move(rows, bounds, movable, j, (None, t_lo), preferred | moved)
                for u in sorted({unit_of[keys[comp[i]]] for i in moved}, key=str):
                    hide_unit(u)
                    for k in members[u]:
                        hidden_for.setdefault(k, set()).add(keys[c])
                lo, hi = solver.interval(bounds_for(comp), j)
                if hi - lo < need - _EPS:  # cannot happen: both alternative tables stay feasible
                    raise TrdSparkError(f"suppression audit: hidden count {_describe(keys[c])} still narrow; export not "
                                        "written")
            intervals[keys[c]] = (lo, hi)
    return AuditResult(hide=hide, dropped=dropped, intervals=intervals, pinned_by_known=pinned, hidden_for=hidden_for)


def chain_relations(cells: list, values: dict, prefix: tuple) -> tuple[dict, list[dict]]:
    """Implicit differences of ordered cells (``prefix + (i, k)`` = cells[i] - cells[k], i < k).

    Returns (implicit cell values, relations). Used for cohort-flow steps; a negative
    difference is sensitive when its size is 1..threshold-1 (values hold the absolute value;
    the relation keeps the sign).
    """
    implicit, relations = {}, []
    # Every pair, not only neighbours: persons excluded by several consecutive steps together
    # are a group too (1000, [hidden], 985 would reveal 15).
    pairs = [(i, k) for k in range(1, len(cells)) for i in range(k)]
    for i, k in pairs:
        a, b = cells[i], cells[k]
        d = values[a] - values[b]
        key = prefix + (i, k)
        sign = 1 if d >= 0 else -1
        implicit[key] = abs(d)
        relations.append({a: 1, b: -1, key: -sign})
    return implicit, relations


def audit_with_fewer_hidden(values: dict, published: set, relations: list[dict], threshold: int = 20,
                            **kwargs: Any) -> AuditResult:
    """``audit_suppression``, then once more where each cell the first pass hid for some sensitive
    cell is hidden first to protect any other (``prefer``); the pass that hides fewer cells
    (the first on a tie).

    Why: the audit protects one sensitive cell at a time (text order), each with the fewest
    cells hidden for it alone; a cell hidden later is not known to be hidden yet. On the toy
    release, 2 MDD_other persons of the cohort flow not analysed in any dataset were protected
    by hiding the MDD-included step (4 copies, one per definition and 'all', and the step
    before it, equal to it) rather than with_adequate_trial (3 copies), which would also have
    needed TRD and trMDD hidden -- as they were later, for the 7 and 10 TRD persons not
    analysed. The second pass, knowing them hidden, hides with_adequate_trial and shows the MDD
    included count. Each pass is a full audit, so either result keeps every guarantee; the
    second reuses the first's relation system, LP models and every interval solved under the
    same bounds (``audit_suppression``'s ``work``): until it hides a cell of a group, its bounds
    there are the first pass's, and the bounds with every count hidden never change.
    ``kwargs``: ``audit_suppression``'s other arguments (not ``prefer``)."""
    work: dict = {}  # the first pass's relation system, LP models and intervals, for the second
    first = audit_suppression(values, published, relations, threshold, work=work, **kwargs)
    if not first.hidden_for:
        return first  # nothing hidden to protect a cell: nothing to choose between
    second = audit_suppression(values, published, relations, threshold, prefer=first.hidden_for, work=work, **kwargs)
    if len(second.hide) + len(second.dropped) >= len(first.hide) + len(first.dropped):
        return first
    # The groups of cells the second pass left alone keep the first pass's intervals.
    return AuditResult(hide=second.hide, dropped=second.dropped, intervals={**first.intervals, **second.intervals},
                       pinned_by_known=second.pinned_by_known | {k for k in first.pinned_by_known
                                                                 if k not in second.intervals},
                       hidden_for=second.hidden_for)

