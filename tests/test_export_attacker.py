"""Small-count suppression against the whole export: an outsider (tests/export_attacker.py,
written apart from the audit) reads every exported count of an adversarial toy release and
must not recover any hidden small group.

The toy release (persons simulated here, every table derived from them) has the routes the
issue lists: three TRD definitions sharing the MDD total, MDD_other and non-MDD counts, one
definition with 7 TRD cases and one with none, a tiny dataset (45 persons) and tiny ancestry
groups, logistic/Cox n's (one PGS missing 3 persons), Kaplan-Meier curve sets and PGS
distribution counts. Pure pandas + scipy: no Spark session needed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from export_attacker import (
    Attacker,
    attack_release,
    cases_from_standard_errors,
    km_censored_before_events,
    km_left_before_days,
    mdd_other_with_data,
    release_changes,
    score_gaps,
    small_release_changes,
)

from trd_spark.models.km import coarsen_km, km_curves_for_pgs, km_on_grid
from trd_spark.report.suppression import suppress_small_counts
from trd_spark.report.tables import (
    CONTRAST_GROUPS,
    HIDDEN_ESTIMATES_NOTE,
    ReleaseCounts,
    hidden_counts,
    prior_counts,
    suppress_release,
)
from trd_spark.schemas import KM_CURVES

T = 20
STATUSES = ("TRD", "trMDD", "MDD_other", "non_MDD")
DEFINITIONS = {"A": 60, "B": 7, "C": 0}  # TRD persons in the big dataset per definition
PGS = ("P1", "P2")


def simulate_persons(seed: int = 3, lacking_p1: int = 0) -> pd.DataFrame:
    """One row per person x definition: dataset, definition, status, ancestry, P1, P2 (P2
    missing for 3 MDD persons; P1 for ``lacking_p1`` MDD_other persons of the big dataset and as
    many with a trial, TRD under A, trMDD under B and C), time to TRD (days) and event."""
    rng = np.random.default_rng(seed)
    rows = []
    # big: 300 MDD (90 MDD_other without an adequate trial under every definition), 400 non-MDD;
    # tiny: 15 MDD (4 TRD under A only), 30 non-MDD.
    for ds, n_mdd, n_other, n_non, trd in (("big", 300, 90, 400, DEFINITIONS), ("tiny", 15, 8, 30, {"A": 4, "B": 0, "C": 0})):
        n = n_mdd + n_non
        ancestry = rng.choice(["EUR", "AFR"], size=n, p=[0.7, 0.3]).astype(object)
        ancestry[:12 if ds == "big" else 5] = "EAS"  # a tiny ancestry group
        p1, p2 = rng.normal(size=n), rng.normal(size=n)
        p2[[n_other, n_other + 1, n_other + 2]] = np.nan  # 3 MDD persons (with a trial) lack P2
        if ds == "big":  # (not EAS, nor lacking P2)
            p1[20:20 + lacking_p1] = p1[100:100 + lacking_p1] = np.nan
        follow = rng.integers(200, 1500, size=n)
        for definition, n_trd in trd.items():
            for i in range(n):
                if i < n_other:
                    status = "MDD_other"
                elif i < n_mdd:
                    status = "TRD" if i < n_other + n_trd else "trMDD"
                else:
                    status = "non_MDD"
                event = status == "TRD"
                time = int(rng.integers(10, follow[i])) if event else int(follow[i])
                rows.append((ds, definition, status, ancestry[i], p1[i], p2[i], time, int(event)))
    return pd.DataFrame(rows, columns=["dataset", "definition", "status", "ancestry", "P1", "P2",
                                       "time_to_trd_days", "trd_event"])


def release_from_persons(persons: pd.DataFrame) -> ReleaseCounts:
    """Every count-bearing table of a release, as the pipeline would compute it."""
    counts = (persons.groupby(["dataset", "definition", "status"]).size().rename("n").reset_index())
    full = pd.MultiIndex.from_product([persons.dataset.unique(), list(DEFINITIONS), STATUSES],
                                      names=["dataset", "definition", "status"])
    counts = counts.set_index(["dataset", "definition", "status"]).reindex(full, fill_value=0).reset_index()
    logistic, cox, km = [], [], []
    for (ds, definition), g in persons.groupby(["dataset", "definition"], sort=True):
        mdd = g[g.status != "non_MDD"]
        for pgs in PGS:
            have = g[g[pgs].notna()]
            for contrast, (cases, whole) in CONTRAST_GROUPS.items():
                sel = have[have.status.isin(whole)]
                logistic.append((ds, definition, contrast, pgs, len(sel), int(sel.status.isin(cases).sum())))
            m = mdd[mdd[pgs].notna()]
            cox.append((ds, definition, pgs, len(m), int(m.trd_event.sum())))
            curves = km_curves_for_pgs(mdd, pgs, duration="time_to_trd_days", event="trd_event", step_days=30)
            km.append(curves.assign(dataset=ds, definition=definition, pgs_id=pgs, trait=pgs))
    flow = []
    for definition in DEFINITIONS:
        big = counts[(counts.dataset == "big") & (counts.definition == definition)].set_index("status")["n"]
        steps = [("mdd_included", big[["TRD", "trMDD", "MDD_other"]].sum()), ("TRD", big["TRD"]),
                 ("trMDD", big["trMDD"]), ("MDD_other_no_adequate_trial", big["MDD_other"]), ("non_MDD", big["non_MDD"])]
        flow += [(definition, i + 1, s, int(n)) for i, (s, n) in enumerate(steps)]
    first = persons[persons.definition == "A"]
    dist = (first.groupby(["dataset", "ancestry"]).size().rename("n").reset_index()
            .assign(pgs_id="P1", mean=0.0, sd=1.0))
    return ReleaseCounts(
        cohort_flow=pd.DataFrame(flow, columns=["definition", "step_order", "step", "n"]),
        cohort_counts=counts,
        logistic=pd.DataFrame(logistic, columns=["dataset", "definition", "contrast", "pgs_id", "n", "n_cases"]),
        cox=pd.DataFrame(cox, columns=["dataset", "definition", "pgs_id", "n", "n_events"]),
        pgs_distribution=dist[["dataset", "ancestry", "pgs_id", "n", "mean", "sd"]],
        primary_definition="A",
        km_curves=coarsen_km(pd.concat(km, ignore_index=True), T),
    )


def attack(export: dict[str, pd.DataFrame], rc: ReleaseCounts, persons: pd.DataFrame):
    """``attack_release`` on a toy export (internal tables only decide which design facts hold)."""
    internal = {"results": rc.logistic, "cox": rc.cox, "km_curves": rc.km_curves,
                "pgs_distribution": rc.pgs_distribution, "cohort_flow": rc.cohort_flow}
    return attack_release(export, internal, persons, rc.primary_definition, T)


def exported(safe: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables as a reader gets them: every cell as text."""
    names = {"logistic": "results"}
    return {names.get(k, k): v.astype(str) for k, v in safe.items()}


def fully_hidden(rc: ReleaseCounts) -> dict[str, pd.DataFrame]:
    """The most suppressed export possible: every non-zero count hidden ("<20" or
    "suppressed"), zeros shown. What an outsider gets from it is what the labels alone say."""
    def label(v):
        return v if v == 0 else ("<20" if v < T else "suppressed")

    cols = {"cohort_counts": ["n"], "logistic": ["n", "n_cases"], "cox": ["n", "n_events"],
            "pgs_distribution": ["n"], "cohort_flow": ["n"], "km_curves": ["n_at_risk"]}
    out = {}
    for name, columns in cols.items():
        if getattr(rc, name) is None:
            continue
        df = getattr(rc, name).copy()
        for c in columns:
            df[c] = df[c].map(label)
        out[name] = df.drop(columns="n_events_after") if name == "km_curves" else df
    return out


@pytest.fixture(scope="module")
def toy():
    persons = simulate_persons()
    rc = release_from_persons(persons)
    return persons, rc, suppress_release(rc, T)


def test_the_attacker_recovers_small_cells_from_primary_suppression_alone(toy):
    """Control: with only 1..19 -> "<20" (no audit) the outsider rebuilds hidden counts exactly,
    e.g. definition B's 7 TRD persons from the MDD total shown under definition A."""
    persons, rc, _ = toy
    naive = {"cohort_counts": suppress_small_counts(rc.cohort_counts, ["n"]),
             "logistic": suppress_small_counts(rc.logistic, ["n", "n_cases"]),
             "cox": suppress_small_counts(rc.cox, ["n", "n_events"]),
             "pgs_distribution": suppress_small_counts(rc.pgs_distribution, ["n"]),
             "cohort_flow": suppress_small_counts(rc.cohort_flow, ["n"]),
             "km_curves": rc.km_curves.drop(columns="n_events_after")}
    a, targets = attack(exported(naive), rc, persons)
    assert ("status", "big", "B", "TRD") in targets
    recovered = {k for k in targets if a.determined(k)}
    assert ("status", "big", "B", "TRD") in recovered
    lo, hi = a.interval(("status", "big", "B", "TRD"))
    assert lo == pytest.approx(7) and hi == pytest.approx(7)


