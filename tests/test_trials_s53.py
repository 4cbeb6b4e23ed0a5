"""Antidepressant trials on the shapes real drug_exposure rows take (session 53, helper "trials").

Each person below is one variant of a drug_exposure row as exports write them, its statuses worked out by hand
from docs/phenotypes.md ("When an exposure ends", "Trials", "Onsets", "Follow-up", the combination-product
paragraph) and checked in the chain (read_omop, derive_phenotype_tables) and the DuckDB twin
(benchmarks/duckdb_phenotypes.py), run once each on one tiny Parquet export with the toy config (cutoff
2023-07-01; default_days_supply 30, persistence_gap_days 30, min_trial_days 42, pre_index_window_days 0,
use_verbatim_end_date on, use_refills off, max_days_supply 365; trMDD needs 180 days of follow-up).

The frame: everyone born 1970-01-01, observed 2010-01-01..2023-12-31 (follow-up to the cutoff) unless said;
MDD diagnoses on 2019-01-10 and 2019-02-10 (index 2019-01-10); two background adequate trials, citalopram
from 2019-02-01 and bupropion from 2019-05-01 (60 days each); then the VARIANT, a sertraline row from
2019-09-01 (S) unless said. If the variant makes an adequate trial, ad3 is TRD on its start (234 days after
the index) with 3 trials; else trMDD with 2. ad2_augmentation and somatic are trMDD (no augmentation agent,
no somatic treatment) unless said.

What they found: the chain and the twin gave every hand answer of the shapes the brief lists (days_supply
null / 0 / negative / 3650 beside an end date or not, an end before the start, two formulations overlapping,
a combination product, refill rows against one row with refills, exposures straddling the end of observation
or the data cutoff, an unmapped or non-standard drug concept, an ingredient reached by a level-2
concept_ancestor row, a row exported twice, a trial on the index or the day before, rows outside observation),
and agreed on ~900 random persons of such rows under seven trial settings (benchmarks/RESULTS.md, session 53
trials). One rule was missing: OHDSI Themis' ratified end-date convention (Themis #57) ends a mail-order
prescription without an end or a days_supply at start + 89 days; both read it as a default 30-day order, so a
90-day mail-order fill made no adequate trial (5340, 5342). Now ``trials.mail_order_days_supply`` (90) applies,
counted as ``notes.quirks.drug_records.n_mail_order_default``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_phenotypes_support import (
    ANCESTRY,
    BUPROPION,
    CITALOPRAM,
    CONCEPTS,
    MDD_CONCEPT,
    OLANZAPINE_FLUOXETINE,
    SERTRALINE,
    SERTRALINE_TAB,
    STATUS_COLUMNS,
    d,
    days,
    duckdb_twin_run,
    toy_config,
    write_omop_tables,
)

from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop, stage_counts

CUTOFF = "2023-07-01"
INDEX = "2019-01-10"
S = "2019-09-01"

# The case's own products (synthetic IDs): an oral solution of sertraline, a branded tablet reached from the
# ingredient only through a level-2 concept_ancestor row, and an NDC code (a non-standard source concept).
SERTRALINE_SOLUTION = 2_000_053_001
ZOLOFT_TAB = 2_000_053_002
SERTRALINE_NDC = 2_000_053_003
# drug_type_concept_id: 32838 "EHR prescription"; 38000176 "Prescription dispensed through mail order"
EHR_PRESCRIPTION, MAIL_ORDER = 32838, 38000176
CASE_CONCEPTS = [
    *CONCEPTS,
    (SERTRALINE_SOLUTION, "sertraline 20 MG/ML Oral Solution", "Drug", "RxNorm", "Clinical Drug", "S", "y1"),
    (ZOLOFT_TAB, "sertraline 50 MG Oral Tablet [Zoloft]", "Drug", "RxNorm", "Branded Drug", "S", "y2"),
    (SERTRALINE_NDC, "sertraline 50 MG Oral Tablet", "Drug", "NDC", "11-digit NDC", None, "00000000001"),
]
CASE_ANCESTRY = [*[(a, b, 1, 1) for a, b in ANCESTRY], (SERTRALINE, SERTRALINE_SOLUTION, 2, 2),
                 (SERTRALINE, ZOLOFT_TAB, 2, 2), (SERTRALINE_TAB, ZOLOFT_TAB, 1, 1)]


def drug(pid: int, concept: int, start: str, end: str | None = None, ds: int | None = None, *,
         verbatim: str | None = None, refills: int | None = None, source: int | None = None,
         kind: int = EHR_PRESCRIPTION) -> tuple:
    """A drug_exposure row (OMOP_COLUMNS order): end None is an empty drug_exposure_end_date; ``kind`` its
    drug_type_concept_id."""
    return (pid, concept, d(start), d(end) if end else None, ds, d(verbatim) if verbatim else None, None, refills,
            source, kind)


def background(pid: int, first: str = "2019-02-01", second: str = "2019-05-01") -> list[tuple]:
    """Two adequate trials: citalopram and bupropion, 60 days each (end = start, days_supply 60)."""
    return [drug(pid, CITALOPRAM, first, first, 60), drug(pid, BUPROPION, second, second, 60)]


# person_id -> (the variant's drug rows, whether ad3 is TRD on S: the variant makes an adequate trial)
VARIANTS: dict[int, tuple[list[tuple], bool]] = {
    # no days_supply, an end date 45 days on (counting both ends): the end date
    5301: ([drug(5301, SERTRALINE_TAB, S, "2019-10-15")], True),
    # days_supply 0 (OHDSI's unknown) and end = start: the default 30 days
    5302: ([drug(5302, SERTRALINE_TAB, S, S, 0)], False),
    # days_supply 0 with an end date 60 days on: the end date
    5303: ([drug(5303, SERTRALINE_TAB, S, "2019-10-30", 0)], True),
    # negative days_supply (a claim reversal) with an end date 60 days on: no exposure at all (OHDSI Themis)
    5304: ([drug(5304, SERTRALINE_TAB, S, "2019-10-30", -60)], False),
    # days_supply 3650 (implausible) and end = start: neither is used, the default 30 days
    5305: ([drug(5305, SERTRALINE_TAB, S, S, 3650)], False),
    # days_supply 3650 with an end date 60 days on: the end date
    5306: ([drug(5306, SERTRALINE_TAB, S, "2019-10-30", 3650)], True),
    # end date before the start, days_supply 60: the days_supply
    5307: ([drug(5307, SERTRALINE_TAB, S, "2019-08-22", 60)], True),
    # end date before the start, no days_supply: the default 30 days
    5308: ([drug(5308, SERTRALINE_TAB, S, "2019-08-22")], False),
    # a tablet for 30 days and an oral solution from day 21 for 30 days: one sertraline trial of 50 days
    5309: ([drug(5309, SERTRALINE_TAB, S, S, 30), drug(5309, SERTRALINE_SOLUTION, "2019-09-21", "2019-09-21", 30)],
           True),
    # olanzapine/fluoxetine for 60 days: a fluoxetine trial (the third) and an olanzapine augmentation
    5310: ([drug(5310, OLANZAPINE_FLUOXETINE, S, S, 60)], True),
    # dispensed refills as rows 19 days apart: one trial of 79 days
    5311: ([drug(5311, SERTRALINE_TAB, S, S, 30), drug(5311, SERTRALINE_TAB, "2019-10-20", "2019-10-20", 30)], True),
    # one order of 30 days with refills 3 (authorised, not dispensed; use_refills off): 30 days
    5312: ([drug(5312, SERTRALINE_TAB, S, S, 30, refills=3)], False),
    # drug_concept_id 0 and the NDC code as drug_source_concept_id: unmapped, not read (standard concepts only)
    5316: ([drug(5316, 0, S, S, 60, source=SERTRALINE_NDC)], False),
    # the NDC code written as drug_concept_id (non-standard): no set reaches it
    5317: ([drug(5317, SERTRALINE_NDC, S, S, 60, source=SERTRALINE_NDC)], False),
    # a branded tablet reached from sertraline only by a level-2 concept_ancestor row: a sertraline exposure
    5318: ([drug(5318, ZOLOFT_TAB, S, S, 60)], True),
    # the same 30-day row exported twice: one exposure of 30 days, not 60 (nor a trial counted twice)
    5319: ([drug(5319, SERTRALINE_TAB, S, S, 30), drug(5319, SERTRALINE_TAB, S, S, 30),
            drug(5319, CITALOPRAM, "2019-02-01", "2019-02-01", 60)], False),
    # an early refill overlapping the first fill: the union, 55 days
    5324: ([drug(5324, SERTRALINE_TAB, S, S, 30), drug(5324, SERTRALINE_TAB, "2019-09-26", "2019-09-26", 30)], True),
    # 31 days uncovered between two 30-day fills: two episodes, neither adequate
    5325: ([drug(5325, SERTRALINE_TAB, S, S, 30), drug(5325, SERTRALINE_TAB, "2019-11-01", "2019-11-01", 30)], False),
    # 30 days uncovered: one episode of 90 days
    5326: ([drug(5326, SERTRALINE_TAB, S, S, 30), drug(5326, SERTRALINE_TAB, "2019-10-31", "2019-10-31", 30)], True),
    # a verbatim_end_date 21 days on before an end date 60 days on (a stopped prescription): 21 days
    5327: ([drug(5327, SERTRALINE_TAB, S, "2019-10-30", 60, verbatim="2019-09-21")], False),
    # an end date giving exactly 42 days (both ends counted): adequate; 41 days: not
    5328: ([drug(5328, SERTRALINE_TAB, S, "2019-10-12")], True),
    5329: ([drug(5329, SERTRALINE_TAB, S, "2019-10-11")], False),
    # the ingredient concept itself for 20 days, then a tablet from day 15 for 30 days: one trial of 44 days
    5330: ([drug(5330, SERTRALINE, S, S, 20), drug(5330, SERTRALINE_TAB, "2019-09-15", "2019-09-15", 30)], True),
    # neither an end date nor a days_supply: the default 30 days
    5331: ([drug(5331, SERTRALINE_TAB, S)], False),
    # the same start twice, 30 and 60 days (order and dispensing): the longer, 60 days
    5333: ([drug(5333, SERTRALINE_TAB, S, S, 30), drug(5333, SERTRALINE_TAB, S, S, 60)], True),
    # a mail-order prescription with no days_supply and end = start: 90 days (OHDSI Themis: start + 89), not the
    # default 30; with days_supply 0 the same; with days_supply 30 its days_supply; negative: no exposure
    5340: ([drug(5340, SERTRALINE_TAB, S, S, kind=MAIL_ORDER)], True),
    5341: ([drug(5341, SERTRALINE_TAB, S, S, 30, kind=MAIL_ORDER)], False),
    5342: ([drug(5342, SERTRALINE_TAB, S, S, 0, kind=MAIL_ORDER)], True),
    5343: ([drug(5343, SERTRALINE_TAB, S, S, -90, kind=MAIL_ORDER)], False),
}

PERSONS = [*VARIANTS, 5313, 5314, 5315, 5320, 5321, 5322, 5323, 5332, 5334]
# observation periods other than 2010-01-01..2023-12-31
PERIODS = {5313: [("2010-01-01", "2019-10-01")],  # follow-up ends 2019-10-01
           5322: [("2010-01-01", "2020-12-31")],  # every antidepressant row after it
           5323: [("2010-01-01", "2018-12-31"), ("2020-01-01", "2023-12-31")]}  # every record between the two


def _drugs() -> list[tuple]:
    rows = [r for p, (variant, _) in VARIANTS.items() for r in [*background(p), *variant]]
    rows += [*background(5313), drug(5313, SERTRALINE_TAB, S, S, 90)]  # clipped at 2019-10-01: 31 days
    # at the data cutoff: sertraline from 2023-06-01 for 90 days is 31 days observed; from 2023-05-21, 42 days
    rows += [*background(5314, "2023-01-01", "2023-03-01"), drug(5314, SERTRALINE_TAB, "2023-06-01", "2023-06-01", 90)]
    rows += [*background(5315, "2023-01-01", "2023-03-01"), drug(5315, SERTRALINE_TAB, "2023-05-21", "2023-05-21", 90)]
    # a trial starting on the index day is adequate: the third distinct start is bupropion's
    rows += [*background(5320), drug(5320, SERTRALINE_TAB, INDEX, INDEX, 60)]
    # one starting the day before the index is not (pre_index_window_days 0)
    rows += [*background(5321), drug(5321, SERTRALINE_TAB, "2019-01-09", "2019-01-09", 60)]
    # after the only observation period: outside follow-up, no trial
    rows += [*background(5322, "2021-02-01", "2021-05-01"), drug(5322, SERTRALINE_TAB, "2021-09-01", "2021-09-01", 60)]
    rows += [*background(5323), drug(5323, SERTRALINE_TAB, S, S, 60)]
    # olanzapine/fluoxetine as the second adequate trial: ad2_augmentation TRD on its start, ad3 not (2 trials)
    rows += [drug(5332, CITALOPRAM, "2019-02-01", "2019-02-01", 60), drug(5332, OLANZAPINE_FLUOXETINE, "2019-05-01",
                                                                          "2019-05-01", 60)]
    # a sertraline trial started before the index and continued after it (gap 15 days): one episode starting
    # before the index, not adequate (docs: a trial starts on/after index - pre_index_window_days)
    rows += [*background(5334), drug(5334, SERTRALINE_TAB, "2018-12-01", "2018-12-01", 30),
             drug(5334, SERTRALINE_TAB, "2019-01-15", "2019-01-15", 90)]
    return rows


def _mdd_rows(pid: int, definition: str, *, end: str = CUTOFF, onset: str | None = None, n: int = 2) -> tuple:
    """An MDD person's row (STATUS_COLUMNS) by the rules: TRD on ``onset``, else trMDD with >= 1 adequate trial
    and >= 180 days of follow-up, else MDD_other."""
    if onset:
        return (pid, definition, "TRD", None, d(INDEX), d(onset), d(end), days(INDEX, onset), 1, n)
    if n and days(INDEX, end) >= 180:
        return (pid, definition, "trMDD", None, d(INDEX), None, d(end), days(INDEX, end), 0, n)
    return (pid, definition, "MDD_other", "short_followup" if n else "no_adequate_trial", d(INDEX), None, d(end),
            days(INDEX, end), 0, n)


def expected() -> list[tuple]:
    """Every person's three rows (ad3, ad2_augmentation, somatic), by hand."""
    out = []
    for p, (_, trd) in VARIANTS.items():
        out.append(_mdd_rows(p, "ad3", onset=S if trd else None, n=3 if trd else 2))
        augmented = p == 5310  # olanzapine on S, after the second adequate trial's start
        out.append(_mdd_rows(p, "ad2_augmentation", onset=S if augmented else None, n=3 if trd else 2))
        out.append(_mdd_rows(p, "somatic", n=3 if trd else 2))
    special = {
        5313: {"end": "2019-10-01", "n": 2},
        5314: {"n": 2},
        5315: {"onset": "2023-05-21", "n": 3},
        5320: {"onset": "2019-05-01", "n": 3},
        5321: {"n": 2},
        5322: {"end": "2020-12-31", "n": 0},
        5323: {"onset": S, "n": 3},
        5332: {"n": 2},
        5334: {"n": 2},
    }
    for p, kw in special.items():
        n, end, onset = kw["n"], kw.get("end", CUTOFF), kw.get("onset")
        out.append(_mdd_rows(p, "ad3", end=end, onset=onset, n=n))
        out.append(_mdd_rows(p, "ad2_augmentation", end=end, onset="2019-05-01" if p == 5332 else None, n=n))
        out.append(_mdd_rows(p, "somatic", end=end, n=n))
    return sorted(out)


