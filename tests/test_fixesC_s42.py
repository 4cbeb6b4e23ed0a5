"""Session 42 fixesC (reader finding 3): a BGEN holding one genotype record twice (two
overlapping chunks written as one file) is one InputDataError naming the repeated locus, on the
native engine (variant list from the BGEN's variant headers, no .bgi) and on Hail's route
(docs/pgs.md, "Duplicate policy"): else the weight of chr6:3000000 is applied twice, silently.

Data: field case duplicate-genotype-rows' two VCF chunks (chr6:3000000 G>A in both) joined as
one VCF, written by plink2 as BGEN 1.2 (8-bit, ref-first) with its .sample."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest
from test_field_cases_pgs import CASES, case_config, run_scores

from trd_spark.errors import InputDataError

ROUTES = {"native": "", "hail": "  native: {engine: hail}"}


def _plink2(*args: str) -> None:
    subprocess.run([shutil.which("plink2") or "plink2", *args, "--threads", "1"], check=True, capture_output=True)


@pytest.fixture(scope="module")
def repeated_bgen(tmp_path_factory) -> Path:
    """plink2's BGEN of the two chunks' records in one file: chr6:3000000 G>A twice."""
    tmp = tmp_path_factory.mktemp("bgen_twice")
    chunks = [gzip.open(p, "rt").read().splitlines(keepends=True)
              for p in sorted((CASES / "duplicate-genotype-rows" / "genotypes").iterdir())]
    records = [line for chunk in chunks for line in chunk if not line.startswith("#")]
    assert sum("\t3000000\t" in line for line in records) == 2
    (tmp / "g.vcf").write_text("".join(line for line in chunks[0] if line.startswith("#")) + "".join(records))
    _plink2("--vcf", str(tmp / "g.vcf"), "--make-pgen", "--out", str(tmp / "g"))
    _plink2("--pfile", str(tmp / "g"), "--export", "bgen-1.2", "bits=8", "ref-first", "--out", str(tmp / "b"))
    return tmp / "b.bgen"


@pytest.mark.parametrize("route", list(ROUTES))
def test_a_bgen_record_given_twice_is_one_error_naming_the_locus(hl, spark, tmp_path, repeated_bgen, route):
    cfg = case_config(tmp_path, str(repeated_bgen), f"{CASES}/duplicate-genotype-rows/scores/*", fmt="bgen",
                      extra_pgs=ROUTES[route])
    with pytest.raises(InputDataError, match=r"more than once.*chr6:3000000") as e:
        run_scores(hl, spark, cfg)
    assert "\n" not in str(e.value) and str(repeated_bgen) in str(e.value)
    assert not any(s in str(e.value) for s in ("1001", "1002", "1003", "1004", "1005", "1006"))
