"""Field cases, round 24 (session 34, helper "omop24"): new variants of the OMOP kinds that gave a
silent wrong answer on 69efbc5.

- TRD definitions, somatic onset (ECT): US inpatient ECT before October 2015 is coded with ICD-9-CM
  procedure codes, 94.27 "Other electroshock therapy" and 94.26 "Subconvulsive electroshock
  therapy" (vocabulary ICD9Proc). Vocabulary releases that hold ICD9Proc as standard concepts leave
  such records carrying the ICD9Proc concept, which no concept_ancestor row links to the SNOMED ECT
  hierarchy the ``ect`` set named (4030840, ICD10PCS GZB, CPT4 90870): an MDD person's ECT course
  after the index was no somatic TRD onset. Releases that de-standardised ICD9Proc map those
  records to a standard concept instead, and there a set naming the ICD9Proc concept would stop the
  run (the non-standard-reference error). The set now names both codes with ``only_if_standard``: a
  member where the release holds the code as a standard concept, else no member with an INFO line
  (``concepts.conditional_refs``), no error and no "absent" WARNING.
- The DuckDB twin imported the administration drug-type IDs from trd_spark.vocabulary (session 33's
  note): it now keeps its own list, as it does for the condition statuses, so it checks the chain's.

Tiny inputs built with tests/test_phenotypes_support's row builders, written as Parquet (the DuckDB
twin reads files) and read by the stage's own reader (toy config: cutoff 2023-07-01, observation
2000-01-01..2023-12-31); expected values by hand from docs/phenotypes.md.
"""

from __future__ import annotations

import ast
import logging
import sys
from pathlib import Path

from test_phenotypes_support import (
    ANCESTRY,
    CONCEPTS,
    MDD_CONCEPT,
    cond,
    d,
    days,
    duckdb_twin_rows,
    frame,
    obs,
    person,
    proc,
    toy_config,
    write_omop_tables,
)

from trd_spark.phenotypes.concepts import conditional_refs
from trd_spark.phenotypes.stage import (
    _concept_set,
    check_standard_concepts,
    derive_phenotype_tables,
    read_omop,
    study_vocabulary,
    warn_absent_concepts,
)

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

ECT_ICD9 = 2_000_000_601  # ICD9Proc 94.27, standard in this case's vocabulary
SUBCONVULSIVE_ICD9 = 2_000_000_602  # ICD9Proc 94.26, de-standardised (standard_concept NULL) here
ICD9_CONCEPTS = [
    (ECT_ICD9, "Other electroshock therapy", "Procedure", "ICD9Proc", "4-dig billing code", "S", "94.27"),
    (SUBCONVULSIVE_ICD9, "Subconvulsive electroshock therapy", "Procedure", "ICD9Proc", "4-dig billing code", None,
     "94.26"),
]
MDD_DATES = ("2019-01-10", "2019-02-10")  # every person: MDD, index 2019-01-10
PROCEDURES = [proc(1, ECT_ICD9, "2019-03-01"), proc(2, ECT_ICD9, "2018-12-01"), proc(3, SUBCONVULSIVE_ICD9, "2019-03-01")]
PERSONS = (1, 2, 3)


def _write_omop(root: Path) -> None:
    """The case as an OMOP export: one Parquet file per table of OMOP_COLUMNS, the declared columns
    (a row's trailing optional columns null), from the support module's row builders."""
    rows = {
        "person": [person(p) for p in PERSONS],
        "observation_period": [obs(p) for p in PERSONS],
        "condition_occurrence": [cond(p, MDD_CONCEPT, x) for p in PERSONS for x in MDD_DATES],
        "procedure_occurrence": PROCEDURES,
        "concept": CONCEPTS + ICD9_CONCEPTS,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    }
    write_omop_tables(root, rows, absent=("death", "device_exposure", "drug_strength"))  # optional tables


