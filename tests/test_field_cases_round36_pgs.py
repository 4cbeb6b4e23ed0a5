"""PGS field cases, round 36 (session 44, helper pgs36).

gt-not-first-half-call: a VCF record whose FORMAT lists GT after other subfields (``GQ:GT:DP``;
VCF 4.3 section 1.6.2 puts GT first), holding a GT half-call (``./1``). Hail's ``import_vcf``
reads the record's calls where GT stands (1001 0/1, 1003 1/1, 1004 0/0) and the half-call as
missing; plink2 2.00a3.5 reads none of the record's calls (``--export A``: all NA) and its
``--vcf-half-call error`` does not see that half-call (it stops at the next record's, GT first).
Before session 44 ``genotypes.vcf_half_call_rows`` passed over such records (a test pinned
"GT not first: the record is not read"), so ``pgs.vcf_half_call: error`` let the half-call
through, ``missing`` did not count it, and ``haploid`` / ``reference`` read it as missing where
the config asked for 1/1 or 0/1 (their ``import_vcf`` rewrite reached a sample's first subfield
only), all silently. Now the record is counted where GT stands (under haploid / reference it was one
error naming the file and line until session 45, whose rewrite reaches GT wherever it stands:
tests/test_field_cases_round37_pgs.py scores it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trd_spark.config import GenotypeSource
from trd_spark.errors import InputDataError
from trd_spark.pgs.genotypes import vcf_half_call_rows
from trd_spark.pgs.stage import check_half_calls

CASE = Path(__file__).parent / "data" / "field_cases_round36_pgs" / "gt-not-first-half-call"
VCF = CASE / "genotypes" / "data.vcf.bgz"
# The GT-after-GQ record (line 7 of the VCF) and the GT-first record without a half-call.
ROWS = [("chr1", 1_000_000), ("chr1", 2_000_000)]


def test_a_half_call_after_other_subfields_is_counted_and_stops_error_mode():
    """Counted for ``missing`` (the WARNING's count) and ``error`` (refused, as plink2 refuses a
    half-call); on de435dc the count was 0 and ``error`` passed."""
    source = GenotypeSource(format="vcf", path=str(VCF), reference_genome="GRCh38")
    assert vcf_half_call_rows(source, ROWS) == 1
    assert vcf_half_call_rows(source, ROWS[1:]) == 0
    with pytest.raises(InputDataError, match="1 matched VCF record"):
        check_half_calls(vcf_half_call_rows(source, ROWS), "error", "d", str(VCF))
