"""PGS session 56 (helper pgsvds): a genotype row written shifted right, on a VDS too.

Session 55 (baa424f) counted a left-aligned score indel whose genotype row is written shifted
right in a repeat (a file never run through ``bcftools norm -f``) as ``not_found_unnormalised``
with a WARNING on every route but a VDS: densified at the score loci alone, it never saw the row
to the right (plain ``not_found``). Now the VDS route reads its variant data's rows in the
windows near the score's indels (``matching.ShiftWindows.intervals``: only the partitions there)
as the other Hail routes do.

The stretch is test_pgs_fuzz_s55's (chr1, GRCh38): 999 T, 1000 C, 1001-1006 AGAGAG, 1007 T;
2000 A, 2001-2003 TTT, 2004 G; the genotype rows 1004 GAG>G, 2003 T>TT (written right-aligned)
and 3000 A>AC; plus two homopolymers at the window's bound (``ROWS`` below).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from test_pgs_fuzz_s55 import ROWS as ROWS55
from test_pgs_fuzz_s55 import VCF as VCF55

# The window's bound (``matching.SHIFT_WINDOW``, 100 bases): 5000 C, 5001-5100 A (100), 5101 G:
# the row 5100 A>AA is the left-aligned 5000 C/CA shifted 100 bases (counted); 6000 G, 6001-6101
# T (101), 6102 C: the row 6101 T>TT is 6000 G/GT shifted 101 (plain not_found: beyond the window).
ROWS = [*ROWS55, (5000, "CA", "C", 0.5, "not_found_unnormalised"), (6000, "G", "GT", 0.5, "not_found")]
SCORE = ("#pgs_id=PGS995601\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\t"
         "effect_weight\n" + "".join(f"1\t{p}\t{e}\t{o}\t{w}\n" for p, e, o, w, _ in ROWS))
VCF = (VCF55 + "chr1\t5100\tv4\tA\tAA\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0\n"
       "chr1\t6101\tv5\tT\tTT\t.\tPASS\t.\tGT\t0/0\t0/1\t0/0\n")


def sites_frame(rows: list[tuple]) -> pd.DataFrame:
    """``score_sites``' frame of one score on chr1 (GRCh38) holding ``rows`` ((position, effect,
    other, weight, _), one line each from line 6), as test_field_cases_round39_pgs builds it."""
    from trd_spark.pgs import matching

    n = len(rows)
    sites = pd.DataFrame({
        "chrom": ["1"] * n, "pos": pd.array([r[0] for r in rows], dtype="Int32"),
        "effect_allele": [r[1] for r in rows], "other_allele": [r[2] for r in rows], "rsid": [None] * n,
        "positions_build": ["GRCh38"] * n, "by_rsid": [False] * n, "contig": ["chr1"] * n,
        "position": pd.array([r[0] for r in rows], dtype="Int64"), "lift_negative_strand": False,
        "liftover_failed": False, "member_score_index": [np.array([0], np.int32)] * n,
        "member_weight": [np.array([r[3]]) for r in rows], "member_line": [np.array([6 + i], np.int64) for i in range(n)]})
    sites.attrs.update({"pgs_ids": ["P"], "score_files": ["p.txt"], "rsid_only_files": [],
                        matching.DUPLICATES_DROPPED: {}})
    return sites


def test_vds_counts_genotype_rows_shifted_right(hl, spark, tmp_path, caplog):
    """The stage on the stretch as a VDS (every row in its variant data, hom-ref calls as
    reference blocks): the three left-aligned score indels whose rows are written right-aligned
    within the window (100 bases) are ``not_found_unnormalised`` with the WARNING the other
    routes give (before this commit: plain ``not_found``, no WARNING); the indel the rows'
    alleles tell apart, and the one shifted 101 bases, stay ``not_found``; 3000's row is matched."""
    from test_field_cases_pgs import case_config
    from test_pgs_genotypes import write_vds

    from trd_spark.pgs import stage

    (tmp_path / "d.vcf").write_text(VCF)
    write_vds(hl, hl.import_vcf(str(tmp_path / "d.vcf"), reference_genome="GRCh38"), str(tmp_path / "d.vds"))
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "PGS995601.txt").write_text(SCORE)
    run = tmp_path / "run"
    run.mkdir()
    cfg = case_config(run, str(tmp_path / "d.vds"), f"{tmp_path}/scores/*.txt", fmt="vds")
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        r = stage.match_dataset(hl, spark, cfg, "d", files)
    warned = [m.getMessage() for m in caplog.records if "not left-aligned" in m.getMessage()]
    sites = r.frame.sites
    got = dict(zip(zip(sites["pos"].astype(int), sites["effect_allele"]), sites["match_type"]))
    assert got == {(p, e): t for p, e, _, _, t in ROWS}
    row = r.summary.iloc[0]
    assert (row.n_variants, row.n_matched, row.n_not_found) == (6, 1, 5)
    assert len(warned) == 1 and "PGS995601: 3 indels" in warned[0], warned
    assert "first at line 4: chr1:1000 C/CAG, the genotypes' row shifted right" in warned[0], warned[0]


