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

import numpy as np
import pandas as pd
import pytest
from export_attacker import Attacker

from trd_spark.models.km import coarsen_km, km_curves_for_pgs
from trd_spark.report.suppression import suppress_small_counts
from trd_spark.report.tables import CONTRAST_GROUPS, ReleaseCounts, suppress_release

T = 20
STATUSES = ("TRD", "trMDD", "MDD_other", "non_MDD")
DEFINITIONS = {"A": 60, "B": 7, "C": 0}  # TRD persons in the big dataset per definition
PGS = ("P1", "P2")


def simulate_persons(seed: int = 3) -> pd.DataFrame:
    """One row per person x definition: dataset, definition, status, ancestry, P1, P2 (P2
    missing for 3 MDD persons), time to TRD (days) and event."""
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


def attack(export: dict[str, pd.DataFrame], rc: ReleaseCounts, persons: pd.DataFrame) -> tuple[Attacker, dict]:
    """The outsider's system from the exported tables and the study structure. Returns the
    attacker and the hidden small groups to check {variable: true value}: every status count
    of 1..19, the persons lacking a PGS, the TRD events left after each KM curve's end."""
    a = Attacker(T)
    targets: dict = {}
    mdd_statuses = ("TRD", "trMDD", "MDD_other")
    for r in export["cohort_counts"].itertuples():
        a.cell(("status", r.dataset, r.definition, r.status), r.n)
    for ds in persons.dataset.unique():
        for definition in DEFINITIONS:
            st = {s: ("status", ds, definition, s) for s in STATUSES}
            # Design: the MDD total, MDD_other and non-MDD do not depend on the TRD definition.
            a.know({("mdd", ds): 1, **{st[s]: -1 for s in mdd_statuses}})
            a.know({("other", ds): 1, st["MDD_other"]: -1})
            a.know({("non", ds): 1, st["non_MDD"]: -1})
    true = persons.groupby(["dataset", "definition", "status"]).size()
    for k, v in true.items():
        if 0 < v < T:
            targets[("status", *k)] = int(v)

    def missing(ds, definition, pgs, statuses) -> int:
        g = persons[(persons.dataset == ds) & (persons.definition == definition) & persons.status.isin(statuses)]
        return int(g[pgs].isna().sum())

    for r in export["results"].itertuples():
        cases, whole = CONTRAST_GROUPS[r.contrast]
        key = (r.dataset, r.definition, r.contrast, r.pgs_id)
        n, k = a.cell(("n",) + key, r.n), a.cell(("n_cases",) + key, r.n_cases)
        miss_n, miss_k = ("miss_n",) + key, ("miss_cases",) + key
        a.know({n: 1, miss_n: 1, **{("status", r.dataset, r.definition, s): -1 for s in whole}})
        a.know({k: 1, miss_k: 1, **{("status", r.dataset, r.definition, s): -1 for s in cases}})
        # The outsider even knows which models have complete data (a worst case).
        if missing(r.dataset, r.definition, r.pgs_id, whole) == 0:
            a.know({miss_n: 1})
            a.know({miss_k: 1})
        elif 0 < missing(r.dataset, r.definition, r.pgs_id, whole) < T:
            targets[miss_n] = missing(r.dataset, r.definition, r.pgs_id, whole)
    for r in export["cox"].itertuples():
        key = (r.dataset, r.definition, r.pgs_id)
        n, e = a.cell(("cox_n",) + key, r.n), a.cell(("cox_events",) + key, r.n_events)
        a.know({n: 1, ("cox_miss",) + key: 1, ("mdd", r.dataset): -1})
        a.know({e: 1, ("cox_miss_events",) + key: 1, ("status", r.dataset, r.definition, "TRD"): -1})
        if missing(r.dataset, r.definition, r.pgs_id, mdd_statuses) == 0:
            a.know({("cox_miss",) + key: 1})
            a.know({("cox_miss_events",) + key: 1})
    # Kaplan-Meier: thirds add up to the MDD persons with the PGS, their events (the survival
    # drop between two shown times, given exactly here: a worst case) to the TRD persons.
    internal = rc.km_curves.set_index(["dataset", "definition", "pgs_id", "tertile", "time_days"])["n_events_after"]
    for (ds, definition, pgs), curves in export["km_curves"].groupby(["dataset", "definition", "pgs_id"]):
        key = (ds, definition, pgs)
        persons_eq, events_eq = {("km_miss",) + key: 1, ("mdd", ds): -1}, {("km_miss_ev",) + key: 1,
                                                                             ("status", ds, definition, "TRD"): -1}
        for k, g in curves.groupby("tertile"):
            g = g.sort_values("time_days", key=lambda c: c.astype(int))
            k, times = int(k), [int(t) for t in g.time_days]
            risk = [a.cell(("km_risk",) + key + (k, t), v) for t, v in zip(times, g.n_at_risk)]
            after = [int(internal[key + (k, t)]) for t in times]
            persons_eq[risk[0]] = 1
            for j in range(1, len(risk)):
                cens = ("km_cens",) + key + (k, j)
                a.know({risk[j - 1]: 1, risk[j]: -1, cens: -1}, after[j - 1] - after[j])
                events_eq[("km_step_events",) + key + (k, j)] = 1
                a.know({("km_step_events",) + key + (k, j): 1}, after[j - 1] - after[j])
            tail = ("km_tail_events",) + key + (k,)
            a.know({risk[-1]: 1, tail: -1, ("km_tail_cens",) + key + (k,): -1})
            events_eq[tail] = 1
            if 0 < after[-1] < T:
                targets[tail] = after[-1]
        a.know(persons_eq)
        a.know(events_eq)
        if missing(ds, definition, pgs, mdd_statuses) == 0:
            a.know({("km_miss",) + key: 1})
            a.know({("km_miss_ev",) + key: 1})
    dist = export["pgs_distribution"].drop_duplicates(["dataset", "ancestry"])
    for ds, g in dist.groupby("dataset"):
        a.know({**{a.cell(("anc", ds, r.ancestry), r.n): 1 for r in g.itertuples()},
                ("mdd", ds): -1, ("non", ds): -1})
    for ds, g in persons[persons.definition == "A"].groupby("dataset"):
        for anc, n in g.ancestry.value_counts().items():
            if n < T:
                targets[("anc", ds, anc)] = int(n)
    for definition, g in export["cohort_flow"].groupby("definition"):
        s = {r.step: a.cell(("flow", definition, r.step), r.n) for r in g.itertuples()}
        a.know({s["mdd_included"]: 1, s["TRD"]: -1, s["trMDD"]: -1, s["MDD_other_no_adequate_trial"]: -1})
        a.know({s["TRD"]: 1, ("status", "big", definition, "TRD"): -1})
        a.know({s["non_MDD"]: 1, ("non", "big"): -1})
    return a, targets


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
    _, rc, safe = toy
    km = safe["km_curves"]
    assert "n_events_after" not in km
    assert len(km) and (km.n_at_risk >= T).all()
    # Definition B (7 TRD persons): no step can have 20 events, only the starting points remain.
    assert (km[km.definition == "B"].time_days == 0).all()
