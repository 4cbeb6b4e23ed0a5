"""Cross-check: the Spark phenotype chain equals an independent DuckDB SQL implementation
(benchmarks/duckdb_phenotypes.py) on generated toy OMOP data with random edge-case rows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_phenotypes_support import toy_config

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import duckdb_phenotypes as duckdb_module  # noqa: E402
from duckdb_phenotypes import DECISION_COLUMNS, compare_phenotypes, duckdb_drop_counts, duckdb_phenotypes  # noqa: E402
from omop_data import DEVICE_CONCEPTS, _append, write_omop  # noqa: E402

from trd_spark.config import ConceptRef, ConceptSet  # noqa: E402
from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop, stage_counts  # noqa: E402
from trd_spark.toydata import vocabulary as voc  # noqa: E402

PERSONS = 2000
MIRTAZAPINE, SERTRALINE, FLUOXETINE, CITALOPRAM = 725131, 739138, 755695, 797617
# person_ids no person row has: a death row and an MDD record each
UNKNOWN_PERSONS = [990_000_001, 990_000_002, 990_000_003]


def add_unusable_death_rows(omop_dir: Path) -> None:
    """Rows the rules cannot use, beside the generator's: an undated death row (no death_date,
    no datetime) for the first three persons, a death row and an MDD record for each of
    UNKNOWN_PERSONS, and an observation period for the first two of them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    known = pq.read_table(omop_dir / "person.parquet", columns=["person_id"])["person_id"].to_pylist()[:3]
    day = pa.array([19000] * 3, pa.int32()).cast(pa.date32())
    _append(omop_dir / "death.parquet", {"person_id": pa.array(known + UNKNOWN_PERSONS, pa.int64()),
                                         "death_date": pa.concat_arrays([pa.nulls(3, pa.date32()), day])})
    _append(omop_dir / "condition_occurrence.parquet", {
        "condition_occurrence_id": pa.array(30_000_000_000 + np.arange(3), pa.int64()),
        "person_id": pa.array(UNKNOWN_PERSONS, pa.int64()),
        "condition_concept_id": pa.array([voc.MDD] * 3, pa.int64()), "condition_start_date": day})
    _append(omop_dir / "observation_period.parquet", {
        "person_id": pa.array(UNKNOWN_PERSONS[:2], pa.int64()),
        "observation_period_start_date": day[:2], "observation_period_end_date": day[:2]})


