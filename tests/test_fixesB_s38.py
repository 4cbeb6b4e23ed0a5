"""Session 38 fixesB helper: PGS site models (``matching.SiteModels``: a dominant / recessive REF
effect allele at a multi-allelic site) and the native pass's job thread.

- ``scoring.compute_scores`` refuses a weights table flagging site rows without ``site_models``
  (their members would add 0: a silent wrong score), one ValueError, as it refuses the converse.
- ``pgen_engine._collect_while``: a job that failed before ``then`` raised is that error's cause.
- Mutants of session 37's site models that tests/test_review_s37_mutants.py left alive: M11 (the
  constant of a row holding the site's REF as its alt, -2 -> -1) and M13 (the check of two
  groups sharing a row with another dosage dropped).
Cheap: the session's Spark/Hail fixture, tiny frames.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from trd_spark.errors import InputDataError
from trd_spark.pgs import pgen_engine
from trd_spark.pgs.matching import (
    DUPLICATES_DROPPED,
    EffectTypes,
    frame_matches,
    match_sites_frame,
    member_effect_types,
    score_sites,
    weight_matrices,
)
from trd_spark.pgs.scoring_files import parse_scoring_file

HAPLOID = ("chrY", "chrM")


def _weights(hl, site_group: bool):
    """A one-row ``weights_table``-shaped Table, with or without the site columns."""
    fields = {"locus": hl.locus("chr4", 5000, "GRCh38"), "alleles": ["G", "A"], "slope": [0.0], "offset": [0.0],
              "n_vars": [1]}
    if site_group:
        fields.update(site_group=0, site_coef=-1.0)
    return hl.Table.parallelize([hl.struct(**fields)]).key_by("locus", "alleles")


def test_compute_scores_refuses_site_rows_without_their_models(hl):
    """A weights table with ``site_group``/``site_coef`` and ``site_models=None``: one ValueError
    (before: accepted, and the site members, slope 0 in the additive matrices, added nothing); the
    converse (models, no flagged rows) is a ValueError too (before: a bare assert)."""
    from trd_spark.pgs.matching import SiteModels
    from trd_spark.pgs.scoring import compute_scores

    # One biallelic row at the weights' locus, one sample: what the pass would score.
    mt = hl.utils.range_matrix_table(1, 1)
    mt = mt.key_rows_by(locus=hl.locus("chr4", 5000, "GRCh38"), alleles=["G", "A"])
    mt = mt.key_cols_by(s=hl.str(mt.col_idx)).annotate_entries(DOSAGE=1.0)
    with pytest.raises(ValueError, match="no site_models"):
        compute_scores(hl, mt, _weights(hl, True), ["PGS1"], [1], chr_y=False, chr_m=False)
    sm = SiteModels(rows=np.array([0]), coef=np.array([-1.0]), bounds=np.array([0, 1]), constant=np.array([2.0]),
                    dominant=np.ones((1, 1)), recessive=np.zeros((1, 1)))
    with pytest.raises(ValueError, match="site_models given without"):
        compute_scores(hl, mt, _weights(hl, False), ["PGS1"], [1], chr_y=False, chr_m=False, site_models=sm)


def test_a_job_failed_before_then_raised_is_its_cause(spark, tmp_path):
    """``_collect_while``: the job fails on its own (its task raises), then ``then`` raises too:
    ``then``'s error propagates with the job's failure as its ``__cause__``. Before: the job's
    error was dropped (``then``'s alone, no cause)."""
    sc = spark.sparkContext
    mark = tmp_path / "failing"

    def task(it):
        mark.write_text("")
        raise RuntimeError("the task's own failure")

    rdd = sc.parallelize(range(1), 1).mapPartitions(task)

    def then():
        started = time.monotonic()
        while not mark.exists() and time.monotonic() - started < 60:
            time.sleep(0.05)
        while sc.statusTracker().getActiveJobsIds() and time.monotonic() - started < 60:
            time.sleep(0.05)
        time.sleep(1.0)  # (the job's thread sees collect's error a moment after the job ends)
        raise ValueError("the totals failed")

    with pytest.raises(ValueError, match="the totals failed") as e:
        pgen_engine._collect_while(sc, rdd, str(tmp_path), lambda: None, then)
    assert e.value.__cause__ is not None and "the task's own failure" in str(e.value.__cause__)


# A G>A,T SNV site written as two PLINK 1 rows that do not both put its REF first (plink 1.9's A2 is
# the major allele; ``matching._swapped_row_sites``): G>A and T>G. A row-T sample's "G" is "not T".
SWAPPED_ROWS = pd.DataFrame({"contig": ["chr4", "chr4"], "position": [5000, 5000], "ref": ["G", "T"],
                             "alt": ["A", "G"]})
# Six samples' unsplit genotypes over G, A, T and the rows' alt dosages (A copies; 2 - T copies).
GENOTYPES = ["GG", "GA", "AT", "TT", "GT", "AA"]


def _site_dosages(hl, rows: pd.DataFrame, text: str):
    sf = parse_scoring_file(text, source="s.txt")
    sites = match_sites_frame(score_sites(hl, None, [sf], "GRCh38"), rows, keep_ambiguous=False)
    m = frame_matches(sites, rows)
    return weight_matrices(m, HAPLOID, effect_types=member_effect_types(m, [sf]))


def test_a_row_holding_the_sites_ref_as_its_alt_gives_two_minus_its_copies(hl):
    """``SiteModels``' D of the REF G (dominant, score 1) at the swapped-row site: D = 2 - A - T =
    constant + (-1) x A copies + (+1) x (2 - T copies), the constant 0 (2 for the REF, -2 for the row
    holding it as alt). Per sample D equals G's copies in the unsplit genotype (plink2 --score's REF
    dosage = 2 - all alt dosages), so min(D, 1) is its dominant value. Kills M11 (the row's -2 as -1:
    D one too high, AT / TT / AA scored 1)."""
    w = _site_dosages(hl, SWAPPED_ROWS, "#pgs_id=PGS993801\n#genome_build=GRCh38\n#weight_type=beta\n"
                      "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tis_dominant\n"
                      "4\t5000\tG\tA\t1.0\tTRUE\n")
    sm = w.site_models
    assert sm is not None and len(sm.constant) == 1 and sm.dominant.tolist() == [[1.0]]
    alt = {0: np.array([g.count("A") for g in GENOTYPES], float),  # row G>A: A copies
           1: np.array([2 - g.count("T") for g in GENOTYPES], float)}  # row T>G: "G" = not T
    place = {r: i for i, r in enumerate(w.rows.index)}  # (both rows used, in row order)
    d = sm.constant[0] + sum(c * alt[place[int(r)]] for r, c in zip(sm.rows, sm.coef))
    assert d.tolist() == [g.count("G") for g in GENOTYPES]
    assert np.minimum(d, 1).tolist() == [1, 1, 0, 0, 1, 0]


def test_two_site_groups_sharing_a_row_with_other_dosages_is_an_error_at_the_line():
    """Two dominant REF-effect members whose sites' rows overlap with other dosages (rows 0 and 1
    each G>A with row 2 G>T as the other alt: row 2 would be in two groups) is one InputDataError at
    the later member's file:line, not two groups summing row 2 twice. The matcher makes no such frame
    from real rows today (a repeated row is an error before, ``check_duplicate_rows_frame``): a frame
    made by hand, as test_pgs_weight_matrices makes its frames. Kills M13 (the check dropped)."""
    rows = pd.DataFrame({"contig": ["chr4"] * 3, "position": [5000] * 3, "ref": ["G", "G", "G"],
                         "alt": ["A", "A", "T"]})
    sites = pd.DataFrame({"match_type": ["alt_ref", "alt_ref"], "matched_row": [0, 1], "effect_is_ref": [True, True],
                          "other_alt_rows": [(2,), (2,)], "other_ref_rows": [(), ()],
                          "member_score_index": [np.array([0], np.int32), np.array([0], np.int32)],
                          "member_weight": [np.array([1.0]), np.array([0.5])],
                          "member_line": [np.array([5]), np.array([6])]})
    sites.attrs.update({"pgs_ids": ["PGS993802"], DUPLICATES_DROPPED: {}})
    m = frame_matches(sites, rows)
    with pytest.raises(InputDataError, match="another multi-allelic site's REF also spans") as e:
        weight_matrices(m, HAPLOID, effect_types=EffectTypes(np.array([1, 1], np.int8), ["s.txt"]))
    assert e.value.where in ("s.txt:5", "s.txt:6")