def test_no_hidden_small_group_is_recovered_from_the_audited_export(toy):
    persons, rc, safe = toy
    export = exported(safe)
    # No shown count of 1..19 anywhere.
    for name, df in export.items():
        for col in ("n", "n_cases", "n_events", "n_at_risk"):
            if col in df:
                assert not df[col].map(lambda v: v.isdigit() and 0 < int(v) < T).any(), (name, col)
    a, targets = attack(export, rc, persons)
    # The adversarial parts are there: a definition with 1..19 TRD persons, tiny groups, a KM tail.
    assert ("status", "big", "B", "TRD") in targets and ("anc", "big", "EAS") in targets
    assert any(k[0] == "km_tail_events" for k in targets)
    # Baseline: the same outsider on an export with every non-zero count hidden.
    base, _ = attack(exported(fully_hidden(rc)), rc, persons)
    for k, v in sorted(targets.items(), key=str):
        assert not a.determined(k), k
        lo, hi = a.interval(k)
        assert lo - 1e-6 <= v <= hi + 1e-6, k  # the truth is feasible (the attacker is sound)
        # As wide as "<20" says (1..19), or as wide as the labels alone leave it.
        b_lo, b_hi = base.interval(k)
        assert hi - lo >= min(T - 2, b_hi - b_lo) - 1e-6, (k, lo, hi, b_lo, b_hi)
    # Cells hidden only to protect others are not determined either.
    hidden = [("status", *k) for k in zip(rc.cohort_counts.dataset, rc.cohort_counts.definition,
                                          rc.cohort_counts.status)
              if export["cohort_counts"].set_index(["dataset", "definition", "status"]).loc[k, "n"] == "suppressed"]
    assert hidden, "the toy release must need secondary suppression"
    assert not [k for k in hidden if a.determined(k)]


def test_km_export_keeps_only_steps_of_at_least_20_events(toy):
    _, _, safe = toy
    km = safe["km_curves"]
    assert "n_events_after" not in km
    assert len(km) and (km.n_at_risk >= T).all()
    # Definition B (7 TRD persons): no step can have 20 events, only the starting points remain.
    assert (km[km.definition == "B"].time_days == 0).all()


def one_event_day_curves(k: int) -> pd.DataFrame:
    """KM_CURVES grid rows (3 identical thirds, 30-day grid) of 100 persons: k censored on day 5,
    20 events on day 15, 20 - k censored on day 25, 20 events on day 45, 40 censored on day 200.
    Every count between grid days is the same whatever k (0..20)."""
    duration = np.array([5] * k + [15] * 20 + [25] * (20 - k) + [45] * 20 + [200] * 40, dtype=float)
    event = np.array([0] * k + [1] * 20 + [0] * (20 - k) + [1] * 20 + [0] * 40, dtype=float)
    grid = km_on_grid(duration, event, np.arange(0, 201, 30))
    return pd.concat([grid.assign(dataset="d", definition="A", pgs_id="P1", trait="P1", tertile=t)
                      for t in (1, 2, 3)], ignore_index=True)[KM_CURVES.names]


@pytest.mark.parametrize("k", [3, 7])
def test_km_survival_values_give_no_count_beyond_the_shown_ones(k):
    """Between the published days 0 and 30, 20 events and 20 censored (both allowed); the
    product-limit value S(30-) = (80 - k)/(100 - k) at full precision pins k, the persons
    censored before the event day (``km_censored_before_events``: 77/97 -> 3, 73/93 -> 7). The
    export's survival and CI are the life table of the published counts, so curves that differ
    only in k export the same numbers and the attacker reads nothing."""
    grid = one_event_day_curves(k)
    published = coarsen_km(grid, T)
    assert published[published.tertile == 1].time_days.tolist() == [0, 30, 60]
    full_precision = grid.merge(published[["tertile", "time_days"]])  # product-limit values at the same days
    assert set(km_censored_before_events(full_precision, T).values()) == {k}
    assert km_censored_before_events(published, T) == {}
    other = coarsen_km(one_event_day_curves(20 - k), T)
    pd.testing.assert_frame_equal(published, other)
    # Life table: 100 at risk, 20 events, 20 censored -> 1 - 20/90; then 60, 20 events, none censored.
    assert published[published.tertile == 1].survival.tolist() == pytest.approx([1.0, 7 / 9, 7 / 9 * 2 / 3])
    assert (published.ci_low <= published.survival).all() and (published.survival <= published.ci_high).all()


@pytest.mark.parametrize("seed", range(3))
def test_the_km_attack_reads_no_count_from_life_table_values(seed):
    """``km_censored_before_events`` is exact: on published (life-table) points of random
    curves it reads nothing, where before it read k = c/2 at every point with an even number c
    of censored persons (1 - d/(n - c/2) is the product-limit form at k = c/2; on every toy
    export); on the same days' product-limit values it still reads k
    (``test_km_survival_values_give_no_count_beyond_the_shown_ones``)."""
    rng = np.random.default_rng(seed)
    thirds = []
    for tertile in (1, 2, 3):
        events, censoring = rng.exponential(900, 400), rng.uniform(0, 2500, 400)
        grid = km_on_grid(np.ceil(np.minimum(events, censoring)), (events <= censoring).astype(float),
                          np.arange(0, 2501, 30))
        thirds.append(grid.assign(dataset="d", definition="A", pgs_id="P1", trait="P1", tertile=tertile))
    published = coarsen_km(pd.concat(thirds, ignore_index=True)[KM_CURVES.names], T)
    steps = published.groupby("tertile").size() - 1
    assert steps.min() >= 5  # enough points for the attack to read
    assert km_censored_before_events(published, T) == {}


def thirds_with_late_joiners(extra: tuple[int, int], onsets: int = 0) -> pd.DataFrame:
    """KM_CURVES grid rows (30-day grid) of three thirds of 100 persons (20 events on day 15,
    20 censored on day 25, 20 events on day 45, 40 censored on day 200), third 1 with ``extra``
    = (persons censored on day 5, persons censored on day 200) and ``onsets`` persons with an
    event on day 15 added."""
    out = []
    for tertile in (1, 2, 3):
        early, late = extra if tertile == 1 else (0, 0)
        more = onsets if tertile == 1 else 0
        duration = np.array([5] * early + [15] * (20 + more) + [25] * 20 + [45] * 20 + [200] * (40 + late),
                            dtype=float)
        event = np.array([0] * early + [1] * (20 + more) + [0] * 20 + [1] * 20 + [0] * (40 + late), dtype=float)
        grid = km_on_grid(duration, event, np.arange(0, 201, 30))
        out.append(grid.assign(dataset="d", definition="A", pgs_id="P1", trait="P1", tertile=tertile))
    return pd.concat(out, ignore_index=True)[KM_CURVES.names]


@pytest.mark.parametrize("extra, alone_sums", [((25, 7), {0: 332, 30: 187, 60: 127}),
                                               ((7, 25), {0: 332, 30: 205, 60: 145})], ids=["at-risk", "left"])
def test_km_numbers_at_risk_after_day_0_of_two_releases_give_no_small_change(extra, alone_sums):
    """Release 2 has 32 more persons in one curve set (third 1), some censored before day 30,
    the others followed past every published day. The persons at risk on day 0 (300 -> 332,
    linked since a003a45) change by 32, but on days 30 and 60 every third has a point, and the
    thirds' sum is the same group in both releases whatever their cut points: 180 -> 187 and
    120 -> 127 gave the 7 persons followed that long (``tables.km_at_risk`` now links those
    sums, and the attacker reads them: ``km_at_risk`` in ``attack_release``); 180 -> 205 with
    300 -> 332 gave the 7 new persons who left the risk set before day 30 (the days of a curve
    set are a chain: ``release_change_between`` cells)."""
    def release(extra, prior=None):
        rc = ReleaseCounts(cohort_flow=pd.DataFrame(columns=["definition", "step_order", "step", "n"]),
                           cohort_counts=None, logistic=pd.DataFrame(columns=["dataset", "definition", "contrast",
                                                                              "pgs_id", "n", "n_cases"]),
                           cox=None, pgs_distribution=None, primary_definition="A",
                           km_curves=coarsen_km(thirds_with_late_joiners(extra), T), prior=prior)
        return exported(suppress_release(rc, T))["km_curves"]

    def sums(km: pd.DataFrame) -> dict[int, int]:
        days = km.assign(t=km.time_days.astype(int), n=km.n_at_risk.astype(int)).groupby("t")
        return {int(t): int(g.n.sum()) for t, g in days if g.tertile.nunique() == 3}

    first = release((0, 0))
    assert sums(first) == {0: 300, 30: 180, 60: 120}
    assert sums(release(extra)) == alone_sums  # audited without release 1: the 7 by subtraction
    prior = prior_counts({"r1": {"km_curves": first}})
    linked, before = sums(release(extra, prior)), sums(first)
    assert not [t for t, n in linked.items() if t in before and 0 < abs(n - before[t]) < T], linked
    assert not [(s, t) for s in linked for t in linked if s < t and s in before and t in before
                and 0 < abs((linked[s] - linked[t]) - (before[s] - before[t])) < T], linked
    assert prior[("r1", ("km_at_risk", "d", "A", "P1", 30))] == 180


