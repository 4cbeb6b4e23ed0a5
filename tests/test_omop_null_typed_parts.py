"""An OMOP Parquet table whose part files differ only in a column of Parquet's null type.

pandas/pyarrow write a column of nothing but None as Parquet's null type (INT32 annotated
UNKNOWN, which Spark infers as ``int``): a valid export whose one part has no
``verbatim_end_date`` while another has dates was refused as a type conflict. The null-typed
part's values are null, whichever part comes first; a real conflict (text in one part, dates
in another) is still one error naming the part file and the column.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trd_spark.config import OmopInput
from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table

D = dt.date


def _part(folder, name: str, person: int, verbatim: pa.Array, quantity: pa.Array | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    extra = {} if quantity is None else {"quantity": quantity}
    pq.write_table(pa.table({
        "person_id": pa.array([person], pa.int64()),
        "drug_concept_id": pa.array([700], pa.int64()),
        "drug_exposure_start_date": pa.array([D(2019, 1, 10)], pa.date32()),
        "drug_exposure_end_date": pa.array([D(2019, 2, 10)], pa.date32()),
        "days_supply": pa.array([30], pa.int32()),
        "verbatim_end_date": verbatim,
        **extra,
    }), folder / name)


@pytest.mark.parametrize("null_first", [True, False], ids=["null_part_first", "null_part_later"])
def test_a_null_typed_column_in_one_part_reads_as_empty_there(spark, tmp_path, null_first):
    folder = tmp_path / "omop" / "drug_exposure"
    nulls, dates = pa.array([None], pa.null()), pa.array([D(2019, 2, 3)], pa.date32())
    _part(folder, "part-00000.parquet", 1, nulls if null_first else dates)
    _part(folder, "part-00001.parquet", 2, dates if null_first else nulls)
    assert pq.read_schema(folder / "part-00000.parquet").field("verbatim_end_date").type == (
        pa.null() if null_first else pa.date32())
    omop = OmopInput(format="parquet", path=str(tmp_path / "omop"), data_cutoff_date=D(2023, 7, 1))
    rows = read_omop_table(spark, omop, "drug_exposure").select("person_id", "verbatim_end_date").collect()
    dated = 2 if null_first else 1
    assert sorted((r.person_id, r.verbatim_end_date) for r in rows) == sorted(
        [(dated, D(2019, 2, 3)), (3 - dated, None)])


def test_a_text_column_in_one_part_and_dates_in_another_is_still_one_error(spark, tmp_path):
    folder = tmp_path / "omop" / "drug_exposure"
    _part(folder, "part-00000.parquet", 1, pa.array([D(2019, 2, 3)], pa.date32()))
    _part(folder, "part-00001.parquet", 2, pa.array(["2019-02-03"], pa.string()))
    omop = OmopInput(format="parquet", path=str(tmp_path / "omop"), data_cutoff_date=D(2023, 7, 1))
    with pytest.raises(InputDataError) as e:
        read_omop_table(spark, omop, "drug_exposure")
    text = str(e.value)
    assert "part-00001.parquet" in text and "verbatim_end_date" in text and "string" in text, text


def test_a_null_typed_number_column_in_the_first_part_takes_the_later_parts_type(spark, tmp_path):
    # Not only dates: quantity (double) all None in part 0 must not make part 1's 2.5 an int or an error.
    folder = tmp_path / "omop" / "drug_exposure"
    dates = pa.array([D(2019, 2, 3)], pa.date32())
    _part(folder, "part-00000.parquet", 1, dates, pa.array([None], pa.null()))
    _part(folder, "part-00001.parquet", 2, dates, pa.array([2.5], pa.float64()))
    omop = OmopInput(format="parquet", path=str(tmp_path / "omop"), data_cutoff_date=D(2023, 7, 1))
    rows = read_omop_table(spark, omop, "drug_exposure").select("person_id", "quantity").collect()
    assert sorted((r.person_id, r.quantity) for r in rows) == [(1, None), (2, 2.5)]
