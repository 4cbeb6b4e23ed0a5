"""PGS field-case kinds crossed with liftover / harmonised files (session 52, helper pgskinds).

benchmarks/diff_pgs_kinds.py --liftover, seed 2: a harmonised file (hm_pos on GRCh38 beside its
GRCh37 chr_position) read with ``duplicate_variants: first`` stopped the native route (.bed, .pgen)
with ``IndexError: index 0 is out of bounds`` in the build check: the matcher's duplicate policy
had dropped every member of a site (the same variant listed again on the other strand), and
``build_positions.other_build_places`` read each placed site's first member.
"""

from __future__ import annotations

import numpy as np


def test_a_site_whose_members_the_duplicate_policy_dropped_has_no_other_place():
    """Before this commit (b13f6cc): IndexError at other_build_places' ``a[0] for a in members``.
    Now such a site is left out; the others keep their GRCh37 places."""
    from trd_spark.pgs import matching
    from trd_spark.pgs.build_positions import other_build_places
    from trd_spark.pgs.scoring_files import parse_scoring_file

    text = ("#pgs_id=PGS995201\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n"
            "1\t1000\tG\tA\t0.1\t1\t1500\n1\t2000\tT\tC\t0.2\t1\t2500\n1\t3000\tG\tA\t0.3\t1\t3500\n")
    sf = parse_scoring_file(text, source="h.txt", target_build="GRCh38")
    frame, _ = matching.score_variants_frame([sf], "GRCh38")
    sites = matching.score_sites_frame(frame)
    sites = sites.assign(contig="chr1", position=sites["pos"].astype("Int64"), lift_negative_strand=False,
                         liftover_failed=False)
    # As matching.drop_members leaves the site at 2500: every member dropped.
    empty = sites["pos"].astype("int64").to_numpy() == 2500
    for col, dtype in (("member_score_index", np.int32), ("member_weight", np.float64), ("member_line", np.int64)):
        sites[col] = [np.empty(0, dtype) if e else a for a, e in zip(sites[col], empty, strict=True)]
    at, contig, position, build = other_build_places(sites, [sf], "GRCh38")
    assert build == "GRCh37"
    assert sorted(position.tolist()) == [1000, 3000] and set(contig) == {"chr1"}
    assert not empty[at].any()
