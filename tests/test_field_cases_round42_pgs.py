"""PGS field cases, round 42 (session 48, helper pgs42): target shapes.

space-separated-pvar: a .pvar written with runs of spaces instead of tabs (an awk or hand-made
variant list), its ``#CHROM`` line naming the columns in another order than plink2 writes them
(``#CHROM POS REF ALT ID FILTER INFO``), beside ``##`` meta lines, a multi-allelic row and a chrX
row. plink2 2.00a3.5 reads such a .pvar by its column names (tab or spaces); the reader split a
``#CHROM`` line on tabs only, so its one column failed pandas' ``usecols`` and the fileset was
refused ("Usecols do not match columns ..."), though plink2 scores it. A header line with no tab
is now split on runs of spaces, as ``psam_samples`` reads a .psam. The fileset (.pgen/.psam from
plink2 ``--vcf --update-sex --make-pgen``, 1001/1003 male) is scored against plink2 ``--score`` on
the same files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from plink2_score_oracle import score_runs, write_scoring_files
from test_field_cases_pgs import case_config, run_scores

from trd_spark.pgs import pgen_engine
from trd_spark.pgs.native_task import PlinkFiles

CASE = Path(__file__).parent / "data" / "field_cases_round42_pgs" / "space-separated-pvar"
# (chr_name, chr_position, effect_allele, other_allele, effect_weight): an ALT effect allele, the
# second alt of a multi-allelic row, a REF effect allele, a chrX (non-PAR) ALT.
SCORE = {"PGS000042": [("1", 1000, "G", "A", 0.5), ("1", 2000, "A", "C", -0.25), ("1", 3000, "G", "A", 0.8),
                       ("X", 5000000, "C", "T", 1.2)]}
IDS = {("1", 1000): "rs1", ("1", 2000): "rs2", ("1", 3000): "rs3", ("X", 5000000): "rsx"}


def test_a_space_separated_pvar_is_read_by_its_column_names():
    """Each variant at its line with its own REF/ALT/ID, the multi-allelic row split per alt
    (before: one InputDataError, 'Usecols do not match columns')."""
    index = pgen_engine.variant_index(PlinkFiles("pgen", str(CASE / "s")), "GRCh38")
    frame = index.frame
    assert frame["contig"].tolist() == ["chr1", "chr1", "chr1", "chr1", "chrX"]
    assert frame["position"].tolist() == [1000, 2000, 2000, 3000, 5000000]
    assert (frame["ref"] + ">" + frame["alt"]).tolist() == ["A>G", "C>T", "C>A", "G>A", "T>C"]
    assert frame["rsid"].tolist() == ["rs1", "rs2", "rs2", "rs3", "rsx"]
    assert frame["variant_idx"].tolist() == [0, 1, 1, 2, 3]
    assert frame["allele_idx"].tolist() == [1, 1, 2, 1, 1]
    assert index.first_line == 5  # three ## lines and the #CHROM line


def test_a_space_separated_pvar_scores_as_plink2(hl, spark, tmp_path):
    """The stage's read -> match -> score on the native engine equals plink2 --score on the same
    fileset (sums to its 6 printed digits, ALLELE_CT exactly): 4.25 / 3.26667 / 0.8 / 3.2, 1002's
    and 1003's missing calls mean-imputed, the males' chrX calls 2 copies."""
    glob = write_scoring_files(tmp_path, SCORE)
    counts, sums = score_runs(tmp_path, ["--pfile", str(CASE / "s")], SCORE, IDS)
    got = run_scores(hl, spark, case_config(tmp_path, str(CASE / "s"), glob, fmt="pgen"))
    assert sorted(got["person_id"]) == [1001, 1002, 1003, 1004]
    for r in got.itertuples():
        assert r.score_sum == pytest.approx(sums["PGS000042", r.person_id], abs=1e-5), r.person_id
        assert r.allele_count == counts["PGS000042", r.person_id], r.person_id
        assert r.n_matched == 4


def test_a_duplicate_locus_is_named_at_its_pvar_lines_whatever_the_column_order(tmp_path):
    """``locate_rows`` (the duplicate-locus error's file:line list) reads a .pvar's POS where its
    #CHROM line names it, in a tab- or space-separated file (before: its second tab field, so
    the space-separated file named no line and the tab one with ID before POS named none either)."""
    from trd_spark.config import GenotypeSource
    from trd_spark.pgs.genotypes import locate_rows

    rows = [("1", "v1", "1000", "A", "G"), ("1", "v2", "2000", "C", "T"), ("1", "v2b", "2000", "C", "T")]
    for name, sep in (("tab", "\t"), ("space", " ")):
        (tmp_path / f"{name}.pvar").write_text(
            "##x=1\n" + sep.join(["#CHROM", "ID", "POS", "REF", "ALT"]) + "\n"
            + "".join(sep.join(r) + "\n" for r in rows))
        got = locate_rows(GenotypeSource(format="pgen", path=str(tmp_path / name)), ["chr1:2000", "chr1:1000"])
        assert got == {"chr1:2000": [f"{tmp_path}/{name}.pvar:4", f"{tmp_path}/{name}.pvar:5"],
                       "chr1:1000": [f"{tmp_path}/{name}.pvar:3"]}, name
