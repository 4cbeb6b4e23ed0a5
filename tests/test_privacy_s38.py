"""Any two exact record counts of one run's logs (privacy round 7, session 38; helper "privacy7").

k OMOP records are held by 1 to k persons, so no count of 1..19 records may be shown in a log line or
be recoverable by arithmetic from what the logs show (README "Privacy"). Session 37 read together
the pairs of lines whose difference it knew to be a count (``phenotypes.stage.records_within``); a
pair it did not name gave its difference all the same, and whoever reads the lines need not know
which counts hold which to try every difference. On a tiny toy run (the ``warned_run`` fixture's
release) the phenotypes lines showed 161 antidepressant exposures, 172 condition records of the
event table and 188 study drug records: 11 and 16 apart.

Now no two record counts the phenotypes stage shows exactly differ by 1..T-1 (``logs.record_counts_text``'s
``apart``, through ``phenotypes.stage.stage_record_texts``), its WARNING lines show each count as
its INFO lines do, and the guard (``person_count_guard.close_count_pairs``) reads every pair of
exact counts of one unit in a run's logs. Every test here fails on 5f00ae0 and passes after.
"""

from __future__ import annotations

import ast
from pathlib import Path

from person_count_guard import close_count_pairs, exact_unit_counts

T = 20
REPO = Path(__file__).resolve().parent.parent


def _followup(n_records: int, **counts: int) -> dict[str, int]:
    keys = ("n_unknown_person", "n_missing_date", "n_before_birth_year", "n_after_followup_end", "n_after_death",
            "n_after_cutoff", "n_after_observation_end", "n_dated_after_cutoff")
    out = {"n_records": n_records, **{k: counts.get(k, 0) for k in keys}}
    dropped = sum(out[k] for k in ("n_unknown_person", "n_missing_date", "n_before_birth_year", "n_after_followup_end"))
    return {**out, "n_kept": n_records - dropped}


def _quirks(conditions: int, drugs: int, procedures: int, exposures: int) -> dict[str, dict[str, int]]:
    """The quirk parts of a run whose drug records all became exposures but for ``drugs - exposures``
    duplicates (the tiny toy release's shape)."""
    return {
        "antidepressant_exposures": {"n_records": drugs, "n_below_min_dose": 0, "n_dose_unknown": 0,
                                     "n_exposures": exposures, "n_duplicates_removed": drugs - exposures},
        "drug_values": {"n_records": drugs, "n_end_over_max_days": 0, "n_days_supply_over_max": 0},
        "condition_status": {"n_preliminary_records": 0, "n_history_records": 0},
        "event_table_records": {"n_condition_occurrence_records": conditions, "n_drug_exposure_records": drugs + 300,
                                "n_procedure_occurrence_records": procedures},
    }


def _log(followup: dict[str, str], lines: dict[str, str], warnings: list[str] = ()) -> str:
    """The stage's lines as the run log writes them (one record per line, with its timestamp)."""
    stamp = "2026-12-05 18:00:00,000 INFO    trd_spark.phenotypes.stage: phenotypes: "
    return "\n".join([*(f"{stamp}{d} records in study concept sets: {x}" for d, x in followup.items()),
                      *(stamp + x for x in lines.values()), *(stamp.replace("INFO   ", "WARNING") + w for w in warnings)])


