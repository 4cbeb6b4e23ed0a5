"""Session 57 (obsperiod): the observation periods' persistence window before the Cox time at risk.

Before: ``phenotypes.cox_time_at_risk: index_period`` ended the time at risk with the observation span
holding the MDD index, a span being periods that overlap or touch; any gap of one day or more ended it.
All of Us' ``observation_period`` holds overly short periods and, for some participants, hundreds of them
(R package allofus, ``aou_observation_period``), so a time at risk could end days after the index and an
onset recorded in a later period, weeks on, was censored. Now periods separated by at most
``phenotypes.observation_period_gap_days`` unobserved days (default 547: the OHDSI CDM EHR Working Group's
"a gap of 548 days or more ends a period", allofus' ``persistence_window = 548``) are one span first,
counted in the manifest (``notes.cox_time_at_risk``) and an INFO line with person labels.

Hand-worked persons (toy config: cutoff 2023-07-01, born 1970, MDD on 2015-03-01 and 2015-04-01, so the
index is 2015-03-01; TRD by the somatic definition, the first ECT on/after the index; no drug, so no
trial): the phenotype stage run once (window 547, the default) and the DuckDB twin (its own SQL) under
547 and 0 against the same hand values. Window 0 is session 53's rule (test_cox_s53 pins it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from test_phenotypes_support import (
    ANCESTRY,
    CONCEPTS,
    ECT_SNOMED,
    MDD_CONCEPT,
    SERTRALINE_TAB,
    cond,
    death,
    drug,
    duckdb_twin_rows,
    person,
    proc,
    toy_config,
    write_omop_tables,
)


def _d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def _days(a: str, b: str) -> int:
    return (_d(b) - _d(a)).days


INDEX, CUTOFF, WINDOW = "2015-03-01", "2023-07-01", 547


def _censored(end: str) -> tuple[str, int, int]:
    return end, max(_days(INDEX, end), 1), 0


def _event(end: str, onset: str) -> tuple[str, int, int]:
    return end, _days(INDEX, onset), 1


# pid -> (periods, ECT dates, death, why, (at_risk_end, time_to_trd_days, trd_event) under the window 547,
# and under 0). Unobserved days between periods: datediff(next start, end) - 1.
CASES = {
    71: ([("2014-01-01", "2015-12-31"), ("2016-03-01", "2023-12-31")], ["2020-06-01"], None,
         "a gap of 60 days, the ECT in the later period: an event now, censored at the first period's end before",
         _event(CUTOFF, "2020-06-01"), _censored("2015-12-31")),
    72: ([("2014-01-01", "2015-12-31"), ("2017-07-01", "2023-12-31")], ["2018-01-01"], None,
         "a gap of exactly 547 days (2016-01-01..2017-06-30): bridged",
         _event(CUTOFF, "2018-01-01"), _censored("2015-12-31")),
    73: ([("2014-01-01", "2015-12-31"), ("2017-07-02", "2023-12-31")], ["2018-01-01"], None,
         "a gap of 548 days: not bridged, the onset censored under both",
         _censored("2015-12-31"), _censored("2015-12-31")),
    74: ([("2015-02-20", "2015-03-05"), ("2015-04-01", "2015-04-10"), ("2016-01-01", "2023-12-31")], ["2019-05-05"],
         None, "the index in a 14-day period, then gaps of 26 and 265 days: one span to 2023",
         _event(CUTOFF, "2019-05-05"), _censored("2015-03-05")),
    75: ([("2010-01-01", "2015-06-30"), ("2015-10-09", "2016-12-31"), ("2019-09-28", "2023-12-31")], ["2020-01-01"],
         None, "gaps of 100 (bridged) and 1,000 days (not): the span ends 2016-12-31, the ECT after it censored",
         _censored("2016-12-31"), _censored("2015-06-30")),
    76: ([("2014-01-01", "2015-02-01"), ("2015-05-01", "2023-12-31")], [], None,
         "the index in a gap of 88 days: in the bridged span (before: between two periods, the next one's end)",
         _censored(CUTOFF), _censored(CUTOFF)),
    77: ([("2000-01-01", "2023-12-31")], ["2017-01-01"], None, "one period: unchanged",
         _event(CUTOFF, "2017-01-01"), _event(CUTOFF, "2017-01-01")),
    79: ([("2014-01-01", "2015-12-31"), ("2016-06-01", "2023-12-31")], [], "2016-03-01",
         "a death in the bridged gap: the time at risk ends with the follow-up (death), not the span",
         _censored("2016-03-01"), _censored("2015-12-31")),
}


def _rows() -> dict[str, list]:
    return {
        "person": [person(p) for p in CASES],
        "observation_period": [(p, _d(s), _d(e)) for p, (periods, *_) in CASES.items() for s, e in periods],
        "condition_occurrence": [cond(p, MDD_CONCEPT, day) for p in CASES for day in (INDEX, "2015-04-01")],
        "procedure_occurrence": [proc(p, ECT_SNOMED, day) for p, (_, ects, *_) in CASES.items() for day in ects],
        "death": [death(p, c[2]) for p, c in CASES.items() if c[2]],
        # the stage requires drug_exposure rows: one fill long before 77's index (no trial after it)
        "drug_exposure": [drug(77, SERTRALINE_TAB, "2001-01-01", days_supply=30)],
        "concept": CONCEPTS,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    }


def _cfg(omop_dir, window: int | None = None):
    cfg = toy_config(path=str(omop_dir))
    if window is None:
        return cfg
    return cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(
        update={"observation_period_gap_days": window})})


@pytest.fixture(scope="module")
def omop_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("obsperiod") / "omop"
    root.mkdir()
    write_omop_tables(root, _rows())
    return root


@pytest.fixture(scope="module")
def staged(spark, omop_dir) -> dict:
    """The phenotype stage run once on the hand cases (toy config, the default window): {"somatic":
    person_id -> (at_risk_end_date, time_to_trd_days, trd_event, status), "notes": the manifest's
    notes.cox_time_at_risk, "lines": the stage's log lines}."""
    from trd_spark.pipeline import run_stage

    cfg = _cfg(omop_dir).model_copy(update={"output_root": str(omop_dir.parent / "results")})
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    stage_log = logging.getLogger("trd_spark.phenotypes.stage")
    level = stage_log.level
    stage_log.addHandler(handler)
    stage_log.setLevel(logging.INFO)
    try:
        run_stage(spark, cfg, "phenotypes")
    finally:
        stage_log.removeHandler(handler)
        stage_log.setLevel(level)
    stage = omop_dir.parent / "results" / cfg.release / "phenotypes"
    rows = spark.read.parquet(str(stage / "phenotypes.parquet")).where("definition = 'somatic'").collect()
    manifest = json.loads((stage / "_manifest.json").read_text())
    return {"somatic": {r.person_id: (r.at_risk_end_date, r.time_to_trd_days, r.trd_event, r.status) for r in rows},
            "notes": manifest["notes"]["cox_time_at_risk"], "lines": lines}


def test_the_default_window_is_the_ohdsi_ehr_working_groups():
    """547 unobserved days merged, 548 split (OHDSI CDM "Observation Period Considerations for EHR Data";
    allofus' DATE_DIFF(start, previous end) > 548): in the toy and the All of Us configs alike; a
    negative window is refused by the typed config."""
    from pathlib import Path

    from pydantic import ValidationError

    from trd_spark.config import PhenotypeSettings, load_config

    assert toy_config().phenotypes.observation_period_gap_days == WINDOW
    conf = Path(__file__).resolve().parents[1] / "conf"
    assert load_config(conf / "toy.yaml").phenotypes.observation_period_gap_days == WINDOW
    with pytest.raises(ValidationError, match="observation_period_gap_days"):
        PhenotypeSettings.model_validate({**toy_config().phenotypes.model_dump(), "observation_period_gap_days": -1})


def test_the_stage_bridges_gaps_within_the_window(staged):
    """Before session 57 persons 71, 72 and 74 had their ECT censored at the end of a period a short gap
    ended (time 305, 305 and 4 days), 75 was censored at 2015-06-30 and 79 at 2015-12-31 (the window-0
    values). The status reads the follow-up, whatever the window: TRD where an ECT is within it."""
    got = staged["somatic"]
    for pid, (_, ects, _, why, (end, time, event), _) in CASES.items():
        assert got[pid][:3] == (_d(end), time, event), (pid, why)
        assert got[pid][3] == ("TRD" if ects else "MDD_other"), (pid, why)


@pytest.mark.parametrize("window", [WINDOW, 0])
def test_the_duckdb_twin_agrees_on_the_hand_cases(omop_dir, tmp_path, window):
    """The twin's own gaps-and-islands SQL with the window (``date_diff - 1 > window`` starts a span)
    gives the hand values under 547 and under 0 (session 53's spans). Before session 57 it had no
    window: 547's values failed."""
    got = {p: (t, e) for p, t, e in duckdb_twin_rows(omop_dir, _cfg(omop_dir, window), tmp_path / "twin.parquet",
                                                     "person_id, time_to_trd_days, trd_event",
                                                     "definition = 'somatic'")}
    want = {pid: (c[4] if window == WINDOW else c[5])[1:] for pid, c in CASES.items()}
    assert got == want


def test_the_manifest_counts_what_the_window_changed(staged):
    """notes.cox_time_at_risk: the window; gaps bridged between MDD persons' periods (71: 1, 72: 1,
    74: 2, 75: 1, 76: 1, 79: 1), the persons with one (6), the index spans it extended (71, 72, 74,
    75, 79; 76's index span ends 2023-12-31 either way); per definition the onsets an event only
    through it (71, 72, 74), the persons whose time at risk ends later (those and 75, 79) and the
    days added (the hand values' differences); 76 is no longer an index between two periods."""
    notes = staged["notes"]
    assert notes["rule"] == "index_period" and notes["observation_period_gap_days"] == WINDOW
    assert {k: notes[k] for k in ("n_observation_gaps_bridged", "n_mdd_persons_gaps_bridged",
                                  "n_mdd_index_span_extended", "n_mdd_index_before_first_period",
                                  "n_mdd_index_between_periods", "n_mdd_index_no_period")} == {
        "n_observation_gaps_bridged": 7, "n_mdd_persons_gaps_bridged": 6, "n_mdd_index_span_extended": 5,
        "n_mdd_index_before_first_period": 0, "n_mdd_index_between_periods": 0, "n_mdd_index_no_period": 0}
    somatic = notes["definitions"]["somatic"]
    added = sum(c[4][1] - c[5][1] for c in CASES.values())
    assert {k: somatic[k] for k in ("n_events_kept_by_gap_window", "n_at_risk_extended_by_gap_window",
                                    "days_added_by_gap_window", "n_events_censored")} == {
        "n_events_kept_by_gap_window": 3, "n_at_risk_extended_by_gap_window": 5, "days_added_by_gap_window": added,
        "n_events_censored": 2}  # 73's (a gap of 548 days) and 75's (after its bridged span)
    # no drug: ad3's persons are the same MDD persons, none TRD
    assert notes["definitions"]["ad3"]["n_events_kept_by_gap_window"] == 0
    assert notes["definitions"]["ad3"]["n_at_risk_extended_by_gap_window"] == 5


def test_the_log_line_shows_persons_as_labels(staged):
    """One INFO line names the window and its key and counts persons as labels (<20 here): no exact
    count of 1..19 in the log."""
    line = next(t for t in staged["lines"] if "observation_period_gap_days" in t)
    assert ("observation periods separated by at most 547 unobserved day(s) are one span "
            "(phenotypes.observation_period_gap_days, OHDSI EHR WG persistence window): gaps bridged for <20 MDD "
            "person(s), the index's span extended for <20; TRD onsets an event only through it (censored without "
            "it): ad3: 0; ad2_augmentation: 0; somatic: <20") in line
    assert not any(f" {n} " in f" {line} " for n in range(1, 20))


@pytest.mark.parametrize("window, spans", [
    (59, [("2015-01-01", "2015-12-31", 0), ("2016-03-01", "2016-12-31", 0), ("2018-01-01", "2018-12-31", 0)]),
    (60, [("2015-01-01", "2016-12-31", 1), ("2018-01-01", "2018-12-31", 0)]),
    (365, [("2015-01-01", "2018-12-31", 2)]),
    (0, [("2015-01-01", "2015-12-31", 0), ("2016-03-01", "2016-12-31", 0), ("2018-01-01", "2018-12-31", 0)]),
])
def test_spans_merge_where_the_gap_is_at_most_the_window(spark, window, spans):
    """``persons.bridge_observation_gaps`` on hand spans with gaps of 60 (2016-01-01..02-29, a leap year)
    and 365 unobserved days: a gap of exactly the window is bridged, one day more is not; window 0 leaves
    the spans as they are (touching periods are merged before it, ``observation_spans``)."""
    from trd_spark.phenotypes.persons import bridge_observation_gaps

    given = spark.createDataFrame(
        [(1, _d(s), _d(e)) for s, e in (("2015-01-01", "2015-12-31"), ("2016-03-01", "2016-12-31"),
                                        ("2018-01-01", "2018-12-31"))], "person_id long, span_start date, span_end date")
    got = sorted((r.span_start, r.span_end, r.n_gaps_bridged) for r in bridge_observation_gaps(given, window).collect())
    assert got == [(_d(s), _d(e), n) for s, e, n in spans]


def test_followup_reads_no_period_and_records_no_window():
    """Under ``followup`` the window is not read: the notes hold no window and no gap count, and no line
    speaks of it."""
    from trd_spark.phenotypes.stage import time_at_risk_log_lines, time_at_risk_notes

    cfg = toy_config()
    cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"cox_time_at_risk": "followup"})})
    notes = time_at_risk_notes(cfg, {}, None)
    assert "observation_period_gap_days" not in notes
    assert set(notes["definitions"]["somatic"]) == {"n_at_risk_shortened", "n_events_censored", "days_not_at_risk"}
    assert time_at_risk_log_lines(notes, 20) == []
