"""Session 53 (cox): the Cox model's time at risk (observation gaps) and the meta-analysis's inputs.

Oracles: lifelines' CoxPHFitter called directly on hand-built frames; hand-computed
inverse-variance pooling (1/se^2 weights).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from models_sim import grid_config

from trd_spark.models.synthesis import META_UNUSABLE_NOTE, difference_table, meta_table, replication_table


def _logistic(rows: list[tuple]) -> pd.DataFrame:
    """Logistic-table rows from (dataset, contrast, pgs_id, beta, se, p, converged); definition ad3."""
    df = pd.DataFrame(rows, columns=["dataset", "contrast", "pgs_id", "beta", "se", "p", "converged"])
    df["definition"] = "ad3"
    df["trait"], df["domain"] = df["pgs_id"] + " trait", "sleep"
    df["q_fdr"] = df["p_bonferroni"] = df["p"]
    df["note"] = ""
    return df


# discovery and replication_array usable; replication_wgs converged with an infinite SE (P1), a zero
# SE (P2), a NaN estimate (P3).
_BAD = {"P1": (0.9, np.inf, 0.5), "P2": (0.9, 0.0, 0.5), "P3": (np.nan, 0.2, 0.5)}


def _grid() -> pd.DataFrame:
    rows = []
    for pgs, (b, s, p) in _BAD.items():
        rows += [("discovery", "trd_vs_nonmdd", pgs, 0.2, 0.1, 0.04, True),
                 ("replication_array", "trd_vs_nonmdd", pgs, 0.1, 0.1, 0.3, True),
                 ("replication_wgs", "trd_vs_nonmdd", pgs, b, s, p, True)]
    return _logistic(rows)


def test_meta_leaves_out_converged_rows_without_a_finite_estimate(caplog):
    """Before session 53: a converged row with an infinite SE passed ``_ok`` (inf > 0), weighed 0
    in combine_effects and was counted in k (3, its dataset among ``datasets``), silently."""
    from trd_spark.models.synthesis import warn_unusable

    lg = _grid()
    meta = meta_table(lg, grid_config())
    for pgs in _BAD:
        row = meta[(meta.method == "fixed") & (meta.pgs_id == pgs)].iloc[0]
        assert row["k"] == 2, pgs
        assert row["datasets"] == "discovery,replication_array"
        # fixed effect of 0.2 and 0.1 with equal weights
        assert row["beta"] == pytest.approx(0.15) and row["se"] == pytest.approx(0.1 / np.sqrt(2))
        assert META_UNUSABLE_NOTE in row["note"] and "replication_wgs" in row["note"]
    with caplog.at_level(logging.WARNING, logger="trd_spark.models.synthesis"):
        assert warn_unusable(lg, "logistic") == 3
    text = caplog.text
    assert "3 converged fit(s)" in text
    assert all(f"replication_wgs/ad3/trd_vs_nonmdd/{pgs}" in text for pgs in _BAD)


def test_difference_and_replication_do_not_read_an_infinite_se_as_p_1():
    """Before session 53: the difference test took a converged TRD fit with se = inf, so
    z = beta_diff / inf = 0 and p = 1 was published as a test; the replication table published
    the infinite se beside a 'same direction' verdict."""
    lg = _logistic([
        ("discovery", "trd_vs_nonmdd", "P1", 0.4, np.inf, 0.5, True),
        ("discovery", "trmdd_vs_nonmdd", "P1", 0.1, 0.1, 0.3, True),
    ])
    d = difference_table(lg).iloc[0]
    assert np.isnan(d["z"]) and np.isnan(d["p"])
    cfg = grid_config()
    disc = _logistic([("discovery", "trd_vs_nonmdd", "P1", 0.4, 0.1, 1e-6, True),
                      ("replication_wgs", "trd_vs_nonmdd", "P1", 0.3, np.inf, 0.01, True)])
    rep = replication_table(disc, cfg)
    row = rep[rep.dataset == "replication_wgs"].iloc[0]
    assert np.isnan(row["se"]) and not row["replicated"] and "non-finite" in row["note"]


# ---------------------------------------------------------------------------- Cox time at risk
# Toy config: cutoff 2023-07-01; every person born 1970, MDD on 2015-03-01 and 2015-04-01 (index
# 2015-03-01); TRD by the somatic definition (the first ECT on/after the index). Periods by person:
# pid -> (periods, ECT dates, what it is, expected (at_risk_end, time_to_trd_days, trd_event) under
# index_period, and under followup).
def _d(s: str):
    import datetime as dt
    return dt.date.fromisoformat(s)


def _days(a: str, b: str) -> int:
    return (_d(b) - _d(a)).days


INDEX = "2015-03-01"
CUTOFF = "2023-07-01"
GAPS = {
    1: ([("2015-01-01", "2016-12-31"), ("2020-01-01", "2023-12-31")], ["2021-06-01"],
        "observed 2015-2016 and 2020-2023, ECT in 2021: before session 53 a TRD event after 3 unobserved years",
        ("2016-12-31", _days(INDEX, "2016-12-31"), 0), (CUTOFF, _days(INDEX, "2021-06-01"), 1)),
    2: ([("2015-01-01", "2016-12-31"), ("2020-01-01", "2023-12-31")], ["2016-01-01"],
        "the same periods, ECT within the index's period: an event under both rules",
        ("2016-12-31", _days(INDEX, "2016-01-01"), 1), (CUTOFF, _days(INDEX, "2016-01-01"), 1)),
    3: ([("2000-01-01", "2023-12-31")], [], "one period, no gap: unchanged",
        (CUTOFF, _days(INDEX, CUTOFF), 0), (CUTOFF, _days(INDEX, CUTOFF), 0)),
    4: ([("2010-01-01", "2015-06-30"), ("2015-07-01", "2018-12-31"), ("2016-01-01", "2017-01-01"),
         ("2021-01-01", "2023-12-31")], [],
        "touching and nested periods are one span (2010-2018), then a gap",
        ("2018-12-31", _days(INDEX, "2018-12-31"), 0), (CUTOFF, _days(INDEX, CUTOFF), 0)),
    5: ([("2016-01-01", "2017-12-31"), ("2020-01-01", "2023-12-31")], [],
        "index before the first period (records outside periods count): the next period's end",
        ("2017-12-31", _days(INDEX, "2017-12-31"), 0), (CUTOFF, _days(INDEX, CUTOFF), 0)),
    6: ([("2010-01-01", "2014-12-31"), ("2016-01-01", "2017-12-31"), ("2020-01-01", "2023-12-31")], [],
        "index in a gap between two periods: the next period's end",
        ("2017-12-31", _days(INDEX, "2017-12-31"), 0), (CUTOFF, _days(INDEX, CUTOFF), 0)),
    7: ([("2015-01-01", "2015-03-01"), ("2016-01-01", "2023-12-31")], ["2015-03-01"],
        "index on its period's last day, ECT the same day: an event at day 1 (prevalent rule)",
        ("2015-03-01", 1, 1), (CUTOFF, 1, 1)),
    8: ([("2010-01-01", "2015-06-30"), (None, "2023-12-31")], [],
        "a period without a start date: its first day unknown, read from 1 January of the birth year (one span)",
        (CUTOFF, _days(INDEX, CUTOFF), 0), (CUTOFF, _days(INDEX, CUTOFF), 0)),
}


# Simulated persons for the model oracle: index 2015-03-01, observed from 2015-01-01 to a first
# end, then (some) again from 2020-01-01; an ECT (TRD onset) on a drawn day, whose hazard rises with
# the PGS, in or out of observation. pid -> (periods, ECT dates, pgs).
def _simulated() -> dict[int, tuple[list[tuple[str, str]], list[str], float]]:
    import datetime as dt

    rng = np.random.default_rng(53)
    out = {}
    index = _d(INDEX)
    for pid in range(100, 180):
        pgs = float(rng.normal())
        first_end = index + dt.timedelta(days=int(rng.integers(200, 1500)))
        periods = [("2015-01-01", first_end.isoformat())]
        if rng.random() < 0.6:
            periods.append(("2020-01-01", "2023-12-31"))
        onset = index + dt.timedelta(days=int(rng.exponential(1500 * np.exp(-0.7 * pgs))) + 1)
        out[pid] = (periods, [onset.isoformat()] if onset <= _d("2023-06-30") else [], pgs)
    return out


SIMULATED = _simulated()


def _gap_rows() -> dict[str, list]:
    from test_phenotypes_support import ECT_SNOMED, MDD_CONCEPT, cond, person, proc

    everyone = {**{p: (v[0], v[1]) for p, v in GAPS.items()}, **{p: (v[0], v[1]) for p, v in SIMULATED.items()}}
    return {
        "person": [person(p) for p in everyone],
        "observation_period": [(p, s and _d(s), _d(e)) for p, (periods, _) in everyone.items() for s, e in periods],
        "condition_occurrence": [cond(p, MDD_CONCEPT, day) for p in everyone for day in (INDEX, "2015-04-01")],
        "procedure_occurrence": [proc(p, ECT_SNOMED, day) for p, (_, ects) in everyone.items() for day in ects],
    }


def _cfg(rule: str):
    from test_phenotypes_support import toy_config

    cfg = toy_config()
    # the spans without a persistence window (session 53's rule; its gaps of 305 and 365 days would be
    # bridged by the default observation_period_gap_days 547: test_obsperiod_s57)
    return cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(
        update={"cox_time_at_risk": rule, "observation_period_gap_days": 0})})


@pytest.fixture(scope="module")
def somatic(spark) -> dict[str, pd.DataFrame]:
    """rule -> the somatic definition's PHENOTYPES rows of every person above (one Spark run per rule)."""
    from test_phenotypes_support import omop_tables

    from trd_spark.phenotypes.stage import derive_phenotype_tables

    rows = _gap_rows()
    omop = omop_tables(spark, persons=rows["person"], observation_periods=rows["observation_period"],
                       conditions=rows["condition_occurrence"], procedures=rows["procedure_occurrence"])
    from trd_spark.phenotypes.persons import index_period_count_columns
    from trd_spark.phenotypes.stage import mdd_index_periods
    from trd_spark.phenotypes.trd import time_at_risk_columns

    out: dict = {}
    for rule in ("index_period", "followup"):
        cfg = _cfg(rule)
        tables = derive_phenotype_tables(omop, cfg)
        out[rule] = tables.phenotypes.where("definition = 'somatic'").select(
            "person_id", "status", "trd_onset_date", "at_risk_end_date", "time_to_trd_days", "trd_event").toPandas()
        # the stage's counts (observed as it writes; the same aggregates here)
        out[f"{rule}:counts"] = tables.phenotypes.agg(*time_at_risk_columns(["somatic"])).first().asDict()
        periods = mdd_index_periods(cfg, omop["observation_period"], tables.persons, tables.mdd)
        out[f"{rule}:periods"] = None if periods is None else periods.agg(*index_period_count_columns()).first().asDict()
    return out


