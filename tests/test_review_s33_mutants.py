"""Mutation review of session 33 (helper "review", session 34): cases the session's tests let
hand mutants through, each a real fault of the code it guards.

Kaplan-Meier curve sets under two scores (``report.tables.km_cross_set_cells``, 102ac47): the
test of that commit (tests/test_privacy_s33.py) splits a third's step on the day another curve
set has every third and needs only the number at risk there. Its onsets and censorings before
that day (A's sums, less B's shown thirds') and the step's own totals (the split pieces add up to
the published step) are two more links; with either left out of the audit both curve sets were
exported and the arithmetic below gave a count of 1..19.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest
from test_privacy_s33 import T, curves

from trd_spark.config import load_config
from trd_spark.report.stage import build_report
from trd_spark.schemas import COHORT_FLOW, LOGISTIC_RESULTS, PGS_MATCH_SUMMARY

ONSET_45, CENSORED_50, ONSET_75, CENSORED_80, FOLLOWED = (45, 1), (50, 0), (75, 1), (80, 0), (200, 0)


def _steps(third: pd.DataFrame) -> list[tuple[int, int, int, int]]:
    """(from day, to day, onsets, censored) of each step between a third's exported points:
    the onsets from the survival drop of the export's life table (``models.km.
    life_table_on_points``: S1/S0 = 1 - d / (n0 - c/2), c = n0 - n1 - d, so d = r (n0 + n1) /
    (2 - r) with r = 1 - S1/S0), the censored from the at-risk drop less them."""
    p = third.sort_values("time_days")
    out = []
    for (t0, n0, s0), (t1, n1, s1) in zip(p[["time_days", "n_at_risk", "survival"]].itertuples(index=False),
                                          p[["time_days", "n_at_risk", "survival"]].iloc[1:].itertuples(index=False)):
        r = 1 - s1 / s0
        d = round(r * (n0 + n1) / (2 - r))
        out.append((int(t0), int(t1), d, int(n0 - n1 - d)))
    return out


def split_steps(km: pd.DataFrame) -> list[tuple]:
    """What an outsider reads from exported points of two curve sets of the same persons: on a
    day t after 0 at which set A has every third and set B all but one, B's missing third has
    A's persons at risk, onsets and censorings up to t less B's shown thirds'; less its own up
    to its last point before t, they give the onsets and censorings of its step before t, and
    the step's totals less those give the rest. [(B, third, day, onsets before, censored
    before, onsets after, censored after)] (after: None without a step over t)."""
    found = []
    for _, g in km.groupby(["dataset", "definition"]):
        sets = {p: c for p, c in g.groupby("pgs_id")}
        for a, ca in sets.items():
            thirds_on = ca.groupby("time_days").tertile.nunique()
            for t in thirds_on[(thirds_on == 3) & (thirds_on.index > 0)].index:
                def by_t(third: pd.DataFrame, t: int = t) -> tuple[int, int]:
                    steps = [s for s in _steps(third) if s[1] <= t]
                    return sum(s[2] for s in steps), sum(s[3] for s in steps)

                a_by = [by_t(c) for _, c in ca.groupby("tertile")]
                for b, cb in sets.items():
                    shown = set(cb[cb.time_days == t].tertile)
                    missing = sorted({1, 2, 3} - shown)
                    if b == a or len(missing) != 1:
                        continue
                    b_by = [by_t(c) for k, c in cb.groupby("tertile") if k in shown]
                    third = cb[cb.tertile == missing[0]]
                    onsets = sum(x for x, _ in a_by) - sum(x for x, _ in b_by)
                    censored = sum(y for _, y in a_by) - sum(y for _, y in b_by)
                    own = by_t(third)
                    before = (onsets - own[0], censored - own[1])
                    over = [s for s in _steps(third) if s[0] < t < s[1]]
                    after = (over[0][2] - before[0], over[0][3] - before[1]) if over else (None, None)
                    found.append((b, missing[0], int(t), *before, *after))
    return found


# (A's thirds, B's thirds), each third a list of (persons, day, onset 1 / censored 0): the same
# 240 persons cut into thirds under two scores. A has every third on day 60; B's third 3 has
# no point there (its step from day 0 is not publishable: under 20 onsets).
CASES = {
    # B's third 3: 7 onsets and 20 censored before day 60 (27 left: no small number at risk),
    # 20 onsets after; A's 67 onsets by day 60 less B's 30 + 30 give its 7.
    "onsets_before_the_day": (
        [[(22, *ONSET_45), (58, *FOLLOWED)], [(22, *ONSET_45), (20, *ONSET_75), (38, *FOLLOWED)],
         [(23, *ONSET_45), (20, *CENSORED_50), (37, *FOLLOWED)]],
        [[(30, *ONSET_45), (50, *FOLLOWED)], [(30, *ONSET_45), (50, *FOLLOWED)],
         [(7, *ONSET_45), (20, *CENSORED_50), (20, *ONSET_75), (33, *FOLLOWED)]],
        (7, 20, 20, 0)),
    # B's third 3: no onset and 25 censored before day 60, 22 onsets and 2 censored after; its
    # published step to day 90 (22 onsets, 27 censored) less the 25 gives the 2.
    "censored_after_the_day": (
        [[(20, *ONSET_45), (25, *CENSORED_50), (35, *FOLLOWED)], [(20, *ONSET_45), (22, *ONSET_75), (38, *FOLLOWED)],
         [(20, *ONSET_45), (2, *CENSORED_80), (58, *FOLLOWED)]],
        [[(30, *ONSET_45), (50, *FOLLOWED)], [(30, *ONSET_45), (50, *FOLLOWED)],
         [(25, *CENSORED_50), (22, *ONSET_75), (2, *CENSORED_80), (31, *FOLLOWED)]],
        (0, 25, 22, 2)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_split_step_of_a_third_gives_no_small_count_by_its_sums(case):
    """Each case's outsider arithmetic on all the coarsened points (both curve sets shown) gives
    the hand-worked split of B's third 3 (onsets / censored before day 60, after it up to day
    90): one of them 1..19. Through ``build_report``, the export gives none. Mutants (not
    committed): ``km_cross_set_cells`` without its onset and censoring links before the day
    (the ``km_events_by`` / ``km_censored_by`` relations), and without the step-sum relations
    (``ev_sum`` / ``cens_sum``): both curve sets exported, the arithmetic gives 7 and 2; fail
    here (the first case, the second)."""
    from trd_spark.models.km import coarsen_km

    cfg = load_config()
    a, b, split = CASES[case]
    grid = curves({"PGS900001": a, "PGS900002": b}, cfg.phenotypes.primary_definition)
    points = coarsen_km(grid, T).drop(columns="n_events_after")
    assert split_steps(points) == [("PGS900002", 3, 60, *split)]
    assert any(0 < n < T for n in split)

    t = {"logistic": pd.DataFrame(columns=LOGISTIC_RESULTS.names), "cohort_flow": pd.DataFrame(columns=COHORT_FLOW.names),
         "match_summary": pd.DataFrame(columns=PGS_MATCH_SUMMARY.names), "km_curves": grid}
    exported = pd.read_csv(io.StringIO(build_report(cfg, t, {})["km_curves.tsv"]), sep="\t")
    small = [f for f in split_steps(exported) if any(n is not None and 0 < n < T for n in f[3:])]
    assert small == [], small


def test_the_attackers_determined_cells_of_a_full_rank_system_left_after_the_reduction():
    """``export_attacker._determined_columns`` (90625c1): after the exact reduction, a system with
    no null space left (full column rank) fixes every cell it holds. x + y, x + z and y + z
    shown fix x, y and z (no equation has one cell: the SVD's part); x + y and y + z alone fix
    none (x - y + z = 0 moves them); a one-cell equation fixes its cell and then the next
    (reduction only); a cell in no equation is free. Mutant (not committed): an empty null
    space read as 'free' (``if null.size else False``): the attacker missed the first case's
    three cells, and test_export_attacker passed; fails here; so does the mutant taking the
    cells in no equation for fixed (``return fixed | True``, the last case)."""
    import numpy as np
    from export_attacker import _determined_columns

    def determined(rows: list[list[int]]) -> list[bool]:
        return _determined_columns(np.array(rows, dtype=float)).tolist()

    assert determined([[1, 1, 0], [1, 0, 1], [0, 1, 1]]) == [True, True, True]
    assert determined([[1, 1, 0], [0, 1, 1]]) == [False, False, False]
    assert determined([[1, 0, 0], [1, 1, 0], [0, 1, 1]]) == [True, True, True]
    assert determined([[1, 1, 0], [1, 1, 0]]) == [False, False, False]
    assert determined([[1, 0], [0, 0]]) == [True, False]
