"""The study population is the persons WITH EHR data: a person without it is never a control.

Session 37 (helper "ehr"): on 45f9cc3 every person of the ``person`` table without a study record
was ``non_MDD``. On All of Us every participant has a person row (The Basics survey) and about a
third of those with genomes shared no EHR: with no record that could show a diagnosis or a drug,
they were counted as controls free of depression and antidepressants (outcome misclassification,
~100k persons at AoU scale), and a person with an observation period built from program dates
was no different. Now ``omop.ehr_evidence`` says how a person is known to have EHR data
(any_record, the package default; observation_period, conf/toy.yaml; person_list; none), and a
person without it who has no other reason is ``excluded`` with reason ``no_ehr_data``, counted in
the cohort flow's ``excluded_no_ehr_data`` box. The DuckDB twin applies the same rule by its own SQL.

Tiny OMOP tables built inline (toy config: cutoff 2023-07-01); expected values by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chance import without_paths
from pydantic import ValidationError
from test_phenotypes_implausible_birth import _write_parquet
from test_phenotypes_support import MDD_CONCEPT, SERTRALINE_TAB, cond, device, drug, obs, omop_tables, person, proc, toy_config

from trd_spark.config import OmopInput
from trd_spark.errors import InputDataError
from trd_spark.phenotypes.flow import cohort_flow_rows, terminal_boxes
from trd_spark.phenotypes.stage import derive_phenotype_tables
from trd_spark.vocabulary import ALL_DEFINITIONS

NO_EHR = "no_ehr_data"
UNRELATED_CONDITION = 80502  # osteoporosis: in no study set
UNRELATED_DRUG = 1125315  # acetaminophen
UNRELATED_PROCEDURE = 4058335
UNRELATED_DEVICE = 4044008

# person -> what the person has
PERSONS = {
    1: "person row + an observation period from survey dates, no clinical record",
    2: "an unrelated condition record",
    3: "an unrelated drug record",
    4: "MDD on two dates",
    5: "an unrelated procedure record, no observation period",
    6: "an unrelated device record",
    7: "a person row only (no period, no record)",
    8: "an antidepressant, no diagnosis",
}
LISTED = (2, 4, 6)  # the person_list file


def omop_rows() -> dict[str, list]:
    return {
        "person": [person(p) for p in PERSONS],
        "observation_period": [obs(p) for p in PERSONS if p not in (5, 7)],
        "condition_occurrence": [cond(2, UNRELATED_CONDITION, "2010-01-01"),
                                 cond(4, MDD_CONCEPT, "2015-01-01"), cond(4, MDD_CONCEPT, "2015-03-01")],
        "drug_exposure": [drug(3, UNRELATED_DRUG, "2012-01-01", days_supply=10),
                          drug(8, SERTRALINE_TAB, "2012-01-01", days_supply=30)],
        "procedure_occurrence": [proc(5, UNRELATED_PROCEDURE, "2011-01-01")],
        "device_exposure": [device(6, UNRELATED_DEVICE, "2011-06-01")],
    }


def omop(spark):
    r = omop_rows()
    return omop_tables(spark, persons=r["person"], observation_periods=r["observation_period"],
                       conditions=r["condition_occurrence"], drugs=r["drug_exposure"],
                       procedures=r["procedure_occurrence"], devices=r["device_exposure"])


# mode -> person -> (MDD-stage status, reason)
EXPECTED = {
    "any_record": {1: ("excluded", NO_EHR), 2: ("non_MDD", None), 3: ("non_MDD", None), 4: ("MDD", None),
                   5: ("non_MDD", None), 6: ("non_MDD", None), 7: ("excluded", NO_EHR),
                   8: ("excluded", "antidepressant_no_mdd")},
    "observation_period": {1: ("non_MDD", None), 2: ("non_MDD", None), 3: ("non_MDD", None), 4: ("MDD", None),
                           5: ("excluded", NO_EHR), 6: ("non_MDD", None), 7: ("excluded", NO_EHR),
                           8: ("excluded", "antidepressant_no_mdd")},
    "person_list": {1: ("excluded", NO_EHR), 2: ("non_MDD", None), 3: ("excluded", NO_EHR), 4: ("MDD", None),
                    5: ("excluded", NO_EHR), 6: ("non_MDD", None), 7: ("excluded", NO_EHR),
                    8: ("excluded", "antidepressant_no_mdd")},
    "none": {1: ("non_MDD", None), 2: ("non_MDD", None), 3: ("non_MDD", None), 4: ("MDD", None),
             5: ("non_MDD", None), 6: ("non_MDD", None), 7: ("non_MDD", None),
             8: ("excluded", "antidepressant_no_mdd")},
}


@pytest.fixture(scope="module")
def person_list(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ehr") / "cb_search_person.parquet"
    pq.write_table(pa.table({"person_id": pa.array([*LISTED, None], pa.int64()),
                             "has_ehr_data": pa.array([1] * (len(LISTED) + 1), pa.int64())}), path)
    return path


def config(mode: str, person_list: Path | None = None):
    if mode == "person_list":
        return toy_config(ehr_evidence=mode, ehr_person_list=str(person_list))
    return toy_config(ehr_evidence=mode)


@pytest.fixture(scope="module")
def tables(spark, person_list):
    out = {}
    for mode in EXPECTED:
        t = derive_phenotype_tables(omop(spark), config(mode, person_list))
        t.mdd.cache()
        t.phenotypes.cache()
        out[mode] = t
    yield out
    for t in out.values():
        t.mdd.unpersist()
        t.phenotypes.unpersist()


def test_the_package_default_reads_ehr_from_clinical_records_and_aou_does_too():
    """Package default any_record (a person row alone is no EHR); conf/aou.yaml says so explicitly
    (not observation_period: the CDR builds periods from program dates too); conf/toy.yaml reads
    the toy generator's periods (every toy person is drawn as an EHR patient)."""
    assert OmopInput(path="x", data_cutoff_date="2020-01-01").ehr_evidence == "any_record"
    root = Path(__file__).resolve().parent.parent / "conf"
    assert "\n  ehr_evidence: any_record\n" in (root / "aou.yaml").read_text()
    assert toy_config().omop.ehr_evidence == "observation_period"


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_each_mode_keeps_persons_without_ehr_out_of_the_controls(tables, mode):
    """Person 1 (a person row and a survey-dated observation period, nothing else) is no control
    under the default (on 45f9cc3: non_MDD under every setting); MDD and the other reasons come first."""
    got = {r.person_id: (r.mdd_status, r.exclusion_reason) for r in tables[mode].mdd.collect()}
    assert got == EXPECTED[mode]
    # every TRD definition carries the MDD stage's exclusion for a non-MDD person
    phen = {(r.person_id, r.definition): (r.status, r.exclusion_reason) for r in tables[mode].phenotypes.collect()}
    for (p, _), (status, reason) in phen.items():
        if EXPECTED[mode][p][0] != "MDD":
            assert (status, reason) == EXPECTED[mode][p]


