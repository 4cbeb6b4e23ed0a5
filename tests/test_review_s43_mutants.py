"""Mutation review of session 43's code (session 44, helper "review").

Each test kills mutants of 22c6515..de435dc that the tests of session 43 let pass (the mutants
named in each docstring; the whole table of mutants tried, killed and equivalent is in the commit
message). Cheap: the session's Spark fixture or none, in-memory frames of a row or two, no stage run.
"""

from __future__ import annotations

import os
import sys
import time
import typing
from pathlib import Path

import pytest
from pyspark.sql import types as T
from test_rerun_s43 import OTHER_VALUE_S43, _gcs_lock

from trd_spark import provenance
from trd_spark.errors import InputDataError
from trd_spark.phenotypes import omop


def _twin():
    """benchmarks/duckdb_phenotypes (the DuckDB oracle of the phenotype rules)."""
    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    import duckdb_phenotypes

    return duckdb_phenotypes


def test_the_refused_zone_ids_are_javas_short_ids_but_its_fixed_offsets_and_tzdbs_summer_time_ones(spark):
    """``omop._LEGACY_ZONE_IDS`` is ``java.time.ZoneId.SHORT_IDS`` (read from the running JVM) without
    EST, MST and HST, with CET, EET, MET and WET, and the DuckDB twin lists the same. Mutants: any
    one ID dropped from either list (round 35's values name BST, IST, CET, WET, EET and MET: PST
    dropped from the chain or the twin passed, and '2019-07-10 00:30 PST' was read as Los Angeles)."""
    short = {str(k) for k in spark.sparkContext._jvm.java.time.ZoneId.SHORT_IDS.keySet()}  # noqa: SLF001
    expected = (short - {"EST", "MST", "HST"}) | {"CET", "EET", "MET", "WET"}
    assert set(omop._LEGACY_ZONE_IDS) == expected  # noqa: SLF001
    assert len(omop._LEGACY_ZONE_IDS) == len(expected)  # noqa: SLF001
    assert set(_twin()._LEGACY_ZONE_IDS) == expected  # noqa: SLF001


# Legacy zones after a fraction of a second (a dot or ISO 8601's comma): refused like the whole-second ones.
FRACTIONS = [("2019-07-10 00:30:00.5 BST", "BST"), ("2019-07-10T00:30:00,250 pst", "PST")]


def test_a_legacy_zone_after_a_fraction_of_a_second_is_refused_and_no_instant(spark):
    """check_text_values refuses a legacy zone after a fraction (with and without omop.time_zone),
    naming it; ``zoned_text_instant`` reads no instant from such text, with or without a fraction.
    Mutants: ``[0-9:.,]*`` narrowed to ``[0-9:]*`` in ``_LEGACY_ZONE`` (the fraction's text read as
    Bangladesh / Los Angeles time, silently); ``zoned_text_instant`` without its legacy-zone guard."""
    columns = [("person_id", T.LongType()), ("condition_start_date", T.DateType())]
    for value, abbreviation in FRACTIONS:
        df = spark.createDataFrame([(1, value)], "person_id bigint, condition_start_date string")
        for zone in ("Europe/London", None):
            with pytest.raises(InputDataError, match=rf"condition_start_date: <20 value\(s\) are date-times with the "
                                                     rf"time-zone abbreviation '{abbreviation}'"):
                omop.check_text_values(df, "condition_occurrence", columns, where="mem", time_zone=zone)
    values = [v for v, _ in FRACTIONS] + ["2019-07-10 00:30:00 BST", "2019-07-10 00:30:00+01:00"]
    df = spark.createDataFrame([(v,) for v in values], "t string")
    instants = [r[0] for r in df.select(omop.zoned_text_instant(df.t)).collect()]
    assert instants[:3] == [None, None, None] and instants[3] is not None


def test_the_twin_refuses_a_legacy_zone_after_a_fraction_and_without_omop_time_zone():
    """The DuckDB twin (``_dated``): a legacy zone after a fraction is one error naming it, with
    omop.time_zone set and unset (round 35's twin test sets it, whole seconds only). Mutants: the
    twin's pattern without ``.,`` (read as ICU's zone); its ``refused`` case left out of the
    unset-zone branch (the error said "needs omop.time_zone", as for any zone)."""
    import duckdb

    twin = _twin()
    con = duckdb.connect()
    try:
        for value, abbreviation in [*FRACTIONS, ("2019-07-10 00:30:00 BST", "BST")]:
            for zone in ("Europe/London", None):
                source = f"(SELECT 1::BIGINT AS person_id, CAST('{value}' AS VARCHAR) AS death_date)"
                query = f"SELECT death_date FROM ({twin._dated(con, source, 'death', zone)})"  # noqa: SLF001
                with pytest.raises(duckdb.Error, match=rf"death\.death_date: .*zone abbreviation {abbreviation}"):
                    con.execute(query).fetchall()
    finally:
        con.close()


