"""PGS field cases, round 35 (session 43, helper pgs35): rules checked against plink2 on the native
engine only (bed, pgen, BGEN: no Hail job), pinned where a later change could break them.

split-bgen-ref-last-indels: a site A>AT,ATT given split and written by plink2 ``--export bgen-1.2``
REF-last (its default) has the rows ``AT,A`` and ``ATT,A``; read REF first (``bgen_reader``, Hail's
``import_bgen``) they are ``AT>A`` and ``ATT>A``, the very rows of a left-normalised split of
ATT>AT,A (two sites). ``matching.swapped_site_refs`` groups SNV rows only, so each row is scored
alone, as plink2 scores every record; written ref-first the rows share the REF A and are one site
(2 - every alt's copies), as the VCF and its .bed/.pgen are (docs/pgs.md: "Not covered").

variant-list-extra-columns: a .pvar with QUAL/FILTER/INFO and a CM column, a .bim whose CM column is
in exponent form (``1.5e-05``, ``2E-3``): read by their named / positional columns, never parsed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_field_cases_pgs import case_config, run_scores

CASES = Path(__file__).parent / "data" / "field_cases_round35_pgs"


def _scores(hl, spark, tmp: Path, path: Path, scores: Path, fmt: str) -> pd.DataFrame:
    tmp.mkdir()
    got = run_scores(hl, spark, case_config(tmp, str(path), str(scores / "*"), fmt=fmt))
    return got.set_index(["pgs_id", got["person_id"].astype(int)]).sort_index()


@pytest.mark.parametrize("written", ["ref_last", "ref_first"])
def test_split_indel_rows_of_a_ref_last_bgen_are_scored_each_alone(hl, spark, tmp_path, written):
    """split-bgen-ref-last-indels on the native engine: REF-last, A's dosage is 2 - that row's AT
    copies (1003, AT/ATT: 1.25; 1004, ATT/ATT: 2), plink2 --bgen's sums; ref-first, the site's
    (0.25, 0), hand-worked. A mutant grouping indel rows in ``swapped_site_refs`` (the README's
    not-covered case scored as one site) gives ref_last the ref_first sums: killed."""
    case = CASES / "split-bgen-ref-last-indels"
    want = pd.read_csv(case / "expected.tsv", sep="\t", comment="#")
    want = want[want["file"] == written].set_index(["pgs_id", "person_id"]).sort_index()
    got = _scores(hl, spark, tmp_path / "c", case / "genotypes" / f"{written}.bgen", case / "scores", "bgen")
    assert got["score_sum"].to_dict() == pytest.approx(want["score_sum"].to_dict(), abs=1e-9)
    assert (got["n_missing"] == 0).all()


@pytest.mark.parametrize("fileset, fmt", [("hpc", "pgen"), ("hb", "plink")])
def test_variant_lists_with_extra_columns_score_as_plink2(hl, spark, tmp_path, fileset, fmt):
    """variant-list-extra-columns: the .pvar's QUAL/FILTER/INFO/CM and the .bim's exponent-form CM
    are not read; sums, missing calls and ALLELE_CT as plink2 gives them (6 printed digits)."""
    case = CASES / "variant-list-extra-columns"
    want = pd.read_csv(case / "expected.tsv", sep="\t", comment="#").set_index(["pgs_id", "person_id"]).sort_index()
    got = _scores(hl, spark, tmp_path / "c", case / "genotypes" / fileset, case / "scores", fmt)
    assert got["score_sum"].to_dict() == pytest.approx(want["score_sum"].to_dict(), abs=5e-7)
    assert got["n_missing"].to_dict() == want["n_missing"].to_dict()
    assert got["allele_count"].to_dict() == want["allele_count"].to_dict()
    assert (got["n_matched"] == 5).all()
