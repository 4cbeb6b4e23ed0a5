"""Small-cell suppression (AoU dissemination policy): counts 1..threshold-1 shown as "<threshold".

Zero is allowed to leave the workbench, as are counts >= threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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


def _recoverable(rel: np.ndarray, hidden: list[int], j: int) -> bool:
    """True when cell ``j`` (hidden) is a linear function of the published cells."""
    if rel.size == 0:
        return False
    sub = rel[:, hidden]
    sub = sub[np.any(sub != 0, axis=1)]
    if len(sub) == 0:
        return False
    e = np.zeros(len(hidden))
    e[hidden.index(j)] = 1.0
    r = np.linalg.matrix_rank(sub)
    return np.linalg.matrix_rank(np.vstack([sub, e])) == r


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
    rel = np.array([[float(r.get(k, 0)) for k in keys] for r in relations]) if relations else np.zeros((0, len(keys)))
    sensitive = {k for k in keys if 0 < values[k] < threshold}
    hide = {k: suppressed_label(threshold) for k in keys if k in published and k in sensitive}
    while True:
        hidden = [index[k] for k in keys if k not in published or k in hide]
        exposed = [k for k in sorted(sensitive, key=str) if _recoverable(rel, hidden, index[k])]
        if not exposed:
            return hide
        j = index[exposed[0]]
        # Relations reaching cell j through hidden cells: its connected component.
        comp, frontier = {j}, [j]
        while frontier:
            c = frontier.pop()
            for row in rel[rel[:, c] != 0]:
                for other in np.flatnonzero(row):
                    if other not in comp and (other in hidden):
                        comp.add(int(other))
                        frontier.append(int(other))
        rows = rel[np.any(rel[:, sorted(comp)] != 0, axis=1)]
        touching = {keys[i] for i in np.flatnonzero(np.any(rows != 0, axis=0))}
        candidates = [k for k in touching if k in published and k not in hide]
        if not candidates:  # cannot happen when j is recoverable; guard against a loop
            raise AssertionError(f"suppression audit: cell {exposed[0]} recoverable without published cells")
        nonzero = [k for k in candidates if values[k] > 0] or candidates
        # Prefer a cell in few relations (a model's n rather than a status count shared by
        # many tables: hiding that would cascade), then the smallest.
        degree = {k: int(np.count_nonzero(rel[:, index[k]])) for k in nonzero}
        pick = min(nonzero, key=lambda k: (degree[k], values[k], str(k)))
        hide[pick] = SECONDARY_LABEL


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
