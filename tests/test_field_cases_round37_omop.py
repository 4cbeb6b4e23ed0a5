"""Field cases, round 37 (session 45, helper "omop37"): an OMOP table under a file name the reader does
not take.

The reader takes ``{table}.{format}`` or a ``{table}/`` folder of part files. An export that names the
death table ``DEATH.parquet`` (Oracle and SQL Server write table names in upper case; Linux and cloud
storage names are case-sensitive), compresses it (``death.csv.gz``), writes ``bq extract`` shards beside
the other tables (``death-000000000000.csv``) or in the other format: death is optional, so the chain
and the DuckDB twin read it as absent (one WARNING "OMOP table death not found; treated as empty") and
every death was lost, silently changing statuses and follow-up (case 3701: trMDD instead of MDD_other,
1633 d instead of 31). Same kind: a table present both as ``{table}.parquet`` and as a ``{table}/``
folder (an earlier export beside a later one) was read from the file, the folder ignored. Now each is
one error naming the folder and the names found, in the chain (``omop._locate``) and the twin.

Case tests/data/field_cases_round37/table-file-names (expected.tsv by hand, for the file named right;
toy config).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from test_phenotypes_support import STATUS_COLUMNS, duckdb_twin_rows, expected_statuses, toy_config

from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table
from trd_spark.phenotypes.stage import read_omop

CASE = Path(__file__).resolve().parent / "data" / "field_cases_round37" / "table-file-names"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import duckdb_phenotypes as twin_module  # noqa: E402


@pytest.fixture(scope="module")
def case_run(spark, tmp_path_factory):
    """The case as exported (DEATH.parquet) through the chain's read_omop and the DuckDB twin, once
    each: {"chain": the exception raised or None, "twin": the same, "root": the case's copy}."""
    root = tmp_path_factory.mktemp("round37") / "omop"
    shutil.copytree(CASE / "omop", root)
    cfg = toy_config(path=str(root))
    out: dict = {"root": root}
    for side, run in (("chain", lambda: read_omop(spark, cfg)),
                      ("twin", lambda: twin_module.duckdb_phenotypes(str(root), cfg, str(root.parent / "t.parquet"),
                                                                     threads=1))):
        try:
            run()
            out[side] = None
        except Exception as e:  # noqa: BLE001 - the test asserts which
            out[side] = e
    return out


def test_an_upper_case_death_file_is_an_error_in_the_chain_not_an_absent_table(case_run):
    """On 163d5e1 read_omop returned, death read as empty (WARNING 'not found; treated as empty')."""
    e = case_run["chain"]
    assert isinstance(e, InputDataError), e
    assert "OMOP table death" in str(e) and "DEATH.parquet" in str(e) and "not found" not in str(e)


def test_the_duckdb_twin_refuses_it_too_and_reads_the_case_named_right(case_run, tmp_path):
    """On 163d5e1 the twin ran with no deaths (3701 trMDD, 1633 d). Named death.parquet, the twin gives
    the hand-worked rows."""
    assert isinstance(case_run["twin"], ValueError) and "DEATH.parquet" in str(case_run["twin"])
    root = tmp_path / "omop"
    shutil.copytree(case_run["root"], root)
    (root / "DEATH.parquet").rename(root / "death.parquet")
    rows = duckdb_twin_rows(root, toy_config(path=str(root)), tmp_path / "t.parquet", ", ".join(STATUS_COLUMNS),
                            "TRUE")
    assert sorted(rows) == expected_statuses(CASE)


def test_a_table_as_a_file_and_a_folder_is_an_error_in_chain_and_twin(spark, case_run, tmp_path):
    """condition_occurrence.parquet beside a condition_occurrence/ folder (a later export): on 163d5e1
    the chain and the twin read the file and ignored the folder, silently."""
    root = tmp_path / "omop"
    shutil.copytree(case_run["root"], root)
    (root / "condition_occurrence").mkdir()
    shutil.copy(root / "condition_occurrence.parquet", root / "condition_occurrence" / "part-00000.parquet")
    with pytest.raises(InputDataError, match=r"condition_occurrence: both condition_occurrence\.parquet and a "
                                             r"condition_occurrence/ folder"):
        read_omop_table(spark, toy_config(path=str(root)).omop, "condition_occurrence")
    with pytest.raises(ValueError, match="both condition_occurrence.parquet"):
        twin_module._exists(str(root), "condition_occurrence")  # noqa: SLF001 - the twin's table lookup


def test_shards_other_formats_and_compressed_files_are_named_and_other_tables_are_not(spark, tmp_path):
    """bq extract shards and a CSV under omop.format parquet: the error names them (on 163d5e1: 'not
    found', which read_omop reads as an absent optional table); a gzip CSV under omop.format csv too.
    observation_period is no name of observation, person_ext none of person."""
    for name in ("death-000000000000.parquet", "death.csv"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(InputDataError, match=r"death-000000000000\.parquet, death\.csv, which the reader") as e:
        read_omop_table(spark, toy_config(path=str(tmp_path)).omop, "death")
    assert "not found" not in str(e.value)
    csv_cfg = toy_config(path=str(tmp_path), format="csv")
    (tmp_path / "death.csv").rename(tmp_path / "death.csv.gz")
    with pytest.raises(InputDataError, match=r"death\.csv\.gz"):
        read_omop_table(spark, csv_cfg.omop, "death")
    from trd_spark.phenotypes.omop import near_table_names  # new with the rule (an import error on 163d5e1)

    # A plain file named death (no extension: a gsutil cp without one) is such a name in the chain as in
    # the twin (reader s45 finding 2; on 163d5e1..a126303 the chain read it as the table, the twin not).
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(CASE / "omop" / "DEATH.parquet", plain / "death")
    with pytest.raises(InputDataError, match=r"no death\.parquet or death/ here, but death, which the reader"):
        read_omop_table(spark, toy_config(path=str(plain)).omop, "death")
    with pytest.raises(ValueError, match=r"no death\.parquet or death/, but death \(not read\)"):
        twin_module._exists(str(plain), "death")  # noqa: SLF001 - the twin's table lookup
    names = ["observation_period.parquet", "person_ext.parquet", "concept_ancestor", "Observation.parquet"]
    assert near_table_names(names, "observation") == ["Observation.parquet"]
    assert near_table_names(names, "person") == [] and near_table_names(names, "concept") == []
