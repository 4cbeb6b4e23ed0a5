"""Exact record counts that give a small count back (privacy round 6, session 37; helper "privacy").

k OMOP records are held by 1 to k persons, so no count of 1..19 records may be shown in a log line
or an error, nor be recoverable by arithmetic from what they show (AoU Data and Statistics
Dissemination Policy; README "Privacy"). Session 36 labelled the phenotypes stage's record lines
(``logs.record_count_text``) and left four kinds exact, each closed here:

1. the record gates' messages (``records_after_cutoff``, ``records_before_birth``,
   ``implausible_drug_records``): ``n of total (share)`` and the end / days_supply split, exact, and
   decided on the exact share (a WARNING at 1% of 1,500 records put a ``<20`` at 15..19): now labels
   only, decided on what the labels leave (``gates.check_gate``'s ``records_below``);
2. the OMOP reader's count of bad cells ("3 value(s) are not dates"): now ``<20 value(s)``, the first
   bad line still named;
3. the WARNING of a drug_exposure table without drug_type_concept_id ("1 record without an end"):
   now ``<20 record(s)``;
4. two exact counts of two lines whose difference is a count no line shows (``event_table_records``'
   80 procedure records beside the procedure line's 77 study records: 3 records of other
   procedures): the total now reads ``20+`` (``phenotypes.stage.records_within``,
   ``logs.record_counts_text``'s ``within``).

The guard (``person_count_guard``: ``exact_gate_counts``, ``small_value_counts`` through
``small_record_counts``, and ``small_record_rests``) reads each kind in rendered text. Every test
here fails on 45f9cc3 (exact counts; no ``records_below`` / ``within``) and passes after.
"""

from __future__ import annotations

import logging

import pytest
from person_count_guard import (
    exact_gate_counts,
    gate_calls_without_threshold,
    record_line_counts,
    small_record_counts,
    small_record_rests,
    small_value_counts,
)
from test_phenotypes_support import toy_config

from trd_spark.config import GateThreshold
from trd_spark.errors import InputDataError

T = 20


def _followup(n_records: int, **counts: int) -> dict[str, int]:
    """One domain's follow-up counts (``persons.followup_date_counts``): the rest kept."""
    keys = ("n_unknown_person", "n_missing_date", "n_before_birth_year", "n_after_followup_end", "n_after_death",
            "n_after_cutoff", "n_after_observation_end", "n_dated_after_cutoff")
    out = {"n_records": n_records, **{k: counts.get(k, 0) for k in keys}}
    dropped = sum(out[k] for k in ("n_unknown_person", "n_missing_date", "n_before_birth_year", "n_after_followup_end"))
    return {**out, "n_kept": n_records - dropped}


def _cfg(**gates: GateThreshold):
    cfg = toy_config()
    g = cfg.phenotypes.gates.model_copy(update=gates)
    return cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"gates": g})})


def _quirks(drug_records: int, end_over: int = 0, supply_over: int = 0) -> dict[str, dict[str, int]]:
    return {"persons": {"n_persons": 3000, "n_sex_other": 0, "n_no_observation_period": 0},
            "drug_values": {"n_records": drug_records, "n_end_over_max_days": end_over,
                            "n_days_supply_over_max": supply_over}}


