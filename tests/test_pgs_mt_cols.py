"""A local MatrixTable's sample IDs read from its own cols files (``mt_entries.file_cols``, used by
``stage.match_hail`` for the .fam of the direct entries export) instead of Hail's collect: the same
IDs in the same order on a MatrixTable the installed Hail writes (a Hail upgrade that changes the
cols layout fails here), and a MatrixTable with a column field besides ``s`` left to Hail's job."""

from __future__ import annotations

from pathlib import Path

import pytest

from trd_spark.pgs import mt_entries
from trd_spark.pgs.stage import _mt_sample_ids

DATA = Path(__file__).parent / "data" / "pgs"


def test_sample_ids_from_the_cols_files_equal_hails_collect(hl, tmp_path):
    """tiny.vcf's samples (4, in a column order that is not sorted) written by Hail, read from the
    files as Hail's collect gives them; cols in another layout (a copy whose cols spec names a
    column field besides ``s``, as an upgrade or a sex field would) are refused and
    ``stage._mt_sample_ids`` takes Hail's collect instead."""
    import gzip
    import json
    import shutil

    raw = hl.import_vcf(str(DATA / "tiny.vcf"), reference_genome="GRCh38", contig_recoding={"1": "chr1"})
    path = str(tmp_path / "tiny.mt")
    raw.choose_cols([2, 0, 3, 1]).select_rows().select_entries("GT").write(path)
    calls = hl.read_matrix_table(path)
    hails = calls.key_cols_by().cols().s.collect()
    assert len(hails) == 4 and hails != sorted(hails)
    assert mt_entries.file_cols(path) == hails == _mt_sample_ids(path, calls)

    other = tmp_path / "other.mt"
    shutil.copytree(path, other)
    spec = other / "cols" / "rows" / "metadata.json.gz"
    with gzip.open(spec, "rt") as f:
        meta = json.load(f)
    meta["_codecSpec"]["_eType"] = meta["_codecSpec"]["_eType"].replace("}", ",is_female:EBoolean}")
    with gzip.open(spec, "wt") as f:
        json.dump(meta, f)
    with pytest.raises(mt_entries.UnknownLayout, match="cols not in the layout"):
        mt_entries.file_cols(str(other))
    assert _mt_sample_ids(str(other), calls) == hails
