"""Session 37, helper "fixesB": the reader's findings 3 and 4 and an invalid_reason spelling.

- 3: a drug_exposure table without drug_type_concept_id: the WARNING counting its records without
  an end or a days_supply showed the count exactly when >= T, beside the table's exact row count
  (the stage's ``event_table_records`` line): their difference, 1..T-1 records, by subtraction.
"""

from __future__ import annotations

import logging
import re

from trd_spark.phenotypes.omop import conform_omop_table


def test_drug_type_warning_count_is_a_label_not_a_rest_of_the_table(spark, caplog):
    """25 drug records, 22 without an end or a days_supply: on 45f9cc3 the WARNING said "22 records"
    beside the table's 25 (3 with an end, by subtraction); now "20+ record(s)", and no number in it
    differs from 25 by 1..19 (tests/person_count_guard.small_record_rests does not read this line,
    so the numbers are checked here)."""
    rows = [(i, 10, "2019-01-01", None, None, None) for i in range(22)] + \
           [(100 + i, 10, "2019-01-01", "2019-02-01", None, 30) for i in range(3)]
    df = spark.createDataFrame(rows, "person_id long, drug_concept_id long, drug_exposure_start_date string, "
                                     "drug_exposure_end_date string, verbatim_end_date string, days_supply int")
    with caplog.at_level(logging.INFO, logger="trd_spark.phenotypes.omop"):
        conform_omop_table(df, "drug_exposure", where="omop/drug_exposure.parquet", records_below=20)
    found = [m for m in caplog.messages if "drug_type_concept_id" in m]
    assert len(found) == 1 and "; 20+ record(s) without an end or a days_supply" in found[0], found
    numbers = [int(x) for x in re.findall(r"(?<![\w.<])(\d+)(?![\d+])", found[0])]
    assert not [x for x in numbers if 0 < 25 - x < 20], found[0]

