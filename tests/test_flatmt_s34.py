"""Session 34 flatmt: the MatrixTable entry reader refuses rows that are not ascending and
distinct, and the native pass hands it its rows in file order (no Spark, no Hail; hand-written
part files as tests/test_pgs_mt_entries.py writes them).

``mt_entries.EntriesReader.read`` places a request's rows part by part (the parts ascending), so
before the check rows out of order across two parts were read without an error into the wrong
positions: another row's calls, scored with this row's weights.

``io.write_arrow`` (the native routes' score table) writes float columns without a dictionary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_pgs_mt_entries import DOSAGE, PART_ROWS, _entries

from trd_spark.pgs.matching import WeightMatrices
from trd_spark.pgs.mt_entries import EntriesReader
from trd_spark.pgs.native_task import _DOSAGE_OF_PLINK_CODE
from trd_spark.pgs.pgen_engine import _placed_weights


@pytest.mark.parametrize("rows", [[4, 0, 2], [0, 6, 3], [2, 2, 4]], ids=["part1_first", "part0_after", "repeated"])
def test_rows_out_of_order_across_two_parts_are_refused(tmp_path, rows):
    """Two parts (rows 0-3 and 4-6 of 6 samples): rows [4, 0, 2] read on 69efbc5 as rows 0, 2,
    4 (part 0's first, then part 1's) where row 4, 0, 2 were asked, with no error; now one
    ValueError naming the MatrixTable when the reader is made, for them, [0, 6, 3] and the
    repeated [2, 2, 4]. The same rows ascending read their own calls. Fails on 69efbc5."""
    files = _entries(tmp_path)
    every = [row for part in PART_ROWS for row in part]
    assert len({tuple(r) for r in every}) == len(every)  # distinct rows: a misplaced one shows
    with pytest.raises(ValueError, match=f"^{tmp_path}: the entry reader's rows are not ascending and distinct"):
        EntriesReader(files, np.array(rows, dtype=np.int64), _DOSAGE_OF_PLINK_CODE)
    ascending = np.unique(rows)
    got = EntriesReader(files, ascending, _DOSAGE_OF_PLINK_CODE).read(0, len(ascending),
                                                                      np.full((len(ascending), 6), np.nan))
    np.testing.assert_array_equal(got, [[DOSAGE[c] for c in every[r]] for r in ascending])


def test_the_pass_places_a_matrixtables_rows_in_file_order(tmp_path):
    """The reader's one production caller gets a task's ``variant_idx`` from
    ``pgen_engine.score``, which places the weighted rows with ``_placed_weights``: rows given
    out of file order (a MatrixTable's rows are placed by ``engine._score_entries``: its file
    rows, allele 1) come back ascending, with their slopes and n_vars taken along and the order
    that did it; rows in order come back as they are (no order)."""
    files = _entries(tmp_path)
    file_row = np.array([6, 0, 4, 2, 3])
    slope = np.arange(10, dtype=np.float64).reshape(5, 2)
    n_vars = np.arange(10, dtype=np.int32).reshape(5, 2) % 3
    rows = pd.DataFrame({"contig": "chr1", "position": file_row + 100, "ref": "A", "alt": "G",
                         "variant_idx": file_row, "allele_idx": np.int32(1)})
    variant_idx, allele_idx, placed_slope, placed_n_vars, extent, order = _placed_weights(
        WeightMatrices(rows, slope, None, n_vars), None, files)
    assert variant_idx.tolist() == [0, 2, 3, 4, 6] and (allele_idx == 1).all() and extent is None
    np.testing.assert_array_equal(order, [1, 3, 4, 2, 0])
    np.testing.assert_array_equal(placed_slope, slope[order])
    np.testing.assert_array_equal(placed_n_vars, n_vars[order])
    EntriesReader(files, variant_idx, _DOSAGE_OF_PLINK_CODE)  # accepted
    in_order = rows.iloc[order].reset_index(drop=True)
    assert _placed_weights(WeightMatrices(in_order, slope[order], None, n_vars[order]), None, files)[5] is None


@pytest.mark.parametrize("uri", [False, True], ids=["local", "uri"])
def test_the_score_tables_floats_are_written_without_a_dictionary(spark, tmp_path, uri):
    """``io.write_arrow`` (the native routes' score table, ``stage.write_scores``) dictionary
    encodes every column but the floating-point ones: score_sum and score_avg, nearly all
    distinct, are written plain (pyarrow's default built a dictionary for them that grew to its
    page limit and fell back: ~30 MB of fresh memory per table, the write's kernel CPU on the
    benchmark host), the others keep their dictionary; the same values read back (a null
    score_avg included). Fails on 69efbc5 (dictionary pages for the floats)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from trd_spark.io import write_arrow

    n, k = 40, 3
    table = pa.table({
        "dataset": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n * k, np.int32)), pa.array(["ds"])),
        "person_id": pa.array(np.repeat(np.arange(n, dtype=np.int64), k)),
        "score_sum": pa.array(np.random.default_rng(3).normal(size=n * k)),
        "score_avg": pa.array(np.r_[np.nan, np.random.default_rng(4).normal(size=n * k - 1)], from_pandas=True),
        "n_matched": pa.array(np.tile(np.array([5, 7, 9], np.int64), n))})
    path = tmp_path / "scores.parquet"
    assert write_arrow(spark, table, f"file://{path}" if uri else str(path)) == n * k
    (part,) = path.glob("part-*.parquet")
    meta = pq.ParquetFile(part).metadata
    encodings = {meta.schema.column(i).name: set(meta.row_group(0).column(i).encodings) for i in range(meta.num_columns)}
    dictionary = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
    assert {name for name, e in encodings.items() if e & dictionary} == {"dataset", "person_id", "n_matched"}
    back = pq.read_table(part)
    assert back.column("score_avg").null_count == 1
    for name in ("person_id", "score_sum", "score_avg", "n_matched"):
        assert back.column(name).equals(table.column(name)), name
    assert back.column("dataset").to_pylist() == ["ds"] * (n * k)