def test_window_bound_is_the_same_on_the_whole_list_and_on_hails_windows(hl):
    """A shift of 100 bases is counted, 101 is not, on the native routes' whole variant list
    (``match_sites_frame`` on every row) and on the rows a Hail route collects (``ShiftWindows``'
    buckets reach past the bound; the matcher's window cuts at it): the same labels. A guard, no
    fix (passes on 6fb2847 too): the bound is pinned so that widening it on one route shows."""
    from trd_spark.pgs.matching import ShiftWindows, match_sites_frame

    sites = sites_frame(ROWS)
    body = [x.split("\t") for x in VCF.splitlines() if not x.startswith("#")]
    rows = pd.DataFrame({"contig": [b[0] for b in body], "position": [int(b[1]) for b in body],
                         "ref": [b[3] for b in body], "alt": [b[4] for b in body]})
    whole = match_sites_frame(sites, rows, keep_ambiguous=False)["match_type"].tolist()
    assert whole == [t for *_, t in ROWS]
    near = ShiftWindows.of(hl, sites, "GRCh38")
    g = hl.get_reference("GRCh38").global_positions_dict["chr1"] + rows["position"].to_numpy(np.int64) - 1
    assert near.contains(g).all()  # every row is in a bucket, 6101 too: the matcher's bound decides
    at_loci = rows["position"].isin(sites["position"]).to_numpy()
    hails = match_sites_frame(sites, rows[at_loci], keep_ambiguous=False,
                              neighbours=rows[~at_loci])["match_type"].tolist()
    assert hails == whole


def test_shift_window_intervals_cover_the_buckets(hl):
    """``ShiftWindows.intervals``: the buckets as locus intervals, consecutive buckets merged, a
    bucket over a contig's end cut at it (the first bucket of chr2 holds chr1's last bases);
    every position of a bucket inside, none outside. Before this commit there was no such method."""
    from trd_spark.pgs.matching import SHIFT_BUCKET, ShiftWindows

    rg = hl.get_reference("GRCh38")
    end1 = rg.lengths["chr1"]
    sites = pd.DataFrame({"contig": ["chr1", "chr1", "chr1", "chr2"], "position": [1000, 1090, end1 - 20, 5],
                          "effect_allele": ["C", "A", "G", "T"], "other_allele": ["CAG", "AT", "GA", "TC"]})
    near = ShiftWindows.of(hl, sites, "GRCh38")
    got = [(i.start.contig, i.start.position, i.end.contig, i.end.position) for i in near.intervals(hl, "GRCh38")]
    offsets = rg.global_positions_dict
    # Every position of each interval is in a bucket, and the positions just outside are not.
    for c, s, c2, e in got:
        assert c == c2 and 1 <= s <= e <= rg.lengths[c]
        g = np.array([offsets[c] + s - 1, offsets[c] + e - 1])
        assert near.contains(g).all()
        inside_contig = np.array([p for p in (s - 1, e + 1) if 1 <= p <= rg.lengths[c]], np.int64)
        assert not near.contains(offsets[c] + inside_contig - 1).any()
    covered = sum(e - s + 1 for _, s, _, e in got)
    assert covered == len(near.buckets) * SHIFT_BUCKET
    assert ("chr1", end1) in [(c, e) for c, _, _, e in got] and ("chr2", 1) in [(c, s) for c, s, _, _ in got]
