"""Reading OMOP CDM v5.4 tables (Parquet or CSV exports) at the edge of the phenotype stage.

Each table is returned with only the columns the study uses, lower-cased and cast to the
declared types below (IDs ``long``, dates ``date``), so that every transform downstream can
rely on one shape whatever the export wrote (e.g. ``int`` person_id, timestamp dates, CSV
strings). A missing table or column is an ``InputDataError`` naming the table and column;
so are text dates or numbers that do not parse (``days_supply`` "90 days" is never a silent
null), time-zone-aware timestamps without ``omop.time_zone``, a date column of any other
type, duplicate ``person_id`` and a missing ``year_of_birth``.

Dates are the calendar dates the export meant (``to_omop_date``): DATE as is; a naive
timestamp (Spark ``timestamp_ntz``) and ISO text (``2019-01-10`` or ``2019-01-10T00:00:00``)
by their written date; a time-zone-aware timestamp (an instant), and ISO text whose time
carries a zone (``2019-01-09T23:00:00Z``, ``+05:30``, BigQuery's CSV ``2019-01-09 23:00:00
UTC``: an instant written as text), as its local date in ``omop.time_zone``. Casting an
instant in the session zone (UTC) would move a local midnight east of Greenwich to the
previous day; without ``omop.time_zone`` either is an error. Parquet nanosecond timestamps (pandas' default), which
Spark 3.5 refuses to read, are read as integers (``spark.sql.legacy.parquet.nanosAsLong``)
and converted by the same rules: naive ones by their written date, UTC-adjusted ones in
``omop.time_zone``. With ``omop.time_zone`` set, an instant column whose Parquet files declare a
zone other than UTC in their Arrow schema (a time-zone-aware pandas column) is dated in that zone
(``localize_declared_zones``).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from functools import reduce
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.sql import Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from trd_spark.config import MIN_SMALL_COUNT_THRESHOLD, Config, OmopInput, bigquery_project, local_path
from trd_spark.errors import QUERY_INPUT_ERROR_TAG, VALUE_SHAPE_NOTE, InputDataError, value_shape
from trd_spark.io import Fs, csv_columns_named_twice
from trd_spark.logs import counted, record_count_label, record_count_text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

_L, _I, _S, _D = T.LongType(), T.IntegerType(), T.StringType(), T.DateType()

# The counts of records in this reader's messages (cells that are no date or number, drug records
# without an end when drug_type_concept_id is missing: ``record_count_label``) read as ``logs.record_count_text`` writes
# them, 1 to T-1 as ``<T``: k records are held by 1..k persons (privacy round 6, session 37: "3
# value(s) are not dates" put 1..3 persons in an error line). The phenotypes stage passes
# ``report.small_count_threshold`` (``records_below``); another caller (a test, a tool) that
# passes none gets the policy's T (the setting's default and lowest value), never the exact count.
# The constant, not ``ReportSettings``' default: a model taken by name is followed into this
# stage's code digest, so every key added to ``report`` reran the phenotypes stage (session 52).
DEFAULT_RECORDS_BELOW: int = MIN_SMALL_COUNT_THRESHOLD

# The columns we read from each table, with the type we cast them to.
OMOP_COLUMNS: dict[str, tuple[tuple[str, T.DataType], ...]] = {
    "person": (
        ("person_id", _L),
        ("gender_concept_id", _L),
        ("year_of_birth", _I),
        ("month_of_birth", _I),
        ("day_of_birth", _I),
        # optional: All of Us ships sex at birth here (the configured omop.sex_at_birth.column
        # is read under this name) and gender_concept_id holds gender identity
        ("sex_at_birth_concept_id", _L),
        ("birth_datetime", _D),
        # optional: CDM v6.0 moved the death here (and dropped the death table); read as death
        # rows beside the death table's (``person_death_rows``, docs/phenotypes.md "Follow-up")
        ("death_datetime", _D),
    ),
    "observation_period": (
        ("person_id", _L),
        ("observation_period_start_date", _D),
        ("observation_period_end_date", _D),
    ),
    "condition_occurrence": (
        ("person_id", _L),
        ("condition_concept_id", _L),
        ("condition_start_date", _D),
        # optional: a preliminary (rule-out) diagnosis is no MDD diagnosis (vocabulary.
        # PRELIMINARY_DIAGNOSIS_STATUS_IDS)
        ("condition_status_concept_id", _L),
        ("condition_source_concept_id", _L),  # optional: counted where the concept is 0 (SOURCE_CONCEPT_OF)
    ),
    "drug_exposure": (
        ("person_id", _L),
        ("drug_concept_id", _L),
        ("drug_exposure_start_date", _D),
        ("drug_exposure_end_date", _D),
        ("days_supply", _I),
        ("verbatim_end_date", _D),
        ("quantity", T.DoubleType()),  # units dispensed (minimum-dose rule)
        ("refills", _I),  # authorised refills (exposure end when no end date is recorded)
        ("drug_source_concept_id", _L),  # optional, as condition_source_concept_id
        # optional: an administration record (vocabulary.ADMINISTRATION_DRUG_TYPE_IDS) with no end
        # and no days_supply covers its own day, not a default-length order (trials.exposure_end_expr)
        ("drug_type_concept_id", _L),
        # optional: the CDM's primary key; repeated among the records of a claim reversal's person and
        # product it is an error (stage.check_exposure_ids: which claim a reversal cancels is unknown)
        ("drug_exposure_id", _L),
    ),
    "procedure_occurrence": (
        ("person_id", _L),
        ("procedure_concept_id", _L),
        ("procedure_date", _D),
        ("procedure_source_concept_id", _L),  # optional, as condition_source_concept_id
    ),
    "death": (
        ("person_id", _L),
        ("death_date", _D),
    ),
    # Records of concepts in the Observation domain (CDM: a record's table follows its concept's
    # domain), e.g. HCPCS G2082/G2083 esketamine given in clinic under OHDSI's HCPCS rules; read
    # only when a study concept set reads it (``omop_tables_read``).
    "observation": (
        ("person_id", _L),
        ("observation_concept_id", _L),
        ("observation_date", _D),
        ("observation_source_concept_id", _L),  # optional, as condition_source_concept_id
    ),
    # Somatic treatment devices (e.g. rTMS); optional table.
    "device_exposure": (
        ("person_id", _L),
        ("device_concept_id", _L),
        ("device_exposure_start_date", _D),
        ("device_source_concept_id", _L),  # optional, as condition_source_concept_id
    ),
    # Vocabulary table: amount of an ingredient per unit of a drug product, or its concentration
    # (numerator per denominator: a liquid's mg per mL), and the box a product comes in (minimum-dose
    # rule; optional table, read only when a minimum dose is configured; the columns after
    # amount_value optional: stage.drug_strength_amounts reads what they make well defined).
    "drug_strength": (
        ("drug_concept_id", _L),
        ("ingredient_concept_id", _L),
        ("amount_value", T.DoubleType()),
        ("amount_unit_concept_id", _L),
        ("numerator_value", T.DoubleType()),
        ("numerator_unit_concept_id", _L),
        ("denominator_value", T.DoubleType()),
        ("denominator_unit_concept_id", _L),
        ("box_size", _I),
    ),
    "concept": (
        ("concept_id", _L),
        ("concept_name", _S),
        ("domain_id", _S),
        ("vocabulary_id", _S),
        ("concept_class_id", _S),
        ("standard_concept", _S),
        ("concept_code", _S),
        # 'D' deprecated, 'U' upgraded: such a descendant is no member of a set (concepts.load_vocabulary)
        ("invalid_reason", _S),
    ),
    "concept_ancestor": (
        ("ancestor_concept_id", _L),
        ("descendant_concept_id", _L),
        ("min_levels_of_separation", _I),
        ("max_levels_of_separation", _I),
    ),
}


# Columns an export may lack (absent -> null): verbatim_end_date, quantity and refills are
# often not populated (absent quantity: dose unknown; absent refills: none; absent drug_type_concept_id:
# no record is an administration, a WARNING counting the records that concerns:
# log_records_without_drug_type).
OPTIONAL_COLUMNS: dict[str, frozenset[str]] = {
    "drug_exposure": frozenset({"verbatim_end_date", "quantity", "refills", "drug_source_concept_id",
                                "drug_type_concept_id", "drug_exposure_id"}),
    "person": frozenset({"sex_at_birth_concept_id", "birth_datetime", "death_datetime"}),
    "condition_occurrence": frozenset({"condition_status_concept_id", "condition_source_concept_id"}),
    "procedure_occurrence": frozenset({"procedure_source_concept_id"}),
    "device_exposure": frozenset({"device_source_concept_id"}),
    "observation": frozenset({"observation_source_concept_id"}),
    "concept": frozenset({"invalid_reason"}),
    # an export of the CDM's older drug_strength, or a test's, may have the amount only
    "drug_strength": frozenset({"amount_unit_concept_id", "numerator_value", "numerator_unit_concept_id",
                                "denominator_value", "denominator_unit_concept_id", "box_size"}),
}

# Event table -> (standard concept column, source concept column). Records are recognised by
# their standard concept only, as OHDSI cohort definitions read them (docs/phenotypes.md "Concepts"): a
# record whose concept is 0 (the ETL found no standard concept for its source code) is not
# read, whatever its source concept; such records with a source concept are counted and warned
# about (stage.event_table_counts). The source columns are read for that count only.
SOURCE_CONCEPT_OF: dict[str, tuple[str, str]] = {
    "condition_occurrence": ("condition_concept_id", "condition_source_concept_id"),
    "drug_exposure": ("drug_concept_id", "drug_source_concept_id"),
    "procedure_occurrence": ("procedure_concept_id", "procedure_source_concept_id"),
    "device_exposure": ("device_concept_id", "device_source_concept_id"),
    "observation": ("observation_concept_id", "observation_source_concept_id"),
}


# Date columns the CDM pairs with a datetime column: an export that leaves the date empty and
# fills the datetime (OMOP v5.4 requires the date; some ETLs write only the datetime) takes the
# datetime's date, by the same rules as a date column (``datetime_fallback``). Before, such a
# death row was no death and such an exposure end was replaced by days_supply.
DATETIME_OF: dict[tuple[str, str], str] = {
    ("condition_occurrence", "condition_start_date"): "condition_start_datetime",
    ("drug_exposure", "drug_exposure_start_date"): "drug_exposure_start_datetime",
    ("drug_exposure", "drug_exposure_end_date"): "drug_exposure_end_datetime",
    ("procedure_occurrence", "procedure_date"): "procedure_datetime",
    ("device_exposure", "device_exposure_start_date"): "device_exposure_start_datetime",
    ("observation", "observation_date"): "observation_datetime",
    ("death", "death_date"): "death_datetime",
}


def omop_schema(table: str) -> T.StructType:
    """The declared (read) schema of an OMOP table."""
    if table not in OMOP_COLUMNS:
        raise InputDataError(f"unknown OMOP table {table!r} (known: {sorted(OMOP_COLUMNS)})", where="omop")
    return T.StructType([T.StructField(n, t, True) for n, t in OMOP_COLUMNS[table]])


# Parquet INT64 TIMESTAMP(NANOS, isAdjustedToUTC) read as a long: nanoseconds since the epoch.
NANOS_NAIVE, NANOS_UTC = "naive", "utc"
_NANOS_PER_DAY = 86_400 * 10**9


def to_omop_date(col: Column, source: T.DataType, table: str, name: str, *, time_zone: str | None,
                 session_zone: str, where: str, nanos: str | None = None) -> Column:
    """The calendar date a column of Spark type ``source`` means (see the module docstring).

    ``nanos`` (NANOS_NAIVE / NANOS_UTC): this column is a Parquet nanosecond timestamp, read as
    ``long`` (``nanosecond_timestamps``); a ``long`` without it is no date (an integer). Raises
    ``InputDataError`` naming table and column for a time-zone-aware timestamp when ``time_zone``
    is None, and for any type that is not a date, timestamp or text.
    """
    if nanos is not None and isinstance(source, T.LongType):
        if nanos == NANOS_NAIVE:  # the written wall clock, encoded as if UTC: whole days since the epoch
            return F.date_from_unix_date(F.floor(col / F.lit(_NANOS_PER_DAY)).cast("int"))
        instant = F.timestamp_micros(F.floor(col / F.lit(1000)).cast("long"))
        return to_omop_date(instant, T.TimestampType(), table, name, time_zone=time_zone,
                            session_zone=session_zone, where=where)
    if isinstance(source, T.DateType):
        return col
    if isinstance(source, T.TimestampNTZType):  # naive: the written wall-clock date
        return F.to_date(col)
    if isinstance(source, T.TimestampType):  # an instant: its local date in the configured zone
        if time_zone is None:
            raise InputDataError(
                f"OMOP table {table} column {name} is a time-zone-aware timestamp; set omop.time_zone to the "
                "zone whose calendar dates the export means (e.g. Europe/Amsterdam, or UTC for BigQuery "
                "TIMESTAMP columns)", where=where)
        # instant -> wall clock in the session zone (how Spark holds it) -> wall clock in time_zone
        wall = F.convert_timezone(F.lit(session_zone), F.lit(time_zone), col.cast(T.TimestampNTZType()))
        return F.to_date(wall)
    if isinstance(source, T.StringType):  # 'yyyy-mm-dd' or 'yyyy-mm-ddT...': the written date
        if time_zone is None:  # zoned text was rejected by check_text_values
            return written_date(col)
        # ... unless the time names a zone: an instant, like a time-zone-aware timestamp.
        local = to_omop_date(zoned_text_instant(col), T.TimestampType(), table, name, time_zone=time_zone,
                             session_zone=session_zone, where=where)
        return F.when(has_zone(col), local).otherwise(written_date(col))
    raise InputDataError(
        f"OMOP table {table} column {name} is {source.simpleString()}, not a date, timestamp or ISO date text",
        where=where)


# ISO text whose time is followed by a zone: Z, +05:30, -0800, UTC, GMT, Europe/Amsterdam. The
# seconds are optional (ISO 8601; Java's OffsetDateTime.toString() leaves out zero seconds:
# '2019-01-10T00:00+05:30'), their fraction may follow a comma (ISO 8601's preferred separator);
# so are the minutes ('2019-01-05T02Z', ISO 8601's reduced precision: before round 32, read as its
# written date 01-05 by chain and twin alike, also in a zone where that instant is 01-04).
_ZONED_TEXT = r"^\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9]{1,2}(:[0-9]{2}(:[0-9]{2}([.,][0-9]*)?)?)?\s*[A-Za-z+-]"


# Text Spark's date cast reads as a whole date: year, month AND day, then the end or a time. Spark
# also casts '2019' and '2019-03' (year-only / year-month dates of a truncated or masked export)
# to 1 January / 1 March, a day the export never wrote; such text is no date here.
_FULL_DATE_TEXT = r"^\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(\s*$|[T ]|(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)\s*$)"

# A date alone followed by a UTC offset or Z ('2019-01-05Z', '2019-01-05+05:30'): XML Schema's
# xs:date with a time zone, as Java's DateTimeFormatter.ISO_DATE and XML exports write a date. It
# names a calendar day (no instant: it has no time of day), which is its written date, as
# java.time's LocalDate.parse(text, ISO_DATE) reads it; Spark's date cast refuses it (field case
# round 32: the chain stopped on it while the DuckDB twin read the written date).
_DATE_ZONE = r"^(\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2})(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)\s*$"


# Java's three-letter zone IDs that are no tzdb zone (``java.time.ZoneId.SHORT_IDS`` without EST, MST and
# HST, which are tzdb's fixed offsets of their usual meaning). Spark's cast (``ZoneId.of(id, SHORT_IDS)``)
# and DuckDB's ICU read each as ONE zone, where writers mean another: BST Asia/Dhaka (+06:00) for
# British Summer Time (+01:00, as R's ``format(x, usetz = TRUE)``, strftime's ``%Z`` and PostgreSQL's
# ``to_char(.., 'TZ')`` write London's summer), IST India for Irish or Israel time, CST Chicago for
# China, AST Alaska for Atlantic (Puerto Rico), ECT Paris for Ecuador, NST Auckland for Newfoundland,
# SST Guadalcanal for Samoa, ART Cairo for Argentina: "their use is deprecated because the same
# abbreviation is often used for multiple time zones" (java.util.TimeZone's documentation). Such text
# is no date (field case round 35: a London 00:30 BST was dated the day before, silently).
# Also refused: tzdb's abbreviation zones WITH summer time, CET, EET, MET and WET (tzdb reads a July
# '00:30 CET' as +02:00, summer time, where a writer printing a fixed label means its standard time,
# +01:00: the same silent day shift). EST, MST and HST stay: tzdb's fixed offsets (-05:00, -07:00,
# -10:00), their literal meaning (README: a summer time labelled EST is read as -05:00).
_LEGACY_ZONE_IDS = ("ACT", "AET", "AGT", "ART", "AST", "BET", "BST", "CAT", "CET", "CNT", "CST", "CTT", "EAT",
                    "ECT", "EET", "IET", "IST", "JST", "MET", "MIT", "NET", "NST", "PLT", "PNT", "PRT", "PST",
                    "SST", "VST", "WET")
_LEGACY_ZONE = (r"^\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9:.,]*\s*(?i:(" + "|".join(_LEGACY_ZONE_IDS)
                + r"))\s*$")


def legacy_zone(col: Column) -> Column:
    """The zone abbreviation of text ``col`` that ends in one of ``_LEGACY_ZONE_IDS`` after a time,
    upper-cased (``'2019-07-10 00:30:00 BST'`` -> ``'BST'``), else ``''``."""
    return F.upper(F.regexp_extract(col, _LEGACY_ZONE, 1))


def has_legacy_zone(col: Column) -> Column:
    """True where text ``col`` ends in one of ``_LEGACY_ZONE_IDS`` after a time: where
    ``legacy_zone`` is not ``''`` (its group is the abbreviation, never empty when the
    pattern matches; null for null ``col``), one regex find instead of an extract and upper."""
    return col.rlike(_LEGACY_ZONE)


# Why such text is refused and what to do instead (the errors of ``check_text_values``, ``datetime_fallback``).
LEGACY_ZONE_ADVICE = ("which names several time zones or offsets (Java and DuckDB read one of them, e.g. BST as "
                      "Bangladesh, not British Summer Time; CET in July as summer time, +02:00): export them with a "
                      "UTC offset (+01:00) or an IANA zone name (Europe/London)")


# The one rule for a date or date-time written as text, in every date column and datetime
# partner of every table (``valid_date_text``; docs/phenotypes.md "Values that are no date"): a whole date the
# calendar has (yyyy-m[m]-d[d]), alone, followed by a UTC offset (xs:date, ``_DATE_ZONE``), or
# followed by 'T' or a blank and a time of day, naive or with a zone that makes it an instant.
# Spark's date cast reads the date before a 'T' or blank and ignores what follows ('2019-11-20
# 25:00:00', '2019-11-20T24:30', '2019-11-20 soon' were read as 2019-11-20, silently: session 53);
# so the time and offset are checked here, in range: hours 00-23, or 24:00 (ISO 8601's end of
# the day, its seconds and fraction zero), minutes and seconds 00-59 (no leap second: java.time
# and DuckDB refuse 60 too), an offset within -18:00..+18:00 (java.time's ZoneOffset range; a
# zoned date-time's offset is checked by Spark's own parser, ``zoned_text_instant``).
_TIME_TEXT = r"(([01]?[0-9]|2[0-3])(:[0-5][0-9](:[0-5][0-9]([.,][0-9]*)?)?)?|24(:00(:00([.,]0*)?)?)?)"
_DATE_OFFSET_TEXT = r"(Z|z|[+-](0[0-9]|1[0-7])(:?[0-5][0-9])?|[+-]18(:?00)?)"
# Blanks Spark's cast trims (Java's Character.isWhitespace: \s and the separators 0x1C-0x1F)
_CAST_BLANKS = r"[\s\x1c-\x1f]*"
_NAIVE_DATE_TEXT = (rf"^{_CAST_BLANKS}[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}({_DATE_OFFSET_TEXT}|[T ]{_TIME_TEXT})?"
                    rf"{_CAST_BLANKS}$")


def valid_date_text(col: Column) -> Column:
    """True where text ``col`` is a date or date-time the chain reads (the rule above
    ``_TIME_TEXT``): its written date is a day of the calendar (``written_date``) and it is a date
    alone, with an offset in range, or with a time of day in range (``_NAIVE_DATE_TEXT``), or a
    date-time with a zone Spark's parser reads as an instant (``has_zone``, ``zoned_text_instant``:
    a time, offset or zone out of range gives none). False for any other text (a blank one too),
    null for null. The DuckDB twin (benchmarks/duckdb_phenotypes.py ``_as_date``) applies the same
    rule, written out apart."""
    return written_date(col).isNotNull() & (
        col.rlike(_NAIVE_DATE_TEXT) | (has_zone(col) & zoned_text_instant(col).isNotNull()))


def written_date(col: Column) -> Column:
    """Text ``col`` -> its written date by Spark's date cast (null where it reads none), a date
    alone followed by a zone designator (``_DATE_ZONE``) read as the date before it."""
    return F.regexp_replace(col, _DATE_ZONE, "$1").cast(_D)


def is_full_date_text(col: Column) -> Column:
    """True where text ``col`` begins with a whole ISO date (yyyy-m[m]-d[d]), not a year or a
    year-month alone (``_FULL_DATE_TEXT``)."""
    return col.rlike(_FULL_DATE_TEXT)


def has_zone(col: Column) -> Column:
    """True where text ``col`` is an ISO date-time with a zone or UTC offset (an instant)."""
    return col.rlike(_ZONED_TEXT)


def zoned_text_instant(col: Column) -> Column:
    """Zoned ISO text -> the instant (Spark timestamp), by Spark's own parser (``Z``,
    ``+hh[:mm]``, zone ids such as ``UTC`` or ``Europe/Amsterdam``); null when it does not parse.

    Written forms Spark's cast refuses (null, so ``check_text_values`` stopped the run on valid
    ISO 8601) are rewritten to ones it reads first: a lower-case ``z`` (after a digit or blank:
    ``America/La_Paz`` keeps its z), ``utc`` or ``gmt``; a
    time without seconds (``2019-01-10T00:00+05:30``: Java's ``OffsetDateTime.toString()``
    omits zero seconds) or minutes (``T02Z``); a fraction after a comma; Java's ``ZonedDateTime.toString()`` zone
    after the offset (``+01:00[Europe/Paris]``: the offset fixes the instant); ISO 8601's end of
    day ``24:00`` (Spark's cast refuses hour 24), as the day's last microsecond. The DuckDB twin
    (benchmarks/duckdb_phenotypes.py ``_as_date``) reads the same forms.
    """
    # z only after a digit or blank: a zone id may end in a lower-case z (America/La_Paz)
    text = F.regexp_replace(F.trim(col), "(?<=[0-9\\s])z$", "Z")
    text = F.regexp_replace(text, "(?i)(?<=[0-9\\s])(utc|gmt)(?=$|[+-])", "GMT")
    text = F.regexp_replace(text, "([0-9]|Z)\\[[^\\]]*\\]$", "$1")
    text = F.regexp_replace(text, "^([0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9]{1,2})(?![0-9:])", "$1:00")
    text = F.regexp_replace(text, "^([0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9]{1,2}:[0-9]{2})(?![0-9:])", "$1:00")
    text = F.regexp_replace(text, "^([^,]*:[0-9]{2}),([0-9]+)", "$1.$2")
    # ISO 8601's 24:00 (seconds and fraction zero) ends its written day: the day's last
    # microsecond, so that it dates to that day as naive '...T24:00' text does (its written date);
    # a death certificate's 24:00 (midnight) belongs to the day ending (field case round 32).
    text = F.regexp_replace(text, "(?<=[T ])24:00:00(\\.0*)?(?![0-9.])", "23:59:59.999999")
    # a legacy three-letter zone ID (_LEGACY_ZONE_IDS) is no instant: Spark reads one of its zones
    return F.when(~col.rlike(_LEGACY_ZONE), text.cast(T.TimestampType()))


def conform_omop_table(df: DataFrame, table: str, *, where: str, time_zone: str | None = None,
                       nanos: Mapping[str, str] | None = None,
                       records_below: int = DEFAULT_RECORDS_BELOW) -> DataFrame:
    """Lower-case column names, check the required columns exist, cast and select them.

    Date columns become ``to_omop_date``. Columns stored as text (CSV exports, or a numeric
    column written as text) are checked first: a value that does not parse as the declared
    type would otherwise become null silently (one aggregation, text columns only).
    ``records_below``: the small-count threshold of the record counts in its messages
    (``DEFAULT_RECORDS_BELOW``). ``nanos``: the Parquet nanosecond timestamp columns read as ``long``
    (``nanosecond_timestamps``: lower-cased name -> NANOS_NAIVE / NANOS_UTC).
    """
    schema = omop_schema(table)
    nanos = nanos or {}
    df = df.toDF(*[c.lower() for c in df.columns])
    optional = OPTIONAL_COLUMNS.get(table, frozenset())
    missing = [f.name for f in schema.fields if f.name not in df.columns and f.name not in optional]
    if missing:
        raise InputDataError(
            f"OMOP table {table} is missing required column(s) {', '.join(missing)}", where=where
        )
    present = [f for f in schema.fields if f.name in df.columns]
    text = [f for f in present if isinstance(df.schema[f.name].dataType, T.StringType) and f.dataType != _S]
    if text:
        check_text_values(df, table, [(f.name, f.dataType) for f in text], where=where, time_zone=time_zone,
                          records_below=records_below)
    session_zone = df.sparkSession.conf.get("spark.sql.session.timeZone")
    assert session_zone is not None  # Spark always has one (default: the JVM's zone); typed optional
    void = void_date_columns(df, table, [f.name for f in schema.fields if f.dataType == _D], nanos=nanos, where=where)

    def conformed(f: T.StructField) -> Column:
        if f.name not in df.columns:
            return F.lit(None).cast(f.dataType)
        if f.dataType == _D:
            text = F.col(f.name)
            if (table, f.name) in PARTIAL_DATE_AS_EMPTY and isinstance(df.schema[f.name].dataType, T.StringType):
                text = F.when(is_full_date_text(text), text)  # '1970', '1970-03': empty, not the 1st
            date = F.lit(None).cast(_D) if f.name in void else to_omop_date(
                text, df.schema[f.name].dataType, table, f.name, time_zone=time_zone, session_zone=session_zone,
                where=where, nanos=nanos.get(f.name))
            partner = DATETIME_OF.get((table, f.name))
            if partner is None or partner not in df.columns or partner in void:
                return date
            return F.coalesce(date, datetime_fallback(df, table, f.name, partner, time_zone=time_zone,
                                                      session_zone=session_zone, where=where,
                                                      nanos=nanos.get(partner)))
        return whole_number(df, table, f.name, f.dataType, where=where)

    out = df.select(*[conformed(f).alias(f.name) for f in schema.fields])
    if table == "concept" and "invalid_reason" in df.columns:
        out = null_spelled_invalid_reason(out, where)
    if table == "drug_exposure" and "drug_type_concept_id" not in df.columns:
        log_records_without_drug_type(out, where, records_below=records_below)
    return out


# Text an export writes for a missing concept.invalid_reason: SQL Server Management Studio's "Save
# results as" writes NULL, R's write.csv NA, a Parquet/pandas string column ''. The CDM's null means a
# valid concept; read as a reason, every concept of the vocabulary was invalid (session 37, omop29).
NULL_REASON_SPELLINGS: tuple[str, ...] = ("NULL", "NA", "")


def null_spelled_invalid_reason(concept: DataFrame, where: str) -> DataFrame:
    """``concept`` (conformed) with an ``invalid_reason`` spelled as no value
    (``NULL_REASON_SPELLINGS``, case and blanks ignored) read as null, as the CDM means it (OMOP
    CDM 5.4 concept.invalid_reason: NULL for a valid concept, 'D' or 'U' otherwise): such text made
    every concept invalid, the concept sets empty and the run stop at the concept_ancestor gate,
    which names another cause. One WARNING naming ``where``, the column, the spellings found and the
    rows (vocabulary rows, no persons: exact); nothing when none. One Spark job (a filter and a
    group of the distinct spellings over the concept table)."""
    reason = F.upper(F.trim(F.col("invalid_reason")))
    spelled = reason.isin(list(NULL_REASON_SPELLINGS))
    found = concept.where(spelled).groupBy("invalid_reason").count().collect()
    if found:
        shown = ", ".join(f"{r['invalid_reason']!r} ({counted(int(r['count']), 'row')})"
                          for r in sorted(found, key=lambda r: str(r["invalid_reason"])))
        log.warning("%s: OMOP table concept column invalid_reason holds text meaning no value: %s; read as "
                    "null (a valid concept), as the CDM's NULL", where, shown)
    return concept.withColumn("invalid_reason", F.when(~spelled, F.col("invalid_reason")))


def log_records_without_drug_type(drugs: DataFrame, where: str, records_below: int = DEFAULT_RECORDS_BELOW) -> None:
    """A drug_exposure table without ``drug_type_concept_id`` (conformed, the column null): no
    record is read as an administration (``trials.exposure_end_expr`` rule 3, docs/phenotypes.md
    "Exposures"), so a dose given on a ward (one row per dose, end = start, no days_supply) is
    read as an order of ``trials.default_days_supply`` days, silently. The CDM requires the
    column (OMOP CDM 5.3 / 5.4: drug_type_concept_id NOT NULL); an export without it turned the
    rule off unseen (session 32 fixes). One WARNING with the records it concerns: those without
    an end (end date or verbatim end date after the start) and without a days_supply (null or
    0), which the rule would read as their own day were they administrations; an INFO line when
    there is none (the rule would change nothing). One Spark job, only for such an export. The
    count reads as ``logs.record_count_label`` writes it (0, ``<T``, ``T+``; T = ``records_below``),
    never exactly: it is a part of the table's rows, which the phenotypes stage logs exactly
    (``event_table_records``), so an exact count of T or more gave the records with an end or a
    days_supply by subtraction, 1 to T-1 of them (privacy round 6 leftover, session 37)."""
    start = F.col("drug_exposure_start_date")

    def no_end(c: str) -> Column:
        return F.col(c).isNull() | (F.col(c) <= start)

    ds = F.col("days_supply")
    flag = no_end("drug_exposure_end_date") & no_end("verbatim_end_date") & (ds.isNull() | (ds == 0))
    n = int(drugs.agg(F.coalesce(F.sum(flag.cast("long")), F.lit(0))).collect()[0][0])
    log.log(logging.WARNING if n else logging.INFO,
            "%s: OMOP table drug_exposure has no drug_type_concept_id column (required by the CDM): the "
            "administration-record rule (a dose given is its own day) cannot apply; %s without an end or a "
            "days_supply read as orders of trials.default_days_supply days", where,
            f"{record_count_label(n, records_below)} record(s)")


def date_readable(source: T.DataType, nanos: str | None = None) -> bool:
    """True for the Spark types ``to_omop_date`` reads as dates: a date, a timestamp, text, and a
    ``long`` that is a Parquet nanosecond timestamp (``nanos``: its flag, ``nanosecond_timestamps``)."""
    return isinstance(source, (T.DateType, T.TimestampType, T.TimestampNTZType, T.StringType)) or (
        nanos is not None and isinstance(source, T.LongType))


def void_date_columns(df: DataFrame, table: str, dates: list[str], *, nanos: Mapping[str, str],
                      where: str) -> set[str]:
    """The date columns of ``dates`` and their ``DATETIME_OF`` partners (those ``df`` has) whose
    type is no date type (``date_readable``) and which hold no value in any row (null, or NaN in
    a float column): read as empty, one WARNING each. pandas writes a column of nothing but
    missing values as Parquet's null type, which Spark reads as ``int`` (an object column of
    None), or as a float column of NaN (read from a CSV with ``pd.read_csv``): a CDM whose
    verbatim_end_date or *_datetime columns are all empty was refused as 'int, not a date'
    although it holds no value to misread. A column of another type with a value stays
    ``to_omop_date``'s error. ``nanos``: the table's nanosecond timestamp columns
    (``nanosecond_timestamps``). One Spark job (an aggregate over those columns only), and only when
    such a column exists; none for date, timestamp and text columns."""
    names = [*dates, *[DATETIME_OF[(table, c)] for c in dates if (table, c) in DATETIME_OF]]
    odd = [c for c in names if c in df.columns and not date_readable(df.schema[c].dataType, nanos.get(c.lower()))]
    if not odd:
        return set()

    def has_value(c: str) -> Column:
        value = F.col(c).isNotNull()
        return value & ~F.isnan(F.col(c)) if isinstance(df.schema[c].dataType, T.FractionalType) else value

    row = df.agg(*[F.max(has_value(c).cast("int")).alias(c) for c in odd]).collect()[0]
    void = {c for c in odd if not row[c]}
    for c in sorted(void):
        log.warning("%s: OMOP table %s column %s is %s, not a date type, and holds no value: read as empty",
                    where, table, c, df.schema[c].dataType.simpleString())
    return void


# Integer sizes in bytes: a wider integer cast to a narrower one wraps round (Spark's non-ANSI cast).
_INTEGER_BYTES: dict[type[T.DataType], int] = {T.ByteType: 1, T.ShortType: 2, T.IntegerType: 4, T.LongType: 8}
# Exact enough to tell a whole number from a fraction in any text Spark's long cast reads.
_EXACT = T.DecimalType(38, 18)


def whole_number(df: DataFrame, table: str, name: str, target: T.DataType, *, where: str) -> Column:
    """Column ``name`` cast to ``target``; for an integer ``target`` (the CDM's integer columns:
    IDs, days_supply, refills) from a number column that can hold what the integer cannot (a
    float, double or decimal; a wider integer), failing the query, only when such a row is
    read, naming table and column, where the value is not that integer: Spark's cast silently
    drops a fraction (days_supply 30.5 -> 30), reads NaN as 0 and wraps or clamps what is out
    of range. Whole numbers written as floats (30.0, pandas' int column with missing values)
    pass. Text columns are checked before, eagerly (``check_text_values``). The message ends
    with the offending row's position in its Parquet file (``_row_position``), as a CSV error
    names its line: the row read first in the query that fails, not necessarily the file's
    first such row."""
    col, source = F.col(name), df.schema[name].dataType
    cast = col.cast(target)
    if not isinstance(target, T.IntegralType) or not (
            isinstance(source, T.FractionalType)
            or _INTEGER_BYTES.get(type(source), 0) > _INTEGER_BYTES.get(type(target), 8)):
        return cast
    message = F.concat(F.lit(
        f"{QUERY_INPUT_ERROR_TAG}OMOP table {table} ({where}): column {name} holds a value that is no "
        f"{target.simpleString()} number (a fraction, NaN, or out of range of its {source.simpleString()} "
        "values); the CDM declares it an integer: export whole numbers"), _row_position(df))
    return F.when(col.isNotNull() & ~cast.cast(source).eqNullSafe(col),
                  F.raise_error(message).cast(target)).otherwise(cast)


def _row_position(df: DataFrame) -> Column:
    """'' or, for a table read from Parquet files, ``' (row N of <file>)'``: the row's position
    in its file (1 = the file's first row; Spark's ``_metadata.row_index``) and the file's path.
    The scan then adds the row index of each row (a long column; only for a table with a
    column ``whole_number`` checks) and only a failing row builds the text. Neither an ID nor
    a count: a row's position in a file tells nothing of a participant. BigQuery and CSV tables
    have no row index (a CSV error names its line, ``check_text_values``)."""
    from pyspark.errors import AnalysisException

    try:
        df.select(F.col("_metadata.row_index"), F.col("_metadata.file_path"))  # analysed here, no job
    except AnalysisException:
        return F.lit("")
    return F.concat(F.lit(" (row "), (F.col("_metadata.row_index") + 1).cast("string"), F.lit(" of "),
                    F.col("_metadata.file_path"), F.lit(")"))


def datetime_fallback(df: DataFrame, table: str, name: str, partner: str, *, time_zone: str | None,
                      session_zone: str, where: str, nanos: str | None = None) -> Column:
    """The date of ``partner`` (the datetime column ``DATETIME_OF`` pairs with date column ``name``; ``nanos``:
    its flag as a Parquet nanosecond timestamp, ``to_omop_date``), for the rows whose ``name`` is empty:
    ``to_omop_date``'s rules (naive: its written date; an instant: its local date in ``time_zone``); an empty
    or blank partner leaves the date empty. Failing the query, only when such a row is read, naming table and
    columns (one eager check would scan every table whose datetimes are instants, e.g. every BigQuery CDR
    table, although their dates are filled): an instant (time-zone-aware timestamp, zoned ISO text) without
    ``omop.time_zone``; text of a year or a year-month alone, or any other text that is no date
    (``valid_date_text``: '03/15/2019', '2019-02-30', '2019-11-20 25:00:00'), as in a date column
    (``check_text_values``; read as empty, a death known to the month was no death at all and
    follow-up ran on to the cutoff, silently)."""
    col, source = F.col(partner), df.schema[partner].dataType
    instant = isinstance(source, T.TimestampType) or (nanos == NANOS_UTC and isinstance(source, T.LongType))
    if not isinstance(source, T.StringType):
        if time_zone is None and instant:
            return F.when(col.isNotNull(), _needs_zone_error(table, name, partner, where)).otherwise(F.lit(None).cast(_D))
        return to_omop_date(col, source, table, partner, time_zone=time_zone, session_zone=session_zone, where=where,
                            nanos=nanos)
    if time_zone is None:
        # zoned text that is no instant ('2019-01-05 3 PM') gives no date: the no_date error below
        date = F.when(has_zone(col) & zoned_text_instant(col).isNotNull(), _needs_zone_error(table, name, partner, where)) \
            .when(~has_zone(col) & valid_date_text(col), written_date(col))
    else:
        text = F.when(valid_date_text(col), col)
        date = to_omop_date(text, source, table, partner, time_zone=time_zone, session_zone=session_zone, where=where)
    no_day = F.trim(col).cast(_D).isNotNull() & ~is_full_date_text(col)  # '2019', '2019-03'
    # Any other text that gives no date ('03/15/2019', '2019-02-30', a word, a time or offset out
    # of range: valid_date_text): in the date column it is check_text_values' error; read as empty
    # here, the row lost its date silently (a time out of range: the written date, silently).
    no_date = (F.trim(col) != "") & date.isNull()
    # a legacy zone abbreviation (_LEGACY_ZONE_IDS: no instant, so no date): its own text, naming it
    abbreviation = legacy_zone(col)
    return F.when(abbreviation != "", F.raise_error(F.concat(F.lit(
        f"{QUERY_INPUT_ERROR_TAG}OMOP table {table} ({where}): {name} is empty where {partner} is a date-time "
        "with the time-zone abbreviation '"), abbreviation, F.lit(f"', {LEGACY_ZONE_ADVICE}"))).cast(_D)).when(
        no_day, F.raise_error(F.lit(
        f"{QUERY_INPUT_ERROR_TAG}OMOP table {table} ({where}): {name} is empty where {partner} is a date without "
        "its day (a year or a year-month alone, which Spark would read as the 1st); export the whole date"))
        .cast(_D)).when(no_date, F.raise_error(F.lit(
            f"{QUERY_INPUT_ERROR_TAG}OMOP table {table} ({where}): {name} is empty where {partner} is text that is "
            "no date (yyyy-mm-dd, optionally with a time); export the date")).cast(_D)).otherwise(date)


def _needs_zone_error(table: str, name: str, partner: str, where: str) -> Column:
    """``datetime_fallback``'s failure for an instant read without ``omop.time_zone`` (a date column)."""
    return F.raise_error(F.lit(
        f"{QUERY_INPUT_ERROR_TAG}OMOP table {table} ({where}): {name} is empty where {partner} is a date-time "
        "with a time zone; set "
        "omop.time_zone to the zone whose calendar dates the export means (e.g. UTC for BigQuery TIMESTAMP)")).cast(_D)


# OMOP tables with one row per person (death in the CDM; observation_period in the AoU CDR, one
# period per participant): a count of their rows or values is a count of persons, which no
# error shows (logs.person_count_text).
PERSON_ROW_TABLES = frozenset({"person", "death", "observation_period"})


# Date columns whose text without a day ('1970', '1970-03') is read as empty with a WARNING
# (``check_text_values``) instead of stopping the run: person.birth_datetime only adds the day
# to year_of_birth and month_of_birth, which decide the birth date (``persons.birth_date_expr``),
# and a year or a year-month alone has no day to add (Spark would read it as the 1st).
PARTIAL_DATE_AS_EMPTY = frozenset({("person", "birth_datetime")})


def check_text_values(df: DataFrame, table: str, columns: list[tuple[str, T.DataType]], *, where: str,
                      time_zone: str | None = None, records_below: int = DEFAULT_RECORDS_BELOW) -> None:
    """Raise ``InputDataError`` naming the first text column with a non-empty value that does
    not parse as its declared type (a date: ``valid_date_text``, yyyy-mm-dd alone or with a time
    of day, offset or zone in range, with a zone only when it parses as an instant, never a
    year or year-month alone, which Spark would read as the 1st (in a
    ``PARTIAL_DATE_AS_EMPTY`` column: read as empty, one WARNING with its shape); a
    number: digits, e.g. not "90 days"; an integer: a whole number, not "30.5", which Spark's
    cast reads as 30), and, when ``time_zone`` is None,
    the first date column holding zoned ISO text (an instant: its calendar date depends on
    the zone, as for a time-zone-aware timestamp).

    The error shows the count as ``logs.record_count_text`` writes it (1 to T-1 as ``<T``, T =
    ``records_below``; none for ``PERSON_ROW_TABLES``), the file and line of the first offending row
    (CSV; for Parquet its row in its file after the message, ``row_of``) and the shape of one
    offending value (``errors.value_shape``: '2014-03-24T12:00:00+00:00' reads
    '####-##-##T##:##:##+##:##', so no participant's date reaches stderr or the run log; identifier
    columns are named, no value shown).
    """
    def is_partial(c: str) -> Column:
        value = F.trim(F.col(c))
        return F.col(c).isNotNull() & (value != "") & ~is_full_date_text(F.col(c)) & value.cast(_D).isNotNull()

    def is_bad(c: str, t: T.DataType) -> Column:
        value = F.trim(F.col(c))
        filled = F.col(c).isNotNull() & (value != "")
        if t == _D:  # the one rule of date text (valid_date_text): no date, a year alone, a time out of range
            bad = filled & ~valid_date_text(F.col(c))
            if (table, c) in PARTIAL_DATE_AS_EMPTY:  # '1970', '1970-03': read as empty (warned below)
                bad = bad & ~is_partial(c)
            return bad
        bad = filled & value.cast(t).isNull()
        if isinstance(t, T.IntegralType):  # '30.5' and '.5' cast to 30 and 0; '30.0' is 30
            return bad | (F.col(c).isNotNull() & ~value.cast(t).cast(_EXACT).eqNullSafe(value.cast(_EXACT)))
        return bad

    bad = {c: is_bad(c, t) for c, t in columns}
    as_empty = {c: is_partial(c) for c, t in columns if t == _D and (table, c) in PARTIAL_DATE_AS_EMPTY}
    # Zoned text that reads as an instant; other text the zone pattern matches ('2019-01-05 3 PM':
    # a letter after the hour) is no date (``is_bad``), not a reason to set omop.time_zone.
    zoned = {c: has_zone(F.col(c)) & zoned_text_instant(F.col(c)).isNotNull()
             for c, t in columns if t == _D and time_zone is None}
    row = df.agg(*[
        x for c, cond in bad.items()
        for x in (F.sum(cond.cast("long")).alias(f"n_{c}"), F.first(F.when(cond, F.col(c)), ignorenulls=True).alias(f"v_{c}"))
    ], *[x for c, cond in zoned.items()
         for x in (F.sum(cond.cast("long")).alias(f"z_{c}"), F.first(F.when(cond, F.col(c)), ignorenulls=True).alias(f"w_{c}"))
    ], *[F.first(F.when(cond, F.col(c)), ignorenulls=True).alias(f"p_{c}") for c, cond in as_empty.items()],
        # a legacy zone abbreviation: counted here, the one named in the error fetched on the error
        # path only (one regex per value on good data, not three: session 44 lean)
        *[F.count_if(has_legacy_zone(F.col(c))).alias(f"m_{c}") for c, t in columns if t == _D]).collect()[0]

    def count(n: int) -> str:
        # Thousands separators as every other count of records ("8019 value(s)": new-user trial);
        # 1 to T-1 as <T: k bad cells are 1..k persons' records.
        return "" if table in PERSON_ROW_TABLES else f"{record_count_text(n, records_below)} "

    def located(cond: Column, in_file: Column) -> str:
        """``file:line`` of the first row with ``cond`` (``in_file``: the same condition on the
        file's column names), ``where`` for Parquet. Error path only: no cost on good data."""
        file = df.where(cond).select(F.input_file_name().alias("f")).first()
        return _csv_line_of_first(df.sparkSession, file["f"] if file else None, in_file, where=where)

    def row_of(cond: Column) -> str:
        """``' (row N of <file>)'``, the position of the first row read with ``cond`` in its
        Parquet file (``_row_position``): a table read from Parquet has no line, and one whose
        rows are persons (``PERSON_ROW_TABLES``) no count either; '' for CSV (its line is in
        ``where``) and BigQuery. Error path only."""
        hit = df.where(cond).select(_row_position(df).alias("r")).first()
        return hit["r"] if hit else ""

    for c, t in columns:
        if c in zoned and row[f"z_{c}"]:
            raise InputDataError(
                f"OMOP table {table} column {c}: {count(row[f'z_{c}'])}value(s) are date-times with a time zone "
                f"(e.g. {value_shape(row[f'w_{c}'])!r}, {VALUE_SHAPE_NOTE}), whose calendar date depends on the "
                "zone; set omop.time_zone to the zone whose calendar dates the export means (e.g. "
                "Europe/Amsterdam, or UTC for BigQuery TIMESTAMP columns)", where=where)
        if t == _D and row[f"m_{c}"]:
            legacy = has_legacy_zone(F.col(c))
            first = df.where(legacy).select(legacy_zone(F.col(c)).alias("z")).first()  # counted above: a row
            abbreviation = first["z"] if first else ""
            named = df.schema[c].metadata.get(FILE_COLUMN, c)
            at = located(legacy, legacy if named == c else has_legacy_zone(F.col(named)))
            raise InputDataError(f"OMOP table {table} column {c}: {count(row[f'm_{c}'])}value(s) are date-times with "
                                 f"the time-zone abbreviation '{abbreviation}', {LEGACY_ZONE_ADVICE}", where=at)
        if row[f"n_{c}"]:
            what = "dates (yyyy-mm-dd)" if t == _D else f"{t.simpleString()} numbers"
            shape = value_shape(row[f"v_{c}"])
            example = "" if c.endswith("_id") else f", e.g. {shape!r} ({VALUE_SHAPE_NOTE})"
            # Written as a date, yet no date: its shape alone ('####-##-##') read as a good date to a
            # new user (session 52); the part that is wrong is said, the value still not shown.
            if t == _D and example and (written := _DATE_SHAPE.fullmatch(shape)):
                example += (": a date, time or UTC offset out of range (such as 2021-02-30, 2021-13-01, 25:00 or "
                            "+25:00)" if written.group("zone") else
                            ": a date or time out of range (such as 2021-02-30, 2021-13-01 or 25:00)")
            # A column read under another name (``_sex_column``) is found, and named, by the file's.
            named = df.schema[c].metadata.get(FILE_COLUMN, c)
            at = located(bad[c], bad[c] if named == c else is_bad(named, t))
            shown = c if named == c else f"{named} (read as {c})"
            raise InputDataError(
                f"OMOP table {table} column {shown}: {count(row[f'n_{c}'])}value(s) are not {what}{example}"
                f"{row_of(bad[c])}", where=at)
    for c in as_empty:
        if row[f"p_{c}"] is not None:
            # No count: the rows are persons (PARTIAL_DATE_AS_EMPTY holds person columns only).
            log.warning("%s: OMOP table %s column %s: value(s) are a year or a year-month alone (e.g. %r, %s): read "
                        "as empty; year_of_birth and month_of_birth give the birth date", where, table, c,
                        value_shape(row[f"p_{c}"]), VALUE_SHAPE_NOTE)


# The shape (``errors.value_shape``) of a date written yyyy-mm-dd, optionally with a time and
# a UTC offset (its group ``zone``).
_DATE_SHAPE = re.compile(r"####-##-##([T ]##(:##(:##([.,]#*)?)?)?)?(?P<zone> ?(Z|UTC|GMT)?[+-]##(:?##)?| ?(Z|UTC|GMT))?")


# RFC 4180 CSV, as PostgreSQL COPY, BigQuery, pandas and R write it: a quoted field may hold a
# line break (drug_exposure.sig, *_source_value) and a quote written twice. Spark's defaults read
# a CSV row per line and take a backslash for the escape, so such a row was cut in two (its second
# half refused as 'person_id ... not bigint numbers', its first half's later columns read as empty)
# and '"5"" tablet, daily"' split at its comma. multiLine reads a file in one task (not split).
CSV_READ_OPTIONS = {"header": "true", "inferSchema": "false", "multiLine": "true", "escape": '"'}


def _csv_lines(spark: SparkSession, file: str) -> DataFrame | None:
    """The lines of the CSV file ``file`` read as text (``value``), None when it has none, each
    with its line number ``_line`` (1: the header; blank lines count), ``_odd`` (1: the line holds
    an odd number of quotes), ``_inside`` (1: the quotes before it in the file are odd in number,
    so it continues a quoted field: ``CSV_READ_OPTIONS``, a quoted field may span lines and a
    quote inside one is written twice) and ``_row``, the CSV row it belongs to (1: the header;
    a line starts a row when it is not ``_inside``). Lines are numbered by Spark's file block
    (``_metadata.file_block_start``) and their position within it, the quotes' parity carried
    across blocks from per-block counts on the driver. For error paths: only counts reach the
    driver."""
    quotes = F.length("value") - F.length(F.regexp_replace("value", '"', ""))
    lines = spark.read.text(file).select(
        "value", F.col("_metadata.file_block_start").alias("_block"),
        F.monotonically_increasing_id().bitwiseAND((1 << 33) - 1).alias("_pos"),  # row within its partition
    ).withColumn("_odd", (quotes % 2).cast("int"))
    # Quotes before the line within its block (odd or even), then per block: lines, first
    # position, quotes (odd?) and the lines that start a row if the block starts outside a field
    # (even before) or inside one (odd before).
    before = Window.partitionBy("_block").orderBy("_pos").rowsBetween(Window.unboundedPreceding, -1)
    lines = lines.withColumn("_in", F.coalesce(F.sum("_odd").over(before), F.lit(0)) % 2)
    blocks = sorted((r["_block"], r["n"], r["base"], r["odd"] or 0, r["s0"] or 0, r["s1"] or 0)
                    for r in lines.groupBy("_block").agg(
        F.count(F.lit(1)).alias("n"), F.min("_pos").alias("base"), (F.sum("_odd") % 2).alias("odd"),
        F.sum((F.col("_in") == 0).cast("long")).alias("s0"), F.sum((F.col("_in") == 1).cast("long")).alias("s1"),
    ).collect())
    if not blocks:
        return None
    starts: dict[int, tuple[int, int, int, int]] = {}  # block -> lines before, first pos, parity, rows before
    n_lines = n_rows = parity = 0
    for block, n, base, odd, s0, s1 in blocks:
        starts[block] = (n_lines, base, parity, n_rows)
        n_lines, n_rows, parity = n_lines + n, n_rows + (s1 if parity else s0), parity ^ int(odd)

    def of_block(i: int) -> Column:
        return F.element_at(F.create_map(*[x for b, v in starts.items() for x in (F.lit(b), F.lit(v[i]))]),
                            F.col("_block"))

    first_line = (of_block(0) + F.col("_pos") - of_block(1) + 1).alias("_line")
    inside = F.col("_in").bitwiseXOR(of_block(2))
    opens = (inside == 0).cast("long")  # the line starts a row
    upto = Window.partitionBy("_block").orderBy("_pos").rowsBetween(Window.unboundedPreceding, 0)
    return lines.select("value", first_line, "_odd", inside.alias("_inside"),
                        (of_block(3) + F.sum(opens).over(upto)).alias("_row"))


def _csv_line_of_first(spark: SparkSession, file: str | None, bad: Column, *, where: str) -> str:
    """``{file}:{line}``, the line where the first row of the CSV file ``file`` (a file Spark read,
    as ``input_file_name`` names it; header on line 1) with ``bad`` (an expression of the file's
    columns, lower-cased) starts, as the other input errors name a line; ``where`` when ``file``
    is no CSV file (Parquet, BigQuery: no lines) or no such row is found. Run only for the error:
    the file's lines (``_csv_lines``), each row's joined again, are parsed as one CSV row
    (``from_csv``). Only counts reach the driver."""
    if not file or not re.search(r"\.csv(\.\w+)?$", file, re.IGNORECASE):
        return where
    joined = _csv_rows(spark, file)
    if joined is None:
        return where
    rows, text = joined
    header = rows.where(F.col("_row") == 1).select(text.alias("t")).first()
    names = [n.strip().lower() for n in next(csv.reader([header["t"] if header else ""]))]
    ddl = ", ".join(f"`{n.replace('`', '``')}` string" for n in names)
    parsed = rows.where(F.col("_row") > 1).select("_line", F.from_csv(text, ddl, {"escape": '"'}).alias("_r"))
    hit = parsed.select("_line", "_r.*").where(bad).agg(F.min("_line").alias("line")).first()
    shown = where if re.search(r"\.csv(\.\w+)?$", where, re.IGNORECASE) else unquote(file.removeprefix("file://"))
    return f"{shown}:{hit['line']}" if hit and hit["line"] is not None else where


# One RFC 4180 field (``CSV_READ_OPTIONS``): quoted, a quote inside written twice; or unquoted, not
# starting with a quote (a quote later in it is read as itself, as Spark and pandas read it); or
# empty. Possessive quantifiers: linear in the line's length, no deep recursion on a long field.
_CSV_QUOTED = r'"(?:[^"]++|"")*+"'
_CSV_FIELD = rf'(?:{_CSV_QUOTED}|[^",][^,]*+)?'


def csv_row_regex(n_fields: int | None = None) -> str:
    """Java regex of one whole RFC 4180 CSV row (its lines joined by ``\n``) of ``n_fields``
    comma-separated fields (any number when None); a UTF-8 byte-order mark may open it (the
    header of a BOM file)."""
    repeat = "*+" if n_fields is None else f"{{{n_fields - 1}}}"
    return rf"^\uFEFF?{_CSV_FIELD}(?:,{_CSV_FIELD}){repeat}\z"


_BACKSLASH_QUOTE = '\\"'


def _header_regex(columns: list[str]) -> str:
    """Java regex of a CSV header line that names ``columns`` (the table's columns as Spark read
    them from its first file's header) in the same order, as Spark names them: without case, each
    name quoted or not; a name Spark renamed for being given twice or empty (``<name><index>``,
    ``_c<index>``: ``CSVUtils.makeSafeHeader``) may be written as given; a byte-order mark first."""
    def name(i: int, c: str) -> str:
        given = [re.escape(c)]
        if c.lower() == f"_c{i}":
            given.append("")
        elif c.endswith(str(i)) and len(c) > len(str(i)):
            given.append(re.escape(c[: -len(str(i))]))
        alternatives = "|".join(given)
        return f'(?:"(?:{alternatives})"|(?:{alternatives}))'

    return r"(?i)^\uFEFF?" + ",".join(name(i, c) for i, c in enumerate(columns)) + r"\z"


def _check_csv_rows(spark: SparkSession, df: DataFrame, path: str, table: str) -> None:
    """Raise InputDataError naming ``file:line`` for a CSV file of the table at ``path`` (read as
    ``df``) that Spark's RFC 4180 reader (``CSV_READ_OPTIONS``) would read otherwise than written,
    silently: (1) a quote escaped with a backslash (``\\"``: Spark's own CSV writer default,
    MySQL): read as RFC 4180 it ends its field, so a text or last column is cut or fields shift
    (a value that holds a backslash before a quote in an RFC 4180 file cannot be told from it:
    refused too); (2) a header that names other columns, or the same in another order, than the
    table's first file (Spark reads every file's fields by position under the first header's
    names); (3) a quoted field that the file never closes (it would take the rest of the file
    as its text; a quote inside an unquoted field that leaves the count odd too: c0b3eea's line
    numbering could not count rows there); (4) a row that is no RFC 4180 row (a quoted field
    followed by text before the next comma) or (5) that has another number of fields than the
    header (PERMISSIVE mode pads a short row with nulls and cuts a long one; a whitespace-only
    line is a row of one field). Blank lines are skipped, as Spark skips them.

    One Spark job over the tables' text (what session 23's quote count read): per file, lines
    with an odd number of quotes, lines with ``\\"``, lines that are not one whole row of the
    header's fields (``csv_row_regex``), and whether a file's first line is the first file's
    header (``_header_regex``), all by file. Only counts and line positions reach the driver.
    The line, and the exact check of a file whose quoted fields span lines (the lines of such a
    row cannot be judged one by one), run ``_csv_lines``: extra jobs for such files and errors
    only."""
    # A table in partition folders (year=2019/part-0.csv) reads with its partition columns after
    # the files' own: they are no fields of a file's rows or header.
    keys = partition_keys(Fs(spark), path)
    columns = [c for c in df.columns if c not in keys]
    n_fields = len(columns)
    v = F.col("value")
    has_quote = v.contains('"')
    quotes = F.length(v) - F.length(F.regexp_replace(v, '"', ""))
    # The first line of each file (the least position in its first block) and the first one that
    # is the expected header: positions only, so that every aggregate is a number (a text
    # aggregate would make Spark sort all lines by file for a sort aggregation).
    first_block = F.col("_metadata.file_block_start") == 0
    text = spark.read.text(path).select(
        F.input_file_name().alias("f"), F.when(has_quote, quotes % 2).otherwise(0).alias("q"),
        F.when(has_quote & v.contains(_BACKSLASH_QUOTE), 1).otherwise(0).alias("bs"),
        ((v != "") & ~v.rlike(csv_row_regex(n_fields))).cast("int").alias("bad"),
        F.when(first_block, F.monotonically_increasing_id()).alias("pos"),
        (first_block & v.rlike(_header_regex(columns))).alias("is_header"))
    files = sorted(text.groupBy("f").agg(
        (F.sum("q") % 2).alias("odd"), F.sum("q").alias("n_odd"), F.sum("bs").alias("n_bs"),
        F.sum("bad").alias("n_bad"), F.min("pos").alias("first"),
        F.min(F.when(F.col("is_header"), F.col("pos"))).alias("header")).collect(), key=lambda r: r["f"])

    def fail(file: str, line: int | None, what: str) -> InputDataError:
        shown = path if re.search(r"\.csv(\.\w+)?$", path, re.IGNORECASE) else unquote(file.removeprefix("file://"))
        return InputDataError(f"OMOP table {table}: {what}", where=f"{shown}:{line}" if line is not None else shown)

    rfc = ("; export RFC 4180 CSV (a field holding a comma, quote or line break is quoted, a quote inside it "
           "written twice)")
    for r in files:
        if r["n_bs"]:
            lines = _csv_lines(spark, r["f"])
            hit = lines.where(F.col("value").contains(_BACKSLASH_QUOTE)).agg(F.min("_line")).first() \
                if lines is not None else None
            raise fail(r["f"], hit[0] if hit else None,
                       'a quote escaped with a backslash (\\") on this line: read as RFC 4180 it ends its field, so '
                       "fields would be cut or shifted (Spark's own CSV writer escapes quotes so unless given "
                       "escape '\"'; a backslash before a quote in an RFC 4180 value cannot be told apart and is "
                       f"refused too){rfc}")
        if r["first"] is not None and r["header"] != r["first"]:
            raise fail(r["f"], 1, "this file's header names other columns, or the same in another order, than the "
                                  "table's first file, whose header Spark reads every file's fields by; export the "
                                  "files with one header")
        if r["odd"]:
            lines = _csv_lines(spark, r["f"])
            hit = lines.where((F.col("_inside") == 0) & (F.col("_odd") == 1)).agg(F.max("_line")).first() \
                if lines is not None else None
            raise fail(r["f"], hit[0] if hit else None,
                       "a quoted field opened on this line is not closed by the end of the file, so the rows after "
                       f"it would be read as its text{rfc}")
    for r in files:
        if r["n_odd"] or r["n_bad"]:
            bad = _first_bad_csv_row(spark, r["f"], n_fields)
            if bad is not None:
                line, valid, k = bad
                raise fail(r["f"], line, (
                    f"the row on this line has {k} fields where the header has {n_fields} (Spark would pad it "
                    "with empty fields or drop the extra ones)" if valid else
                    "a quoted field on this line is followed by text before the next comma (a quote inside a "
                    "quoted field not written twice), so fields would be cut or shifted") + rfc)


def _csv_rows(spark: SparkSession, file: str) -> tuple[DataFrame, Column] | None:
    """The CSV file's rows (``_csv_lines``' lines grouped by ``_row``: ``_row``, ``_line`` its first
    line, ``_l`` its lines in order) and the expression of a row's text (its lines joined by line
    breaks), or None where ``_csv_lines`` gives None."""
    lines = _csv_lines(spark, file)
    if lines is None:
        return None
    rows = lines.groupBy("_row").agg(F.min("_line").alias("_line"),
                                     F.array_sort(F.collect_list(F.struct("_line", "value"))).alias("_l"))
    return rows, F.array_join(F.transform("_l", lambda x: x["value"]), "\n")


def _first_bad_csv_row(spark: SparkSession, file: str, n_fields: int) -> tuple[int, bool, int] | None:
    """The first row of the CSV file ``file`` that is not one RFC 4180 row of ``n_fields`` fields
    (``csv_row_regex``; blank lines skipped): (its first line, whether it is an RFC 4180 row at all,
    its number of fields), or None. A row spanning lines (a quoted line break) is judged on its
    lines joined (``_csv_lines``). For ``_check_csv_rows``: files with such rows or a bad line."""
    joined = _csv_rows(spark, file)
    if joined is None:
        return None
    rows, text = joined
    t = F.col("t")
    hit = rows.select("_line", text.alias("t")).where((t != "") & ~t.rlike(csv_row_regex(n_fields))).orderBy(
        "_line").select("_line", t.rlike(csv_row_regex()).alias("valid"),
                        F.size(F.split(F.regexp_replace(t, _CSV_QUOTED, ""), ",", -1)).alias("k")).first()
    return None if hit is None else (hit["_line"], hit["valid"], hit["k"])


def check_person_table(person: DataFrame, *, where: str) -> None:
    """OMOP CDM rules the study relies on: ``person_id`` present and unique, a year of birth
    (``year_of_birth``, or ``birth_datetime``'s year where it is empty: ``birth_fields_from_datetime``).

    One aggregation over ``person`` (one row per participant: small). Neither an ID nor a
    count in the message: the rows are persons (``logs.person_count_text``; an exact count of
    persons, small or not, may give back one the export hides). An empty ``person_id`` (the
    CDM's primary key, e.g. lost by an export) is its own error:
    ``countDistinct`` skips nulls, so such a row read as a repeated person_id. Persons whose
    year_of_birth is empty and birth_datetime filled: one WARNING (no count).
    """
    no_year = F.col("year_of_birth").isNull()
    row = person.agg(
        F.count(F.lit(1)).alias("n"),
        F.count("person_id").alias("n_with_id"),
        F.countDistinct("person_id").alias("n_ids"),
        F.sum((no_year & F.col("birth_datetime").isNull()).cast("long")).alias("n_no_birth_year"),
        F.sum((no_year & F.col("birth_datetime").isNotNull()).cast("long")).alias("n_year_from_datetime"),
    ).collect()[0]
    if row["n"] != row["n_with_id"]:
        raise InputDataError(
            "OMOP table person column person_id: a row has no person_id (the CDM's primary key, required; "
            "its person's records could not be linked)", where=where)
    if row["n"] != row["n_ids"]:
        raise InputDataError(
            "OMOP table person column person_id: a person_id occurs on more than one row "
            "(person_id must be unique)", where=where)
    if row["n_no_birth_year"]:
        raise InputDataError(
            "OMOP table person column year_of_birth: person(s) without a birth year and without a "
            "birth_datetime (required by the CDM; age cannot be derived)", where=where)
    if row["n_year_from_datetime"]:
        log.warning("%s: OMOP table person: person(s) with an empty year_of_birth and a filled birth_datetime "
                    "(the CDM requires year_of_birth, extracted from the date of birth): year, and month and day "
                    "where empty, taken from birth_datetime", where)


def birth_fields_from_datetime(person: DataFrame) -> DataFrame:
    """``person`` (conformed) with an empty ``year_of_birth`` filled from ``birth_datetime``'s
    year, and then ``month_of_birth`` / ``day_of_birth``, where empty, from its month and day;
    rows with a year_of_birth unchanged. Same columns. Source: the CDM's year_of_birth is "the year
    of birth of the person, extracted from the date of birth" (OMOP CDM v5.4 PERSON; Themis #92 /
    CommonDataModel #629: a person is left out only when no year of birth can be derived). Before
    (session 38, field case round 30), one such person stopped the run ("age cannot be derived").
    A birth_datetime read as empty (a year or a year-month alone, ``PARTIAL_DATE_AS_EMPTY``) fills
    nothing: its person stays ``check_person_table``'s error."""
    bdt, derived = F.col("birth_datetime"), F.col("year_of_birth").isNull()

    def filled(name: str, part: Column) -> Column:
        return F.when(derived, F.coalesce(F.col(name), part)).otherwise(F.col(name)).cast(_I).alias(name)

    return person.select(*[filled("year_of_birth", F.year(bdt)) if c == "year_of_birth"
                           else filled("month_of_birth", F.month(bdt)) if c == "month_of_birth"
                           else filled("day_of_birth", F.dayofmonth(bdt)) if c == "day_of_birth"
                           else F.col(c) for c in person.columns])


def _check_no_column_named_twice(spark: SparkSession, df: DataFrame, table: str, path: str) -> None:
    """Raises InputDataError when the header of the CSV table at ``path`` names a declared
    column twice: Spark renames every copy (``person_id0``, ``person_id3``), and the table
    would otherwise read as missing that column (or, an optional one, as empty). The header is
    read (``io.csv_columns_named_twice``) only when a declared column is absent and a column
    reads as its name with digits after it."""
    present = [c.lower() for c in df.columns]
    absent = [f.name for f in omop_schema(table).fields if f.name not in present
              and any(re.fullmatch(re.escape(f.name) + r"\d+", c) for c in present)]
    twice = csv_columns_named_twice(spark, path, CSV_READ_OPTIONS, absent) if absent else []
    if twice:
        where = f"{path}:1" if re.search(r"\.csv(\.\w+)?$", path, re.IGNORECASE) else path
        raise InputDataError(f"OMOP table {table}: column {twice[0]} named twice in the header", where=where)


# Table formats whose folder keeps the data files of earlier versions beside the current ones
# until they are vacuumed / cleaned / expired: (the entry that marks such a folder, the format,
# its Spark reader's name). Only that log or metadata says which files the current version holds.
# Hudi's is hidden, so Spark (and a Parquet read) skips it and reads every version's file slices.
VERSIONED_TABLE_MARKERS = (("_delta_log", "a Delta Lake", "delta"), (".hoodie", "an Apache Hudi", "hudi"),
                           ("metadata", "an Apache Iceberg", "iceberg"))


def check_not_versioned_table(fs: Fs, path: str, table: str) -> None:
    """Raise InputDataError when the Parquet table folder ``path`` is a table of a format that
    keeps earlier versions' files (``VERSIONED_TABLE_MARKERS``): a Delta Lake table (a
    ``_delta_log`` folder), an Apache Hudi one (``.hoodie``) or an Apache Iceberg one (a
    ``metadata`` folder holding ``*.metadata.json``). Such a folder keeps the data files of
    earlier versions (rows since deleted or updated) until they are vacuumed, and only its log
    says which files the current version holds; read as plain Parquet, every file's rows count
    (a corrected death date, a removed record, a person's old row, all back, silently; an
    Iceberg folder stopped Spark's schema inference with a trace). No reader of these
    formats is installed: the table is exported as Parquet first. One ``exists`` call per
    marker (a listing of ``metadata`` when there is one)."""
    base = path.rstrip("/")
    for marker, kind, reader in VERSIONED_TABLE_MARKERS:
        folder = f"{base}/{marker}"
        if not fs.exists(folder) or (marker == "metadata" and not any(
                name.endswith(".metadata.json") for name in fs.listdir(folder))):
            continue
        raise InputDataError(
            f"OMOP table {table} is {kind} table (it has a {marker} folder): its folder also holds the "
            "files of earlier versions, which a Parquet read would take as rows; export its current version as "
            f"Parquet (e.g. spark.read.format('{reader}').load(<folder>).write.parquet(<new folder>))", where=path)


def _check_csv_not_compressed(path: str, table: str) -> None:
    """Refuse a local OMOP CSV table (``{table}.csv``, or the part files of ``{table}/``: not
    hidden, not ``_``-prefixed) that is compressed in a way Spark would read as text
    (``compressed.check_spark_text``: xz, zip, gzip not named .gz...): its binary bytes became
    the header and the error was a missing column. A URI's files are left to Spark."""
    from trd_spark.compressed import check_spark_text

    local = local_path(path)
    if local is None:
        return
    files = ([os.path.join(local, f) for f in sorted(os.listdir(local)) if not f.startswith((".", "_"))]
             if os.path.isdir(local) else [local])
    for f in files:
        check_spark_text(f, f"OMOP table {table}")


def near_table_names(names: list[str], table: str) -> list[str]:
    """The entries of ``names`` (a release folder's listing) that hold ``table`` under a name the
    reader does not take (``_locate``): the name in another case (``DEATH.parquet``, ``Death/``:
    Oracle and SQL Server exports write table names in upper case; Linux and cloud storage names
    are case-sensitive), another extension or a compressed file (``death.csv.gz``, ``death.csv``
    under ``omop.format: parquet``), or the shards ``bq extract`` writes beside each other for a
    wildcard URI (``death-000000000000.csv``). Not another table: ``observation_period`` is no
    name of ``observation``, nor ``person_ext`` of ``person``."""
    like = re.compile(rf"{re.escape(table)}(\.|[-_][0-9]+(\.|$))", re.IGNORECASE)
    return [n for n in names if n.lower() == table or like.match(n)]


def _locate(fs: Fs, base: str, table: str, suffix: str) -> str:
    """``{base}/{table}.{suffix}`` or the folder ``{base}/{table}`` (part files), whichever exists.

    Raises InputDataError naming ``base`` when both exist (an earlier export beside a later one:
    the file was read and the folder ignored, silently) and when neither exists but ``base``
    holds the table under another name (``near_table_names``): before (session 45, field case
    round 37), an optional table so named (``DEATH.parquet``) was read as absent, with a WARNING
    saying "not found", and every death was lost. Only the error of a table with no such name
    says "not found": ``stage.read_omop`` reads that wording as an absent optional table. A plain
    file named ``{table}`` (no extension: a ``gsutil cp`` without one) is such a name too, not the
    folder: its format is unknown (the DuckDB twin's rule, ``benchmarks/duckdb_phenotypes._exists``)."""
    file, folder = f"{base}/{table}.{suffix}", f"{base}/{table}"
    # A folder, not any path of that name: the listing tells (io.Fs has no isdir; one listing of base).
    is_folder = fs.exists(folder) and table in fs.listdirs(base)
    if fs.exists(file):
        if is_folder:
            raise InputDataError(
                f"OMOP table {table}: both {table}.{suffix} and a {table}/ folder are here; which one holds the "
                "table is unknown (an earlier export beside a later one?): keep one", where=base)
        return file
    if is_folder:
        return folder
    near = near_table_names(fs.listdir(base), table)
    if near:
        raise InputDataError(
            f"OMOP table {table}: no {table}.{suffix} or {table}/ here, but {', '.join(near)}, which the reader "
            f"does not take (names are case-sensitive; it reads {table}.{suffix} or the part files of a {table}/ "
            "folder, where compressed files and shards go): rename or move it; read as absent, the table "
            "would be empty", where=base)
    raise InputDataError(
        f"OMOP table {table} not found (looked for {table}.{suffix} and {table}/)", where=base
    )


BIGQUERY_FORMAT = "bigquery"


def release_table(omop: OmopInput, table: str) -> str:
    """The release's name of the table read as ``table`` (a key of ``OMOP_COLUMNS``): ``death``
    is read from ``omop.death_table`` (``aou_death`` on All of Us CDR v8 and later: every death
    record, EHR and staff-reported, where its ``death`` table keeps the curation's one primary
    record per person; config.OmopInput.death_table), every other table from its own name.
    ``aou_death``'s rows are read as the CDM's: person_id, death_date (nullable there: a
    HealthPro deceased status without a date) and death_datetime; its primary_death_record flag
    is not read: the earliest usable dated row of a person ends follow-up
    (``persons.first_death_dates``), as the curation's own death QC takes the earliest row
    "for most rigid check", whereas the primary record prefers an EHR row to an earlier
    HealthPro one."""
    return omop.death_table if table == "death" else table


def omop_table_location(spark: SparkSession, omop: OmopInput, table: str) -> str:
    """Where ``read_omop_table`` reads ``table``, for messages: the file or folder it found
    (``_locate``: ``{path}/{table}.csv|parquet`` or ``{path}/{table}/``), ``project.dataset.table``
    for BigQuery, ``{path}/{table}`` when neither exists (an optional table read as empty);
    ``table`` by its release's name (``release_table``)."""
    base = omop.path.rstrip("/")
    table = release_table(omop, table)
    if omop.format == BIGQUERY_FORMAT:
        return f"{base}.{table}"
    try:
        return _locate(Fs(spark), base, table, omop.format)
    except InputDataError:
        return f"{base}/{table}"


def bigquery_read_options(omop: OmopInput, table: str) -> dict[str, str]:
    """Options of the Spark BigQuery connector for one OMOP table (``omop.path`` = project.dataset).

    Only the declared columns are requested, so the connector's Storage Read API streams
    those columns alone (the column projection is pushed to BigQuery). ``parentProject``
    (the project billed for the reads) is ``omop.billing_project``, else the dataset's
    project; the connector's own default (the credentials' project) is never used.
    """
    project = bigquery_project(omop.path)
    if project is None:
        raise InputDataError(
            f"omop.path must be 'project.dataset' for format bigquery, got {omop.path!r}", where="omop.path"
        )
    billed = omop.billing_project or project
    return {"table": f"{omop.path.strip()}.{table}", "parentProject": billed, "viewsEnabled": "true"}


def _read_bigquery(spark: SparkSession, omop: OmopInput, table: str) -> DataFrame:
    where = f"{omop.path}.{table}"
    reader = spark.read.format(BIGQUERY_FORMAT).options(**bigquery_read_options(omop, table))
    try:
        df = reader.load()
    except Exception as e:  # py4j / AnalysisException: the connector class is not on the classpath
        if "DATA_SOURCE_NOT_FOUND" in str(e) or "Failed to find data source" in str(e):
            raise InputDataError(
                "the Spark BigQuery connector is not on the classpath; submit with "
                "scripts/submit.sh --bigquery (adds spark-bigquery-with-dependencies) or add the jar "
                "through spark.extra_conf spark.jars",
                where=where,
            ) from None
        raise InputDataError(f"reading OMOP table {table} from BigQuery failed: {e}", where=where) from e
    return df


def has_partition_folders(fs: Fs, path: str) -> bool:
    """Whether the table folder ``path`` has sub-folders Spark reads (partition folders such as
    ``year=2019/``, Hive style): any not hidden and not ``_``-named (``_delta_log``)."""
    return any(not d.startswith(("_", ".")) for d in fs.listdirs(path))


def partition_keys(fs: Fs, path: str) -> frozenset[str]:
    """The partition columns Spark adds to the table at ``path``: the keys of the ``key=value``
    folders on the path of its first part file (``parquet_part_files``: any file format), e.g.
    {'year'} for ``condition_occurrence/year=2019/part-0.csv``; empty for a flat folder or a file."""
    if not has_partition_folders(fs, path):
        return frozenset()
    files = parquet_part_files(fs, path)
    rel = files[0][len(path.rstrip("/")) + 1:].split("/")[:-1] if files else []
    return frozenset(d.split("=", 1)[0] for d in rel if "=" in d)


def parquet_part_files(fs: Fs, path: str) -> list[str]:
    """The data files of the Parquet table at ``path`` (a file or a folder), sorted: a folder's
    files, or, when it has partition folders (``has_partition_folders``), every file below it
    that Spark reads (no hidden or ``_`` name at any level: ``_SUCCESS``, ``.crc``,
    ``_delta_log``). Footer readers (``fill_null_typed``, ``read_null_typed_parts_apart``,
    ``check_part_file_schemas``) and ``_read_parquet`` take the parts from here, so a
    partitioned table is read by the same rules as a flat one."""
    if not has_partition_folders(fs, path):
        return fs.glob_files(path)
    base = path.rstrip("/")
    return [f"{base}/{rel}" for rel in fs.list_files(base)
            if not any(part.startswith(("_", ".")) for part in rel.split("/"))]


def footer_schema(spark: SparkSession, path: str) -> T.StructType | None:
    """The schema ``spark.read.parquet(path)`` infers, read on the driver from ONE file's
    footer: Spark's own rule (``ParquetFileFormat.readSchemaFromFooter``: the Spark schema a
    Spark writer stored, else the Parquet types converted under the session's settings), for
    the first data file in name order (Spark also reads one file, the first it lists), but
    without the one-task Spark job Spark runs to read it (one per OMOP table and run).

    ``path``: a Parquet file or a directory of Parquet files (hidden and ``_`` files skipped,
    as Spark does). None when Spark should infer it itself: no data file at the top level, a
    sub-directory (a partitioned layout adds partition columns), or a footer this reader
    cannot read (Spark then reports the problem). Raises what Spark raises for a Parquet type
    it rejects (e.g. INT64 TIMESTAMP(NANOS) without ``spark.sql.legacy.parquet.nanosAsLong``).
    """
    fs = Fs(spark)
    files = fs.glob_files(path)
    if not files or has_partition_folders(fs, path):
        return None
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    assert jvm is not None, "footer_schema needs a running SparkSession"
    parquet = jvm.org.apache.spark.sql.execution.datasources.parquet
    file = jvm.org.apache.hadoop.fs.Path(files[0])
    meta = _footer(spark, files[0])
    if meta is None:  # not a Parquet file, unreadable: Spark's own read reports it
        return None
    # The converter takes the session's settings (INT96, binary as string, timestamp_ntz
    # inference, nanosAsLong) when it is built, like Spark's inference.
    converter = parquet.ParquetToSparkSchemaConverter(spark._jsparkSession.sessionState().conf())  # noqa: SLF001
    schema = parquet.ParquetFileFormat.readSchemaFromFooter(jvm.org.apache.parquet.hadoop.Footer(file, meta), converter)
    # Spark reads every file column as nullable, whatever the writer stored.
    return T.StructType([T.StructField(f.name, f.dataType, True, f.metadata)
                         for f in T.StructType.fromJson(json.loads(schema.json())).fields])


def _footer(spark: SparkSession, file: str):  # -> py4j ParquetMetadata | None
    """The footer of the Parquet ``file`` (a path or URI of any filesystem Spark reads), read by
    Spark's own footer reader in the JVM (row groups skipped), or None when it cannot be read
    (not a Parquet file, unreadable: Spark's own read of the table reports it)."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    assert jvm is not None, "_footer needs a running SparkSession"
    try:
        return jvm.org.apache.spark.sql.execution.datasources.parquet.ParquetFooterReader.readFooter(
            spark.sparkContext._jsc.hadoopConfiguration(), jvm.org.apache.hadoop.fs.Path(file),  # noqa: SLF001
            jvm.org.apache.parquet.format.converter.ParquetMetadataConverter.SKIP_ROW_GROUPS)
    except Exception:  # py4j: not a Parquet file, unreadable
        return None


def nanosecond_timestamps(spark: SparkSession, file: str) -> dict[str, str] | None:
    """Lower-cased column -> ``NANOS_UTC`` / ``NANOS_NAIVE`` for each INT64 TIMESTAMP(NANOS) column
    of the Parquet ``file`` (its isAdjustedToUTC flag: an instant, or the written wall clock),
    read from its footer (``_footer``); the file's other columns are not listed. None when the
    footer cannot be read.

    Spark 3.5 refuses such columns unless ``spark.sql.legacy.parquet.nanosAsLong``, which reads
    them as ``long`` beside the file's true integers: only the footer tells, per column, which
    long is a timestamp and which of the two a timestamp is. pandas writes naive and
    time-zone-aware columns as such in one file (``pd.to_datetime`` dates beside a BigQuery
    TIMESTAMP's UTC instants); read by one flag for the table, as before (field case round 44),
    an instant was dated in UTC, or a naive date as an instant, and a date stored as an integer
    (``20190110``) read as nanoseconds since 1970."""
    meta = _footer(spark, file)
    if meta is None:
        return None
    out: dict[str, str] = {}
    for field in meta.getFileMetaData().getSchema().getFields():
        ann = field.getLogicalTypeAnnotation() if field.isPrimitive() else None
        if (ann is not None and ann.getClass().getSimpleName() == "TimestampLogicalTypeAnnotation"
                and ann.getUnit().toString() == "NANOS"):
            out[field.getName().lower()] = NANOS_UTC if ann.isAdjustedToUTC() else NANOS_NAIVE
    return out


def null_typed_columns(file: str) -> frozenset[str]:
    """The lower-cased names of the columns that the Parquet ``file`` (a path or URI) stores
    as Parquet's null type (logical type UNKNOWN: pandas/pyarrow write it for a column of
    nothing but None), read from its footer by pyarrow. Spark infers such a column as ``int``;
    its every value is null, so it may be read as any type. Empty when pyarrow cannot open
    the file (a filesystem it has no driver for): such a part is then held to the first
    part's types as any other."""
    try:
        fs, where = pafs.FileSystem.from_uri(file if "://" in file else f"file://{file}")
        with fs.open_input_file(where) as f:
            schema = pq.read_schema(f)
    except Exception:  # pyarrow: no filesystem for the scheme, unreadable footer: Spark reports it
        return frozenset()
    return frozenset(f.name.lower() for f in schema if f.type == pa.null())


def utc_equivalent_zone(zone: str) -> bool:
    """True for a time zone whose offset from UTC is 0 at every instant 1900-2100 (``UTC``,
    ``Etc/UTC``, ``GMT``, ``Z``, ``+00:00``): a column tagged so says nothing
    of a local calendar (BigQuery TIMESTAMP through pandas, Spark and DuckDB write instants as
    UTC), so ``omop.time_zone`` dates it. False for any other zone (``Europe/London`` too: +01:00
    in summer; ``Africa/Abidjan`` too, UTC since 1912 but local mean time, -00:16:08, before: a
    birth_datetime of 1900-1911 can fall on another date there, so its declared zone is kept and
    dates its column) and for a name that is no zone (``declared_time_zones`` refuses it)."""
    import datetime as dt
    import zoneinfo

    offset = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", zone.strip())
    if offset:
        return int(offset.group(2)) == 0 and int(offset.group(3)) == 0
    if zone.strip() in ("Z", "z"):
        return True
    try:
        tz = zoneinfo.ZoneInfo(zone.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return all(dt.datetime(year, month, 15, 12, tzinfo=tz).utcoffset() == dt.timedelta(0)
               for year in range(1900, 2101, 5) for month in (1, 4, 7, 10))


# ``file_time_zones``' value for a timestamp column that the file's Arrow schema declares without a zone
# (a naive pandas / pyarrow column): its values are the written wall clock, stored as if UTC. Spark
# reads such a column as an instant when pyarrow wrote it as Parquet INT96 (``flavor='spark'``,
# ``use_deprecated_int96_timestamps``: INT96 has no isAdjustedToUTC flag); pyarrow reads it back as
# the naive wall clock. Not a zone name: no IANA zone has a blank in its name.
WALL_CLOCK = "wall clock"


def file_time_zones(file: str, spark: SparkSession | None = None) -> dict[str, str] | None:
    """Lower-cased column -> the time zone the Parquet ``file`` (a path or URI) declares for a
    timestamp column in its Arrow schema (``timestamp[us, tz=Europe/Amsterdam]``: pyarrow, pandas'
    time-zone-aware columns, R arrow and polars store the zone there; Parquet itself keeps only
    isAdjustedToUTC, which Spark reads), read from its footer by pyarrow. Every timestamp column
    is listed: '' for one without a zone. Where pyarrow cannot open the file (no driver for
    ``hdfs://`` without libhdfs, none for ``s3a://``), the footer's ``ARROW:schema`` key is read
    through Hadoop's ParquetFileReader in ``spark``'s JVM (the filesystems Spark reads the table
    from; one footer, driver only). None when neither can read it (no ``spark``, or a footer
    Hadoop cannot read either): the caller counts such files (session 37: they were skipped
    silently, a pandas zone on HDFS/S3 read a day early).

    A timestamp the footer's ``ARROW:schema`` declares without a zone is ``WALL_CLOCK``: pyarrow wrote a
    naive column (its written wall clock) as Parquet INT96 (``flavor='spark'``,
    ``use_deprecated_int96_timestamps``), which Spark reads as an instant; '' is a column the Arrow schema
    declares UTC, or of a file with no Arrow schema (pyarrow's reading of INT96 there says nothing of its
    writer's meaning: an instant, as Impala, Hive and Spark write it). The Arrow schema is decoded
    from the footer's key, as written: pyarrow's own reading of an INT96 column drops its declared zone
    (a ``tz=Europe/Paris`` column read as naive), which the Hadoop reader's decoding kept."""
    try:
        fs, where = pafs.FileSystem.from_uri(file if "://" in file else f"file://{file}")
        with fs.open_input_file(where) as f:
            parquet_file = pq.ParquetFile(f)
            encoded = (parquet_file.metadata.metadata or {}).get(b"ARROW:schema")
            schema = parquet_file.schema_arrow if encoded is None else decoded_arrow_schema(encoded)
            declared = encoded is not None
    except Exception:  # pyarrow: no filesystem for the scheme, unreadable footer: Hadoop's reader next
        schema = hadoop_arrow_schema(spark, file) if spark is not None else None
        if schema is None:
            return None
        declared = True  # hadoop_arrow_schema holds only the types an Arrow schema declares
    return {f.name.lower(): f.type.tz or (WALL_CLOCK if declared else "") for f in schema
            if pa.types.is_timestamp(f.type)}


def decoded_arrow_schema(encoded: bytes | str) -> pa.Schema:
    """The Arrow schema of a Parquet footer's ``ARROW:schema`` value (base64 of an Arrow IPC schema
    message, as pyarrow writes it), with the types as written (zones included)."""
    import base64

    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(encoded)))


