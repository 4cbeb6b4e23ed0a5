"""Field cases, round 34 (session 42, helper "omop34"): what round 33 left, and real-data shapes.

- The condition concepts written to ``observation`` (round 33) were counted as records only; a person
  whose only MDD evidence is there was counted nowhere. Now their distinct persons are counted
  (``stage.condition_in_observation_persons``' ``CONDITION_IN_OBSERVATION_PERSONS``, a second job
  ``stage_counts`` runs only when there are such records, so the event-table scan of observation stays
  on its two concept columns; the DuckDB twin too).
- ``also_domains: [observation]`` on a condition set (MDD, depression, the exclusions) or a drug set was
  accepted and did nothing: the diagnosis and drug rules read condition_occurrence / drug_exposure only.
  Now one config error naming the set and the field.
- Real-data shapes (a drug end before its start, days_supply 0 / null with a quantity, overlapping
  observation periods, a rule-out status, a drug with its source concept only, records after death)
  give the statuses worked by hand in the chain and the twin: correct on 9d52909 already, pinned here in
  the same one run of the case (no test of its own).

The case is tests/data/field_cases_round34/real-data-shapes (expected.tsv by hand, its '#' lines explain
each person), toy config (cutoff 2023-07-01).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_phenotypes_support import case_statuses_and_counts

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round34" / "real-data-shapes"


def test_real_data_shapes_and_persons_of_condition_concepts_in_observation(spark, tmp_path, caplog):
    """expected.tsv by hand (chain and twin). 3401 (MDD in observation only) and 3402 (bipolar and
    depressive disorder in observation only) hold 4 condition-concept records in observation: 2 persons,
    counted by the chain's event-table aggregate and by the twin (on 9d52909: no person count). The
    persons through ``stage_counts`` as the stage runs it, on the case's tables (3401 has two of the
    records: mutation review s42's o2, the record count given as the persons, fails here; folded in
    from tests/test_review_s42_mutants.py, whose own tables cost a Spark run of their own)."""
    from test_phenotypes_support import toy_config

    from trd_spark.phenotypes.stage import (
        CONDITION_IN_OBSERVATION,
        CONDITION_IN_OBSERVATION_PART,
        CONDITION_IN_OBSERVATION_PERSONS,
        derive_phenotype_tables,
        stage_counts,
    )

    run = case_statuses_and_counts(spark, CASE, tmp_path, caplog)  # the statuses asserted there
    counts = run["counts"]
    cfg = toy_config(path=str(tmp_path / "omop"))  # the copy the helper read
    t = derive_phenotype_tables(run["omop"], cfg)
    _, quirks = stage_counts(run["omop"], t.persons, t.study_events, t.ingredients, cfg.omop.data_cutoff_date,
                             cfg.phenotypes.trials.max_days_supply, condition_ids=run["conditions"])
    assert quirks[CONDITION_IN_OBSERVATION_PART] == {CONDITION_IN_OBSERVATION: 4, CONDITION_IN_OBSERVATION_PERSONS: 2}
    assert counts[CONDITION_IN_OBSERVATION] == 4
    assert CONDITION_IN_OBSERVATION_PERSONS not in counts  # not on the scan of every observation row
    assert (counts["n_observation_records"], counts["n_drug_exposure"], counts["n_drug_exposure_records"]) == (4, 1, 5)
    assert run["twin_counts"][CONDITION_IN_OBSERVATION_PART] == {
        CONDITION_IN_OBSERVATION: 4, CONDITION_IN_OBSERVATION_PERSONS: 2}


@pytest.mark.parametrize("name,domain", [("mdd", "condition"), ("bipolar", "condition"), ("antidepressants", "drug")])
def test_also_domains_on_a_set_no_rule_reads_there_is_a_config_error(tmp_path, name, domain):
    """A condition set (MDD, an exclusion) or a drug set with ``also_domains: [observation]``: no rule
    reads it there (derive_mdd_groups reads condition events, the trials drug events): one ConfigError
    naming the file, the set and the field (on 9d52909 accepted, and silently read by no rule). The
    shipped procedure set esketamine_clinic keeps its also_domains (load_config of the toy config)."""
    import shutil

    import yaml

    from trd_spark.config import load_config
    from trd_spark.errors import ConfigError

    conf = Path(__file__).resolve().parent.parent / "conf"
    shutil.copy(conf / "toy.yaml", tmp_path / "toy.yaml")
    shutil.copy(conf / "trait_panel_toy.yaml", tmp_path / "trait_panel_toy.yaml")
    sets = yaml.safe_load((conf / "concept_sets.yaml").read_text())
    assert sets["concept_sets"]["esketamine_clinic"]["also_domains"] == ["observation"]
    assert sets["concept_sets"][name]["domain"] == domain
    (tmp_path / "concept_sets.yaml").write_text(yaml.safe_dump(sets))
    load_config(tmp_path / "toy.yaml")  # the shipped sets, esketamine_clinic's also_domains included, load
    sets["concept_sets"][name]["also_domains"] = ["observation"]
    (tmp_path / "concept_sets.yaml").write_text(yaml.safe_dump(sets))
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "toy.yaml")
    text = str(err.value)
    assert "concept_sets.yaml" in text and f"concept_sets.{name}.also_domains" in text, text
    assert f"a {domain} set is read in" in text and "would be read by no rule" in text, text


def test_the_event_table_scan_reads_no_person_id_of_observation(spark, tmp_path):
    """``event_table_counts`` with the condition IDs ``run`` passes, over a Parquet observation
    holding no condition-concept record (a release without such records): the scan of observation
    reads its two concept columns only, no person_id (da94ab1 put person_id into the group key, so
    every run decoded it for every observation row: All of Us' survey answers). Its persons are
    ``condition_in_observation_persons``' own job, which ``stage_counts`` runs only for a count
    above 0. Fails on da94ab1 (person_id in the ReadSchema)."""
    import datetime as dt

    from test_phenotypes_support import MDD_CONCEPT, frame, omop_tables

    from trd_spark.phenotypes.stage import CONDITION_IN_OBSERVATION, event_table_counts

    t = omop_tables(spark)
    path = str(tmp_path / "observation.parquet")
    frame(spark, "observation", [(1, 0, dt.date(2019, 5, 1), None)]).write.parquet(path)
    t["observation"] = spark.read.parquet(path)
    df = event_table_counts(t, condition_ids=frozenset({MDD_CONCEPT}))
    assert df.first()[CONDITION_IN_OBSERVATION] == 0
    leaves = df._jdf.queryExecution().sparkPlan().collectLeaves()
    read = [list(leaf.requiredSchema().fieldNames()) for leaf in (leaves.apply(i) for i in range(leaves.size()))
            if leaf.nodeName().startswith("Scan parquet")]  # observation's: the other tables are in memory
    assert read == [["observation_concept_id", "observation_source_concept_id"]], read
