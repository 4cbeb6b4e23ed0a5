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
from export_attacker import km_tail_onsets_from_cut_reasons

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