def _write_case(root: Path) -> None:
    periods = [(p, d(s), d(e)) for p in PERSONS for s, e in PERIODS.get(p, [("2010-01-01", "2023-12-31")])]
    write_omop_tables(root, {
        "person": [(p, 8532, 1970, 1, 1) for p in PERSONS],
        "observation_period": periods,
        "condition_occurrence": [(p, MDD_CONCEPT, d(x)) for p in PERSONS for x in (INDEX, "2019-02-10")],
        "drug_exposure": _drugs(),
        "concept": CASE_CONCEPTS,
        "concept_ancestor": CASE_ANCESTRY,
    })




@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("trials53") / "omop"
    root.mkdir()
    _write_case(root)
    return root


@pytest.fixture(scope="module")
def chain_run(spark, case_dir):
    """The case through the chain, once: {"rows": sorted STATUS_COLUMNS tuples, "trials": {person_id: sorted
    (ingredient, start, end, days, adequate)}, "counts": stage_counts' (study_event_dates, quirks)}."""
    cfg = toy_config(path=str(case_dir))
    omop = read_omop(spark, cfg)
    tables = derive_phenotype_tables(omop, cfg)
    rows = tables.phenotypes.select(*STATUS_COLUMNS).collect()
    trials: dict[int, list] = {}
    for r in tables.trials.collect():
        trials.setdefault(r.person_id, []).append(
            (r.ingredient_concept_id, str(r.trial_start_date), str(r.trial_end_date), r.trial_days, r.adequate))
    return {"rows": sorted(tuple(r) for r in rows), "trials": {p: sorted(t) for p, t in trials.items()},
            "counts": stage_counts(omop, tables.persons, tables.study_events, tables.ingredients,
                                   cfg.omop.data_cutoff_date, cfg.phenotypes.trials.max_days_supply)}


