"""Mutation review of session 44's code (session 45, helper "review").

Each test kills mutants of de435dc..163d5e1 that the tests of session 44 let pass (the mutants
named in each docstring; the whole table of mutants tried, killed, survived and equivalent is in
the commit message). Cheap: pure functions over a few numpy rows, the session's Spark fixture for
one tiny RDD, no stage run.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from test_fixesB_s37 import _NoPyarrowFs
from test_pgs_vcf_half_calls import indexed_vcf, source
from test_phenotypes_support import toy_config

from trd_spark.pgs import stage
from trd_spark.pgs.genotypes import vcf_half_call_rows
from trd_spark.pgs.native_task import UNCALLED_SLICE, Task, UncalledItems, _UncalledRows, scored_slice
from trd_spark.pgs.pgen_engine import uncalled_variants
from trd_spark.pgs.scoring import UncalledVariants
from trd_spark.phenotypes import omop


def _task(n_vars: list[list[int]], y_rows: list[bool] | None = None, male: list[bool] | None = None) -> Task:
    """A task of len(n_vars) rows (variant_idx 10, 20, ...; allele 1) over ``male``'s samples."""
    m = len(n_vars)
    return Task(variant_idx=np.arange(1, m + 1, dtype=np.int64) * 10, allele_idx=np.ones(m, np.int32),
                slope=np.zeros((m, len(n_vars[0]))), offset=None, n_vars=np.asarray(n_vars, np.uint8),
                y_rows=None if y_rows is None else np.asarray(y_rows), male=None if male is None else np.asarray(male))


def test_a_no_male_tasks_chry_rows_are_uncalled_in_a_block_without_missing_calls_and_shown_rows_first():
    """No male among 3 samples: rows 0-5 on chrY (their non-males' calls read as called: no missing
    call in their block), row 6 on chr1 with every call missing, row 7 on chr1 with no score
    variant (a site's other alt) and every call missing, row 8 called. All 6 chrY rows and row 6
    are uncalled (7 rows, 6 of them no-male chrY rows); the kept rows hold row 6, shown, first.
    Mutants: the early return on a block without missing calls ignoring its chrY rows with no
    male (u3: the 6 rows uncounted); the n_vars filter dropped (u4: row 7 counted); the kept
    rows in file order, not the shown first (u6: chrY rows flagged shown, named in the WARNING)."""
    n_vars = [[1]] * 7 + [[0], [1]]
    task = _task(n_vars, y_rows=[True] * 6 + [False] * 3, male=[False] * 3)
    uncalled = _UncalledRows(task, 3)
    uncalled.add(0, 6, np.zeros(0, np.int64))
    uncalled.add(6, 9, np.array([0, 0, 0, 1, 1, 1], np.int64))
    counts, kept = uncalled.counted(task)
    assert counts.tolist() == [7.0, 7.0, 6.0]
    assert kept.tolist() == [[70, 1, 1], [10, 1, 0], [20, 1, 0], [30, 1, 0], [40, 1, 0]]


def test_a_chry_row_is_uncalled_when_every_males_call_is_missing():
    """Males 0 and 1 of 4 samples: a chrY row missing in both males is uncalled (the females'
    calls there are read as called 0), one missing in one male is not, nor a chr1 row missing in
    the two males only. Mutants: chrY's callers counted as every sample (u1), or as the sample
    count (u8): the first row not counted."""
    task = _task([[1], [1], [1]], y_rows=[True, True, False], male=[True, True, False, False])
    uncalled = _UncalledRows(task, 4)
    uncalled.add(0, 3, np.array([0, 0, 1, 2, 2], np.int64))
    counts, kept = uncalled.counted(task)
    assert counts.tolist() == [1.0, 1.0, 0.0] and kept.tolist() == [[10, 1, 1]]


def test_the_uncalled_items_of_every_task_are_gathered_once_each(spark):
    """Three tasks' uncalled items through ``scored_slice`` in a Spark filter with the
    ``UncalledItems`` accumulator, one of them twice (a partition computed again): the slice passes,
    the items are kept, each once. Mutants: ``addInPlace`` keeping the last update only (u7: one
    task's rows, the others' lost); every task's item under one key (u9: likewise)."""
    def item(v: int) -> tuple[int, tuple[np.ndarray, np.ndarray]]:
        return UNCALLED_SLICE, (np.array([1.0, 1.0, 0.0]), np.array([[v, 1, 1]], np.int64))

    found = spark.sparkContext.accumulator({}, UncalledItems())
    items = [(0, (np.zeros((1, 2)), np.zeros((2, 1)))), item(10), item(20), item(30), item(20)]
    kept = spark.sparkContext.parallelize(items, 5).filter(partial(scored_slice, found)).collect()
    assert [i for i, _ in kept] == [0]
    assert sorted(found.value) == [(10, 1), (20, 1), (30, 1)]


