"""Which adjustment covariates a model uses, and the checks made on them before fitting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from trd_spark.config import Config

# Statuses in the analysis frame that count as MDD (the Cox population and the MDD cases).
MDD_STATUSES = ("TRD", "trMDD", "MDD_other")
STATUSES = (*MDD_STATUSES, "non_MDD")


def pc_columns(n_pcs: int) -> list[str]:
    """``pc1``..``pcK`` as named in the analysis frame."""
    return [f"pc{i}" for i in range(1, n_pcs + 1)]


def covariate_columns(cfg: Config) -> list[str]:
    """Adjustment covariates from ``cfg.covariates``: age, sex_female, pc1..pcK (in that order)."""
    cov = cfg.covariates
    return [*(["age"] if cov.age else []), *(["sex_female"] if cov.sex else []), *pc_columns(cov.n_pcs)]


def is_constant(values: pd.Series) -> bool:
    """True when a column has fewer than two distinct finite values (zero variance)."""
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    return v.size == 0 or bool(np.all(v == v[0]))


def split_constant(frame: pd.DataFrame, covariates: list[str]) -> tuple[list[str], list[str]]:
    """Split covariates into (kept, dropped because constant within ``frame``)."""
    kept = [c for c in covariates if not is_constant(frame[c])]
    dropped = [c for c in covariates if c not in kept]
    return kept, dropped


def complete_cases(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows with a finite value in every one of ``columns`` (float copies of those columns)."""
    sub = frame[columns].apply(pd.to_numeric, errors="coerce").astype(float)
    return sub[np.isfinite(sub.to_numpy()).all(axis=1)]


def join_notes(*notes: str | None) -> str:
    """One ``; ``-separated note from the non-empty parts ("" when there is nothing to say)."""
    return "; ".join(n for n in notes if n)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run model fits with a single BLAS thread.

    The design matrices are narrow (n x ~15): threaded BLAS gains nothing on them and, with
    one Spark task (or other process) per core, its threads fight for the cores; measured
    on a loaded 2-core machine an SVD of 2300 x 6 took 16 ms threaded vs 0.3 ms on one thread.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield
