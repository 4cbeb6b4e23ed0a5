"""PGS per SD, three ways, as pure Spark transforms (no person-level collect).

Input: a wide frame, one row per person of one dataset (``person_id``, one double column per
pgs_id, and ``ancestry`` / ``pc1..pcN`` as the method needs), already restricted to the
samples that pass sample QC (unrelated, not flagged). Methods (``pgs.standardisation``):

    overall      z = (x - mean) / sd over the dataset
    ancestry     z within each genetic ancestry group (``ancestry`` column)
    pc_adjusted  pgsc_calc's ancestry normalisation (Khan et al. 2022), fitted on the dataset
                 itself rather than a reference panel:
                   mean:     x = b0 + sum_j b_j pc_j + r              (OLS)
                   variance: r^2 ~ Gamma, log E[r^2] = g0 + sum_j g_j pc_j  (GLM, IRLS)
                   z = r / sqrt(exp(g0 + sum_j g_j pc_j))

The fits use only aggregates: X'X ((N+1) x (N+1), shared by all scores) and X'y per score
(one Spark aggregation for the mean, one per iteration for the variance, all scores in it). The
variance model starts with Fisher scoring (for the Gamma family with log link the expected
weights are all 1: ``b + (X'X)^-1 X'(y/mu - 1)``, robust far from the optimum) and switches to
Newton-Raphson with the observed information ``X' diag(y/mu) X`` once a score's step is below
``NEWTON_SWITCH`` (the log-likelihood ``-y/mu - log mu`` is concave in the coefficients, and
Newton converges quadratically: ~7 Spark jobs per dataset instead of ~28, same maximum). The
fitted coefficients are then applied as column expressions. A score with zero variance (or
zero residual variance) is null.

A fit never aborts the stage: when the PC model cannot be fitted (too few samples for the PCs,
collinear PCs: every score) or a score's variance model diverges or does not converge, that
score falls back to the overall z-score of the dataset. The reason (``FitFailure``) is in the
description returned for the manifest (``fallback``) and logged as a WARNING naming the
dataset, the scores and the fix (fewer ``pgs.standardisation_n_pcs``, or ``overall``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from trd_spark.cohort.frame import standardise_pgs
from trd_spark.errors import InputDataError
from trd_spark.vocabulary import FitFailure

log = logging.getLogger(__name__)

Method = Literal["overall", "ancestry", "pc_adjusted"]
# Relative step below which a variance fit switches from Fisher scoring to Newton-Raphson: a
# numerical-method constant (not a study setting), like statsmodels' own IRLS defaults.
NEWTON_SWITCH = 1e-2


@dataclass
class PcAdjustment:
    """Fitted coefficients per score: ``mean[pgs]`` and ``log_var[pgs]`` are arrays
    ``[intercept, pc1, ..., pcN]``; ``log_var`` is None for a score with no residual variance.
    ``failed[pgs]``: why the score could not be fitted (it has no coefficients then)."""

    pcs: list[str]
    mean: dict[str, np.ndarray] = field(default_factory=dict)
    log_var: dict[str, np.ndarray | None] = field(default_factory=dict)
    iterations: dict[str, int] = field(default_factory=dict)
    failed: dict[str, FitFailure] = field(default_factory=dict)
    n_samples: int = 0


def _linear(coef: np.ndarray, pcs: Sequence[str]) -> Column:
    expr = F.lit(float(coef[0]))
    for b, pc in zip(coef[1:], pcs):
        expr = expr + F.lit(float(b)) * F.col(pc)
    return expr


def _moments(frame: DataFrame, pcs: Sequence[str], ys: dict[str, Column],
             weights: dict[str, Column]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(X'y for every named response, X' diag(w) X for every named weight), X = [1, pcs], in
    one Spark aggregation. Responses and weights are projected once per row first, so an
    expression shared by many sums (``exp(eta)``) is evaluated once."""
    p = len(pcs) + 1
    pairs = [(i, j) for i in range(p) for j in range(i, p)]
    projected = frame.select(
        F.lit(1.0).alias("_x0"), *[F.col(c).alias(f"_x{i + 1}") for i, c in enumerate(pcs)],
        *[y.alias(f"_y{k}") for k, y in enumerate(ys.values())],
        *[w.alias(f"_w{k}") for k, w in enumerate(weights.values())])
    x = [F.col(f"_x{i}") for i in range(p)]
    aggs = [F.sum(x[i] * F.col(f"_y{k}")).alias(f"xy_{k}_{i}") for k in range(len(ys)) for i in range(p)]
    aggs += [F.sum(x[i] * x[j] * F.col(f"_w{k}")).alias(f"xwx_{k}_{i}_{j}")
             for k in range(len(weights)) for i, j in pairs]
    row = projected.agg(*aggs).collect()[0]
    # An empty frame sums to null: zeros (the caller's sample-size check then fails the fit).
    xty = {name: np.array([row[f"xy_{k}_{i}"] or 0.0 for i in range(p)], dtype=float) for k, name in enumerate(ys)}
    xwx = {}
    for k, name in enumerate(weights):
        m = np.zeros((p, p))
        for i, j in pairs:
            m[i, j] = m[j, i] = row[f"xwx_{k}_{i}_{j}"] or 0.0
        xwx[name] = m
    return xty, xwx


