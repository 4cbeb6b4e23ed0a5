"""PGS session 57 (helper fasta2): ``pgs.reference_fasta``'s left gaps of session 56.

- genotype records anchored on their right (``AGT>T``: the base after the event shared, as some
  callers and liftovers write them) are left-aligned too (``matching.left_aligned_rows``; the
  windows reach one base further, ``ShiftWindows.right_anchored``);
- the scoring file's own indels written not left-aligned (shifted right in a repeat, or anchored
  on their right) are left-aligned with the FASTA (``matching.left_aligned_sites``), so they meet
  their genotype record however it is written;
- the counts go to the pgs manifest (``notes.reference_fasta_left_aligned``: records and score
  indels moved, variants matched only thanks to the FASTA, per score);
- a multi-allelic record still moves whole: ``bcftools norm -f``'s output, checked against the
  bcftools pysam bundles (docs/pgs.md "Indel representations" says why not each alt alone).

The FASTA is test_pgs_reference_fasta_s56's (chr1): 999 T, 1000 C, 1001-1006 AGAGAG, 1007 T;
2000 A, 2001-2003 TTT, 2004 G; 3000 A, 3001 G; 5000 C, 5001-5100 A (100), 5101 G; 6000 G,
6001-6101 T (101), 6102 C. Oracle: plink2 ``--score`` on the calls written left-aligned by hand
(the hand-written records are also checked to be bcftools norm -f's), and hand-worked sums.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pandas as pd
import pytest
from test_pgs_reference_fasta_s56 import HEAD, fasta_text

# (written as the genotype file has it, left-aligned as bcftools norm -f writes it, the calls of 1001-1003)
RECORDS = [
    ((1005, "AGT", "T"), (1000, "CAG", "C"), "0/1\t1/1\t0/0"),   # AG deleted, anchored on its right
    ((2003, "TG", "G"), (2000, "AT", "A"), "0/1\t0/0\t1/1"),      # one T deleted, anchored on its right
    ((3001, "G", "CG"), (3000, "A", "AC"), "1/1\t0/1\t0/0"),      # C inserted, anchored on its right, no repeat
    ((5000, "C", "CA"), (5000, "C", "CA"), "0/0\t0/1\t1/1"),      # left-aligned as written
    ((6100, "TT", "T"), (6000, "GT", "G"), "0/1\t0/0\t0/1"),      # one T deleted, shifted right 100 bases
]
# Score rows: (position, effect, other, weight, match type with the FASTA, without it, the effect
# allele in the left-aligned VCF for plink2)
ROWS = [
    (1000, "C", "CAG", 1.0, "ref_alt", "not_found", "C"),
    (2000, "AT", "A", 0.5, "alt_ref", "not_found", "AT"),
    (3000, "AC", "A", 0.25, "ref_alt", "not_found", "AC"),
    (5100, "AA", "A", 2.0, "ref_alt", "not_found_unnormalised", "CA"),   # the score's own, shifted right
    (6101, "C", "TC", 4.0, "ref_alt", "not_found_unnormalised", "G"),    # the score's own, anchored on its right
]
# Hand-worked: 1001: 1 x 1 + (2 - 1) x 0.5 + 2 x 0.25 + 0 + 1 x 4; 1002: 2 + 2 x 0.5 + 0.25 + 2 + 0; 1003: 4 + 4.
SUMS = {1001: 6.0, 1002: 5.25, 1003: 8.0}
SCORE = ("#pgs_id=PGS995703\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\t"
         "effect_weight\n" + "".join(f"1\t{p}\t{e}\t{o}\t{w}\n" for p, e, o, w, *_ in ROWS))


def vcf(left_aligned: bool, records=RECORDS) -> str:
    return HEAD + "".join(f"chr1\t{r[0]}\tv{i}\t{r[1]}\t{r[2]}\t.\tPASS\t.\tGT\t{gt}\n"
                          for i, (written, norm, gt) in enumerate(records) for r in [norm if left_aligned else written])


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "ref.fa"
    path.write_text(fasta_text())
    return str(path)


def bcftools_norm(tmp_path, fasta: str, text: str) -> list[tuple[int, str, str]]:
    """``bcftools norm -f`` (the bcftools pysam bundles) of a VCF: (POS, REF, ALT) per record, in order."""
    from pysam import bcftools

    (tmp_path / "n.vcf").write_text(text)
    out = bcftools.norm("-f", fasta, str(tmp_path / "n.vcf"))
    return [(int(f[1]), f[3], f[4]) for f in (line.split("\t") for line in out.splitlines()
                                               if line and not line.startswith("#"))]


def test_hand_left_aligned_records_are_bcftools_norms_and_multiallelic_records_move_whole(tmp_path, fasta):
    """The records written left-aligned by hand are what ``bcftools norm -f`` writes, and
    ``ReferenceFasta.left_align`` writes the same for them and for multi-allelic records: one whose
    alts share a repeat moves whole; one where an SNV beside a shifted deletion (``1004 GAG>G,TAG``)
    or beside a shifted insertion (``1006 G>GAG,T``) stops the move is left where bcftools leaves it
    (whole-record left-alignment, no ``-m-``: the decision in docs/pgs.md). A guard of the rule, with
    bcftools as its oracle (left_align itself is session 56's)."""
    from trd_spark.pgs.reference_fasta import ReferenceFasta

    multi = [((2002, "TT", "T,TTT"), (2000, "AT", "A,ATT"), "0/1\t0/0\t0/0"),
             ((1004, "GAG", "G,TAG"), (1002, "GAG", "G,GAT"), "0/1\t0/0\t0/0"),
             ((1006, "G", "GAG,T"), (1006, "G", "GAG,T"), "0/1\t0/0\t0/0")]
    records = RECORDS + multi
    got = sorted(bcftools_norm(tmp_path, fasta, vcf(False, records)))
    assert got == sorted(norm for _, norm, _ in records)
    ref = ReferenceFasta.open(fasta, "d.vcf")
    for (p, r, a), (q, s, b), _ in records:
        assert ref.left_align("chr1", p, [r, *a.split(",")]) == (q, [s, *b.split(",")])


def test_right_anchored_records_and_the_scores_own_indels_left_aligned(hl, fasta):
    """On the rows a Hail route collects (the written records split): without the FASTA the three
    right-anchored records' score sites are plain not_found and the score's two own indels written
    not left-aligned not_found_unnormalised; with it (``left_aligned_sites`` on the score,
    ``ShiftWindows`` of the moved sites, ``left_aligned_rows``) all five are matched, four records
    moved (the three right-anchored and the one shifted 100 bases), two score sites moved, and
    every match flagged ``left_aligned`` (5000's record is as written, its score site moved); the
    score file's alleles come back after the match (``written_alleles``). Before this commit: right-anchored records were not moved (not_found) and the score's
    sites were never left-aligned (no ``left_aligned_sites``)."""
    from test_pgs_vds_shift_s56 import sites_frame

    from trd_spark.pgs import matching
    from trd_spark.pgs.matching import ShiftWindows, left_aligned_rows, match_sites_frame, split_file_rows
    from trd_spark.pgs.reference_fasta import ReferenceFasta

    rg = hl.get_reference("GRCh38")
    written = pd.DataFrame({"contig": "chr1", "position": [w[0] for w, _, _ in RECORDS],
                            "alleles_json": [json.dumps([w[1], *w[2].split(",")]) for w, _, _ in RECORDS]})
    rows = split_file_rows(written, rg.contigs)
    sites = sites_frame([r[:4] for r in ROWS])
    assert match_sites_frame(sites, rows, keep_ambiguous=False)["match_type"].tolist() == [r[5] for r in ROWS]
    ref = ReferenceFasta.open(fasta, "d.vcf")
    moved_sites, n_sites = matching.left_aligned_sites(sites, ref)
    assert n_sites == 2
    assert list(zip(moved_sites["position"], moved_sites["effect_allele"], moved_sites["other_allele"]))[3:] == [
        (5000, "CA", "C"), (6000, "G", "GT")]
    near = ShiftWindows.of(hl, moved_sites, "GRCh38", ref)
    seen, moved = left_aligned_rows(rows, ref, near, rg.global_positions_dict)
    assert moved == 4
    assert list(zip(seen["site_position"], seen["site_ref"], seen["site_alt"])) == [n for _, n, _ in RECORDS]
    got = match_sites_frame(moved_sites, seen, keep_ambiguous=False, left_aligned=True)
    assert got["match_type"].tolist() == [r[4] for r in ROWS]
    assert got[matching.LEFT_ALIGNED].tolist() == [True] * 5
    back = matching.written_alleles(got)
    assert back["effect_allele"].tolist() == [r[1] for r in ROWS] and back["other_allele"].tolist() == [r[2] for r in ROWS]


def test_a_score_pair_the_fasta_does_not_hold_stays_as_written(hl, fasta):
    """A score indel written shifted right whose alleles are neither the FASTA's bases (``5100
    GG/G``: another build, or two alts of one site) is not moved: matched as without the FASTA;
    one whose effect allele is the FASTA's (``2003 T/TT``: no insertion) moves, effect and other
    alleles each to its own left-aligned form (``2000 A/AT``). No ``left_aligned_sites`` before."""
    from test_pgs_vds_shift_s56 import sites_frame

    from trd_spark.pgs import matching
    from trd_spark.pgs.reference_fasta import ReferenceFasta

    sites = sites_frame([(5100, "GG", "G", 1.0), (2003, "T", "TT", 1.0)])
    out, n = matching.left_aligned_sites(sites, ReferenceFasta.open(fasta, "d.vcf"))
    assert n == 1
    assert list(zip(out["position"], out["effect_allele"], out["other_allele"])) == [(5100, "GG", "G"),
                                                                                      (2000, "A", "AT")]


def test_an_alt_another_alt_keeps_in_place_is_counted_not_found_unnormalised(hl, fasta):
    """A multi-allelic record whose SNV alt keeps its shifted deletion from moving (``1004 GAG>G,TAG``:
    bcftools norm -f writes ``1002 GAG>G,GAT``, the first test) leaves the score's left-aligned
    ``1000 C/CAG`` not found; with the FASTA it is counted ``not_found_unnormalised`` (with the WARNING
    that says to split the records first), as without the FASTA, not plain ``not_found``; the SNV
    ``1004 G/T`` is matched either way. Before this commit the rule was off with the FASTA: not_found."""
    from test_pgs_vds_shift_s56 import sites_frame

    from trd_spark.pgs import matching
    from trd_spark.pgs.matching import ShiftWindows, left_aligned_rows, match_sites_frame, split_file_rows
    from trd_spark.pgs.reference_fasta import ReferenceFasta

    rg = hl.get_reference("GRCh38")
    rows = split_file_rows(pd.DataFrame({"contig": "chr1", "position": [1004],
                                         "alleles_json": [json.dumps(["GAG", "G", "TAG"])]}), rg.contigs)
    sites = sites_frame([(1000, "C", "CAG", 1.0), (1004, "T", "G", 1.0)])
    want = ["not_found_unnormalised", "ref_alt"]
    assert match_sites_frame(sites, rows, keep_ambiguous=False)["match_type"].tolist() == want
    ref = ReferenceFasta.open(fasta, "d.vcf")
    seen, moved = left_aligned_rows(rows, ref, ShiftWindows.of(hl, sites, "GRCh38", ref), rg.global_positions_dict)
    assert moved == 1
    assert set(zip(seen["site_position"], seen["site_ref"], seen["site_alt"])) == {(1002, "GAG", "G"),
                                                                                  (1002, "GAG", "GAT")}
    assert match_sites_frame(sites, seen, keep_ambiguous=False, left_aligned=True)["match_type"].tolist() == want
    assert seen[matching.STILL_SHIFTED].tolist() == [alt == "G" for alt in rows["alt"]]


def test_one_variant_listed_left_aligned_and_shifted_is_a_duplicate_named_as_written(hl, fasta):
    """A score listing one variant twice, left-aligned (``1000 C/CAG``, line 6) and shifted right
    (``1002 G/GAG``, line 7): with the FASTA both are the record ``1000 CAG>C``, so its weight would
    count twice; ``pgs.duplicate_variants: error`` names both lines with their alleles as the file
    writes them, ``first`` keeps line 6 (one row dropped). Before this commit line 7 was never moved
    (not_found_unnormalised) and the variant was scored once without a word."""
    from test_pgs_vds_shift_s56 import sites_frame

    from trd_spark.errors import InputDataError
    from trd_spark.pgs import matching
    from trd_spark.pgs.matching import ShiftWindows, left_aligned_rows, match_sites_frame, split_file_rows
    from trd_spark.pgs.reference_fasta import ReferenceFasta

    rg = hl.get_reference("GRCh38")
    rows = split_file_rows(pd.DataFrame({"contig": "chr1", "position": [1000],
                                         "alleles_json": [json.dumps(["CAG", "C"])]}), rg.contigs)
    ref = ReferenceFasta.open(fasta, "d.vcf")
    sites, _ = matching.left_aligned_sites(sites_frame([(1000, "C", "CAG", 1.0), (1002, "G", "GAG", 1.0)]), ref)
    seen, _ = left_aligned_rows(rows, ref, ShiftWindows.of(hl, sites, "GRCh38", ref), rg.global_positions_dict)
    with pytest.raises(InputDataError) as e:
        match_sites_frame(sites, seen, keep_ambiguous=False, left_aligned=True)
    assert "lines 6 (C/CAG) and 7 (G/GAG)" in str(e.value) and "p.txt:7" in str(e.value), str(e.value)
    kept = match_sites_frame(sites, seen, keep_ambiguous=False, left_aligned=True, duplicate_variants="first")
    assert kept.attrs[matching.DUPLICATES_DROPPED] == {"P": 1}


def plink2_sums(tmp_path) -> dict[int, float]:
    """plink2 --score on the hand-left-aligned VCF (IDs chrom:pos), the effect alleles as it writes them."""
    (tmp_path / "norm.vcf").write_text(vcf(True))
    (tmp_path / "p2.tsv").write_text("ID\tA1\tW\n" + "".join(
        f"1:{norm[0]}\t{r[6]}\t{r[3]}\n" for r, (_, norm, _) in zip(ROWS, RECORDS, strict=True)))
    subprocess.run(["plink2", "--vcf", str(tmp_path / "norm.vcf"), "--set-all-var-ids", "@:#", "--score",
                    str(tmp_path / "p2.tsv"), "1", "2", "3", "header-read", "cols=+scoresums", "no-mean-imputation",
                    "--threads", "1", "--out", str(tmp_path / "p2")], check=True, capture_output=True)
    out = pd.read_csv(tmp_path / "p2.sscore", sep="\t").rename(columns={"#IID": "IID"})
    return {int(i): float(s) for i, s in zip(out["IID"], out["W_SUM"], strict=True)}


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is the oracle")
def test_stage_scores_right_anchored_and_score_side_indels_as_plink2(hl, spark, tmp_path, fasta):
    """The stage with ``pgs.reference_fasta`` on the VCF (Hail's rows, collected at the score's
    left-aligned loci and in their windows) and on its .pgen (the native variant list): all five
    sites matched, the sums equal plink2's on the hand-left-aligned VCF and the hand-worked ones,
    variant_matches shows the score file's own alleles and position, and the manifest's note counts
    4 records, 2 score indels and 5 variants matched thanks to the FASTA. Before this commit: three
    not_found and two not_found_unnormalised (no score, match rate 0), and no note."""
    from test_field_cases_pgs import case_config, published_frame

    from trd_spark.pgs import stage
    from trd_spark.pgs.matching import variant_matches_pandas

    want = plink2_sums(tmp_path)
    assert want == pytest.approx(SUMS, abs=1e-9)
    (tmp_path / "d.vcf").write_text(vcf(False))
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "PGS995703.txt").write_text(SCORE)
    subprocess.run(["plink2", "--vcf", str(tmp_path / "d.vcf"), "--make-pgen", "--threads", "1", "--out",
                    str(tmp_path / "g")], check=True, capture_output=True)
    for name, fmt, path in (("vcf", "vcf", tmp_path / "d.vcf"), ("pgen", "pgen", tmp_path / "g")):
        run = tmp_path / f"run_{name}"
        run.mkdir()
        cfg = case_config(run, str(path), f"{tmp_path}/scores/*.txt", fmt=fmt,
                          extra_pgs=f"  reference_fasta: {fasta}\n  missing_genotypes: zero\n")
        files = stage.load_scoring_files(spark, cfg, "GRCh38")
        r = stage.match_dataset(hl, spark, cfg, "d", files)
        log = variant_matches_pandas(r.frame, "d").sort_values("pos")
        assert list(zip(log["pos"].astype(int), log["effect_allele"], log["other_allele"], log["match_type"])) == [
            (p, e, o, t) for p, e, o, _, t, *_ in ROWS], name
        assert r.left_aligned == {"genotype_records": 4, "score_indels": 2,
                                  "matched_by_score": {"PGS995703": 5}}, name
        assert stage.left_aligned_notes([r]) == {"d": r.left_aligned}
        scores = published_frame(stage.scores_of_dataset(hl, spark, cfg, r))
        assert len(scores) == 3, name
        for row in scores.itertuples():
            assert row.score_sum == pytest.approx(want[int(row.person_id)], abs=1e-6), (name, row.person_id)
