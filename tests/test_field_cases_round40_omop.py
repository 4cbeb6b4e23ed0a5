"""Field cases, round 40 (session 47, helper "omop40"): an observation period that starts after the data cutoff.

``omop.data_cutoff_date`` is the last date the release's EHR covers: a record, a death or a period's end after
it is outside the analysed release (docs/phenotypes.md "Follow-up"). A period whose every day lies after it (an ETL that
builds periods from visits, future scheduled ones included; a later extract read with an earlier release's
cutoff) was still the person's last period, so follow-up ran on to the cutoff across years the data never
observed: case person 4001, observed to 2019-06-30 and again from 2023-09-01, was trMDD with 1633 days instead
of MDD_other short_followup with 171 (4002: an ECT after the end of its observation made somatic TRD), in the
chain and the DuckDB twin alike. Now a period whose first day (the earlier of its two dates, as
``period_last_date_expr`` reads a swapped period) lies after the cutoff is no period (``persons.derive_persons``,
the twin alike), counted as ``notes.quirks.birth_and_death.n_persons_period_after_cutoff`` with a WARNING.

Session 47 (helper "fixesA"): the same rule for evidence of EHR data. Under ``omop.ehr_evidence: any_record`` (the
All of Us default) a row of any date counted, so a person whose only EHR rows are dated after the cutoff was a
``non_MDD`` control though the release observed nothing of them (case person 4007); now only rows dated on or
before the cutoff (or undated, as before) are evidence (``stage.ehr_row_in_release_expr``, the twin alike), counted
as ``notes.ehr_evidence.n_persons_ehr_rows_after_cutoff_only`` with a WARNING.

Session 47 (helper "fixesC"): a row WITHOUT a start date is kept (round 19's rule: a period ending at its end, its
first day unknown, not after the cutoff). f443ed1 took the earlier of its dates, which skipped the null start, so such
a row with an end after the cutoff was no period (case person 4000: MDD_other short_followup 171 d instead of trMDD
1633 d, counted in n_persons_period_after_cutoff), in the chain and the twin alike. Its rows are in
tests/data/field_cases_round40/period-no-start, appended to the case's tables (the same one run).

Case tests/data/field_cases_round40/period-after-cutoff (expected.tsv by hand, its '#' lines explain each
person; toy config with ehr_evidence any_record).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from test_phenotypes_support import STATUS_COLUMNS, duckdb_twin_rows, expected_statuses, toy_config

from trd_spark.phenotypes.persons import birth_death_quirk_counts
from trd_spark.phenotypes.stage import (
    birth_and_death_warnings,
    derive_phenotype_tables,
    ehr_after_cutoff_only_count,
    ehr_evidence_notes,
    read_omop,
)

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round40" / "period-after-cutoff"
NO_START = CASE.parent / "period-no-start"  # person 4000: rows appended to CASE's tables, one run for both
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from duckdb_phenotypes import duckdb_drop_counts  # noqa: E402


def _append_rows(extra, omop_dir) -> None:
    """Append each table of ``extra`` (a folder of OMOP parquet files) to the same table in ``omop_dir``
    (cast to its schema), so one chain run reads both cases."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in sorted(extra.glob("*.parquet")):
        table = pq.read_table(omop_dir / path.name)
        more = pq.read_table(path).select(table.column_names).cast(table.schema)
        pq.write_table(pa.concat_tables([table, more]), omop_dir / path.name)


def _expected() -> list[tuple]:
    """Both cases' hand-worked rows, sorted (``expected_statuses``)."""
    return sorted(expected_statuses(CASE) + expected_statuses(NO_START))