def test_record_gates_show_labels_and_decide_on_them(caplog):
    """Item 1. 200 of 1,000 drug records dated after the cutoff, 195 of them after the cutoff in
    the follow-up line (5 after death): the gate's exact 200 beside the line's 195 gave the 5. Now
    "20+ of 20+", no share. 5 or 15 records before the birth year of 1,500 under a 1% gate: on the
    exact share only 15 warned (15..19 for a "<20"); now both do (the labels reach 1%), the same
    outcome for every count of the label. implausible_drug_records' split: labels too."""
    from trd_spark.phenotypes.stage import data_gates

    cfg = _cfg(records_after_cutoff=GateThreshold(warn=0.1, error=None))
    dates = {"drug": _followup(1000, n_after_followup_end=200, n_after_death=5, n_after_cutoff=195,
                               n_dated_after_cutoff=200)}
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        record = data_gates(cfg, dates, _quirks(1000))["records_after_cutoff"]
    assert record == {"n": 200, "total": 1000, "share": 0.2, "level": "warning"}  # the manifest: exact
    assert "gate records_after_cutoff: 20+ of 20+ study records dated after the data cutoff;" in caplog.text
    assert not exact_gate_counts(caplog.text), exact_gate_counts(caplog.text)

    levels = {}
    for n in (5, 15):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="trd_spark"):
            levels[n] = data_gates(cfg, {"condition": _followup(1500, n_before_birth_year=n)},
                                   _quirks(0))["records_before_birth"]["level"]
        line = next(r.getMessage() for r in caplog.records if "gate records_before_birth" in r.getMessage())
        assert "<20 of 20+ study records dated before the birth year;" in line, line
        assert "which a count read as these labels can reach" in line and not small_record_counts(line), line
    assert levels == {5: "warning", 15: "warning"}

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        data_gates(cfg, {"drug": _followup(1000)}, _quirks(1000, end_over=30, supply_over=5))
    assert "(end dates or days_supply beyond 365 days: 20+ end, <20 days_supply; not used)" in caplog.text, caplog.text
    assert not small_record_counts(caplog.text), small_record_counts(caplog.text)


def test_a_record_gate_error_shows_labels_and_its_level():
    """A record gate's error: labels, and its level (records are not in the export's audit). 600
    of 1,000 records after the cutoff stop the run at the default 50%."""
    from trd_spark.phenotypes.stage import data_gates

    dates = {"drug": _followup(1000, n_after_followup_end=600, n_after_cutoff=600, n_dated_after_cutoff=600)}
    with pytest.raises(InputDataError) as e:
        data_gates(toy_config(), dates, _quirks(1000))
    assert "gate records_after_cutoff: 20+ of 20+ study records" in str(e.value) and "(error at >= 50%)" in str(e.value)
    assert not exact_gate_counts(str(e.value))


def test_every_gate_of_the_package_shows_labels():
    """The static reader: every ``check_gate`` call of ``trd_spark`` passes ``persons_below`` or
    ``records_below`` (on 45f9cc3 the three record gates passed neither)."""
    import tempfile
    from pathlib import Path

    import trd_spark

    root = Path(trd_spark.__file__).parent
    assert not gate_calls_without_threshold(root), gate_calls_without_threshold(root)
    planted = "check_gate('g', n, total, t, what='x', cause='c', where='s')\n"
    with tempfile.TemporaryDirectory() as tmp:  # one planted call without a threshold is found
        package = Path(tmp) / "pkg"
        package.mkdir()
        (package / "m.py").write_text(planted)
        assert len(gate_calls_without_threshold(package)) == 1


def test_check_gate_takes_persons_or_records_not_both():
    from trd_spark.gates import check_gate

    with pytest.raises(ValueError, match="not both"):
        check_gate("g", 1, 2, GateThreshold(), what="x", cause="c", where="s", persons_below=T, records_below=T)


def test_a_bad_cell_count_is_a_label_and_the_first_bad_line_is_named(spark, tmp_path):
    """Item 2. Three cells of a CSV's date column are no dates: the error read "3 value(s) are not
    dates"; now "<20 value(s)", naming the file and line of the first (line 3: header, a good row),
    with the value's shape only. 1,234 bad cells stay exact (k records of T or more: 1..k persons)."""
    from pyspark.sql import types as T_

    from trd_spark.phenotypes.omop import CSV_READ_OPTIONS, check_text_values

    path = tmp_path / "drug_exposure.csv"
    path.write_text("drug_exposure_start_date\n2015-01-02\n03/15/2019\n2015-01-03\n04/15/2019\n05/15/2019\n")
    df = spark.read.options(**CSV_READ_OPTIONS).csv(str(path))
    with pytest.raises(InputDataError) as e:  # records_below: the setting's default, T
        check_text_values(df, "drug_exposure", [("drug_exposure_start_date", T_.DateType())], where=str(path))
    text = str(e.value)
    assert "column drug_exposure_start_date: <20 value(s) are not dates" in text, text
    assert f"{path}:3" in text and "##/##/####" in text and "03/15/2019" not in text, text
    assert not small_value_counts(text) and not small_record_counts(text), text
    big = spark.createDataFrame([("2015-01-02",)] + [("24 March 2014",)] * 1234, ["drug_exposure_start_date"])
    with pytest.raises(InputDataError, match="1,234 value"):
        check_text_values(big, "drug_exposure", [("drug_exposure_start_date", T_.DateType())], where="x",
                          records_below=T)