def km_only_release(km: pd.DataFrame, prior: dict | None = None) -> pd.DataFrame:
    """The exported ``km_curves`` (text) of a release with Kaplan-Meier curves and no other count."""
    rc = ReleaseCounts(cohort_flow=pd.DataFrame(columns=["definition", "step_order", "step", "n"]),
                       cohort_counts=None, logistic=pd.DataFrame(columns=["dataset", "definition", "contrast",
                                                                          "pgs_id", "n", "n_cases"]),
                       cox=None, pgs_distribution=None, primary_definition="A", km_curves=coarsen_km(km, T),
                       prior=prior)
    return exported(suppress_release(rc, T))["km_curves"]


@pytest.mark.parametrize("onsets, extra, leaks", [(7, (13, 20), True), (20, (20, 20), False)],
                         ids=["7-onsets", "20-onsets"])
def test_km_onsets_before_a_day_of_two_releases_give_no_small_change(onsets, extra, leaks):
    """Privacy round 16, lead 2 (successive releases): release 2 has more persons in one curve set
    (third 1): ``onsets`` with a TRD onset on day 15, ``extra`` = (censored on day 5, followed past
    every published day). With 7, 13 and 20, every count 12a1719 links changes by 0 or 20
    or more (the thirds' sum at risk on day 0 +40, on days 30 and 60 +20; left the risk set before
    day 30 +20), yet the survival values give each step's events (the life table of the published
    counts, ``export_attacker.km_left_before_days``): 60 -> 67 onsets before day 30 and 60 -> 73
    censored, the 7 new persons with an onset that early and 13 censored (12a1719 showed both
    releases' curves). ``tables.km_left_by`` now links both sums to the other release's, and the
    audit leaves the curve set out; with 20 onsets and 20 censored (changes of 20) it is shown."""
    first = km_only_release(thirds_with_late_joiners((0, 0)))
    before = km_left_before_days(first)
    assert before[("d", "A", "P1", 30)] == (60, 60)
    alone = km_left_before_days(km_only_release(thirds_with_late_joiners(extra, onsets)))
    assert alone[("d", "A", "P1", 30)] == (60 + onsets, 60 + extra[0])
    linked_km = km_only_release(thirds_with_late_joiners(extra, onsets), prior_counts({"r1": {"km_curves": first}}))
    linked = km_left_before_days(linked_km)
    small = [(k, i) for k, v in linked.items() if k in before for i in (0, 1) if 0 < abs(v[i] - before[k][i]) < T]
    assert not small, linked
    between = [(s, t) for s in linked for t in linked if s[:3] == t[:3] and s[3] < t[3] and s in before and t in before
               and any(0 < abs((linked[t][i] - linked[s][i]) - (before[t][i] - before[s][i])) < T for i in (0, 1))]
    assert not between, linked
    assert linked_km.empty == leaks, linked_km


def thirds_with_onsets_after_day_60(extra: tuple[int, int, int, int]) -> pd.DataFrame:
    """KM_CURVES grid rows (30-day grid to day 180) of three thirds of 120 persons: 20 events on day
    15, 20 censored on day 25, 20 events on day 45, 5 censored on day 70, 20 events on day 100, 35
    censored on day 200 (published days 0, 30, 60: after day 60 the 5 censored leave no point),
    third 1 with ``extra`` = (events on day 15, events on day 100, censored on day 25, censored on
    day 200) added."""
    out = []
    for tertile in (1, 2, 3):
        early, late, gone, stay = extra if tertile == 1 else (0, 0, 0, 0)
        duration = np.array([15] * (20 + early) + [25] * (20 + gone) + [45] * 20 + [70] * 5 + [100] * (20 + late)
                            + [200] * (35 + stay), dtype=float)
        event = np.array([1] * (20 + early) + [0] * (20 + gone) + [1] * 20 + [0] * 5 + [1] * (20 + late)
                         + [0] * (35 + stay), dtype=float)
        grid = km_on_grid(duration, event, np.arange(0, 181, 30))
        out.append(grid.assign(dataset="d", definition="A", pgs_id="P1", trait="P1", tertile=tertile))
    return pd.concat(out, ignore_index=True)[KM_CURVES.names]


@pytest.mark.parametrize("linked", [False, True], ids=["alone", "linked"])
def test_km_onsets_after_the_last_common_day_of_two_releases_give_no_small_change(linked):
    """Privacy round 16, lead 2: the Kaplan-Meier curve set and the Cox model count the same
    persons (MDD persons with the score and follow-up; everyone here: TRD = the curve set's events,
    trMDD its other persons), so the Cox model's events less the onsets before day 60 (read from
    the survival values) are the persons with an onset on or after day 60, and the persons at risk
    on day 60 less those the persons censored after it. Release 2 adds 20 onsets on day 15, 7 on
    day 100, 20 censored on day 25 and 13 on day 200 to one third: every count shown or linked
    (statuses, Cox n and events, the curve set's sums and their days' differences) changes by 0 or
    20 or more, yet 60 -> 67 onsets and 120 -> 133 censored after day 60 gave the 7 and 13 (alone:
    what 12a1719 showed however linked). ``km_cells`` now has both as groups
    (``KM_EVENTS_AFTER``, ``KM_CENSORED_AFTER``), linked by ``implicit_release_changes``."""
    def release(extra: tuple[int, int, int, int], prior: dict | None = None) -> dict:
        persons, events = 360 + sum(extra), 180 + extra[0] + extra[1]
        counts = [("d", "A", s, n) for s, n in (("TRD", events), ("trMDD", persons - events), ("MDD_other", 0),
                                                 ("non_MDD", 500))]
        rc = ReleaseCounts(
            cohort_flow=pd.DataFrame({"definition": ["all"], "step_order": [1], "step": ["all_persons"], "n": [3000]}),
            cohort_counts=pd.DataFrame(counts, columns=["dataset", "definition", "status", "n"]),
            logistic=pd.DataFrame(columns=["dataset", "definition", "contrast", "pgs_id", "n", "n_cases"]),
            cox=pd.DataFrame([("d", "A", "P1", persons, events)], columns=["dataset", "definition", "pgs_id", "n",
                                                                             "n_events"]),
            pgs_distribution=None, primary_definition="A", km_curves=coarsen_km(thirds_with_onsets_after_day_60(extra), T),
            prior=prior)
        return exported(suppress_release(rc, T))

    def after_day_60(export: dict) -> tuple[int, int] | None:
        """(onsets, censored) on or after day 60, as an outsider reads them; None if not shown."""
        km, cox = export["km_curves"], export["cox"].iloc[0]
        left = km_left_before_days(km).get(("d", "A", "P1", 60))
        if left is None or not cox.n_events.isdigit():
            return None
        at_risk = km[km.time_days == "60"].n_at_risk.astype(int).sum()
        onsets = int(cox.n_events) - left[0]
        return onsets, int(at_risk) - onsets

    first = release((0, 0, 0, 0))
    assert after_day_60(first) == (60, 120)
    second = after_day_60(release((20, 7, 20, 13), prior_counts({"r1": first}) if linked else None))
    if not linked:
        assert second == (67, 133)  # the 7 and 13
    else:
        assert second is None or not [i for i in (0, 1) if 0 < abs(second[i] - (60, 120)[i]) < T], second


def one_model_release(statuses: tuple[int, int, int, int], n: int, n_cases: int, prior: dict | None = None) -> dict:
    """The exported cohort_counts and results (text) of one dataset and definition with the
    given TRD, trMDD, MDD_other, non-MDD counts and one TRD vs non-MDD model (n, n_cases)."""
    rc = ReleaseCounts(
        cohort_flow=pd.DataFrame({"definition": ["all"], "step_order": [1], "step": ["all_persons"], "n": [3000]}),
        cohort_counts=pd.DataFrame([("d", "A", s, v) for s, v in zip(STATUSES, statuses)],
                                   columns=["dataset", "definition", "status", "n"]),
        logistic=pd.DataFrame([("d", "A", "trd_vs_nonmdd", "P1", n, n_cases)],
                              columns=["dataset", "definition", "contrast", "pgs_id", "n", "n_cases"]),
        cox=None, pgs_distribution=None, primary_definition="A", prior=prior)
    return exported(suppress_release(rc, T))


