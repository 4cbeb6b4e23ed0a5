"""A malformed bgenix ``.bgi`` (a SQLite file beside a BGEN) is one InputDataError naming the index
and what is wrong (session 24). SQLite keeps a value of any type in any column: a text or a blob
where bgenix writes an integer (or a text where it writes a blob) was a TypeError/ValueError traceback from ``int()``/``bytes()``
in ``bgen_reader._from_bgi`` or ``variant_index``, and a byte range outside the file was read as
a variant block in a Spark task.

Data: a 3-variant BGEN written by ``plink2 --dummy 4 3 acgt --export bgen-1.2`` (no Hail), its
index written with sqlite3 in bgenix's schema (test_pgs_bgen._write_bgi), then one value edited."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from test_pgs_bgen import _write_bgi

from trd_spark.errors import InputDataError
from trd_spark.pgs import bgen_reader


@pytest.fixture(scope="module")
def bgen_file(tmp_path_factory) -> Path:
    exe = shutil.which("plink2")
    assert exe, "plink2 must be on PATH (apt-get install plink2)"
    d = tmp_path_factory.mktemp("bgi")
    subprocess.run([exe, "--threads", "1", "--dummy", "4", "3", "acgt", "--export", "bgen-1.2", "--out",
                    str(d / "b")], check=True, capture_output=True)
    return d / "b.bgen"


@pytest.mark.parametrize(("edit", "problem"), [
    ("UPDATE Metadata SET file_size = 'big'", "Metadata file_size is not an integer"),
    ("UPDATE Metadata SET file_size = X'00'", "Metadata file_size is not an integer"),
    ("UPDATE Metadata SET first_1000_bytes = 'text'", "Metadata first_1000_bytes is not a blob"),
    ("DELETE FROM Metadata", "its Metadata table has no row"),
    ("UPDATE Variant SET position = 'x' WHERE rowid = 2", "Variant position is not an integer in row 2"),
    ("UPDATE Variant SET size_in_bytes = '' WHERE rowid = 3", "Variant size_in_bytes is not an integer in row 3"),
    ("UPDATE Variant SET number_of_alleles = 2.5 WHERE rowid = 1", "Variant number_of_alleles is not an integer in row 1"),
    ("UPDATE Variant SET chromosome = X'31' WHERE rowid = 1", "Variant chromosome is not a text in row 1"),
    ("UPDATE Variant SET file_start_position = 100000 WHERE rowid = 3", "Variant row 3's byte range"),
    ("UPDATE Variant SET size_in_bytes = -5 WHERE rowid = 1", "Variant row 1's byte range"),
], ids=["text-file-size", "blob-file-size", "text-first-bytes", "no-metadata-row", "text-position", "empty-size",
        "real-allele-count", "blob-chromosome", "offset-beyond-the-file", "negative-size"])
def test_a_malformed_bgi_is_one_error_naming_it(bgen_file, tmp_path, edit, problem):
    shutil.copy(bgen_file, tmp_path / "b.bgen")
    files = bgen_reader.BgenFiles.open(str(tmp_path / "b.bgen"))
    _write_bgi(files, files.index)
    good = bgen_reader.variant_index(files, lambda c: c)  # the index as written reads
    assert good.frame["position"].tolist() == bgen_reader._from_headers(files)["pos"].tolist()
    db = sqlite3.connect(files.index)
    db.execute(edit)
    db.commit()
    db.close()
    with pytest.raises(InputDataError) as e:
        bgen_reader.variant_index(files, lambda c: c)
    assert str(e.value).startswith(f"{files.index}: a malformed bgenix index: {problem}"), str(e.value)
    assert "re-index it" in str(e.value)
