"""Session 34 fixesA: the fresh reader's findings on session 34's change (provenance's by-name
digest, scoring files' complex-allele rows, the phenotype rules' conditional codes)."""

from __future__ import annotations

import pytest
from temp_package import shared_digests, temp_package


@pytest.fixture()
def by_name_pkg(tmp_path, monkeypatch):
    """A package ``fa34_pkg`` written under ``tmp_path`` whose ``shared`` module is read by name;
    yields (its folder, a function giving {importer module: the digest of ``shared`` it takes})."""
    with temp_package(tmp_path, monkeypatch, "fa34_pkg", {"__init__.py": ""}) as root:

        def digests(importers: dict[str, str]) -> dict[str, str]:
            for name, text in importers.items():
                (root / f"{name}.py").write_text(text)
            return shared_digests("fa34_pkg", importers)

        yield root, digests


def test_a_call_inside_a_function_body_is_not_a_top_level_call(by_name_pkg):
    """07d07db counted every call of one of the module's own names in a top-level statement as
    run at import (``X = register(rule)``), walking into function bodies too: ``def f(): g()``
    added f to the digest of every importer of ``g``, so an edit to f reran stages that never
    run it (reader's probe; statements per name-digest 2 -> 41 in toydata/vocabulary). Only
    code run at import counts: a call in a decorator or an argument default still does."""
    root, digests = by_name_pkg
    shared = ("RULES = {}\n\n\ndef g():\n    return 1\n\n\ndef f():\n    return g() + 5\n\n\n"
              "def register(r):\n    RULES[r.__name__] = r\n    return r\n\n\n"
              "def rule():\n    return 7\n\n\ndef h(x=register(rule)):\n    return x\n")
    (root / "shared.py").write_text(shared)
    importers = {"takes_g": "from fa34_pkg.shared import g\n", "takes_rules": "from fa34_pkg.shared import RULES\n"}
    before = digests(importers)
    (root / "shared.py").write_text(shared.replace("g() + 5", "g() + 6"))
    assert digests(importers) == before  # f runs only when called: neither importer runs it
    (root / "shared.py").write_text(shared.replace("return 7", "return 8"))
    after = digests(importers)
    assert after["takes_rules"] != before["takes_rules"]  # h's default ran register(rule) at import
    assert after["takes_g"] == before["takes_g"]


VT_HEAD = ("#pgs_id=PGS990341\n#genome_build=GRCh38\n"
           "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tvariant_type\n")
VT_SNP = "rs1\t1\t100\tA\tG\t0.5\tSNV\n"


@pytest.mark.parametrize("row", [
    "rs2\t1\t200\tN\tG\t0.1\tSNV\n",   # an author file writing variant_type on every row: 'N' a typo
    "rs2\t1\t200\t-\tA\t0.1\tsnv\n",
    "rs2\t1\t200\tN\tG\t0.1\tindel\n",
])
def test_a_variant_type_outside_the_catalogs_complex_types_marks_nothing(row):
    """Any ``variant_type`` value marked a row complex, so an author file with 'SNV' on every row
    silently dropped an 'N' / '-' typo as a complex allele (counted as not found, the score short
    of it) where it had been one error at its line. Only pgscatalog-core's VariantType values mark."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.scoring_files import parse_scoring_file

    with pytest.raises(InputDataError) as e:
        parse_scoring_file(VT_HEAD + VT_SNP + row, source="s.txt")
    assert e.value.where == "s.txt:5" and "allele must contain only A/C/G/T" in str(e.value)


@pytest.mark.parametrize("vt", ["HLA_allele", "hla_allele", "HLA_AA", "HLA_serotype", "APOE_allele", "CYP_allele"])
def test_an_n_on_a_row_of_a_catalog_complex_type_is_a_complex_allele(vt):
    """'N' on a row whose variant_type is one of the Catalog's complex types (any case) is left
    out and counted: pgscatalog-core's drop_hla drops 'N' as it drops 'P' (the HLA absence and
    presence codes), and the row's type says it is no sequence. Without that mark 'N' stays an
    error (IUPAC 'any base': test_field_cases_round24_pgs)."""
    from trd_spark.pgs.scoring_files import parse_scoring_file

    sf = parse_scoring_file(VT_HEAD + VT_SNP + f"rs9\t6\t\tN\t\t-0.3\t{vt}\n", source="s.txt")
    assert sf.n_complex_skipped == 1 and sf.variants["line"].tolist() == [4]


def test_the_complex_variant_types_are_pgscatalog_cores():
    """The kept list is pgscatalog-core's VariantType, no more, no fewer (the library is the source)."""
    from pgscatalog.core.lib.models import VariantType

    from trd_spark.pgs.scoring_files import _COMPLEX_VARIANT_TYPES

    assert sorted(_COMPLEX_VARIANT_TYPES) == sorted(v.value.lower() for v in VariantType)