@pytest.fixture(scope="module")
def case_run(spark, tmp_path_factory):
    """The case through the chain (read_omop, derive_phenotype_tables) and the DuckDB twin, once, under
    ehr_evidence any_record: {"chain": sorted STATUS_COLUMNS tuples, "twin": the same, "quirks": the chain's
    birth_and_death counts, "twin_deaths": the twin's, "no_period": the chain's persons without a usable
    period, "twin_4005_by_period": the twin's rows of 4005 under the toy's ehr_evidence observation_period,
    "ehr_notes": the chain's notes.ehr_evidence and WARNING lines (ehr_evidence_notes; 2 persons without EHR
    data, the flow's), "twin_ehr": the twin's n_persons_ehr_rows_after_cutoff_only}."""
    tmp = tmp_path_factory.mktemp("round40")
    omop_dir = tmp / "omop"
    shutil.copytree(CASE / "omop", omop_dir)
    _append_rows(NO_START / "omop", omop_dir)
    by_period = toy_config(path=str(omop_dir))
    cfg = toy_config(path=str(omop_dir), ehr_evidence="any_record")
    omop = read_omop(spark, cfg)
    tables = derive_phenotype_tables(omop, cfg)
    rows = tables.phenotypes.select(*STATUS_COLUMNS).collect()
    no_period = {r.person_id for r in tables.persons.where("NOT has_observation_period").select("person_id").collect()}
    quirks = birth_death_quirk_counts(omop["person"], omop["death"], omop["observation_period"],
                                      cfg.omop.data_cutoff_date).first().asDict()
    twin = duckdb_twin_rows(omop_dir, cfg, tmp / "twin.parquet", ", ".join(STATUS_COLUMNS), "TRUE")
    twin_counts = duckdb_drop_counts(str(omop_dir), cfg, threads=1)
    # The count run observes on the MDD rows, and whose rows it counts (one job)
    after_only = tables.mdd.agg(ehr_after_cutoff_only_count(), F.collect_list(
        F.when(F.col("ehr_rows_after_cutoff_only"), F.col("person_id")))).first()
    return {"chain": sorted(tuple(r) for r in rows), "twin": sorted(twin), "quirks": quirks,
            "twin_deaths": twin_counts["deaths"], "no_period": no_period,
            "twin_4005_by_period": duckdb_twin_rows(omop_dir, by_period, tmp / "twin_by_period.parquet",
                                                    "status, exclusion_reason", "person_id = 4005"),
            "ehr_notes": ehr_evidence_notes(cfg, 2, after_only[0]), "ehr_after_only_persons": set(after_only[1]),
            "twin_ehr": twin_counts["ehr_evidence"]["n_persons_ehr_rows_after_cutoff_only"]}


def test_a_period_starting_after_the_cutoff_ends_no_follow_up_in_the_chain(case_run):
    """On 1dcddaa: 4001 and 4006 trMDD 1633 d, 4002 somatic TRD 142 d (its ECT after the end of its
    observation), 4005 a non_MDD control; no count (KeyError). The count: 4001, 4002, 4005, 4006 (4003's
    period starts on the cutoff day, 4004's swapped period on 2019-08-01), with one WARNING line. On f443ed1
    (5e8e7ae): 4000 (its later period without a start date) MDD_other short_followup 171 d and counted (5)."""
    assert case_run["chain"] == _expected()
    assert case_run["quirks"]["n_persons_period_after_cutoff"] == 4
    assert [w for w in birth_and_death_warnings(case_run["quirks"]) if "after the data cutoff" in w] == [
        "observation_period: row(s) whose first day lies after the data cutoff (omop.data_cutoff_date, the last date "
        "the release covers) are no period and are not used (they observed nothing the release holds; read, they "
        "gave follow-up to the cutoff); counted in notes.quirks.birth_and_death.n_persons_period_after_cutoff"]


def test_a_period_starting_after_the_cutoff_ends_no_follow_up_in_the_duckdb_twin(case_run):
    """On 1dcddaa the twin read such periods too (the chain's wrong rows) and had no count; on f443ed1 it
    dropped 4000's start-less period as the chain did (its rows wrong, counted 5)."""
    assert case_run["twin"] == _expected()
    assert case_run["twin_deaths"]["n_persons_period_after_cutoff"] == 4
    # 4005's only period (after the cutoff) is no evidence of EHR data under observation_period either
    assert case_run["twin_4005_by_period"] == [("excluded", "no_ehr_data")] * 3


def test_ehr_rows_dated_after_the_cutoff_are_no_evidence_of_ehr_data(case_run):
    """On 5e8e7ae: 4007 (its only EHR row dated after the cutoff) a non_MDD control in the chain and the twin
    (the status assertions above fail at its row) and no count (ImportError of ehr_evidence_notes; KeyError). Now: 4007 excluded
    no_ehr_data, 4008 (a row on the cutoff day) and 4009 (an undated row) non_MDD; counted 1 in the chain and
    the twin. 4005's usable periods: none (the persons table, which observation_period evidence reads)."""
    notes, warnings = case_run["ehr_notes"]
    assert notes == {"rule": "any_record", "n_persons_without_ehr_data": 2, "n_persons_ehr_rows_after_cutoff_only": 1}
    assert case_run["twin_ehr"] == 1
    assert case_run["ehr_after_only_persons"] == {4007}  # not 4005, which has no EHR row at all
    assert warnings == [
        "EHR data by any_record: person(s) whose every row in condition_occurrence / drug_exposure / "
        "procedure_occurrence / device_exposure is dated after the data cutoff (omop.data_cutoff_date): rows outside "
        "the release are no evidence of EHR data, so none of them is a control; counted in "
        "notes.ehr_evidence.n_persons_ehr_rows_after_cutoff_only"]
    assert case_run["no_period"] == {4005}
    rows = {(r[0], r[2], r[3]) for r in case_run["chain"] if r[0] >= 4007}
    assert rows == {(4007, "excluded", "no_ehr_data"), (4008, "non_MDD", None), (4009, "non_MDD", None)}
