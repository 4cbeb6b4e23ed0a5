"""Field cases, round 14 (session 24): OMOP readers and drug rules on shapes real exports bring.

- drug_exposure ``refills`` below 0 (the CDM does not allow it; a reversal's shape, like a
  negative days_supply) was read as no refills without a count (``refills > 0`` only, with
  ``trials.use_refills``): now counted in notes.quirks.drug_records (n_negative_refills) with
  its WARNING text, Spark and the DuckDB twin alike (tests/test_phenotypes_duckdb.py adds such
  rows to the generated data and compares the counts).
- OMOP CSV that Spark's RFC 4180 reader (session 22) reads otherwise than written, silently:
  quotes escaped with a backslash (Spark's own CSV writer default, MySQL: a last text column was
  cut at its comma), rows with fewer or more fields than the header (PERMISSIVE mode pads them
  with nulls or drops the extra fields; a whitespace-only line became a row of nulls), and a
  table's second file whose header lists the columns in another order (Spark reads every file
  by the first file's header: person_id and days_supply swapped). Each is one error naming the
  file and line, found in the one text pass per CSV table that session 23 added for unclosed
  quotes (omop._check_csv_rows).
"""

from __future__ import annotations

import pytest
from test_phenotypes_support import SERTRALINE_TAB, drug, frame, toy_config

from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table
from trd_spark.phenotypes.stage import DRUG_RECORD_QUIRK_TEXT, drug_record_quirks


def test_negative_refills_are_counted_as_a_drug_record_quirk(spark):
    """Two of four records have refills -1 / -12 (by hand: 2); refills 0 and null are no quirk.
    On c765c14: no n_negative_refills key (the records went uncounted)."""
    rows = frame(spark, "drug_exposure", [
        drug(1, SERTRALINE_TAB, "2020-01-01", days_supply=30, refills=-1),
        drug(2, SERTRALINE_TAB, "2020-01-01", days_supply=30, refills=-12),
        drug(3, SERTRALINE_TAB, "2020-01-01", days_supply=30, refills=0),
        drug(4, SERTRALINE_TAB, "2020-01-01", days_supply=30),
    ])
    got = drug_record_quirks(rows, 365).collect()[0].asDict()
    assert got["n_negative_refills"] == 2
    assert got["n_refill_course_over_max"] == 0
    assert set(DRUG_RECORD_QUIRK_TEXT) == set(got)


_HEADER = "person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date,days_supply,refills,sig\n"
_ROW = "1,2000000101,2020-01-01,2020-01-01,30,0,"


def _read_drugs(spark, tmp_path):
    return read_omop_table(spark, toy_config(path=str(tmp_path), format="csv").omop, "drug_exposure")


def test_a_csv_written_by_spark_s_own_writer_is_refused_naming_its_line(spark, tmp_path):
    """Spark's CSV writer escapes a quote with a backslash: sig '5" x 2" tablet, daily' is
    written '"5\" x 2\" tablet, daily"', which read as RFC 4180 ends at the first backslash's
    quote and splits at the comma; as the last column, the extra field was dropped silently
    (c765c14: read, sig cut; with one quote only, its odd count gave the misleading 'not closed
    by the end of the file'). Now the error names the part file and the line (2: header line 1)."""
    out = tmp_path / "drug_exposure"
    spark.createDataFrame([(1, 2000000101, "2020-01-01", "2020-01-01", 30, 0, '5" x 2" tablet, daily')],
                          "person_id long, drug_concept_id long, drug_exposure_start_date string, "
                          "drug_exposure_end_date string, days_supply int, refills int, sig string") \
        .coalesce(1).write.option("header", "true").csv(str(out))
    part = next(out.glob("part-*.csv"))
    assert '\\"' in part.read_text()  # the writer's default escape, as probed
    with pytest.raises(InputDataError, match=rf"^{part}:2: OMOP table drug_exposure: a quote escaped with a "
                                             "backslash"):
        _read_drugs(spark, tmp_path)


@pytest.mark.parametrize(("rows", "line", "what"), [
    # line 2 holds a good row with a quoted comma, line break and doubled quote (lines 2-3) and
    # a trailing empty field; the short row starts on line 5 (line 4: blank, skipped)
    (_ROW.replace(",0,", ",,") + '"take, ""one""\ndaily"\n\n1,2000000101,2020-02-01,2020-02-01,30,0\n', 5,
     "the row on this line has 6 fields where the header has 7"),
    (_ROW + "x\n" + _ROW + "x,9\n", 3, "the row on this line has 8 fields where the header has 7"),
    (_ROW + "x\n   \n", 3, "the row on this line has 1 fields where the header has 7"),
    # a row spanning lines 2-3 whose second line has one field too many
    (_ROW + '"take\none",9\n', 2, "the row on this line has 8 fields where the header has 7"),
    # quotes inside a quoted field not written twice (no backslash): no RFC 4180 row
    (_ROW + '"5" tablet, "daily"\n', 2, "a quoted field on this line is followed by text before the next comma"),
], ids=["short-after-multiline", "long", "whitespace-line", "long-multiline", "undoubled-quote"])
def test_a_row_of_another_width_is_refused_naming_its_line(spark, tmp_path, rows, line, what):
    """PERMISSIVE mode pads a short row with nulls (refills read as none, days_supply as
    unknown), drops a long row's extra fields and reads a whitespace-only line as a row of a
    blank person_id (c765c14: all read without a word). Quoted commas, line breaks and a
    trailing empty field count as RFC 4180 says; lines by hand."""
    (tmp_path / "drug_exposure.csv").write_text(_HEADER + rows)
    with pytest.raises(InputDataError, match=rf"^{tmp_path}/drug_exposure.csv:{line}: OMOP table drug_exposure: "
                                             + what.replace("(", r"\(")):
        _read_drugs(spark, tmp_path)


def test_a_second_file_with_its_columns_in_another_order_is_refused(spark, tmp_path):
    """Spark reads every file of a table by the first file's header: b.csv's days_supply and
    person_id were read swapped (c765c14: person 30 with 7 days' supply). Error at b.csv:1;
    the same table with one header (and one file with a byte-order mark and CRLF line ends) reads."""
    table = tmp_path / "drug_exposure"
    table.mkdir()
    (table / "a.csv").write_text(_HEADER + _ROW + "\n")  # a trailing empty field: 7 fields
    swapped = "days_supply,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date,person_id,refills,sig\n"
    (table / "b.csv").write_text(swapped + "7,2000000101,2020-01-01,2020-01-01,30,0,x\n")
    with pytest.raises(InputDataError, match=rf"^{table}/b.csv:1: OMOP table drug_exposure: this file's header "
                                             "names other columns, or the same in another order"):
        _read_drugs(spark, tmp_path)
    (table / "b.csv").write_bytes(("\ufeff" + _HEADER + "30,2000000101,2020-01-01,2020-01-01,7,0,x\n")
                                  .replace("\n", "\r\n").encode())
    got = sorted(tuple(r) for r in _read_drugs(spark, tmp_path).select("person_id", "days_supply").collect())
    assert got == [(1, 30), (30, 7)]