@pytest.fixture(scope="module")
def twin_run(case_dir):
    """The case through the DuckDB twin, once: {"rows": sorted STATUS_COLUMNS tuples, "counts": drop counts}."""
    return duckdb_twin_run(case_dir, STATUS_COLUMNS)


def _diff(got: list[tuple], want: list[tuple]) -> list:
    return sorted(set(got) ^ set(want))


def test_the_chain_gives_every_hand_answer(chain_run):
    """Every drug_exposure shape above, through the chain. On 99a33a9 (before the mail-order rule) 5340 and
    5342, a mail-order prescription without a days_supply, were trMDD with 2 trials (a 30-day exposure), not
    ad3 TRD."""
    assert _diff(chain_run["rows"], expected()) == []


def test_the_duckdb_twin_gives_every_hand_answer(twin_run):
    """The same shapes through the DuckDB twin; on 99a33a9 it read 5340 and 5342 as the chain did (trMDD)."""
    assert _diff(twin_run["rows"], expected()) == []


def test_trial_lengths_by_hand(chain_run):
    """The sertraline trials' (start, end, days) where the end rule decides: each end worked out by hand. On
    99a33a9 5340's and 5342's mail-order fills were 30-day trials (2019-09-01..09-30), not 90."""
    def sertraline(p: int) -> list[tuple]:
        return [t[1:] for t in chain_run["trials"][p] if t[0] == SERTRALINE]

    assert sertraline(5309) == [(S, "2019-10-20", 50, True)]
    assert sertraline(5311) == [(S, "2019-11-18", 79, True)]
    assert sertraline(5313) == [(S, "2019-10-01", 31, False)]
    assert sertraline(5315) == [("2023-05-21", CUTOFF, 42, True)]
    assert sertraline(5319) == [(S, "2019-09-30", 30, False)]
    assert sertraline(5325) == [(S, "2019-09-30", 30, False), ("2019-11-01", "2019-11-30", 30, False)]
    assert sertraline(5334) == [("2018-12-01", "2019-04-14", 135, False)]
    assert sertraline(5340) == sertraline(5342) == [(S, "2019-11-29", 90, True)]
    assert sertraline(5341) == [(S, "2019-09-30", 30, False)]
    assert 5322 not in chain_run["trials"] and sertraline(5304) == [] and sertraline(5316) == []


