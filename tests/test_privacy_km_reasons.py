"""report.html's reason for a Kaplan-Meier curve cut short says nothing of unpublished counts.

A third whose published points stop before the end of follow-up gets a reason (report stage
``km_reasons``). It said which part of ``coarsen_km``'s rule failed after the last point:
"fewer than 20 at risk" or "fewer than 20 events before fewer than 20 remain at risk". The
second caps the third's TRD onsets after its last point at 2 x 19, and the curve set's onsets
after that day are known (the Cox model's events less the onsets read from the survival values),
so three thirds capped at 38 with 114 onsets after day 30 held 38 each: 19 onsets before fewer
than 20 remained at risk, exactly (``export_attacker.km_tail_onsets_from_cut_reasons``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from export_attacker import curve_set_persons_from_km_reason, km_tail_onsets_from_cut_reasons

from trd_spark.models.km import coarsen_km, km_on_grid
from trd_spark.report.stage import km_reasons
from trd_spark.schemas import KM_CURVES

T = 20


def curve_set(later: list[tuple[int, int, bool]]) -> pd.DataFrame:
    """Three identical thirds on a 30-day grid: 30 onsets on day 10 (the point at day 30: 30
    events, none censored), then ``later``: (persons, day, onset?) groups."""
    groups = [(30, 10, True), *later]
    duration = np.concatenate([np.full(n, day, float) for n, day, _ in groups])
    event = np.concatenate([np.full(n, float(onset)) for n, _, onset in groups])
    g = km_on_grid(duration, event, np.arange(0, duration.max() + 1, 30))
    return pd.concat([g.assign(dataset="d", definition="A", pgs_id="P", trait="P", tertile=k)
                      for k in (1, 2, 3)], ignore_index=True)[KM_CURVES.names]


def reason_and_export(internal: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """The reason report.html gives the PGS and its points as ``km_curves.tsv`` shows them."""
    coarse = coarsen_km(internal, T)
    shown = coarse.drop(columns="n_events_after")
    return km_reasons(internal, coarse, shown, ["P"], T)["P"], shown.astype(str)


def test_a_cut_curves_reason_pins_no_onsets_after_its_last_point():
    """Each third: 30 onsets by day 30 (published), then 19 onsets on day 40 and 32 censored on
    day 70 (at risk 51 on day 60, 19 on day 90: no later point), then 19 onsets on day 100 among
    the 19 left. The Cox model's events are the curve set's: 3 x 68. On base 7aecd57 the reason
    read "(fewer than 20 events before fewer than 20 remain at risk after it)" and the outsider
    pinned each third's 19 onsets between day 30 and day 90 to 19..19; now it reads 0..51."""
    internal = curve_set([(19, 40, True), (32, 70, False), (19, 100, True)])
    reason, km = reason_and_export(internal)
    assert sorted(set(km["time_days"].astype(int))) == [0, 30]
    bounds = km_tail_onsets_from_cut_reasons(reason, km, events=3 * 68)
    assert set(bounds) == {1, 2, 3}, reason
    for k, (lo, hi) in bounds.items():
        assert lo <= 19 <= hi  # the true onsets lie inside
        assert hi - lo >= T - 2, (k, lo, hi, reason)


def test_every_cut_curve_gets_the_same_reason_whichever_count_stopped_it():
    """Three ways a third stops after day 30: under 20 at risk by day 60 (19 onsets and 32
    censored before it), 19 onsets before the risk set falls under 20, 25 onsets with 5 censored
    (the rule's censored part: on base the reason said "fewer than 20 events", wrong here)."""
    cases = {
        "at risk": [(19, 40, True), (32, 50, False), (19, 100, True)],
        "events": [(19, 40, True), (32, 70, False), (19, 100, True)],
        "censored": [(25, 40, True), (5, 45, False), (40, 100, True)],
    }
    reasons = {name: reason_and_export(curve_set(later))[0] for name, later in cases.items()}
    assert set(reasons.values()) == {"thirds 1, 2, 3 end at day 30 (no later day meets the publication rule)"}, reasons


def test_a_curve_set_left_out_tells_not_whether_its_thirds_were_small():
    """Discovery, definition A: TRD 50, trMDD 30, MDD_other 25; the Cox model of P1 has n 55 and
    50 events, so 5 censored persons: the audit hides n (`suppressed`), leaving them 0..55. Its
    curve set (thirds of 18, 18 and 19) is left out by ``coarsen_km``. On base 7aecd57 report.html
    said "a PGS third starts with fewer than 20 persons": n at most 59, the 5 censored 0..9."""
    from trd_spark.report.tables import ReleaseCounts, suppress_release

    statuses = {"TRD": 50, "trMDD": 30, "MDD_other": 25, "non_MDD": 500}
    rc = ReleaseCounts(
        cohort_flow=pd.DataFrame({"definition": ["all"], "step_order": [1], "step": ["all_persons"], "n": [3000]}),
        cohort_counts=pd.DataFrame([("d", "A", s, n) for s, n in statuses.items()],
                                   columns=["dataset", "definition", "status", "n"]),
        logistic=pd.DataFrame([("d", "A", "trd_vs_nonmdd", "P", 550, 50)],
                              columns=["dataset", "definition", "contrast", "pgs_id", "n", "n_cases"]),
        cox=pd.DataFrame([("d", "A", "P", 55, 50)], columns=["dataset", "definition", "pgs_id", "n", "n_events"]),
        pgs_distribution=None, primary_definition="A")
    safe = suppress_release(rc, T)
    cox = safe["cox"].iloc[0]
    shown = safe["cohort_counts"].set_index("status")["n"]
    assert cox["n"] == "suppressed" and cox["n_events"] == 50 and list(shown) == [50, 30, 25, 500]
    thirds = [km_on_grid(np.full(n, 40.0), np.r_[np.ones(n - 2), np.zeros(2)], np.arange(0, 41, 30))
              .assign(dataset="d", definition="A", pgs_id="P", trait="P", tertile=k)
              for k, n in ((1, 18), (2, 18), (3, 19))]
    internal = pd.concat(thirds, ignore_index=True)[KM_CURVES.names]
    coarse = coarsen_km(internal, T)
    assert coarse.empty
    reason = km_reasons(internal, coarse, coarse, ["P"], T)["P"]
    # The outsider: n is at least its events and at most the MDD persons, and the reason's bound.
    most = min(shown["TRD"] + shown["trMDD"] + shown["MDD_other"], curve_set_persons_from_km_reason(reason))
    censored = (0, most - cox["n_events"])
    assert censored[1] - censored[0] >= T - 2, (censored, reason)
