"""Field cases, round 27 (session 35, helper "omop27"): the four OMOP kinds across the newest read
paths (``omop.death_table`` / aou_death, ``only_if_standard`` references, the ``esketamine_clinic``
procedure set).

- TRD definitions, somatic onset (esketamine in clinic, HCPCS G2082): ``only_if_standard`` codes are
  standard in some vocabulary versions and not in others, and an export's data and its vocabulary
  tables may come from different ones. Where the release's ``concept`` holds G2082 as a standard
  concept (a member of the set) but a record carries it as procedure_source_concept_id beside
  another standard concept (its ETL ran with a version that de-standardised G2082 and mapped it
  elsewhere), the record is not read as esketamine (the study reads standard concepts) and was
  dropped silently on f7d6547: round 26 counted such records only where the release itself holds
  the code as non-standard. Now counted in the same ``n_<set>_source_outside_set`` with the one
  WARNING, which says which codes the release holds as standard.

Probes of this round the chain (and the DuckDB twin) already got right, by hand, not pinned here
(toy config: cutoff 2023-07-01, person born 1970-01-01, observed 2000-01-01..2023-12-31, MDD
index 2019-01-10; ``omop.death_table: aou_death``): death_date exported as a naive timestamp
(23:30), as ISO text with and without a -05:00 offset, as a UTC-adjusted timestamp read with
``omop.time_zone: America/New_York``, and death_datetime only: each ends follow-up on the written /
local date 2020-03-01 (416 days), no shift by a day; a death after the cutoff (2024-01-01):
follow-up to the cutoff, 1633 days; a death before the birth year: not used,
n_persons_death_before_birth_year 1; a death (2010) before the first observation period (2015):
follow-up ends at the death, the MDD records after it are dropped and counted (n_after_death 2),
the person excluded, not a control; an aou_death row of a person_id with no person row:
n_persons_death_not_in_person_table 1; two identical rows: one death, not n_persons_several_death_dates;
``primary_death_record`` false on the only row: used (the flag is not read); G2082 after death
(n_after_death) and after the last observation period (n_after_observation_end): no onset; G2082
as a UTC timestamp in procedure_date or procedure_datetime only: the New York date; a G2082 record
whose source concept is another code: read by its standard concept, an onset. The DuckDB twin gave
the same phenotypes and drop counts on each.

Tiny inputs built with tests/test_phenotypes_support's row builders, written as Parquet (the DuckDB
twin reads files) and read by the stage's own reader; expected values by hand from docs/phenotypes.md.
"""

from __future__ import annotations

from pathlib import Path

from test_phenotypes_support import (
    ANCESTRY,
    CONCEPTS,
    MDD_CONCEPT,
    cond,
    days,
    duckdb_twin_rows,
    obs,
    person,
    proc,
    toy_config,
    write_omop_tables,
)

from trd_spark.phenotypes.stage import (
    concept_set_ids,
    conditional_record_checks,
    conditional_record_warnings,
    derive_phenotype_tables,
    event_table_counts,
    read_omop,
    study_vocabulary,
)

G2082 = 2_000_002_601  # synthetic IDs: the codes are resolved by vocabulary + code
G2083 = 2_000_002_602
ESKETAMINE_VISIT = 2_000_002_700  # a standard concept another vocabulary version mapped G2082 to, in no set
OFFICE_VISIT = 2_000_002_701  # a source code of another vocabulary, in no set
VOCAB = [
    (G2082, "Esketamine in clinic, up to 56 mg", "Procedure", "HCPCS", "HCPCS", "S", "G2082"),
    (G2083, "Esketamine in clinic, over 56 mg", "Procedure", "HCPCS", "HCPCS", "S", "G2083"),
    (ESKETAMINE_VISIT, "Esketamine nasal administration", "Procedure", "SNOMED", "Procedure", "S", "x9"),
    (OFFICE_VISIT, "Office visit", "Procedure", "CPT4", "CPT4", None, "x10"),
]
PERSONS = (1, 2, 3)
MDD_DATES = ("2019-01-10", "2019-02-10")  # every person: MDD, index 2019-01-10
PROCEDURES = [
    proc(1, ESKETAMINE_VISIT, "2019-05-01") + (G2082,),  # G2082 mapped elsewhere by another vocabulary
    proc(2, G2082, "2019-05-01") + (G2082,),  # as the release maps it
    proc(3, G2082, "2019-05-01") + (OFFICE_VISIT,),  # the standard concept is read, whatever the source
]


