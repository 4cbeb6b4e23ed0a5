"""Privacy round 8 (session 39; helper "privacy8").

No count of 1..T-1 persons (or records: k records are held by 1..k persons) may be shown or be
recoverable by arithmetic from what the logs, the report and the export show (README "Privacy").
Each test here fails on 30297c6 and passes after (how: its docstring).
"""

from __future__ import annotations

import random

from test_privacy_s38 import _derivable

T = 20


# Item 2: ``logs.record_counts_text`` checked a ``sums`` surplus only on a total shown exactly. A total
# labelled ``T+`` (close to another count) that a second sum gives back exactly is read all the same.
def _reader(counts: dict[str, int], shown: dict[str, str], sums: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    """What a reader of ``shown`` learns (written apart from ``logs.record_counts_text``): the exact
    counts, then the one unknown member of a sum that holds exactly, until nothing more follows;
    then each sum's surplus (total less parts, all known), a count of records no line shows, and
    the sum of the parts of a total with a surplus (item 4). Returns the derived counts and
    surpluses of 1..T-1, and derived counts 1..T-1 apart."""
    known = _derivable(counts, shown, sums)
    out = [f"{k} {v} derived" for k, v in known.items() if 0 < v < T]
    out += [f"surplus of {t} over {parts}: {counts[t] - sum(counts[p] for p in parts)}" for t, parts in sums
            if all(k in known for k in (t, *parts)) and 0 < counts[t] - sum(counts[p] for p in parts) < T]
    # The sum of a total's parts where the total has a surplus: a count of records of its own.
    together = [sum(counts[p] for p in parts) for t, parts in sums
                if counts[t] != sum(counts[p] for p in parts) and all(p in known for p in parts)]
    out += [f"parts {v} derived" for v in together if 0 < v < T]
    values = sorted({v for v in [*known.values(), *together] if v})
    return out + [f"{a} and {b}" for a, b in zip(values, values[1:]) if b - a < T]


def test_a_labelled_total_another_sum_gives_back_shows_no_surplus():
    """t = 100 + 200 + 5 (a surplus: records no line shows) and t = 50 + 255 exactly. On 30297c6 t
    read 20+ (its surplus 5) while 50 and 255 stayed exact: their sum gave t = 305, less 100 + 200
    the 5. Now one of 50 / 255 reads 20+ too."""
    from trd_spark.logs import record_counts_text

    counts = {"t": 305, "p": 100, "q": 200, "a": 50, "b": 255}
    sums = [("t", ("p", "q")), ("t", ("a", "b"))]
    shown = record_counts_text(counts, T, sums, apart=True)
    assert not _reader(counts, shown, sums), shown
    assert shown["t"] == "20+" and "20+" in (shown["a"], shown["b"]), shown
    # With a surplus of 20 or more the sum of a and b gives a surplus no narrower than a label: kept.
    counts = {"t": 330, "p": 100, "q": 200, "a": 75, "b": 255}
    shown = record_counts_text(counts, T, sums, apart=True)
    assert shown == {"t": "330", "p": "100", "q": "200", "a": "75", "b": "255"}, shown


def test_no_surplus_of_a_derived_total_is_small_random():
    """Random counts where a total has two sums (one exact, one with a surplus of 0..60) and sums
    nest: what a reader derives from ``record_counts_text(apart=True)`` holds no count or surplus of
    1..T-1 and no two counts 1..T-1 apart. On 30297c6 the first failing case is found within the
    first cases (a derived total's surplus of 1..19)."""
    from trd_spark.logs import record_counts_text

    rng = random.Random(39)
    for case in range(300):
        counts = {f"c{i}": rng.choice([0, rng.randint(1, 19), rng.randint(20, 150), rng.randint(20, 400)])
                  for i in range(rng.randint(3, 6))}
        names = sorted(counts)
        parts = tuple(rng.sample(names, rng.randint(1, min(3, len(names)))))
        surplus = rng.choice([0, rng.randint(1, 19), rng.randint(1, 19), rng.randint(20, 60)])
        counts["t"] = sum(counts[p] for p in parts) + surplus
        # A second sum of t that holds exactly: t split into two new counts.
        a = rng.randint(0, counts["t"])
        counts["a"], counts["b"] = a, counts["t"] - a
        sums = [("t", parts), ("t", ("a", "b"))]
        if rng.random() < 0.5:  # t is a part of a larger exact total
            counts["u"] = counts["t"] + counts[names[0]]
            sums.append(("u", ("t", names[0])))
        shown = record_counts_text(counts, T, sums, apart=True)
        assert not _reader(counts, shown, sums), (case, counts, sums, shown)
        assert all(shown[k] == f"<{T}" for k, v in counts.items() if 0 < v < T), (case, counts, shown)


# Item 3: a record gate whose count is T or more decided on its exact share. records_before_birth and
# implausible_drug_records count a sum of counts the follow-up / drug_values lines show, some as a
# label: whether the gate warned narrowed that label.
def test_a_record_gate_of_shown_parts_decides_on_what_the_lines_leave(caplog):
    """10,000 study records (two domains), 100 before the birth year in condition's line (exact) and
    drug's 5 or 15 (``<20``), a 1.1% records_before_birth gate (warn at 110 records): on 30297c6 the
    exact share warned for 15 only, putting the ``<20`` at 10..19 (and 1..9 without a WARNING). Now
    both warn (the lines leave 101..119) and the message says the labels can reach the level. The
    same for implausible_drug_records' end / days_supply split (30 end exact in drug_values' line,
    days_supply ``<20``, a 0.4% gate: 40 records)."""
    import logging

    from test_phenotypes_support import toy_config
    from test_privacy_s37 import _followup, _quirks

    from trd_spark.config import GateThreshold
    from trd_spark.phenotypes.stage import data_gates

    cfg = toy_config()
    gates = cfg.phenotypes.gates.model_copy(update={"records_before_birth": GateThreshold(warn=0.011, error=None),
                                                    "implausible_drug_records": GateThreshold(warn=0.004, error=None)})
    cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"gates": gates})})
    levels, texts = {}, {}
    for x in (5, 15):
        dates = {"condition": _followup(6000, n_before_birth_year=100), "drug": _followup(4000, n_before_birth_year=x)}
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="trd_spark"):
            result = data_gates(cfg, dates, _quirks(10000, end_over=30, supply_over=x))
        levels[x] = (result["records_before_birth"]["level"], result["implausible_drug_records"]["level"])
        texts[x] = caplog.text
        assert result["records_before_birth"]["n"] == 100 + x  # the manifest keeps the exact count
    assert levels == {5: ("warning", "warning"), 15: ("warning", "warning")}, levels
    assert "which a count read as these labels can reach" in texts[5], texts[5]
    # Parts all exact (the lines give the sum): the gate decides on the exact share, as before.
    dates = {"condition": _followup(6000, n_before_birth_year=100), "drug": _followup(4000, n_before_birth_year=0)}
    assert data_gates(cfg, dates, _quirks(10000))["records_before_birth"]["level"] == "ok"