def test_the_cohort_flow_counts_them_in_their_own_box(tables):
    """excluded_no_ehr_data counts the persons kept out of the controls for want of EHR data;
    the terminal boxes still add up to all_persons (8)."""
    t = tables["any_record"]
    rows = cohort_flow_rows(t.mdd, t.phenotypes, exclusion_sets=list(toy_config().phenotypes.mdd.exclude_concept_sets),
                            min_diagnoses=2)
    steps = {(d, s): n for d, _, s, n in rows}
    assert steps[(ALL_DEFINITIONS, "excluded_no_ehr_data")] == 2
    assert steps[(ALL_DEFINITIONS, "non_MDD")] == 4
    for boxes in terminal_boxes(rows).values():
        assert sum(boxes.values()) == steps[(ALL_DEFINITIONS, "all_persons")] == 8


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_the_duckdb_twin_applies_the_same_rule(tables, person_list, mode, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from duckdb_phenotypes import duckdb_phenotypes

    _write_parquet(omop_rows(), tmp_path)
    cfg = config(mode, person_list)
    cfg = cfg.model_copy(update={"omop": cfg.omop.model_copy(update={"path": str(tmp_path)})})
    out = tmp_path / "duck.parquet"
    duckdb_phenotypes(str(tmp_path), cfg, str(out), threads=1)
    duck = {(int(r.person_id), r.definition): (r.status, r.exclusion_reason or None)
            for r in pd.read_parquet(out).itertuples()}
    ours = {(r.person_id, r.definition): (r.status, r.exclusion_reason)
            for r in tables[mode].phenotypes.select("person_id", "definition", "status", "exclusion_reason").collect()}
    assert duck == ours
    assert {p for (p, _), (_, reason) in duck.items() if reason == NO_EHR} == {
        p for p, (_, reason) in EXPECTED[mode].items() if reason == NO_EHR}


def test_person_list_needs_its_file():
    with pytest.raises(ValidationError, match="ehr_person_list"):
        OmopInput(path="x", data_cutoff_date="2020-01-01", ehr_evidence="person_list")
    with pytest.raises(ValidationError, match="ehr_person_list"):
        OmopInput(path="x", data_cutoff_date="2020-01-01", ehr_person_list="/x.parquet")


@pytest.mark.parametrize("case", ["missing column", "bad value"])
def test_a_bad_person_list_is_one_error_naming_file_and_column(spark, tmp_path, case):
    """One InputDataError naming the file and the column, never the bad value (a person_id)."""
    path = tmp_path / "ehr.csv"
    if case == "missing column":
        path.write_text("research_id,has_ehr_data\n1,1\n")
    else:
        path.write_text("person_id,has_ehr_data\n1,1\n98765x,1\n")
    cfg = toy_config(ehr_evidence="person_list", ehr_person_list=str(path))
    with pytest.raises(InputDataError) as e:
        derive_phenotype_tables(omop(spark), cfg).mdd.collect()
    text = str(e.value)
    assert str(path) in text and "person_id" in text
    assert "98765" not in without_paths(text, tmp_path)
