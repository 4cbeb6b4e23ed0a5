"""PGS shapes of the session 54 fuzz (helper pgsfuzz, benchmarks/diff_pgs_kinds.py ``--indel-repeats``).

An indel in a repeat has many written forms (VCF anchors it on the base before it, and a
left-aligned file puts it at the repeat's start: bcftools norm -f, vt normalize). plink2 --score
and pgsc_calc compare alleles as written; the matcher also compares minimal forms (docs/pgs.md
"Indel representations"). With no reference sequence a right-shifted form cannot be moved, so it
stays not found, now as ``not_found_unnormalised`` (counted in ``n_not_found``) with a WARNING
per score, told from its alleles alone: ``matching.unnormalised_indels``.

The stretch used (chr1, GRCh38): 999 T, 1000 C, 1001-1006 AGAGAG, 1007 T; 2000 A, 2001-2003 TTT,
2004 G. Genotype rows: 1000 CAG>C (AG deleted, left-aligned) and 2000 A>AT (a T inserted).
"""

from __future__ import annotations

import logging
import shutil
import subprocess

import numpy as np

# Score rows: (position, effect, other, weight, match type wanted).
ROWS = [
    (1000, "C", "CAG", 1.0, "ref_alt"),                   # the deletion as the target writes it
    (1004, "G", "GAG", 0.2, "not_found_unnormalised"),    # the same deletion right-aligned (1005-1006)
    (1005, "T", "AGT", 0.4, "not_found_unnormalised"),    # anchored on its right: REF/ALT share a suffix
    (2003, "TT", "T", 0.8, "not_found_unnormalised"),     # the insertion right-aligned
    (2000, "AT", "A", 0.16, "ref_alt"),                   # the insertion as written
    (3000, "A", "AC", 0.32, "not_found"),                 # left-aligned, absent
]
SCORE = ("#pgs_id=PGS995401\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\t"
         "effect_weight\n" + "".join(f"1\t{p}\t{e}\t{o}\t{w}\n" for p, e, o, w, _ in ROWS))
VCF = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
       '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
       "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\n"
       "chr1\t1000\tv1\tCAG\tC\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n"
       "chr1\t2000\tv2\tA\tAT\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1\n")


def test_unnormalised_indels_are_told_from_their_alleles():
    """The rule on minimal pairs (effect, other): shifts left when the anchor is the indel's
    last base; anchored on the right; else not. Before this commit there was no such rule (every
    such row was plain not_found)."""
    from trd_spark.pgs.matching import unnormalised_indels

    pairs = [("C", "CAG", False), ("GAG", "G", True), ("T", "AGT", True), ("T", "TT", True), ("A", "AT", False),
             ("C", "CAC", True), ("CAC", "C", True), ("AT", "GCC", False), ("A", None, False), ("A", "G", False),
             ("ATT", "A", False), ("ATA", "A", True), ("AGC", "A", False), ("GC", "C", True), ("TCA", "TCATCA", False)]
    got = unnormalised_indels(np.array([p[0] for p in pairs], dtype=object),
                              np.array([p[1] for p in pairs], dtype=object))
    assert got.tolist() == [p[2] for p in pairs]


def test_shifted_indels_are_counted_apart_and_never_matched(hl, spark, tmp_path, caplog):
    """The frame matcher on the stretch's rows: the right-aligned and right-anchored forms of
    the target's two indels are ``not_found_unnormalised`` (before this commit: ``not_found``,
    no WARNING), the forms as written match, an absent left-aligned indel stays ``not_found``;
    all four not found are in ``n_not_found``; the WARNING names the score, the count and the
    first such line (5: chr1:1004 G/GAG)."""
    for name, r, warned in matched_on_vcf_and_pgen(hl, spark, tmp_path, caplog, VCF, SCORE, "PGS995401"):
        sites = r.frame.sites
        got = dict(zip(sites["pos"].astype(int), sites["match_type"]))
        assert got == {p: t for p, _, _, _, t in ROWS}, name
        row = r.summary.iloc[0]
        assert (row.n_variants, row.n_matched, row.n_not_found) == (6, 2, 4), name
        assert len(warned) == 1 and "PGS995401: 3 indels" in warned[0], (name, warned)
        assert "first at line 5: chr1:1004 G/GAG" in warned[0], warned[0]
        assert "not_found_unnormalised" in warned[0]