def test_the_drug_type_warning_labels_its_count(spark, caplog):
    """Item 3. A drug_exposure table without drug_type_concept_id and 3 records without an end or a
    days_supply: "3 records without an end"; now "<20 record(s)"."""
    from trd_spark.phenotypes.omop import log_records_without_drug_type

    rows = [("2019-01-01", None, None, None)] * 3 + [("2019-01-01", "2019-02-01", None, 30)]
    df = spark.createDataFrame(rows, "drug_exposure_start_date string, drug_exposure_end_date string, "
                                     "verbatim_end_date string, days_supply int")
    with caplog.at_level(logging.INFO, logger="trd_spark"):
        log_records_without_drug_type(df, "drug_exposure.parquet")  # records_below: the setting's default, T
    assert "; <20 record(s) without an end or a days_supply" in caplog.text, caplog.text
    assert not small_record_counts(caplog.text), caplog.text


def _lines(event_dates: dict, quirks: dict) -> str:
    """The phenotypes stage's record lines as ``run`` logs them."""
    from trd_spark.phenotypes.stage import stage_count_texts

    followup, parts = stage_count_texts(event_dates, quirks, T)
    return "\n".join([*(f"phenotypes: {d} records in study concept sets: {x}" for d, x in followup.items()),
                      *(f"phenotypes: {x}" for x in parts.values())])


def test_two_lines_never_differ_by_a_small_count_no_line_shows():
    """Item 4. Counts of two lines whose difference no line shows: a table's records and its study
    records (80 and 77: 3 records of other procedures); the study drug records and those with a
    quirk (1,000 and 995 with a zero days_supply: 5 without); the condition records and those with
    a status; the drug records kept and the antidepressant records. On 45f9cc3 each total was
    exact; now it reads 20+, and stays exact where the rest is 0 or 20 or more, or where a part is
    a label that leaves the rest as wide as a label (9,000 beside a <20)."""
    dates = {"condition": _followup(500), "drug": _followup(1000), "procedure": _followup(77)}
    quirks = {
        "event_table_records": {"n_condition_occurrence_records": 900, "n_drug_exposure_records": 1000,
                                "n_procedure_occurrence_records": 80},
        "unmapped_records": {"n_condition_occurrence": 0, "n_drug_exposure": 0, "n_procedure_occurrence": 0},
        "drug_records": {"n_end_before_start": 3, "n_zero_days_supply": 995},
        "drug_values": {"n_records": 1000, "n_end_over_max_days": 0, "n_days_supply_over_max": 0},
        "condition_status": {"n_preliminary_records": 490, "n_history_records": 0},
        "antidepressant_exposures": {"n_records": 990, "n_below_min_dose": 0, "n_dose_unknown": 0,
                                     "n_exposures": 990, "n_duplicates_removed": 0},
    }
    from trd_spark.phenotypes.stage import stage_count_texts

    exact, _ = stage_count_texts({"procedure": _followup(77)}, {}, T)  # the planted rests, read exactly:
    planted = "\n".join([f"phenotypes: procedure records in study concept sets: {exact['procedure']}",
                         "phenotypes: event_table_records: n_procedure_occurrence_records 80"])
    assert small_record_rests(planted) == ["event_table_records.n_procedure_occurrence_records 80 less "
                                           "procedure.n_records: 3"]
    text = _lines(dates, quirks)
    assert not small_record_rests(text), (small_record_rests(text), text)
    assert not small_record_counts(text), small_record_counts(text)
    shown = record_line_counts(text)
    assert shown["event_table_records.n_procedure_occurrence_records"] == "20+"
    assert shown["drug.n_records"] == shown["drug_values.n_records"] == "20+"  # 995 of 1,000 quirked
    assert shown["condition.n_records"] == "20+"  # 490 of 500 with a status
    assert shown["drug.n_kept"] == "20+"  # 990 antidepressant records of 1,000 kept
    # Rests of 0 or T or more, and a label beside a wide total: exact.
    quirks |= {"event_table_records": {"n_condition_occurrence_records": 900, "n_drug_exposure_records": 1000,
                                       "n_procedure_occurrence_records": 77},
               "drug_records": {"n_end_before_start": 3, "n_zero_days_supply": 900},
               "condition_status": {"n_preliminary_records": 400, "n_history_records": 0},
               "antidepressant_exposures": {**quirks["antidepressant_exposures"], "n_records": 900,
                                            "n_exposures": 900}}
    shown = record_line_counts(_lines(dates, quirks))
    assert [shown[k] for k in ("event_table_records.n_procedure_occurrence_records", "drug.n_records",
                               "condition.n_records", "drug.n_kept", "drug_records.n_end_before_start")] == \
        ["77", "1,000", "500", "1,000", "<20"]