def _supplied_product_rows(omop_dir: Path, first: int, n: int):
    """(drug_exposure table, its antidepressant product rows with a positive days_supply, ``n`` from
    the ``first``-th on): the rows each added shape below copies."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    drugs = pq.read_table(omop_dir / "drug_exposure.parquet")
    products = pc.greater_equal(drugs["drug_concept_id"], voc.PRODUCT_BASE)
    return drugs, drugs.filter(pc.and_(products, pc.greater(pc.fill_null(drugs["days_supply"], 0), 0))).slice(first, n)


def add_negative_days_supply_rows(omop_dir: Path, n: int = 40) -> None:
    """The generator writes no negative days_supply (a masked -1): a copy of each of the first
    ``n`` antidepressant product rows with a positive days_supply, 40 days later with that
    days_supply negated (a claim reversal's shape), which the rules do not use as exposures;
    every other copy also has refills -1 (nor does it write negative refills: read as none)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    drugs, rows = _supplied_product_rows(omop_dir, 0, n)
    start = pc.add(rows["drug_exposure_start_date"].cast(pa.int32()), pa.scalar(40, pa.int32())).cast(pa.date32())
    _append(omop_dir / "drug_exposure.parquet", {
        "drug_exposure_id": pa.array(range(40_000_000_000, 40_000_000_000 + rows.num_rows), pa.int64()),
        "person_id": rows["person_id"], "drug_concept_id": rows["drug_concept_id"],
        "drug_exposure_start_date": start, "drug_exposure_end_date": start,
        "days_supply": pc.negate(rows["days_supply"]),
        "refills": pa.array([-1 if i % 2 else None for i in range(rows.num_rows)], drugs.schema.field("refills").type)})


def add_reversal_rows(omop_dir: Path, n: int = 60) -> None:
    """The generator writes no claim reversal that cancels its claim: for ``n`` antidepressant product rows
    with a positive days_supply (from the 2001st), a reversal of that claim: the even ones on its day with
    the days_supply negated, the odd ones 3 days later with the quantity negated (-30 where it has none: then
    the claim's empty quantity matches any), which cancel the claim (docs/phenotypes.md "A claim reversal
    cancels one claim"; session 54 omop)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    drugs, rows = _supplied_product_rows(omop_dir, 2000, n)
    odd = pa.array([i % 2 == 1 for i in range(rows.num_rows)])
    day = pc.if_else(odd, pc.add(rows["drug_exposure_start_date"].cast(pa.int32()), pa.scalar(3, pa.int32())),
                     rows["drug_exposure_start_date"].cast(pa.int32())).cast(pa.date32())
    quantity = rows["quantity"].cast(pa.float64())
    _append(omop_dir / "drug_exposure.parquet", {
        "drug_exposure_id": pa.array(range(43_000_000_000, 43_000_000_000 + rows.num_rows), pa.int64()),
        "person_id": rows["person_id"], "drug_concept_id": rows["drug_concept_id"],
        "drug_exposure_start_date": day, "drug_exposure_end_date": day,
        "days_supply": pc.if_else(odd, rows["days_supply"], pc.negate(rows["days_supply"])),
        "quantity": pc.if_else(odd, pc.negate(pc.fill_null(quantity, 30.0)), quantity).cast(
            drugs.schema.field("quantity").type)})


def add_administration_rows(omop_dir: Path, n: int = 200, doses: int = 14) -> None:
    """The generator writes no administration record (one row per dose given on a ward,
    drug_type_concept_id 38000180 "Inpatient administration", end = start, no days_supply): for
    each of the first ``n`` antidepressant product rows with a positive days_supply, ``doses``
    daily administrations of that product from 100 days after its start, which the rules read as
    their own days (14 days, where 14 default-length orders made a 43-day trial; field case round 22)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    _, rows = _supplied_product_rows(omop_dir, 0, n)
    take = pa.array(np.repeat(np.arange(rows.num_rows), doses))
    day = pc.add(pc.add(rows["drug_exposure_start_date"].cast(pa.int32()).take(take), pa.scalar(100, pa.int32())),
                 pa.array(np.tile(np.arange(doses, dtype=np.int32), rows.num_rows))).cast(pa.date32())
    _append(omop_dir / "drug_exposure.parquet", {
        "drug_exposure_id": pa.array(range(41_000_000_000, 41_000_000_000 + len(take)), pa.int64()),
        "person_id": rows["person_id"].take(take), "drug_concept_id": rows["drug_concept_id"].take(take),
        "drug_exposure_start_date": day, "drug_exposure_end_date": day,
        "drug_type_concept_id": pa.array([38000180] * len(take), pa.int64())})


def add_mail_order_rows(omop_dir: Path, n: int = 200) -> None:
    """The generator writes no mail-order prescription (drug_type_concept_id 38000176, end = start, no
    days_supply): for ``n`` antidepressant product rows with a positive days_supply (from the 1001st), one such
    fill of that product 365 days after its start, which the rules read as trials.mail_order_days_supply (90)
    days, not the default 30 (OHDSI Themis' end-date convention; session 53 trials)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # rows after those add_administration_rows takes, and a year on: the two rules' rows do not merge
    _, rows = _supplied_product_rows(omop_dir, 1000, n)
    day = pc.add(rows["drug_exposure_start_date"].cast(pa.int32()), pa.scalar(365, pa.int32())).cast(pa.date32())
    _append(omop_dir / "drug_exposure.parquet", {
        "drug_exposure_id": pa.array(range(42_000_000_000, 42_000_000_000 + rows.num_rows), pa.int64()),
        "person_id": rows["person_id"], "drug_concept_id": rows["drug_concept_id"],
        "drug_exposure_start_date": day, "drug_exposure_end_date": day,
        "drug_type_concept_id": pa.array([38000176] * rows.num_rows, pa.int64())})


@pytest.fixture(scope="module")
def outputs(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("pheno_duckdb")
    write_omop(base / "omop", PERSONS, seed=5, edge_rows=3000)
    add_unusable_death_rows(base / "omop")
    add_negative_days_supply_rows(base / "omop")
    add_reversal_rows(base / "omop")
    add_administration_rows(base / "omop")
    add_mail_order_rows(base / "omop")
    cfg = toy_config(path=str(base / "omop"))
    # Non-default trial rules, so that both implementations exercise them too (refills are off
    # by default); the minimum daily doses sit inside the generated dose range.
    trials = cfg.phenotypes.trials.model_copy(update={
        "use_refills": True, "max_days_supply": 120,
        "ignored_ingredient_ids": [MIRTAZAPINE], "ingredient_min_trial_days": {SERTRALINE: 84},
        "pre_index_window_days": 14,
        "ingredient_min_daily_dose": {SERTRALINE: 50.0, FLUOXETINE: 20.0, CITALOPRAM: 25.0}})
    # somatic events also from device_exposure (synthetic device concepts of the generator)
    sets = dict(cfg.concept_sets.concept_sets)
    sets["test_devices"] = ConceptSet(domain="device", include=[
        ConceptRef(concept_id=c, name=f"device {c}") for c in DEVICE_CONCEPTS])
    definitions = [d.model_copy(update={"somatic_concept_sets": [*d.somatic_concept_sets, "test_devices"]})
                   if d.rule == "somatic" else d for d in cfg.phenotypes.trd_definitions]
    cfg = cfg.model_copy(update={
        "phenotypes": cfg.phenotypes.model_copy(update={"trials": trials, "trd_definitions": definitions}),
        "concept_sets": cfg.concept_sets.model_copy(update={"concept_sets": sets})})
    omop = read_omop(spark, cfg)
    tables = derive_phenotype_tables(omop, cfg)
    tables.phenotypes.select(*DECISION_COLUMNS).write.parquet(str(base / "spark"))
    n = duckdb_phenotypes(str(base / "omop"), cfg, str(base / "duck.parquet"), threads=1)
    # the drop counts the Spark stage reports (run log, manifest), from the same frames
    counts = stage_counts(omop, tables.persons, tables.study_events, tables.ingredients, cfg.omop.data_cutoff_date,
                          cfg.phenotypes.trials.max_days_supply)
    cmp = compare_phenotypes(str(base / "spark" / "*.parquet"), str(base / "duck.parquet"))
    return base, n, cmp, cfg, counts


def test_statuses_and_dates_identical(outputs):
    _, n, cmp, _, _ = outputs
    assert n == cmp["n_ours"] == cmp["n_oracle"] == 3 * PERSONS
    assert (cmp["n_only_ours"], cmp["n_only_oracle"]) == (0, 0), (cmp["examples_ours"], cmp["examples_oracle"])


def test_data_reach_every_outcome(outputs):
    """The comparison is meaningful: the data produce every status and reason of every rule."""
    import duckdb

    base, _, _, _, _ = outputs
    got = duckdb.sql(f"""SELECT definition, status || coalesce(':' || exclusion_reason, '') AS outcome, count(*) AS n
                         FROM read_parquet('{base / "spark" / "*.parquet"}') GROUP BY ALL""").fetchall()
    by_definition = {}
    for definition, outcome, _n in got:
        by_definition.setdefault(definition, set()).add(outcome)
    expected = {"TRD", "trMDD", "MDD_other:no_adequate_trial", "MDD_other:short_followup", "non_MDD",
                "excluded:bipolar", "excluded:schizophrenia_spectrum", "excluded:under_18_at_index",
                "excluded:depression_not_mdd", "excluded:antidepressant_no_mdd"}
    assert set(by_definition) == {"ad3", "ad2_augmentation", "somatic"}
    for definition, outcomes in by_definition.items():
        assert expected <= outcomes, (definition, expected - outcomes)


@pytest.mark.parametrize("rule", ["refills", "min_dose", "devices", "control_drugs", "third_trial_started",
                                  "administrations", "mail_order"])
def test_each_new_rule_changes_outcomes_in_the_data(outputs, rule, monkeypatch):
    """Turning refills, the minimum dose, the device events, the control rule's own drugs
    (phenotypes.mdd.control_exclusion_drug_concept_sets, esketamine: no control), ad3's third trial
    that need only start (last_trial_adequate: false, session 27) or an administration record's own
    day (field case round 22; off: no drug type is an administration) or a mail-order prescription's 90 days
    (session 53; off: no drug type is mail order) on changes some
    rows (DuckDB side only), so the identical-results check above covers those rules on this data."""
    base, _, _, cfg, _ = outputs
    if rule == "administrations":
        monkeypatch.setattr(duckdb_module, "ADMINISTRATION_DRUG_TYPE_IDS", frozenset())
    if rule == "mail_order":  # session 53: off, a mail-order fill is a default-length order
        monkeypatch.setattr(duckdb_module, "MAIL_ORDER_DRUG_TYPE_IDS", frozenset())
    ph = cfg.phenotypes
    if rule == "refills":
        ph = ph.model_copy(update={"trials": ph.trials.model_copy(update={"use_refills": False})})
    elif rule == "min_dose":
        ph = ph.model_copy(update={"trials": ph.trials.model_copy(update={"ingredient_min_daily_dose": {}})})
    elif rule == "devices":
        ph = ph.model_copy(update={"trd_definitions": [
            d.model_copy(update={"somatic_concept_sets": [n for n in d.somatic_concept_sets if n != "test_devices"]})
            for d in ph.trd_definitions]})
    elif rule == "control_drugs":
        ph = ph.model_copy(update={"mdd": ph.mdd.model_copy(update={"control_exclusion_drug_concept_sets": []})})
    elif rule == "third_trial_started":
        ph = ph.model_copy(update={"trd_definitions": [
            d.model_copy(update={"last_trial_adequate": False}) if d.rule == "antidepressant_sequence" else d
            for d in ph.trd_definitions]})
    out = base / f"duck_without_{rule}.parquet"
    duckdb_phenotypes(str(base / "omop"), cfg.model_copy(update={"phenotypes": ph}), str(out), threads=1)
    cmp = compare_phenotypes(str(out), str(base / "duck.parquet"), examples=0)
    assert cmp["n_only_ours"] > 0


def test_drop_counts_equal_the_oracle_s(outputs):
    """The records and death rows the Spark stage reports as not used, and why (stage_counts:
    per domain, records of unknown persons, undated, before the birth year, after follow-up
    ends by death / the cutoff / the last observation period; undated deaths, deaths of person_ids
    without a person row, several death dates; drug records with an end before the start, a
    negative or zero days_supply, a refill course over max_days_supply, negative refills, an
    administration read as its own day, a mail-order prescription read as 90 days), equal the DuckDB twin's
    independent counts on
    the same data, so a count regression in Spark is caught here, not only a status change.
    Each of those reasons occurs in the data (else the comparison says nothing of it)."""
    base, _, _, cfg, (event_dates, quirks) = outputs
    oracle = duckdb_drop_counts(str(base / "omop"), cfg, threads=1)
    for domain, counts in event_dates.items():
        assert counts == (oracle[domain] or dict.fromkeys(counts, 0)), domain
    deaths = {k: quirks["birth_and_death"][k] for k in oracle["deaths"]}
    assert deaths == oracle["deaths"]
    assert deaths["n_persons_death_undated"] == 3
    assert deaths["n_persons_death_not_in_person_table"] == len(UNKNOWN_PERSONS)
    assert deaths["n_persons_period_not_in_person_table"] == 2  # dropped uncounted on 12a1719
    # the persons the implausible-year-of-birth exclusion takes (its own case: test_phenotypes_implausible_birth)
    assert {k: quirks["persons"][k] for k in oracle["persons"]} == oracle["persons"]
    # drug_exposure values the rules read otherwise than written (session 23): each occurs
    assert quirks["drug_records"] == oracle["drug_records"]
    assert min(oracle["drug_records"].values()) > 0, oracle["drug_records"]
    # claims a claim reversal cancels (add_reversal_rows; before session 54 the claims were exposures)
    assert quirks["reversed_claims"] == oracle["reversed_claims"]
    assert quirks["reversed_claims"]["n_reversed_claims"] > 0
    assert event_dates["condition"]["n_unknown_person"] == len(UNKNOWN_PERSONS)
    for reason in ("n_after_death", "n_after_cutoff", "n_after_observation_end", "n_before_birth_year"):
        assert sum(c[reason] for c in event_dates.values()) > 0, reason