def test_a_models_controls_with_data_of_two_releases_give_no_small_change():
    """Privacy round 16, lead 2: every linked count of two releases changes by 20 or more (TRD vs
    non-MDD's n 800 -> 830, n_cases 60 -> 83; TRD 60 -> 83, non-MDD 760 -> 780), yet their
    differences are groups too: the model's controls with data, n - n_cases, 740 -> 747 (7 new
    non-MDD persons with the score) and the non-MDD persons lacking it, 20 -> 33 (13 more).
    12a1719 linked each count alone and showed all of them; the audit now links the change of
    every group it has as an implicit cell (``tables.implicit_release_changes``). The outsider
    here knows each release's counts as shown, a model's n = its cases + controls with data, and
    its cases and controls at most their status groups."""
    first = one_model_release((60, 300, 100, 760), 800, 60)
    second = one_model_release((83, 300, 100, 780), 830, 83, prior_counts({"r1": first}))
    a = Attacker(T)
    for tag, export in (("r1", first), ("r2", second)):
        for r in export["cohort_counts"].itertuples():
            a.cell((tag, r.status), r.n)
        r = export["results"].iloc[0]
        a.cell((tag, "n"), r.n)
        a.cell((tag, "n_cases"), r.n_cases)
        a.know({(tag, "n"): 1, (tag, "n_cases"): -1, (tag, "controls"): -1})
        a.know({(tag, "n_cases"): 1, (tag, "cases_lacking"): 1, (tag, "TRD"): -1})
        a.know({(tag, "controls"): 1, (tag, "controls_lacking"): 1, (tag, "non_MDD"): -1})
    for group, true in (("controls", 7), ("controls_lacking", 13)):
        a.know({("r2", group): 1, ("r1", group): -1, ("change", group): -1})
        a.bounds[("change", group)] = (-1e6, 1e6)  # a change may be negative
        lo, hi = a.interval(("change", group))
        assert lo - 1e-6 <= true <= hi + 1e-6 and hi - lo >= T - 2 - 1e-6, (group, lo, hi)


def test_compare_n_both_and_one_release_counts_are_not_recoverable():
    """compare-releases' pgs_correlation ``n_both`` (persons scored in both releases) against an
    outsider who knows each release's scored persons per dataset (each export's
    pgs_distribution adds up to them): ``n_a - n_both`` (e.g. 5 withdrawn persons) and
    ``n_both`` itself are counts, so none of 1..19 may be derivable."""
    from export_attacker import Attacker

    from trd_spark.report.compare import pair_counts_shown
    from trd_spark.report.suppression import suppress_count

    counts = pd.DataFrame([  # dataset, pgs_id, n_a, n_b, n_both
        ("big", "P1", 400, 398, 395), ("big", "P2", 400, 398, 395),  # 5 left, 3 joined
        ("same", "P1", 60, 60, 60),                                     # nobody changed: shown
        ("tiny", "P1", 40, 50, 12),                                     # n_both itself small
        ("edge", "P1", 30, 45, 25),                                     # 5 left, hiding leaves [0, 10]
    ], columns=["dataset", "pgs_id", "n_a", "n_b", "n_both"])

    def attack(shown: pd.Series) -> tuple[Attacker, dict]:
        a, targets = Attacker(T), {}
        for r, text in zip(counts.itertuples(index=False), shown):
            both = a.cell(("both", r.dataset, r.pgs_id), str(text))
            for tag, n in (("a", r.n_a), ("b", r.n_b)):
                scored = a.cell(("scored", tag, r.dataset, r.pgs_id), str(n))
                only = a.cell(("only", tag, r.dataset, r.pgs_id))
                a.know({scored: 1, both: -1, only: -1})
                if 0 < n - r.n_both < T:
                    targets[only] = n - r.n_both
            if 0 < r.n_both < T:
                targets[both] = r.n_both
        a.know({("both", "big", "P1"): 1, ("both", "big", "P2"): -1})  # one dataset, the same persons
        return a, targets

    # Primary suppression alone (what compare-releases did) gives the withdrawn persons away.
    naive, targets = attack(counts["n_both"].astype(object).map(lambda v: suppress_count(v, T)))
    assert naive.determined(("only", "a", "big", "P1")) and naive.determined(("only", "a", "edge", "P1"))

    shown = pair_counts_shown(counts, T)
    assert shown.tolist() == ["suppressed", "suppressed", 60, "<20", "suppressed"]
    a, targets = attack(shown)
    assert set(targets) == {("only", t, "big", p) for t in "ab" for p in ("P1", "P2")} | {
        ("both", "tiny", "P1"), ("only", "a", "edge", "P1")}
    for k, v in sorted(targets.items(), key=str):
        assert not a.determined(k), k
        lo, hi = a.interval(k)
        assert lo - 1e-6 <= v <= hi + 1e-6, k
        # As wide as "<20" says, or as the labels alone leave it (edge: n_both >= 20 of 30).
        assert hi - lo >= (10 if k[2] == "edge" else T - 2) - 1e-6, (k, lo, hi)


def fitted_logistic(persons: pd.DataFrame, rc: ReleaseCounts) -> pd.DataFrame:
    """``rc.logistic`` with the estimates of real fits (statsmodels Logit, status ~ PGS) where
    cases and controls exist: beta, se, p, converged, note."""
    import statsmodels.api as sm

    rows = []
    for r in rc.logistic.itertuples(index=False):
        cases, whole = CONTRAST_GROUPS[r.contrast]
        g = persons[(persons.dataset == r.dataset) & (persons.definition == r.definition)
                    & persons.status.isin(whole) & persons[r.pgs_id].notna()]
        y = g.status.isin(cases).astype(float).to_numpy()
        beta = se = p = np.nan
        if 0 < y.sum() < len(y):
            with warnings.catch_warnings():  # the tiny dataset's fits may not converge: se as fitted
                warnings.simplefilter("ignore")
                fit = sm.Logit(y, sm.add_constant(g[r.pgs_id].to_numpy())).fit(disp=0)
            beta, se, p = fit.params[1], fit.bse[1], fit.pvalues[1]
        rows.append((beta, se, p, bool(np.isfinite(se)), ""))
    est = pd.DataFrame(rows, columns=["beta", "se", "p", "converged", "note"], index=rc.logistic.index)
    return pd.concat([rc.logistic, est], axis=1)


def test_standard_errors_give_no_hidden_case_count(toy):
    """The export showed every fit's estimates next to its "<20" / "suppressed" counts: the
    attacker (``cases_from_standard_errors``, calibrated on the shown models) read definition
    B's 7 TRD cases as 7 +- 1.5 from the se of TRD vs non-MDD, far inside the label's 1..19.
    Now a model whose counts are hidden shows no estimate, nor does a meta-analysis row of its
    definition, contrast and PGS (its pooled se would give it back)."""
    persons, rc, _ = toy
    with_fits = ReleaseCounts(**{**rc.__dict__, "logistic": fitted_logistic(persons, rc)})
    meta = pd.DataFrame({"method": ["fixed"] * 2, "definition": ["B", "A"], "contrast": ["trd_vs_nonmdd"] * 2,
                         "pgs_id": ["P1", "P1"], "k": [2, 2], "beta": [0.1, 0.2], "se": [0.3, 0.1],
                         "datasets": ["big,tiny"] * 2})
    safe = suppress_release(ReleaseCounts(**{**with_fits.__dict__, "meta": meta}), T)
    key = ("big", "B", "trd_vs_nonmdd", "P1")

    # Before: the counts suppressed, the estimates as fitted.
    before = exported(safe)["results"].assign(se=with_fits.logistic["se"].astype(str))
    guessed = cases_from_standard_errors(before, T)
    assert abs(guessed[key] - 7) <= 1.5, guessed[key]

    results = exported(safe)["results"]
    assert results.set_index(["dataset", "definition", "contrast", "pgs_id"]).loc[key, "n_cases"] == "<20"
    assert cases_from_standard_errors(results, T) == {}
    hidden = results[results["se"].isin(["nan", "None", ""])]
    assert set(hidden["note"]) <= {HIDDEN_ESTIMATES_NOTE, ""} and (hidden["note"] == HIDDEN_ESTIMATES_NOTE).any()
    shown = results[(results["n_cases"].str.isdigit()) & (results["n"].str.isdigit())]
    assert shown["se"].isin(["nan", "None", ""]).sum() == with_fits.logistic.loc[shown.index, "se"].isna().sum()
    m = safe["meta"].set_index("definition")
    # Both rows pool the tiny dataset, whose TRD counts are all hidden.
    assert m["se"].isna().all() and (m["datasets"] == "").all() and m["k"].isna().all()


