"""PGS field cases, round 2 (session 12): more inputs of the shared field-case kinds
(tests/data/field_cases/pgs/<kind>-<variant>), each with a hand-worked (and, where plink2 reads
the same file, plink2-checked) expected.tsv, run through the stage's own read -> match -> score
functions (``test_field_cases_pgs.run_scores``) on the session's Spark/Hail.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_field_cases_pgs import (
    CASES,
    assert_expected,
    case_config,
    plink2_fileset,
    run_case,
    run_scores,
    split_like_bcftools,
)

from trd_spark.pgs.matching import minimal_alleles

NONMINIMAL = "multiallelic-nonminimal-indel"


@pytest.mark.parametrize("shape", ["vcf", "mt", "pgen", "split_vcf", "split_bed"])
def test_non_minimal_indels_score_as_plink2_in_every_format(hl, spark, tmp_path, shape):
    """multiallelic-nonminimal-indel: AT>ATT,A, ATT>AT and ACT>A,ACGT scored from alleles as the
    VCF writes them (plink2's sums), in minimal form, and with a REF effect allele losing every
    alt of its record whatever minimal REF Hail's split gave each (expected.tsv). Before: the
    non-minimal forms were not_found on Hail inputs (all of PGS990101 0) and AT/A as REF effect
    allele scored 2 - deletion copies only. The pgen keeps the multi-allelic rows whole (no
    min_rep: the matcher min-reps both sides); the split shapes have one line per alt
    (``bcftools norm -m-`` without -f: each keeps the record's REF)."""
    src = CASES / NONMINIMAL / "genotypes" / "data.vcf"
    scores = f"{CASES / NONMINIMAL}/scores/*"
    if shape == "vcf":
        assert_expected(run_case(hl, spark, tmp_path, NONMINIMAL), NONMINIMAL)
        return
    if shape == "mt":
        hl.import_vcf(str(src), reference_genome="GRCh38").write(str(tmp_path / "g.mt"))
        path, fmt = str(tmp_path / "g.mt"), "mt"
    elif shape == "split_vcf":
        (tmp_path / "split.vcf").write_text(split_like_bcftools(src.read_text()))
        path, fmt = str(tmp_path / "split.vcf"), "vcf"
    elif shape == "split_bed":
        (tmp_path / "split.vcf").write_text(split_like_bcftools(src.read_text()))
        path, fmt = plink2_fileset(tmp_path / "split.vcf", tmp_path / "g", "plink"), "plink"
    else:
        path, fmt = plink2_fileset(src, tmp_path / "g", "pgen"), "pgen"
    assert_expected(run_scores(hl, spark, case_config(tmp_path, path, scores, fmt=fmt)), NONMINIMAL)


def test_minimal_alleles_is_hails_min_rep(hl):
    """``matching.minimal_alleles`` (pandas) gives what ``hl.min_rep`` gives: suffix trimmed
    first, then prefix (moving the position); SNVs, minimal indels, ``*`` and missing alleles
    unchanged."""
    pairs = [("AT", "ATT"), ("AT", "A"), ("ATT", "AT"), ("ACT", "ACGT"), ("TAA", "TA"), ("AATAA", "AACAA"),
             ("A", "G"), ("A", "*"), ("CA", "TA"), ("GCA", "GTA"), ("ACTTT", "ACTTTT")]
    want = hl.eval([hl.min_rep(hl.locus("chr1", 100, "GRCh38"), [r, a]) for r, a in pairs])
    pos, ref, alt = minimal_alleles(np.full(len(pairs), 100), np.array([r for r, _ in pairs], dtype=object),
                                    np.array([a for _, a in pairs], dtype=object))
    assert [(int(p), r, a) for p, r, a in zip(pos, ref, alt)] == [
        (w.locus.position, w.alleles[0], w.alleles[1]) for w in want]
    pos, ref, alt = minimal_alleles(np.array([5]), np.array([None], dtype=object), np.array(["AT"], dtype=object))
    assert (int(pos[0]), ref[0], alt[0]) == (5, None, "AT")
