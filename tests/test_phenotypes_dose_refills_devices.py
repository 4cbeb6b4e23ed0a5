"""Refills, minimum daily dose (drug_strength) and device_exposure somatic events: hand-drawn cases."""

from __future__ import annotations

import pytest
from test_phenotypes_support import (
    FLUOXETINE,
    FLUOXETINE_CAP,
    MDD_CONCEPT,
    SERTRALINE,
    SERTRALINE_TAB,
    cond,
    d,
    days,
    device,
    drug,
    frame,
    obs,
    omop_tables,
    person,
    strength,
    toy_config,
)
from test_phenotypes_trials import _rows, _trials, ingredients  # noqa: F401 (fixture)

from trd_spark.config import ConceptRef, ConceptSet, TrialSettings
from trd_spark.errors import ConfigError
from trd_spark.phenotypes.concepts import ingredient_frame
from trd_spark.phenotypes.stage import derive_phenotype_tables, drug_strength_amounts
from trd_spark.phenotypes.trials import derive_ingredient_exposures, exposure_record_counts

RTMS_DEVICE = 2_000_000_601


@pytest.mark.parametrize(
    ("end", "days_supply", "refills", "use_refills", "expected_end"),
    [
        ("2020-01-01", 30, 2, True, "2020-03-30"),  # 30 x 3 days
        ("2020-01-01", 30, 2, False, "2020-01-30"),  # switch off: days_supply only
        ("2020-01-01", 30, 0, True, "2020-01-30"),
        ("2020-01-01", 30, None, True, "2020-01-30"),
        ("2020-02-15", 30, 2, True, "2020-02-15"),  # a recorded end wins
        ("2020-01-01", None, 2, True, "2020-01-30"),  # no days_supply: default 30, refills unused
    ],
    ids=["refills2", "switch_off", "refills0", "refills_null", "end_recorded", "no_supply"],
)
def test_refills_extend_exposure_without_end(spark, ingredients, end, days_supply, refills, use_refills,  # noqa: F811
                                             expected_end):
    settings = TrialSettings(use_refills=use_refills)
    rows = _rows(_trials(spark, ingredients, [
        drug(1, SERTRALINE_TAB, "2020-01-01", end=end, days_supply=days_supply, refills=refills)], settings=settings))
    assert [(r[2], r[3]) for r in rows] == [(d("2020-01-01"), d(expected_end))]


def test_one_refill_makes_a_30_day_order_adequate_only_when_switched_on(spark, ingredients):  # noqa: F811
    """Refills are authorised, not dispensed: off by default (docs/phenotypes.md)."""
    order = [drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=30, refills=1)]
    with_refill = _rows(_trials(spark, ingredients, order, settings=TrialSettings(use_refills=True)))
    by_default = _rows(_trials(spark, ingredients, order))
    without = _rows(_trials(spark, ingredients, [drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=30)],
                            settings=TrialSettings(use_refills=True)))
    assert (with_refill[0][4], with_refill[0][5]) == (60, True)
    assert (by_default[0][4], by_default[0][5]) == (30, False)
    assert (without[0][4], without[0][5]) == (30, False)


def test_minimum_daily_dose(spark, ingredients):  # noqa: F811
    """sertraline >= 50 mg/day; tablet 50 mg (drug_strength); fluoxetine has no minimum."""
    frame_ = ingredient_frame(spark, ingredients, amounts={(SERTRALINE_TAB, SERTRALINE): 50.0},
                              min_daily_dose={SERTRALINE: 50.0})
    drugs = frame(spark, "drug_exposure", [
        drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=30, quantity=30.0),  # 50 mg/day: kept (not below)
        drug(1, SERTRALINE_TAB, "2020-03-01", days_supply=30, quantity=15.0),  # 25 mg/day: dropped
        drug(1, SERTRALINE_TAB, "2020-05-01", days_supply=30),  # no quantity: unknown, kept
        drug(1, SERTRALINE, "2020-07-01", days_supply=30, quantity=1.0),  # ingredient concept: no strength, kept
        drug(1, SERTRALINE_TAB, "2020-09-01", days_supply=0, quantity=10.0),  # no days_supply: unknown, kept
        drug(2, FLUOXETINE_CAP, "2020-01-01", days_supply=30, quantity=1.0),  # no minimum: kept, not a quirk
        drug(2, FLUOXETINE_CAP, "2020-01-01", days_supply=30, quantity=1.0),  # duplicate
    ])
    got = derive_ingredient_exposures(drugs, frame_, 30).collect()
    assert sorted((r.person_id, r.exposure_start_date) for r in got) == [
        (1, d("2020-01-01")), (1, d("2020-05-01")), (1, d("2020-07-01")), (1, d("2020-09-01")), (2, d("2020-01-01"))]
    counts = exposure_record_counts(drugs, frame_).first().asDict()
    assert counts == {"n_records": 7, "n_below_min_dose": 1, "n_dose_unknown": 3, "n_exposures": 5,
                      "n_duplicates_removed": 1}