def test_two_releases_exports_give_no_small_change(toy):
    """Release 2 has 7 more MDD persons in the big dataset (TRD under definition A, trMDD under
    B and C). Audited alone, its export showed 67 TRD (A) and 307 MDD where release 1's showed
    60 and 300: the outsider holding both subtracts them (``small_release_changes``: the 7 new
    persons). With release 1's shown counts as known cells (``prior_counts``), the audit hides
    what would show a change of 1..19, and release 2's export alone still gives nothing away."""
    persons, rc1, safe1 = toy
    rng = np.random.default_rng(5)
    new = pd.DataFrame([("big", d, "TRD" if d == "A" else "trMDD", "EUR", rng.normal(), rng.normal(),
                         int(rng.integers(10, 900)), int(d == "A")) for d in DEFINITIONS for _ in range(7)],
                       columns=persons.columns)
    persons2 = pd.concat([persons, new], ignore_index=True)
    rc2 = release_from_persons(persons2)
    shown1 = exported(safe1)
    prior = prior_counts({"r1": shown1})
    known = {cell: n for (_, cell), n in prior.items()}
    assert known[("status", "big", "A", "TRD")] == 60

    alone, _ = attack(exported(suppress_release(rc2, T)), rc2, persons2)
    before = small_release_changes(alone, known, T)
    assert before[("status", "big", "A", "TRD")] == (7, 7) and ("flow", "A", "mdd_included") in before

    export2 = exported(suppress_release(ReleaseCounts(**{**rc2.__dict__, "prior": prior}), T))
    a, targets = attack(export2, rc2, persons2)
    assert small_release_changes(a, known, T) == {}
    assert not [k for k in targets if a.determined(k)]


def test_a_count_hidden_in_one_release_and_shown_in_the_next_gives_no_small_change(toy):
    """Release 1 hides the tiny dataset's 4 TRD persons (definition A) as "<20", which its
    shown totals bound to 1..17; release 2 has 16 more of them, 20, shown (and 13 new MDD
    persons in the big dataset: TRD under B, trMDD otherwise). Audited against
    release 1's shown counts only, the outsider holding both exports reads 3..19 new TRD
    persons (``release_changes``). With the counts release 1 hides linked too (its report
    records them: ``hidden_counts``; ``prior_counts`` treats them as known exactly, the
    outsider's best case), no change of 1..19 is narrowed down either way."""
    persons, rc1, safe1 = toy
    rng = np.random.default_rng(5)
    new = pd.DataFrame([(ds, d, "TRD" if d == trd else "trMDD", "EUR", rng.normal(), rng.normal(),
                         int(rng.integers(10, 900)), int(d == trd))
                        for ds, trd, k in (("big", "B", 13), ("tiny", "A", 16)) for d in DEFINITIONS for _ in range(k)],
                       columns=persons.columns)
    persons2 = pd.concat([persons, new], ignore_index=True)
    rc2 = release_from_persons(persons2)
    shown1 = exported(safe1)
    a1, _ = attack(shown1, rc1, persons)
    cell = ("status", "tiny", "A", "TRD")
    assert shown1["cohort_counts"].set_index(["dataset", "definition", "status"]).loc[cell[1:], "n"] == "<20"

    export_only = prior_counts({"r1": shown1})
    # The control without the MDD vs non-MDD models: with them, the audit (since MDD_other with
    # data is linked to MDD_other, round 14) hides the 20 for other reasons.
    lg2 = rc2.logistic[rc2.logistic.contrast != "mdd_vs_nonmdd"]
    rc2c = ReleaseCounts(**{**rc2.__dict__, "logistic": lg2.reset_index(drop=True), "prior": export_only})
    a2, _ = attack(exported(suppress_release(rc2c, T)), rc2c, persons2)
    assert release_changes(a2, a1, T, [cell]) == {cell: (3.0, 19.0)}

    text = {f"{n}.tsv": safe1[n].to_csv(sep="\t", index=False) for n in ("cohort_counts", "cohort_flow")}
    hidden = hidden_counts(text, {"cohort_counts": rc1.cohort_counts, "cohort_flow": rc1.cohort_flow})
    assert ["status", "tiny", "A", "TRD", 4] in hidden and all(not isinstance(v, str) for *_, v in hidden)
    prior = prior_counts({"r1": {**shown1, "hidden_counts": hidden}})
    a2, targets = attack(exported(suppress_release(ReleaseCounts(**{**rc2.__dict__, "prior": prior}), T)), rc2, persons2)
    assert release_changes(a2, a1, T) == {}  # both signs: nothing left or joined either
    assert not [k for k in targets if a2.determined(k)]


def model_counts_as_attacker_cells(export: dict[str, pd.DataFrame]) -> dict[tuple, int]:
    """The logistic and Cox counts an export shows, named as ``attack_release`` names them."""
    out = {}
    for r in export["results"].itertuples():
        key = (r.dataset, r.definition, r.contrast, r.pgs_id)
        out.update({(col,) + key: int(v) for col, v in (("n", r.n), ("n_cases", r.n_cases)) if str(v).isdigit()})
    for r in export["cox"].itertuples():
        key = (r.dataset, r.definition, r.pgs_id)
        out.update({(col,) + key: int(v) for col, v in (("cox_n", r.n), ("cox_events", r.n_events)) if str(v).isdigit()})
    # A Kaplan-Meier curve set's persons: its thirds at risk on day 0.
    km = export["km_curves"]
    for (ds, d, p), g in km[km.time_days.astype(int) == 0].groupby(["dataset", "definition", "pgs_id"]):
        if len(g) == 3 and g.n_at_risk.astype(str).str.isdigit().all():
            out[("km_persons", ds, d, p)] = int(g.n_at_risk.astype(int).sum())
    return out


def test_model_counts_of_two_releases_give_no_small_change(toy):
    """Release 2 has 32 more persons in the big dataset (TRD under definition A, trMDD under B
    and C), 25 of them lacking both PGS (as if a covariate were missing). Linked across releases
    by the status and flow counts only (a change of 32), the models of P1 showed n_cases 67 and
    n 467 where release 1's showed 60 and 460: the outsider holding both reads the 7 new
    cases with complete data (and 7 in every P1 model's n, the Cox n and events). With the
    model counts of release 1's export linked too (``prior_counts`` reads results.tsv and
    cox.tsv), no model count changes by 1..19 for the outsider; the model counts release 1
    hides are recorded for later audits (``hidden_counts``). The same holds for a
    Kaplan-Meier curve set's persons (its thirds at risk on day 0: 300 -> 307)."""
    persons, rc1, safe1 = toy
    rng = np.random.default_rng(5)
    rows = [("big", d, "TRD" if d == "A" else "trMDD", "EUR", rng.normal() if i < 7 else np.nan,
             rng.normal() if i < 7 else np.nan, int(rng.integers(10, 900)), int(d == "A"))
            for i in range(32) for d in DEFINITIONS]
    persons2 = pd.concat([persons, pd.DataFrame(rows, columns=persons.columns)], ignore_index=True)
    rc2 = release_from_persons(persons2)
    shown1 = exported(safe1)
    known = model_counts_as_attacker_cells(shown1)
    cell = ("n_cases", "big", "A", "trd_vs_nonmdd", "P1")
    assert known[cell] == 60

    flow_only = prior_counts({"r1": {k: shown1[k] for k in ("cohort_counts", "cohort_flow")}})
    a, _ = attack(exported(suppress_release(ReleaseCounts(**{**rc2.__dict__, "prior": flow_only}), T)), rc2, persons2)
    before = small_release_changes(a, known, T)
    assert before[cell] == (7, 7) and before[("cox_events", "big", "A", "P1")] == (7, 7)
    assert before[("km_persons", "big", "B", "P1")] == (7, 7)  # KM thirds at risk on day 0: 300 -> 307
    prior = prior_counts({"r1": shown1})
    # The same cells as the report names them (test_privacy_export passes those).
    assert small_release_changes(a, {c: n for (_, c), n in prior.items()}, T) == before

    assert prior[("r1", ("model", "logistic", "big", "A", "trd_vs_nonmdd", "P1", "n_cases"))] == 60
    assert prior[("r1", ("model", "cox", "big", "A", "progression", "P1", "n_events"))] == 60
    assert prior[("r1", ("km_persons", "big", "B", "P1"))] == 300
    a, targets = attack(exported(suppress_release(ReleaseCounts(**{**rc2.__dict__, "prior": prior}), T)), rc2, persons2)
    assert small_release_changes(a, known, T) == {}
    assert not [k for k in targets if a.determined(k)]

    text = {f"{n}.tsv": shown1[n].to_csv(sep="\t", index=False) for n in ("results", "cox", "km_curves")}
    hidden = hidden_counts(text, {"logistic": rc1.logistic, "cox": rc1.cox, "km_curves": rc1.km_curves})
    assert ["model", "logistic", "tiny", "A", "trd_vs_nonmdd", "P1", "n_cases", 4] in hidden
    assert ["model", "logistic", "big", "A", "trd_vs_nonmdd", "P2", "n_cases", 57] in hidden  # "suppressed" there
    assert ["km_persons", "big", "A", "P2", 297] in hidden  # a curve set the export leaves out
    assert all(cell[0] in ("model", "km_persons") and isinstance(cell[-1], int) for cell in hidden)


