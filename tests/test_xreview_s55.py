"""Session 55 cross-review (helper "xreview"): shapes the session's commits left wrong.

A claim reversal cancels ONE claim row (90cffef, docs/phenotypes.md "A claim reversal cancels one claim"); of
candidate claims equal in start, quantity, days_supply, end date, verbatim end and refills, 90cffef's chain took
the one last in collect_list's order and the twin the first by DuckDB's rowid, as if the rows were alike. They are
not when their drug_type_concept_id differs and they have no end date after the start and no days_supply: a
mail-order fill (vocabulary.MAIL_ORDER_DRUG_TYPE_IDS) runs mail_order_days_supply (90) days, a retail claim
default_days_supply (30). So which one a reversal cancelled (an adequate 90-day trial or a 30-day one) depended on
the export's row order, and the chain and the twin could disagree. Now the greatest drug_type_concept_id is
cancelled first (chain ``trials._CLAIM_TIES``; twin ``_reversed_claims``): the mail-order one (38000176 > 32869).
"""

from __future__ import annotations

import pytest
from test_phenotypes_support import (
    ANCESTRY,
    BUPROPION,
    CITALOPRAM,
    CONCEPTS,
    MDD_CONCEPT,
    SERTRALINE_TAB,
    d,
    duckdb_twin_run,
    write_omop_tables,
)

from trd_spark.phenotypes.omop import OMOP_COLUMNS
from trd_spark.phenotypes.trials import drop_reversed_claims

PHARMACY_CLAIM, MAIL_ORDER = 32869, 38000176
S = "2019-09-01"


def rx(pid: int, start: str, ds: int | None, q: float | None, drug_type: int, concept: int = SERTRALINE_TAB,
       refills: int | None = None) -> tuple:
    """A drug_exposure row (OMOP_COLUMNS order), its end the start (the ETL's)."""
    return (pid, concept, d(start), d(start), ds, None, q, refills, None, drug_type)


def shape(pid: int, mail_first: bool) -> list[tuple]:
    """A mail-order and a retail claim of 60 units on S, neither with a days_supply, and one reversal by quantity
    (no days_supply, -60) on S; the two claims in either order."""
    claims = [rx(pid, S, None, 60.0, MAIL_ORDER), rx(pid, S, None, 60.0, PHARMACY_CLAIM)]
    return [*(claims if mail_first else claims[::-1]), rx(pid, S, None, -60.0, PHARMACY_CLAIM)]


def refills_shape(pid: int) -> list[tuple]:
    """The shape with the retail claim written with 2 refills (the mail-order one with 0): refills rank before
    drug_type_concept_id (trials._CLAIM_TIES), read by the exposure rule or not (use_refills, default off)."""
    return [rx(pid, S, None, 60.0, MAIL_ORDER, refills=0), rx(pid, S, None, 60.0, PHARMACY_CLAIM, refills=2),
            rx(pid, S, None, -60.0, PHARMACY_CLAIM)]


def test_the_chain_cancels_the_same_claim_whatever_the_rows_order(spark):
    """trials.drop_reversed_claims on the shape in both orders (one partition, so collect_list keeps the input
    order): the retail claim stands both times; with refills, the mail-order one. Before this fix (90cffef): the
    claim listed second was cancelled, so the mail-order one stood in one order and the retail one in the other."""
    from pyspark.sql import types as T

    # the rows end at drug_type_concept_id (drug_exposure_id, session 57, absent: not checked)
    schema = T.StructType([T.StructField(n, t, True) for n, t in OMOP_COLUMNS["drug_exposure"] if n != "drug_exposure_id"])
    rows = [*shape(1, True), *shape(2, False), *refills_shape(3)]
    kept = drop_reversed_claims(spark.createDataFrame(rows, schema).coalesce(1)).where("quantity > 0").collect()
    assert sorted((r.person_id, r.drug_type_concept_id) for r in kept) == [
        (1, PHARMACY_CLAIM), (2, PHARMACY_CLAIM), (3, MAIL_ORDER)]


@pytest.fixture(scope="module")
def twin_rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("xreview55") / "omop"
    root.mkdir()
    persons = {1: shape(1, True), 2: shape(2, False), 3: refills_shape(3)}
    drugs = []
    for p, variant in persons.items():
        drugs += [rx(p, "2019-02-01", 60, None, PHARMACY_CLAIM, CITALOPRAM),
                  rx(p, "2019-05-01", 60, None, PHARMACY_CLAIM, BUPROPION), *variant]
    write_omop_tables(root, {
        "person": [(p, 8532, 1970, 1, 1) for p in persons],
        "observation_period": [(p, d("2010-01-01"), d("2023-12-31")) for p in persons],
        "condition_occurrence": [(p, MDD_CONCEPT, d(x)) for p in persons for x in ("2019-01-10", "2019-02-10")],
        "drug_exposure": drugs,
        "concept": CONCEPTS,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    })
    return duckdb_twin_run(root, ["person_id", "definition", "status", "n_adequate_trials"])["rows"]


def test_the_twin_cancels_the_same_claim_whatever_the_rows_order(twin_rows):
    """The DuckDB twin on the shape after two adequate trials (citalopram, bupropion): the mail-order claim is
    cancelled, the retail one's 30 days stand (no third adequate trial): trMDD with 2 trials for persons 1 and 2;
    person 3's retail claim (more refills) is cancelled as the chain cancels it, its 90-day mail-order fill
    stands: ad3 TRD with 3. Before this fix (90cffef): person 1 (mail-order row first) trMDD, person 2 ad3 TRD
    with 3 (its retail claim cancelled, the 90-day mail-order fill stood); before its second part (f8031c3, the
    twin ranking by refills only with use_refills on, the chain always) person 3 trMDD, the chain's TRD."""
    ad3 = [r for r in twin_rows if r[1] == "ad3"]
    assert ad3 == [(1, "ad3", "trMDD", 2), (2, "ad3", "trMDD", 2), (3, "ad3", "TRD", 3)]