def test_logs_range_reads_the_labels():
    """``gates.logs_range``: exact texts add up, ``<T`` is 1..T-1, ``T+`` T..the total, capped at it."""
    from trd_spark.gates import logs_range

    assert logs_range([(100, "100"), (5, "<20"), (0, "0")], T, 10_000) == (101, 119)
    assert logs_range([(1_500, "1,500"), (150, "20+")], T, 2_000) == (1_520, 2_000)


# Item 1 (the hunt on a toy run, toy-r2's export): a Kaplan-Meier curve set whose thirds stop on
# different days showed 75 onsets (read back from the life-table survival, 20 or more per step) with
# the Cox model's 93 events: 18 TRD onsets after the curves, exactly. The audit protected each third's
# onsets after its last point (0..18 each) and, on a day every third has a point, the onsets after it
# (``km_events_after``); the thirds' tails together were no cell.
def _thirds_ending_apart():
    """One curve set: third k has 30 onsets on day 10 + 30 (k - 1) (a point 30 days later), then 6
    onsets on day 150 and 30 censored on day 200 (no later point): the thirds stop on days 30, 60
    and 90; 18 onsets after the curves, 108 events in all."""
    import numpy as np
    import pandas as pd

    from trd_spark.models.km import coarsen_km, km_on_grid
    from trd_spark.schemas import KM_CURVES

    thirds = []
    for k in (1, 2, 3):
        groups = [(30, 10 + 30 * (k - 1), True), (6, 150, True), (30, 200, False)]
        duration = np.concatenate([np.full(n, day, float) for n, day, _ in groups])
        event = np.concatenate([np.full(n, float(onset)) for n, _, onset in groups])
        g = km_on_grid(duration, event, np.arange(0, 211, 30))
        thirds.append(g.assign(dataset="d", definition="A", pgs_id="P", trait="P", tertile=k))
    return coarsen_km(pd.concat(thirds, ignore_index=True)[KM_CURVES.names], T)


def _range(values, published, relations, hide, dropped_cells, cell):
    """The least and largest ``cell`` an outsider can tell (written apart from the audit): the
    relations hold, shown cells are their values, ``<T`` 1..T-1, ``suppressed`` T or more, a dropped
    curve set's cells and every unpublished cell >= 0."""
    import numpy as np
    from scipy.optimize import linprog

    cells = sorted(values, key=str)
    at = {c: i for i, c in enumerate(cells)}
    a_eq = np.zeros((len(relations), len(cells)))
    for i, rel in enumerate(relations):
        for c, coef in rel.items():
            a_eq[i, at[c]] = coef
    bounds = []
    for c in cells:
        if c in published and c not in hide and c not in dropped_cells:
            bounds.append((values[c], values[c]))
        elif hide.get(c) == f"<{T}":
            bounds.append((1, T - 1))
        elif hide.get(c) == "suppressed":
            bounds.append((T, None))
        else:
            bounds.append((0, None))
    objective = np.zeros(len(cells))
    objective[at[cell]] = 1
    low = linprog(objective, A_eq=a_eq, b_eq=np.zeros(len(relations)), bounds=bounds, method="highs")
    high = linprog(-objective, A_eq=a_eq, b_eq=np.zeros(len(relations)), bounds=bounds, method="highs")
    return low.fun, -high.fun