def test_pgs_distribution_groups_of_two_releases_give_no_small_change(toy):
    """Release 2 has 32 more trMDD persons in the big dataset, 7 of them EUR: the status and
    flow counts change by 32, but pgs_distribution.tsv's EUR group went 487 -> 494 and the
    outsider holding both exports read the 7 new EUR persons. The group sizes of the other
    export are linked too now (``prior_counts`` reads pgs_distribution.tsv)."""
    persons, rc1, safe1 = toy
    rng = np.random.default_rng(5)
    rows = [("big", d, "trMDD", "EUR" if i < 7 else "AFR", rng.normal(), rng.normal(), int(rng.integers(10, 900)), 0)
            for i in range(32) for d in DEFINITIONS]
    persons2 = pd.concat([persons, pd.DataFrame(rows, columns=persons.columns)], ignore_index=True)
    rc2 = release_from_persons(persons2)
    shown1 = exported(safe1)
    known = {("anc", r.dataset, r.ancestry): int(r.n) for r in shown1["pgs_distribution"].itertuples()
             if r.n.isdigit()}
    assert known[("anc", "big", "EUR")] == 487

    no_dist = prior_counts({"r1": {k: v for k, v in shown1.items() if k != "pgs_distribution"}})
    a, _ = attack(exported(suppress_release(ReleaseCounts(**{**rc2.__dict__, "prior": no_dist}), T)), rc2, persons2)
    assert small_release_changes(a, known, T) == {("anc", "big", "EUR"): (7, 7)}

    prior = prior_counts({"r1": shown1})
    assert prior[("r1", ("dist", "big", "EUR", "P1"))] == 487
    a, targets = attack(exported(suppress_release(ReleaseCounts(**{**rc2.__dict__, "prior": prior}), T)), rc2, persons2)
    assert small_release_changes(a, known, T) == {}
    assert not [k for k in targets if a.determined(k)]
    text = {"pgs_distribution.tsv": shown1["pgs_distribution"].to_csv(sep="\t", index=False)}
    assert ["dist", "big", "EAS", "P1", 12] in hidden_counts(text, {"pgs_distribution": rc1.pgs_distribution})


def test_a_group_that_empties_in_the_next_release_gets_its_export(toy):
    """Release 1 hides the tiny dataset's 4 TRD persons (definition A: "<20", recorded by its
    report); in release 2 they are trMDD, so that count is 0, and 0 is always shown. With
    release 1's hidden counts taken as known exactly, the change (4 persons left) was pinned
    whatever release 2 hid: the audit gave up ("determined by the labels alone") and release 2
    got no report at all, ever. The change is release 1's own hidden count, as protected as
    release 1's export left it (its audit), so the audit now accepts a count pinned only by the
    other release's counts; the outsider holding both exports still narrows no change (either
    sign) and determines no hidden group of release 2."""
    persons, rc1, safe1 = toy
    persons2 = persons.copy()
    left = (persons2.dataset == "tiny") & (persons2.definition == "A") & (persons2.status == "TRD")
    assert left.sum() == 4
    persons2.loc[left, ["status", "trd_event"]] = ["trMDD", 0]
    rc2 = release_from_persons(persons2)
    shown1 = exported(safe1)
    text = {f"{n}.tsv": shown1[n].to_csv(sep="\t", index=False) for n in ("cohort_counts", "cohort_flow", "results", "cox")}
    hidden = hidden_counts(text, {"cohort_counts": rc1.cohort_counts, "cohort_flow": rc1.cohort_flow,
                                  "logistic": rc1.logistic, "cox": rc1.cox})
    assert ["model", "cox", "tiny", "A", "progression", "P1", "n_events", 4] in hidden
    prior = prior_counts({"r1": {**shown1, "hidden_counts": hidden}})
    export2 = exported(suppress_release(ReleaseCounts(**{**rc2.__dict__, "prior": prior}), T))
    assert export2["cox"].set_index(["dataset", "definition", "pgs_id"]).loc[("tiny", "A", "P1"), "n_events"] == "0"
    a1, _ = attack(shown1, rc1, persons)
    a2, targets = attack(export2, rc2, persons2)
    assert not [k for k in targets if a2.determined(k)]
    # A change is narrowed only as far as the labels alone narrow it (both exports with every
    # non-zero count hidden): release 1's labels bound its 4 TRD persons to 1..17 (its own
    # audit's baseline), so 1..17 left, and no further.
    base1, _ = attack(exported(fully_hidden(rc1)), rc1, persons)
    base2, _ = attack(exported(fully_hidden(rc2)), rc2, persons2)
    tiny = [k for k in a2.bounds if isinstance(k, tuple) and k[:2] == ("status", "tiny")]
    changes = release_changes(a2, a1, T, tiny)  # the big dataset did not change
    assert set(changes) == {("status", "tiny", "A", "TRD")}
    for cell, (lo, hi) in changes.items():
        b_lo, b_hi = base2.interval(cell)[0] - base1.interval(cell)[1], base2.interval(cell)[1] - base1.interval(cell)[0]
        assert (lo, hi) == (b_lo, b_hi) == (-17, -1), (cell, lo, hi, b_lo, b_hi)


def test_a_status_with_nobody_has_no_row_and_still_counts_as_0(toy):
    """The cohort stage counts by group, so a status with nobody has no cohort_counts row
    (definition C: 0 TRD persons in the big dataset). An outsider reads the absence as 0; the
    audit built no cell for it, so that dataset and definition had no MDD total and no model
    relation through the status, and the persons lacking P2 in C's Kaplan-Meier curve set (3)
    were determined exactly. The audit now counts an absent status as a shown 0."""
    persons, rc, _ = toy
    cc = rc.cohort_counts
    assert ((cc.n == 0) & (cc.dataset == "big") & (cc.definition == "C") & (cc.status == "TRD")).any()
    without_zeros = ReleaseCounts(**{**rc.__dict__, "cohort_counts": cc[cc.n > 0].reset_index(drop=True)})
    export = exported(suppress_release(without_zeros, T))
    assert len(export["cohort_counts"]) == (cc.n > 0).sum()  # no row added to the export
    absent = cc[cc.n == 0][["dataset", "definition", "status"]].assign(n="0")
    export["cohort_counts"] = pd.concat([export["cohort_counts"], absent], ignore_index=True)  # read as 0
    a, targets = attack(export, rc, persons)
    base, _ = attack(exported(fully_hidden(rc)), rc, persons)
    # The groups the absent row bears on: definition C's (on 08c9534: the 3 of C's P2 curve set
    # determined); the other definitions' are test_no_hidden_small_group_...'s.
    near = [k for k in targets if "C" in (k[1] if k[0] == "missing" else k)[2:3]]
    assert near
    for k in sorted(near, key=str):
        lo, hi = a.interval(k)
        b_lo, b_hi = base.interval(k)
        assert not a.determined(k) and hi - lo >= min(T - 2, b_hi - b_lo) - 1e-6, (k, lo, hi, b_lo, b_hi)


def test_score_gaps_read_every_pair_of_a_groups_models_across_scores():
    """``score_gaps``: one group's models under three scores, n 835 (P1, shown), 830 (P3,
    hidden) and 828 (P2, shown): the outsider reads P1 - P2 = 7 exactly (not neighbours by
    value: its own gap), and the neighbours' gaps 5 and 2 only as far as the hidden 830 allows;
    the group's cases (75 under every score) give no target. A lost pair is a missed leak."""
    a = Attacker(T)
    shown = {"P1": "835", "P3": "suppressed", "P2": "828"}
    true = {"P1": 835, "P3": 830, "P2": 828}
    key = ("d", "A", "trd_vs_nonmdd")
    for p, text in shown.items():
        a.cell(("n", *key, p), text)
        a.cell(("n_cases", *key, p), "75")
    export = {"results": pd.DataFrame([(*key, p, n) for p, n in shown.items()],
                                      columns=["dataset", "definition", "contrast", "pgs_id", "n"])}
    lg = pd.DataFrame([(*key, p, n, 75) for p, n in true.items()],
                      columns=["dataset", "definition", "contrast", "pgs_id", "n", "n_cases"])
    targets: dict = {}
    score_gaps(a, targets, export, lg, None, T)
    n = {p: ("n", *key, p) for p in true}
    assert targets == {("score_gap", n["P1"], n["P3"]): 5, ("score_gap", n["P3"], n["P2"]): 2,
                       ("score_gap", n["P1"], n["P2"]): 7}
    assert a.interval(("score_gap", n["P1"], n["P2"])) == pytest.approx((7, 7))
    assert not a.determined(("score_gap", n["P1"], n["P3"]))


