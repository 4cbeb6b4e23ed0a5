"""Field cases, round 14 (session 24): OMOP readers and drug rules on shapes real exports bring.

- drug_exposure ``refills`` below 0 (the CDM does not allow it; a reversal's shape, like a
  negative days_supply) was read as no refills without a count (``refills > 0`` only, with
  ``trials.use_refills``): now counted in notes.quirks.drug_records (n_negative_refills) with
  its WARNING text, Spark and the DuckDB twin alike (tests/test_phenotypes_duckdb.py adds such
  rows to the generated data and compares the counts).
"""

from __future__ import annotations

from test_phenotypes_support import SERTRALINE_TAB, drug, frame

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

