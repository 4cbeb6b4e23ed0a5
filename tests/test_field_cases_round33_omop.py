"""Field cases, round 33 (session 41, helper "omop33"): AoU / ETL specifics, a diagnosis written to the
``observation`` table.

The CDM puts a record in the table of its concept's domain (an MDD code, Condition domain, belongs in
condition_occurrence; OHDSI DQD fkDomain), but ETLs that route by source table write such codes to
observation. The study reads diagnoses in condition_occurrence only, so these records make no MDD
diagnosis, no exclusion and keep no person out of the controls: on f0075d6 they were dropped without a
word (the observation counts named only the concepts of observation sets). Now they are counted on the
event-table scan (``stage.event_table_counts``' ``CONDITION_IN_OBSERVATION``, quirk part
``observation_condition_records``), with one WARNING naming table and column, and the DuckDB twin counts
them by its own SQL.

The case is tests/data/field_cases_round33/condition-in-observation (expected.tsv by hand, its '#'
lines explain each person), toy config (cutoff 2023-07-01).
"""

from __future__ import annotations

from pathlib import Path

from test_phenotypes_support import case_statuses_and_counts

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round33" / "condition-in-observation"


def test_condition_concepts_in_observation_are_counted_and_warned_not_read(spark, tmp_path, caplog):
    """expected.tsv by hand: MDD (3301) or depressive disorder (3304) only as an observation_concept_id
    makes no MDD and no exclusion from the controls, bipolar only there (3302) does not exclude: the
    statuses are the chain's and the twin's. The 4 such records are counted in the chain's event-table
    aggregate and by the twin (a survey answer, concept 0 with another source, is not: 3303), and the
    WARNING names table and column with the count as ``<20`` (on f0075d6 no such count or line)."""
    from trd_spark.phenotypes.stage import (
        CONDITION_IN_OBSERVATION,
        CONDITION_IN_OBSERVATION_PART,
        observation_condition_warnings,
        records_within,
    )

    run = case_statuses_and_counts(spark, CASE, tmp_path, caplog)  # the statuses asserted there
    counts = run["counts"]
    assert counts[CONDITION_IN_OBSERVATION] == 4
    # the other observation counts are as before (no concept-0 record with a study source concept)
    assert (counts["n_observation"], counts["n_observation_nonstandard"], counts["n_observation_records"]) == (0, 0, 5)
    assert run["twin_counts"][CONDITION_IN_OBSERVATION_PART] == {
        CONDITION_IN_OBSERVATION: 4, "n_persons_condition_concept_in_observation": 3}  # 3301, 3302, 3304 (session 42)
    [line] = observation_condition_warnings({CONDITION_IN_OBSERVATION: 4}, 20)
    assert line.startswith("observation: <20 record(s) whose observation_concept_id is a concept of a study "
                           "condition set"), line
    assert "not MDD, not excluded and may be a control" in line
    assert observation_condition_warnings({CONDITION_IN_OBSERVATION: 0}, 20) == []
    # the count is a part of observation's records for the privacy rule of the lines (no two counts
    # shown exactly 1..T-1 apart: stage_record_texts)
    pairs = records_within({CONDITION_IN_OBSERVATION_PART: {CONDITION_IN_OBSERVATION: 4}})
    assert ("quirks.event_table_records.n_observation_records",
            (f"quirks.{CONDITION_IN_OBSERVATION_PART}.{CONDITION_IN_OBSERVATION}",)) in pairs
