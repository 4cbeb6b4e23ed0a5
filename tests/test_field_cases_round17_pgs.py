"""PGS field cases, round 17 (session 27, hunt_pgs): new shapes of the known kinds.

- BGEN sample identity: a BGEN that embeds its sample IDs and has an Oxford ``.sample`` beside it
  that lists them in another order (or another release's samples). The embedded IDs were taken
  without a look at the .sample, while plink2 ``--sample`` and Hail's ``sample_file=`` take the
  .sample's: one of the two puts every score on another person, silently. Now one error naming
  both files and the first sample number that differs; plink2's own output (embedded ``IID``, or
  ``FID_IID`` when the samples have a FID, beside a .sample holding them apart) still reads.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from trd_spark.errors import InputDataError

_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\t1003
chr1\t1000\trs1\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0
chr1\t2000\trs2\tC\tT\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1
"""


def _plink2(*args: str) -> None:
    subprocess.run([shutil.which("plink2") or "plink2", *args, "--threads", "1"], check=True, capture_output=True)


def _bgen(tmp: Path, *, fid: bool) -> Path:
    """plink2's BGEN (8-bit, ref-first) of ``_VCF``, with its .sample; FIDs F1001.. when ``fid``."""
    (tmp / "d.vcf").write_text(_VCF)
    _plink2("--vcf", str(tmp / "d.vcf"), "--make-pgen", "--out", str(tmp / "g"))
    if fid:
        (tmp / "g.psam").write_text("#FID\tIID\n" + "".join(f"F{i}\t{i}\n" for i in (1001, 1002, 1003)))
    _plink2("--pfile", str(tmp / "g"), "--export", "bgen-1.2", "bits=8", "ref-first", "--out", str(tmp / "b"))
    return tmp / "b.bgen"


@pytest.mark.parametrize("fid", [False, True], ids=["iid", "fid-iid"])
def test_bgen_embedded_ids_and_a_reordered_sample_file_are_one_error(tmp_path, fid):
    """plink2 embeds IID (FID_IID with a FID) and writes ID_1 = FID, ID_2 = IID in the .sample:
    they agree and the embedded IDs are read. The same .sample with two samples swapped (or from
    another release) is one InputDataError naming the BGEN, the .sample and sample #2, no ID.
    Before: the embedded IDs, silently (plink2 --sample / Hail sample_file= read the .sample)."""
    from trd_spark.pgs.bgen_reader import BgenFiles, sample_ids

    path = _bgen(tmp_path, fid=fid)
    files = BgenFiles.open(str(path))
    want = [f"F{i}_{i}" if fid else str(i) for i in (1001, 1002, 1003)]
    assert files.embedded_ids == tuple(want)
    assert sample_ids(files) == want
    lines = (tmp_path / "b.sample").read_text().splitlines()
    (tmp_path / "b.sample").write_text("\n".join([*lines[:3], lines[4], lines[3], *lines[5:]]) + "\n")
    with pytest.raises(InputDataError) as e:
        sample_ids(files)
    message = str(e.value)
    assert f"{path}:" in message and f"{tmp_path / 'b.sample'} from sample #2 on" in message
    assert not any(i in message for i in ("1001", "1002", "1003"))