def test_drop_counts_of_the_chain_and_the_twin_agree(chain_run, twin_run):
    """Every record a rule drops or reads otherwise is counted, the same in the chain and the twin; by hand:
    5322's three rows after its last observation period; end before start 5307, 5308; negative days_supply
    5304, 5343; days_supply 0 5302, 5303, 5342; mail-order records read as 90 days 5340, 5342; 5316's
    unmapped row and 5317's non-standard one; 5305 and 5306's
    days_supply over max_days_supply; 5319's repeated rows (sertraline, citalopram) one exposure each. On
    99a33a9 there was no n_mail_order_default (the mail-order reading neither applied nor counted)."""
    (event_dates, quirks), oracle = chain_run["counts"], twin_run["counts"]
    for domain, counts in event_dates.items():
        assert counts == (oracle[domain] or dict.fromkeys(counts, 0)), domain
    assert quirks["drug_records"] == oracle["drug_records"]
    drugs = event_dates["drug"]
    assert (drugs["n_after_followup_end"], drugs["n_after_observation_end"]) == (3, 3)
    q = quirks["drug_records"]
    assert (q["n_end_before_start"], q["n_negative_days_supply"], q["n_zero_days_supply"]) == (2, 2, 3)
    assert q["n_mail_order_default"] == 2  # 5340, 5342 (5343's negative days_supply is no exposure)
    assert quirks["unmapped_records"]["n_drug_exposure"] == 1
    assert quirks["unmapped_records"]["n_drug_exposure_nonstandard"] == 1
    assert quirks["drug_values"]["n_days_supply_over_max"] == 2
    assert quirks["antidepressant_exposures"]["n_duplicates_removed"] == 3  # 5319 x2, 5333
