"""Privacy round 9 (session 40; helper "privacy9").

No count of 1..T-1 persons (or records: k records are held by 1..k persons) may be shown or be
recoverable by arithmetic from what the logs, the report and the export show (README "Privacy").
Each test here fails on 958d6e4 and passes after (how: its docstring).
"""

from __future__ import annotations

import random

from test_privacy_s38 import _derivable, _followup, _log

T = 20


# Item 1: a surplus of T or more (a total shown, or derived, beside its exact parts: the exposures'
# negative days_supply records) and a ``within`` rest (a table's records less its study records) are
# counts of records the reader gets; ``logs.record_counts_text``'s ``apart`` read neither against the
# other counts, as it reads the counts shown and derived.
def _reader(counts: dict[str, int], shown: dict[str, str], sums: list[tuple[str, tuple[str, ...]]],
            within: list[tuple[str, tuple[str, ...]]] = ()) -> list[str]:
    """What a reader of ``shown`` learns (written apart from ``logs.record_counts_text``): the exact
    counts and those the exact sums give (``_derivable``), the sum of a total's parts where the total
    has a surplus, that surplus where the total is got too, and a ``within`` total's rest less its
    parts where all are got. Returns those of 1..T-1, and any two of them 1..T-1 apart."""
    known = _derivable(counts, shown, sums)
    got = [(f"{k}", v) for k, v in known.items() if v]
    for t, parts in sums:
        together = sum(counts[p] for p in parts)
        if counts[t] == together or not all(p in known for p in parts):
            continue
        got.append((f"parts of {t}", together))
        if t in known:
            got.append((f"surplus of {t}", counts[t] - together))
    for t, parts in within:
        if all(k in known for k in (t, *parts)):
            got.append((f"rest of {t} less {parts}", counts[t] - sum(counts[p] for p in parts)))
    got = [(name, v) for name, v in got if v]
    out = [f"{name} {v}" for name, v in got if v < T]
    return out + [f"{a} {x} and {b} {y}" for i, (a, x) in enumerate(got) for b, y in got[i + 1:] if 0 < abs(x - y) < T]


def _exposures(surplus: int, other: int) -> dict[str, dict[str, int]]:
    """The quirk lines of a run whose exposures' n_records holds ``surplus`` negative days_supply
    records over its parts (0 + 900 + 95), 1,200 study drug records, and a procedure line of
    ``other`` records."""
    return {"antidepressant_exposures": {"n_records": 995 + surplus, "n_below_min_dose": 0, "n_dose_unknown": 0,
                                         "n_exposures": 900, "n_duplicates_removed": 95},
            "drug_values": {"n_records": 1200, "n_end_over_max_days": 0, "n_days_supply_over_max": 0}}


def test_a_surplus_of_t_or_more_is_read_against_the_other_counts():
    """n_records 1,030 over its parts 900 + 95 (0 below the minimum dose): 35 negative days_supply
    records, exact by subtraction, beside a procedure line's 40 records: 5 apart. On 958d6e4 every
    count stayed exact (the surplus was read only when 1..T-1); now n_records reads 20+. With 200
    procedure records (165 apart, and 30 from the drug records kept that are no exposure) nothing is
    labelled."""
    from person_count_guard import close_count_pairs

    from trd_spark.phenotypes.stage import stage_count_texts

    def log(procedures: int) -> str:
        dates = {"condition": _followup(300), "drug": _followup(1200), "procedure": _followup(procedures)}
        return _log(*stage_count_texts(dates, _exposures(35, procedures), T))

    text = log(40)
    assert "antidepressant_exposures: n_records 20+," in text, text
    assert not close_count_pairs(text), close_count_pairs(text)
    assert "antidepressant_exposures: n_records 1,030," in log(200)


def test_a_within_rest_is_read_against_the_other_counts():
    """A table of 1,000 records holding 900 study ones (rest 100: other concepts) beside a count of 95:
    on 958d6e4 all exact (100 and 95: 5); now the total reads 20+."""
    from trd_spark.logs import record_counts_text

    counts = {"table": 1000, "study": 900, "other": 95}
    within = [("table", ("study",))]
    shown = record_counts_text(counts, T, [], within=within, apart=True)
    assert not _reader(counts, shown, [], within), shown
    assert shown == {"table": "20+", "study": "900", "other": "95"}, shown
    wide = {"table": 1000, "study": 900, "other": 60}
    assert record_counts_text(wide, T, [], within=within, apart=True) == {"table": "1,000", "study": "900", "other": "60"}


