"""Session 50 privguard: the suite's log guard (tests/person_count_guard.py) reads the relations the
phenotypes stage declares (``records_within``, the sums) from the code rather than a copy, and the
same count across two runs' logs (the code's ``prior``); and an ancestry group's label is named in
a log line only when it is a configured one (README "Privacy"). Pure Python, no Spark."""

from __future__ import annotations

from person_count_guard import (
    _rest_pairs,
    close_count_pairs,
    cross_run_record_changes,
    declared_relations,
    small_record_rests,
)

T = 20
STAMP = "2026-12-07 08:00:00,000 INFO    trd_spark.phenotypes.stage: phenotypes: "
EXPOSURES = {"n_records": 1000, "n_below_min_dose": 300, "n_dose_unknown": 695, "n_exposures": 650,
             "n_duplicates_removed": 50}


def _line(part: str, counts: dict[str, int]) -> str:
    return STAMP + f"{part}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())


def test_the_guard_reads_the_exposures_known_dose_rest():
    """Privacy7's case as b1d6bac's code logged it: n_records 1,000, below the minimum 300, of unknown
    dose 695 (every pair 20 or more apart) give 5 records of a known dose at or above it. On 087fa2e
    (the guard's copied relations) neither ``small_record_rests`` nor ``close_count_pairs`` found it
    ([] both); now both name the 5. The code's lines for the same counts pass the guard."""
    from trd_spark.phenotypes.stage import stage_count_texts

    text = _line("antidepressant_exposures", EXPOSURES)
    rests = small_record_rests(text)
    assert [r.rsplit(": ", 1)[1] for r in rests] == ["5"], rests
    assert any(x.endswith(" 5") and "n_dose_unknown" in x for x in close_count_pairs(text)), close_count_pairs(text)
    _, lines = stage_count_texts({}, {"antidepressant_exposures": EXPOSURES}, T)
    shown = STAMP + lines["antidepressant_exposures"]
    assert "n_records 20+" in shown, shown
    assert not small_record_rests(shown) and not close_count_pairs(shown), shown


def test_the_guard_holds_every_relation_the_code_declares():
    """``_rest_pairs`` holds every ``records_within`` pair of the code for a run's parts (named as the
    lines are), so a relation the code adds is read without a copy here. On 087fa2e
    ``declared_relations`` did not exist (ImportError) and the exposures' pairs were missing."""
    from trd_spark.phenotypes.stage import records_within

    quirks = {"antidepressant_exposures": dict.fromkeys(EXPOSURES, 0), "drug_records": {"n_end_before_start": 0},
              "dose_form_excluded": {"n_records_antidepressants": 0}, "condition_status": {"n_history_records": 0}}
    names = [f"{part}.{k}" for part, counts in quirks.items() for k in counts] + ["drug.n_records", "drug.n_kept"]
    pairs = set(_rest_pairs(names))
    declared = {(t.split(".", 1)[1], tuple(p.split(".", 1)[1] for p in ps)) for t, ps in records_within(quirks)}
    assert declared <= pairs, declared - pairs
    assert ("antidepressant_exposures.n_records", ("antidepressant_exposures.n_below_min_dose",
                                                   "antidepressant_exposures.n_dose_unknown")) in pairs
    equations, at_least, _ = declared_relations(names)
    assert ("drug.n_records", ("drug_values.n_records",)) in equations and at_least


def test_the_guard_reads_one_count_across_two_runs_logs():
    """Two releases' logs showing ``dose_form_excluded``'s n_records_antidepressants 500 and 507 gave
    the 7 records between them (privacy7); so does a derived count (the known-dose rest 25 in one run,
    30 in the next). On 087fa2e the guard had no cross-run reader (ImportError); the code's lines,
    read with ``prior`` from the first run's manifest, pass it."""
    from trd_spark.phenotypes.stage import stage_count_texts, stage_record_counts_read, stage_record_texts

    r1, r2 = {"n_records_antidepressants": 500}, {"n_records_antidepressants": 507}
    logs = {"r1": _line("dose_form_excluded", r1), "r2": _line("dose_form_excluded", r2)}
    assert cross_run_record_changes(logs) == ["records dose_form_excluded.n_records_antidepressants: 500 in r1, "
                                              "507 in r2"]
    e1 = {**EXPOSURES, "n_records": 1020, "n_exposures": 670}  # rest 25
    e2 = {**EXPOSURES, "n_records": 1025, "n_exposures": 675}  # rest 30
    found = cross_run_record_changes({"r1": _line("antidepressant_exposures", e1),
                                      "r2": _line("antidepressant_exposures", e2)})
    assert any("less" in x and x.endswith("in r2") and "1,020" not in x for x in found), found
    # The code: r2's lines read with what r1's lines gave their reader.
    q1, q2 = {"dose_form_excluded": r1, "antidepressant_exposures": e1}, \
        {"dose_form_excluded": r2, "antidepressant_exposures": e2}
    shown1 = stage_record_texts({}, q1, T)
    prior = {k: {v} for k, v in stage_record_counts_read({}, q1, shown1).items()}
    _, lines1 = stage_count_texts({}, q1, T)
    _, lines2 = stage_count_texts({}, q2, T, prior)
    logs = {"r1": "\n".join(STAMP + x for x in lines1.values()), "r2": "\n".join(STAMP + x for x in lines2.values())}
    assert not cross_run_record_changes(logs), (cross_run_record_changes(logs), logs)


def test_a_small_ancestry_groups_label_is_named_only_when_it_is_a_known_group():
    """A user's ancestry file holding per-person labels (an ID as ancestry_pred): each is a group of
    1 person, and standardisation's small-group WARNING / manifest and the export's pgs_distribution
    rows printed the label. Now only AoU's group labels (and the stage's "unknown") are named; the
    rest are one ``UNNAMED_ANCESTRY``. On f804d2f neither function existed (ImportError; the WARNING
    joined the labels as given, the export kept each row)."""
    import numpy as np
    import pandas as pd

    from trd_spark.cohort.standardise import named_ancestry_groups
    from trd_spark.report.tables import unnamed_small_ancestry_groups
    from trd_spark.vocabulary import UNNAMED_ANCESTRY

    assert named_ancestry_groups(["afr", "AMR"]) == ["afr", "AMR"]
    assert named_ancestry_groups(["1004217", "afr", "1009932"]) == ["afr", UNNAMED_ANCESTRY]
    rows = [("d", a, "PGS1", n, m) for a, n, m in [("1004217", f"<{T}", np.nan), ("1009932", f"<{T}", np.nan),
                                                   ("afr", f"<{T}", np.nan), ("unknown", f"<{T}", np.nan),
                                                   ("eur", 2500, 0.1), ("XG77", "20+", np.nan)]]
    dist = pd.DataFrame(rows, columns=["dataset", "ancestry", "pgs_id", "n", "mean"])
    got = unnamed_small_ancestry_groups(dist, T)
    assert list(got["ancestry"]) == [UNNAMED_ANCESTRY, "afr", "unknown", "eur", "XG77"], got
    assert not got.astype(str).apply(lambda c: c.str.contains("100")).any().any()
