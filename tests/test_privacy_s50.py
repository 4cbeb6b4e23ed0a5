"""Privacy round 7 of session 50 (helper "privacy7"): recoverable small counts and identifiers.

No count of 1..T-1 persons (or records: k records are held by 1..k persons) may be shown or be
recoverable by arithmetic from what the logs, the report and the export show (README "Privacy").
An attacker read what sessions 49 and 50 added (the dose counts of the minimum-dose rule, the
records ``exclude_dose_forms`` leaves out, ...). Each test here fails on b1d6bac and passes after
(how: its docstring). Pure Python: no Spark.
"""

from __future__ import annotations

from test_privacy_s38 import _followup, _log
from test_privacy_s40 import _reader

T = 20
AT = "quirks.antidepressant_exposures."


def _dose_quirks(records: int, below: int, unknown: int, exposures: int, duplicates: int) -> dict:
    """A run whose ingredients all have a minimum dose (``trials.ingredient_min_daily_dose``) and
    whose antidepressant records (record x ingredient rows) are mostly of an unknown dose (a
    release without ``quantity``, liquids of a unit the rule cannot read, boxed products)."""
    return {"antidepressant_exposures": {"n_records": records, "n_below_min_dose": below, "n_dose_unknown": unknown,
                                         "n_exposures": exposures, "n_duplicates_removed": duplicates}}


def test_the_exposures_records_less_those_below_the_minimum_and_of_unknown_dose_are_no_small_count():
    """n_records 1,000 = 300 below the minimum dose + 695 of unknown dose + 5 of a known dose at or
    above it (rows: disjoint, a dose is known or not): every pair of the line's counts is 20 or
    more apart (300, 695, 650, 50, 1,000), so ``apart`` labelled none, and 1,000 - 300 - 695 gave
    the 5 records (1..5 persons) whose known dose reached the minimum. On b1d6bac the line read
    "n_records 1,000, n_below_min_dose 300, n_dose_unknown 695, n_exposures 650,
    n_duplicates_removed 50" (the reader below finds the 5); now n_records (and n_exposures, which
    with the other exact parts would give it back) read 20+. With 30 such records nothing is
    labelled."""
    from trd_spark.phenotypes.stage import QUIRK_SUMS, stage_count_texts, stage_record_texts

    dates = {"drug": _followup(5000)}
    sums = [(AT + t, tuple(AT + p for p in ps)) for t, ps in QUIRK_SUMS["antidepressant_exposures"].items()]
    within = [(AT + "n_records", (AT + "n_below_min_dose", AT + "n_dose_unknown"))]
    for rest, labelled in ((5, True), (30, False)):
        quirks = _dose_quirks(995 + rest, 300, 695, 650 + rest - 5, 50)
        shown = stage_record_texts(dates, quirks, T)
        counts = {AT + k: v for k, v in quirks["antidepressant_exposures"].items()}
        assert (_reader(counts, {k: shown[k] for k in counts}, sums, within) != []) is False, shown
        text = _log(*stage_count_texts(dates, quirks, T))
        assert ("n_records 20+, n_below_min_dose 300, n_dose_unknown 695" in text) is labelled, text
        assert (f"n_records {995 + rest:,}, n_below_min_dose 300" in text) is not labelled, text


def _phenotypes_manifest(root, release: str, notes: dict) -> None:
    """A release's published phenotypes folder as a later run reads it: its manifest and _SUCCESS."""
    import json

    from trd_spark.layout import MANIFEST, SUCCESS

    folder = root / release / "phenotypes"
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps({"release": release, "notes": notes}))
    (folder / SUCCESS).write_text("")


def _skin_quirks(records: int) -> dict[str, dict[str, int]]:
    """A run's quirk counts with ``records`` study drug records of a concept a set's
    exclude_dose_forms leaves out (doxepin cream; held by 40 persons)."""
    return {"dose_form_excluded": {"n_records_antidepressants": records, "n_persons_antidepressants": 40},
            "drug_values": {"n_records": 5000, "n_end_over_max_days": 0, "n_days_supply_over_max": 0}}


