"""Field cases, round 28 (session 36, helper "omop28"): records whose concept lives in the
Observation domain, and two drops that were not counted.

- Esketamine given in a certified clinic (HCPCS G2082 / G2083): OHDSI's HCPCS build
  (Vocabulary-v5.0 HCPCS/load_stage.sql) gives G0908-G2252 the Observation domain, and the CDM puts
  a record in the table of its concept's domain, so a CDM ETL writes those visits to
  ``observation``, which the chain never read before this round (8f28050): an MDD person treated
  with clinic esketamine stayed MDD_other (followed to the cutoff) and a person with no depression
  code stayed a control. A release may give the codes the Procedure domain instead (its manual
  table), so the ``esketamine_clinic`` set is read in both tables (``also_domains: [observation]``),
  as an ATLAS cohort names one concept set in a Procedure Occurrence and an Observation criterion.
  Observation records follow the other tables' rules: follow-up window (before the birth year,
  after follow-up: counted per reason in notes.study_event_dates.observation), standard concepts
  only (a concept 0 with a source concept counted in quirks.unmapped_records.n_observation).
- A missing ``observation`` table is one InputDataError naming it when a set read there has a
  member in the release's vocabulary; otherwise the optional table's counted WARNING.
- A death dated after the data cutoff is not read (follow-up ends at the cutoff): changes no
  answer, now counted (notes.quirks.birth_and_death.n_persons_death_after_cutoff).
- A verbatim_end_date on or before the start is not used (the rule takes one after the start):
  now counted (notes.quirks.drug_records.n_verbatim_end_not_after_start).

Tiny inputs built with tests/test_phenotypes_support's row builders, written as Parquet (the DuckDB
twin reads files) and read by the stage's own reader; expected values by hand from docs/phenotypes.md.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_phenotypes_support import (
    ANCESTRY,
    CONCEPTS,
    MDD_CONCEPT,
    SERTRALINE_TAB,
    cond,
    d,
    days,
    death,
    drug,
    duckdb_twin_rows,
    obs,
    person,
    proc,
    toy_config,
    write_omop_tables,
)

from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop, stage_counts, study_vocabulary

G2082 = 2_000_002_801  # synthetic IDs: the codes are resolved by vocabulary + code
G2083 = 2_000_002_802
# As OHDSI's HCPCS rules build them: standard, domain Observation
HCPCS_AS_OBSERVATION = [
    (G2082, "Esketamine in clinic, up to 56 mg", "Observation", "HCPCS", "HCPCS", "S", "G2082"),
    (G2083, "Esketamine in clinic, over 56 mg", "Observation", "HCPCS", "HCPCS", "S", "G2083"),
]
MDD_DATES = ("2019-01-10", "2019-02-10")  # MDD, index 2019-01-10


def _write_observation(root, rows: list[tuple[int, int, str, int | None]]) -> None:
    """observation.parquet with the CDM's columns (person_id, observation_concept_id,
    observation_date, observation_source_concept_id), written here and not by the row builders, so
    that the file exists on a base whose reader knows no observation table."""
    pq.write_table(pa.table({
        "observation_id": pa.array(range(1, len(rows) + 1), pa.int64()),
        "person_id": pa.array([r[0] for r in rows], pa.int64()),
        "observation_concept_id": pa.array([r[1] for r in rows], pa.int64()),
        "observation_date": pa.array([d(r[2]) for r in rows], pa.date32()),
        "observation_source_concept_id": pa.array([r[3] for r in rows], pa.int64())}), root / "observation.parquet")


def _case(root, observations, *, vocab=HCPCS_AS_OBSERVATION):
    pids = range(1, 9)
    mdd = (1, 4, 6, 7)
    write_omop_tables(root, {
        "person": [person(p) for p in pids],
        "observation_period": [obs(p) for p in pids],
        "condition_occurrence": [cond(p, MDD_CONCEPT, x) for p in mdd for x in MDD_DATES],
        # 10 days of sertraline (no adequate trial), its verbatim end on its start: not used, counted
        "drug_exposure": [drug(4, SERTRALINE_TAB, "2019-03-01", days_supply=10, verbatim_end="2019-03-01")],
        "procedure_occurrence": [proc(6, G2082, "2019-05-01")],
        "death": [death(8, "2024-02-01")],
        "concept": CONCEPTS + vocab,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    }, absent=("device_exposure", "drug_strength", "observation"))
    if observations is not None:
        _write_observation(root, observations)


OBSERVATIONS = [
    (1, G2082, "2019-05-01", G2082),  # MDD: a somatic onset
    (2, G2083, "2015-06-01", G2083),  # no depression code: no control
    (3, G2082, "2024-01-01", G2082),  # after the cutoff (in the period): outside follow-up, still no control
    (4, G2082, "1969-06-01", G2082),  # before the birth year: no onset
    (7, 0, "2019-05-01", G2082),  # concept 0 (unmapped), source G2082: not read, counted
]


def test_esketamine_clinic_records_in_observation_are_read_with_the_other_tables_rules(spark, tmp_path):
    """By hand (born 1970-01-01, observed 2000-01-01..2023-12-31, cutoff 2023-07-01; MDD index
    2019-01-10, follow-up to the cutoff 1633 days; 2019-05-01 is 111 days after the index), somatic:
    1: MDD, G2082 in observation 2019-05-01 -> TRD, onset 2019-05-01, 111 days (8f28050: MDD_other, 1633);
    2: no depression code, G2083 in observation 2015 -> excluded, antidepressant_no_mdd (8f28050: non_MDD);
    3: no depression code, G2082 in observation 2024-01-01 (after the cutoff) -> excluded,
       antidepressant_no_mdd (controls are clean over the whole record; 8f28050: non_MDD);
    4: MDD, G2082 in observation 1969 (before the birth year) -> no onset: MDD_other, 1633; its 10-day
       sertraline order is no adequate trial and its verbatim end (on the start) is counted;
    5: nothing -> non_MDD;  6: MDD, G2082 in procedure_occurrence -> TRD, 111 days (still read there);
    7: MDD, observation concept 0 with source G2082 -> not read (standard concepts only): MDD_other 1633;
    8: nothing, death 2024-02-01 (after the cutoff: not read, follow-up to the cutoff) -> non_MDD.
    Counts: study_event_dates.observation over the study records (1-4): n_records 4, n_before_birth_year 1
    (4), n_after_followup_end 1 = n_after_cutoff 1 (3), n_kept 2 (1, 2), n_dated_after_cutoff 1;
    unmapped_records.n_observation 1 (7); birth_and_death.n_persons_death_after_cutoff 1 (8);
    drug_records.n_verbatim_end_not_after_start 1 (4). The DuckDB twin gives the same phenotypes."""
    root = tmp_path / "omop"
    root.mkdir()
    _case(root, OBSERVATIONS)
    cfg = toy_config(path=str(root))
    omop = read_omop(spark, cfg)
    tables = derive_phenotype_tables(omop, cfg)
    full, onset = days("2019-01-10", "2023-07-01"), days("2019-01-10", "2019-05-01")
    assert (full, onset) == (1633, 111)
    got = {int(r.person_id): (r.status, r.exclusion_reason, str(r.trd_onset_date), r.time_to_trd_days)
           for r in tables.phenotypes.where("definition = 'somatic'").collect()}
    no_ad = ("excluded", "antidepressant_no_mdd", "None", None)
    assert got == {1: ("TRD", None, "2019-05-01", onset), 2: no_ad, 3: no_ad,
                   4: ("MDD_other", "no_adequate_trial", "None", full), 5: ("non_MDD", None, "None", None),
                   6: ("TRD", None, "2019-05-01", onset), 7: ("MDD_other", "no_adequate_trial", "None", full),
                   8: ("non_MDD", None, "None", None)}
    twin = {int(p): (s, r, str(o), t) for p, s, r, o, t in duckdb_twin_rows(
        root, cfg, tmp_path / "duck.parquet", "person_id, status, exclusion_reason, trd_onset_date, time_to_trd_days",
        "definition = 'somatic'")}
    assert twin == got

    event_dates, quirks = stage_counts(omop, tables.persons, tables.study_events, tables.ingredients,
                                       cfg.omop.data_cutoff_date, cfg.phenotypes.trials.max_days_supply)
    o = event_dates["observation"]
    assert (o["n_records"], o["n_before_birth_year"], o["n_after_followup_end"], o["n_after_cutoff"],
            o["n_after_death"], o["n_kept"], o["n_dated_after_cutoff"]) == (4, 1, 1, 1, 0, 2, 1)
    assert quirks["unmapped_records"]["n_observation"] == 1
    assert quirks["event_table_records"]["n_observation_records"] == 5
    assert quirks["birth_and_death"]["n_persons_death_after_cutoff"] == 1
    assert quirks["drug_records"]["n_verbatim_end_not_after_start"] == 1


def test_a_missing_observation_table_is_an_error_only_when_a_set_read_there_has_members(spark, tmp_path):
    """No observation file. With G2082/G2083 in the release's concept table (members of
    esketamine_clinic, read in observation): one InputDataError naming the table's location and the
    set (read as empty, person 1's clinic esketamine would be no onset, person 2 a control). Without
    them (a release not holding the codes: only_if_standard, no member): the optional table's
    WARNING, listed in ``absent``, no error."""
    from trd_spark.errors import InputDataError
    from trd_spark.phenotypes.stage import check_observation_table

    with_codes, without = tmp_path / "with", tmp_path / "without"
    for root, vocab in ((with_codes, HCPCS_AS_OBSERVATION), (without, [])):
        root.mkdir()
        _case(root, None, vocab=vocab)
    cfg = toy_config(path=str(with_codes))
    absent: list[str] = []
    omop = read_omop(spark, cfg, absent)
    assert "observation" in absent
    with pytest.raises(InputDataError) as err:
        check_observation_table(spark, cfg, study_vocabulary(omop, cfg), absent)
    text = str(err.value)
    assert f"{with_codes}/observation" in text and "esketamine_clinic" in text and "not found" in text
    cfg = toy_config(path=str(without))
    absent = []
    omop = read_omop(spark, cfg, absent)
    assert "observation" in absent
    check_observation_table(spark, cfg, study_vocabulary(omop, cfg), absent)  # no member: no error


def test_the_observation_table_is_read_and_fingerprinted_only_when_a_set_reads_it(tmp_path):
    """``omop_tables_read`` (what read_omop reads and the rerun fingerprint lists) has observation
    under the shipped config (esketamine_clinic: also_domains observation) and not once no rule
    names a set read there; ``stage_input_files`` then lists observation.parquet, so a changed
    observation table reruns the phenotype stage (no Spark)."""
    from trd_spark.phenotypes.omop import omop_tables_read, stage_input_files

    (tmp_path / "observation.parquet").write_bytes(b"x")
    (tmp_path / "person.parquet").write_bytes(b"x")
    cfg = toy_config(path=str(tmp_path))
    assert "observation" in omop_tables_read(cfg)
    assert str(tmp_path / "observation.parquet") in stage_input_files(cfg, None)["omop.path"]
    ph = cfg.phenotypes
    none = ph.model_copy(update={
        "mdd": ph.mdd.model_copy(update={"control_exclusion_procedure_concept_sets": []}),
        "trd_definitions": [t.model_copy(update={"somatic_concept_sets": [
            s for s in t.somatic_concept_sets if s != "esketamine_clinic"]}) for t in ph.trd_definitions]})
    cfg = cfg.model_copy(update={"phenotypes": none})
    assert "observation" not in omop_tables_read(cfg)
    assert stage_input_files(cfg, None)["omop.path"] == [str(tmp_path / "person.parquet")]


def test_a_set_read_in_two_tables_is_no_domain_mismatch():
    """esketamine_clinic's codes as Observation concepts: no mismatch line for the shipped set
    (procedure, also_domains observation); the same set without also_domains names the mismatch."""
    from trd_spark.config import ConceptRef, ConceptSet
    from trd_spark.phenotypes.concepts import Vocabulary, mismatched_refs

    ref = ConceptRef(vocabulary_id="HCPCS", concept_code="G2082", name="G2082")
    vocab = Vocabulary({("HCPCS", "G2082"): G2082}, {}, {G2082: "Esketamine"}, frozenset({G2082}),
                       {G2082: "Observation"})
    assert mismatched_refs(ConceptSet(domain="procedure", also_domains=["observation"], include=[ref]), vocab) == []
    (line,) = mismatched_refs(ConceptSet(domain="procedure", include=[ref]), vocab)
    assert "domain_id 'Observation', not 'Procedure'" in line and "move it to a set of domain observation" in line
