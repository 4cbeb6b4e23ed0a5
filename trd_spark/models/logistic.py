"""Logistic regression of case status on one PGS (per SD), adjusted for age, sex and PCs.

One fit = one (dataset, definition, contrast, pgs_id) group. ``fit_logistic`` is pure and
works on a pandas frame; ``logistic_task`` (all PGS of one dataset x definition x contrast) is
the unit both the serial ``logistic_grid`` and the Spark ``applyInPandas`` version
(models/distributed.py) call, so the two give the same rows. A fit that cannot
be made (too few cases, separation, no convergence, singular design) is a row with
``converged=False`` and the reason in ``note``; it never raises.

Notes never contain counts (a count below the small-cell threshold must not leave the
workbench through a free-text field).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)

from trd_spark.config import Config, ScoredTrait
from trd_spark.errors import ModelError
from trd_spark.models.covariates import (
    AGE_COLUMNS,
    COX_DURATION,
    COX_EVENT,
    SEX,
    age_columns_missing,
    check_age_ranges,
    check_status_values,
    covariate_columns,
    join_notes,
    one_blas_thread,
    prefit_check,
    status_value_counts,
)
from trd_spark.models.multiple_testing import CORRECTION_FAMILIES, adjust_within_families
from trd_spark.schemas import LOGISTIC_RESULTS_COLUMNS
from trd_spark.vocabulary import ANALYSED_STATUSES, CONTRAST_STATUSES, ModelFailure

log = logging.getLogger(__name__)

OUTCOME = "case"
FAMILY = CORRECTION_FAMILIES["logistic"]
# The two-sided 95% normal quantile of every Wald CI in the models stage (logistic, meta, KM).
Z95 = float(stats.norm.ppf(0.975))
_MAXITER = 100
# Fitted probabilities this close to the observed 0/1 outcome count as separated.
_SEPARATION_TOL = 1e-6


# A fit's note when its ratio or a CI bound is not a positive finite double (``ratio_and_ci``).
RATIO_OUT_OF_RANGE_NOTE = ("ratio or its 95% CI beyond double precision: exp(beta +/- 1.96 se) is infinite or 0 "
                           "(a huge standard error: a near-constant PGS or near-separation); estimates withheld")


def ratio_in_range(*values: float) -> bool:
    """True when every value (a ratio exp(beta) or a CI bound) is a positive finite double."""
    v = np.asarray(values, dtype=float)
    return bool(np.all(np.isfinite(v) & (v > 0)))


def ratio_and_ci(beta: float, se: float) -> tuple[float, float, float] | None:
    """(exp(beta), exp(beta - Z95 se), exp(beta + Z95 se)): the odds / hazard ratio and its Wald
    95% CI; None when one of them is not a positive finite double (exp overflows to inf above
    ~709.78 and underflows to 0 below ~-745: |beta| + 1.96 se that large is a huge standard
    error, e.g. a PGS nearly constant among the fit's persons). statsmodels, lifelines and R's
    broom print such a bound as inf / Inf or 0; here the fit is a failed row
    (``ModelFailure.RATIO_OUT_OF_RANGE``), its estimates withheld, never a number."""
    with np.errstate(over="ignore", under="ignore"):
        out = (float(np.exp(beta)), float(np.exp(beta - Z95 * se)), float(np.exp(beta + Z95 * se)))
    return out if ratio_in_range(*out) else None


def contrast_frame(frame: pd.DataFrame, contrast: str) -> pd.DataFrame:
    """Rows of ``frame`` in the contrast, with ``case`` = 1 (cases) / 0 (controls).

    ``frame`` needs a ``status`` column (TRD | trMDD | MDD_other | non_MDD).
    """
    if contrast not in CONTRAST_STATUSES:
        raise ModelError(f"unknown contrast {contrast!r} (known: {sorted(CONTRAST_STATUSES)})",
                         where="models.contrasts")
    cases, controls = CONTRAST_STATUSES[contrast]
    sub = frame[frame["status"].isin(cases + controls)].copy()
    sub[OUTCOME] = sub["status"].isin(cases).astype(int)
    return sub


def _failed(n: int, n_cases: int, reason: ModelFailure, note: str) -> dict:
    # failure_reason as plain str: the rows go to Spark (an enum object cannot travel).
    return {
        "n": int(n), "n_cases": int(n_cases), "beta": np.nan, "se": np.nan, "odds_ratio": np.nan,
        "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "converged": False, "failure_reason": str(reason),
        "note": note,
    }


def _separation(y: np.ndarray, fitted: np.ndarray) -> tuple[ModelFailure, str] | None:
    """The kind of separation shown by the fitted probabilities, if any, and its note.

    When the linear predictor classifies every person correctly the MLE does not exist
    (complete separation); fitted probabilities of exactly 0/1 for some persons only mean
    quasi-complete separation.
    """
    if ((fitted > 0.5) == (y > 0.5)).all():
        return ModelFailure.PERFECT_SEPARATION, "perfect separation (the predictors classify every person exactly)"
    if (np.abs(y - fitted) < _SEPARATION_TOL).any():
        return ModelFailure.QUASI_SEPARATION, "quasi-complete separation (some persons classified exactly)"
    return None


def fit_logistic(
    frame: pd.DataFrame,
    pgs_col: str,
    covariates: list[str],
    *,
    outcome: str = OUTCOME,
    min_cases: int = 5,
) -> dict:
    """Fit ``outcome ~ 1 + pgs + covariates`` by maximum likelihood (statsmodels ``Logit``).

    ``frame``: one row per person of one (dataset, definition, contrast) with a 0/1
    ``outcome``, the PGS (per SD) and the covariates. Persons with a missing value in any
    of them are left out (complete cases). A covariate constant in the remaining rows is
    dropped and named in ``note``. Returns ``n``, ``n_cases``, ``beta`` (log-odds per SD),
    ``se``, ``odds_ratio``, Wald 95% ``ci_low``/``ci_high`` (exp scale), Wald ``p``,
    ``converged``, ``failure_reason`` (a ``vocabulary.ModelFailure`` value, None when the fit
    converged) and ``note``; estimates are NaN when ``converged`` is False. The checks before
    the fit are ``covariates.prefit_check`` (shared with Cox); a fit that cannot be made is a
    failed row, never an error. Raises ModelError for columns missing from ``frame`` or an
    outcome that is not 0/1 (faults of the analysis frame, not of a fit).
    """
    missing = [c for c in (outcome, *covariates) if c not in frame.columns]
    if missing:
        raise ModelError(f"columns {missing} are not in the model frame", where="fit_logistic")
    check = prefit_check(frame, pgs_col, covariates, outcome=outcome, min_cases=min_cases, where="fit_logistic")
    notes, n, n_cases = check.notes, check.n, check.n_cases
    if check.failure is not None:
        return _failed(n, n_cases, check.failure, join_notes(*notes, check.failure_note))
    y = check.data[outcome].to_numpy()
    # ``check.data`` can be fewer rows than ``n``: a 0/1 covariate without a case or a control at
    # one value is fitted at its limit, among the persons at its other value (``empty_cell``).
    x = np.column_stack([np.ones(len(y)), check.data[[pgs_col, *check.covariates]].to_numpy()])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = sm.Logit(y, x).fit(method="newton", maxiter=_MAXITER, disp=0)
        except np.linalg.LinAlgError:
            return _failed(n, n_cases, ModelFailure.SINGULAR_INFORMATION,
                           join_notes(*notes, "singular information matrix"))
        except PerfectSeparationError:
            return _failed(n, n_cases, ModelFailure.PERFECT_SEPARATION, join_notes(*notes, "perfect separation"))
        separation = _separation(y, res.predict(x))
    separation_warned = any(issubclass(w.category, PerfectSeparationWarning) for w in caught)
    converged = bool(res.mle_retvals.get("converged", False))
    converged = converged and not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    if separation_warned or (separation and separation[0] is ModelFailure.PERFECT_SEPARATION):
        reason, note = separation or (ModelFailure.PERFECT_SEPARATION, "perfect separation")
        return _failed(n, n_cases, reason, join_notes(*notes, note))
    if not converged:
        # Quasi-complete separation is the usual reason a logistic fit does not converge.
        reason, note = separation or (ModelFailure.NOT_CONVERGED, f"did not converge in {_MAXITER} Newton iterations")
        return _failed(n, n_cases, reason, join_notes(*notes, note))

    beta, se, p = float(res.params[1]), float(res.bse[1]), float(res.pvalues[1])
    if not (np.isfinite(beta) and np.isfinite(se) and se > 0 and np.isfinite(p)):
        return _failed(n, n_cases, ModelFailure.NON_FINITE_ESTIMATE,
                       join_notes(*notes, "non-finite estimate, standard error or p"))
    ratio = ratio_and_ci(beta, se)
    if ratio is None:
        return _failed(n, n_cases, ModelFailure.RATIO_OUT_OF_RANGE, join_notes(*notes, RATIO_OUT_OF_RANGE_NOTE))
    return {
        "n": n, "n_cases": n_cases, "beta": beta, "se": se, "odds_ratio": ratio[0],
        "ci_low": ratio[1], "ci_high": ratio[2],
        "p": p, "converged": True, "failure_reason": None, "note": join_notes(*notes),
    }


def in_person_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by ``person_id`` so a fit sees the same row order on the driver and on an
    executor (floating-point sums depend on order; serial and distributed must agree)."""
    if "person_id" not in frame.columns:
        return frame
    return frame.sort_values("person_id", kind="mergesort", ignore_index=True)


def logistic_task(
    frame: pd.DataFrame,
    contrast: str,
    *,
    panel: Iterable[ScoredTrait],
    covariates: list[str],
    min_cases: int,
) -> pd.DataFrame:
    """All PGS fits for one (dataset, definition, contrast): the unit of distributed work.

    ``frame``: the analysis-frame rows of one (dataset, definition) (other statuses than the
    contrast's are dropped here). Returns LOGISTIC_RESULTS_COLUMNS with ``p_bonferroni`` and
    ``q_fdr`` NaN (they are computed across the family afterwards).
    """
    dataset, definition = frame["dataset"].iloc[0], frame["definition"].iloc[0]
    sub = contrast_frame(in_person_order(frame), contrast)
    with one_blas_thread():
        rows = [
            {
                "dataset": dataset, "definition": definition, "contrast": contrast,
                "pgs_id": entry.pgs_id, "trait": entry.trait, "domain": entry.domain,
                "p_bonferroni": np.nan, "q_fdr": np.nan,
                **fit_logistic(sub, entry.pgs_id, covariates, min_cases=min_cases),
            }
            for entry in panel
        ]
    return pd.DataFrame(rows, columns=LOGISTIC_RESULTS_COLUMNS)


def logistic_group(
    frame: pd.DataFrame,
    *,
    contrasts: Iterable[str],
    panel: Iterable[ScoredTrait],
    covariates: list[str],
    min_cases: int,
) -> pd.DataFrame:
    """All fits for one (dataset, definition) slice: ``logistic_task`` per contrast, stacked."""
    panel = list(panel)
    parts = [logistic_task(frame, c, panel=panel, covariates=covariates, min_cases=min_cases) for c in contrasts]
    return pd.concat(parts, ignore_index=True)


def model_panel(cfg: Config) -> list[ScoredTrait]:
    """Trait-panel entries that name a score (entries still to curate have no pgs_id)."""
    panel = [e for e in (cfg.trait_panel.scores if cfg.trait_panel else []) if e.pgs_id]
    if not panel:
        raise ModelError("the trait panel has no scores", where="pgs.trait_panel")
    return panel


def finish_order(results: pd.DataFrame, cfg: Config, keys: list[str]) -> pd.DataFrame:
    """Rows in the grid's canonical order: dataset, definition sorted; contrast and pgs_id in
    config/panel order (the serial loop's order, so serial and distributed results compare)."""
    rank: dict[str, dict[str, int]] = {
        "contrast": {c: i for i, c in enumerate(cfg.models.contrasts)},
        "pgs_id": {e.pgs_id: i for i, e in enumerate(model_panel(cfg))},
    }
    sort = results.assign(**{
        f"__{k}": results[k].map(rank[k]) if k in rank else results[k] for k in keys
    })
    return sort.sort_values([f"__{k}" for k in keys], kind="mergesort").drop(
        columns=[f"__{k}" for k in keys]).reset_index(drop=True)


def check_analysis_frame(frame: pd.DataFrame, covariates: list[str], extra: Iterable[str] = ()) -> None:
    """Raise ModelError when the analysis frame lacks a column every model needs, holds an
    unknown status, an age covariate outside its plausible range, or a sex or (Cox) outcome value
    the cohort and phenotype stages never make (``check_analysis_columns``). A person in two
    datasets or on two rows of one definition is the models stage's check
    (``stage.check_one_row_per_person``): the serial grids also fit pooled simulations whose
    datasets reuse person ids."""
    ages = {c: (_number(frame[c].min()), _number(frame[c].max())) for c in covariates if c in AGE_COLUMNS and c in frame}
    check_analysis_columns(frame.columns, frame["status"].dropna().unique() if "status" in frame else [],
                           covariates, extra, age_ranges=ages, age_missing=age_columns_missing(frame, ages),
                           status_counts=status_value_counts(frame) if "status" in frame else {})


def _number(v) -> float | None:
    """A pandas min/max as a float; None for no value (an empty or all-null column)."""
    return None if pd.isna(v) else float(v)


def check_analysis_columns(
    columns: Iterable[str], statuses: Iterable[str], covariates: list[str], extra: Iterable[str] = (),
    *, age_ranges: dict[str, tuple[float | None, float | None]] | None = None, age_missing: Iterable[str] = (),
    status_counts: dict[str, dict[str, int]] | None = None,
) -> None:
    """``check_analysis_frame`` on the column names, distinct statuses and (``age_ranges``:
    column -> (min, max) over the frame) the age covariates' ranges (``covariates.
    check_age_ranges``; ``age_missing``: the age columns a person needing them lacks,
    ``covariates.age_columns_missing``); ``status_counts`` (``covariates.status_value_counts``):
    the sex covariate's values when it is one, and the Cox outcome's when ``extra`` names both of
    its columns (``covariates.check_status_values``); pandas or Spark."""
    columns = set(columns)
    need = ["dataset", "definition", "status", *covariates, *extra]
    missing = [c for c in need if c not in columns]
    if missing:
        raise ModelError(f"analysis frame is missing columns {missing}", where="cohort/analysis_frame")
    unknown = sorted(set(statuses) - set(ANALYSED_STATUSES))
    if unknown:
        raise ModelError(f"unknown status values {unknown}", where="cohort/analysis_frame.status")
    check_age_ranges(age_ranges or {}, age_missing)
    extra = set(extra)
    check_status_values(status_counts or {}, sex=SEX in covariates, cox={COX_DURATION, COX_EVENT} <= extra)


def logistic_grid(frame: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Every (dataset, definition, contrast, pgs_id) fit, with Bonferroni and BH corrections.

    ``frame``: the analysis frame (ANALYSIS_FRAME_FIXED + pc1..pcK + one column per pgs_id).
    Corrections are within each family (dataset, definition, contrast) across the PGS
    panel; failed fits are not counted as tests. Columns: LOGISTIC_RESULTS_COLUMNS.
    """
    covariates = covariate_columns(cfg)
    check_analysis_frame(frame, covariates)
    panel = model_panel(cfg)
    warn_absent(panel, frame.columns)
    parts = [
        logistic_group(g, contrasts=cfg.models.contrasts, panel=panel, covariates=covariates,
                       min_cases=cfg.models.min_cases)
        for _, g in frame.groupby(["dataset", "definition"], sort=True)
    ]
    if not parts:
        return pd.DataFrame(columns=LOGISTIC_RESULTS_COLUMNS)
    return finish_logistic(pd.concat(parts, ignore_index=True), cfg)


def warn_absent(panel: list[ScoredTrait], columns: Iterable[str]) -> None:
    """Log the panel scores missing from the analysis frame (their fits are failed rows)."""
    columns = set(columns)
    absent = [e.pgs_id for e in panel if e.pgs_id not in columns]
    if absent:
        log.warning("PGS in the trait panel but not in the analysis frame (failed rows): %s", absent)


def finish_logistic(results: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Family-wise corrections added, columns and rows in canonical order."""
    results = adjust_within_families(results, FAMILY)
    return finish_order(results[LOGISTIC_RESULTS_COLUMNS], cfg, [*FAMILY, "pgs_id"])