def test_onsets_after_the_curves_of_thirds_ending_apart_are_protected():
    """The curve set above with its Cox model's events shown (the same TRD persons, ``km_events``).
    On 30297c6 the audit hid nothing and the thirds' onsets after their last points read 18..18
    (its tails were cells, their sum none); now the sum is a cell (``km_events_after_end``) and the
    audit leaves it at least T-2 wide."""
    from trd_spark.report.suppression import audit_suppression
    from trd_spark.report.tables import km_cells

    km = _thirds_ending_apart()
    assert sorted(km.groupby("tertile").time_days.max()) == [30, 60, 90]
    values, published, relations, units = km_cells(km)
    cox = ("cox_events",)
    events = ("km_events", "d", "A", "P")
    values[cox] = values[events]
    published.add(cox)
    relations.append({cox: 1, events: -1})
    tails = [c for c in values if c[-1] == "events_after_end" and c[0] == "km"]
    assert values[events] == 108 and sum(values[c] for c in tails) == 18
    result = audit_suppression(values, published, relations, T, units=units)
    dropped = {c for c, u in units.items() if u in result.dropped}
    # the outsider's sum of the thirds' tails, with or without the audit's new cell
    relations.append({("tails",): -1, **{c: 1 for c in tails}})
    values[("tails",)] = 18
    low, high = _range(values, published, relations, result.hide, dropped, ("tails",))
    assert low <= 18 <= high and high - low >= T - 2, (low, high, result.hide, result.dropped)


# Item 4: the guard's reading of the exposures' surplus. ``derived_record_counts`` took the sum of
# ``antidepressant_exposures``' exact parts for its n_records (which also holds the negative
# days_supply records). Its alarm was no false one: the parts' sum is a count of records all the
# same, and 995 of them beside the 1,010 drug records kept (which hold the exposures' records) put
# the records kept that are no exposure, and the negative days_supply ones, at 0..15.
def _exposures_log(kept: int, negative: int) -> str:
    from test_privacy_s38 import _followup, _log

    from trd_spark.phenotypes.stage import stage_count_texts

    quirks = {"antidepressant_exposures": {"n_records": 995 + negative, "n_below_min_dose": 0, "n_dose_unknown": 0,
                                           "n_exposures": 900, "n_duplicates_removed": 95},
              "drug_values": {"n_records": kept, "n_end_over_max_days": 0, "n_days_supply_over_max": 0}}
    return _log(*stage_count_texts({"condition": _followup(300), "drug": _followup(kept)}, quirks, T))


def test_the_sum_of_the_exposures_parts_is_read_as_a_count():
    """900 exposures + 95 duplicates (n_records 1,000: 5 negative days_supply records) and 1,010 study
    drug records. On 30297c6 n_records read 20+ and the parts stayed exact: 995 beside 1,010. Now a
    part reads 20+ too; with 1,200 drug records (205 apart) the parts stay exact."""
    from person_count_guard import close_count_pairs

    text = _exposures_log(1010, 5)
    assert not close_count_pairs(text), close_count_pairs(text)
    assert "n_records 20+, n_below_min_dose 0, n_dose_unknown 0, n_exposures 20+, n_duplicates_removed 95" in text
    wide = _exposures_log(1200, 5)
    assert "n_records 20+, n_below_min_dose 0, n_dose_unknown 0, n_exposures 900, n_duplicates_removed 95" in wide


def test_the_guard_names_the_exposures_parts_apart_from_n_records():
    """``derived_record_counts`` names the parts' sum ``... n_records parts`` (on 30297c6: n_records,
    995 where n_records was 1,000), and a pair with it is still found."""
    from person_count_guard import close_count_pairs, derived_record_counts

    stamp = "2026-12-05 18:00:00,000 INFO    trd_spark.phenotypes.stage: phenotypes: "
    text = (f"{stamp}antidepressant_exposures: n_records 20+, n_below_min_dose 0, n_exposures 900, "
            f"n_duplicates_removed 95\n{stamp}drug_values: n_records 1,010, n_end_over_max_days 0")
    assert derived_record_counts(text) == {"antidepressant_exposures.n_records parts": 995}
    assert [x.rsplit(":", 1)[1] for x in close_count_pairs(text)] == [" 15"]