def test_drug_strength_amounts_only_for_ingredients_with_a_minimum(spark, ingredients):  # noqa: F811
    table = frame(spark, "drug_strength", [
        strength(SERTRALINE_TAB, SERTRALINE, 50.0), strength(SERTRALINE_TAB, SERTRALINE, 25.0),  # duplicate: max
        strength(FLUOXETINE_CAP, FLUOXETINE, 20.0), strength(SERTRALINE, SERTRALINE, None)])
    assert drug_strength_amounts(table, ingredients, {SERTRALINE: 50.0}) == {(SERTRALINE_TAB, SERTRALINE): 50.0}
    assert drug_strength_amounts(table, ingredients, {}) == {}


def _device_config():
    cfg = toy_config()
    sets = dict(cfg.concept_sets.concept_sets)
    sets["tms_device"] = ConceptSet(domain="device", include=[ConceptRef(concept_id=RTMS_DEVICE, name="rTMS coil")])
    return cfg.model_copy(update={"concept_sets": cfg.concept_sets.model_copy(update={"concept_sets": sets})})


def test_device_exposure_is_a_somatic_onset(spark):
    """1: device after index -> TRD at the device date; 2: device before index only -> not TRD;
    3: device after the cutoff -> not TRD; 4: another device concept -> not TRD."""
    omop = omop_tables(
        spark,
        persons=[person(p) for p in (1, 2, 3, 4)],
        observation_periods=[obs(p) for p in (1, 2, 3, 4)],
        conditions=[cond(p, MDD_CONCEPT, day) for p in (1, 2, 3, 4) for day in ("2016-01-01", "2016-03-01")],
        devices=[device(1, RTMS_DEVICE, "2018-02-02"), device(1, RTMS_DEVICE, "2019-01-01"),
                 device(2, RTMS_DEVICE, "2015-12-01"), device(3, RTMS_DEVICE, "2023-08-01"),
                 device(4, RTMS_DEVICE + 1, "2018-01-01")],
    )
    cfg = _device_config()
    assert "tms_device" in next(x for x in cfg.phenotypes.trd_definitions if x.rule == "somatic").somatic_concept_sets
    df = derive_phenotype_tables(omop, cfg).phenotypes.where("definition = 'somatic'")
    got = {r.person_id: (r.status, r.trd_onset_date, r.time_to_trd_days) for r in df.collect()}
    assert got[1] == ("TRD", d("2018-02-02"), days("2016-01-01", "2018-02-02"))
    for p in (2, 3, 4):
        assert got[p][:2] == ("MDD_other", None)


def test_empty_concept_set_only_for_somatic_sets(tmp_path):
    """The shipped tms_device set is empty (no verified ID) and matches nothing; an empty set
    elsewhere (e.g. the MDD set) is a config error naming the key."""
    from trd_spark.config import _check_references

    cfg = toy_config()
    assert cfg.concept_sets.concept_sets["tms_device"].include == []
    sets = dict(cfg.concept_sets.concept_sets)
    sets["mdd"] = ConceptSet(domain="condition", include=[])
    bad = cfg.model_copy(update={"concept_sets": cfg.concept_sets.model_copy(update={"concept_sets": sets})})
    with pytest.raises(ConfigError, match="phenotypes.mdd.concept_set: concept set 'mdd' includes no concept"):
        _check_references(bad, "toy.yaml")


def test_optional_tables_absent_or_broken(spark, tmp_path):
    """device_exposure and death absent: empty and listed; drug_strength unread without a
    minimum dose; a device_exposure that exists but lacks a column is an error naming it."""
    from trd_spark.errors import InputDataError
    from trd_spark.phenotypes.stage import read_omop

    tables = omop_tables(spark, persons=[person(1)], observation_periods=[obs(1)])
    for name, df in tables.items():
        if name not in ("death", "device_exposure", "drug_strength"):
            df.coalesce(1).write.parquet(str(tmp_path / f"{name}.parquet"))
    cfg = toy_config(path=str(tmp_path))
    absent: list[str] = []
    omop = read_omop(spark, cfg, absent)
    assert absent == ["death", "device_exposure"]
    assert omop["device_exposure"].count() == 0 and omop["drug_strength"].count() == 0
    tables["device_exposure"].drop("device_concept_id").write.parquet(str(tmp_path / "device_exposure.parquet"))
    with pytest.raises(InputDataError, match="device_exposure is missing required column.*device_concept_id"):
        read_omop(spark, cfg, [])