def test_the_shown_uncalled_rows_are_the_first_in_the_file_named_by_the_weighted_rows_order():
    """``pgen_engine.uncalled_variants`` over two tasks' items: 6 shown rows and a no-male chrY
    one; the pass's rows in file order are the weighted rows in another order (``order``). The
    IDs are the first 5 shown rows by their place in the file (variant, then allele), each named
    by its own weighted row. Mutants: sorted by allele before variant (p2); the pass's row taken
    as the weighted row, ``order`` ignored (p4: another row's ID named)."""
    rows = pd.DataFrame({"contig": ["chr1"] * 7, "position": [700, 600, 500, 400, 300, 200, 100],
                         "ref": list("ACGTACG"), "alt": list("GTACGTA")})
    # the file holds the rows in reverse: pass row p is weighted row 6 - p
    order = np.arange(7)[::-1].copy()
    variant_idx = np.array([1, 2, 3, 3, 4, 5, 6], np.int64)
    allele_idx = np.array([1, 1, 1, 2, 1, 1, 1], np.int32)
    found = [(np.array([4.0, 4.0, 1.0]), np.array([[6, 1, 1], [4, 1, 1], [3, 1, 1], [5, 1, 0]], np.int64)),
             (np.array([3.0, 3.0, 0.0]), np.array([[3, 2, 1], [2, 1, 1], [1, 1, 1]], np.int64))]
    got = uncalled_variants(found, ["PGS1"], rows, variant_idx, allele_idx, order)
    assert got.rows == 7 and got.no_male_rows == 1 and got.variants.tolist() == [7]
    # pass rows 0-4 ((1,1), (2,1), (3,1), (3,2), (4,1)): weighted rows 6, 5, 4, 3, 2
    assert got.first == ("chr1:100:G:A", "chr1:200:C:T", "chr1:300:A:G", "chr1:400:T:C", "chr1:500:G:A")


def test_the_notes_count_only_scores_with_an_uncalled_variant_and_no_row_no_warning(caplog):
    """``stage.uncalled_variant_counts`` leaves a score with no variant on such a row out of
    ``by_score`` (its dataset listed, 0 rows included); ``check_uncalled`` says nothing for a
    dataset without such a row. Mutant s4: the score's 0 listed."""
    counted = [SimpleNamespace(dataset="d", uncalled=UncalledVariants(("PGS1", "PGS2"), np.array([0, 2]), 1,
                                                                       ("chr1:5:A:G",))),
               SimpleNamespace(dataset="e", uncalled=UncalledVariants(("PGS1",), np.array([0]), 0, ()))]
    assert stage.uncalled_variant_counts(counted) == {
        "d": {"rows": 1, "by_score": {"PGS2": 2}, "no_male_chry_rows": 0},
        "e": {"rows": 0, "by_score": {}, "no_male_chry_rows": 0}}
    with caplog.at_level(logging.WARNING, logger="trd_spark.pgs.stage"):
        stage.check_uncalled(counted[1])
    assert not caplog.records


def _int96(path: Path, column: pa.Array, **kwargs) -> str:
    """A death table of one row whose death_date is ``column``, written as Parquet INT96 by pyarrow."""
    pq.write_table(pa.table({"person_id": pa.array([1], pa.int64()), "death_date": column}), path,
                   use_deprecated_int96_timestamps=True, **kwargs)
    assert str(pq.read_metadata(path).schema.column(1).physical_type) == "INT96"
    return str(path)


