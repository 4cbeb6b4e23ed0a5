"""Toy OMOP tables: columns and types, vocabulary closure, the EHR quirks the brief asks for."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from trd_spark.toydata import generate_toy_data

REPO = Path(__file__).resolve().parent.parent
I64, D32 = pa.int64(), pa.date32()
EXPECTED_SCHEMAS = {
    "person": {"person_id": I64, "gender_concept_id": I64, "year_of_birth": I64, "month_of_birth": I64,
               "day_of_birth": I64, "birth_datetime": pa.timestamp("us"), "race_concept_id": I64,
               "ethnicity_concept_id": I64},
    "observation_period": {"observation_period_id": I64, "person_id": I64, "observation_period_start_date": D32,
                           "observation_period_end_date": D32, "period_type_concept_id": I64},
    "death": {"person_id": I64, "death_date": D32},
    "condition_occurrence": {"condition_occurrence_id": I64, "person_id": I64, "condition_concept_id": I64,
                             "condition_start_date": D32, "condition_end_date": D32,
                             "condition_type_concept_id": I64, "condition_source_value": pa.string()},
    "drug_exposure": {"drug_exposure_id": I64, "person_id": I64, "drug_concept_id": I64,
                      "drug_exposure_start_date": D32, "drug_exposure_end_date": D32, "verbatim_end_date": D32,
                      "days_supply": I64, "quantity": pa.float64(), "refills": I64,
                      "drug_type_concept_id": I64, "route_concept_id": I64},
    "procedure_occurrence": {"procedure_occurrence_id": I64, "person_id": I64, "procedure_concept_id": I64,
                             "procedure_date": D32},
    "concept": {"concept_id": I64, "concept_name": pa.string(), "domain_id": pa.string(),
                "vocabulary_id": pa.string(), "concept_class_id": pa.string(), "standard_concept": pa.string(),
                "concept_code": pa.string(), "valid_start_date": D32, "valid_end_date": D32,
                "invalid_reason": pa.string()},
    "concept_ancestor": {"ancestor_concept_id": I64, "descendant_concept_id": I64,
                         "min_levels_of_separation": I64, "max_levels_of_separation": I64},
}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy_omop")
    truth = generate_toy_data(str(out), persons=300, variants=400, seed=11)
    tables = {t: pq.read_table(out / "omop" / f"{t}.parquet") for t in EXPECTED_SCHEMAS}
    return truth, tables


@pytest.mark.parametrize("table", sorted(EXPECTED_SCHEMAS))
def test_table_has_exactly_the_declared_columns_and_types(toy, table):
    _, tables = toy
    schema = tables[table].schema
    assert dict(zip(schema.names, schema.types)) == EXPECTED_SCHEMAS[table]


def test_persons_ids_and_sexes(toy):
    truth, t = toy
    person = t["person"].to_pandas()
    assert len(person) == truth["persons"] == 300
    assert person["person_id"].tolist() == list(range(1_000_001, 1_000_301))
    assert set(person["gender_concept_id"]) == {8507, 8532}
    assert 0.45 < (person["gender_concept_id"] == 8532).mean() < 0.75


def test_every_used_concept_is_in_concept(toy):
    _, t = toy
    known = set(t["concept"].column("concept_id").to_pylist())
    used = (set(t["condition_occurrence"].column("condition_concept_id").to_pylist())
            | set(t["drug_exposure"].column("drug_concept_id").to_pylist())
            | set(t["procedure_occurrence"].column("procedure_concept_id").to_pylist()))
    assert used and used <= known


def test_every_product_reaches_its_ingredient_and_every_concept_is_its_own_ancestor(toy):
    _, t = toy
    concept = t["concept"].to_pandas()
    anc = t["concept_ancestor"].to_pandas()
    self_rows = anc[anc["ancestor_concept_id"] == anc["descendant_concept_id"]]
    assert set(self_rows["ancestor_concept_id"]) == set(concept["concept_id"])
    assert (self_rows["min_levels_of_separation"] == 0).all()
    ingredients = set(concept.loc[concept["concept_class_id"] == "Ingredient", "concept_id"])
    products = concept.loc[concept["concept_class_id"].isin(["Clinical Drug", "Branded Drug"]), "concept_id"]
    assert len(products) == 2 * len(ingredients)
    reach = anc[anc["ancestor_concept_id"].isin(ingredients) & (anc["min_levels_of_separation"] > 0)]
    per_product = reach.groupby("descendant_concept_id")["ancestor_concept_id"].nunique()
    assert set(per_product.index) == set(products)
    assert (per_product == 1).all()
    synthetic = concept[~concept["concept_id"].isin(_real_ids())]
    assert (synthetic["concept_id"] >= 2_000_000_000).all()


def _real_ids() -> set[int]:
    sets = yaml.safe_load((REPO / "conf" / "concept_sets.yaml").read_text())["concept_sets"]
    return {e["concept_id"] for s in sets.values() for part in ("include", "exclude")
            for e in s.get(part, []) if "concept_id" in e} | {320128}


def test_concept_sets_yaml_ids_and_cpt4_codes_are_present(toy):
    _, t = toy
    concept = t["concept"].to_pandas()
    assert _real_ids() <= set(concept["concept_id"])
    cpt4 = concept[concept["vocabulary_id"] == "CPT4"]
    assert sorted(cpt4["concept_code"]) == ["90867", "90868", "90869", "90870"]
    mdd = concept.set_index("concept_id").loc[[4152280, 739138, 4030840]]
    assert mdd["domain_id"].tolist() == ["Condition", "Drug", "Procedure"]
    assert mdd["concept_name"].tolist() == ["Major depressive disorder", "sertraline", "Electroconvulsive therapy"]


def test_depression_hierarchy_as_in_snomed(toy):
    _, t = toy
    anc = t["concept_ancestor"].to_pandas()
    edges = set(zip(anc["ancestor_concept_id"], anc["descendant_concept_id"]))
    assert {(440383, 4152280), (440383, 42872722), (440383, 433440), (4152280, 42872722)} <= edges
    assert any(a == 436665 and d != 436665 for a, d in edges)  # bipolar has a child


def test_drug_exposure_quirks(toy):
    truth, t = toy
    d = t["drug_exposure"].to_pandas()
    same_day = d["drug_exposure_end_date"] == d["drug_exposure_start_date"]
    assert 0.4 < same_day.mean() < 0.6
    assert (d.loc[same_day, "days_supply"] == 30).all()  # the single-order rows carry the length
    assert d["days_supply"].isna().any() and d["verbatim_end_date"].isna().mean() > 0.9
    dup = d.duplicated(["person_id", "drug_concept_id", "drug_exposure_start_date"]).sum()
    assert dup >= truth["omop_records"]["drug_exposure_duplicates"] > 0
    assert d["drug_exposure_id"].is_unique


def test_clinical_dates_inside_observation_and_before_death(toy):
    _, t = toy
    op = t["observation_period"].to_pandas()
    death = t["death"].to_pandas()
    assert (op.groupby("person_id").size() >= 1).all() and op["person_id"].nunique() == 300
    assert (op.groupby("person_id").size() == 2).any()
    for table, col in [("condition_occurrence", "condition_start_date"), ("drug_exposure", "drug_exposure_start_date"),
                       ("procedure_occurrence", "procedure_date")]:
        events = t[table].to_pandas()[["person_id", col]].reset_index(names="event")
        ev = events.merge(op, on="person_id")
        inside = (ev[col] >= ev["observation_period_start_date"]) & (ev[col] <= ev["observation_period_end_date"])
        assert inside.groupby(ev["event"]).any().all(), table
        ev = ev.merge(death, on="person_id")
        assert (ev[col] <= ev["death_date"]).all(), table
    assert len(death) > 0
