"""PGS field cases, round 44 (session 50, helper pgs44): one site twice, once with a missing allele.

monomorphic-row-beside-snv (kind duplicate-genotype-rows): two array batches merged with plink
--bmerge keep both rows of a site whose IDs differ. In one batch the site is monomorphic and
written with a missing second allele (VCF/.pvar ALT ``.``, plink 1.9's .bim A1 ``0``: ``G .``), in
the other it is ``G>A``; each row is missing in the other batch's samples. The matcher counted the
two as distinct [ref, alt] rows, so no repeat, and scored whichever sorted first: in every format
(VCF on Hail's rows, .bed with ``0``, .pgen with ``.``) a REF effect allele G gave 1001 0.625 where
the merged site gives 2.125, an ALT effect allele imputed the monomorphic batch from the other's
frequency (1.625 for 0.125). Now such a row is a repeat of an SNV row holding its present allele
(``matching._distinct_rows``), and the site the existing duplicate-row error naming the file, the
locus and both rows' lines. The merged fileset (merged/) scores the case's expected.tsv, equal to
plink2 2.00a3.5 ``--score`` on it (hand-worked too).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_field_cases_pgs import score_shapes

from trd_spark.errors import InputDataError
from trd_spark.pgs.matching import check_duplicate_rows_frame, match_sites_frame, score_sites
from trd_spark.pgs.scoring_files import parse_scoring_file

ROUND = Path(__file__).parent / "data" / "field_cases_round44_pgs"
CASE = ROUND / "monomorphic-row-beside-snv"

# shape -> (format, genotype path)
SHAPES = {"vcf": ("vcf", CASE / "genotypes" / "data.vcf"), "bed": ("plink", CASE / "plink1" / "data"),
          "pgen": ("pgen", CASE / "pgen" / "data"), "merged": ("pgen", CASE / "merged" / "data")}
# The two rows of chr1:1000 per duplicated shape: the file and the lines the error names.
LINES = {"vcf": ("data.vcf", 5, 6), "bed": ("data.bim", 1, 2), "pgen": ("data.pvar", 3, 4)}


@pytest.fixture(scope="module")
def scored(hl, spark, tmp_path_factory) -> dict[str, pd.DataFrame | Exception]:
    """Each shape's scores (the stage's read -> match -> score), or the error it raised."""
    return score_shapes(hl, spark, tmp_path_factory, SHAPES, f"{CASE}/scores/*")


def _merged_scores(got: pd.DataFrame | Exception) -> None:
    """The remedy the error asks for (one row of the site, both batches' calls): expected.tsv,
    hand-worked and plink2 --score."""
    assert not isinstance(got, Exception), got
    want = pd.read_csv(CASE / "expected.tsv", sep="\t", comment="#")
    merged = want.merge(got, on=["pgs_id", "person_id"], how="outer", suffixes=("_exp", ""), validate="1:1")
    assert len(merged) == len(want) == 8
    assert merged["score_sum"].to_numpy() == pytest.approx(merged["score_sum_exp"].to_numpy(), abs=1e-9)
    assert (merged["n_matched"] == merged["n_matched_exp"]).all() and (merged["n_missing"] == 0).all()
    assert (merged["allele_count"] == 4).all()


@pytest.mark.parametrize("shape", ["vcf", "bed", "pgen"])
def test_a_monomorphic_row_beside_its_snv_is_one_error_naming_both_rows(scored, shape):
    """The duplicated files: one InputDataError naming the locus and both rows' file:line, in
    every format (the .bim's ``0``, the .pvar's ``.``, Hail's one-allele row of a VCF ALT ``.``);
    the merged fileset scores expected.tsv. On b1d6bac the duplicated files were scored (PGS990441
    0.625 / 0.75 / 1.0 / 0.0): 'assert False' (no error)."""
    got = scored[shape]
    name, first, second = LINES[shape]
    folder = SHAPES[shape][1].parent
    assert isinstance(got, InputDataError), got
    assert f"{folder / name}:{first}: 1 scored locus/loci have a genotype row more than once" in str(got)
    assert f"chr1:1000 (rows at {folder / name}:{first}, {folder / name}:{second})" in str(got)
    assert "missing second allele" in str(got)
    _merged_scores(scored["merged"])


SCORE = ("#pgs_id=PGS990443\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\t"
         "effect_weight\n1\t1000\tG\tA\t1.0\n")


# Rows at chr1:1000 that repeat another: one allele with a missing code beside an SNV row holding it.
REPEATS = {
    "two-codes": [("G", "0"), ("G", ".")],             # one allele, the plink 1.9 and plink2 missing codes
    "one-allele-row": [("G", None), ("G", "A")],       # Hail's one-allele row of a VCF ALT '.'
    "present-is-alt": [("A", "."), ("G", "A")],        # the present allele is the SNV's ALT (REF/ALT by batch)
    "split-site": [("0", "G"), ("G", "A"), ("G", "C")],  # a multi-allelic site given split, REF missing
}
# ... and rows that repeat none (as before).
DISTINCT = [[("G", "."), ("G", "GT")],  # an insertion at the locus: another variant
            [("G", ".")],               # the monomorphic row alone (matched as plink2, round 3)
            [("G", "A"), ("G", "C")]]   # two alts of one site


def _repeats(hl, spark, tmp_path: Path, rows: list[tuple]) -> pd.DataFrame:
    sites = score_sites(hl, spark, [parse_scoring_file(SCORE, source=str(tmp_path / "s.txt"))], "GRCh38")
    frame = pd.DataFrame({"contig": "chr1", "position": 1000, "ref": [r for r, _ in rows],
                          "alt": [a for _, a in rows]})
    return match_sites_frame(sites, frame, keep_ambiguous=False)


@pytest.mark.parametrize("shape", list(REPEATS))
def test_a_row_of_one_allele_and_a_missing_code_repeats_an_snv_row_holding_it(hl, spark, tmp_path, shape):
    """``match_sites_frame``'s ``duplicate_genotype_rows`` at chr1:1000 and the error of
    ``check_duplicate_rows_frame``; the rows of ``DISTINCT`` stay no repeat. On b1d6bac every
    shape of ``REPEATS`` counted 0 repeats ('assert [0] == [1]')."""
    m = _repeats(hl, spark, tmp_path, REPEATS[shape])
    assert m["duplicate_genotype_rows"].tolist() == [1]
    with pytest.raises(InputDataError, match=r"^dataset d: 1 scored locus/loci .* e\.g\. chr1:1000"):
        check_duplicate_rows_frame(m, "dataset d")
    for rows in DISTINCT:
        m = _repeats(hl, spark, tmp_path, rows)
        assert m["duplicate_genotype_rows"].tolist() == [0], rows
        check_duplicate_rows_frame(m, "dataset d")