def fit_pc_adjustment(
    frame: DataFrame, pgs_ids: Sequence[str], pcs: Sequence[str], *, max_iter: int = 100, tol: float = 1e-10
) -> PcAdjustment:
    """Fit the mean (OLS) and variance (Gamma log-link GLM) models of every score on ``pcs``.

    Rows must have no null PC or score (Spark's sums skip nulls, which would make X'X and X'y
    disagree); ``standardise`` drops persons without PCs. Convergence: max |change| of the variance
    coefficients < ``tol`` (relative to 1 + |coef|). Never raises for a fit: scores that cannot
    be fitted are in ``failed`` with their ``FitFailure``.
    """
    pcs = list(pcs)
    frame = frame.select(*pcs, *pgs_ids).cache()
    try:
        # One aggregation: X'X (its [0, 0] is n) and every score's X'y for the mean model.
        xty, design = _moments(frame, pcs, {p: F.col(p) for p in pgs_ids}, {"": F.lit(1.0)})
        xtx = design[""]
        n = int(round(xtx[0, 0]))
        fit = PcAdjustment(pcs=pcs, n_samples=n)
        if n <= len(pcs) + 1:
            fit.failed = {p: FitFailure.TOO_FEW_SAMPLES for p in pgs_ids}
            return fit
        if np.linalg.matrix_rank(xtx) < len(pcs) + 1:
            fit.failed = {p: FitFailure.COLLINEAR_PCS for p in pgs_ids}
            return fit
        for p in pgs_ids:
            fit.mean[p] = np.linalg.solve(xtx, xty[p])
        resid = {p: F.col(p) - _linear(fit.mean[p], pcs) for p in pgs_ids}
        # Scores whose residuals are all (numerically) zero get no variance model -> null.
        sums = frame.agg(*[F.sum(resid[p] * resid[p]).alias(f"rss_{i}") for i, p in enumerate(pgs_ids)],
                         *[F.sum(F.col(p) * F.col(p)).alias(f"tss_{i}") for i, p in enumerate(pgs_ids)]).collect()[0]
        active = []
        for i, p in enumerate(pgs_ids):
            rss, tss = sums[f"rss_{i}"], sums[f"tss_{i}"]
            if rss is not None and rss > 1e-24 * max(tss or 0.0, 1.0):
                active.append(p)
                fit.log_var[p] = np.r_[np.log(rss / n), np.zeros(len(pcs))]
                fit.iterations[p] = 0
            else:
                fit.log_var[p] = None
        # Fisher scoring, then Newton once close; all still-moving scores in one aggregation
        # per iteration (score = X'(y/mu - 1); information X'X or X' diag(y/mu) X).
        newton: set[str] = set()
        for it in range(1, max_iter + 1):
            if not active:
                break
            score, weight = {}, {}
            for p in active:
                coef = fit.log_var[p]
                assert coef is not None  # active scores have a variance model (set above)
                ratio = resid[p] * resid[p] / F.exp(_linear(coef, pcs))
                score[p] = ratio - 1.0
                if p in newton:
                    weight[p] = ratio
            grad, info = _moments(frame, pcs, score, weight)
            still = []
            for p in active:
                fit.iterations[p] = it
                with np.errstate(all="ignore"):
                    try:
                        new = fit.log_var[p] + np.linalg.solve(info.get(p, xtx), grad[p])
                    except np.linalg.LinAlgError:
                        new = np.full(len(pcs) + 1, np.nan)
                if not np.all(np.isfinite(new)):
                    fit.failed[p] = FitFailure.VARIANCE_DIVERGED
                    continue
                step = np.max(np.abs(new - fit.log_var[p]) / (1.0 + np.abs(new)))
                fit.log_var[p] = new
                if step < NEWTON_SWITCH:
                    newton.add(p)
                if step >= tol:
                    still.append(p)
            active = still
        fit.failed.update({p: FitFailure.VARIANCE_NOT_CONVERGED for p in active})
        for p in fit.failed:
            fit.mean.pop(p, None)
            fit.log_var.pop(p, None)
        return fit
    finally:
        frame.unpersist()


