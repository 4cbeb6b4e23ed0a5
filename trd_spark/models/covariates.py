"""Which adjustment covariates a model uses, and the checks made on them before fitting."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from trd_spark.config import Config
from trd_spark.errors import ModelError
from trd_spark.vocabulary import MAX_PLAUSIBLE_AGE_YEARS, MDD_STATUSES, ModelFailure, Status


def pc_columns(n_pcs: int) -> list[str]:
    """``pc1``..``pcK`` as named in the analysis frame."""
    return [f"pc{i}" for i in range(1, n_pcs + 1)]


# The Cox models' age: age at their time origin, the MDD index. Age at the end of follow-up
# (the logistic models' ``age``) is index age plus the follow-up time itself, so as a Cox
# covariate it would be a function of the outcome time (a baseline covariate must be known at
# time zero; lifelines' and every survival text's convention).
COX_AGE = "age_at_index"
# The analysis frame's age columns (years): the logistic models' ``age``, the Cox models' COX_AGE.
AGE_COLUMNS = ("age", COX_AGE)


def covariate_columns(cfg: Config, *, age: str = "age") -> list[str]:
    """Adjustment covariates from ``cfg.covariates``: the age column ``age`` (``"age"`` for the
    logistic models, ``COX_AGE`` for the Cox models), sex_female, pc1..pcK (in that order)."""
    cov = cfg.covariates
    return [*([age] if cov.age else []), *(["sex_female"] if cov.sex else []), *pc_columns(cov.n_pcs)]


def check_age_ranges(ranges: dict[str, tuple[float | None, float | None]], missing: Iterable[str] = ()) -> None:
    """Raise ModelError naming the analysis frame's column when an age column's (min, max) over
    the frame (``ranges``: column -> (min, max) in years, None for no value) leaves
    0 .. ``vocabulary.MAX_PLAUSIBLE_AGE_YEARS``. The phenotype stage excludes the persons a year of
    birth gives such an age (``implausible_year_of_birth``), so one here is a frame built from
    phenotypes made otherwise (an older release): a negative or 200-year age covariate would be
    fitted without a word (the models' pre-fit checks: ``logistic.check_analysis_columns``).
    ``missing``: the age columns some person who needs them has no value of (null or NaN: ``age`` any
    analysed person, ``COX_AGE`` a person of an MDD status, ``age_columns_missing``): raised the same
    way, after the ranges, as every fit would leave such a person out with no count, noted only
    (``MISSING_VALUES_NOTE``; session 51)."""
    for col, (low, high) in ranges.items():
        if (low is not None and low < 0) or (high is not None and high > MAX_PLAUSIBLE_AGE_YEARS):
            raise ModelError(f"age outside 0..{MAX_PLAUSIBLE_AGE_YEARS} years: persons with an implausible year of "
                             "birth reached the analysis frame (the phenotype stage excludes them as "
                             "implausible_year_of_birth: run it and the cohort stage again)",
                             where=f"cohort/analysis_frame.{col}")
    for col in missing:
        raise ModelError("persons without a value of the age covariate reached the analysis frame (the phenotype "
                         "stage excludes a person without a usable age, implausible_year_of_birth, and the cohort "
                         "stage refuses one: run both again)", where=f"cohort/analysis_frame.{col}")


def age_columns_missing(frame: pd.DataFrame, ages: Iterable[str]) -> list[str]:
    """The age columns of ``ages`` (``AGE_COLUMNS``) in ``frame`` (the analysis frame, pandas) that a
    person needing them lacks (null, NaN or not a number): ``age`` any row, ``COX_AGE`` a row of an MDD
    status (TRD, trMDD, MDD_other; non-MDD persons have no index by design)."""
    out = []
    for c in ages:
        rows = frame[frame["status"].isin(MDD_STATUSES)] if c == COX_AGE and "status" in frame else frame
        if pd.to_numeric(rows[c], errors="coerce").isna().any():
            out.append(c)
    return out


# The analysis frame's sex covariate and the Cox outcome columns (``cox.DURATION`` / ``cox.EVENT``).
SEX = "sex_female"
COX_DURATION = "time_to_trd_days"
COX_EVENT = "trd_event"
# Per status, the rows whose value meets the cohort and phenotype stages' rules (``status_value_counts``,
# ``check_status_values``): ``n`` rows; ``sex_ok`` SEX 0 or 1; ``duration_ok`` COX_DURATION a number >= 0;
# ``event_1`` / ``event_0`` COX_EVENT 1 / 0.
STATUS_VALUE_COUNTS = ("n", "sex_ok", "duration_ok", "event_1", "event_0")


def status_value_counts(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``frame`` (the analysis frame, pandas): status -> STATUS_VALUE_COUNTS (a column absent from
    ``frame`` counts no row as meeting its rule). The Spark twin is ``distributed._model_columns``'
    one aggregation per status; the rules are ``check_status_values``'."""
    def number(col: str) -> pd.Series:
        return pd.to_numeric(frame[col], errors="coerce") if col in frame else pd.Series(np.nan, index=frame.index)

    sex, duration, event = number(SEX), number(COX_DURATION), number(COX_EVENT)
    flags = pd.DataFrame({"n": True, "sex_ok": sex.isin((0, 1)), "duration_ok": np.isfinite(duration) & (duration >= 0),
                          "event_1": event == 1, "event_0": event == 0}, index=frame.index)
    sums = flags.astype(int).groupby(frame["status"].to_numpy(), dropna=True).sum()
    return {str(s): {str(k): int(v) for k, v in row.items()} for s, row in sums.iterrows()}


def check_status_values(counts: dict[str, dict[str, int]], *, sex: bool, cox: bool) -> None:
    """Raise ModelError naming the analysis frame's column when its values break the rules the
    cohort and phenotype stages make (``counts``: ``status_value_counts`` or its Spark twin):

    - ``sex`` (``sex_female`` a covariate): every analysed person's SEX is 0 or 1 (the cohort stage
      codes female 1, male 0 and leaves other sexes out: ``cohort.frame.derive_analysis_frame``);
      a null was left out of every fit as a missing value, noted only, and a 2 fitted as a number;
    - ``cox``: every MDD person (TRD, trMDD, MDD_other) has a COX_DURATION of 0 or more days
      (``phenotypes.trd``: onset or censoring minus the MDD index, at least 1) and a COX_EVENT of 0
      or 1 when TRD, 0 otherwise (the same rule makes both). A null or negative time was left out of
      every Cox fit, noted only ("persons with a negative time_to_trd_days left out"), and a trMDD
      person with the event 1 was an event in the Cox model but a control in the logistic models.
      A TRD person's 0 is the design since session 53: an onset after the end of the Cox time at
      risk (``phenotypes.cox_time_at_risk: index_period``, the index's observation period followed
      by a gap) is censored there, the person still a case of the logistic models (counted in the
      phenotype stage's ``notes.cox_time_at_risk``).
    Such a frame was built otherwise (an older release's phenotypes, a hand-made frame): run the
    phenotype and cohort stages again. No count in the message (session 52 models)."""
    def bad(key: str, statuses: Iterable[str]) -> bool:
        return any(c[key] < c["n"] for s, c in counts.items() if s in statuses)

    if sex and bad("sex_ok", counts):
        raise ModelError(f"{SEX} must be 0 or 1 for every analysed person (the cohort stage codes female 1, male 0 "
                         "and leaves other sexes out): a null or other value reached the analysis frame (run the "
                         "cohort stage again)", where=f"cohort/analysis_frame.{SEX}")
    if not cox:
        return
    if bad("duration_ok", MDD_STATUSES):
        raise ModelError(f"an MDD person without a {COX_DURATION} of 0 or more days (null, NaN or negative) reached "
                         "the analysis frame (the phenotype stage gives every MDD person one of at least 1: run the "
                         "phenotype and cohort stages again)", where=f"cohort/analysis_frame.{COX_DURATION}")
    trd = [s for s in MDD_STATUSES if s == Status.TRD]
    trd_not_0_or_1 = any(c["event_1"] + c["event_0"] < c["n"] for s, c in counts.items() if s in trd)
    if trd_not_0_or_1 or bad("event_0", [s for s in MDD_STATUSES if s not in trd]):
        raise ModelError(f"{COX_EVENT} must be 0 or 1 for every TRD person (0: the onset falls after the end of "
                         "the Cox time at risk) and 0 for every trMDD and MDD_other person (the phenotype stage's "
                         "rule; else the Cox and logistic models would count one person differently): run the "
                         "phenotype and cohort stages again", where=f"cohort/analysis_frame.{COX_EVENT}")


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


# The notes of a fit that left persons out (``prefit_check``). Each tells that at least one person
# of the model's status groups is not in its N, which the report's audit takes as at least 0 (a
# count of persons lacking data): the export leaves them out (``report.tables.exported_note``).
MISSING_VALUES_NOTE = "persons with missing values left out"
# The words of a fit's note when it was fitted at its limit (``empty_cell``): the results built
# on it (a TRD vs trMDD difference, a replication row) say so by them.
LIMIT_NOTE = "the PGS estimated among"
NEGATIVE_DURATION_NOTE = "persons with a negative {duration} left out"
# The note of covariates dropped because no person of the fit has a value of them (``prefit_check``).
EMPTY_COVARIATE_NOTE = "dropped covariate(s) without a value for any person"


def _finite(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Per row of ``frame``: True when every one of ``columns`` holds a finite number."""
    return np.isfinite(frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)).all(axis=1)


def join_notes(*notes: str | None) -> str:
    """One ``; ``-separated note from the non-empty parts ("" when there is nothing to say)."""
    return "; ".join(n for n in notes if n)


def cox_monotone_direction(duration: np.ndarray, event: np.ndarray, x: np.ndarray) -> str | None:
    """Whether the Cox partial likelihood of predictor ``x`` is monotone (Heinze & Schemper 2001,
    Stat Med 20:3641; R's ``coxph`` warns "Loglik converged before variable ...; coefficient may
    be infinite"): "lowest" when at every event time each person with the event has the lowest
    ``x`` of those at risk then (duration >= the event's), "highest" for the highest, else None.

    Then the partial likelihood's slope in that coefficient never changes sign (for any values of
    the other coefficients, the score is a sum of x_event - mean of x over the risk set, all of
    one sign), so its maximum lies at -inf / +inf: the MLE does not exist (the Cox analogue of
    separation; ties at that extreme included). lifelines stops on its Newton decrement with a
    finite coefficient, a standard error in the hundreds and no warning. The real shape: a score
    that is its minimum for most persons (few matched or rare variants) with no event among the
    others. ``duration``, ``event`` (0/1), ``x``: one float per person, no missing value."""
    is_event = event == 1
    if not is_event.any():
        return None
    by_time = pd.DataFrame({"t": duration, "x": x}).groupby("t")["x"].agg(["min", "max"]).sort_index(ascending=False)
    # The risk set at t is everyone with duration >= t: running extremes from the longest duration down.
    low = by_time["min"].cummin().reindex(duration[is_event]).to_numpy()
    high = by_time["max"].cummax().reindex(duration[is_event]).to_numpy()
    if (x[is_event] <= low).all():
        return "lowest"
    if (x[is_event] >= high).all():
        return "highest"
    return None


def empty_cell(data: pd.DataFrame, covariates: list[str], outcome: str, *, cox: bool) -> tuple[str, float, str] | None:
    """The first 0/1 covariate (in practice sex) with no case, no control (logistic) or no event
    (Cox, ``cox``) at one value while its other value has both cases and controls (events):
    (column, the value without them, "case" | "control" | "event"); None when there is none.

    Such a covariate's MLE is infinite (quasi-complete separation; Cox: a monotone partial
    likelihood): statsmodels and lifelines then fail or stop on a coefficient that runs off.
    The other coefficients still have an MLE: as that coefficient goes to -inf / +inf, the
    persons at the empty value get a fitted probability of exactly their outcome (Cox: a
    relative hazard of 0, leaving every risk set), so their terms of the (partial)
    log-likelihood rise to 0 and the profile likelihood of the others is the fit among the
    persons at the other value, without the covariate (constant there). That fit is the
    estimate (Stata's ``logit`` does the same: "sex != 0 predicts failure perfectly; sex
    dropped and N obs not used"). ``data``: float columns, complete cases; ``outcome`` 0/1."""
    y = data[outcome].to_numpy()
    for col in covariates:
        x = data[col].to_numpy()
        if set(np.unique(x)) != {0.0, 1.0}:
            continue
        for v in (0.0, 1.0):
            at_v, at_w = y[x == v], y[x != v]
            has_both_at_w = bool(at_w.any()) and (cox or not at_w.all())
            if not has_both_at_w:
                continue
            if not at_v.any():
                return col, v, "event" if cox else "case"
            if not cox and at_v.all():
                return col, v, "control"
    return None


# The note of covariates dropped as linear functions of the intercept and the covariates before them
# (``aliased_columns``; ``prefit_check``).
COLLINEAR_NOTE = "dropped collinear covariate(s) (a linear function of the covariates before them)"
# R's ``lm`` / ``qr`` tolerance (LINPACK dqrdc2): a column whose norm, once the columns before it are
# projected out, is below this fraction of its own norm is aliased (``aliased_columns``).
ALIAS_TOLERANCE = 1e-7


def aliased_columns(data: pd.DataFrame, columns: list[str], tol: float = ALIAS_TOLERANCE) -> list[str]:
    """The ``columns`` of ``data`` (float, complete cases) that are, up to ``tol``, linear functions
    of the intercept and the columns of ``columns`` before them (in order), R's aliasing rule: a
    column is aliased when the norm of its residual on the kept columns before it is below ``tol``
    times its own norm (``lm``'s QR with tolerance 1e-7 reports such a coefficient as NA and fits
    the rest; Stata's ``regress`` / ``logit`` "omitted because of collinearity").

    A PC duplicated or rescaled into another column (or equal to another up to rounding) left the
    design singular: every fit of its dataset failed (``singular_design``, Cox too), or with a
    tiny difference statsmodels' Newton steps wandered (``not_converged``), while the PGS's
    coefficient is the same for any basis of the covariates' span: the fit without the aliased
    column (session 52 models). Returns the aliased names in ``columns`` order ([] for none)."""
    basis = [np.ones(len(data)) / np.sqrt(max(len(data), 1))]
    aliased = []
    for col in columns:
        v = data[col].to_numpy(dtype=float)
        norm = float(np.linalg.norm(v))
        q = np.column_stack(basis)
        r = v - q @ (q.T @ v)
        r = r - q @ (q.T @ r)  # twice (Gram-Schmidt re-orthogonalised): the residual of a near copy is at rounding level
        rest = float(np.linalg.norm(r))
        if norm == 0 or rest <= tol * norm:
            aliased.append(col)
        else:
            basis.append(r / rest)
    return aliased


@dataclass
class Prefit:
    """What ``prefit_check`` found: the complete-case rows and covariates to fit, or why not.

    ``data``: float columns outcome (, duration), PGS and every requested covariate with a value, the rows
    to fit (``n`` of them, or those at one value of a 0/1 covariate: ``empty_cell``);
    ``covariates``: those kept (constant ones dropped); ``n`` persons and ``n_cases`` cases
    (logistic) or events (Cox) of the model's complete cases; ``notes``: what was adjusted; ``failure`` and
    ``failure_note``: why no fit should be made (None / "" when one can).
    """

    data: pd.DataFrame
    covariates: list[str]
    n: int = 0
    n_cases: int = 0
    notes: list[str] = field(default_factory=list)
    failure: ModelFailure | None = None
    failure_note: str = ""

    def failed(self, reason: ModelFailure, note: str) -> Prefit:
        """This check, marked as failed with ``reason`` and its human ``note``."""
        self.failure, self.failure_note = reason, note
        return self


def prefit_check(
    frame: pd.DataFrame,
    pgs_col: str,
    covariates: list[str],
    *,
    outcome: str,
    min_cases: int,
    duration: str | None = None,
    where: str = "models",
) -> Prefit:
    """Checks made before a logistic (``duration`` None) or Cox fit, in this order.

    1. the PGS column is in ``frame`` (else ``PGS_ABSENT``); a PGS without a finite value for
       any person of ``frame`` (the cohort stage nulls a score with zero variance in the
       dataset: ``cohort.frame.standardise_pgs``) or for any person the fit would otherwise
       have (step 2's complete cases of the other columns, as statsmodels and lifelines drop a
       row with a missing value: a PGS finite only for persons lacking an outcome or a
       covariate has no value in the fit) is ``PGS_ZERO_VARIANCE``, checked after steps 2-3
       on the other columns, before the counts of step 4 (so ``n`` / ``n_cases`` are the
       persons the fit had, not 0 with ``TOO_FEW_CASES``);
    2. complete cases: persons with a missing or non-finite outcome, duration, PGS or
       covariate are left out (noted); Cox: a negative duration is left out (noted); before
       them, a covariate with no finite value for any person with an outcome (, a duration
       >= 0) is dropped, noted (``EMPTY_COVARIATE_NOTE``: no person would be left);
    3. ``outcome`` (case / event indicator) must be 0/1: anything else is a fault in the
       analysis frame, raised as ModelError (``where`` names the fitter);
    4. at least ``min_cases`` cases and (logistic) controls, or (Cox) events: else
       ``TOO_FEW_CASES`` / ``TOO_FEW_CONTROLS`` / ``TOO_FEW_EVENTS``;
    5. the PGS varies (else ``PGS_ZERO_VARIANCE``); constant covariates are dropped (noted);
       a 0/1 covariate (sex) with no case, no control (logistic) or no event (Cox) at one
       value, both at its other value, is fitted at its limit: ``data`` keeps the persons at
       the other value only, the covariate is dropped (noted, naming the value; ``empty_cell``),
       ``n`` / ``n_cases`` stay the model's, and steps 4-5 are checked again on those persons;
    6. a covariate that is (up to R's tolerance 1e-7) a linear function of the intercept and the
       covariates before it is dropped (noted, ``COLLINEAR_NOTE``; ``aliased_columns``); the PGS
       such a function of the intercept and the kept covariates, or a design [1, PGS, covariates]
       without full column rank, is ``SINGULAR_DESIGN``;
    7. logistic: no single predictor separates cases from controls (its ranges do not
       overlap: the MLE does not exist, ``PERFECT_SEPARATION``); a 0/1 covariate with no case
       or no control at one of its values is a small cell, noted (the fit decides whether it
       converges); Cox: a 0/1 covariate with no event at one of its values is noted the
       same way, and a PGS whose partial likelihood is monotone (every event at the lowest, or
       every event at the highest, PGS of its risk set: ``cox_monotone_direction``) is
       ``PERFECT_SEPARATION`` (its HR is 0 or infinite; lifelines returns a finite one without
       a warning). Separation and small cells follow lifelines' pre-fit checks.
    Notes never contain counts (they leave the workbench as free text).
    """
    if pgs_col not in frame.columns:
        return Prefit(frame.iloc[0:0], list(covariates)).failed(
            ModelFailure.PGS_ABSENT, "PGS column absent from the analysis frame")
    # A covariate without a finite value for any person with an outcome (, a duration >= 0) and the
    # PGS has nothing to adjust for, as a constant one (``is_constant``): dropped, noted. Left in, its
    # complete cases are nobody, and every fit of the dataset read n = 0, "too few cases", for a
    # dataset of thousands (a PC column empty in one replication set's rows; field case round 43).
    # Judged on the persons with an outcome, not also the PGS: a covariate missing exactly where the
    # PGS is finite is the PGS's failure (no value in the fit, ``PGS_ZERO_VARIANCE``), not a reason to
    # drop the covariate and fit the PGS on persons lacking it.
    base = _finite(frame, [outcome, *([duration] if duration else [])])
    if duration is not None:
        base &= pd.to_numeric(frame[duration], errors="coerce").to_numpy(dtype=float) >= 0
    no_value = [c for c in covariates if base.any() and not _finite(frame, [c])[base].any()]
    covariates = [c for c in covariates if c not in no_value]
    others = [outcome, *([duration] if duration else []), *covariates]
    # The rows the fit would have without the PGS (the complete cases of the other columns, less
    # a negative duration): the PGS is judged on them, not on ``frame``, so that a PGS finite
    # only for persons lacking an outcome or a covariate is a PGS failure, not n = 0.
    in_fit = np.isfinite(frame[others].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)).all(axis=1)
    if duration is not None:
        in_fit &= pd.to_numeric(frame[duration], errors="coerce").to_numpy(dtype=float) >= 0
    pgs_finite = np.isfinite(pd.to_numeric(frame[pgs_col], errors="coerce").to_numpy(dtype=float))
    no_pgs = len(frame) > 0 and (not pgs_finite.any() or (in_fit.any() and not pgs_finite[in_fit].any()))
    # Such a PGS is left out of the complete cases: else every person would be left out and the
    # row would read n = 0, too few cases, for a score that has no value (no variance) in the fit.
    data = complete_cases(frame, [outcome, *([duration] if duration else []), *([] if no_pgs else [pgs_col]),
                                  *covariates])
    check = Prefit(data, list(covariates))
    if no_value:
        check.notes.append(f"{EMPTY_COVARIATE_NOTE}: {', '.join(no_value)}")
    if len(data) < len(frame):
        check.notes.append(MISSING_VALUES_NOTE)
    if duration is not None:
        negative = data[duration] < 0
        if negative.any():
            check.data = data = data[~negative]
            check.notes.append(NEGATIVE_DURATION_NOTE.format(duration=duration))
    y = data[outcome].to_numpy()
    if not np.isin(y, (0.0, 1.0)).all():
        raise ModelError(f"{'event' if duration else 'outcome'} {outcome!r} must be 0/1", where=where)
    check.n, check.n_cases = len(y), int(y.sum())
    if no_pgs:
        return check.failed(ModelFailure.PGS_ZERO_VARIANCE,
                            "PGS has zero variance (no value per SD for any person of the fit)")
    if check.n_cases < min_cases:
        what, reason = ("events", ModelFailure.TOO_FEW_EVENTS) if duration else ("cases", ModelFailure.TOO_FEW_CASES)
        return check.failed(reason, f"too few {what} (fewer than min_cases={min_cases})")
    if duration is None and check.n - check.n_cases < min_cases:
        return check.failed(ModelFailure.TOO_FEW_CONTROLS, f"too few controls (fewer than min_cases={min_cases})")
    if is_constant(data[pgs_col]):
        return check.failed(ModelFailure.PGS_ZERO_VARIANCE, "PGS has zero variance")
    kept, dropped = split_constant(data, covariates)
    check.covariates = kept
    if dropped:
        check.notes.append(f"dropped constant covariate(s): {', '.join(dropped)}")
    empty = empty_cell(data, kept, outcome, cox=duration is not None)
    if empty is not None:
        # The fit's limit: within the persons at the covariate's other value (``empty_cell``).
        # ``n`` / ``n_cases`` stay the model's persons (those at the empty value are in the
        # model, at a fitted probability / relative hazard of 0 or 1): no new count is published.
        col, left_out, what = empty
        check.data = data = data[data[col] != left_out]
        y = data[outcome].to_numpy()
        kept = check.covariates = [c for c in kept if c != col]
        check.notes.append(f"no {what} at {col} = {left_out:g}: {LIMIT_NOTE} {col} = {1 - left_out:g} "
                           f"(the fit's limit: {col}'s coefficient is infinite and its persons at {left_out:g} "
                           "add nothing)")
        more, dropped = split_constant(data, kept)
        if dropped:
            kept = check.covariates = more
            check.notes.append(f"dropped constant covariate(s) among them: {', '.join(dropped)}")
        # The group the left-out persons belonged to is the one that shrank: cases when they
        # were all cases, else controls (Cox: the events are all kept).
        short, within = (("control", len(y) - int(y.sum())) if what == "case" else
                         ("case" if what == "control" else "event", int(y.sum())))
        if within < min_cases:
            few = {"case": ModelFailure.TOO_FEW_CASES, "control": ModelFailure.TOO_FEW_CONTROLS,
                   "event": ModelFailure.TOO_FEW_EVENTS}[short]
            return check.failed(few, f"too few {short}s among them (fewer than min_cases={min_cases})")
        if is_constant(data[pgs_col]):
            return check.failed(ModelFailure.PGS_ZERO_VARIANCE, "PGS has zero variance among them")
    aliased = aliased_columns(data, kept)
    if aliased:
        kept = check.covariates = [c for c in kept if c not in aliased]
        check.notes.append(f"{COLLINEAR_NOTE}: {', '.join(aliased)}")
    if aliased_columns(data, [*kept, pgs_col]):
        return check.failed(ModelFailure.SINGULAR_DESIGN,
                            "singular design matrix (the PGS is a linear function of the covariates)")
    x = np.column_stack([np.ones(len(data)), data[[pgs_col, *kept]].to_numpy()])
    if np.linalg.matrix_rank(x) < x.shape[1]:
        return check.failed(ModelFailure.SINGULAR_DESIGN, "singular design matrix (collinear covariates)")
    if duration is None:
        cases, controls = data[y == 1], data[y == 0]
        for col in (pgs_col, *kept):
            if cases[col].min() > controls[col].max() or cases[col].max() < controls[col].min():
                return check.failed(ModelFailure.PERFECT_SEPARATION,
                                    f"perfect separation ({col} alone separates cases from controls)")
        small = [c for c in kept if set(np.unique(data[c])) == {0.0, 1.0}
                 and (cases[c].nunique() < 2 or controls[c].nunique() < 2)]
        if small:
            check.notes.append(f"small cell: no case or no control at one value of {', '.join(small)}")
    else:
        # Cox: a 0/1 covariate whose events all share one value has an infinite log-HR estimate
        # (lifelines warns of low variance conditioned on the event); the fit decides.
        events = data[y == 1]
        small = [c for c in kept if set(np.unique(data[c])) == {0.0, 1.0} and events[c].nunique() < 2]
        if small:
            check.notes.append(f"small cell: no event at one value of {', '.join(small)}")
        # The PGS only: its HR is the estimate reported. A 0/1 covariate's monotone likelihood is
        # the small cell above (its coefficient runs off; the PGS's is then the one within its level).
        side = cox_monotone_direction(data[duration].to_numpy(), y, data[pgs_col].to_numpy())
        if side is not None:
            return check.failed(ModelFailure.PERFECT_SEPARATION,
                                f"monotone likelihood (separation): every event at the {side} PGS of those at risk "
                                "(the hazard ratio per SD has no finite estimate)")
    return check


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run model fits with a single BLAS thread.

    The design matrices are narrow (n x ~15): threaded BLAS gains nothing on them and, with
    one Spark task (or other process) per core, its threads fight for the cores; measured
    on a loaded 2-core machine an SVD of 2300 x 6 took 16 ms threaded vs 0.3 ms on one thread.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield
