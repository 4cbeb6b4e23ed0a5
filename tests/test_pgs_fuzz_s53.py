"""PGS shapes found by the session 53 fuzz (helper pgsfuzz, benchmarks/diff_pgs_kinds.py).

``--liftover-minus``: a GRCh37 scoring file lifted through a chain whose block is on the
negative strand (the region inverted between builds). Hail's ``hl.liftover`` lifts one base;
a multi-base allele's bases run backwards there, so its first base lands on the last place of
its target span.
"""

from __future__ import annotations

import pandas as pd
from test_pgs_inputs import CHAIN  # chr1: GRCh37 10,001-11,000 -> GRCh38 1-1,000 (+); 20,001-21,000 -> 1,000-1 (-)

# GRCh37 rows (chr1) and where each should land on GRCh38 (None: liftover_failed).
ROWS = [
    ("1", 10100, "AG", "CG", 100),   # plus strand, an SNV written with one more base: unchanged (100)
    ("1", 20401, "C", "A", 600),     # minus strand SNV: GRCh38 600, alleles complemented (G/T)
    ("1", 20500, "CG", "CA", 500),   # minus strand AG/CG-style pair: GRCh37 20,500-20,501 is GRCh38 501-500
    ("1", 20600, "A", "AT", None),   # minus strand insertion: its anchor base ends up last
    ("1", 20700, "GA", "G", None),   # minus strand deletion
    ("1", 20800, "AC", "", None),    # minus strand, a multi-base effect allele without other allele
    ("1", 21000, "AG", "AC", None),  # minus strand, its second base past the block's end (21,000)
    ("1", 20900, "T", "", 101),      # minus strand, an effect allele alone: its base
]


def _sites(hl, spark, tmp_path):
    from trd_spark.config import LiftoverSettings
    from trd_spark.pgs import matching
    from trd_spark.pgs.scoring_files import parse_scoring_file

    chain = tmp_path / "minus.over.chain"
    chain.write_text(CHAIN)
    body = "".join(f"{c}\t{p}\t{e}\t{o}\t0.{k + 1}\n" for k, (c, p, e, o, _) in enumerate(ROWS))
    text = ("#pgs_id=PGS995301\n#genome_build=GRCh37\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n" + body)
    sf = parse_scoring_file(text, source="minus.txt", target_build="GRCh38", liftover=True)
    sites = matching.score_sites(hl, spark, [sf], "GRCh38", liftover=LiftoverSettings(chain_file=str(chain)))
    return sites.set_index(sites["member_weight"].map(lambda w: round(float(w[0]) * 10) - 1)).sort_index()


def test_negative_strand_rows_are_placed_at_their_span_or_fail(hl, spark, tmp_path):
    """Before this commit (89c7a7e): the ``CG/CA`` row landed at 501 (its first base's lift, the
    span's last place), where its minimal form C/T sat one base right of the SNV it names
    (not_found, or another variant's alleles counted had one been there), the row whose
    second base leaves the block was placed at GRCh38 1, and the indels were placed with
    reverse-complemented alleles anchored on the wrong side (never the target's indel).
    Now the pair is at 500, and the indel rows, the multi-base effect allele without other
    allele and the pair leaving its block are ``liftover_failed`` (counted as not found)."""
    from trd_spark.pgs import matching

    sites = _sites(hl, spark, tmp_path)
    got = {k: (None if sites.loc[k, "liftover_failed"] else int(sites.loc[k, "position"])) for k in sites.index}
    assert got == {k: row[4] for k, row in enumerate(ROWS)}
    assert sites["lift_negative_strand"].tolist() == [False, True, True, False, False, False, False, True]
    position, ea, oa, _, _ = matching.minimal_site_alleles(sites.reset_index(drop=True))
    assert (int(position[2]), ea[2], oa[2]) == (500, "C", "T")  # CG/CA reverse-complemented: CG/TG at 500
    assert (int(position[1]), ea[1], oa[1]) == (600, "G", "T")


def test_negative_strand_pair_scores_the_snv_it_names(hl, spark, tmp_path):
    """The matcher on genotype rows C>T at GRCh38 500, a decoy C>T at 501 (where the ``CG/CA`` row
    landed before this commit) and G>T at 600: the pair (weight 0.3) matches the row at 500, its
    effect allele the REF; before, it matched the decoy at 501 (the wrong variant scored)."""
    from trd_spark.pgs import matching

    sites = _sites(hl, spark, tmp_path).reset_index(drop=True)
    rows = pd.DataFrame({"contig": ["chr1"] * 3, "position": [500, 501, 600], "ref": ["C", "C", "G"],
                         "alt": ["T", "T", "T"]})
    m = matching.match_sites_frame(sites, rows, keep_ambiguous=False)
    by_weight = {round(float(w[0]), 1): (t, int(r)) for w, t, r in
                 zip(m["member_weight"], m["match_type"], m["matched_row"], strict=True)}
    assert by_weight[0.3] == ("alt_ref", 0)  # effect C (CG's first base, complemented back) = REF at 500
    assert by_weight[0.2] == ("alt_ref", 2)  # C/A complemented: G/T
    assert {by_weight[w][0] for w in (0.4, 0.5, 0.6, 0.7)} == {"liftover_failed"}
