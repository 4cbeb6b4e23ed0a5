"""Field cases, round 26 (session 35, helper "omop26"): esketamine given in clinic, billed as a visit.

- TRD definitions, somatic onset (esketamine as procedure vs drug): Spravato is self-administered
  in a certified clinic under supervision, and Medicare bills the visit with HCPCS G2082 (up to
  56 mg) / G2083 (more than 56 mg), "Office or other outpatient visit ... provision of ... esketamine
  nasal self-administration, includes 2 hours post-administration observation" (CMS HCPCS 2020
  file, read offline in wamuir/hcpcs groups/g.md). A claims ETL writes such a record to
  procedure_occurrence; the somatic definition read esketamine from drug_exposure only (the
  ``esketamine`` set, domain drug), so an MDD person whose esketamine course was billed this way
  reached no somatic onset (MDD_other, followed to the cutoff). The shipped configs' somatic
  definitions now name ``esketamine_clinic`` (conf/concept_sets.yaml: the two codes with
  ``only_if_standard``, as round 24's ICD9Proc ECT codes: whether a vocabulary release holds them as
  standard concepts is not verified offline; where it does not, no member, an INFO line).

Tiny inputs built with tests/test_phenotypes_support's row builders, written as Parquet (the DuckDB
twin reads files) and read by the stage's own reader (toy config: cutoff 2023-07-01, observation
2000-01-01..2023-12-31); expected values by hand from docs/phenotypes.md. The probes of this round
that the chain already got right (overlapping orders and dispensings of one ingredient, an end before
the start, a NULL end, a trial across an observation-period gap, a combination antidepressant +
antipsychotic, the persistence gap's edge, a future-dated esketamine of a control, a physician-
administered esketamine) are listed in the round's report, not pinned here.
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

from trd_spark.config import load_config
from trd_spark.phenotypes.stage import (
    concept_set_ids,
    conditional_record_checks,
    conditional_record_warnings,
    derive_phenotype_tables,
    event_table_counts,
    read_omop,
    study_vocabulary,
)

REPO = Path(__file__).resolve().parent.parent
G2082 = 2_000_002_601  # synthetic IDs: the codes are resolved by vocabulary + code
G2083 = 2_000_002_602
ESKETAMINE_VISIT = 2_000_002_700  # a standard concept a release may map the codes to, in no study set
HCPCS = [
    (G2082, "Esketamine in clinic, up to 56 mg", "Procedure", "HCPCS", "HCPCS", "S", "G2082"),
    (G2083, "Esketamine in clinic, over 56 mg", "Procedure", "HCPCS", "HCPCS", "S", "G2083"),
]
PERSONS = (1, 2, 3)
MDD_DATES = ("2019-01-10", "2019-02-10")  # every person: MDD, index 2019-01-10
PROCEDURES = [
    proc(1, G2082, "2019-05-01"),  # after the index: the somatic onset
    proc(1, G2083, "2019-05-08"),
    proc(2, G2083, "2018-06-01"),  # before the index: no onset
]


def _write_omop(root: Path, procedures: list = PROCEDURES, hcpcs: list = HCPCS) -> None:
    write_omop_tables(root, {
        "person": [person(p) for p in PERSONS],
        "observation_period": [obs(p) for p in PERSONS],
        "condition_occurrence": [cond(p, MDD_CONCEPT, x) for p in PERSONS for x in MDD_DATES],
        "procedure_occurrence": procedures,
        "concept": CONCEPTS + hcpcs,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    })


def test_esketamine_billed_as_a_clinic_visit_is_a_somatic_onset(spark, tmp_path):
    """By hand (index 2019-01-10, follow-up to the cutoff 2023-07-01: 1633 days; no drugs, so ad3 is
    MDD_other / no_adequate_trial for everyone):
    1: G2082 on 2019-05-01 (and G2083 a week later) -> somatic TRD, onset 2019-05-01, 111 days
       (f7d6547: MDD_other, no_adequate_trial, 1633 days: the visit codes were read by no set).
    2: G2083 on 2018-06-01, before the index -> no onset: somatic MDD_other, 1633 days.
    3: no esketamine -> somatic MDD_other, 1633 days.
    The DuckDB twin on the same files gives the same rows (it reads the concept sets from the config)."""
    root = tmp_path / "omop"
    root.mkdir()
    _write_omop(root)
    cfg = toy_config(path=str(root))
    tables = derive_phenotype_tables(read_omop(spark, cfg), cfg)
    got = {(r.person_id, r.definition): (r.status, r.exclusion_reason, str(r.trd_onset_date), r.time_to_trd_days)
           for r in tables.phenotypes.where("definition IN ('somatic', 'ad3')").collect()}
    assert (days("2019-01-10", "2019-05-01"), days("2019-01-10", "2023-07-01")) == (111, 1633)
    other = ("MDD_other", "no_adequate_trial", "None", 1633)
    assert got == {
        (1, "somatic"): ("TRD", None, "2019-05-01", 111),
        (2, "somatic"): other,
        (3, "somatic"): other,
        (1, "ad3"): other,
        (2, "ad3"): other,
        (3, "ad3"): other,
    }
    twin = {(int(p), k): (s, r, str(o), t) for p, k, s, r, o, t in duckdb_twin_rows(
        root, cfg, tmp_path / "duck.parquet",
        "person_id, definition, status, exclusion_reason, trd_onset_date, time_to_trd_days",
        "definition IN ('somatic', 'ad3')")}
    assert twin == got


def test_every_shipped_config_reads_esketamine_clinic_visits_as_somatic():
    """Each shipped config with a somatic definition names the set, whose two references are
    HCPCS G2082 / G2083 with only_if_standard (no error where a release de-standardised them)."""
    cs = load_config().concept_sets.concept_sets["esketamine_clinic"]
    assert (cs.domain, cs.also_domains) == ("procedure", ["observation"])  # session 36: read in both tables
    assert [(r.vocabulary_id, r.concept_code, r.only_if_standard) for r in cs.include] == [
        ("HCPCS", "G2082", True), ("HCPCS", "G2083", True)]
    for name in ("toy.yaml", "aou.yaml", "dataproc.yaml", "toy_releases.yaml", "aou_releases.yaml"):
        text = (REPO / "conf" / name).read_text()
        assert "somatic_concept_sets: [ect, tms, esketamine, esketamine_clinic, tms_device]" in text, name


def test_a_release_mapping_the_codes_elsewhere_counts_their_records(spark, tmp_path):
    """A release holding G2082 as a non-standard concept mapped to a standard one no set names
    (ESKETAMINE_VISIT): person 1's record (procedure_concept_id ESKETAMINE_VISIT, source G2082) is not
    read as esketamine (somatic MDD_other, 1633 days, as the chain reads standard concepts only) and
    is counted: n_esketamine_clinic_source_outside_set 1, one WARNING naming the set and the source
    column. No error for the non-standard G2082 reference (only_if_standard). On f7d6547 no set names
    the code: no count, no WARNING (the record was dropped silently)."""
    root = tmp_path / "omop"
    root.mkdir()
    hcpcs = [(G2082, "Esketamine in clinic, up to 56 mg", "Procedure", "HCPCS", "HCPCS", None, "G2082"),
             (ESKETAMINE_VISIT, "Esketamine nasal administration", "Procedure", "SNOMED", "Procedure", "S", "x9")]
    _write_omop(root, [proc(1, ESKETAMINE_VISIT, "2019-05-01") + (G2082,)], hcpcs)
    cfg = toy_config(path=str(root))
    omop = read_omop(spark, cfg)
    vocab = study_vocabulary(omop, cfg)
    checks = conditional_record_checks(cfg, vocab, concept_set_ids(cfg, vocab))
    # read in procedure_occurrence and observation (also_domains, session 36): one count over both
    assert checks["esketamine_clinic"][:2] == (("procedure_occurrence", "observation"), frozenset({G2082}))
    counts = event_table_counts(omop, checks).first().asDict()
    assert counts["n_esketamine_clinic_source_outside_set"] == 1
    warnings = conditional_record_warnings(counts, checks, None)
    assert [w for w in warnings if "esketamine_clinic" in w] == [
        f"procedure_occurrence / observation: 1 record(s) whose procedure_source_concept_id / "
        f"observation_source_concept_id is one of concept set "
        f"esketamine_clinic's codes used only where standard (concept_id {G2082}: not standard in this "
        "release) but whose procedure_concept_id / observation_concept_id is not in the set: not read as esketamine_clinic (this "
        "release maps them to a concept the set does not name)"]
    somatic = {r.person_id: (r.status, r.time_to_trd_days) for r in derive_phenotype_tables(omop, cfg, vocab)
               .phenotypes.where("definition = 'somatic'").collect()}
    assert somatic == {1: ("MDD_other", 1633), 2: ("MDD_other", 1633), 3: ("MDD_other", 1633)}