def test_score_means_and_sds_give_no_hidden_ancestry_group_size():
    """Privacy round 13, item 3: pgs_distribution.tsv shows each ancestry group's n, mean and sd
    of the score per SD, standardised over the dataset's persons (``overall``: mean 0, sample SD
    1). Then sum(n x mean) = 0 and sum((n - 1) sd^2 + n mean^2) = N - 1 over the groups, and with
    every other group shown a hidden group's n x mean is known: 12 EAS persons 1.9 SD above the
    rest, with 25 persons lacking the score (so the group sizes do not add up to the dataset and
    the linear audit hides no other group), read as 10.1..19 (``group_sizes_from_score_moments``,
    Cauchy-Schwarz). The largest shown group of a dataset and score with a hidden group now shows
    no mean or sd (``tables.moment_complements``): nothing is left to bound."""
    from export_attacker import group_sizes_from_score_moments

    persons = simulate_persons()
    persons.loc[persons.ancestry == "EAS", "P1"] += 2.0
    index = persons.groupby(["dataset", "definition"]).cumcount()
    persons.loc[(persons.dataset == "big") & (index >= 600) & (index < 625), "P1"] = np.nan  # non-MDD
    persons["P1"] = persons.groupby(["dataset", "definition"])["P1"].transform(lambda x: (x - x.mean()) / x.std())
    rc = release_from_persons(persons)
    first = persons[(persons.definition == "A") & persons.P1.notna()]
    dist = (first.groupby(["dataset", "ancestry"])["P1"].agg(n="size", mean="mean", sd="std").reset_index()
            .assign(pgs_id="P1")[["dataset", "ancestry", "pgs_id", "n", "mean", "sd"]])
    assert dist.set_index(["dataset", "ancestry"]).loc[("big", "EAS"), "n"] == 12
    # Only the counts the groups are tied to (statuses, flow): models and curves cost LP time here.
    rc = ReleaseCounts(**{**rc.__dict__, "pgs_distribution": dist, "logistic": rc.logistic.iloc[:0], "cox": None,
                          "km_curves": None})
    shown = exported(suppress_release(rc, T))["pgs_distribution"].set_index(["dataset", "ancestry"])
    assert shown.loc[("big", "EAS"), "n"] == "<20" and shown.loc[("big", "AFR"), "mean"] != "nan"

    # Control: the largest group's mean and sd as computed (what c765c14 exported) give EAS away.
    before = shown.copy()
    internal = dist.set_index(["dataset", "ancestry"])
    before.loc[("big", "EUR"), ["mean", "sd"]] = internal.loc[("big", "EUR"), ["mean", "sd"]].astype(str).tolist()
    (lo, hi), = [v for k, v in group_sizes_from_score_moments(before.reset_index(), T).items() if k[0] == "big"]
    assert 10 <= lo <= 12 <= hi == 19, (lo, hi)

    assert shown.loc[("big", "EUR"), "mean"] == "nan" and shown.loc[("big", "EUR"), "sd"] == "nan"
    assert group_sizes_from_score_moments(shown.reset_index(), T) == {}


def test_nested_trd_definitions_give_no_small_difference():
    """Privacy round 13, item 3: TRD definitions nested by design (antidepressant_sequence with
    three trials and with four: every person TRD under four is TRD under three) show 60 and 53
    TRD persons, both 20 or more: an outsider reading the config subtracts them, 7 persons with
    exactly three trials (c765c14's audit had no such cell: determined exactly). The audit now
    states the difference as a count (``tables.nested_definitions``,
    ``nested_definition_relations``) and hides what would give it."""
    from test_report_suppression import definitions_release

    from trd_spark.config import TrdDefinition

    defs = [TrdDefinition(name="ad3", rule="antidepressant_sequence", n_trials=3),
            TrdDefinition(name="ad4", rule="antidepressant_sequence", n_trials=4),
            TrdDefinition(name="aug4", rule="augmentation", n_trials=4, augmentation_concept_set="augmentation"),
            TrdDefinition(name="somatic", rule="somatic", somatic_concept_sets=["ect"])]
    from trd_spark.report.tables import nested_definitions

    assert nested_definitions(defs) == [("ad3", "ad4"), ("ad3", "aug4"), ("ad4", "aug4")]

    def outsider(rc: ReleaseCounts) -> Attacker:
        export = exported(suppress_release(rc, T))
        a = Attacker(T)
        for r in export["cohort_counts"].itertuples():
            a.cell(("status", r.definition, r.status), r.n)
        for r in export["results"].itertuples():  # everyone has the score: n = TRD + non-MDD, cases = TRD
            a.cell(("n", r.definition), r.n)
            a.cell(("n_cases", r.definition), r.n_cases)
            a.know({("n", r.definition): 1, ("status", r.definition, "TRD"): -1, ("status", r.definition, "non_MDD"): -1})
            a.know({("n_cases", r.definition): 1, ("status", r.definition, "TRD"): -1})
        # The MDD total and non-MDD are the same under every definition.
        a.know({**{("status", "A", s): 1 for s in STATUSES[:3]}, **{("status", "B", s): -1 for s in STATUSES[:3]}})
        a.know({("status", "A", "non_MDD"): 1, ("status", "B", "non_MDD"): -1})
        a.know({("status", "A", "TRD"): 1, ("status", "B", "TRD"): -1, ("gap",): -1})  # B's TRD persons are A's
        return a

    rc = definitions_release({"A": 60, "B": 53})
    before = outsider(rc)
    assert before.determined(("gap",)) and before.interval(("gap",)) == pytest.approx((7, 7))
    after = outsider(ReleaseCounts(**{**rc.__dict__, "nested_definitions": [("A", "B")]}))
    lo, hi = after.interval(("gap",))
    assert not after.determined(("gap",)) and lo - 1e-6 <= 7 <= hi + 1e-6 and hi - lo >= T - 2, (lo, hi)


@pytest.mark.parametrize("controls_equal", [True, False], ids=["controls-equal", "controls-at-most"])
def test_nested_definitions_models_give_no_small_difference(controls_equal):
    """Privacy round 14, item 1: under nested TRD definitions (every person TRD under B is TRD
    under A; 60 and 53 TRD persons, 7 hidden by round 13) the models' TRD cases nest too: n_cases
    50 under A and 45 under B (the same score and covariates) told the 5 nested persons with data
    (03d83c4 showed both), and a model's controls with data are at most its control statuses
    (n - n_cases <= non-MDD: with n 804 and non-MDD 759 shown a hidden n_cases of 45 is >= 45).
    The audit states both (``tables.nested_model_relations``; the controls linked to their
    statuses), so no group here is narrower than its labels leave: the 7, the 5, and the TRD
    persons lacking data under each definition (10, 8). ``controls_equal``: the outsider also
    equates the two models' controls (the same non-MDD persons with data), or relies on the
    inequality alone (with neither stated by the audit, n 804 was shown and the 5 read as 0..5)."""
    from test_report_suppression import definitions_release

    rc = definitions_release({"A": 60, "B": 53})
    rc = ReleaseCounts(**{**rc.__dict__, "nested_definitions": [("A", "B")],
                          "logistic": rc.logistic.assign(n_cases=[50, 45], n=[809, 804])})

    def outsider(export: dict[str, pd.DataFrame]) -> Attacker:
        a = Attacker(T)
        for r in export["cohort_counts"].itertuples():
            a.cell(("status", r.definition, r.status), r.n)
        for r in export["results"].itertuples():
            d = r.definition
            a.cell(("n", d), r.n)
            a.cell(("n_cases", d), r.n_cases)
            a.know({("n", d): 1, ("n_cases", d): -1, ("controls", d): -1})
            a.know({("n_cases", d): 1, ("lacking", d): 1, ("status", d, "TRD"): -1})  # cases <= TRD persons
            a.know({("controls", d): 1, ("controls_lacking", d): 1, ("status", d, "non_MDD"): -1})  # <= non-MDD
        a.know({**{("status", "A", s): 1 for s in STATUSES[:3]}, **{("status", "B", s): -1 for s in STATUSES[:3]}})
        a.know({("status", "A", "non_MDD"): 1, ("status", "B", "non_MDD"): -1})
        if controls_equal:  # the same non-MDD persons with data
            a.know({("controls", "A"): 1, ("controls", "B"): -1})
        a.know({("status", "A", "TRD"): 1, ("status", "B", "TRD"): -1, ("gap",): -1})  # B's TRD persons are A's
        a.know({("n_cases", "A"): 1, ("n_cases", "B"): -1, ("model_gap",): -1})  # ... with data too
        a.know({("gap",): 1, ("model_gap",): -1, ("gap_lacking",): -1})
        return a

    targets = {("gap",): 7, ("model_gap",): 5, ("lacking", "A"): 10, ("lacking", "B"): 8}
    a, base = outsider(exported(suppress_release(rc, T))), outsider(fully_hidden_tables(rc))
    for k, v in targets.items():
        lo, hi = a.interval(k)
        b_lo, b_hi = base.interval(k)
        assert lo - 1e-6 <= v <= hi + 1e-6 and not a.determined(k), (k, lo, hi)
        assert hi - lo >= min(T - 2, b_hi - b_lo) - 1e-6, (k, lo, hi, b_lo, b_hi)