def apply_pc_adjustment(frame: DataFrame, fit: PcAdjustment) -> DataFrame:
    """Replace each fitted score column by its PC-adjusted z (column expressions only), and
    each score in ``fit.failed`` by its overall z over ``frame`` (the documented fallback)."""
    out = standardise_pgs(frame, list(fit.failed)) if fit.failed else frame
    for p, mean in fit.mean.items():
        log_var = fit.log_var[p]
        if log_var is None:
            out = out.withColumn(p, F.lit(None).cast("double"))
        else:
            r = F.col(p) - _linear(mean, fit.pcs)
            out = out.withColumn(p, r / F.sqrt(F.exp(_linear(log_var, fit.pcs))))
    return out


def standardise(
    frame: DataFrame, pgs_ids: Sequence[str], method: Method, *, pcs: Sequence[str] = (), dataset: str = ""
) -> tuple[DataFrame, dict]:
    """PGS per SD by ``method`` (see module doc). Returns the frame (same columns, score
    columns replaced; pc_adjusted: persons without PCs dropped, counted in ``n_without_pcs``)
    and a JSON-able description of what was done, for the stage manifest: with pc_adjusted,
    ``fallback`` maps each score that fell back to the overall z to its ``FitFailure`` value.
    ``dataset`` names the data in the warning. Raises InputDataError for a missing column
    (a config / input fault, not a fit)."""
    pgs_ids = list(pgs_ids)
    if method == "overall":
        return standardise_pgs(frame, pgs_ids), {"method": method}
    if method == "ancestry":
        if "ancestry" not in frame.columns:
            raise InputDataError("standardisation by ancestry needs an ancestry column", where="pgs.standardisation")
        return standardise_pgs(frame, pgs_ids, ["ancestry"]), {"method": method, "groups": "ancestry"}
    if method == "pc_adjusted":
        missing = [p for p in pcs if p not in frame.columns]
        if not pcs or missing:
            raise InputDataError(f"PC adjustment needs PC columns (missing {missing or 'all'})",
                                 where="pgs.standardisation")
        # Scores are never null (one pass scores everyone); persons without PCs cannot be adjusted.
        complete = frame.dropna(subset=list(pcs))
        fit = fit_pc_adjustment(complete, pgs_ids, pcs)
        info = {
            "method": method,
            "pcs": list(pcs),
            "mean_model": "OLS on PCs",
            "variance_model": "Gamma GLM (log link) of squared residuals on PCs",
            "n_fitted": fit.n_samples,
            "n_without_pcs": frame.count() - fit.n_samples,
            "irls_iterations": {p: fit.iterations.get(p, 0) for p in pgs_ids},
            "null_scores": [p for p in pgs_ids if p in fit.log_var and fit.log_var[p] is None],
            "fallback": {p: r.value for p, r in fit.failed.items()},
        }
        if fit.failed:
            by_reason: dict[str, list[str]] = {}
            for p, r in fit.failed.items():
                by_reason.setdefault(r.value, []).append(p)
            # No sample count here: fits fail mostly on small datasets, and logs obey the small-count
            # rule (the count is n_fitted in the cohort manifest).
            log.warning("dataset %s: PC-adjusted standardisation failed (%s): those scores use the "
                        "overall z-score instead (fix: lower pgs.standardisation_n_pcs, or pgs.standardisation: "
                        "overall)", dataset or "?", "; ".join(f"{r}: {', '.join(ps)}" for r, ps in by_reason.items()))
        return apply_pc_adjustment(complete, fit), info
    raise InputDataError(f"unknown standardisation {method!r}", where="pgs.standardisation")