def test_an_int96_footer_without_an_arrow_schema_holds_instants_in_the_chain_and_the_twin(tmp_path):
    """An INT96 timestamp in a footer with no ``ARROW:schema`` (Spark's, Hive's and Impala's
    default, here pyarrow's ``store_schema=False``) is an instant: ``file_time_zones`` declares no
    zone ('', not ``WALL_CLOCK``) and the DuckDB twin keeps it an INT96 instant; the same naive
    column with pyarrow's Arrow schema is the wall clock in both. Mutants: ``declared`` true for
    every footer pyarrow opens (o2: a Spark-written table's instants dated by their UTC wall clock,
    not in omop.time_zone, silently); the twin's ``declared`` test dropped (t1: the same in the
    oracle)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import duckdb_phenotypes as twin

    naive = pa.array([dt.datetime(2019, 1, 10, 3, 0)], pa.timestamp("ns"))
    spark_like = _int96(tmp_path / "spark.parquet", naive, store_schema=False)
    pandas_like = _int96(tmp_path / "pandas.parquet", naive)
    assert omop.file_time_zones(spark_like) == {"death_date": ""}
    assert omop.file_time_zones(pandas_like) == {"death_date": omop.WALL_CLOCK}
    physical = {"person_id": "INT64", "death_date": "INT96"}
    assert twin._wall_clock_int96(f"read_parquet('{spark_like}')", physical) == set()  # noqa: SLF001
    assert twin._wall_clock_int96(f"read_parquet('{pandas_like}')", physical) == {"death_date"}  # noqa: SLF001


def test_a_naive_int96_column_read_through_hadoop_is_the_wall_clock(spark, tmp_path, monkeypatch):
    """Where pyarrow cannot open the file (hdfs://, s3a://: Hadoop's footer reader), a naive INT96
    column whose Arrow schema declares no zone is ``WALL_CLOCK`` too, a UTC one its zone. Mutant o3: the
    Hadoop reading taken as undeclared (the pandas column read as UTC instants on a cluster,
    dated a day early west of UTC, silently)."""
    naive = _int96(tmp_path / "naive.parquet", pa.array([dt.datetime(2019, 1, 10)], pa.timestamp("ns")))
    utc = _int96(tmp_path / "utc.parquet", pa.array([dt.datetime(2019, 1, 10)], pa.timestamp("ns", tz="UTC")))
    monkeypatch.setattr(omop, "pafs", _NoPyarrowFs)
    assert omop.file_time_zones(naive, spark) == {"death_date": omop.WALL_CLOCK}
    assert omop.file_time_zones(utc, spark) == {"death_date": "UTC"}


def test_a_naive_int96_column_is_read_by_its_written_date_with_no_zone_warning(spark, tmp_path, caplog):
    """A naive pandas column written as INT96 (00:30 on 2019-01-10, its wall clock) read with
    omop.time_zone America/New_York: dated 2019-01-10, one INFO line, no WARNING (no zone is
    declared: nothing is read in another zone than omop.time_zone). Mutant o8: the WARNING of a
    declared zone said for it too ('declare time zone UTC ... not in omop.time_zone')."""
    _int96(tmp_path / "death.parquet", pa.array([dt.datetime(2019, 1, 10, 0, 30)], pa.timestamp("ns")))
    with caplog.at_level(logging.INFO, logger="trd_spark.phenotypes.omop"):
        got = omop.read_omop_table(spark, toy_config(path=str(tmp_path), time_zone="America/New_York").omop,
                                   "death").collect()
    assert [r.death_date for r in got] == [dt.date(2019, 1, 10)]
    said = [r for r in caplog.records if r.name == "trd_spark.phenotypes.omop"]
    assert not [r.getMessage() for r in said if r.levelno >= logging.WARNING]
    assert [r.levelno for r in said if "naive" in r.getMessage()] == [logging.INFO]


def test_a_half_call_shape_after_gt_is_no_half_call(tmp_path):
    """``vcf_half_call_rows``: a GT-after-DP record whose PGT (after GT) looks like a half-call
    (``0|.``) holds none (its GT is 0/1); a half-call in a GT-first record is counted. Mutant g6:
    the subfields before GT matched across colons (``[^\\t]*:``), PGT's ``0|.`` read as its GT:
    counted, a WARNING or, under ``pgs.vcf_half_call: error``, a refused run."""
    path = indexed_vcf(tmp_path, [(100, "GT:DP", ["0/.:12", "0/0:30"]), (200, "DP:GT:PGT", ["12:0/1:0|.", "30:0/0:0|0"])])
    assert vcf_half_call_rows(source(path), [("chr1", 100)]) == 1
    assert vcf_half_call_rows(source(path), [("chr1", 200)]) == 0
