"""Session 46 (helper leftovers): gaps left by session 45.

pgs-finite-only-outside-the-fit (reader s45 finding 5): ``prefit_check`` judged "the PGS has no
finite value" on the whole frame, before complete cases. A PGS finite only for persons lacking
the outcome or a covariate (or, Cox, with a negative duration) passed that check, then the
complete cases (as statsmodels and lifelines drop a row with a missing value) left out every
person: the row read n = 0, ``too_few_cases`` / ``too_few_events``, a count failure, for a score
that had no value in the fit. Now the PGS is judged on the fit's rows: ``pgs_zero_variance`` with
the n / cases of the persons the fit had. Oracle: pandas' dropna of the other columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trd_spark.models.covariates import prefit_check
from trd_spark.vocabulary import ModelFailure

COVS = ["age", "sex_female", "pc1"]


def _frame(n: int = 60, seed: int = 46) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"case": (np.arange(n) % 2).astype(float), "age": rng.uniform(20, 80, n),
                         "sex_female": rng.integers(0, 2, n).astype(float), "pc1": rng.normal(size=n),
                         "time": rng.uniform(1, 900, n), "PGS_A": rng.normal(size=n)})


def test_pgs_finite_only_outside_the_fit_is_a_pgs_failure_with_the_fit_counts():
    frame = _frame()
    lacking = frame.index % 3 == 0  # a third lack the outcome or a covariate
    frame.loc[lacking & (frame.index % 2 == 0), "case"] = np.nan
    frame.loc[lacking & (frame.index % 2 == 1), "pc1"] = np.nan
    frame.loc[~lacking, "PGS_A"] = np.nan  # the PGS is finite only for them
    want = frame.dropna(subset=["case", *COVS])
    got = prefit_check(frame, "PGS_A", COVS, outcome="case", min_cases=5)
    # d099127: (too_few_cases, 0, 0)
    assert (got.failure, got.n, got.n_cases) == (ModelFailure.PGS_ZERO_VARIANCE, len(want), want.case.sum())
    assert len(want) == 40 and "zero variance" in got.failure_note

    # Cox: the PGS is finite only for persons with a negative duration (left out of the fit).
    cox = _frame()
    negative = cox.index < 10
    cox.loc[negative, "time"] = -3.0
    cox.loc[~negative, "PGS_A"] = np.nan
    want = cox[cox.time >= 0]
    got = prefit_check(cox, "PGS_A", COVS, outcome="case", duration="time", min_cases=5)
    # d099127: (too_few_events, 0, 0)
    assert (got.failure, got.n, got.n_cases) == (ModelFailure.PGS_ZERO_VARIANCE, len(want), want.case.sum())

    # A PGS finite for some of the fit's persons is fitted on them (the others are missing values).
    some = _frame()
    some.loc[some.index % 4 == 0, "PGS_A"] = np.nan
    got = prefit_check(some, "PGS_A", COVS, outcome="case", min_cases=5)
    assert got.failure is None and got.n == len(some.dropna()) == 45


