"""Multiple-testing corrections across the PGS panel, within one family of tests.

A family is one (dataset, definition, contrast): the study corrects across its ~61 PGS.
Failed fits (``p`` is NaN) are not tests: they get NaN and do not count in ``m``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

# The family of tests within which each models-stage table's ``p_bonferroni`` / ``q_fdr`` are
# computed (logistic results, TRD vs trMDD differences, meta-analysis). The report recomputes
# them over the shown p-values within the same families (``report.tables.corrections_over_shown``).
CORRECTION_FAMILIES = {"logistic": ["dataset", "definition", "contrast"], "difference": ["dataset", "definition"],
                       "meta": ["method", "definition", "contrast"]}


def _finite_only(p: np.ndarray, method: str) -> np.ndarray:
    """``statsmodels.stats.multitest.multipletests(p, method)[1]`` over the finite p-values;
    NaN (a failed fit) stays NaN and does not count in m."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def bonferroni(p: np.ndarray) -> np.ndarray:
    """min(1, p * m) with m = number of finite p-values; NaN stays NaN."""
    return _finite_only(p, "bonferroni")


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (step-up, monotone, capped at 1); NaN stays NaN.

    q_(i) = min over j >= i of p_(j) * m / j for p sorted ascending, m = number of finite p
    (``statsmodels.stats.multitest.multipletests(p, method="fdr_bh")[1]``).
    """
    return _finite_only(p, "fdr_bh")


def adjust_within_families(results: pd.DataFrame, family: list[str], p_col: str = "p") -> pd.DataFrame:
    """Add ``p_bonferroni`` and ``q_fdr`` computed within each ``family`` group of ``results``."""
    out = results.copy()
    out["p_bonferroni"] = np.nan
    out["q_fdr"] = np.nan
    if out.empty:
        return out
    for _, idx in out.groupby(family, sort=False, dropna=False).groups.items():
        p = out.loc[idx, p_col].to_numpy(dtype=float)
        out.loc[idx, "p_bonferroni"] = bonferroni(p)
        out.loc[idx, "q_fdr"] = benjamini_hochberg(p)
    return out
