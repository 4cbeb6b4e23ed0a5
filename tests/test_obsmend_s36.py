"""Session 36, helper "obsmend": the OMOP ``observation`` table at All of Us size.

All of Us' observation table is hundreds of millions of survey answers (PPI), many with
observation_concept_id 0 and a PPI source concept, while the study reads a few HCPCS codes there
(esketamine_clinic, G2082/G2083: round 28). Before this session (041a8cd) the unmapped-concept and
non-standard counts ran over every observation row, so every AoU run logged a WARNING that
hundreds of millions of records "are not read", which blames the study for records no set
could name: a WARNING that always fires is ignored, and would hide the few that matter. Now
those counts are over the records a study set could name (``observation_count_ids``: the sets'
concepts, as source concept of a concept-0 record or as a concept held non-standard), and the
table's study records are read through a pushed Parquet filter on those few IDs (PushedFilters).

By hand (round 28's case, its five observation records, plus survey rows): 3,000 rows with
concept 0 and a PPI source concept (none a study concept), 200 rows whose concept is a PPI concept
held non-standard; person 7's concept-0 record with source G2082 is the one record that may be
missed: n_observation 1, n_observation_nonstandard 0, n_observation_records 5 + 3,200 = 3,205.
"""

from __future__ import annotations

import pytest
from test_field_cases_round28_omop import HCPCS_AS_OBSERVATION, OBSERVATIONS, _case, _write_observation
from test_phenotypes_support import toy_config

from trd_spark.phenotypes.stage import (
    CONDITION_IN_OBSERVATION,
    CONDITION_IN_OBSERVATION_PART,
    CONDITION_IN_OBSERVATION_PERSONS,
    concept_record_warnings,
    derive_phenotype_tables,
    derive_study_events,
    event_table_counts,
    observation_count_ids,
    read_omop,
    stage_counts,
    study_concept_ids,
    study_vocabulary,
)

PPI_SOURCE = 1_585_000  # synthetic PPI answer concepts (source concepts, not in any set)
PPI_NONSTANDARD = 2_000_009_001
PPI_CONCEPT = [(PPI_NONSTANDARD, "Survey answer (retired)", "Observation", "PPI", "Answer", None, "SURVEY_X")]
SURVEY = [(1 + i % 8, 0, "2019-03-01", PPI_SOURCE + i % 50) for i in range(3000)]
SURVEY += [(1 + i % 8, PPI_NONSTANDARD, "2019-03-02", PPI_NONSTANDARD) for i in range(200)]


@pytest.fixture(scope="module")
def survey_release(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("obsmend") / "omop"
    root.mkdir()
    _case(root, None, vocab=HCPCS_AS_OBSERVATION + PPI_CONCEPT)
    _write_observation(root, OBSERVATIONS + SURVEY)
    cfg = toy_config(path=str(root))
    omop = read_omop(spark, cfg)
    return cfg, omop, study_vocabulary(omop, cfg)


def test_survey_rows_in_observation_are_no_missed_study_records(survey_release, monkeypatch):
    """The run's counts (``stage_counts`` with ``observation_count_ids`` and the study condition
    IDs, as ``run`` calls it): only person 7's concept-0 G2082 record is counted, its WARNING says
    which records it counts; no line blames the 3,000 concept-0 survey rows or the 200 non-standard
    PPI rows (041a8cd: n_observation 3,001 and n_observation_nonstandard 200, two WARNINGs on every
    AoU run). No condition concept is in observation here, so the persons job of such records
    (``condition_in_observation_persons``, a scan of observation's person_id) is not run: session
    42's mutant o3 ran it whatever the record count (same counts, one job more per run)."""
    from trd_spark.phenotypes import stage as phenotypes_stage

    cfg, omop, vocab = survey_release
    tables = derive_phenotype_tables(omop, cfg, vocab)
    persons_jobs = []
    real = phenotypes_stage.condition_in_observation_persons
    monkeypatch.setattr(phenotypes_stage, "condition_in_observation_persons",
                        lambda *a, **k: persons_jobs.append(1) or real(*a, **k))
    _, quirks = stage_counts(omop, tables.persons, tables.study_events, tables.ingredients,
                             cfg.omop.data_cutoff_date, cfg.phenotypes.trials.max_days_supply,
                             observation_ids=observation_count_ids(cfg, vocab),
                             condition_ids=study_concept_ids(cfg, vocab)["condition"])
    assert quirks[CONDITION_IN_OBSERVATION_PART] == {CONDITION_IN_OBSERVATION: 0,
                                                     CONDITION_IN_OBSERVATION_PERSONS: 0}
    assert persons_jobs == []  # o3: [1]
    unmapped = quirks["unmapped_records"]
    assert (unmapped["n_observation"], unmapped["n_observation_nonstandard"]) == (1, 0)
    assert quirks["event_table_records"]["n_observation_records"] == len(OBSERVATIONS) + len(SURVEY) == 3205
    lines = [x for x in concept_record_warnings(unmapped, 20) if x.startswith("observation:")]
    assert lines == ["observation: <20 record(s) with concept_id 0 (no standard concept) whose "
                     "observation_source_concept_id is a concept of a study concept set read there are not read "
                     "(standard concepts only, as OHDSI cohort definitions; the table's other concept-0 records, "
                     "e.g. survey answers, are not counted: no set reads them)"]
    # the study records themselves are unchanged: persons 1-4's HCPCS records, not a survey row
    assert sorted(r.person_id for r in tables.study_events["observation"].collect()) == [1, 2, 3, 4]


def test_observation_is_scanned_through_a_pushed_filter_on_the_study_ids(survey_release):
    """The study events' read of observation pushes an In filter on its few study IDs to the
    Parquet scan (PushedFilters), so row groups without them can be skipped at AoU size (041a8cd:
    no pushed filter, the broadcast semi-join probed every row); the counts read it once, every
    row (a pushed filter there plus a column-less scan for the records count cost more CPU: RESULTS.md)."""
    cfg, omop, vocab = survey_release
    ids = observation_count_ids(cfg, vocab)

    def scans(df):  # the plan's file scans (Location is cut at 100 characters: told by columns)
        plan = df._jdf.queryExecution().executedPlan().toString()
        return [line for line in plan.splitlines() if "FileScan parquet" in line]

    events = [s for s in scans(derive_study_events(omop, cfg, vocab)["observation"]) if "observation_concept_id" in s]
    counts = scans(event_table_counts(omop, observation_ids=ids))
    assert events and all("PushedFilters: [In(observation_concept_id" in s for s in events), events
    read = [s for s in counts if "observation_concept_id" in s]
    # the counts: one scan of observation's two concept columns, every row (its records count)
    assert len(read) == 1 and "PushedFilters: []" in read[0], counts
    # the four event files (device_exposure is absent here) and concept: no second scan of observation
    assert len(counts) == 5, counts
