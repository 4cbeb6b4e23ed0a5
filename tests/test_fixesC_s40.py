"""Session 40 helper fixesC: reader findings 5 and 11 and omop32's wording note (cheap: no Spark)."""
import logging

from test_privacy_s38 import _followup


# Finding 5: records_after_cutoff's count is the lines' n_after_cutoff plus the records after death
# dated after the cutoff, so a WARNING can come from the after-death records alone (1 after the cutoff
# of 1,000 beside 60 after death reaches 5.5%); the cause named only the cutoff. It now names the
# records after death when the lines show any, and the wording is chosen on the lines alone.
def test_records_after_cutoff_cause_names_records_after_death(caplog):
    """Drug line: 60 after death, 0 after the cutoff; x of the 60 dated after the cutoff (on no line).
    Every x gives the same message (the lines are the same); it names the records after death. With
    no record after death (lines 0) the cause names the cutoff alone."""
    from test_privacy_s37 import _cfg, _quirks

    from trd_spark.config import GateThreshold
    from trd_spark.phenotypes.stage import data_gates

    def dates(x: int, after_death: int = 60, after_cutoff: int = 0) -> dict:
        drug = _followup(500, n_after_followup_end=after_cutoff + after_death, n_after_death=after_death,
                         n_after_cutoff=after_cutoff)
        return {"condition": _followup(500), "drug": {**drug, "n_dated_after_cutoff": after_cutoff + x}}

    cfg = _cfg(records_after_cutoff=GateThreshold(warn=0.055, error=None))
    texts = set()
    for x in (1, 19, 20, 60):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="trd_spark"):
            assert data_gates(cfg, dates(x), _quirks(500))["records_after_cutoff"]["level"] == "warning"
        warning = [r.getMessage() for r in caplog.records if "records_after_cutoff" in r.getMessage()]
        assert len(warning) == 1, caplog.text
        assert "records dated after death" in warning[0] and "n_after_death" in warning[0], warning[0]
        texts.add(warning[0].split("likely cause: ", 1)[1])
    assert len(texts) == 1, texts  # the cause text does not depend on the count no line shows
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        assert data_gates(cfg, dates(100, after_death=0, after_cutoff=100),
                          _quirks(500))["records_after_cutoff"]["level"] == "warning"
    assert "omop.data_cutoff_date" in caplog.text and "after death" not in caplog.text, caplog.text


# omop32's note: since 249c02d the zone pattern matches any letter after the hour, so naive text
# such as '2019-01-05 3 PM' (no ISO form the pipeline reads) was called zoned text, and the error
# asked for omop.time_zone (the DuckDB twin alike); a datetime partner's fallback too. It is no
# date: the "not dates" error, with or without omop.time_zone; real zoned text still asks for it.
_NOT_ISO = ("2019-01-05 3 PM", "2019-01-05 12 pm")


def test_am_pm_text_is_no_date_not_zoned_text_in_the_chain(spark):
    import pytest
    from pyspark.sql import types as T

    from trd_spark.errors import InputDataError
    from trd_spark.phenotypes.omop import check_text_values, datetime_fallback

    for value in _NOT_ISO:
        df = spark.createDataFrame([(value,)], "d string")
        for zone in (None, "UTC"):
            with pytest.raises(InputDataError, match=r"value\(s\) are not dates") as e:
                check_text_values(df, "condition_occurrence", [("d", T.DateType())], where="phenotypes",
                                  time_zone=zone)
            assert "time_zone" not in str(e.value), str(e.value)
        pair = spark.createDataFrame([(None, value)], "d date, dt string")
        with pytest.raises(Exception, match="is text that is no date") as e:
            pair.select(datetime_fallback(pair, "death", "d", "dt", time_zone=None, session_zone="UTC",
                                          where="phenotypes")).collect()
        assert "omop.time_zone" not in str(e.value)
    zoned = spark.createDataFrame([("2019-01-05T03:00Z",)], "d string")
    with pytest.raises(InputDataError, match=r"date-times with a time zone.*set omop\.time_zone"):
        check_text_values(zoned, "condition_occurrence", [("d", T.DateType())], where="phenotypes")


def test_am_pm_text_is_no_date_not_zoned_text_in_the_duckdb_twin():
    import sys
    from pathlib import Path

    import duckdb
    import pytest

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from duckdb_phenotypes import _as_date

    con = duckdb.connect()

    def date_of(value: str, zone: str | None):
        sql = _as_date("d", "VARCHAR", None, "condition_occurrence", zone)
        return con.execute(f"SELECT {sql} FROM (VALUES (?)) t(d)", [value]).fetchone()[0]

    for value in _NOT_ISO:
        for zone in (None, "UTC"):
            with pytest.raises(duckdb.Error, match=r"not dates \(yyyy-mm-dd\)"):
                date_of(value, zone)
    with pytest.raises(duckdb.Error, match="needs omop.time_zone"):
        date_of("2019-01-05T03:00Z", None)
    assert str(date_of("2019-01-05T03:00Z", "America/New_York")) == "2019-01-04"


# Finding 11b: check_split_site_sums keys its sites by 'contig:position:ref:alt' text of the matched
# rows and of mt.locus; a dataset that spells its contigs without 'chr' on GRCh38 ('4', as many
# imputation servers write them) is recoded at import (genotypes.contig_recoding), so both spell
# chr4 and the check still finds the site (a key mismatch would have skipped the check silently).
def test_split_site_check_holds_for_a_dataset_without_the_chr_prefix(hl, spark, tmp_path):
    import re
    from pathlib import Path

    import pytest
    from test_field_cases_pgs import case_config, run_scores

    from trd_spark.errors import InputDataError

    case = Path(__file__).parent / "data" / "field_cases_round32_pgs" / "split-records-sum-above-two"
    vcf = tmp_path / "data.vcf"
    vcf.write_text(re.sub(r"(?m)^chr4\t", "4\t", (case / "genotypes" / "data.vcf").read_text())
                   .replace("##contig=<ID=chr4,", "##contig=<ID=4,"))
    assert "\nchr4\t" not in vcf.read_text()
    (tmp_path / "cfg").mkdir()
    with pytest.raises(InputDataError, match=r"of a site given split \(one record per alt\) give 2\.5000 alt copies "
                                             r"in all at chr4:1000000 A>"):
        run_scores(hl, spark, case_config(tmp_path / "cfg", str(vcf), str(case / "scores" / "*"), fmt="vcf",
                                          extra_genotypes=", dosage_field: DS"))
