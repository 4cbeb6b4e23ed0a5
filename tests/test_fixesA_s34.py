"""Session 34 fixesA: the fresh reader's findings on session 34's change (provenance's by-name
digest, scoring files' complex-allele rows, the phenotype rules' conditional codes)."""

from __future__ import annotations

import sys

import pytest

from trd_spark.provenance import code_digests


@pytest.fixture()
def by_name_pkg(tmp_path, monkeypatch):
    """A package ``fa34_pkg`` written under ``tmp_path`` whose ``shared`` module is read by name;
    yields (its folder, a function giving {importer module: the digest of ``shared`` it takes})."""
    root = tmp_path / "fa34_pkg"
    root.mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))

    def digests(importers: dict[str, str]) -> dict[str, str]:
        for name, text in importers.items():
            (root / f"{name}.py").write_text(text)
        code_digests.cache_clear()
        return {m: code_digests(f"fa34_pkg.{m}", package="fa34_pkg", by_name=("fa34_pkg.shared",))[
            "fa34_pkg.shared"] for m in importers}

    (root / "__init__.py").write_text("")
    try:
        yield root, digests
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "fa34_pkg"]:
            del sys.modules[name]
        code_digests.cache_clear()


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