def matched_on_vcf_and_pgen(hl, spark, tmp_path, caplog, vcf: str, score: str, pgs_id: str):
    """Yield ``(route, stage.match_dataset's result, the WARNING lines saying "not left-aligned")`` for the
    text ``vcf`` (dataset "d", GRCh38) and the scoring file ``score`` (written as ``<pgs_id>.txt``) on the VCF
    (Hail's rows) and, where plink2 is installed, on its .pgen (the native engine's variant list; plink2 keeps
    the records as written)."""
    from test_field_cases_pgs import case_config

    from trd_spark.pgs import stage

    (tmp_path / "d.vcf").write_text(vcf)
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / f"{pgs_id}.txt").write_text(score)
    shapes = {"vcf": ("vcf", tmp_path / "d.vcf")}
    if shutil.which("plink2"):
        subprocess.run(["plink2", "--vcf", str(tmp_path / "d.vcf"), "--make-pgen", "--out", str(tmp_path / "g")],
                       check=True, capture_output=True)
        shapes["pgen"] = ("pgen", tmp_path / "g")
    for name, (fmt, path) in shapes.items():
        run = tmp_path / f"run_{name}"
        run.mkdir()
        cfg = case_config(run, str(path), f"{tmp_path}/scores/*.txt", fmt=fmt)
        files = stage.load_scoring_files(spark, cfg, "GRCh38")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="trd_spark"):
            r = stage.match_dataset(hl, spark, cfg, "d", files)
        yield name, r, [m.getMessage() for m in caplog.records if "not left-aligned" in m.getMessage()]


def test_summary_counts_unnormalised_rows_as_not_found():
    """``summary_frame`` adds ``not_found_unnormalised`` to ``n_not_found`` with not_found and
    liftover_failed (before this commit the type did not exist)."""
    from trd_spark.pgs.matching import ScoreLabel, summary_frame

    got = summary_frame({"P": {"not_found": 2, "liftover_failed": 3, "not_found_unnormalised": 5, "ref_alt": 7}},
                        "d", ["P"], {"P": ScoreLabel("t", "physical")})
    assert (got.iloc[0]["n_not_found"], got.iloc[0]["n_variants"], got.iloc[0]["n_matched"]) == (10, 17, 7)


# --liftover-minus --harmonised: a harmonised file (#HmPOS_build=GRCh38, hm_pos the GRCh37 place
# lifted) keeps the author's alleles on GRCh37's strand. Rows: (chr_position, hm_pos, effect,
# other, placed?). GRCh37 20,000,100-20,000,500 lie on a block inverted on GRCh38 (x + y =
# 30,000,000); 1,010,000-1,020,000 on a plus-strand one (y = x - 10,000); 50,000,000 alone.
HARMONISED = [
    (20000100, 9999900, "A", "G", True),    # SNV: matched by strand flip, as before
    (20000200, 9999800, "A", "T", False),   # A/T: under keep_ambiguous it counted the other allele
    (20000300, 9999700, "AG", "CG", False),  # its bases run backwards: another place (C/T at 9,999,701 before)
    (20000400, 9999600, "T", "TA", False),  # an indel anchored on the wrong side
    (20000500, 9999500, "C", "", False),    # no other allele: at an A/T site its strand is unknown
    (1010000, 1000000, "A", "T", True),     # plus strand: unchanged
    (1020000, 1010000, "AG", "A", True),
    (50000000, 10000000, "AG", "CG", True),  # alone on its block: not seen, read as before
]


def test_harmonised_rows_on_an_inverted_block_are_left_unplaced_unless_a_flip_names_them():
    """Before this commit a harmonised file's rows on a region inverted between its author build
    and hm_pos's were placed at hm_pos with the author's alleles (pgsc_calc alike): an A/T row
    under keep_ambiguous counted the other allele, an AG/CG pair sat one base off its SNV (C/T
    at 9,999,701, where another variant would have been scored), indels anchored on the wrong
    side. The diff_pgs_kinds.py ``--liftover-minus --harmonised`` fuzz (seeds 1-20) found the
    matched counts apart. Now such rows (told by x + y constant between neighbours) are unplaced
    and counted in one note; single-base non-palindromic pairs keep their place."""
    from trd_spark.pgs.scoring_files import parse_scoring_file

    body = "".join(f"1\t{x}\t{e}\t{o}\t0.{k + 1}\t1\t{y}\n" for k, (x, y, e, o, _) in enumerate(HARMONISED))
    text = ("#pgs_id=PGS995402\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\nchr_name\tchr_position\t"
            "effect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n" + body)
    sf = parse_scoring_file(text, source="hm.txt", target_build="GRCh38")
    v = sf.variants.sort_values("line")
    assert v["pos"].notna().tolist() == [row[4] for row in HARMONISED]
    assert v["pos"].dropna().astype(int).tolist() == [9999900, 1000000, 1010000, 10000000]
    assert sf.n_unplaced == 4
    note = [n for n in sf.notes if "opposite directions" in n]
    assert len(note) == 1 and note[0].startswith("4 variant rows where GRCh37 and GRCh38 run"), note