def hadoop_arrow_schema(spark: SparkSession, file: str) -> pa.Schema | None:
    """The Arrow schema a Parquet ``file`` (path or URI) stores in its footer's key-value metadata
    (``ARROW:schema``: a base64 Arrow IPC schema message, as pyarrow writes and reads it), read
    through parquet-hadoop's ParquetFileReader (Spark's own Parquet library, any Hadoop
    filesystem: hdfs://, s3a://, gs://). A file without that key (Spark, Hive, parquet-mr
    writers) has no Arrow zone: its Parquet schema alone, which Spark reads, gives an empty
    schema. None when the footer cannot be read or the key does not decode."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001
    if jvm is None:
        return None
    try:
        conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001
        uri = file if "://" in file else f"file://{os.path.abspath(file)}"
        source = jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(jvm.org.apache.hadoop.fs.Path(uri), conf)
        reader = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(source)
        try:
            metadata = dict(reader.getFooter().getFileMetaData().getKeyValueMetaData())
        finally:
            reader.close()
        encoded = metadata.get("ARROW:schema")
        if encoded is None:
            return pa.schema([])
        return decoded_arrow_schema(encoded)
    except Exception:  # Py4J error (unreadable footer, no filesystem), undecodable key: the caller counts it
        return None


def declared_time_zones(spark: SparkSession, path: str, table: str, df: DataFrame,
                        nanos: Mapping[str, str] | None = None) -> dict[str, str]:
    """Column of ``df`` (as the file names it) -> the time zone its Parquet files declare for its
    timestamps (``file_time_zones``), for the instant-typed columns ``table`` is read by (its date
    columns and their ``DATETIME_OF`` partners as time-zone-aware timestamps, or Parquet nanosecond
    instants read as long: NANOS_UTC in ``nanos``, ``nanosecond_timestamps``); zones equivalent to
    UTC (``utc_equivalent_zone``) and columns without one are left out. A pandas column ``tz_localize('Europe/Amsterdam')`` holds
    local midnights, stored as 23:00 UTC the day before, and Spark ignores the Arrow zone: read in an
    ``omop.time_zone`` of UTC such a date moved a day back, silently (``localize_declared_zones``).
    The part files (``parquet_part_files``) whose column is a timestamp must declare one zone: a
    part declaring another (or none) is an InputDataError naming it and both, as is a zone that is
    no IANA zone or offset. No file is opened for a table without such a column; else one footer
    per part file (driver, pyarrow, else Hadoop: a footer neither reads is one counted WARNING).
    A column whose Arrow schema declares no zone maps to ``WALL_CLOCK`` (pyarrow's INT96 of a naive
    column: the written wall clock; field case round 36), a part declaring none where another does
    (or another zone) the same error."""
    used = {n for n, _ in OMOP_COLUMNS[table]} | {c for (t, _), c in DATETIME_OF.items() if t == table}
    instants = {c.lower(): c for c in df.columns if c.lower() in used and (
        isinstance(df.schema[c].dataType, T.TimestampType)
        or ((nanos or {}).get(c.lower()) == NANOS_UTC and isinstance(df.schema[c].dataType, T.LongType)))}
    if not instants:
        return {}
    seen: dict[str, tuple[str, str]] = {}  # column -> (zone or '', the first part file declaring it)
    files = parquet_part_files(Fs(spark), path)
    unread = 0
    for file in files:
        zones = file_time_zones(file, spark)
        if zones is None:
            unread += 1
            continue
        for name, zone in zones.items():
            if name not in instants:
                continue
            zone = "" if not zone or utc_equivalent_zone(zone) else zone
            if zone and zone != WALL_CLOCK and not _known_zone(zone):
                raise InputDataError(f"OMOP table {table} column {name}: this file declares time zone {zone!r} for "
                                     "its timestamps, which is no IANA time zone or UTC offset", where=file)
            first = seen.setdefault(name, (zone, file))
            if first[0] != zone:
                shown = ["none (naive: its written wall clock)" if z == WALL_CLOCK else repr(z) if z else "none (UTC)"
                         for z in (zone, first[0])]
                raise InputDataError(
                    f"OMOP table {table} column {name}: this part file declares time zone {shown[0]} for its "
                    f"timestamps, {first[1]} {shown[1]}: their calendar dates differ by zone; rewrite the table's "
                    "files with one zone (or as DATE)", where=file)
    if unread:
        # Not an error: Spark reads these files (or reports them itself); only a zone pandas/pyarrow
        # declared in them is unseen, which the user can check (or rewrite the columns as DATE).
        log.warning("%s: OMOP table %s: the footer of %s of %s could not be read (neither pyarrow nor Hadoop's "
                    "Parquet reader): time zones declared for its timestamp column(s) %s were not checked; a "
                    "time-zone-aware column written by pandas/pyarrow there is dated in omop.time_zone, a day "
                    "early east of it", path, table, counted(unread, "part file"), counted(len(files), "part file"),
                    ", ".join(sorted(instants.values())))
    return {instants[name]: zone for name, (zone, _) in seen.items() if zone}


def _known_zone(zone: str) -> bool:
    """True for an IANA zone name or a UTC offset (+hh:mm, +hhmm) that Spark's convert_timezone reads."""
    import zoneinfo

    if re.fullmatch(r"[+-]\d{2}:?\d{2}", zone.strip()):
        return True
    try:
        zoneinfo.ZoneInfo(zone.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def localize_declared_zones(df: DataFrame, table: str, zones: dict[str, str], time_zone: str | None, *,
                            where: str, nanos: Mapping[str, str] | None = None) -> DataFrame:
    """``df`` with each column of ``zones`` (``declared_time_zones``: instants whose Parquet files
    declare a zone other than UTC) as the naive wall clock of its declared zone (``timestamp_ntz``),
    which ``to_omop_date`` reads by its written date: the column is dated in the zone its writer
    localised it in, whatever ``omop.time_zone`` (the zone of instants that declare none: BigQuery
    TIMESTAMP, Spark, a UTC-tagged pandas column). One WARNING per column whose declared zone
    differs from ``time_zone``. With ``time_zone`` unset such a column is unchanged: it stays
    ``to_omop_date``'s error asking for omop.time_zone (the export says nothing of the zone its
    other instants mean).

    A ``WALL_CLOCK`` column (its Arrow schema declares a naive timestamp, which pyarrow stored as INT96,
    the wall clock as if UTC: ``flavor='spark'``, ``use_deprecated_int96_timestamps``) becomes its UTC
    wall clock, the one written, with or without ``time_zone`` (one INFO line): read as an instant
    in an ``omop.time_zone`` west of UTC, every midnight was the day before, silently, in every table
    (field case round 36); without it, such a naive column asked for a zone it does not have."""
    wall = {c for c, z in zones.items() if z == WALL_CLOCK}
    zones = {c: z for c, z in zones.items() if z != WALL_CLOCK} if time_zone is not None else {}
    if not zones and not wall:
        return df
    zones |= {c: "UTC" for c in wall}
    session_zone = df.sparkSession.conf.get("spark.sql.session.timeZone")
    assert session_zone is not None  # Spark always has one (default: the JVM's zone); typed optional

    def local(name: str, zone: str) -> Column:
        col = F.col(f"`{name}`")
        if isinstance(df.schema[name].dataType, T.LongType):  # nanoseconds since the epoch (NANOS_UTC)
            col = F.timestamp_micros(F.floor(col / F.lit(1000)).cast("long"))
        return F.convert_timezone(F.lit(session_zone), F.lit(zone.strip()), col.cast(T.TimestampNTZType()))

    if wall:
        log.info("%s: OMOP table %s column(s) %s: Parquet INT96 whose Arrow schema declares a naive timestamp "
                 "(pyarrow's flavor='spark'): read by their written date, not as instants", where, table,
                 ", ".join(sorted(c.lower() for c in wall)))
    for name, zone in sorted(zones.items()):
        if name not in wall and zone.strip() != time_zone:
            log.warning("%s: OMOP table %s column %s: its Parquet files declare time zone %s for its timestamps "
                        "(Arrow schema, e.g. a time-zone-aware pandas column): read by their local date there, not "
                        "in omop.time_zone %s", where, table, name.lower(), zone.strip(), time_zone)
    return df.select(*[local(c, zones[c]).alias(c) if c in zones else F.col(f"`{c}`") for c in df.columns])


def fill_null_typed(spark: SparkSession, path: str, schema: T.StructType) -> T.StructType:
    """``schema`` (the first part file's, ``footer_schema``) with each column the first part
    stores as Parquet's null type (``null_typed_columns``) typed as the first later part that
    holds it as another type: Spark reads every part by the first part's schema, so the other
    parts' dates would be read as ``int`` (days since 1970) or refused. A column no part types
    stays ``int`` (``void_date_columns`` reads it as empty). Part files as ``parquet_part_files``
    lists them (in partition folders too)."""
    files = parquet_part_files(Fs(spark), path)
    untyped = null_typed_columns(files[0]) if len(files) > 1 else frozenset()
    found: dict[str, T.DataType] = {}
    for file in files[1:]:
        if not untyped - found.keys():
            break
        held = footer_schema(spark, file)
        if held is None:
            continue
        nulls = null_typed_columns(file)
        found |= {f.name.lower(): f.dataType for f in held.fields
                  if f.name.lower() in untyped and f.name.lower() not in found and f.name.lower() not in nulls}
    return T.StructType([T.StructField(f.name, found.get(f.name.lower(), f.dataType), f.nullable, f.metadata)
                         for f in schema.fields])


def read_null_typed_parts_apart(spark: SparkSession, path: str, schema: T.StructType) -> DataFrame:
    """The Parquet table at ``path`` read by ``schema``, the part files that store a column of
    ``schema`` as Parquet's null type (``null_typed_columns``; ``schema`` types it otherwise,
    ``fill_null_typed``) read without it and given it as null: Spark's reader refuses to read
    their INT32 column as, e.g., a double (a date it reads, as null). One scan when no part
    has such a column (footers read by pyarrow, none for a one-file table); else one per set of
    such columns, as one union (by name) of ``schema``'s columns. A table in partition folders
    (``year=2019/``, ``parquet_part_files``) is read the same way, its groups under ``basePath``
    ``path``, with its partition columns (``partition_keys``) after them."""
    files = parquet_part_files(Fs(spark), path)
    typed = {f.name.lower() for f in schema.fields if f.dataType != T.IntegerType()}
    groups: dict[frozenset[str], list[str]] = {}
    for file in files if len(files) > 1 else []:
        groups.setdefault(null_typed_columns(file) & typed, []).append(file)
    if set(groups) <= {frozenset()}:
        return spark.read.schema(schema).parquet(path)
    keys = sorted(partition_keys(Fs(spark), path))  # kept: a table may be partitioned by an OMOP column
    parts = [spark.read.schema(T.StructType([f for f in schema.fields if f.name.lower() not in nulls]))
             .option("basePath", path).parquet(*group)
             .select(*[F.lit(None).cast(f.dataType).alias(f.name) if f.name.lower() in nulls
                       else F.col(f"`{f.name}`") for f in schema.fields], *[F.col(f"`{k}`") for k in keys])
             for nulls, group in groups.items()]
    return reduce(lambda a, b: a.unionByName(b), parts)


def check_part_file_schemas(spark: SparkSession, path: str, table: str, read: T.StructType,
                            also: frozenset[str] = frozenset(), nanos: Mapping[str, str] | None = None) -> None:
    """Raise InputDataError naming the file and the column when a data file of the Parquet
    table at ``path`` differs from the first file in a column the table is read by: ``table``'s
    declared columns, their ``DATETIME_OF`` partners and ``also`` (e.g. the configured sex-at-birth
    column of ``person``). ``read``: the schema ``_read_parquet`` read the table by, i.e. the first
    file's. Spark reads every file by that one schema, so a column a later part file lacks came
    back as nulls there (its persons' records or dates silently gone); a column a later part has
    and the first lacks came back as nulls in EVERY file (an optional column such as
    verbatim_end_date, condition_status_concept_id or death_datetime read as absent: exposure ends,
    preliminary diagnoses and deaths silently lost); and a type that differs (person_id string in
    one part, bigint in another; a date written as a timestamp) failed inside a Spark task with a
    Java trace, or was cast. Footers only (no Spark job), one per file; a table read by Spark's own
    inference (``footer_schema`` None) is compared by its part files' footers too: a table in
    partition folders (``year=2019/part-0.parquet``, Hive style) is read by one part's columns as
    well (Spark infers its schema from one footer), so its parts are held to the first part's.
    Hidden and ``_`` files and folders (``_SUCCESS``, ``_delta_log``) are not parts.

    ``nanos``: the first file's Parquet nanosecond timestamps (``nanosecond_timestamps``), which
    Spark reads as ``long`` like any integer: where the first file has one, a part whose column is
    another integer or the other kind of nanosecond timestamp (naive where the first's is an
    instant, or the reverse) is the same error (read by the first file's flag, its dates moved or
    became 1970; one more footer read per part)."""
    fs = Fs(spark)
    used = ({n for n, _ in OMOP_COLUMNS[table]} | {c for (t, _), c in DATETIME_OF.items() if t == table}
            | {c.lower() for c in also})
    files = parquet_part_files(fs, path)
    if len(files) < 2:
        return
    # A partition column (drug_concept_id=700/) is in no part file: Spark reads it from the folders.
    keys = {k.lower() for k in partition_keys(fs, path)}
    wanted = {f.name.lower(): f.dataType for f in read.fields if f.name.lower() in used - keys}
    first = files[0].removeprefix(path.rstrip("/") + "/") if files[0].startswith(path) else files[0].rsplit("/", 1)[-1]
    for file in files[1:]:
        schema = footer_schema(spark, file)
        if schema is None:
            continue
        held = {f.name.lower(): f.dataType for f in schema.fields}
        nulls = null_typed_columns(file) if any(held.get(n, d) != d for n, d in wanted.items()) else frozenset()
        for name, dtype in wanted.items():
            if name not in held:
                raise InputDataError(f"OMOP table {table}: this part file has no column {name}, which "
                                     f"{first} has (Spark would read it as empty here): "
                                     "rewrite the table's files with one schema", where=file)
            if held[name] != dtype and name not in nulls:  # Parquet's null type: every value null
                raise InputDataError(f"OMOP table {table}: column {name} is {held[name].simpleString()} in this part "
                                     f"file but {dtype.simpleString()} in {first}: rewrite "
                                     "the table's files with one schema", where=file)
        if nanos:
            flags = nanosecond_timestamps(spark, file) or {}
            for name in sorted(wanted):
                if flags.get(name) != nanos.get(name):
                    raise InputDataError(
                        f"OMOP table {table}: column {name} is {_nanos_kind(flags.get(name))} in this part file but "
                        f"{_nanos_kind(nanos.get(name))} in {first}: rewrite the table's files with one schema",
                        where=file)
        unread = sorted(n for n in held if n in used and n not in wanted)
        if unread:
            raise InputDataError(f"OMOP table {table}: this part file has column {unread[0]}, which {first} lacks "
                                 "(Spark reads every part by one part's columns: it would be read as empty in "
                                 "every file): rewrite the table's files with one schema", where=file)


def _nanos_kind(flag: str | None) -> str:
    """How ``check_part_file_schemas`` names a column's ``nanosecond_timestamps`` flag."""
    return {NANOS_UTC: "a nanosecond timestamp adjusted to UTC (an instant)",
            NANOS_NAIVE: "a naive nanosecond timestamp (a wall clock)"}.get(flag or "", "no nanosecond timestamp")


def _read_parquet(spark: SparkSession, path: str) -> tuple[DataFrame, dict[str, str]]:
    """``spark.read.parquet`` with the schema from ``footer_schema`` (no inference job; Spark
    infers it when that gives None); a file with INT64 TIMESTAMP(NANOS) columns (which Spark
    3.5 rejects) is read with those columns as ``long``. Returns the frame and its nanosecond
    columns (``nanosecond_timestamps`` of the first part file: lower-cased column -> NANOS_NAIVE /
    NANOS_UTC, each column's own isAdjustedToUTC flag; empty when there are none)."""

    def read() -> DataFrame:
        # In partition folders: the first part file's footer, as for a flat folder (Spark's own
        # inference also reads one part's footer, but would read a null-typed column as int in
        # every part, a later part's dates or numbers then refused or a Java trace)
        fs = Fs(spark)
        parts = parquet_part_files(fs, path) if has_partition_folders(fs, path) else []
        schema = footer_schema(spark, parts[0] if parts else path)
        return spark.read.parquet(path) if schema is None else read_null_typed_parts_apart(
            spark, path, fill_null_typed(spark, path, schema))

    option = "spark.sql.legacy.parquet.nanosAsLong"
    # A runtime SQL option of the session that only affects columns Spark cannot read
    # otherwise; off while probing, so that each table's own NANOS columns are seen.
    was_on = spark.conf.get(option, "false") == "true"
    spark.conf.unset(option)
    try:
        return read(), {}
    except Exception as e:  # AnalysisException / Py4JJavaError: Illegal Parquet type: INT64 (TIMESTAMP(NANOS,x))
        if not re.search(r"TIMESTAMP\(NANOS,(true|false)\)", str(e)):
            raise
    finally:
        if was_on:
            spark.conf.set(option, "true")
    # Left on: the scan, run later, must read the columns as long too.
    spark.conf.set(option, "true")
    df = read()
    # The first part's flags, column by column (Spark's error names one column only: taken for the
    # table's, a naive column beside an instant one was read by the other's rule, and every other
    # long column, a date written as an integer 20190110 too, as nanoseconds since 1970). The
    # other parts are held to them (check_part_file_schemas).
    return df, nanosecond_timestamps(spark, parquet_part_files(Fs(spark), path)[0]) or {}


# Metadata key of a column read under another name than the file's (``_sex_column``): the
# file's name, by which ``check_text_values`` finds the offending CSV line and names the column.
FILE_COLUMN = "omop_file_column"


def _sex_column(df: DataFrame, omop: OmopInput, table: str, *, where: str) -> DataFrame:
    """``person``: the configured sex-at-birth column read as ``sex_at_birth_concept_id`` (its
    own name kept as the column's ``FILE_COLUMN`` metadata; a file's column of that name is
    not read). A configured column (not the default, which a CDM without it may lack) that
    the table does not have is an InputDataError naming it: read as absent, every person's sex
    would silently come from gender_concept_id (a gender identity on All of Us)."""
    column = omop.sex_at_birth.column.lower()
    if table != "person" or column == "sex_at_birth_concept_id":
        return df
    df = df.toDF(*[c.lower() for c in df.columns]).drop("sex_at_birth_concept_id")
    if column not in df.columns:
        raise InputDataError(f"OMOP table person has no column {column}, which omop.sex_at_birth.column names as "
                             "its sex at birth (set it to the table's column, or leave it out to read "
                             "sex_at_birth_concept_id, else gender_concept_id)", where=where)
    return df.withColumnRenamed(column, "sex_at_birth_concept_id").withMetadata("sex_at_birth_concept_id",
                                                                               {FILE_COLUMN: column})


# Tables read only under some settings: drug_strength for the minimum-dose rule, observation for
# a concept set of that domain.
MIN_DOSE_TABLE = "drug_strength"
OBSERVATION_TABLE = "observation"


def omop_tables_read(cfg: Config) -> tuple[str, ...]:
    """The OMOP tables the phenotype stage reads under ``cfg`` (``phenotypes.stage.read_omop``
    and its rerun fingerprint, ``stage_input_files``, both take them from here): every table of
    ``OMOP_COLUMNS``, but ``drug_strength`` only when ``phenotypes.trials.ingredient_min_daily_dose``
    is set and ``observation`` only when a concept set a rule reads has the observation domain
    (``domain`` or ``also_domains``; ``stage.observation_sets``): a release's observation table
    (survey answers, on All of Us) is large, and no rule reads it otherwise."""
    from trd_spark.phenotypes.stage import observation_sets  # stage imports this module

    skip = {MIN_DOSE_TABLE} if not cfg.phenotypes.trials.ingredient_min_daily_dose else set()
    skip |= {OBSERVATION_TABLE} if not observation_sets(cfg) else set()
    return tuple(t for t in OMOP_COLUMNS if t not in skip)


def spark_reads_name(name: str) -> bool:
    """Whether Spark's file sources read a file or folder of this name inside a table folder:
    not a name starting with ``.`` or ``_`` (``_SUCCESS``, ``.crc``, ``_delta_log``), unless a
    partition folder (``_k=v``) or Parquet's ``_metadata`` / ``_common_metadata``, nor one
    ending in ``._COPYING_`` (a copy under way). Source: Spark 3.5
    ``HadoopFSUtils.shouldFilterOutPathName``."""
    hidden = (name.startswith("_") and "=" not in name) or name.startswith(".") or name.endswith("._COPYING_")
    return not hidden or name.startswith(("_common_metadata", "_metadata"))


def stage_input_files(cfg: Config, fs: Fs | None) -> dict[str, list[str] | None]:
    """The files of ``omop.path`` the phenotype stage reads under ``cfg``, for its rerun
    fingerprint (``stages.StageSpec.input_files``): {``omop.path``: files}. Per table of
    ``omop_tables_read``: ``{table}.{format}`` and the folder ``{table}/``, each where it exists
    (``read_omop_table`` reads the one there, ``_locate``, and stops on both: so a folder of a
    later export written beside the file reruns the stage, which then says so; before session
    55 the file alone was listed and the run stayed up to date on the earlier export), a
    folder's files as Spark reads them (``spark_reads_name`` at every level: a ``_SUCCESS``
    rewritten or a ``.crc`` beside a part is not data); for an absent table (an optional one
    reads as empty) the entries holding it under a name the reader does not take
    (``near_table_names``: ``DEATH.parquet``, ``death.csv.gz``, on which ``_locate`` stops too),
    else nothing (the table appearing later changes the list); a Parquet table folder's
    ``_delta_log`` / ``.hoodie`` files (``check_not_versioned_table`` stops on them). Another table of the release
    (``note``, ``measurement``, ``drug_strength`` without a minimum dose) or a README beside
    them reruns nothing. A local path is listed with ``os``
    (through links to folders, ``stages._local_files``); a URI through ``fs`` (``io.Fs``), {}
    without it (the folder is then fingerprinted whole, as before); BigQuery: {} (a dataset
    has no files; ``StageSpec.external`` leaves it out)."""
    from trd_spark.stages import _local_files  # the fingerprint's own listing (stages imports no stage)

    if cfg.omop.format == "bigquery":
        return {}
    base = cfg.omop.path.rstrip("/")
    local = local_path(base)
    if local is None and fs is None:
        return {}

    def exists(root: str) -> bool:
        return os.path.exists(f"{local}/{root}") if local is not None else bool(fs and fs.exists(f"{base}/{root}"))

    # A table folder's log of a versioned format (``check_not_versioned_table`` stops on it): a
    # Delta DELETE of whole files, or of a partition, changes its log alone.
    stops_on = {m for m, _, _ in VERSIONED_TABLE_MARKERS} if cfg.omop.format == "parquet" else set()
    files: list[str] = []
    listing: list[str] | None = None  # the release folder's entries: listed once, when a table is absent
    for table in (release_table(cfg.omop, t) for t in omop_tables_read(cfg)):
        # Both where both exist, and the near names where neither does: ``_locate`` stops on either,
        # so they must rerun the stage rather than leave it up to date (a folder of a later export
        # written beside the file the outputs were read from, a DEATH.parquet appearing).
        roots = [root for root in (f"{table}.{cfg.omop.format}", table) if exists(root)]
        if not roots:
            if listing is None:
                try:  # a file system that cannot list (a stand-in) gives none
                    listing = os.listdir(local) if local is not None else list(getattr(fs, "listdir", lambda _: [])(base))
                except OSError:
                    listing = []
            roots = near_table_names(listing, table)
        for root in roots:
            if local is not None:
                where = f"{local}/{root}"
                found = [(f, os.path.relpath(f, where)) for f in _local_files(where)]
            else:
                assert fs is not None
                where = f"{base}/{root}"
                found = [(f"{where}/{rel}" if rel else where, rel) for rel in fs.list_files(where)]
            files += [f for f, rel in found if rel in ("", ".") or all(spark_reads_name(n) for n in rel.split("/"))
                      or rel.split("/")[0] in stops_on]
    return {"omop.path": sorted(set(files))}


def _note_person_deaths(df: DataFrame, table: str, where: str) -> None:
    """One INFO line when the ``person`` table as exported (``df``, its own column names) has CDM
    v6.0's ``death_datetime``, which the chain reads as death rows (``person_death_rows``)."""
    if table == "person" and "death_datetime" in {c.lower() for c in df.columns}:
        log.info("phenotypes: %s: person.death_datetime (CDM v6.0's death field) is read as death dates "
                 "beside the death table's (the earliest usable date ends follow-up)", where)


def person_death_rows(person: DataFrame) -> DataFrame:
    """``death`` rows (person_id, death_date) from the ``person`` table's ``death_datetime``
    (conformed: a date, null where the export has none or lacks the column).

    CDM v6.0 records a person's death in ``person.death_datetime`` and has no ``death`` table; a
    v5.x ETL may fill both. Read as one more death row per person, its date goes through the death
    rules (``persons.first_death_dates``: the earliest usable date on or after 1 January of the
    birth year; a 1900 placeholder is no death), so a death table row disagreeing with it is one
    more date (counted as ``n_persons_several_death_dates``). Before (field case round 39) the
    column was not read: a v6.0 export lost every death, the absent death table's WARNING the only
    word, and its persons were followed to the cutoff (trMDD instead of MDD_other)."""
    return person.where(F.col("death_datetime").isNotNull()).select(
        "person_id", F.col("death_datetime").alias("death_date"))


def read_omop_table(spark: SparkSession, omop: OmopInput, table: str, *,
                    records_below: int = DEFAULT_RECORDS_BELOW) -> DataFrame:
    """Read one OMOP table from ``omop.path``.

    Parquet / CSV: ``{path}/{table}.parquet|csv`` or ``{path}/{table}/``. BigQuery
    (``omop.format: bigquery``, path ``project.dataset``, the AoU Workbench CDR): through the
    Spark BigQuery connector (``scripts/submit.sh --bigquery``).
    Returns the declared columns of ``OMOP_COLUMNS[table]`` with declared types. ``death`` is
    read from the release's ``omop.death_table`` (``release_table``), every message naming it.
    ``records_below``: ``report.small_count_threshold`` for the record counts of its messages
    (``conform_omop_table``).
    """
    omop_schema(table)  # unknown table names fail before touching the filesystem
    base = omop.path.rstrip("/")
    name = release_table(omop, table)
    if omop.format == "bigquery":
        path = f"{base}.{name}"
        df = _read_bigquery(spark, omop, name)
        _note_person_deaths(df, table, path)
        df = conform_omop_table(_sex_column(df, omop, table, where=path), table,
                                where=path, time_zone=omop.time_zone, records_below=records_below)
    else:
        fs = Fs(spark)
        nanos: dict[str, str] = {}
        if omop.format == "parquet":
            path = _locate(fs, base, name, "parquet")
            check_not_versioned_table(fs, path, table)
            df, nanos = _read_parquet(spark, path)
            check_part_file_schemas(spark, path, table, df.schema,
                                    frozenset({omop.sex_at_birth.column}) if table == "person" else frozenset(),
                                    nanos=nanos)
            # Instants whose files declare their zone (pandas tz-aware columns) dated in that zone
            df = localize_declared_zones(df, table, declared_time_zones(spark, path, table, df, nanos),
                                         omop.time_zone, where=path, nanos=nanos)
        else:  # csv: read as text and cast to the declared types (no schema inference)
            path = _locate(fs, base, name, "csv")
            _check_csv_not_compressed(path, table)
            df = spark.read.options(**CSV_READ_OPTIONS).csv(path)
            _check_no_column_named_twice(spark, df, table, path)
            _check_csv_rows(spark, df, path, table)
        _note_person_deaths(df, table, path)
        df = conform_omop_table(_sex_column(df, omop, table, where=path), table, where=path,
                                time_zone=omop.time_zone, nanos=nanos, records_below=records_below)
    if table == "person":
        check_person_table(df, where=path)
        df = birth_fields_from_datetime(df)
    return df