ECT_9427 = 2_000_000_601  # ICD9Proc 94.27, standard in this test's vocabulary (a member)
ECT_9426 = 2_000_000_602  # ICD9Proc 94.26, de-standardised here (standard_concept NULL): no member
ICD9_CONCEPTS = [
    (ECT_9427, "Other electroshock therapy", "Procedure", "ICD9Proc", "4-dig billing code", "S", "94.27"),
    (ECT_9426, "Subconvulsive electroshock therapy", "Procedure", "ICD9Proc", "4-dig billing code", None, "94.26"),
]


def test_records_of_a_destandardised_conditional_code_mapped_outside_the_set_are_counted(spark, caplog):
    """Where ICD9Proc 94.26 is not standard (b143fc5's only_if_standard), the ECT set counts its
    records only through the standard concept they map to, which nothing checked: a release mapping
    them to a concept the set does not name dropped those ECT courses silently. By hand: 94.26 as the
    source of records mapped to SNOMED ECT 4030840 (person 1: in the set, not counted), to 0 (2) and
    to a concept outside the set (3) and to none (5, a null procedure_concept_id): 3 counted; 94.27
    (standard here, a member) as the source of a record with concept 0 (4): counted too since round 27
    (a record of a code the release holds as standard that is not read as the set: its ETL used another
    vocabulary version), 4 in all, and by n_procedure_occurrence (unmapped). Person 3's concept is on two ``concept`` rows (the
    CDM's primary key, broken): its record counts once. Counted in stage_counts' one collect
    (quirks.conditional_records) and one WARNING line. (Session 35's review: the null record and
    the doubled concept row each caught a mutant the 0-concept rows let through, coalesce dropped
    and max summed.)"""
    from test_phenotypes_support import ECT_SNOMED, MDD_CONCEPT, cond, d, frame, obs, omop_tables, person, toy_config

    from trd_spark.phenotypes.stage import (
        concept_set_ids,
        conditional_record_checks,
        conditional_record_warnings,
        derive_phenotype_tables,
        stage_counts,
        study_vocabulary,
    )

    day = d("2019-03-01")
    other = (2_000_000_700, "Other procedure", "Procedure", "SNOMED", "Procedure", "S", "x700")  # in no set
    procedures = [(1, ECT_SNOMED, day, ECT_9426), (2, 0, day, ECT_9426), (3, other[0], day, ECT_9426),
                  (4, 0, day, ECT_9427), (5, None, day, ECT_9426)]
    everyone = (1, 2, 3, 4, 5)
    omop = omop_tables(spark, persons=[person(p) for p in everyone], observation_periods=[obs(p) for p in everyone],
                       conditions=[cond(p, MDD_CONCEPT, "2019-01-10") for p in everyone], procedures=procedures)
    from test_phenotypes_support import CONCEPTS

    omop["concept"] = frame(spark, "concept", CONCEPTS + ICD9_CONCEPTS + [other, other])
    cfg = toy_config()
    vocab = study_vocabulary(omop, cfg)
    sets = concept_set_ids(cfg, vocab)
    checks = conditional_record_checks(cfg, vocab, sets)
    assert {k: v[:2] for k, v in checks.items()} == {"ect": (("procedure_occurrence",), frozenset({ECT_9426, ECT_9427}))}
    t = derive_phenotype_tables(omop, cfg, vocab)
    _, quirks = stage_counts(omop, t.persons, t.study_events, t.ingredients, cfg.omop.data_cutoff_date,
                             cfg.phenotypes.trials.max_days_supply, conditional=checks)
    assert quirks["conditional_records"] == {"n_ect_source_outside_set": 4}
    assert quirks["unmapped_records"]["n_procedure_occurrence"] == 3  # persons 2, 4, 5: concept 0 or null, a source
    assert "n_ect_source_outside_set" not in quirks["unmapped_records"]
    lines = conditional_record_warnings(quirks["conditional_records"], checks, None)
    assert len(lines) == 1 and lines[0].startswith(
        "procedure_occurrence: 4 record(s) whose procedure_source_concept_id is one of concept set ect's codes"), lines
    assert str(ECT_9426) in lines[0]
    # No conditional code: no part, as before
    _, plain = stage_counts(omop, t.persons, t.study_events, t.ingredients, cfg.omop.data_cutoff_date,
                            cfg.phenotypes.trials.max_days_supply)
    assert "conditional_records" not in plain


def test_the_death_warnings_name_the_table_read():
    """e738aed reads deaths from omop.death_table (aou_death on All of Us CDR v8+) as ``death``, but
    its WARNINGs still said "death:", sending the reader to a table the run did not read."""
    from trd_spark.phenotypes.stage import birth_and_death_warnings

    counts = {"n_persons_death_undated": 3, "n_persons_period_undated": 0, "n_persons_death_not_in_person_table": 2,
              "n_persons_period_not_in_person_table": 0}
    lines = birth_and_death_warnings(counts, "aou_death")
    assert [line.split(":")[0] for line in lines] == ["aou_death", "aou_death"], lines
    assert [line.split(":")[0] for line in birth_and_death_warnings(counts)] == ["death", "death"]