def test_no_two_record_counts_of_the_stage_lines_are_close():
    """The tiny toy release's counts: 161 exposures, 172 condition records in the event table, 188
    study drug records. On 5f00ae0 all three were exact (11 and 16 apart); now 172 reads 20+ (the
    larger of the close pair), 161 and 188 (27 apart) stay exact, and so do counts 20 or more apart."""
    from trd_spark.phenotypes.stage import stage_count_texts, stage_record_texts

    dates = {"condition": _followup(140), "drug": _followup(188), "procedure": _followup(40)}
    quirks = _quirks(conditions=172, drugs=188, procedures=40, exposures=161)
    text = _log(*stage_count_texts(dates, quirks, T))
    assert not close_count_pairs(text), close_count_pairs(text)
    shown = stage_record_texts(dates, quirks, T)
    assert shown["quirks.event_table_records.n_condition_occurrence_records"] == "20+"
    assert (shown["quirks.antidepressant_exposures.n_exposures"], shown["study_event_dates.drug.n_records"]) == \
        ("161", "188")
    assert shown["quirks.antidepressant_exposures.n_duplicates_removed"] == "27"  # 188 - 161, 27 from 40
    # Counts 20 or more apart (and equal ones: the two lines' same drug records) stay exact.
    wide = stage_record_texts({"condition": _followup(500), "drug": _followup(1000)},
                              _quirks(conditions=700, drugs=1000, procedures=40, exposures=900), T)
    assert [wide[k] for k in ("study_event_dates.condition.n_records", "study_event_dates.drug.n_records",
                              "quirks.drug_values.n_records", "quirks.event_table_records.n_condition_occurrence_records",
                              "quirks.antidepressant_exposures.n_exposures")] == ["500", "1,000", "1,000", "700", "900"]


def test_record_counts_apart_labels_the_larger_of_each_close_pair():
    """``logs.record_counts_text``'s ``apart``: counts kept exact are T or more apart; of a close
    pair the larger reads T+; zeros, labels and equal counts are no pair."""
    from trd_spark.logs import record_counts_text

    counts = {"a": 100, "b": 105, "c": 119, "d": 125, "e": 0, "f": 5, "g": 125}
    assert record_counts_text(counts, T, apart=True) == {
        "a": "100", "b": "20+", "c": "20+", "d": "125", "e": "0", "f": "<20", "g": "125"}
    assert record_counts_text(counts, T)["b"] == "105"  # without apart: as before


def test_warning_lines_show_counts_as_the_info_lines_do():
    """A WARNING count the close-pair rule labels: 100 study drug records without a person beside 90
    condition ones. On 5f00ae0 the WARNINGs showed both exactly (the warnings took no texts); now
    the drug one reads 20+ as in the follow-up line."""
    from trd_spark.phenotypes.stage import (
        concept_record_warnings,
        stage_count_texts,
        stage_record_texts,
        unread_record_warnings,
    )

    dates = {"condition": _followup(3000, n_unknown_person=90), "drug": _followup(5000, n_unknown_person=100)}
    quirks = {"unmapped_records": {"n_condition_occurrence": 400, "n_drug_exposure": 410}}
    shown = stage_record_texts(dates, quirks, T)
    warnings = unread_record_warnings(dates, T, shown) + concept_record_warnings(quirks["unmapped_records"], T, shown)
    assert any(w.startswith("drug_exposure: 20+ study record(s) with an empty person_id") for w in warnings), warnings
    assert any(w.startswith("condition_occurrence: 90 study record(s)") for w in warnings), warnings
    assert any(w.startswith("drug_exposure: 20+ record(s) with concept_id 0") for w in warnings), warnings
    text = _log(*stage_count_texts(dates, quirks, T), warnings)
    assert not close_count_pairs(text), close_count_pairs(text)
    # Without the texts each warning labels its own count only (the builders' other callers).
    assert unread_record_warnings(dates, T)[1].startswith("drug_exposure: 100 study record(s)")


def test_the_guard_reads_every_pair_of_one_unit():
    """``close_count_pairs``: a WARNING's count before a record word, an OMOP reader's bad cells and
    an ``n_`` key of a phenotypes line, in any lines, 1..T-1 apart; labels, zeros, equal counts,
    counts T or more apart, the policy's own numbers and other units (variants, rows) are none."""
    stamp = "2026-12-05 18:00:00,000 WARNING trd_spark.phenotypes.stage: "
    log = "\n".join([
        f"{stamp}phenotypes: drug_exposure: 161 antidepressant/study record(s) with zero_days_supply (...)",
        f"{stamp}phenotypes: event_table_records: n_condition_occurrence_records 172, n_drug_exposure_records 20+",
        f"{stamp}x.csv:3: OMOP table drug_exposure column days_supply: 180 value(s) are not bigint numbers",
        f"{stamp}pgs: discovery: 170 variants matched, 175 rows; fits with a group of 1 to 19 persons",
    ])
    found = close_count_pairs(log)
    assert [x.split(" (")[0] + x.rsplit(":", 1)[1] for x in found] == [
        "records 161 11", "records 161 19", "records 172 8"], found
    assert {u for u, _, _ in exact_unit_counts(log)} == {"records"}
    quiet = log.replace("161", "<20").replace("172", "20+").replace("180", "0")
    assert not close_count_pairs(quiet), close_count_pairs(quiet)
    assert not close_count_pairs(log.replace("172", "161").replace("180", "181"))  # 0 and 20 apart
    assert close_count_pairs(f"{stamp}cohort: 1,234 persons; 1,240 persons")  # persons are a unit too


