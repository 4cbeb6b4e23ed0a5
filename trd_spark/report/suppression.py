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
