"""PGS field cases, round 45 (session 50, helper pgs45): compressed inputs, sample IDs, partial dosages.

truncated-bgzf-scoring-file (kind compressed inputs): a scoring file bgzipped (``bgzip``, e.g. to
index it with tabix) is a chain of complete gzip members, each of at most 64 KiB of text cut
anywhere in a line, and an empty end-of-file member (SAM/BAM spec 4.1.2). A copy cut at a member's
end decompresses without error to its first rows, the last of them cut inside its weight: the
case's cut.txt.gz (full.txt.gz less its last member and EOF block) gave row chr1:8000 weight 0.124
for 0.1241 and lost the rows after it, unseen in a file without ``#variants_number`` (author files;
the Catalog's files have it, and the cut-short check of ``parse_scoring_file`` then caught a row
cut inside its last field, never one cut at its end). A VCF without its EOF block was already an
error (``genotypes.check_vcf_files``); now a scoring file too (``scoring_files._check_bgzf_end``).
Kept reading (as before): a BGZF file of two bgzipped parts concatenated (``cat a.gz b.gz``: an EOF
block inside, valid BGZF) and a plain-gzip file of two members (``gzip.decompress`` reads all).

The case files were written by a 12-line BGZF writer (zlib raw deflate, the ``BC`` extra field),
with 70-byte members so the case stays a few hundred bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import read_scoring_file

ROUND = Path(__file__).parent / "data" / "field_cases_round45_pgs"
BGZF_CASE = ROUND / "truncated-bgzf-scoring-file"
# full.txt.gz's rows: chr1:1000 ... chr1:10000, weights 0.1234 ... 0.1243.
FULL = {1000 * (i + 1): 0.1234 + i / 10_000 for i in range(10)}


def _weights(name: str) -> dict[int, float]:
    sf = read_scoring_file(str(BGZF_CASE / name))
    return dict(zip(sf.variants["pos"].astype(int), sf.variants["effect_weight"].astype(float)))


def test_a_bgzf_scoring_file_cut_at_a_member_end_is_one_error_naming_it():
    """cut.txt.gz (the last member and the EOF block gone): one InputDataError naming the file.
    On 4e3792e it was read: 8 rows, chr1:8000's weight 0.124 (the file's 0.1241), no error
    ('DID NOT RAISE')."""
    with pytest.raises(InputDataError, match=r"cut\.txt\.gz: truncated BGZF file \(no BGZF end-of-file block"):
        read_scoring_file(str(BGZF_CASE / "cut.txt.gz"))


@pytest.mark.parametrize("name", ["full.txt.gz", "concatenated.txt.gz", "concatenated-plain-gzip.txt.gz"])
def test_complete_bgzf_and_multi_member_gzip_scoring_files_read_whole(name):
    """The whole file, BGZF with its EOF block (also one inside: two bgzipped parts
    concatenated) or plain gzip of two members: every row and weight as written."""
    got = _weights(name)
    assert got.keys() == FULL.keys()
    assert list(got.values()) == pytest.approx(list(FULL.values()), abs=1e-12)