def test_an_icd9_procedure_ect_is_a_somatic_onset_where_the_release_holds_it_standard(spark, tmp_path, caplog):
    """By hand (index 2019-01-10, follow-up to the cutoff 2023-07-01: 1633 days; no drugs, so ad3 is
    MDD_other / no_adequate_trial for everyone):
    1: ICD9Proc 94.27 (standard here) on 2019-03-01 -> somatic TRD, onset 2019-03-01, 50 days
       (69efbc5: MDD_other, 1633 days: the code was in no set).
    2: 94.27 on 2018-12-01, before the index -> no onset: somatic MDD_other, 1633 days.
    3: 94.26, which this release de-standardised (standard_concept NULL), on 2019-03-01 -> no member:
       somatic MDD_other, 1633 days; the set's check raises no error for it (a set naming a
       non-standard concept otherwise stops the run) and its INFO line names it.
    The DuckDB twin on the same files gives the same statuses, dates and times."""
    root = tmp_path / "omop"
    root.mkdir()
    _write_omop(root)
    cfg = toy_config(path=str(root))
    omop = read_omop(spark, cfg)
    vocab = study_vocabulary(omop, cfg)
    check_standard_concepts(cfg, vocab)  # no ConfigError for the de-standardised 94.26
    assert conditional_refs(_concept_set(cfg, "ect"), vocab) == [
        "ICD9Proc 94.26 (Subconvulsive electroshock therapy (ICD9Proc 94.26)): standard_concept NULL"]
    with caplog.at_level(logging.INFO, logger="trd_spark.phenotypes.stage"):
        absent = warn_absent_concepts(cfg, vocab)
    assert not [ref for ref in absent.get("ect", []) if "ICD9Proc" in ref]  # 94.26 is no "absent" reference either
    assert any("ICD9Proc 94.26" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)

    tables = derive_phenotype_tables(omop, cfg, vocab)
    got = {(r.person_id, r.definition): (r.status, r.exclusion_reason, r.trd_onset_date, r.time_to_trd_days)
           for r in tables.phenotypes.where("definition IN ('somatic', 'ad3')").collect()}
    censored = days("2019-01-10", "2023-07-01")
    assert (censored, days("2019-01-10", "2019-03-01")) == (1633, 50)
    other = ("MDD_other", "no_adequate_trial", None, censored)
    assert got == {(1, "somatic"): ("TRD", None, d("2019-03-01"), 50), (2, "somatic"): other, (3, "somatic"): other,
                   (1, "ad3"): other, (2, "ad3"): other, (3, "ad3"): other}

    twin = {(int(p), k): (s, r, o, t) for p, k, s, r, o, t in duckdb_twin_rows(
        root, cfg, tmp_path / "duck.parquet",
        "person_id, definition, status, exclusion_reason, trd_onset_date, time_to_trd_days",
        "definition IN ('somatic', 'ad3')")}
    assert twin == got


def test_the_toy_vocabulary_without_icd9proc_warns_of_no_absent_ect_reference(spark):
    """The toy release's concept table has no ICD9Proc row: the two conditional ECT references are
    no members, named at INFO, and not among the absent references the WARNING lists (every release
    without ICD9Proc would otherwise warn)."""
    cfg = toy_config()
    tables = {"concept": frame(spark, "concept", CONCEPTS),
              "concept_ancestor": frame(spark, "concept_ancestor", [(a, b, 1, 1) for a, b in ANCESTRY])}
    vocab = study_vocabulary(tables, cfg)
    assert conditional_refs(_concept_set(cfg, "ect"), vocab) == [
        "ICD9Proc 94.27 (Other electroshock therapy (ICD9Proc 94.27)): not in concept",
        "ICD9Proc 94.26 (Subconvulsive electroshock therapy (ICD9Proc 94.26)): not in concept"]
    assert not any("ICD9Proc" in ref for refs in warn_absent_concepts(cfg, vocab).values() for ref in refs)


def test_the_duckdb_twin_keeps_its_own_administration_drug_types():
    """The twin writes the administration drug-type IDs out from the README instead of importing the
    chain's list (which it could then not check); the two lists agree."""
    from duckdb_phenotypes import ADMINISTRATION_DRUG_TYPE_IDS as twin_ids

    from trd_spark.vocabulary import ADMINISTRATION_DRUG_TYPE_IDS

    tree = ast.parse((BENCHMARKS / "duckdb_phenotypes.py").read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert "trd_spark.vocabulary" not in imported
    assert sorted(twin_ids) == sorted(ADMINISTRATION_DRUG_TYPE_IDS)