def test_the_same_record_count_in_two_releases_logs_is_no_small_change(tmp_path):
    """Release r1's phenotypes log showed ``dose_form_excluded: n_records_antidepressants 500`` and
    r2's (a correction release) ``... 507``: 7 doxepin-cream records given since, held by 1..7
    persons, the change two exports' counts must not give (README "Two releases' exports"); each
    run's lines were read alone (within one run no two exact counts are 1..19 apart). On b1d6bac
    ``logged_record_counts`` did not exist and r2's line read 507 whatever r1's showed (the last
    assertion: the lines without the other runs' counts); now r2's reads 20+, r1's count being
    read from its manifest (a manifest of an older version: its notes' counts as this version shows
    them); with 530 (30 apart) it stays exact. r2's manifest records what its lines gave (a label
    gives nothing), carried on to its later runs: an earlier run of the same release is read as
    well, r2 published with 530 and rerun with 545 (15 from it, 45 from r1's 500) reads 20+. A
    manifest of an older version gives every count as shown (on be9a5d9 only those this version would
    show: the first test's n_records 1,000, exact in b1d6bac's log, was missed: KeyError)."""
    from trd_spark.io import LocalFs
    from trd_spark.layout import Layout
    from trd_spark.phenotypes.stage import (
        RECORD_COUNTS_LOGGED,
        logged_record_counts,
        stage_count_texts,
        stage_record_counts_read,
        stage_record_texts,
    )

    dates = {"drug": _followup(5000)}
    name = "quirks.dose_form_excluded.n_records_antidepressants"
    _phenotypes_manifest(tmp_path, "r1", {"study_event_dates": dates, "quirks": _skin_quirks(500)})
    prior, own = logged_record_counts(Layout(str(tmp_path), "r2"), LocalFs(), T)
    assert prior[name] == {500} and own == {}
    for records, line in ((507, "n_records_antidepressants 20+"), (530, "n_records_antidepressants 530")):
        text = _log(*stage_count_texts(dates, _skin_quirks(records), T, prior))
        assert f"dose_form_excluded: {line}, n_persons_antidepressants 20+" in text, text

    # What the lines gave their reader (507 labelled: not there), as r2's manifest records it.
    shown = stage_record_texts(dates, _skin_quirks(507), T, prior)
    read = stage_record_counts_read(dates, _skin_quirks(507), shown)
    assert name not in read and read["quirks.drug_values.n_records"] == 5000
    _phenotypes_manifest(tmp_path, "r2", {RECORD_COUNTS_LOGGED: {name: [530]}})
    prior, own = logged_record_counts(Layout(str(tmp_path), "r2"), LocalFs(), T)
    assert prior[name] == {500, 530} and own == {name: {530}}
    # r2 published with 530; its rerun reads it too.
    assert "n_records_antidepressants 20+" in _log(*stage_count_texts(dates, _skin_quirks(545), T, prior))
    # A manifest of an older version: how its lines showed each count is not recorded, so every count is
    # read as shown (b1d6bac showed the exposures' n_records 1,000 of the first test exactly, which this
    # version labels; read as this version shows them, on be9a5d9, 1,000 was not among the counts).
    older = tmp_path / "older"
    _phenotypes_manifest(older, "q1", {"study_event_dates": dates, "quirks": _dose_quirks(1000, 300, 695, 650, 50)})
    prior, _ = logged_record_counts(Layout(str(older), "q2"), LocalFs(), T)
    assert prior[AT + "n_records"] == {1000} and prior[AT + "n_dose_unknown"] == {695}
    # The lines read alone (b1d6bac's reading): the change 500 -> 507 is there to read.
    assert "n_records_antidepressants 507" in _log(*stage_count_texts(dates, _skin_quirks(507), T))


def test_a_record_gate_decides_on_the_lines_read_with_the_other_runs_counts(caplog):
    """r1's log showed 30 condition records dated before the birth year, r2's count is 25 of 1,500:
    r2's line reads it 20+ (5 from r1's), but ``records_before_birth`` (a 2% gate: 30 records)
    decided on the exact 25 and stayed silent, so the silence beside "20+" put r2's count at 20..29,
    its change since r1 at 1..10. Now ``data_gates`` reads the lines as the run shows them (``prior``)
    and decides on what their labels leave (20 up to the total: it warns, a false alarm, as for every
    count that label could be). On b1d6bac stage_count_texts took no ``prior`` (TypeError), on 5fe98b1
    (the lines read with it, the gates not) data_gates took none; without the other runs' counts
    (b1d6bac's reading) it stays silent."""
    import logging

    from test_privacy_s37 import _cfg, _quirks

    from trd_spark.config import GateThreshold
    from trd_spark.phenotypes.stage import data_gates, stage_count_texts

    cfg = _cfg(records_before_birth=GateThreshold(warn=0.02, error=None))
    dates = {"condition": _followup(1500, n_before_birth_year=25)}
    prior = {"study_event_dates.condition.n_before_birth_year": {30}}
    followup, _ = stage_count_texts(dates, {}, T, prior)
    assert "n_before_birth_year 20+" in followup["condition"], followup
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        assert data_gates(cfg, dates, _quirks(0), prior)["records_before_birth"]["level"] == "warning"
    assert "gate records_before_birth: 20+ of 20+ study records dated before the birth year" in caplog.text
    assert data_gates(cfg, dates, _quirks(0))["records_before_birth"]["level"] == "ok"