def test_a_code_the_release_holds_standard_but_mapped_elsewhere_is_counted(spark, tmp_path):
    """By hand (index 2019-01-10; follow-up to the cutoff 2023-07-01, 1633 days; G2082 on
    2019-05-01 is 111 days after the index):
    1: procedure_concept_id ESKETAMINE_VISIT (in no set), source G2082: not read as esketamine ->
       somatic MDD_other, 1633 days; counted: n_esketamine_clinic_source_outside_set 1 and one
       WARNING naming the set, the source column and G2082 as standard in this release
       (f7d6547: no count, no WARNING: the record dropped silently).
    2: G2082 / G2082 -> somatic TRD, onset 2019-05-01, 111 days; not counted.
    3: G2082 with source OFFICE_VISIT -> TRD, 111 days (the standard concept is read); not counted.
    The DuckDB twin gives the same phenotypes."""
    root = tmp_path / "omop"
    root.mkdir()
    write_omop_tables(root, {
        "person": [person(p) for p in PERSONS],
        "observation_period": [obs(p) for p in PERSONS],
        "condition_occurrence": [cond(p, MDD_CONCEPT, x) for p in PERSONS for x in MDD_DATES],
        "procedure_occurrence": PROCEDURES,
        "concept": CONCEPTS + VOCAB,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    })
    cfg = toy_config(path=str(root))
    omop = read_omop(spark, cfg)
    vocab = study_vocabulary(omop, cfg)
    sets = concept_set_ids(cfg, vocab)
    assert {G2082, G2083} <= sets["esketamine_clinic"]
    checks = conditional_record_checks(cfg, vocab, sets)
    # read in procedure_occurrence and observation (also_domains, session 36): one count over both
    assert checks["esketamine_clinic"][:2] == (("procedure_occurrence", "observation"), frozenset({G2082, G2083}))
    counts = event_table_counts(omop, checks).first().asDict()
    assert counts["n_esketamine_clinic_source_outside_set"] == 1
    assert [w for w in conditional_record_warnings(counts, checks, None) if "esketamine_clinic" in w] == [
        f"procedure_occurrence / observation: 1 record(s) whose procedure_source_concept_id / "
        f"observation_source_concept_id is one of concept set "
        f"esketamine_clinic's codes used only where standard (concept_id {G2082}, {G2083}: standard in this "
        "release, so the records' ETL mapped it with another vocabulary version) but whose procedure_concept_id / "
        "observation_concept_id is not in the set: not read as esketamine_clinic (this release maps them to a concept the set does "
        "not name)"]

    got = {r.person_id: (r.status, str(r.trd_onset_date), r.time_to_trd_days) for r in derive_phenotype_tables(
        omop, cfg, vocab).phenotypes.where("definition = 'somatic'").collect()}
    assert (days("2019-01-10", "2019-05-01"), days("2019-01-10", "2023-07-01")) == (111, 1633)
    assert got == {1: ("MDD_other", "None", 1633), 2: ("TRD", "2019-05-01", 111), 3: ("TRD", "2019-05-01", 111)}
    twin = {int(p): (s, str(o), t) for p, s, o, t in duckdb_twin_rows(
        root, cfg, tmp_path / "duck.parquet", "person_id, status, trd_onset_date, time_to_trd_days",
        "definition = 'somatic'")}
    assert twin == got


def test_the_warning_names_each_code_by_how_the_release_holds_it():
    """One set with a code the release holds as non-standard (94.26) and one it holds as standard
    (94.27): the WARNING names both, each with its state (no Spark: the line from the counts)."""
    checks = {"ect": (("procedure_occurrence",), frozenset({7, 9}), frozenset({9, 4030840}))}
    (line,) = conditional_record_warnings({"n_ect_source_outside_set": 25}, checks, None)
    assert "(concept_id 7: not standard in this release; concept_id 9: standard in this release, so the " \
           "records' ETL mapped it with another vocabulary version)" in line
    assert not conditional_record_warnings({"n_ect_source_outside_set": 0}, checks, None)
    assert Path(__file__).name == "test_field_cases_round27_omop.py"
