"""PGS shapes of the session 55 fuzz (helper pgsfuzz): genotypes not left-aligned.

Session 54 counted a score indel written shifted right as ``not_found_unnormalised``; the
reverse, a left-aligned score indel against a genotype file whose row is written shifted right
(a VCF never run through ``bcftools norm -f``), was plain ``not_found`` with nothing said. Now
``matching.shifted_genotype_indels`` tells it from the two rows' alleles (the same length,
the score's sequence rotated by the shift, the row's anchor its sequence's last base), on the
native routes' whole variant list and on the rows Hail's routes collect near the score's
indels (``matching.ShiftWindows``); never scored (only the reference sequence makes it sure).

The stretch used (chr1, GRCh38): 999 T, 1000 C, 1001-1006 AGAGAG, 1007 T; 2000 A, 2001-2003 TTT,
2004 G. Genotype rows, written right-aligned: 1004 GAG>G (the AG at 1005-1006 deleted: the
left-aligned 1000 CAG>C) and 2003 T>TT (one more T: the left-aligned 2000 A>AT); 3000 A>AC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Score rows: (position, effect, other, weight, match type wanted).
ROWS = [
    (1000, "C", "CAG", 1.0, "not_found_unnormalised"),   # left-aligned; the genotypes' 1004 GAG>G
    (2000, "AT", "A", 0.5, "not_found_unnormalised"),    # left-aligned; the genotypes' 2003 T>TT
    (1000, "CGA", "C", 0.25, "not_found"),               # GA inserted: not the rows' AG (rotated by 4: GA)
    (3000, "AC", "A", 0.125, "ref_alt"),                 # as written
]
SCORE = ("#pgs_id=PGS995501\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\t"
         "effect_weight\n" + "".join(f"1\t{p}\t{e}\t{o}\t{w}\n" for p, e, o, w, _ in ROWS))
VCF = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
       '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
       "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003\n"
       "chr1\t1004\tv1\tGAG\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\n"
       "chr1\t2003\tv2\tT\tTT\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1\n"
       "chr1\t3000\tv3\tA\tAC\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1\n")


def test_shifted_genotype_rows_are_told_from_the_alleles():
    """The rule on minimal pairs: a left-aligned score indel and a genotype row within the
    window, the same length, its sequence the score's rotated by the shift, its anchor its
    sequence's last base. Before this commit there was no such rule."""
    from trd_spark.pgs.matching import shifted_genotype_indels

    rows = pd.DataFrame({"contig": ["chr1", "chr1", "chr1", "chr2", "chr1"],
                         "position": [102, 201, 150, 102, 402],
                         "ref": ["GAG", "A", "C", "GAG", "GCG"], "alt": ["G", "AA", "T", "G", "G"]})
    cases = [  # (contig, position, effect, other, wanted)
        ("chr1", 100, "C", "CAG", True),    # CAGAG: the AG deleted 2 bases on
        ("chr1", 200, "CA", "C", True),     # CAA: one more A, a base on (insertion or deletion reading)
        ("chr1", 300, "C", "CAG", False),   # no row near
        ("chr2", 100, "C", "CGA", False),   # GA rotated by 2 is GA, the row's AG: another indel
        ("chr1", 100, "C", "CA", False),    # another length
        ("chr1", 399, "T", "TCG", False),   # 402 GCG>G is CG, 3 bases on: rotated GC
        ("chr1", 104, "G", "GAG", False),   # itself not left-aligned (session 54's rule, not this one)
        ("chr1", 90, "C", None, False),     # no other allele
    ]
    got = shifted_genotype_indels(np.array([c[0] for c in cases], dtype=object), np.array([c[1] for c in cases]),
                                  np.array([c[2] for c in cases], dtype=object),
                                  np.array([c[3] for c in cases], dtype=object), rows)
    assert got.tolist() == [c[4] for c in cases]


def test_genotypes_not_left_aligned_are_counted_apart(hl, spark, tmp_path, caplog):
    """The stage on the stretch, on the VCF (Hail's rows, collected at the score loci and, for
    this, near the score's indels) and its .pgen (plink2 keeps the records as written; the
    native variant list): the two left-aligned score indels whose genotype rows are written
    right-aligned are ``not_found_unnormalised`` (before this commit: ``not_found``, no
    WARNING), an indel the rows' alleles tell apart stays ``not_found``, nothing is scored but
    3000's row; the WARNING names the score, the count and the first line with the genotypes' side."""
    from test_pgs_fuzz_s54 import matched_on_vcf_and_pgen

    for name, r, warned in matched_on_vcf_and_pgen(hl, spark, tmp_path, caplog, VCF, SCORE, "PGS995501"):
        sites = r.frame.sites
        got = dict(zip(zip(sites["pos"].astype(int), sites["effect_allele"]), sites["match_type"]))
        assert got == {(p, e): t for p, e, _, _, t in ROWS}, name
        row = r.summary.iloc[0]
        assert (row.n_variants, row.n_matched, row.n_not_found) == (4, 1, 3), name
        assert len(warned) == 1 and "PGS995501: 2 indels" in warned[0], (name, warned)
        assert "first at line 4: chr1:1000 C/CAG, the genotypes' row shifted right" in warned[0], warned[0]