@pytest.mark.parametrize("rule", ["index_period", "followup"])
def test_time_at_risk_ends_with_the_index_observation_period(somatic, rule):
    """Before session 53 (one rule, followup's): person 1, observed 2015-2016 and 2020-2023, was a
    TRD event 2,284 days after the index, the unobserved 2017-2019 counted at risk; person 4's
    touching periods, 5's and 6's index outside every period had no rule. Under index_period the
    Cox time at risk ends with the index's observation span (the status keeps the follow-up)."""
    got = somatic[rule].set_index("person_id")
    for pid, (_, ects, why, by_period, by_followup) in GAPS.items():
        end, time, event = by_period if rule == "index_period" else by_followup
        r = got.loc[pid]
        assert (r.at_risk_end_date, r.time_to_trd_days, r.trd_event) == (_d(end), time, event), (pid, why)
        # the status reads the follow-up, whatever the rule: no drugs, so no trial
        assert r.status == ("TRD" if ects else "MDD_other"), (pid, why)
    assert got.loc[1].trd_event == (0 if rule == "index_period" else 1)


def test_cox_fit_matches_lifelines_on_a_hand_censored_frame(somatic):
    """Oracle: lifelines' CoxPHFitter called directly on a frame built here from the periods (each
    person censored at the end of the first period ending on/after the index, or at the cutoff;
    an ECT after that end is no event) equals the pipeline's ``fit_cox`` on the phenotypes' time and
    event. Under followup's rule (before session 53) the estimate differs: the gap time counted at
    risk and the onsets recorded after a gap counted as events."""
    from lifelines import CoxPHFitter

    from trd_spark.models.cox import fit_cox

    rows = []
    for pid, (periods, ects, pgs) in SIMULATED.items():
        end = min(_d(e) for s, e in periods if _d(e) >= _d(INDEX))
        end = min(end, _d(CUTOFF))
        onset = _d(ects[0]) if ects else None
        event = onset is not None and onset <= end
        rows.append({"person_id": pid, "pgs": pgs, "T": max(((onset if event else end) - _d(INDEX)).days, 1),
                     "E": int(event)})
    hand = pd.DataFrame(rows)
    oracle = CoxPHFitter().fit(hand[["T", "E", "pgs"]], duration_col="T", event_col="E").summary.loc["pgs"]
    ours = {}
    for rule in ("index_period", "followup"):
        frame = somatic[rule].merge(hand[["person_id", "pgs"]], on="person_id")
        ours[rule] = fit_cox(frame, "pgs", [])
    assert ours["index_period"]["converged"] and ours["index_period"]["n"] == len(hand)
    assert ours["index_period"]["n_events"] == int(hand["E"].sum())
    assert ours["index_period"]["beta"] == pytest.approx(oracle["coef"], rel=1e-9)
    assert ours["index_period"]["se"] == pytest.approx(oracle["se(coef)"], rel=1e-9)
    assert ours["followup"]["n_events"] > ours["index_period"]["n_events"]
    assert abs(ours["followup"]["beta"] - oracle["coef"]) > 1e-3


