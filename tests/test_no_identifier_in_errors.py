"""Privacy of error lines: a file whose header line is missing has participant identifiers
(sample IDs, person_ids) where the column names should be, and an error about that header
must not quote them into the Workbench logs (README "Privacy"). Also the log line of statuses
per TRD definition, which adds up to the logged number of persons."""

from __future__ import annotations

import pytest

from trd_spark.cohort.stage import read_tsv
from trd_spark.errors import InputDataError, header_fields_text, value_shape
from trd_spark.pgs import bgen_reader
from trd_spark.pgs.genotypes import read_sample_map
from trd_spark.phenotypes.omop import check_text_values

IDS = ("AOU_S0042", "1000042", "AOU_S0043", "1000043")


def _quotes_an_id(message: str) -> bool:
    return any(i in message for i in IDS)


def test_sample_map_without_header_names_the_line_not_the_ids():
    with pytest.raises(InputDataError) as e:
        read_sample_map("AOU_S0042\t1000042\nAOU_S0043\t1000043\n", "map.tsv")
    msg = str(e.value)
    assert msg.startswith("map.tsv:1: header must be sample_id<TAB>person_id: the first line has 2 fields, "
                          "0 of them an expected column; is the header line missing?"), msg
    assert not _quotes_an_id(msg)
    # A header with one expected name and a misspelt one names the expected one only.
    with pytest.raises(InputDataError, match=r"2 fields, 1 of them an expected column \(sample_id\)"):
        read_sample_map("sample_id\tperson\nAOU_S0042\t1000042\n", "map.tsv")


def test_cohort_file_without_header_names_the_file_not_the_ids(spark, tmp_path):
    path = tmp_path / "ancestry_preds.tsv"
    path.write_text("1000042\teur\t0.1\t0.2\n1000043\tafr\t0.3\t0.4\n")
    with pytest.raises(InputDataError) as e:
        read_tsv(spark, str(path), ["research_id", "ancestry_pred"], "ancestry")
    msg = str(e.value)
    assert f"ancestry {path}: missing column(s) ['research_id', 'ancestry_pred']: the first line has 4 fields" in msg
    assert not _quotes_an_id(msg)


def test_bgen_sample_file_without_id_2_names_the_file_not_the_ids(tmp_path):
    bgen = tmp_path / "x.bgen"
    bgen.write_bytes(b"")  # only its .sample is read here
    (tmp_path / "x.sample").write_text("AOU_S0042 1000042 0\n0 0 0\nAOU_S0043 1000043 0\n")
    files = bgen_reader.BgenFiles(str(bgen), n_samples=1, n_variants=0, compression=1, first_variant=0,
                                  embedded_ids=None)
    with pytest.raises(InputDataError) as e:
        bgen_reader.sample_ids(files)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'x.sample'}: no ID_2 column: the first line has 3 fields, 0 of them"), msg
    assert not _quotes_an_id(msg)


def test_header_fields_text_counts_what_it_does_not_quote():
    assert header_fields_text(["ID_1", "ID_2"], ["ID_1", "ID_2"]) == \
        "the first line has 2 fields, 2 of them an expected column (ID_1, ID_2)"
    assert header_fields_text(["x"], ["a"]) == \
        "the first line has 1 field, 0 of them an expected column; is the header line missing?"


# A participant's cell in an OMOP text column that check_text_values rejects, whether the table
# has an omop.time_zone, and what the error says of it (its shape, never the value; its count of
# 1..19 cells as <20 since session 37, tests/test_privacy_s37.py).
BAD_CELLS = {
    "zoned_date_without_time_zone": ("2014-03-24T12:00:00+00:00", None,
                                     "<20 value(s) are date-times with a time zone (e.g. '####-##-##T##:##:##+##:##', "
                                     "digits shown as #, letters as a)"),
    "not_a_date": ("24 March 2014", "UTC", "<20 value(s) are not dates (yyyy-mm-dd), e.g. '## aaaaa ####' "
                                           "(digits shown as #, letters as a)"),
    "not_a_number": ("90 days", "UTC", "<20 value(s) are not bigint numbers, e.g. '## aaaa' (digits shown as #, "
                                       "letters as a)"),
}


@pytest.mark.parametrize("case", list(BAD_CELLS))
def test_a_bad_omop_cell_is_shown_by_its_shape_not_its_value(spark, case):
    """The OMOP reader's errors about a text cell quoted it: '2014-03-24T12:00:00+00:00' (a
    participant's visit) went to stderr and the run log; now its shape does, digits and
    letters masked (README Privacy: logs carry no individual data)."""
    from pyspark.sql import types as T

    value, zone, said = BAD_CELLS[case]
    column, kind = ("days_supply", T.LongType()) if case == "not_a_number" else ("drug_exposure_start_date", T.DateType())
    df = spark.createDataFrame([("2015-01-02" if kind == T.DateType() else "30",), (value,)], [column])
    with pytest.raises(InputDataError) as e:
        check_text_values(df, "drug_exposure", [(column, kind)], where="drug_exposure.parquet", time_zone=zone)
    msg = str(e.value)
    assert msg.startswith(f"drug_exposure.parquet: OMOP table drug_exposure column {column}: {said}"), msg
    assert not any(part in msg for part in ("2014", "03-24", "12:00", "March", "90 "))


def test_value_shape_masks_every_digit_and_letter_but_format_words():
    assert value_shape("2014-03-24 12:00:00 UTC") == "####-##-## ##:##:## UTC"
    assert value_shape("2014-03-24t12:00z") == "####-##-##t##:##z"
    assert value_shape("Mär 3, 2014 10 PM") == "aaa #, #### ## PM"
    assert value_shape("1000042" * 10) == "#" * 40 + "..."


def test_a_count_of_bad_omop_cells_has_thousands_separators(spark):
    """"8019 value(s) are not dates" (new-user trial, session 31): a record count is written with
    separators everywhere else (logs.count_text), README's one form for counts."""
    from pyspark.sql import types as T

    df = spark.createDataFrame([("2015-01-02",)] + [("24 March 2014",)] * 1234, ["drug_exposure_start_date"])
    with pytest.raises(InputDataError) as e:
        check_text_values(df, "drug_exposure", [("drug_exposure_start_date", T.DateType())],
                          where="drug_exposure.parquet", time_zone="UTC")
    assert "column drug_exposure_start_date: 1,234 value(s) are not dates" in str(e.value), str(e.value)