def fully_hidden_tables(rc: ReleaseCounts) -> dict[str, pd.DataFrame]:
    """The status and model counts of ``rc`` with every non-zero count hidden, as text: what the
    labels alone say (``fully_hidden`` for a release without flow, Cox or curves)."""
    def label(v):
        return str(v) if v == 0 else ("<20" if v < T else "suppressed")

    return {"cohort_counts": rc.cohort_counts.assign(n=rc.cohort_counts.n.map(label)),
            "results": rc.logistic.assign(n=rc.logistic.n.map(label), n_cases=rc.logistic.n_cases.map(label))}


def test_mdd_vs_nonmdd_cases_give_no_small_group_of_mdd_other_lacking_data():
    """Privacy round 14, item 3 (the next arithmetic: a contrast's cases less another contrast's
    n): MDD vs non-MDD's cases (425) less TRD vs trMDD's n (330, the TRD and trMDD persons with
    the score) are the MDD_other persons with data, 95, and with MDD_other 100 shown the 5
    lacking the score (``export_attacker.mdd_other_with_data``). 03d83c4's audit had the 95 as a
    cell but not as part of the MDD_other persons: it showed all four counts. The audit now links
    it to its status (``build_audit``)."""
    from test_report_suppression import definitions_release

    rc = definitions_release({"A": 80})  # TRD 80 (30 lack the score), trMDD 280, MDD_other 100
    lg = pd.DataFrame([("d", "A", "trd_vs_trmdd", "P1", 330, 50), ("d", "A", "mdd_vs_nonmdd", "P1", 1184, 425)],
                      columns=["dataset", "definition", "contrast", "pgs_id", "n", "n_cases"])
    rc = ReleaseCounts(**{**rc.__dict__, "logistic": lg})
    statuses = {(r.dataset, r.definition, r.status): int(r.n) for r in rc.cohort_counts.itertuples()}

    def outsider(export: dict[str, pd.DataFrame]) -> tuple[Attacker, dict]:
        a, targets = Attacker(T), {}
        for r in export["cohort_counts"].itertuples():
            a.cell(("status", r.dataset, r.definition, r.status), r.n)
        for r in export["results"].itertuples():
            key = (r.dataset, r.definition, r.contrast, r.pgs_id)
            a.cell(("n", *key), r.n)
            a.cell(("n_cases", *key), r.n_cases)
        mdd_other_with_data(a, targets, export["results"], lg.set_index(["dataset", "definition", "contrast", "pgs_id"]),
                            statuses, T)
        return a, targets

    (a, targets), (base, _) = outsider(exported(suppress_release(rc, T))), outsider(fully_hidden_tables(rc))
    assert targets == {("mdd_other_lacking", "d", "A", "P1"): 5}
    for k, v in targets.items():
        lo, hi = a.interval(k)
        b_lo, b_hi = base.interval(k)
        assert lo - 1e-6 <= v <= hi + 1e-6 and not a.determined(k), (k, lo, hi)
        assert hi - lo >= min(T - 2, b_hi - b_lo) - 1e-6, (k, lo, hi, b_lo, b_hi)


def test_groups_no_definition_changes_give_no_small_group_across_definitions():
    """Privacy round 15, item 2: of one dataset and score, TRD vs trMDD's n (the persons with an
    adequate trial and data), the MDD_other persons with data and the Cox model's n are the same
    persons under every TRD definition here, and the outsider equates them
    (``export_attacker.same_groups_across_definitions``). With 25 MDD_other persons and 25 with a
    trial lacking P1 (so neither is pinned by a status count), a61194e's audit, which did not
    state those equalities, hid TRD vs trMDD's n (P1) under definition B and showed it under C
    (185), with B's trMDD persons with P1 (178): the outsider read B's 7 TRD persons exactly
    (and the 3 lacking P2 as 0..6). The audit now states them (``tables.same_across_definitions``)."""
    persons = simulate_persons(lacking_p1=25)
    persons = persons[persons.dataset == "big"].reset_index(drop=True)
    # Statuses and models only: the curve sets and ancestry groups bear on other groups.
    rc = ReleaseCounts(**{**release_from_persons(persons).__dict__, "km_curves": None, "pgs_distribution": None})
    a, targets = attack(exported(suppress_release(rc, T)), rc, persons)
    base, _ = attack(exported(fully_hidden(rc)), rc, persons)
    assert targets[("status", "big", "B", "TRD")] == 7
    for k, v in sorted(targets.items(), key=str):
        lo, hi = a.interval(k)
        b_lo, b_hi = base.interval(k)
        assert not a.determined(k) and lo - 1e-6 <= v <= hi + 1e-6, (k, lo, hi)
        assert hi - lo >= min(T - 2, b_hi - b_lo) - 1e-6, (k, lo, hi, b_lo, b_hi)


def nested_definition_thirds(definition: str, not_trd: int) -> pd.DataFrame:
    """KM_CURVES grid rows (30-day grid) of one curve set under ``definition``: three thirds of 100
    persons (20 events on day 15, 20 censored on day 25, 20 events on day 45, 40 censored on
    day 200), where ``not_trd`` of third 1's day-15 events are no TRD under this definition
    (censored on day 200 instead)."""
    out = []
    for tertile in (1, 2, 3):
        moved = not_trd if tertile == 1 else 0
        duration = np.array([15] * (20 - moved) + [25] * 20 + [45] * 20 + [200] * (40 + moved), dtype=float)
        event = np.array([1] * (20 - moved) + [0] * 20 + [1] * 20 + [0] * (40 + moved), dtype=float)
        grid = km_on_grid(duration, event, np.arange(0, 201, 30))
        out.append(grid.assign(dataset="d", definition=definition, pgs_id="P1", trait="P1", tertile=tertile))
    return pd.concat(out, ignore_index=True)[KM_CURVES.names]


def test_nested_definitions_km_numbers_at_risk_give_no_small_difference():
    """Privacy round 15, item 4 (the next arithmetic: Kaplan-Meier tables across TRD
    definitions). Under nested definitions (every person TRD under B is TRD under A, no earlier)
    a curve set's thirds are the same persons, and whoever is at risk on a day under A is at risk
    under B: third 1 shows 40 at risk on day 60 under A and 47 under B, the 7 persons TRD by day
    60 under A only (a61194e's export showed both). The audit now states that difference as a
    group (``tables.nested_km_relations``): no day both export for one third differs by 1..19."""
    grid = pd.concat([nested_definition_thirds("A", 0), nested_definition_thirds("B", 7)], ignore_index=True)
    rc = ReleaseCounts(cohort_flow=pd.DataFrame(columns=["definition", "step_order", "step", "n"]), cohort_counts=None,
                       logistic=pd.DataFrame(columns=["dataset", "definition", "contrast", "pgs_id", "n", "n_cases"]),
                       cox=None, pgs_distribution=None, primary_definition="A", km_curves=coarsen_km(grid, T))
    at_risk = rc.km_curves.set_index(["definition", "tertile", "time_days"])["n_at_risk"]
    assert (at_risk.loc[("B", 1, 60)], at_risk.loc[("A", 1, 60)]) == (47, 40)  # both published days
    safe = suppress_release(ReleaseCounts(**{**rc.__dict__, "nested_definitions": [("A", "B")]}), T)
    shown = safe["km_curves"].astype({"n_at_risk": int}).set_index(["definition", "tertile", "time_days"])["n_at_risk"]
    both = [(k, t) for d, k, t in shown.index if d == "A" and ("B", k, t) in shown.index]
    assert not [(k, t) for k, t in both if 0 < abs(shown.loc[("B", k, t)] - shown.loc[("A", k, t)]) < T], shown