def test_every_runtime_keys_model_is_a_runtime_setting():
    """``RUNTIME_SETTINGS`` lists every model of a ``config.RUNTIME_KEYS`` field (test_rerun_s43
    checks it lists no other). Mutant: ``LoggingSettings`` (or ``ToyDataSettings``) dropped from it:
    an edit of a logging default reran every stage of every release again."""
    from pydantic import BaseModel

    from trd_spark.config import RUNTIME_KEYS, Config

    models = {a.__name__ for k in RUNTIME_KEYS
              for a in (Config.model_fields[k].annotation, *typing.get_args(Config.model_fields[k].annotation))
              if isinstance(a, type) and issubclass(a, BaseModel)}
    assert models and models <= {e.partition(":")[2] for e in provenance.RUNTIME_SETTINGS}


def test_the_settings_pinned_in_session_43_are_sparks_own_defaults(spark):
    """Each of the 12 keys session 43 pinned in ``RESULT_SPARK_CONF`` has Spark's default value (a
    fresh ``SQLConf``'s, in the running JVM): pinned to keep results as they were, not to change
    them. Mutant: ``storeAssignmentPolicy`` STRICT (test_rerun_s43 sets another value, LEGACY, on the
    session and sees it refused whatever the pinned value is, unless it is that one)."""
    from trd_spark.session import RESULT_SPARK_CONF

    fresh = spark.sparkContext._jvm.org.apache.spark.sql.internal.SQLConf()  # noqa: SLF001
    assert {k: RESULT_SPARK_CONF[k] for k in OTHER_VALUE_S43} == {k: str(fresh.getConfString(k)) for k in OTHER_VALUE_S43}


def test_a_gcs_lock_taken_over_loses_its_runs_heartbeat_and_its_holder_text_says_the_heartbeats_age(
        tmp_path, monkeypatch):
    """A gs:// lock (a local folder, test_rerun_s43's ``_Bucket``) written two days ago whose run
    refreshed its heartbeat just now: the exit-6 text says it was refreshed seconds ago, not 48 h;
    once that heartbeat is old too, another run takes the lock over and removes it. Mutants: the
    holder text by the lock file's time alone (``lock_holder_text`` without ``last_written``); the
    taker leaving the stale run's heartbeat."""
    from trd_spark.releases import lock_holder_text

    held = _gcs_lock(tmp_path, monkeypatch, "elsewhere")
    held.acquire()
    assert held.refresh()
    lock, beat = Path(held.fs.at(held.path)), Path(held.fs.at(held.heartbeat))
    two_days_ago = time.time() - 48 * 3600
    os.utime(lock, (two_days_ago, two_days_ago))
    text = lock_holder_text(held.fs, held.path, 24)
    assert "its run last refreshed the lock 0m" in text, text
    os.utime(beat, (two_days_ago, two_days_ago))
    assert "its run last refreshed the lock 48h" in lock_holder_text(held.fs, held.path, 24)
    taker = _gcs_lock(tmp_path, monkeypatch, "taker")
    taker.acquire()
    assert taker.holds() is True
    assert not beat.exists()
    taker.release_lock()


def test_a_multiallelic_records_sum_check_counts_the_gt_copies_of_an_alt_without_dosage(hl, tmp_path):
    """``genotypes.to_biallelic_dosage`` (``dosage_field: DS``): at a two-alt record a sample's
    GT 2/2 with DS ``0.5,.`` is 0.5 copies of G given and, DS missing for C, the GT's 2 copies of
    C: 2.5 alt copies in all, the error naming field, site and sum. Mutant g7 (session 44 review):
    the sum of the given dosages only (0.5: no error, and the REF's dosage 2 - 2.5 summed)."""
    from trd_spark.pgs.genotypes import contig_recoding, to_biallelic_dosage

    vcf = tmp_path / "d.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr4,length=190214555>\n"
                   '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                   '##FORMAT=<ID=DS,Number=A,Type=Float,Description="Alt dosage">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\n"
                   "chr4\t1000000\t.\tA\tG,C\t.\tPASS\t.\tGT:DS\t2/2:0.5,.\n")
    # (array_elements_required=False as genotypes.read_genotypes reads a VCF: '.' in DS is a missing element)
    mt = hl.import_vcf(str(vcf), reference_genome="GRCh38", contig_recoding=contig_recoding("GRCh38"),
                       array_elements_required=False)
    with pytest.raises(Exception, match=r"dosage field DS gives 2\.5000 alt copies in all at chr4:1000000 A,G,C"):
        to_biallelic_dosage(hl, mt, where="t", dosage_field="DS").entries().collect()
