"""Field cases, round 12 (session 22): known kinds of fault in shapes the earlier rounds did not try.

- An OMOP CSV as PostgreSQL COPY, BigQuery, pandas or R write it (RFC 4180): a quoted field
  holding a line break (drug_exposure.sig 'take\\none daily') or a quote written twice
  ('5"" tablet, daily'). Spark's defaults read one row per line with a backslash escape: the
  row was cut in two, its second half refused as 'person_id ... not bigint numbers' on the
  wrong line (valid data refused), and the doubled quote split the field at its comma
  (days_supply read from the text after it). The reader now takes RFC 4180
  (``omop.CSV_READ_OPTIONS``), and a text-value error names the line where its row starts,
  counting the lines a quoted field spans.
"""

from __future__ import annotations

import pytest
from test_phenotypes_support import toy_config

from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table

_DRUG_HEADER = "person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date,sig,days_supply,refills\n"


def test_an_rfc4180_csv_with_line_breaks_and_doubled_quotes_in_fields_is_read_as_written(spark, tmp_path):
    """By hand (Python's csv module reads the same): two rows, days_supply 30 and 7, sig with
    its line break and its quote. Before: 'drug_exposure.csv:3: ... column person_id: 1
    value(s) are not bigint numbers' (the line ' one daily",30,0' read as a row of its own)."""
    (tmp_path / "drug_exposure.csv").write_text(
        _DRUG_HEADER + '1,2000000101,2020-01-01,2020-01-01,"take\none daily",30,0\n'
        '2,2000000101,2020-02-01,2020-02-01,"5"" tablet, daily",7,1\n')
    config = toy_config(path=str(tmp_path), format="csv").omop
    got = sorted(tuple(r) for r in read_omop_table(spark, config, "drug_exposure").select(
        "person_id", "days_supply", "refills").collect())
    assert got == [(1, 30, 0), (2, 7, 1)]


@pytest.mark.parametrize(("rows", "line", "column"), [
    # The row with 30.5 starts on line 7: lines 2-5 are one row (a blank line and a doubled
    # quote inside its sig), line 6 is blank, line 7 opens a sig that ends on line 8.
    ('1,2000000101,2020-01-01,2020-01-01,"take\n\none ""x""\ndaily",30,0\n\n'
     '1,2000000101,2020-02-01,2020-02-01,"a\nb",30.5,0\n', 7, "days_supply"),
    ('1,2000000101,2020-01-01,2020-01-01,"take\none daily",30,0\n'
     '1,2000000101,2020-01-01,2020-01-01,x,30,0.5\n', 4, "refills"),
], ids=["row-spanning-lines", "row-after-one"])
def test_a_text_value_error_names_the_line_its_row_starts_on(spark, tmp_path, rows, line, column):
    """The line of the first offending row's start (header line 1, blank lines and the lines of
    a quoted field counted). Before: the reader cut the rows, the error named person_id."""
    (tmp_path / "drug_exposure.csv").write_text(_DRUG_HEADER + rows)
    config = toy_config(path=str(tmp_path), format="csv").omop
    with pytest.raises(InputDataError, match=rf"^{tmp_path}/drug_exposure.csv:{line}: OMOP table drug_exposure "
                                             rf"column {column}: 1 value\(s\) are not int numbers"):
        read_omop_table(spark, config, "drug_exposure")