def test_rows_near_score_indels_read_from_mt_files_equal_hails_rows_job(hl, tmp_path):
    """The rows Hail's routes collect near the score's left-aligned indels (``ShiftWindows``:
    indels written not left-aligned, flagged ``SHIFT_ONLY``) are the same from Hail's rows job
    (``genotype_rows_at``) and from a local MatrixTable's own files (``file_rows_at``): 1004
    GAG>G, 2003 T>TT and the multi-allelic 2002 TT>T,TTT; not a left-aligned indel near (1050
    A>AC), not a shifted one far (5000 G>GG), and 3000 (a score locus) unflagged. Before this
    commit neither took ``near``."""
    from trd_spark.pgs import mt_entries
    from trd_spark.pgs.matching import SHIFT_ONLY, ScoreLoci, ShiftWindows, file_rows_at, genotype_rows_at

    extra = ("chr1\t1050\tv4\tA\tAC\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0\n"
             "chr1\t2002\tv5\tTT\tT,TTT\t.\tPASS\t.\tGT\t0/1\t0/2\t0/0\n"
             "chr1\t5000\tv6\tG\tGG\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0\n")
    lines = (VCF + extra).splitlines(keepends=True)
    head, body = [x for x in lines if x.startswith("#")], [x for x in lines if not x.startswith("#")]
    vcf = tmp_path / "d.vcf"
    vcf.write_text("".join(head + sorted(body, key=lambda x: int(x.split("\t")[1]))))
    path = str(tmp_path / "rows.mt")
    hl.import_vcf(str(vcf), reference_genome="GRCh38").select_rows().select_entries("GT").write(path)
    calls = hl.read_matrix_table(path)
    sites = pd.DataFrame({"contig": "chr1", "position": [p for p, *_ in ROWS],
                          "effect_allele": [e for _, e, *_ in ROWS], "other_allele": [o for _, _, o, *_ in ROWS]})
    near = ShiftWindows.of(hl, sites, "GRCh38")
    loci = ScoreLoci.of(hl, sites, "GRCh38")
    rg = hl.get_reference("GRCh38")
    hails = genotype_rows_at(hl, calls.rows().select(), loci, row_numbers=True, near=near)
    frame = mt_entries.file_rows(path)
    ours = file_rows_at(frame, loci, rg.global_positions_dict, rg.contigs, near)
    assert ours is not None
    pd.testing.assert_frame_equal(ours[list(hails.columns)], hails, check_dtype=False)
    only = hails[hails[SHIFT_ONLY]]
    assert sorted(set(only["site_position"].astype(int))) == [1004, 2002, 2003]
    assert sorted(set(hails.loc[~hails[SHIFT_ONLY], "site_position"].astype(int))) == [3000]


def test_liftover_placed_harmonised_rows_on_an_inverted_block_are_left_unplaced():
    """A harmonised row the Catalog placed by liftover (``hm_source`` liftover) on a region
    inverted between its author build and hm_pos's: pgs-harmonizer hands the 1-based
    chr_position to pyliftover's 0-based ``convert_coordinate``, whose answer on a negative-strand
    block (target_size - 1 - position) is 2 bases left of the variant, so a single-base pair there
    is no longer kept for a strand flip (before this commit it was matched at hm_pos, 2 bases
    off); rows placed by rsID (``ENSEMBL``) on the region, and liftover rows on a plus-strand
    block, keep theirs. GRCh37 20,000,100-20,000,400 on a block with x + y = 30,000,000 (rsID
    rows exact), the liftover rows' sums 2 less."""
    from trd_spark.pgs.scoring_files import parse_scoring_file

    rows = [  # (chr_position, hm_source, hm_pos, effect, other, placed?)
        (20000100, "ENSEMBL", 9999900, "A", "G", True),
        (20000200, "ENSEMBL", 9999800, "C", "A", True),
        (20000300, "liftover", 9999698, "A", "G", False),
        (20000400, "liftover", 9999598, "T", "C", False),
        (1010000, "liftover", 1000000, "A", "G", True),   # a plus-strand block: exact
        (1020000, "liftover", 1010000, "C", "T", True),
    ]
    body = "".join(f"1\t{x}\t{e}\t{o}\t0.{k + 1}\t{s}\t1\t{y}\n" for k, (x, s, y, e, o, _) in enumerate(rows))
    text = ("#pgs_id=PGS995502\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\nchr_name\tchr_position\t"
            "effect_allele\tother_allele\teffect_weight\thm_source\thm_chr\thm_pos\n" + body)
    sf = parse_scoring_file(text, source="hm.txt", target_build="GRCh38")
    v = sf.variants.sort_values("line")
    assert v["pos"].notna().tolist() == [r[5] for r in rows]
    assert sf.n_unplaced == 2
    note = [n for n in sf.notes if "opposite directions" in n]
    assert len(note) == 1 and note[0].startswith("2 variant rows") and "hm_source" in note[0], note