def test_no_surplus_or_rest_is_close_to_another_count_random():
    """Random counts with a sums relation holding a surplus of 0..60, a second exact sum, and a
    ``within`` pair: what a reader derives from ``record_counts_text(apart=True)`` holds no count of
    1..T-1 and no two 1..T-1 apart, surpluses and rests included. On 958d6e4 a case within the first
    ones fails (a surplus or rest close to a shown count)."""
    from trd_spark.logs import record_counts_text

    rng = random.Random(40)
    for case in range(400):
        counts = {f"c{i}": rng.choice([0, rng.randint(1, 19), rng.randint(20, 150), rng.randint(20, 400)])
                  for i in range(rng.randint(3, 6))}
        names = sorted(counts)
        parts = tuple(rng.sample(names, rng.randint(1, min(3, len(names)))))
        counts["t"] = sum(counts[p] for p in parts) + rng.choice([0, rng.randint(1, 19), rng.randint(20, 80)])
        sums = [("t", parts)]
        if rng.random() < 0.5:  # a second sum of t that holds exactly
            a = rng.randint(0, counts["t"])
            counts["a"], counts["b"] = a, counts["t"] - a
            sums.append(("t", ("a", "b")))
        part = rng.choice(names)
        counts["w"] = counts[part] + rng.choice([rng.randint(1, 19), rng.randint(20, 150)])
        within = [("w", (part,))]
        shown = record_counts_text(counts, T, sums, within=within, apart=True)
        assert not _reader(counts, shown, sums, within), (case, counts, sums, within, shown)
        assert all(shown[k] == f"<{T}" for k, v in counts.items() if 0 < v < T), (case, counts, shown)


def test_the_guard_reads_the_surplus_and_the_rests():
    """``derived_record_counts`` names the exposures' surplus (n_records less its parts) and a table's
    records less its study records, and ``close_count_pairs`` reads them in pairs. On 958d6e4 neither
    was derived (no pair found)."""
    from person_count_guard import close_count_pairs, derived_record_counts

    stamp = "2026-12-05 18:00:00,000 INFO    trd_spark.phenotypes.stage: phenotypes: "
    text = (f"{stamp}antidepressant_exposures: n_records 1,030, n_below_min_dose 0, n_exposures 900, "
            f"n_duplicates_removed 95\n{stamp}procedure records in study concept sets: n_records 40, n_kept 40")
    derived = derived_record_counts(text)
    assert derived["antidepressant_exposures.n_records surplus"] == 35, derived
    assert any(x.rsplit(":", 1)[1] == " 5" for x in close_count_pairs(text)), close_count_pairs(text)
    rest = (f"{stamp}event_table_records: n_procedure_occurrence_records 1,000\n"
            f"{stamp}procedure records in study concept sets: n_records 900, n_kept 900\n"
            f"{stamp}drug_values: n_records 1,095, n_end_over_max_days 0")
    derived = derived_record_counts(rest)
    assert derived["event_table_records.n_procedure_occurrence_records less procedure.n_records"] == 100, derived


# Item 3: records_after_cutoff decided on its exact share (README "Not covered" until now). Its count,
# the study records dated after the cutoff, is on no line; it is the lines' n_after_cutoff plus the
# records after death dated after the cutoff (part of n_after_death), so whether the gate warned
# bounded that part by the level: a 5.5% gate (55 of 1,000 records) that did not warn beside 50 after
# the cutoff put it at 0..4. It now decides on the range the lines leave, 50 .. 50 + n_after_death.
def test_records_after_cutoff_decides_on_what_the_lines_leave(caplog):
    """1,000 study records, the drug line's 50 after the cutoff and 25 after death, of which x are
    dated after the cutoff; a 5.5% gate. On 958d6e4 x = 0..4 gave ok and x = 5..25 a WARNING (x >= 5
    told by the outcome); now every x warns (the lines leave 50..75) and the message says so. With no
    record after death the range is exact and decides as before (50 of 1,000: ok); at an error level of
    5% every x stops the run (the lines' least, 50, reaches it)."""
    import logging

    import pytest
    from test_privacy_s37 import _cfg, _quirks

    from trd_spark.config import GateThreshold
    from trd_spark.errors import InputDataError
    from trd_spark.phenotypes.stage import data_gates

    def dates(x: int, after_death: int = 25) -> dict:
        drug = _followup(500, n_after_followup_end=50 + after_death, n_after_death=after_death, n_after_cutoff=50)
        return {"condition": _followup(500), "drug": {**drug, "n_dated_after_cutoff": 50 + x}}

    cfg = _cfg(records_after_cutoff=GateThreshold(warn=0.055, error=None))
    levels = {}
    for x in (0, 4, 5, 25):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="trd_spark"):
            record = data_gates(cfg, dates(x), _quirks(500))["records_after_cutoff"]
        levels[x] = record["level"]
        assert record["n"] == 50 + x  # the manifest keeps the exact count
        assert "which a count read as these labels can reach" in caplog.text, caplog.text
    assert set(levels.values()) == {"warning"}, levels
    assert data_gates(cfg, dates(0, after_death=0), _quirks(500))["records_after_cutoff"]["level"] == "ok"
    stop = _cfg(records_after_cutoff=GateThreshold(warn=None, error=0.05))
    for x in (0, 25):
        with pytest.raises(InputDataError, match="records_after_cutoff"):
            data_gates(stop, dates(x), _quirks(500))
