"""PGS per SD, three ways, as Spark transforms (no person-level collect to the driver).

Input: a wide frame, one row per person (``person_id``, one double column per pgs_id, and
``ancestry`` / ``pc1..pcN`` as the method needs), already restricted to the samples that pass
sample QC (unrelated, not flagged). Each dataset is standardised on its own (``by``: the
column naming the dataset; ``standardise_datasets``). Methods (``pgs.standardisation``):

    overall      z = (x - mean) / sd over the dataset
    ancestry     z within each genetic ancestry group (``ancestry`` column) of the dataset; a
                 group of fewer than the small-count threshold takes the dataset's overall z
    pc_adjusted  pgsc_calc's ancestry normalisation (Khan et al. 2022), fitted on the dataset
                 itself rather than a reference panel:
                   mean:     x = b0 + sum_j b_j pc_j + r              (OLS)
                   variance: r^2 ~ Gamma, log E[r^2] = g0 + sum_j g_j pc_j  (GLM, IRLS)
                   z = r / sqrt(exp(g0 + sum_j g_j pc_j))

The PC fits of every dataset run in ONE Spark action (a shuffle by dataset, then the fits): the rows are grouped by dataset
(``applyInPandas``, as the models stage fits its grid) and each group is fitted in numpy on an
executor (at All of Us scale ~300k rows x 61 scores, ~150 MB per group); only the coefficients
come back to the driver, and they are applied as column expressions. (Fitting with Spark
aggregations instead took one Spark job per IRLS iteration and dataset, ~30 jobs per run.)
The variance model starts with Fisher scoring (for the Gamma family with log link the expected
weights are all 1: ``b + (X'X)^-1 X'(y/mu - 1)``, robust far from the optimum) and switches to
Newton-Raphson with the observed information ``X' diag(y/mu) X`` once a score's step is below
``NEWTON_SWITCH`` (the log-likelihood ``-y/mu - log mu`` is concave in the coefficients, and
Newton converges quadratically; same maximum as statsmodels' GLM, which the tests use as the
oracle). A score with zero variance (or zero residual variance) is null.

A fit never aborts the stage: when the PC model cannot be fitted (fewer persons with PCs than
``min_samples``, the small-count threshold, or than the PCs + 2; collinear PCs: every score) or
a score's variance model diverges or does not converge, that score falls back to the overall
z-score of the dataset. The reason (``FitFailure``) is in the
description returned for the manifest (``fallback``) and logged as a WARNING naming the
dataset, the scores and the fix (fewer ``pgs.standardisation_n_pcs``, or ``overall``; only
``overall`` for a dataset under the threshold, which no number of PCs gets fitted).

Why the floor is the small-count threshold T (``report.small_count_threshold``), not the PCs + 2
the algebra needs: the fallback and its reason are published (report.html, the cohort log), and
a dataset's count of persons with PCs is published as "<T" when under T. With the algebra's floor
(5 persons for 4 PCs) "too_few_samples" narrowed that "<20" to 1..5 and any other outcome (a fit,
or another reason) to 6..19. With T, every dataset under T falls back for the one reason
``too_few_samples`` and every dataset of T or more is fitted: neither says more than "<T".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Literal

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from trd_spark.cohort.frame import standardise_pgs
from trd_spark.errors import InputDataError
from trd_spark.logs import person_count_text
from trd_spark.vocabulary import ANCESTRY_GROUPS, UNNAMED_ANCESTRY, FitFailure

log = logging.getLogger(__name__)

Method = Literal["overall", "ancestry", "pc_adjusted"]
# Relative step below which a variance fit switches from Fisher scoring to Newton-Raphson: a
# numerical-method constant (not a study setting), like statsmodels' own IRLS defaults.
NEWTON_SWITCH = 1e-2
_FIT_SCHEMA = T.StructType([
    T.StructField("group", T.StringType()),
    T.StructField("pgs_id", T.StringType()),
    T.StructField("n_rows", T.LongType()),
    T.StructField("n_samples", T.LongType()),
    T.StructField("failure", T.StringType()),
    T.StructField("mean", T.ArrayType(T.DoubleType())),
    T.StructField("log_var", T.ArrayType(T.DoubleType())),
    T.StructField("has_variance", T.BooleanType()),
    T.StructField("iterations", T.IntegerType()),
])


@dataclass
class PcAdjustment:
    """Fitted coefficients per score: ``mean[pgs]`` and ``log_var[pgs]`` are arrays
    ``[intercept, pc1, ..., pcN]``; ``log_var`` is None for a score with no residual variance.
    ``failed[pgs]``: why the score could not be fitted (it has no coefficients then).
    ``n_samples``: rows fitted (complete PCs); ``n_rows``: rows of the group, PCs missing or not."""

    pcs: list[str]
    mean: dict[str, np.ndarray] = field(default_factory=dict)
    log_var: dict[str, np.ndarray | None] = field(default_factory=dict)
    iterations: dict[str, int] = field(default_factory=dict)
    failed: dict[str, FitFailure] = field(default_factory=dict)
    n_samples: int = 0
    n_rows: int = 0


def _linear(coef: np.ndarray, pcs: Sequence[str]) -> Column:
    expr = F.lit(float(coef[0]))
    for b, pc in zip(coef[1:], pcs):
        expr = expr + F.lit(float(b)) * F.col(pc)
    return expr


def fit_floor(min_samples: int, n_pcs: int) -> int:
    """Fewest persons with PCs a dataset's PC fit needs: ``min_samples`` (the small-count
    threshold, see the module doc) or, when the PCs need more, ``n_pcs`` + 2 (one more row than
    the coefficients ``[intercept, pc1..pcN]``)."""
    return max(min_samples, n_pcs + 2)


def floor_set_by_pcs(min_samples: int, n_pcs: int) -> bool:
    """Whether the PCs + 2, not the small-count threshold ``min_samples``, set ``fit_floor``:
    then fewer PCs (``pgs.standardisation_n_pcs``) can get a dataset fitted that had too few
    persons with PCs; else no number of PCs can (under the threshold it is never fitted)."""
    return fit_floor(min_samples, n_pcs) > min_samples


def fallback_fix(too_few_only: bool, pcs_set_floor: bool) -> str:
    """The fix named for PC fits that fell back to the overall z-score, by the cohort log's
    WARNING (``_describe``, one dataset) and report.html's note
    (``report.stage.standardisation_fallback_note``, every dataset): one text, so the two
    cannot drift (568ff98 changed the note, 8d0fa73 the WARNING after it). ``too_few_only``:
    every fallback is ``too_few_samples``; ``pcs_set_floor``: ``floor_set_by_pcs``. Fewer PCs
    are named unless they cannot help: datasets under the small-count threshold only."""
    if too_few_only and not pcs_set_floor:
        return ("pgs.standardisation: overall; a dataset with fewer persons with genetic PCs than "
                "report.small_count_threshold is never fitted")
    return "lower pgs.standardisation_n_pcs, or pgs.standardisation: overall"


def fit_pc_arrays(pcs: np.ndarray, scores: dict[str, np.ndarray], pc_names: Sequence[str], *,
                  min_samples: int, max_iter: int = 100, tol: float = 1e-10) -> PcAdjustment:
    """Fit the mean (OLS) and variance (Gamma log-link GLM) models of every score on the PCs.

    ``pcs``: n x N array without missing values; ``scores``: pgs_id -> length-n array.
    ``min_samples``: the small-count threshold; fewer rows than ``fit_floor`` fail every score
    with ``TOO_FEW_SAMPLES`` whether or not the algebra could fit them (module doc: the
    published fallback may not bound a count under the threshold more finely than "<T").
    Convergence: max |change| of the variance coefficients < ``tol`` (relative to 1 + |coef|).
    Never raises for a fit: scores that cannot be fitted are in ``failed`` with their
    ``FitFailure``.
    """
    n = pcs.shape[0]
    x = np.column_stack([np.ones(n), pcs])
    p = x.shape[1]
    fit = PcAdjustment(pcs=list(pc_names), n_samples=n, n_rows=n)
    if n < fit_floor(min_samples, len(pc_names)):
        fit.failed = {s: FitFailure.TOO_FEW_SAMPLES for s in scores}
        return fit
    xtx = x.T @ x
    if np.linalg.matrix_rank(xtx) < p:
        fit.failed = {s: FitFailure.COLLINEAR_PCS for s in scores}
        return fit
    resid = {}
    for s, y in scores.items():
        if not np.all(np.isfinite(y)):
            # Scores are never null from the PGS stage; if one is, fitting it on fewer rows
            # than X'X describes would be wrong and NaN would null it silently.
            fit.failed[s] = FitFailure.MISSING_SCORES
            continue
        fit.mean[s] = np.linalg.solve(xtx, x.T @ y)
        r = y - x @ fit.mean[s]
        rss, tss = float(r @ r), float(y @ y)
        # Scores whose residuals are all (numerically) zero get no variance model -> null.
        if rss > 1e-24 * max(tss, 1.0):
            resid[s] = r * r
            fit.log_var[s] = np.r_[np.log(rss / n), np.zeros(p - 1)]
            fit.iterations[s] = 0
        else:
            fit.log_var[s] = None
    for s, r2 in resid.items():
        coef = fit.log_var[s]
        assert coef is not None  # scores with residuals have a variance model (set above)
        newton, converged = False, False
        with np.errstate(all="ignore"):
            for it in range(1, max_iter + 1):
                fit.iterations[s] = it
                ratio = r2 / np.exp(x @ coef)
                # Score X'(y/mu - 1); information X'X (Fisher) or X' diag(y/mu) X (Newton).
                info = (x.T * ratio) @ x if newton else xtx
                try:
                    new = coef + np.linalg.solve(info, x.T @ (ratio - 1.0))
                except np.linalg.LinAlgError:
                    new = np.full(p, np.nan)
                if not np.all(np.isfinite(new)):
                    fit.failed[s] = FitFailure.VARIANCE_DIVERGED
                    break
                step = np.max(np.abs(new - coef) / (1.0 + np.abs(new)))
                coef = new
                newton = newton or step < NEWTON_SWITCH
                if step < tol:
                    converged = True
                    break
        fit.log_var[s] = coef
        if not converged and s not in fit.failed:
            fit.failed[s] = FitFailure.VARIANCE_NOT_CONVERGED
    for s in fit.failed:
        fit.mean.pop(s, None)
        fit.log_var.pop(s, None)
    return fit


def fit_pc_adjustments(frame: DataFrame, pgs_ids: Sequence[str], pcs: Sequence[str], by: str,
                       groups: Sequence[str], *, min_samples: int, max_iter: int = 100,
                       tol: float = 1e-10) -> dict[str, PcAdjustment]:
    """``fit_pc_arrays`` for every group of ``by`` (a dataset) in ONE Spark action.

    ``frame``: ``by``, ``pcs`` and the ``pgs_ids`` columns (doubles). Rows with a missing PC
    are not fitted (counted: ``n_rows - n_samples``); a score missing for a person with PCs is
    not fitted either (``MISSING_SCORES``: it falls back to the overall z). ``groups``: the groups
    expected; one without rows gets every score failed with ``TOO_FEW_SAMPLES``, as one with fewer
    persons with PCs than ``fit_floor(min_samples, len(pcs))``. Returns group
    -> PcAdjustment. Never raises for a fit.
    """
    pgs_ids, pcs = list(pgs_ids), list(pcs)

    def fit_group(key: tuple, pdf: pd.DataFrame) -> pd.DataFrame:
        complete = pdf.dropna(subset=pcs)
        fit = fit_pc_arrays(complete[pcs].to_numpy(dtype=float),
                            {s: complete[s].to_numpy(dtype=float) for s in pgs_ids}, pcs, min_samples=min_samples,
                            max_iter=max_iter, tol=tol)
        rows = []
        for s in pgs_ids:
            log_var = fit.log_var.get(s)
            rows.append((key[0], s, len(pdf), fit.n_samples, fit.failed[s].value if s in fit.failed else None,
                         fit.mean[s].tolist() if s in fit.mean else None,
                         log_var.tolist() if log_var is not None else None,
                         s in fit.mean and log_var is not None, fit.iterations.get(s, 0)))
        return pd.DataFrame(rows, columns=_FIT_SCHEMA.names)

    got = (frame.select(F.col(by).alias("group"), *pcs, *pgs_ids).groupBy("group")
           .applyInPandas(fit_group, schema=_FIT_SCHEMA).collect())
    fits = {g: PcAdjustment(pcs=pcs, failed={s: FitFailure.TOO_FEW_SAMPLES for s in pgs_ids}) for g in groups}
    for row in got:
        fit = fits.setdefault(row["group"], PcAdjustment(pcs=pcs))
        fit.n_rows, fit.n_samples = row["n_rows"], row["n_samples"]
        s = row["pgs_id"]
        fit.iterations[s] = row["iterations"]
        if row["failure"] is not None:
            fit.failed[s] = FitFailure(row["failure"])
            continue
        fit.failed.pop(s, None)
        fit.mean[s] = np.array(row["mean"], dtype=float)
        fit.log_var[s] = np.array(row["log_var"], dtype=float) if row["has_variance"] else None
    return fits


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


def _describe(fit: PcAdjustment, pgs_ids: list[str], pcs: list[str], group: str, threshold: int, *,
              pcs_set_floor: bool = False) -> dict:
    """The manifest's description of one dataset's PC fit; WARNING for the scores that fell back.
    ``threshold``: ``fit_floor`` (a policy number, not a count), named for ``too_few_samples``:
    a bound every dataset under it shares. ``pcs_set_floor``: the PCs + 2, not the small-count
    threshold, set that floor (``fit_floor``), so fewer PCs can mend ``too_few_samples``; else the
    WARNING names only ``pgs.standardisation: overall`` for it, as report.html's note does
    (``report.stage.standardisation_fallback_note``)."""
    info = {
        "method": "pc_adjusted",
        "pcs": pcs,
        "mean_model": "OLS on PCs",
        "variance_model": "Gamma GLM (log link) of squared residuals on PCs",
        "n_fitted": fit.n_samples,
        "n_without_pcs": fit.n_rows - fit.n_samples,
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
        # too_few_samples says "fewer than <threshold> persons with PCs", true of every dataset under
        # it (so no finer than the published "<T"); fewer PCs cannot help it when T is the floor.
        few = (f" ({FitFailure.TOO_FEW_SAMPLES}: fewer than {threshold} persons with genetic PCs)"
               if FitFailure.TOO_FEW_SAMPLES in by_reason else "")
        # too_few_samples fails the whole dataset (no other reason beside it): under the threshold
        # it is never fitted, whatever the PCs.
        fix = fallback_fix(bool(few), pcs_set_floor)
        log.warning("dataset %s: PC-adjusted standardisation failed (%s): those scores use the "
                    "overall z-score instead%s (fix: %s)", group or "?",
                    "; ".join(f"{r}: {', '.join(ps)}" for r, ps in by_reason.items()), few, fix)
    return info


def small_ancestry_groups(sizes: dict[tuple[str, str], int], min_samples: int) -> dict[str, list[str]]:
    """Ancestry groups too small to be z-scored within: ``sizes`` maps (dataset, ancestry group)
    to its persons; returns dataset -> the groups (sorted) of fewer than ``min_samples``
    (``report.small_count_threshold``) persons, only datasets with one. Why the threshold, as
    pc_adjusted's ``fit_floor``: within a group of 2 every person reads +-0.71 whatever the
    scores, a group of 1 has no SD (a null PGS, its person dropped from every fit as missing),
    and a group's own mean and SD over a handful of persons are noise; with T the WARNING's
    "fewer than T persons" says no more than the published "<T"."""
    small: dict[str, list[str]] = {}
    for (dataset, group), n in sorted(sizes.items()):
        if n < min_samples:
            small.setdefault(dataset, []).append(group)
    return small


def named_ancestry_groups(names: Sequence[str]) -> list[str]:
    """How a log line or manifest names ancestry groups of fewer than T persons: the labels of
    ``vocabulary.ANCESTRY_GROUPS`` (any case) as given, any other label (a file of per-person labels, an ID
    as the label, would print it) as one ``UNNAMED_ANCESTRY`` at the end (README "Privacy")."""
    named = [a for a in names if str(a).lower() in ANCESTRY_GROUPS]  # any case: 1000 Genomes' AFR, EUR
    return named + ([UNNAMED_ANCESTRY] if len(named) < len(names) else [])


def standardise_ancestry_groups(frame: DataFrame, pgs_ids: list[str], by: str, groups: Sequence[str], *,
                                min_samples: int) -> tuple[DataFrame, dict[str, dict]]:
    """``pgs.standardisation: ancestry``: the z-score within each (``by``, ``ancestry``) group of
    ``frame`` (no null ``ancestry``), except a group of fewer than ``min_samples`` persons
    (``small_ancestry_groups``), whose persons take the dataset's overall z (mean and SD over
    every person of the dataset), as a PC fit under the threshold falls back to it (one Spark
    action counts the groups). Returns (frame, per dataset of ``groups`` its manifest
    description: ``small_groups``, the groups that fell back, and ``small_group_persons``, their
    persons as ``logs.person_count_text``); one WARNING per dataset with such groups, naming them.
    Only labels of ``vocabulary.ANCESTRY_GROUPS`` are named (here, in the manifest and the WARNING):
    any other label of such a group is said as ``UNNAMED_ANCESTRY`` (a file of per-person labels, an ID
    as the label, would print the ID; README "Privacy")."""
    sizes = {(r[by], r["ancestry"]): int(r["count"])
             for r in frame.groupBy(by, "ancestry").count().collect()}
    small = small_ancestry_groups(sizes, min_samples)
    info: dict[str, dict] = {g: {"method": "ancestry", "groups": "ancestry"} for g in groups}
    if not small:
        return standardise_pgs(frame, pgs_ids, [by, "ancestry"]), info
    threshold = min_samples
    for g, names in small.items():
        n = sum(sizes[(g, a)] for a in names)
        said = named_ancestry_groups(names)
        info.setdefault(g, {"method": "ancestry", "groups": "ancestry"}).update(
            small_groups=said, small_group_persons=person_count_text(n, threshold))
        # The groups' persons as a label (0, <T, T+), never the count: the log is pasted into tickets.
        log.warning("dataset %s: ancestry group(s) %s of fewer than %d persons each (%s person(s)) take the "
                    "dataset's overall z-score, not one within their group (pgs.standardisation: ancestry; "
                    "fix: pgs.standardisation: pc_adjusted or overall)", g or "?", ", ".join(said), threshold,
                    person_count_text(n, threshold))
    in_small = reduce(lambda a, b: a | b, [(F.col(by) == g) & (F.col("ancestry") == a)
                                            for g, names in small.items() for a in names])
    within = standardise_pgs(frame.where(~in_small), pgs_ids, [by, "ancestry"])
    overall = standardise_pgs(frame, pgs_ids, [by]).where(in_small)
    return within.unionByName(overall), info


def standardise_datasets(
    frame: DataFrame, pgs_ids: Sequence[str], method: Method, by: str, groups: Sequence[str], *,
    min_samples: int, pcs: Sequence[str] = (),
) -> tuple[DataFrame, dict[str, dict]]:
    """PGS per SD by ``method`` (see module doc) within each group of ``by`` (a dataset).

    Returns the frame (same columns, score columns replaced; pc_adjusted: persons without PCs
    dropped, counted in ``n_without_pcs``; ancestry: persons with a null ``ancestry`` dropped,
    counted by the cohort stage's ``dataset_counts``) and per group of ``groups`` a JSON-able description
    of what was done, for the stage manifest: with pc_adjusted, ``fallback`` maps each score
    that fell back to the overall z to its ``FitFailure`` value (one WARNING per dataset names
    them); a group with fewer persons with PCs than ``fit_floor(min_samples, len(pcs))``
    (``min_samples``: ``report.small_count_threshold``) falls back with ``too_few_samples``.
    pc_adjusted fits every group in one Spark action. ancestry: an ancestry group of fewer than
    ``min_samples`` persons takes the dataset's overall z (``standardise_ancestry_groups``).
    Raises InputDataError for a missing column (a config / input fault, not a fit)."""
    pgs_ids = list(pgs_ids)
    if method == "overall":
        return standardise_pgs(frame, pgs_ids, [by]), {g: {"method": method} for g in groups}
    if method == "ancestry":
        if "ancestry" not in frame.columns:
            raise InputDataError("standardisation by ancestry needs an ancestry column", where="pgs.standardisation")
        # A null ancestry (an empty ancestry_pred) is no group: those persons are left out, as
        # persons without PCs are under pc_adjusted (the cohort stage counts them: dataset_counts).
        return standardise_ancestry_groups(frame.where(F.col("ancestry").isNotNull()), pgs_ids, by, groups,
                                           min_samples=min_samples)
    if method == "pc_adjusted":
        missing = [p for p in pcs if p not in frame.columns]
        if not pcs or missing:
            raise InputDataError(f"PC adjustment needs PC columns (missing {missing or 'all'})",
                                 where="pgs.standardisation")
        fits = fit_pc_adjustments(frame, pgs_ids, pcs, by, groups, min_samples=min_samples)
        # Scores are never null (one pass scores everyone); persons without PCs cannot be adjusted.
        complete = frame.dropna(subset=list(pcs))
        parts = [apply_pc_adjustment(complete.where(F.col(by) == g), fits[g]) for g in groups]
        threshold = fit_floor(min_samples, len(pcs))
        info = {g: _describe(fits[g], pgs_ids, list(pcs), g, threshold,
                             pcs_set_floor=floor_set_by_pcs(min_samples, len(pcs)))
                for g in groups}
        return reduce(DataFrame.unionByName, parts), info
    raise InputDataError(f"unknown standardisation {method!r}", where="pgs.standardisation")


# A polygenic score sums many small effects and is close to normal: among All of Us' ~300k persons
# the largest |z| of a normal sample is about 5, and P(|z| > 10) is about 1.5e-23 per person. A
# value beyond this bound is no tail of the score but a sample or a score gone wrong (a sample
# with broken genotypes; a score driven by one rare variant of large weight, whose few carriers
# sit far out): the SD is inflated by those persons, and every per-SD estimate (OR, HR) of the
# score leans on them (one person of 100,000 at 200 SD took a simulated OR per SD of 1.12 to
# 1.08). A sanity bound of the method (like NEWTON_SWITCH), not a study setting.
BEYOND_SD = 10.0


def persons_beyond_sd(frame: DataFrame, pgs_ids: Sequence[str], bound: float = BEYOND_SD) -> dict[str, dict[str, int]]:
    """Persons with a PGS per SD beyond +-``bound``, per dataset and score, in ONE Spark job.

    ``frame``: ``dataset``, ``person_id``, one PGS-per-SD column per pgs_id: the standardisation's
    output (``standardise_datasets``: the persons the mean and SD were fitted on, one row each; the
    cohort stage's input) or an analysis frame (one row per definition, the same PGS in each: the
    persons are de-duplicated). Returns dataset -> {pgs_id:
    persons (distinct) beyond the bound}, only datasets and scores with at least one; a null
    PGS is not beyond. Only the rows beyond the bound are de-duplicated and counted (few or none),
    so the job is one scan of the frame."""
    pgs_ids = list(pgs_ids)
    if not pgs_ids:
        return {}
    beyond = {c: F.coalesce(F.abs(F.col(c)) > bound, F.lit(False)) for c in pgs_ids}
    rows = (frame.where(reduce(lambda a, b: a | b, beyond.values()))
            .select("dataset", "person_id", *[beyond[c].cast("long").alias(f"__{i}") for i, c in enumerate(pgs_ids)])
            .dropDuplicates(["dataset", "person_id"])
            .groupBy("dataset").agg(*[F.sum(f"__{i}").alias(f"__{i}") for i in range(len(pgs_ids))])
            .collect())
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        counts = {c: int(r[f"__{i}"]) for i, c in enumerate(pgs_ids) if r[f"__{i}"]}
        if counts:
            out[r["dataset"]] = counts
    return out
