"""A damaged compressed variant list (.pvar.zst, a gzipped .bim) is one error line naming the file.

A .pvar.zst cut short raised a bare EOFError (and a corrupt one zstd's ZstdError) out of
``pgen_engine.variant_index``: exit 1 with a traceback, "a bug", instead of the InputDataError
every other unreadable variant list gives (read-through of session 31)."""
from __future__ import annotations

import gzip

import pytest

from trd_spark.errors import InputDataError
from trd_spark.pgs.native_task import PlinkFiles
from trd_spark.pgs.pgen_engine import variant_index


def _pvar_text(n: int = 20_000) -> bytes:
    lines = ["#CHROM\tPOS\tID\tREF\tALT"] + [f"1\t{1000 + 7 * i}\trs{i}\tA\tG" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def _zstd(data: bytes) -> bytes:
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        from backports import zstd
    return zstd.compress(data)


def test_a_whole_pvar_zst_reads(tmp_path):
    (tmp_path / "g.pvar.zst").write_bytes(_zstd(_pvar_text()))
    assert len(variant_index(PlinkFiles("pgen", str(tmp_path / "g")), "GRCh38").frame) == 20_000


@pytest.mark.parametrize("damage", ["cut_short", "corrupt"])
def test_a_damaged_pvar_zst_is_one_error_naming_it(tmp_path, damage):
    data = _zstd(_pvar_text())
    if damage == "cut_short":
        data = data[: len(data) // 2]
    else:  # bytes of the stream's middle overwritten: the frame's check fails
        middle = len(data) // 2
        data = data[:middle] + bytes(64) + data[middle + 64:]
    (tmp_path / "g.pvar.zst").write_bytes(data)
    with pytest.raises(InputDataError) as e:
        variant_index(PlinkFiles("pgen", str(tmp_path / "g")), "GRCh38")
    assert e.value.where == str(tmp_path / "g.pvar.zst")
    assert "cannot read the variant list" in str(e.value)


def test_a_gzipped_bim_cut_short_is_one_error_naming_it(tmp_path):
    bim = "".join(f"1\trs{i}\t0\t{1000 + 7 * i}\tG\tA\n" for i in range(20_000)).encode()
    data = gzip.compress(bim)
    (tmp_path / "g.bim").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputDataError) as e:
        variant_index(PlinkFiles("plink", str(tmp_path / "g")), "GRCh38")
    assert e.value.where == str(tmp_path / "g.bim")