# The OMOP readers whose messages count records: each takes the threshold (records_below).
OMOP_READERS = {"read_omop_table", "conform_omop_table", "check_text_values", "log_records_without_drug_type"}


def reader_calls_without_threshold(root: Path) -> list[str]:
    """Calls of ``OMOP_READERS`` in the modules under ``root`` that pass no ``records_below``: they
    fall back on the setting's default, not the run's ``report.small_count_threshold``."""
    out = []
    for p in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in OMOP_READERS \
                    and "records_below" not in {k.arg for k in node.keywords}:
                out.append(f"{p.relative_to(REPO)}:{node.lineno}")
    return out


def test_every_omop_reader_call_takes_the_threshold_from_the_config():
    """Item 1 of the round: the package's and benchmarks' calls of the OMOP readers pass the run's
    threshold (on 5f00ae0 benchmarks/phenotypes_floor.py read drug_exposure with the default)."""
    found = reader_calls_without_threshold(REPO / "trd_spark") + reader_calls_without_threshold(REPO / "benchmarks")
    assert not found, found


# Session 38 reader, finding 1 (helper "fixesA"): of a close pair ``apart`` labelled the larger, but
# a total whose parts all stayed exact was given back by adding them (0+0+0+50+300 = 350 beside 340).
def _derivable(counts: dict[str, int], shown: dict[str, str], sums: list[tuple[str, tuple[str, ...]]]) -> dict:
    """What a reader of ``shown`` gets (written apart from ``logs.record_counts_text``): the exact
    counts, then the one unknown member of a sum that holds exactly, until nothing more follows."""
    known = {k: v for k, v in counts.items() if shown[k] == f"{v:,}"}
    grew = True
    while grew:
        grew = False
        for total, parts in sums:
            members = (total, *parts)
            if counts[total] == sum(counts[p] for p in parts) and sum(k not in known for k in members) == 1:
                known.update({k: counts[k] for k in members})
                grew = True
    return known


