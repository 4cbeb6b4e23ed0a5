"""Field cases, round 43 (session 49, helper "omop43"): a liquid's and a boxed product's daily dose; the skin
products a drug set's exclude_dose_forms leaves out, counted.

`phenotypes.trials.ingredient_min_daily_dose` computed a record's daily dose as quantity x drug_strength
amount_value / days_supply. A liquid antidepressant's strength is a concentration (numerator 20 mg per
denominator mL, no amount): its dose was unknown, so a course below the minimum counted as a trial (case person
4301: sertraline oral solution 20 mg/mL, 120 mL over 60 days, 40 mg/day under a 50 mg minimum, ad3 TRD). A
product in a box (box_size) or an amount in grams was read as mg per quantity unit: 2 boxes of 30 x 50 mg over
60 days were 1.7 mg/day, 0.05 G 0.05 mg/day, and the course silently no trial (4306, 4307); so was a days_supply
the exposure rule calls implausible (3000 > max_days_supply, not used for the end) in the dose (60 tablets of 50
mg: 1 mg/day, 4311; a quetiapine augmentation, 4312). Now the per-unit amount follows OHDSI DrugUtilisation's formulas restricted to mg (``stage.strength_per_unit_expr``): an amount in
mg (or of no unit column), a concentration's numerator in mg per mL (quantity: the liquid's mL, a quantified
liquid's items); a box, another unit or an implausible days_supply is unknown (counts, counted), in the chain
and the DuckDB twin alike.

The set's exclude_dose_forms (Topical, Cutaneous; field case round 41) was logged as a number of concepts only:
its records and persons are now `notes.quirks.dose_form_excluded` (chain) and the twin's drop counts agree.

Case tests/data/field_cases_round43/liquid-doses (expected.tsv by hand, its '#' lines explain each person; toy
config plus {sertraline: 50, quetiapine: 150}). One module-scoped run of the chain and the twin (one build of its tables).
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest
from test_phenotypes_support import STATUS_COLUMNS, expected_statuses, toy_config

from trd_spark.phenotypes.stage import (
    derive_phenotype_tables,
    dose_form_ids,
    read_omop,
    stage_counts,
    study_vocabulary,
)

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round43" / "liquid-doses"
SERTRALINE, QUETIAPINE = 739138, 766814


@pytest.fixture(scope="module")
def case_run(spark, tmp_path_factory):
    """The case through the chain (read_omop, derive_phenotype_tables, stage_counts as ``run`` passes the dose
    forms) and the DuckDB twin (``duckdb_phenotypes_and_drop_counts``), once, with the shipped concept sets and
    {sertraline: 50, quetiapine: 150} as the minimum daily dose: {"chain", "twin": sorted STATUS_COLUMNS tuples, "quirks":
    stage_counts' quirk parts, "twin_counts": the twin's drop counts}."""
    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    from duckdb_phenotypes import duckdb_phenotypes_and_drop_counts

    out = tmp_path_factory.mktemp("round43") / "twin.parquet"
    cfg = toy_config(path=str(CASE / "omop"))
    trials = cfg.phenotypes.trials.model_copy(update={"ingredient_min_daily_dose": {SERTRALINE: 50.0, QUETIAPINE: 150.0}})
    cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"trials": trials})})
    omop = read_omop(spark, cfg)
    tables = derive_phenotype_tables(omop, cfg)
    rows = tables.phenotypes.select(*STATUS_COLUMNS).collect()
    _, quirks = stage_counts(omop, tables.persons, tables.study_events, tables.ingredients, cfg.omop.data_cutoff_date,
                             trials.max_days_supply, augmentation=tables.augmentation_ingredients,
                             dose_forms=dose_form_ids(cfg, study_vocabulary(omop, cfg)))
    _, twin_counts = duckdb_phenotypes_and_drop_counts(str(CASE / "omop"), cfg, str(out), threads=1)
    con = duckdb.connect()
    try:
        twin = con.execute(f"SELECT {', '.join(STATUS_COLUMNS)} FROM read_parquet('{out}')").fetchall()
    finally:
        con.close()
    return {"chain": sorted(tuple(r) for r in rows), "twin": sorted(twin), "quirks": quirks,
            "twin_counts": twin_counts}


def test_a_liquids_and_a_boxed_products_daily_dose_in_the_chain(case_run):
    """On 241c7d9: 4301 and 4304 ad3 TRD on 2019-08-01 (203 d, 3 trials) from liquids of 40 and 20 mg/day (unknown
    dose then); 4306 (Box of 30), 4307 (0.05 G) and 4311 (days_supply 3000) trMDD with 2 trials (1.7, 0.05 and 1
    mg/day then); 4312 ad2_augmentation trMDD (quetiapine at 3 mg/day then)."""
    assert case_run["chain"] == sorted(expected_statuses(CASE))


def test_a_liquids_and_a_boxed_products_daily_dose_in_the_duckdb_twin(case_run):
    """On 241c7d9 the twin read amount_value only: the chain's wrong rows."""
    assert case_run["twin"] == sorted(expected_statuses(CASE))


def test_the_records_below_or_of_unknown_dose_are_counted(case_run):
    """2 below (4301, 4304's liquids), 5 unknown (4303's 3 of a 60 mL bottle: 60 mg/day as bottles, 1 as mL,
    under the default trials.quantified_liquid_quantity items_or_ml, session 51; 4305 ug per mL, 4306 the box,
    4307 grams, 4311 days_supply 3000); quetiapine: 1 unknown (4312). On 241c7d9: 3 below (4306, 4307, 4311),
    5 unknown (4301-4305: every liquid); quetiapine 1 below. Until session 51 4303 was a known dose (4 unknown)."""
    counts = case_run["quirks"]["antidepressant_exposures"]
    assert (counts["n_below_min_dose"], counts["n_dose_unknown"]) == (2, 5), counts
    assert case_run["quirks"]["augmentation_exposures"] == {"n_below_min_dose": 0, "n_dose_unknown": 1}


def test_the_records_and_persons_exclude_dose_forms_leaves_out_are_counted_in_chain_and_twin(case_run):
    """3 doxepin cream records of 2 persons (4309 twice, 4310 once). On 241c7d9 there was no dose_form_ids
    (ImportError; with stage_counts called without it: KeyError, no such part), nor a twin part."""
    expected = {"n_records_antidepressants": 3, "n_persons_antidepressants": 2}
    assert case_run["quirks"]["dose_form_excluded"] == expected
    assert case_run["twin_counts"]["dose_form_excluded"] == expected
