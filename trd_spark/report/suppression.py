"""Small-cell suppression (AoU dissemination policy): counts 1..threshold-1 shown as "<threshold".

Zero is allowed to leave the workbench, as are counts >= threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.linalg import null_space


def suppressed_label(threshold: int) -> str:
    return f"<{threshold}"


def suppress_count(value: object, threshold: int = 20) -> object:
    """One count: 1..threshold-1 -> "<threshold"; 0, >= threshold and missing unchanged."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return value
    if isinstance(value, str):
        return value
    return suppressed_label(threshold) if 0 < value < threshold else int(value)


def suppress_small_counts(df: pd.DataFrame, count_columns: list[str], threshold: int = 20) -> pd.DataFrame:
    """A copy of ``df`` where each of ``count_columns`` has 1..threshold-1 replaced by "<threshold".

    The columns become object dtype (ints and strings). Missing values stay missing.
    """
    out = df.copy()
    for col in count_columns:
        out[col] = out[col].astype(object).map(lambda v: suppress_count(v, threshold))
    return out


COMPLEMENT_LABEL = "suppressed"


def suppress_complement(
    df: pd.DataFrame, total: str, part: str, threshold: int = 20, label: str = COMPLEMENT_LABEL
) -> pd.DataFrame:
    """Hide ``total`` (as ``label``) where ``total - part`` is a small count that could be derived.

    E.g. n and n_cases would reveal n_controls = n - n_cases; call this before
    ``suppress_small_counts`` so both columns are still numbers. The total itself is not
    small, so it is not labelled "<threshold".
    """
    out = df.copy()
    t = pd.to_numeric(out[total], errors="coerce")
    rest = t - pd.to_numeric(out[part], errors="coerce")
    small = (rest > 0) & (rest < threshold)
    out[total] = out[total].astype(object)
    out.loc[small, total] = label
    return out


# --------------------------------------------------------------------------------------------
# Secondary suppression: a linear audit of the published counts
# --------------------------------------------------------------------------------------------
# Published counts are linked by exact linear relations an outsider can use: a total and its
# parts (n = n_cases + controls), consecutive cohort-flow steps (n_{k-1} = n_k + excluded at
# step k), the same count in two tables. Unpublished quantities in these relations (controls,
# persons excluded at a step) are *implicit* cells. A cell is sensitive when its value is
# 1..threshold-1; published sensitive cells are hidden ("<threshold"), and a hidden sensitive
# cell must not be exactly recoverable: it is recoverable when its unit vector lies in the
# row space of the relation matrix restricted to the hidden cells (the known cells are then
# constants). While one is, a non-zero published cell sharing a relation with the
# hidden cells is hidden too ("suppressed"; fewest relations first, then smallest). Bounds (counts are >= 0) are not audited: a hidden
# cell may be known to lie in an interval, never exactly.

SECONDARY_LABEL = "suppressed"


def _determined(rel: np.ndarray, hidden: list[int]) -> set[int]:
    """Hidden cells whose value is fixed by the relations once the published cells are known.

    With published cells as constants the hidden ones solve ``R_H x_H = c``; every solution
    is ``x0 + N z`` with N a basis of the null space of ``R_H``, so cell j is fixed exactly
    when row j of N is zero.
    """
    if not hidden:
        return set()
    sub = rel[:, hidden]
    sub = sub[np.any(sub != 0, axis=1)]
    if len(sub) == 0:
        return set()
    null = null_space(sub)
    fixed = np.all(np.abs(null) < 1e-9, axis=1) if null.size else np.ones(len(hidden), dtype=bool)
    return {hidden[i] for i in np.flatnonzero(fixed)}


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


def audit_suppression(
    values: dict, published: set, relations: list[dict], threshold: int = 20
) -> dict:
    """Which published cells to hide, and how: {cell: "<threshold" | "suppressed"}.

    ``values``: every cell (published or implicit) -> its count. ``published``: the cells
    that would be shown. ``relations``: linear equations ``sum(coef * cell) = 0`` over cells.
    Deterministic: ties are broken by value, then by the cell's text.
    """
    keys = sorted(values, key=str)
    index = {k: i for i, k in enumerate(keys)}
    rel_all = (np.array([[float(r.get(k, 0)) for k in keys] for r in relations]) if relations
               else np.zeros((0, len(keys))))
    hide = {k: suppressed_label(threshold) for k in keys if k in published and 0 < values[k] < threshold}
    for comp in _components(len(keys), rel_all):
        sensitive = {c for c in comp if 0 < values[keys[c]] < threshold}
        if not sensitive:
            continue
        rel = rel_all[np.any(rel_all[:, comp] != 0, axis=1)]
        while True:
            hidden = [c for c in comp if keys[c] not in published or keys[c] in hide]
            exposed = sorted(sensitive & _determined(rel, hidden), key=lambda c: str(keys[c]))
            if not exposed:
                break
            # Candidates: published cells sharing a relation with the hidden cells that
            # connect to the exposed one.
            j = exposed[0]
            reach, frontier = {j}, [j]
            hidden_set = set(hidden)
            while frontier:
                c = frontier.pop()
                for row in rel[rel[:, c] != 0]:
                    for other in np.flatnonzero(row):
                        if int(other) not in reach and int(other) in hidden_set:
                            reach.add(int(other))
                            frontier.append(int(other))
            rows = rel[np.any(rel[:, sorted(reach)] != 0, axis=1)]
            touching = np.flatnonzero(np.any(rows != 0, axis=0))
            candidates = [keys[c] for c in touching if keys[c] in published and keys[c] not in hide]
            if not candidates:  # cannot happen when j is determined; guard against a loop
                raise AssertionError(f"suppression audit: cell {keys[j]} recoverable without published cells")
            nonzero = [k for k in candidates if values[k] > 0] or candidates
            # Prefer a cell in few relations (a model's n rather than a status count shared by
            # many tables: hiding that would cascade), then the smallest.
            degree = {k: int(np.count_nonzero(rel[:, index[k]])) for k in nonzero}
            pick = min(nonzero, key=lambda k: (degree[k], values[k], str(k)))
            hide[pick] = SECONDARY_LABEL
    return hide


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
