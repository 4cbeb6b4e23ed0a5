"""Field cases, round 42 (session 48, helper "omop42"): a minimum daily dose for an augmentation agent.

`phenotypes.trials.ingredient_min_daily_dose` reached the trials' antidepressant ingredients only: a key of an
augmentation agent (quetiapine 766814: 150 mg/day, set to keep quetiapine 25-50 mg at night, a sleep aid, from
making `ad2_augmentation` TRD) applied to nothing, without a word: the chain and the DuckDB twin agreed on the
sleep dose's TRD onset (helper omop41's exploratory case). Now an augmentation record whose known daily dose
(quantity x drug_strength amount_value / days_supply, the trials' rule) is below its agent's minimum is no
augmentation exposure, an unknown dose counts (as for the trials), the dropped and unknown records are counted
(`notes.quirks.augmentation_exposures`), and a key naming an ingredient of neither the trials set nor an
augmentation set is one config error naming the key.

Case tests/data/field_cases_round42/augmentation-dose (expected.tsv by hand, its '#' lines explain each person;
toy config plus the quetiapine minimum). One module-scoped run of the chain and the twin.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_phenotypes_support import STATUS_COLUMNS, duckdb_twin_rows, expected_statuses, toy_config

from trd_spark.config import load_config
from trd_spark.errors import ConfigError
from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop, stage_counts

REPO = Path(__file__).resolve().parent.parent
CASE = Path(__file__).resolve().parent / "data" / "field_cases_round42" / "augmentation-dose"
QUETIAPINE = 766814


@pytest.fixture(scope="module")
def case_run(spark, tmp_path_factory):
    """The case through the chain (read_omop, derive_phenotype_tables, stage_counts) and the DuckDB twin, once,
    with the shipped concept sets and {quetiapine: 150} as the minimum daily dose: {"chain": sorted
    STATUS_COLUMNS tuples, "twin": the same, "quirks": stage_counts' quirk parts}."""
    tmp = tmp_path_factory.mktemp("round42")
    cfg = toy_config(path=str(CASE / "omop"))
    trials = cfg.phenotypes.trials.model_copy(update={"ingredient_min_daily_dose": {QUETIAPINE: 150.0}})
    cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"trials": trials})})
    omop = read_omop(spark, cfg)
    tables = derive_phenotype_tables(omop, cfg)
    rows = tables.phenotypes.select(*STATUS_COLUMNS).collect()
    _, quirks = stage_counts(omop, tables.persons, tables.study_events, tables.ingredients, cfg.omop.data_cutoff_date,
                             trials.max_days_supply, augmentation=tables.augmentation_ingredients)
    twin = duckdb_twin_rows(CASE / "omop", cfg, tmp / "twin.parquet", ", ".join(STATUS_COLUMNS), "TRUE")
    return {"chain": sorted(tuple(r) for r in rows), "twin": sorted(twin), "quirks": quirks}


def test_an_augmentation_record_below_its_agents_minimum_dose_is_no_augmentation_in_the_chain(case_run):
    """On 75fd51b: 4201 ad2_augmentation TRD on 2019-05-10 (120 d) from quetiapine 25 mg/day, 4203 TRD on
    2019-05-10 instead of its 300 mg/day order's 2019-09-01 (234 d)."""
    assert case_run["chain"] == sorted(expected_statuses(CASE))


def test_an_augmentation_record_below_its_agents_minimum_dose_is_no_augmentation_in_the_duckdb_twin(case_run):
    """On 75fd51b the twin read every quetiapine record as augmentation: the chain's wrong rows."""
    assert case_run["twin"] == sorted(expected_statuses(CASE))


def test_the_augmentation_records_below_or_of_unknown_dose_are_counted(case_run):
    """2 below (4201, 4203's first order), 2 of unknown dose (4204 no quantity, 4205 no drug_strength row); on
    75fd51b stage_counts took no augmentation frame (TypeError)."""
    assert case_run["quirks"]["augmentation_exposures"] == {"n_below_min_dose": 2, "n_dose_unknown": 2}


def test_a_minimum_dose_key_of_no_trials_or_augmentation_ingredient_is_one_config_error():
    """An augmentation agent's key loads; olanzapine's loads (an agent); a key of an ingredient in neither set
    (ziprasidone 712615, no agent of the shipped set) is one error naming the key. On 75fd51b it loaded, and
    applied to nothing."""
    raw = yaml.safe_load((REPO / "conf" / "toy.yaml").read_text())
    phenotypes = {**raw["phenotypes"], "concept_sets": str(REPO / "conf" / "concept_sets.yaml")}

    def load(key: int):
        return load_config(REPO / "conf" / "toy.yaml", overrides={"phenotypes": {
            **phenotypes, "trials": {"ingredient_min_daily_dose": {key: 150.0}}}})

    assert load(QUETIAPINE).phenotypes.trials.ingredient_min_daily_dose == {QUETIAPINE: 150.0}
    assert load(785788).phenotypes.trials.ingredient_min_daily_dose == {785788: 150.0}
    with pytest.raises(ConfigError) as e:
        load(712615)
    message = str(e.value)
    assert "phenotypes.trials.ingredient_min_daily_dose.712615: 712615 is no ingredient" in message, message
    assert "'antidepressants'" in message and "(augmentation)" in message and "\n" not in message, message