def _leaks(counts: dict[str, int], shown: dict[str, str], sums: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    """Derivable counts of 1..T-1 or 1..T-1 apart; labels that lie (``T+`` of a count under T)."""
    values = sorted({v for v in _derivable(counts, shown, sums).values() if v})
    out = [f"{v} derived" for v in values if v < T]
    out += [f"{a} and {b}" for a, b in zip(values, values[1:]) if b - a < T]
    return out + [f"{k} {counts[k]} reads {shown[k]}" for k in counts if shown[k] == f"{T}+" and counts[k] < T]


def test_a_labelled_total_of_exact_parts_is_no_label():
    """The reader's two calls: on 9525b9d the condition line read n_records 20+ with n_after_followup_end
    50 and n_kept 300 exact (350, 10 from procedure's 340), and {'t': 100, 'p': 30, 'q': 70, 'x': 90}
    with t = p + q read t 20+, p 30, q 70: t back by addition. Now a count of those sums reads T+."""
    from trd_spark.logs import record_counts_text
    from trd_spark.phenotypes.stage import stage_count_texts

    counts = {"t": 100, "p": 30, "q": 70, "x": 90}
    shown = record_counts_text(counts, T, {"t": ("p", "q")}, apart=True)
    assert not _leaks(counts, shown, [("t", ("p", "q"))]), shown
    assert shown["t"] == "20+" and "20+" in (shown["p"], shown["q"], shown["x"]), shown
    # A labelled ``within`` total its sum gives back: w = x + y is 500, its parts a + b 495 (rest 5).
    counts = {"w": 500, "x": 200, "y": 300, "a": 400, "b": 95}
    shown = record_counts_text(counts, T, {"w": ("x", "y")}, within=[("w", ("a", "b"))], apart=True)
    assert shown == {"w": "20+", "x": "200", "y": "20+", "a": "400", "b": "95"}, shown
    condition = _followup(350, n_after_followup_end=50, n_after_death=25, n_after_observation_end=25)
    text = _log(*stage_count_texts({"condition": condition, "procedure": _followup(340)}, {}, T))
    assert not close_count_pairs(text), (close_count_pairs(text), text)
    assert "n_records 20+" in text, text


def test_the_guard_adds_the_exact_parts_of_a_labelled_total():
    """``close_count_pairs`` derives what the lines' sums give: the reader's first call as 9525b9d
    logged it (condition n_records 20+ = 50 + 300, procedure 340), a part of an exact total, the drug
    domain's n_records from drug_values' and the exposures' total from its parts."""
    stamp = "2026-12-05 18:00:00,000 INFO    trd_spark.phenotypes.stage: phenotypes: "
    zeros = "n_unknown_person 0, n_missing_date 0, n_before_birth_year 0"
    head = (f"{stamp}condition records in study concept sets: n_records 20+, {zeros}, n_after_followup_end 50, "
            "n_after_death 25, n_after_cutoff 0, n_after_observation_end 25, n_kept 300\n"
            f"{stamp}procedure records in study concept sets: n_records 340, {zeros}, n_after_followup_end 0, "
            "n_after_death 0, n_after_cutoff 0, n_after_observation_end 0, n_kept 340")
    found = close_count_pairs(head)
    assert any("350" in x and "340" in x and x.endswith(": 10") for x in found), found
    part = head.replace("n_records 20+", "n_records 400").replace("n_kept 300", "n_kept 20+")
    assert [x.rsplit(":", 1)[1] for x in close_count_pairs(part)] == [" 10"]  # n_kept 400 - 50 = 350
    assert not close_count_pairs(part.replace("n_records 340", "n_records 330").replace("n_kept 340", "n_kept 330"))
    drugs = (f"{stamp}drug records in study concept sets: n_records 20+, n_kept 20+\n"
             f"{stamp}drug_values: n_records 500, n_end_over_max_days 0\n"
             f"{stamp}antidepressant_exposures: n_records 20+, n_below_min_dose 0, n_exposures 400, "
             "n_duplicates_removed 89")
    assert [x.rsplit(":", 1)[1] for x in close_count_pairs(drugs)] == [" 11"]  # 489 and 500


def test_no_derivable_record_count_is_close_random():
    """Random counts with nested sums (exact or with a surplus) and counts near them, T = 20: what a
    reader derives from ``record_counts_text(apart=True)``'s texts holds no count of 1..T-1 and no two
    counts 1..T-1 apart, and no label says T+ of a count under T."""
    import random

    from trd_spark.logs import record_counts_text

    rng = random.Random(38)
    for case in range(300):
        counts = {f"c{i}": rng.choice([0, 0, rng.randint(1, 19), rng.randint(20, 120), rng.randint(20, 400)])
                  for i in range(rng.randint(2, 7))}
        sums: list[tuple[str, tuple[str, ...]]] = []
        for j in range(rng.randint(1, 3)):
            parts = tuple(rng.sample(sorted(counts), rng.randint(1, min(3, len(counts)))))
            surplus = rng.choice([0, 0, 0, rng.randint(1, 19), rng.randint(20, 60)])
            counts[f"s{j}"] = sum(counts[p] for p in parts) + surplus
            sums.append((f"s{j}", parts))
        for j in range(rng.randint(0, 2)):  # a count near another (a sum's total, often)
            counts[f"n{j}"] = max(0, rng.choice(sorted(counts.values())) + rng.randint(-25, 25))
        shown = record_counts_text(counts, T, sums, apart=True)
        assert not _leaks(counts, shown, sums), (case, counts, sums, shown)
        assert all(shown[k] == f"<{T}" for k, v in counts.items() if 0 < v < T), (case, counts, shown)
