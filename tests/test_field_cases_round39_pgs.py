"""PGS field cases, round 39 (session 46, helper pgs39).

snv-beside-deletion: a multi-allelic record joining an SNV with an indel or another SNV at one
base, as a VDS's variant data or a joint-called VCF writes them (the REF the longest the alts
need): ``AT>GT,A`` is the SNV A>G at 1000 and the deletion of the T at 1001, anchored on the A.
A score's SNV A/G with effect allele A (the REF) is met on the split row ``A>G`` in minimal
form, and its dosage is 2 - the copies of the other alts that change the A. The deletion keeps
the A (its anchor base), so its carriers hold the effect allele: plink2 on the record's
normalised split (``bcftools norm -m- -f``: ``A>G`` and ``AT>A`` at 1000) scores 2 - G copies.
Every alt of the record was taken away instead (plink2's rule for a REF effect allele that is
the record's REF as written, ``C>A,CT``): 1001 (a deletion carrier, 0/2) scored 1 and 1003
(2/2) 0, where they carry two A's; silently. The same for ``AT>GT,AC`` (the SNV T>C at 4001
keeps the A at 1000). Kept: a REF effect allele that is the record's REF as written loses every
alt (``C>A,CT``, plink2 on the unsplit record); a deletion over the effect base (``CAT>CGT,C``:
the deletion of AT anchored at 3000 removes the A at 3001) and ``*`` take it away.

Session 47: a score written on the other strand, ``TAC/TGC`` at ``ATG>ACG,ATC`` (r6), is matched
flipped on the minimal ``T>C`` at 6001 and its effect allele, complemented, is the record's whole
REF ``ATG``: every other alt takes it away, as for ``ATG/ACG`` on the genotypes' strand (plink2 on
the unsplit record; plink2 does not flip). The whole-REF rule complemented single bases only, so
the flipped ``TAC`` was never whole and its ATC carriers (1001, 1003) kept their copies: a score's
strand changed its carriers' scores, silently.

One stage run (the VCF, its matched rows exported for the native engine; the rule is the
matcher's, one for every route), plink2 2.00a3.5 ``--score`` on the normalised split and on the
unsplit record as the oracle where it scores the site.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from plink2_score_oracle import plink2, score_runs
from test_field_cases_pgs import case_config, run_scores

CASE = Path(__file__).parent / "data" / "field_cases_round39_pgs" / "snv-beside-deletion"
HEADER = ('##fileformat=VCFv4.2\n##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
          "##contig=<ID=chr1,length=248956422>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
          "1001\t1002\t1003\t1004\n")
# The records r1 and r4 normalised and split (bcftools norm -m- -f ref.fa), with the same calls:
# 1001 0/2, 1002 0/1, 1003 2/2, 1004 0/0 become per-row 0/1 of its own alt.
NORMALISED = ("chr1\t1000\tn1\tA\tG\t.\tPASS\t.\tGT\t0/0\t0/1\t0/0\t0/0\n"
              "chr1\t1000\tn1d\tAT\tA\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\t0/0\n"
              "chr1\t4000\tn4\tA\tG\t.\tPASS\t.\tGT\t0/0\t0/1\t0/0\t0/0\n"
              "chr1\t4001\tn4c\tT\tC\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\t0/0\n")
PEOPLE = (1001, 1002, 1003, 1004)


@pytest.fixture(scope="module")
def sums(hl, spark, tmp_path_factory):
    """(pgs_id, person) -> score_sum of the one stage run on genotypes/joined.vcf."""
    tmp = tmp_path_factory.mktemp("round39")
    got = run_scores(hl, spark, case_config(tmp, str(CASE / "genotypes" / "joined.vcf"), f"{CASE}/scores/*.txt"))
    assert set(got["n_matched"]) == {1} and set(got["n_missing"]) == {0}
    return dict(zip(zip(got["pgs_id"], got["person_id"].astype(int)), got["score_sum"], strict=True))


def _of(sums: dict, pgs_id: str) -> list[float]:
    return [sums[pgs_id, p] for p in PEOPLE]


def test_a_deletion_anchored_on_the_effect_base_keeps_it_as_plink2_on_the_normalised_split(sums, tmp_path):
    """r1 ``AT>GT,A`` (score A/G at 1000, effect A) and r4 ``AT>GT,AC`` (A/G at 4000):
    2 - G copies, plink2 --score on the normalised split's .pgen. On d099127: 1.0, 1.0, 0.0,
    2.0 for both (the deletion's / the T>C's carriers lost their A's)."""
    (tmp_path / "n.vcf").write_text(HEADER + NORMALISED)
    plink2("--vcf", str(tmp_path / "n.vcf"), "--make-pgen", "--out", str(tmp_path / "n"))
    rows = {"PGS990391": [("1", 1000, "A", "G", 1.0)], "PGS990394": [("1", 4000, "A", "G", 1.0)]}
    _, oracle = score_runs(tmp_path, ["--pfile", str(tmp_path / "n")], rows, {("1", 1000): "n1", ("1", 4000): "n4"})
    for pgs_id in rows:
        assert [oracle[pgs_id, p] for p in PEOPLE] == pytest.approx([2.0, 1.0, 2.0, 2.0], abs=1e-6)
        assert _of(sums, pgs_id) == pytest.approx([2.0, 1.0, 2.0, 2.0], abs=1e-9), pgs_id


def test_alts_that_change_the_effect_allele_still_take_it_away(sums, tmp_path):
    """r2 ``C>A,CT`` (effect C, the REF as written): 2 - A - CT copies, plink2 --score on the
    unsplit record; r3 ``CAT>CGT,C`` (A/G at 3001: the deletion of AT removes the A) and r5
    ``AT>GT,*`` (the ``*`` has no A): 2 - G - the other alt's copies, hand-worked. They pass on
    d099127 too; each fails under the mutant "a REF effect allele met in minimal form loses no
    other alt" (``_alters_bases`` returning ``whole_ref[site]``): r3 and r5 2.0, 1.0, 2.0, 2.0."""
    (tmp_path / "r2.vcf").write_text(HEADER + "chr1\t2000\tr2\tC\tA,CT\t.\tPASS\t.\tGT\t0/2\t0/1\t2/2\t0/0\n")
    plink2("--vcf", str(tmp_path / "r2.vcf"), "--make-pgen", "--out", str(tmp_path / "r2"))
    rows = {"PGS990392": [("1", 2000, "C", "A", 1.0)]}
    _, oracle = score_runs(tmp_path, ["--pfile", str(tmp_path / "r2")], rows, {("1", 2000): "r2"})
    assert [oracle["PGS990392", p] for p in PEOPLE] == pytest.approx([1.0, 1.0, 0.0, 2.0], abs=1e-6)
    for pgs_id in ("PGS990392", "PGS990393", "PGS990395"):
        assert _of(sums, pgs_id) == pytest.approx([1.0, 1.0, 0.0, 2.0], abs=1e-9), pgs_id


def test_a_flipped_score_of_a_records_whole_ref_loses_every_other_alt_as_on_the_forward_strand(sums, tmp_path):
    """r6 ``ATG>ACG,ATC``: ``TAC/TGC`` (the other strand, PGS990396) scores 2 - ACG - ATC copies,
    plink2 --score of ``ATG/ACG`` on the unsplit record. On 1dcddaa: 2.0, 1.0, 2.0, 2.0 (the ATC
    carriers kept their ATG's)."""
    (tmp_path / "r6.vcf").write_text(HEADER + "chr1\t6000\tr6\tATG\tACG,ATC\t.\tPASS\t.\tGT\t0/2\t0/1\t2/2\t0/0\n")
    plink2("--vcf", str(tmp_path / "r6.vcf"), "--make-pgen", "--out", str(tmp_path / "r6"))
    rows = {"PGS990396": [("1", 6000, "ATG", "ACG", 1.0)]}
    _, oracle = score_runs(tmp_path, ["--pfile", str(tmp_path / "r6")], rows, {("1", 6000): "r6"})
    assert [oracle["PGS990396", p] for p in PEOPLE] == pytest.approx([1.0, 1.0, 0.0, 2.0], abs=1e-6)
    assert _of(sums, "PGS990396") == pytest.approx([1.0, 1.0, 0.0, 2.0], abs=1e-9)


def test_the_matcher_loses_the_same_alts_for_a_score_on_either_strand():
    """``match_sites_frame`` alone (no Spark): ``ATG/ACG`` and ``TAC/TGC`` at ``ATG>ACG,ATC`` as
    Hail splits it (``T>C`` at 2001, ``G>C`` at 2002) both take the ``G>C`` row's copies away;
    a flipped effect allele that is not wholly A/C/G/T complements to nothing (so never the
    whole REF). On 1dcddaa the flipped site lost none (``()``)."""
    import numpy as np
    import pandas as pd

    from trd_spark.pgs import matching

    n = 2
    sites = pd.DataFrame({
        "chrom": ["1"] * n, "pos": pd.array([2000] * n, dtype="Int32"), "effect_allele": ["ATG", "TAC"],
        "other_allele": ["ACG", "TGC"], "rsid": [None] * n, "positions_build": ["GRCh38"] * n, "by_rsid": [False] * n,
        "contig": ["chr1"] * n, "position": pd.array([2000] * n, dtype="Int64"), "lift_negative_strand": False,
        "liftover_failed": False, "member_score_index": [np.array([i], np.int32) for i in range(n)],
        "member_weight": [np.array([1.0])] * n, "member_line": [np.array([4], np.int64)] * n})
    sites.attrs.update({"pgs_ids": ["PGS1", "PGS2"], "score_files": ["1.txt", "2.txt"], "rsid_only_files": [],
                        matching.DUPLICATES_DROPPED: {}})
    rows = pd.DataFrame({"contig": ["chr1", "chr1"], "position": [2001, 2002], "ref": ["T", "G"], "alt": ["C", "C"],
                         "site_position": pd.array([2000, 2000], dtype="Int64"), "site_ref": ["ATG", "ATG"],
                         "site_alt": ["ACG", "ATC"]})
    out = matching.match_sites_frame(sites, rows, keep_ambiguous=False)
    assert out["match_type"].tolist() == ["alt_ref", "alt_ref_flipped"]
    assert out["matched_row"].tolist() == [0, 0]
    assert list(out["other_alt_rows"]) == [(1,), (1,)]
    assert list(matching.complement_bases(np.array(["TAC", "A", "TNC", None], dtype=object))) == ["ATG", "T", None, None]
