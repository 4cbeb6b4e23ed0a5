"""Session 35 mends: the field case plain-gzip-vcf on a URI (``gs://``, ``hdfs://``, ``file://``),
read through the real Hadoop file system of the session fixture (its local ``file://`` file
system standing in for the object store).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from trd_spark.config import GenotypeSource
from trd_spark.errors import InputDataError

FIELD_CASES = Path(__file__).parent / "data" / "field_cases" / "pgs"
PLAIN_GZIP_VCF = FIELD_CASES / "plain-gzip-vcf" / "genotypes" / "data.vcf.gz"
BGZF_VCF = FIELD_CASES / "scoring-file-swapped-duplicate" / "genotypes" / "data.vcf.bgz"


def test_a_plain_gzip_vcf_on_a_uri_is_read_as_its_local_path_is_or_stops_with_one_line(hl, tmp_path, caplog):
    """A local plain-gzip ``.vcf.gz`` is read serially (``check_vcf_files``' bytes check:
    ``force=True``), while on a URI nothing looked at its bytes and the ``.gz`` was forced to
    BGZF: Hail failed inside its job ("truncated bgzip" / a Java error) on a complete file. Now a
    URI's files are checked by the same rule (``compression_of``) through Hadoop's file system:
    the same calls as the local read, the same warning; plain-gzip bytes named ``.bgz`` and a BGZF
    file cut short stop before Hail with the local path's one line, naming the URI."""
    from trd_spark.pgs.genotypes import read_calls

    gz = tmp_path / "data.vcf.gz"
    shutil.copy(PLAIN_GZIP_VCF, gz)

    def calls(path: str) -> list:
        mt = read_calls(hl, GenotypeSource(format="vcf", path=path))
        return sorted((str(e.locus), tuple(e.alleles), e.s, str(e.GT)) for e in mt.entries().collect())

    local = calls(str(gz))
    with caplog.at_level(logging.WARNING, logger="trd_spark.pgs.genotypes"):
        uri = calls(f"file://{gz}")
    assert len(local) == 18 and uri == local  # 3 variants x 6 samples, as the local read
    assert any("plain gzip (not BGZF) VCF, read serially" in r.getMessage() for r in caplog.records)

    bgz = tmp_path / "plain.vcf.bgz"
    shutil.copy(PLAIN_GZIP_VCF, bgz)
    cut = tmp_path / "cut.vcf.bgz"
    cut.write_bytes(BGZF_VCF.read_bytes()[:-28])  # the BGZF end-of-file block lost
    for path, what in ((bgz, "plain gzip .not BGZF. but named as BGZF"), (cut, "truncated BGZF file")):
        with pytest.raises(InputDataError, match=what) as err:
            read_calls(hl, GenotypeSource(format="vcf", path=f"file://{path}"))
        assert f"file://{path}" in str(err.value) and "\n" not in str(err.value)