@pytest.mark.parametrize("rule", ["index_period", "followup"])
def test_duckdb_twin_agrees_on_the_time_at_risk(somatic, tmp_path, rule):
    """The DuckDB twin (its own gaps-and-islands SQL over observation_period) gives the same time
    to TRD and event as the hand values above. Before session 53 it knew only followup's rule."""
    from test_phenotypes_support import ANCESTRY, CONCEPTS, duckdb_twin_rows, write_omop_tables

    cfg = _cfg(rule)
    write_omop_tables(tmp_path, {**_gap_rows(), "concept": CONCEPTS,
                                 "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY]})
    got = {p: (t, e) for p, t, e in duckdb_twin_rows(tmp_path, cfg, tmp_path / "twin.parquet",
                                                     "person_id, time_to_trd_days, trd_event",
                                                     "definition = 'somatic'")}
    want = {pid: (by_period if rule == "index_period" else by_followup)[1:]
            for pid, (*_, by_period, by_followup) in GAPS.items()}
    assert {p: got[p] for p in GAPS} == want
    # and every simulated person as the Spark chain has them
    ours = somatic[rule]
    assert got == {int(p): (int(t), int(e)) for p, t, e in ours[["person_id", "time_to_trd_days", "trd_event"]]
                   .itertuples(index=False)}


def test_the_stage_counts_what_the_rule_changes(somatic):
    """The phenotype stage's ``notes.cox_time_at_risk`` (``time_at_risk_notes``) and its log lines: the
    indexes outside every period (person 5 before the first, 6 between two), the persons whose time at
    risk ends before their follow-up, the onsets censored and the days no longer at risk, equal to
    what the two rules' rows differ by. The log shows persons as labels (<20 below the threshold), no
    day total. Before session 53 there was no count (no rule)."""
    from trd_spark.phenotypes.stage import time_at_risk_log_lines, time_at_risk_notes

    new, old = (somatic[r].set_index("person_id").sort_index() for r in ("index_period", "followup"))
    counts = somatic["index_period:counts"]
    assert counts["somatic:n_at_risk_shortened"] == int((new["at_risk_end_date"] < old["at_risk_end_date"]).sum())
    assert counts["somatic:n_events_censored"] == int(((new["status"] == "TRD") & (new["trd_event"] == 0)).sum()) > 0
    assert counts["somatic:n_events_censored"] == int((old["trd_event"] - new["trd_event"]).sum())
    assert counts["somatic:days_not_at_risk"] == int((old["time_to_trd_days"] - new["time_to_trd_days"]).sum()) > 0
    assert all(v == 0 for v in somatic["followup:counts"].values()) and somatic["followup:periods"] is None
    assert somatic["index_period:periods"] == {"n_mdd_index_before_first_period": 1, "n_mdd_index_between_periods": 1,
                                               "n_mdd_index_no_period": 0}
    cfg = _cfg("index_period")
    notes = time_at_risk_notes(cfg, counts, somatic["index_period:periods"])
    assert notes["rule"] == "index_period" and notes["n_mdd_index_before_first_period"] == 1
    assert notes["definitions"]["somatic"]["n_events_censored"] == counts["somatic:n_events_censored"]
    lines = time_at_risk_log_lines(notes, 20)
    warnings = [t for level, t in lines if level == logging.WARNING]
    # session 54: the somatic line is a WARNING too, its onsets censored (test_cox_s54)
    assert warnings[1:] == ["MDD index outside every observation period: <20 person(s) before their first period, "
                            "<20 between two (records outside observation periods count; their Cox time at risk runs "
                            "to the end of the next period)"]
    somatic_line = next(t for _, t in lines if t.startswith("somatic:"))
    assert warnings[0] == somatic_line
    assert counts["somatic:n_at_risk_shortened"] >= 20 and "for 20+ MDD person(s)" in somatic_line
    assert str(counts["somatic:n_at_risk_shortened"]) not in somatic_line
    assert str(counts["somatic:days_not_at_risk"]) not in somatic_line