def test_record_counts_within():
    """``logs.record_counts_text``'s ``within``: the rest, total less its parts, is a count no line
    shows. Exact parts: a rest of 1..T-1 labels the total. Labelled parts: the total is labelled
    only when the slack the labels leave is under T-2 (a label's own width)."""
    from trd_spark.logs import record_counts_text

    def total(t: int, *parts: int) -> str:
        counts = {"t": t, **{f"p{i}": p for i, p in enumerate(parts)}}
        return record_counts_text(counts, T, within=[("t", tuple(f"p{i}" for i in range(len(parts))))])["t"]

    assert [total(80, 77), total(77, 77), total(97, 77), total(96, 77)] == ["20+", "77", "97", "20+"]
    # One labelled part beside a total of T or more leaves a slack of T-1 or more: exact.
    assert [total(9000, 5), total(20, 5), total(20, 5, 5)] == ["9,000", "20", "20"]
    # An exact part narrows it: 30 = 25 + <20 + rest leaves the <20 at 1..5 (slack 4).
    assert [total(30, 25, 5), total(43, 25, 5), total(44, 25, 5)] == ["20+", "20+", "44"]
    # A rest that is not a count (a relation a run does not hold) labels nothing when parts are exact.
    assert total(50, 60) == "50"


def test_the_guards_read_each_kind():
    """The rendered readers: a gate's exact counts or share; an OMOP line's 1..T-1 bad cells;
    labels, zeros, the level, the drug value limit in days and 1,234 cells pass."""
    gate = ("phenotypes: gate records_after_cutoff: 4 of 8 study records dated after the data cutoff (50.0%); "
            "likely cause: omop.data_cutoff_date (2023-07-01) is before most (error at >= 50%)")
    assert exact_gate_counts(gate) and small_record_counts(gate)
    assert not exact_gate_counts(gate.replace("4 of 8", "<20 of <20").replace(" (50.0%)", ""))
    split = ("gate implausible_drug_records: 20+ of 20+ implausible study drug values (end dates or days_supply "
             "beyond 365 days: {} end, 20+ days_supply; not used); likely cause: x")
    assert exact_gate_counts(split.format("25")) and not exact_gate_counts(split.format("<20"))
    omop = "x.csv:3: OMOP table drug_exposure column days_supply: {} value(s) are not bigint numbers"
    assert small_value_counts(omop.format(3)) and not small_value_counts(omop.format("<20"))
    assert not small_value_counts(omop.format("1,234")) and not small_value_counts(omop.format(0))
