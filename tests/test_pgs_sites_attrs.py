"""The score sites frame's metadata (``score_sites``' ``attrs``: pgs_ids, score_files,
rsid_only_files, duplicates_dropped) is never read with a default (session 24): pandas drops
``attrs`` in a ``merge`` (and a ``concat`` of frames with other attrs, a frame built anew), and
the defaults read before gave a wrong count silently: no scores in the summary, the duplicate
rows dropped so far forgotten, rsID-only sites left unplaced (so 'not found')."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trd_spark.pgs import matching


def _sites() -> pd.DataFrame:
    """Two sites of two scores as ``score_sites`` gives them (member arrays, attrs), one of an
    rsID-only file (no position yet); one score row of PGS1 already dropped as a duplicate."""
    sites = pd.DataFrame({
        "chrom": ["1", None], "pos": pd.array([100, None], dtype="Int32"), "effect_allele": ["A", "G"],
        "other_allele": ["G", "T"], "rsid": [None, "rs2"], "positions_build": ["GRCh38", "GRCh38"],
        "by_rsid": [False, True], "contig": ["chr1", None], "position": pd.array([100, None], dtype="Int64"),
        "lift_negative_strand": False, "liftover_failed": False,
        "member_score_index": [np.array([0, 1], np.int32), np.array([1], np.int32)],
        "member_weight": [np.array([0.5, 1.0]), np.array([2.0])],
        "member_line": [np.array([3, 3], np.int64), np.array([4], np.int64)],
    })
    sites.attrs.update({"pgs_ids": ["PGS1", "PGS2"], "score_files": ["a.txt", "b.txt"],
                        "rsid_only_files": ["b.txt"], matching.DUPLICATES_DROPPED: {"PGS1": 1}})
    return sites


def test_a_sites_frame_that_lost_its_attrs_is_an_error_not_a_wrong_count():
    sites = _sites()
    rows = pd.DataFrame({"contig": ["chr1", "chr2"], "position": [100, 7], "ref": ["G", "T"], "alt": ["A", "G"],
                         "rsid": ["rs1", "rs2"]})
    kept = matching.frame_matches(sites, rows)
    assert (kept.pgs_ids, kept.duplicates_dropped) == (["PGS1", "PGS2"], {"PGS1": 1})
    assert matching.place_sites_by_rsid(sites, rows)["position"].tolist()[1] == 7

    # A column added by a merge: pandas 2.x returns the merged frame without attrs.
    merged = sites.merge(pd.DataFrame({"chrom": ["1"], "note": ["x"]}), on="chrom", how="left")
    assert merged.attrs == {}
    # Before: FrameMatches with pgs_ids [] (the summary had no score) and duplicates_dropped {}
    # (PGS1's dropped row forgotten); the rsID-only site returned unplaced (matched as not found).
    with pytest.raises(ValueError, match=r"lost its attrs\['pgs_ids'\]"):
        matching.frame_matches(merged, rows)
    with pytest.raises(ValueError, match=r"lost its attrs\['rsid_only_files'\]"):
        matching.place_sites_by_rsid(merged, rows)
    dropped = pd.DataFrame({"site": [0], "score": [1], "line": [3]})
    with pytest.raises(ValueError, match=r"lost its attrs\['pgs_ids'\]"):
        matching.drop_members(merged, dropped, "a test")
    # With its attrs, the drop adds to the count carried so far.
    assert matching.drop_members(sites, dropped, "a test").attrs[matching.DUPLICATES_DROPPED] == {"PGS1": 1, "PGS2": 1}


def test_the_variant_index_carries_its_line_numbers_beside_the_frame(tmp_path):
    """``variant_index`` returns a ``VariantIndex``: the frame plus ``first_line`` (and
    ``allele_idx_offsets``, ``variant_numbers``), no longer the frame's ``attrs``, which the
    locus check read with a default of line 1. Before (c765c14), the index frame after a
    ``merge`` (attrs dropped) named this .pvar's bad variant ``g.pvar:3`` (variant 2 + the default
    1) instead of its line 5; ``pgen_engine.score`` read ``attrs["allele_idx_offsets"]``."""
    import dataclasses

    from trd_spark.errors import InputDataError
    from trd_spark.pgs import pgen_engine

    (tmp_path / "g.pvar").write_text("##a\n#CHROM\tPOS\tID\tREF\tALT\n1\t5\trs1\tA\tG\n1\t6\trs2\tA\tG,C\n"
                                     "chr99\t5\trs3\tA\tG\n")
    variants = pgen_engine.variant_index(pgen_engine.PlinkFiles("pgen", str(tmp_path / "g")), "GRCh38")
    assert (variants.first_line, variants.variant_numbers, variants.multiallelic_loci) == (3, False, ())
    assert variants.allele_idx_offsets is not None and variants.allele_idx_offsets.tolist() == [0, 2, 5, 7]
    merged = variants.frame.merge(pd.DataFrame({"rsid": ["rs1"], "note": ["x"]}), on="rsid", how="left")
    assert merged.attrs == {}
    with pytest.raises(InputDataError, match=r"g\.pvar:5: chr99:5 is not a GRCh38 locus"):
        pgen_engine.check_variant_loci(dataclasses.replace(variants, frame=merged), {"chr1": 1000}, "GRCh38",
                                       str(tmp_path / "g.pvar"))
