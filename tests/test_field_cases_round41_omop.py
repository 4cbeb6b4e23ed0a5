"""Field cases, round 41 (session 48, helper "omop41"): antidepressant products the study's set missed or wrongly held.

The `antidepressants` set of conf/concept_sets.yaml (docs/phenotypes.md: exposures reach their ingredient through
concept_ancestor) lacked amoxapine (713109) and maprotiline (794147), a tricyclic and a tetracyclic licensed for
depression in the US and listed in OHDSI PhenotypeLibrary cohort 1009's antidepressant set: a person treated with
either alone was a non_MDD control (the controls have no antidepressant exposure) and an MDD person's course of
either was no trial (case person 4102 MDD_other instead of trMDD; 4103 ad3 trMDD instead of TRD). And it held
topical doxepin (5% cream, RxNorm 1000091, labelled for pruritus up to 8 days), which descends from the doxepin
ingredient: an eczema patient was `antidepressant_no_mdd` (4104) and an MDD person's cream orders a third
antidepressant trial (4105 ad3 TRD). The chain and the DuckDB twin read the same set, so both were wrong alike. Now
both ingredients are in the set and the cream, with its descendants, is its `exclude` (only_if_standard: a release
without the code excludes nothing, with an INFO line); oral doxepin is kept (4106, 4107).

Session 48 fixesC: that exclusion by one code did nothing for the cream under another clinical drug (4108: a
third trial again, ad3 TRD) nor for a record at the dose-form level ("doxepin Topical Cream", an ancestor of
1000091: 4109 antidepressant_no_mdd). The set's `exclude_dose_forms` (Topical, Cutaneous) now leaves out every
member whose RxNorm name holds the dose form, in the chain (concepts.dose_form_excluded) and the twin alike; a
transdermal selegiline (Emsam, licensed for MDD) is kept (4110).

Case tests/data/field_cases_round41/antidepressant-forms (expected.tsv by hand, its '#' lines explain each person;
toy config). One module-scoped run of the chain and the twin.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_phenotypes_support import STATUS_COLUMNS, duckdb_twin_rows, expected_statuses, toy_config

from trd_spark.config import ConceptSet
from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round41" / "antidepressant-forms"


@pytest.fixture(scope="module")
def case_run(spark, tmp_path_factory):
    """The case through the chain (read_omop, derive_phenotype_tables) and the DuckDB twin, once, with the
    shipped concept sets: {"chain": sorted STATUS_COLUMNS tuples, "twin": the same}."""
    tmp = tmp_path_factory.mktemp("round41")
    cfg = toy_config(path=str(CASE / "omop"))
    tables = derive_phenotype_tables(read_omop(spark, cfg), cfg)
    rows = tables.phenotypes.select(*STATUS_COLUMNS).collect()
    twin = duckdb_twin_rows(CASE / "omop", cfg, tmp / "twin.parquet", ", ".join(STATUS_COLUMNS), "TRUE")
    return {"chain": sorted(tuple(r) for r in rows), "twin": sorted(twin)}


def test_amoxapine_maprotiline_are_antidepressants_and_doxepin_cream_is_not_in_the_chain(case_run):
    """On 75fd51b: 4101 non_MDD (amoxapine alone), 4102 MDD_other no_adequate_trial (maprotiline 60 d), 4103 ad3
    trMDD with 2 trials (amoxapine the third), 4104 excluded antidepressant_no_mdd (doxepin cream alone), 4105 ad3
    TRD on the cream's start (203 d, 3 trials). On b58bc3e (the cream excluded by code 1000091 only): 4108 ad3 TRD
    on 2019-08-01 (203 d, 3 trials: a cream under another code), 4109 excluded antidepressant_no_mdd (a
    dose-form-level record)."""
    assert case_run["chain"] == sorted(expected_statuses(CASE))


def test_amoxapine_maprotiline_are_antidepressants_and_doxepin_cream_is_not_in_the_duckdb_twin(case_run):
    """On 75fd51b the twin read the same set: the chain's wrong rows."""
    assert case_run["twin"] == sorted(expected_statuses(CASE))


def test_exclude_dose_forms_is_a_drug_sets_only():
    """A dose-form word on a condition set would match concept names of another meaning, silently: refused, naming
    the rule (on b58bc3e the key did not exist: a ValidationError of an unknown field, not this message)."""
    ConceptSet(domain="drug", include=[{"concept_id": 738156, "name": "doxepin"}], exclude_dose_forms=["Topical"])
    with pytest.raises(ValueError, match="exclude_dose_forms names RxNorm dose forms: a drug set's only"):
        ConceptSet(domain="condition", include=[{"concept_id": 1, "name": "x"}], exclude_dose_forms=["Topical"])
    with pytest.raises(ValueError, match="exclude_dose_forms"):
        ConceptSet(domain="drug", include=[{"concept_id": 1, "name": "x"}], exclude_dose_forms=["Topical|Cream"])
