"""An independent DuckDB SQL implementation of the phenotype definitions (the Spark stage's oracle).

Written from the definitions (issue #4, trd_spark.phenotypes module docstrings), not from the
Spark code: concept sets are expanded in SQL through concept_ancestor, exposures merged into
episodes with SQL window functions, every TRD rule is a SQL query. It reads the same Parquet
OMOP directory (``{dir}/{table}.parquet`` or ``{dir}/{table}/*.parquet``) and the same
config, and returns one row per person and definition with the PHENOTYPES decision columns:

  person_id, definition, status, exclusion_reason, mdd_index_date, trd_onset_date,
  followup_end_date, time_to_trd_days, trd_event, n_adequate_trials

Rules covered: MDD and exclusions (an implausible year of birth first), controls, exposure ends (verbatim end, end date, days_supply
x (1 + refills) unless that course exceeds max_days_supply, an administration record's own day
(``ADMINISTRATION_DRUG_TYPE_IDS``), a mail-order prescription's mail_order_days_supply
(``MAIL_ORDER_DRUG_TYPE_IDS``), default; negative days_supply or quantity no exposure, and the claim such a
reversal cancels (one claim per reversal) none either,
nor an augmentation or somatic drug event), the per-ingredient minimum daily dose (quantity x drug_strength
amount / days_supply; of the trials' and the augmentation agents' ingredients), ignored ingredients and minimum trial days, episodes, adequacy, the
three TRD rules with procedure, device, observation and drug somatic events (a set read in the table of
each of its domains and also_domains: esketamine_clinic in procedure_occurrence and observation), follow-up and statuses; the
docs/phenotypes.md: controls clean over the whole record (any date), exact calendar ages,
birth_datetime when the month is known and it lies in year_of_birth's year and month (an empty
year_of_birth, and then month and day, from birth_datetime), deaths
dated before the birth year and periods ending before it ignored, dates as the export meant them (DATE, naive
timestamp, ISO text by its written date; a time-zone-aware timestamp, Parquet INT96 and ISO text
naming a zone as instants, by their local date in ``omop.time_zone``, or in the zone a column's
Parquet file declares in its Arrow schema when that is not UTC, ``_declared_zones``), an empty date taking its
CDM datetime partner's date (``DATETIME_PARTNER``); docs/phenotypes.md "Concepts": standard concepts only (a
concept 0 is in no set, whatever its source concept), a preliminary diagnosis or a "history of"
record (``condition_status_concept_id`` in ``NOT_A_DIAGNOSIS_STATUS_IDS``, this module's own list:
preliminary, rule-out, "history of") no MDD diagnosis but
still an exclusion and a control's disqualifier, a combination product an exposure of each
ingredient it reaches through concept_ancestor.
Optional tables (death, device_exposure, drug_strength, observation) may be absent.

Used by tests/test_phenotypes_duckdb.py and benchmarks/phenotypes_vs_duckdb.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from trd_spark.config import Config

# PERSON.year_of_birth's plausibleValueLow in OHDSI DQD (OMOP_CDMv5.4_Field_Level.csv), and the
# oldest age the study accepts at the end of follow-up (docs/phenotypes.md, Birth date).
DQD_BIRTH_YEAR_LOW = 1850
MAX_AGE_YEARS = 120
# condition_status_concept_id of a record that is no MDD diagnosis (docs/phenotypes.md "Concepts"), written out
# from the README, not imported from trd_spark.vocabulary, so that the twin checks the chain's list
# too: 32899 "Preliminary diagnosis" and 4033240, the SNOMED one of the CDM's older convention;
# 32892 "Condition to be diagnosed by procedure" (a rule-out); 4188893 "history of".
NOT_A_DIAGNOSIS_STATUS_IDS = (32892, 32899, 4033240, 4188893)
# drug_type_concept_id of an administration record (docs/phenotypes.md "Exposures"), written out from the README
# for the same reason: 32818 "EHR administration record", 38000180 "Inpatient administration" and the
# "Physician administered drug" types 38000179, 43542356, 43542357, 43542358, 581373.
ADMINISTRATION_DRUG_TYPE_IDS = (32818, 38000179, 38000180, 43542356, 43542357, 43542358, 581373)
# drug_type_concept_id of a mail-order prescription (docs/phenotypes.md "When an exposure ends"), written out
# likewise: 38000176 "Prescription dispensed through mail order" (OHDSI Themis: no end, no days_supply: start + 89).
MAIL_ORDER_DRUG_TYPE_IDS = (38000176,)
# drug_strength units of a computable daily dose (docs/phenotypes.md "Exposures"), written out likewise: UCUM
# 8576 milligram (the minimum's unit), 8587 milliliter (a liquid's quantity).
MILLIGRAM, MILLILITER = 8576, 8587



def _implausible_birth(p: str) -> str:
    """SQL: true for a person (``p``: a ``persons`` row) whose year of birth gives no usable age, the
    first exclusion of every person, MDD or not: before 1850 (OHDSI DQD's plausibleValueLow for
    PERSON.year_of_birth), or a birth date after the end of follow-up (an age below 0: a 2099
    placeholder, any year after the cutoff's) or more than 120 years before it. The exclusion and
    its count (``duckdb_drop_counts``) read this one condition."""
    return (f"({p}.year_of_birth < {DQD_BIRTH_YEAR_LOW} OR {p}.birth_date > {p}.end_date "
            f"OR {p}.end_date > {p}.birth_date + INTERVAL {MAX_AGE_YEARS} YEAR)")


DECISION_COLUMNS = [
    "person_id", "definition", "status", "exclusion_reason", "mdd_index_date", "trd_onset_date",
    "followup_end_date", "time_to_trd_days", "trd_event", "n_adequate_trials",
]


def _exists(omop_dir: str, table: str) -> bool:
    """True when ``table.parquet`` or a ``table/`` folder is in ``omop_dir``. ValueError when both
    are (which holds the table is unknown), and when neither is but the folder holds the table under
    another name: another case (``DEATH.parquet``), extension or compression (``death.csv``,
    ``death.parquet.gz``), or ``bq extract`` shards (``death-000000000000.parquet``); read as absent,
    an optional table so named was empty (every death lost; field case round 37). The chain's rule
    (``omop._locate``), written here again."""
    base = Path(omop_dir)
    file, folder = base / f"{table}.parquet", base / table
    if file.exists() and folder.is_dir():
        raise ValueError(f"{omop_dir}: both {table}.parquet and a {table}/ folder hold table {table}")
    if file.exists() or folder.is_dir():
        return True
    like = re.compile(rf"{re.escape(table)}(\.|[-_][0-9]+(\.|$))", re.IGNORECASE)
    near = sorted(p.name for p in base.iterdir() if p.name.lower() == table or like.match(p.name))
    if near:
        raise ValueError(f"{omop_dir}: no {table}.parquet or {table}/, but {', '.join(near)} (not read)")
    return False


def _source(omop_dir: str, table: str) -> str:
    base = Path(omop_dir)
    if not _exists(omop_dir, table):
        raise FileNotFoundError(f"{omop_dir}: no {table} table")
    if (base / f"{table}.parquet").exists():
        return f"read_parquet('{base / f'{table}.parquet'}')"
    return f"read_parquet('{base / table}/*.parquet')"


def _ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# The clinical tables whose rows are evidence of EHR data under omop.ehr_evidence any_record (the
# chain's stage.EHR_RECORD_TABLES), with the date column each row is dated by.
EHR_RECORD_DATES = {"condition_occurrence": "condition_start_date", "drug_exposure": "drug_exposure_start_date",
                    "procedure_occurrence": "procedure_date", "device_exposure": "device_exposure_start_date"}

# Date columns the rules read, per table (converted to the calendar date the export meant).
DATE_COLUMNS = {
    "person": ("birth_datetime", "death_datetime"),
    "observation_period": ("observation_period_start_date", "observation_period_end_date"),
    "death": ("death_date",),
    "condition_occurrence": ("condition_start_date",),
    "drug_exposure": ("drug_exposure_start_date", "drug_exposure_end_date", "verbatim_end_date"),
    "procedure_occurrence": ("procedure_date",),
    "device_exposure": ("device_exposure_start_date",),
    "observation": ("observation_date",),
}

# OMOP CDM v5.4 pairs these date fields with a datetime field of the same record (the CDM
# makes the date required, the datetime optional; an ETL that fills only the datetime leaves
# the date empty). docs/phenotypes.md "Dates as the export meant them": an empty date takes its partner's
# date, converted by the same rules; a filled date wins.
DATETIME_PARTNER = {
    ("death", "death_date"): "death_datetime",
    ("condition_occurrence", "condition_start_date"): "condition_start_datetime",
    ("drug_exposure", "drug_exposure_start_date"): "drug_exposure_start_datetime",
    ("drug_exposure", "drug_exposure_end_date"): "drug_exposure_end_datetime",
    ("procedure_occurrence", "procedure_date"): "procedure_datetime",
    ("device_exposure", "device_exposure_start_date"): "device_exposure_start_datetime",
    ("observation", "observation_date"): "observation_datetime",
}

# java.time.ZoneId.SHORT_IDS' three-letter IDs but EST, MST and HST (tzdb's fixed offsets of their usual
# meaning): no tzdb zone, each read by ICU as one of the zones its abbreviation names (docs/phenotypes.md "Dates as the export meant them");
# and tzdb's CET, EET, MET, WET, which have summer time (a July '00:30 CET' read as +02:00, where a
# writer printing a fixed label means +01:00).
_LEGACY_ZONE_IDS = ("ACT", "AET", "AGT", "ART", "AST", "BET", "BST", "CAT", "CET", "CNT", "CST", "CTT", "EAT",
                    "ECT", "EET", "IET", "IST", "JST", "MET", "MIT", "NET", "NST", "PLT", "PNT", "PRT", "PST",
                    "SST", "VST", "WET")

# The bytes Spark's text-to-date cast trims from both ends (UTF8String.trimAll: Character.isWhitespace of
# an ASCII byte), as DuckDB SQL: \t \n \v \f \r, the separators 0x1C-0x1F, space.
_SPARK_BLANKS = " || ".join(f"chr({i})" for i in (9, 10, 11, 12, 13, 28, 29, 30, 31, 32))

# ISO 8601 text whose time of day is followed by a zone designator (Z, +hh[:mm], -hhmm, or a
# zone name as BigQuery's CSV ' UTC'): an instant, whose calendar date depends on the zone.
_ZONED = r"^\s*\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}(:\d{2}(:\d{2}([.,]\d*)?)?)?\s*[A-Za-z+-]"


def _parquet_types(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, str]:
    """Physical Parquet type per column (to tell INT96, which DuckDB reads as a naive
    TIMESTAMP, from a naive TIMESTAMP: by the Impala/Hive/Spark convention INT96 is a UTC instant)."""
    if not source.startswith("read_parquet("):
        return {}
    rows = con.execute(f"SELECT name, type FROM parquet_schema({source[len('read_parquet('):-1]})").fetchall()
    return {str(n).lower(): str(t) for n, t in rows if t is not None}


def _utc_like(zone: str) -> bool:
    """True for a zone whose offset is 0 throughout 1900-2100 (UTC: how BigQuery, Spark and pandas
    store bare instants)."""
    import datetime as dt
    import zoneinfo

    if zone.strip() in ("Z", "+00:00", "-00:00", "+0000"):
        return True
    try:
        tz = zoneinfo.ZoneInfo(zone.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return all(dt.datetime(y, m, 15, 12, tzinfo=tz).utcoffset() == dt.timedelta(0)
               for y in range(1900, 2101, 5) for m in (1, 4, 7, 10))


def _declared_zones(source: str) -> dict[str, str]:
    """Column -> the time zone the Parquet files of ``source`` declare for a timestamp column in
    their Arrow schema (pandas' tz_localize, pyarrow, R arrow: ``timestamp[us, tz=Asia/Tokyo]``),
    a zone whose offset is 0 throughout (UTC: how BigQuery, Spark and pandas store bare instants)
    left out. docs/phenotypes.md "Dates as the export meant them": such a column's local date is its declared
    zone's, whatever ``omop.time_zone`` (which dates the instants that declare none)."""
    import glob
    import zoneinfo

    import pyarrow as pa

    if not source.startswith("read_parquet('"):
        return {}

    def known(zone: str) -> bool:
        # The Arrow format's zone: an Olson (IANA) name or an absolute offset '+XX:XX' (Schema.fbs).
        # 'UTC+05:30' is neither, and its sign is ambiguous (POSIX TZ: 5:30 west of UTC; ICU and
        # Java: east), as are abbreviations ('IST'): an error, as in the chain (field case round
        # 32: ICU read 'UTC+05:30', 'utc' and 'IST' where the chain stopped).
        if re.fullmatch(r"[+-]\d{2}:?\d{2}", zone.strip()):
            return True
        try:
            zoneinfo.ZoneInfo(zone.strip())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return False
        return True

    out: dict[str, str] = {}
    for file in sorted(glob.glob(source[len("read_parquet('"):-2])):
        for f in _written_arrow_schema(file)[0]:
            if pa.types.is_timestamp(f.type) and f.type.tz and not _utc_like(f.type.tz):
                if not known(f.type.tz):
                    raise ValueError(f"{file}: column {f.name} declares time zone {f.type.tz!r}, which is no IANA "
                                     "time zone or UTC offset")
                out[f.name.lower()] = f.type.tz
    return out


def _written_arrow_schema(file: str):
    """(The Arrow schema the Parquet ``file``'s writer declared, whether the footer has one): its
    ``ARROW:schema`` key decoded as written (pyarrow's own reading of an INT96 column drops a declared
    zone), else pyarrow's reading of the Parquet types."""
    import base64

    import pyarrow as pa
    import pyarrow.parquet as pq

    encoded = (pq.read_metadata(file).metadata or {}).get(b"ARROW:schema")
    if encoded is None:
        return pq.read_schema(file), False
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(encoded))), True


def _wall_clock_int96(source: str, physical: dict[str, str]) -> set[str]:
    """The INT96 columns of ``source`` whose Parquet files' Arrow schema declares a naive timestamp:
    pyarrow (``flavor='spark'``, ``use_deprecated_int96_timestamps``) stored the written wall clock
    as if UTC, which DuckDB reads as that naive TIMESTAMP: its written date, not an instant (README
    "Dates as the export meant them"; field case round 36)."""
    import glob

    import pyarrow as pa

    int96 = {c for c, t in physical.items() if t == "INT96"}
    if not int96 or not source.startswith("read_parquet('"):
        return set()
    out: set[str] = set()
    for file in sorted(glob.glob(source[len("read_parquet('"):-2])):
        schema, declared = _written_arrow_schema(file)
        out |= {f.name.lower() for f in schema if declared and f.name.lower() in int96
                and pa.types.is_timestamp(f.type) and not f.type.tz}
    return out


def _timestamp_kind(file: str, con: duckdb.DuckDBPyConnection, columns: set[str]) -> dict[str, tuple]:
    """Column (of ``columns``, lower-cased) -> what its values mean in the Parquet ``file``: a timestamp is
    ``("wall clock",)`` (isAdjustedToUTC false, or INT96 whose Arrow schema declares it naive: pyarrow's
    flavor='spark') or ``("instant", zone)`` (adjusted to UTC, or INT96 otherwise; ``zone`` the non-UTC zone
    its Arrow schema declares, else ''); another type is its Parquet physical, converted and logical type.
    The time unit and INT96 itself are left out (they change no date), as is a column of Parquet's null type
    (pandas' all-None column: no value to misread)."""
    import pyarrow as pa

    schema, declared = _written_arrow_schema(file)
    arrow = {f.name.lower(): f.type for f in schema if pa.types.is_timestamp(f.type)}
    out: dict[str, tuple] = {}
    for name, physical, converted, logical in con.execute(
            f"SELECT name, type, converted_type, logical_type FROM parquet_schema({_q(file)})").fetchall():
        key = str(name).lower()
        if key not in columns or str(logical) == "NullType()":
            continue
        adjusted = re.search(r"isAdjustedToUTC=(\d)", str(logical or ""))
        zone = arrow[key].tz if key in arrow else None
        if physical == "INT96" and declared and key in arrow and not zone:
            out[key] = ("wall clock",)
        elif physical == "INT96" or (adjusted.group(1) == "1" if adjusted else str(converted or "").startswith(
                "TIMESTAMP")):  # a legacy TIMESTAMP_MILLIS / _MICROS without a logical type is adjusted to UTC
            out[key] = ("instant", "" if not zone or _utc_like(zone) else zone)
        elif adjusted:
            out[key] = ("wall clock",)
        else:
            out[key] = (physical, converted, logical)
    return out


def _kind_text(kind: tuple) -> str:
    """``_timestamp_kind``'s value in words."""
    if kind == ("wall clock",):
        return "a naive timestamp (a wall clock)"
    if kind[0] == "instant":
        return f"an instant (a timestamp {'declared in ' + kind[1] if kind[1] else 'adjusted to UTC'})"
    return f"Parquet {kind[0]} ({kind[2] or kind[1] or 'no logical type'})"


def _check_part_kinds(con: duckdb.DuckDBPyConnection, source: str, table: str) -> None:
    """ValueError naming the part file and the column when a part file of a folder table holds a date
    column (``DATE_COLUMNS``) or its datetime partner as another kind than the first part
    (``_timestamp_kind``: a naive timestamp in one, an instant or another declared zone in the other; a
    date in one, a timestamp or text in the other). DuckDB reads every file of a glob by the first
    file's types, casting the others: an instant read as the naive UTC wall clock, a naive midnight as
    a UTC instant (the day before in a zone west of it), silently, where the chain stops naming the part
    (``check_part_file_schemas``, ``declared_time_zones``; field case round 44)."""
    import glob

    if not source.startswith("read_parquet('"):
        return
    files = sorted(glob.glob(source[len("read_parquet('"):-2]))
    if len(files) < 2:
        return
    columns = set(DATE_COLUMNS.get(table, ())) | {p for (t, _), p in DATETIME_PARTNER.items() if t == table}
    first = _timestamp_kind(files[0], con, columns)
    for file in files[1:]:
        for name, kind in sorted(_timestamp_kind(file, con, columns).items()):
            if name in first and kind != first[name]:
                raise ValueError(f"{file}: {table}.{name} is {_kind_text(kind)} in this part file but "
                                 f"{_kind_text(first[name])} in {files[0]}: rewrite the table's files with one schema")


def _as_date(c: str, t: str, physical: str | None, table: str, time_zone: str | None) -> str:
    """SQL for column ``c`` of DuckDB type ``t`` as the calendar date the export meant.

    DATE as is; naive TIMESTAMP by its written date; an instant (TIMESTAMPTZ, INT96) by its
    local date in ``time_zone``; text by its written date unless it names a zone (then an
    instant). Text that is no date fails the query, in a date column and in a datetime partner
    alike, as in the chain (``check_text_values``, ``datetime_fallback``: a partner read as empty lost
    its row's date silently). An instant without ``time_zone`` is a ValueError (callers check it
    only where used).
    """
    def local(instant: str) -> str:
        if time_zone is None:
            raise ValueError(f"{table}.{c} holds date-times with a time zone and omop.time_zone is not set")
        # A UTC offset ('+05:30': the zone pandas/pyarrow declare for a fixed-offset column, which
        # the chain reads) is no zone name to DuckDB's ICU; 'GMT+05:30' is the same offset to it.
        zone = f"GMT{time_zone.strip()}" if re.fullmatch(r"[+-]\d{2}:?\d{2}", time_zone.strip()) else time_zone
        return f"CAST(timezone({_q(zone)}, {instant}) AS DATE)"

    if t == "DATE":
        return c
    if t.startswith("TIMESTAMP WITH TIME ZONE"):
        return local(c)
    if t.startswith("TIMESTAMPTZ"):  # TIMESTAMPTZ_NS: pandas' default nanoseconds, UTC-adjusted (an instant)
        return local(f"CAST({c} AS TIMESTAMPTZ)")
    if t.startswith("TIMESTAMP"):
        if physical == "INT96":
            return local(f"timezone('UTC', {c})")
        return f"CAST({c} AS DATE)"
    if t == "VARCHAR":
        # ASCII blanks around the text are no part of it: the chain's cast trims what Java's
        # Character.isWhitespace calls blank (tab, line feed, vertical tab, form feed, carriage
        # return, the separators 0x1C-0x1F, space; UTF8String.trimAll), DuckDB's trim() spaces only
        # (session 52 omopkinds: '2019-01-10\t', '2019-01-10\r' from a CRLF export, were no date here);
        # a value of blanks alone is empty only when they are spaces, as the chain's check reads it; other
        # Unicode blanks, which DuckDB's trim() took away ('2019-01-10' and a no-break space), are no date
        v = f"trim({c}, {_SPARK_BLANKS})"
        # the written date: yyyy-m[m]-d[d] alone, before a time of day, or before a UTC offset
        # alone (XML Schema's xs:date '2019-01-05+05:30': a day, no instant), as the chain reads it
        # ('2019-1-5 10:00:00', whose first ten characters are no date). Other non-empty text
        # ('2019/01/05', '20190105', '2019-03') is no date, as in the chain (check_text_values; a
        # datetime partner: datetime_fallback): an error naming table, column and the value's shape
        # (field case round 32: DuckDB's cast read slashes and a zoned date the chain refused).
        # The time and the offset must be in range (docs/phenotypes.md "Values that are no date", session 53): hours
        # 00-23 or 24:00 (its seconds and fraction zero), minutes and seconds 00-59, an offset within
        # +-18:00 (java.time's range); '2019-11-20 25:00:00' or '2019-11-20+25:00' is no date, where
        # this reader took the ten characters before the time.
        time = r"(([01]?[0-9]|2[0-3])(:[0-5][0-9](:[0-5][0-9]([.,][0-9]*)?)?)?|24(:00(:00([.,]0*)?)?)?)"
        offset = r"(Z|z|[+-](0[0-9]|1[0-7])(:?[0-5][0-9])?|[+-]18(:?00)?)"
        full = rf"^[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}({offset}|[T ]{time})?$"
        shape = f"regexp_replace(regexp_replace({v}, '[0-9]', '#', 'g'), '[A-Za-z]', 'a', 'g')"
        no_date = f"error(concat({_q(f'{table}.{c}: value(s) are not dates (yyyy-mm-dd), e.g. ')}, {shape}))"
        # person.birth_datetime '1990' / '1990-03' (a masked export): empty, as the chain's
        # PARTIAL_DATE_AS_EMPTY reads it (year and month of birth give the date); elsewhere no date
        partial = (f"regexp_matches({v}, {_q(r'^[0-9]{4}(-(0?[1-9]|1[0-2]))?$')})"
                   if (table, c) == ("person", "birth_datetime") else "FALSE")
        # a day the calendar lacks ('2019-02-30', '2019-13-01') is the same error, not DuckDB's
        # conversion error naming no table
        day = f"TRY_CAST(regexp_extract({v}, '^[0-9]{{4}}-[0-9]{{1,2}}-[0-9]{{1,2}}') AS DATE)"
        written = f"CASE WHEN {c} IS NULL OR trim({c}, ' ') = '' OR {partial} THEN NULL " \
                  f"WHEN regexp_matches({v}, {_q(full)}) AND {day} IS NOT NULL THEN {day} " \
                  f"ELSE {no_date} END"
        zoned = f"regexp_matches({v}, {_q(_ZONED)})"
        # DuckDB's TIMESTAMPTZ cast reads Z, +hh:mm and zone names; a lower-case z after a digit or
        # blank is Z (not the z ending a zone id, America/La_Paz, as in the chain). Forms the
        # chain reads (omop.zoned_text_instant) that the cast refuses are rewritten: a blank before
        # a UTC offset or Z ('2019-01-09 23:00:00 -05:00': taken for a zone name), a one-digit
        # offset hour ('+5:30'), a zone name glued to the time ('00:00:00GMT+05:30'), Java's
        # ZonedDateTime zone after the offset ('+01:00[Europe/Paris]'), a fraction after a comma.
        text = f"regexp_replace({v}, '([0-9])\\s*z$', '\\1Z')"
        for pattern, repl in ((r"^([0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9]{1,2})([^0-9:])", r"\1:00\2"),  # 'T02Z'
                              (r"([0-9]|Z)\[[^\]]*\]$", r"\1"), (r"^([^,]*:[0-9]{2}),([0-9]+)", r"\1.\2"),
                              (r"\s+([+-][0-9]|Z$)", r"\1"), (r"([0-9])([+-])([0-9])(:?[0-9]{2})?$", r"\1\20\3\4"),
                              (r"([0-9])([A-Za-z]{2})", r"\1 \2"),
                              # ISO 8601's 24:00 ends its written day (the chain: its last microsecond)
                              (r"([T ])24:00(:00(\.0*)?)?([^0-9.:]|$)", r"\123:59:59.999999\4")):
            text = f"regexp_replace({text}, {_q(pattern)}, {_q(repl)})"
        instant = f"CAST({text} AS TIMESTAMPTZ)"
        # A zone written as one of Java's legacy three-letter IDs that is no tzdb zone (BST, IST, CST,
        # AST...; listed from java.time.ZoneId.SHORT_IDS here, not imported from the chain): ICU reads
        # each as one zone where writers mean another (BST: Bangladesh, not British Summer Time), so
        # such text is no date, with or without omop.time_zone, as in the chain (field case round 35).
        legacy = r"^\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9:.,]*\s*(?i:(" + "|".join(_LEGACY_ZONE_IDS) + r"))\s*$"
        abbreviation = f"upper(regexp_extract({v}, {_q(legacy)}, 1))"
        refused = (f"WHEN {abbreviation} <> '' THEN error(concat("
                   f"{_q(f'{table}.{c}: value(s) are date-times with the time-zone abbreviation ')}, {abbreviation}, "
                   f"{_q(', which names several time zones: export a UTC offset or an IANA zone name')}))")
        # Text the zone pattern matches that is no instant ('2019-01-05 3 PM': a letter after the
        # hour) is no date, with or without omop.time_zone, as in the chain (check_text_values);
        # so is a UTC offset beyond +-18:00 or with minutes past 59, which DuckDB's cast reads
        # ('+25:00': a day earlier; '+05:60': +06:00) where the chain's (java.time's) refuses it.
        beyond = r"[+-]((1[89]|[2-9][0-9])(:?[0-9]{2})?|[0-9]{2}:?[6-9][0-9])(\[[^\]]*\])?$"
        in_range = r"[+-]18(:?00)?(\[[^\]]*\])?$"
        not_instant = (f"(TRY_CAST({text} AS TIMESTAMPTZ) IS NULL OR (regexp_matches({v}, {_q(beyond)}) "
                       f"AND NOT regexp_matches({v}, {_q(in_range)})))")
        if time_zone is None:
            return f"CASE {refused} WHEN {zoned} AND {not_instant} THEN {no_date} " \
                   f"WHEN {zoned} THEN error({_q(f'{table}.{c}: zoned date-time text needs omop.time_zone')}) " \
                   f"ELSE {written} END"
        return (f"CASE {refused} WHEN {zoned} AND {not_instant} THEN {no_date} WHEN {zoned} THEN {local(instant)} "
                f"ELSE {written} END")
    raise ValueError(f"{table}.{c} has type {t}, not a date")


# DuckDB types _as_date reads as dates (the chain's date_readable: a date, a timestamp, text)
_DATE_READABLE = ("DATE", "TIMESTAMP", "VARCHAR")


def _void_date_columns(con: duckdb.DuckDBPyConnection, source: str, table: str, types: dict[str, str]) -> set[str]:
    """The date columns of ``table`` (``DATE_COLUMNS``) and their datetime partners in ``source`` whose
    DuckDB type is no date type and which hold no value in any row (null, or NaN in a float column):
    read as empty, as the chain's ``void_date_columns`` reads them. pandas writes an all-missing column as
    Parquet's null type (DuckDB: "NULL"), or as float64 NaN from a CSV; such a column was
    'has type "NULL", not a date' here, one error for an export the chain read (session 56 omopkinds3:
    person.birth_datetime, death.death_date, observation_period_end_date, drug_exposure_end_date). One
    aggregate over those columns, only when one exists."""
    names = [*DATE_COLUMNS.get(table, ()),
             *[p for (t, _), p in DATETIME_PARTNER.items() if t == table]]
    odd = [c for c in names if c in types and not types[c].startswith(_DATE_READABLE)]
    if not odd:
        return set()

    def has_value(c: str) -> str:
        t = types[c]
        if t in ('"NULL"', "NULL"):
            return "0"
        value = f"{c} IS NOT NULL"
        if t in ("DOUBLE", "FLOAT", "REAL"):
            value += f" AND NOT isnan({c})"
        return f"max(CASE WHEN {value} THEN 1 ELSE 0 END)"

    row = con.execute(f"SELECT {', '.join(has_value(c) for c in odd)} FROM {source}").fetchone()
    return {c for c, v in zip(odd, row or (), strict=True) if not v}


def _null_first_part(source: str) -> str:
    """``source`` read so that a column of Parquet's null type in its FIRST part file (pandas' all-None
    column; DuckDB reads a glob by the first file's types) takes its type from the other parts, whose
    values are read (the chain: such a part's column is empty in that part only). Without it DuckDB stopped
    at a DATE -> "NULL" cast, or, with the column read as empty (``_void_date_columns``), would have lost the
    other parts' dates silently (session 56 omopkinds3). DuckDB's union_by_name takes each column's type
    from the parts that have one (a column a part lacks is empty in that part)."""
    if not source.startswith("read_parquet('") or not source.endswith("*.parquet')"):
        return source
    pattern = source[len("read_parquet('"):-2]
    return f"read_parquet({_q(pattern)}, union_by_name = true)"


def _dated(con: duckdb.DuckDBPyConnection, source: str, table: str, time_zone: str | None) -> str:
    """``source`` with its date columns as DATE (``_as_date``); an empty date column takes its
    CDM datetime partner's date (``DATETIME_PARTNER``), when the partner column exists."""
    _check_part_kinds(con, source, table)
    types = {r[0].lower(): r[1].upper() for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    read = source  # the helpers below read the files' own schemas from ``source``
    if '"NULL"' in types.values():
        read = _null_first_part(source)
        types = {r[0].lower(): r[1].upper() for r in con.execute(f"DESCRIBE SELECT * FROM {read}").fetchall()}
    physical = _parquet_types(con, source)
    # pyarrow's INT96 of a naive column: the written wall clock, read as DuckDB's naive TIMESTAMP
    for c in _wall_clock_int96(source, physical):
        physical.pop(c)
    # a column whose file declares its zone is dated there (with omop.time_zone set; unset: the error)
    declared = _declared_zones(source) if time_zone is not None else {}
    void = _void_date_columns(con, read, table, types)
    repl = []
    for c in DATE_COLUMNS.get(table, ()):
        t = types.get(c)
        if t is None:
            continue
        expr = "CAST(NULL AS DATE)" if c in void else _as_date(c, t, physical.get(c), table, declared.get(c, time_zone))
        p = DATETIME_PARTNER.get((table, c))
        if p is not None and p in types and p not in void:  # a partner holding no value dates nothing
            try:
                fallback = _as_date(p, types[p], physical.get(p), table, declared.get(p, time_zone))
            except ValueError:  # an instant partner without a zone: an error only where it is used
                n = con.execute(f"SELECT count(*) FROM {read} WHERE {c} IS NULL AND {p} IS NOT NULL").fetchone()[0]
                if n:
                    raise
                fallback = "CAST(NULL AS DATE)"
            # CASE, not COALESCE: the partner is evaluated only for the rows whose date is empty
            expr = f"CASE WHEN {expr} IS NOT NULL THEN {expr} ELSE {fallback} END"
        if expr != c:
            repl.append(f"{expr} AS {c}")
    if not repl:
        return read
    return f"(SELECT * REPLACE ({', '.join(repl)}) FROM {read})"


def _whole(c: str, types: dict[str, str]) -> str:
    """SQL: person column ``c`` (of DuckDB type ``types[c]``) as BIGINT. A float, decimal or text column
    (pandas writes an int column with missing values as float64: month_of_birth 2.0 beside NaN) holds the
    CDM's integer when whole; a fraction or NaN fails the query naming the column, as the chain's
    ``omop.whole_number`` does (DuckDB's make_date took no DOUBLE, and its cast would round 2.5 to 3;
    session 52 omopkinds)."""
    t = types.get(c, "BIGINT")
    if t in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"):
        return c
    x = f"TRY_CAST(trim(CAST({c} AS VARCHAR)) AS DOUBLE)" if t == "VARCHAR" else f"CAST({c} AS DOUBLE)"
    return (f"CASE WHEN {c} IS NULL THEN NULL WHEN isfinite({x}) AND {x} = trunc({x}) THEN CAST({x} AS BIGINT) "
            f"ELSE error({_q(f'person.{c}: value(s) are no whole number (a fraction, NaN or text)')}) END")


def _refs_rows(cfg: Config) -> list[tuple]:
    rows = []
    for name, cs in cfg.concept_sets.concept_sets.items():
        # one row per domain whose table holds the set's records: its domain and its also_domains
        # (esketamine_clinic: procedure_occurrence and observation)
        for domain in dict.fromkeys((cs.domain, *cs.also_domains)):
            for kind, refs in (("include", cs.include), ("exclude", cs.exclude)):
                for r in refs:
                    rows.append((name, domain, kind, r.concept_id, r.vocabulary_id, r.concept_code, r.descendants,
                                 r.only_if_standard))
    return rows


def duckdb_phenotypes(omop_dir: str, cfg: Config, out_parquet: str, *, threads: int | None = None) -> int:
    """Write the PHENOTYPES decision columns by DuckDB SQL to ``out_parquet``; returns the row count."""
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    try:
        query, _ = _run(con, omop_dir, cfg)
        return _write_phenotypes(con, query, out_parquet)
    finally:
        con.close()


def duckdb_phenotypes_and_drop_counts(omop_dir: str, cfg: Config, out_parquet: str, *,
                                      threads: int | None = None) -> tuple[int, dict[str, dict[str, int]]]:
    """``duckdb_phenotypes`` and ``duckdb_drop_counts`` from ONE build of the temp tables (``_run``):
    (the row count written to ``out_parquet``, the drop counts), the same values the two calls give
    (a field case checking both runs the twin once: session 43)."""
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    try:
        query, src = _run(con, omop_dir, cfg)
        return _write_phenotypes(con, query, out_parquet), _drop_counts(con, src, cfg)
    finally:
        con.close()


def _write_phenotypes(con: duckdb.DuckDBPyConnection, query: str, out_parquet: str) -> int:
    """``query`` (``_run``'s final SELECT) written to ``out_parquet``; returns its row count."""
    con.execute(f"COPY ({query}) TO {_q(out_parquet)} (FORMAT parquet)")
    return con.execute(f"SELECT COUNT(*) FROM read_parquet({_q(out_parquet)})").fetchone()[0]


def compare_phenotypes(ours: str, oracle: str, *, examples: int = 5) -> dict:
    """Row sets of two PHENOTYPES outputs (Parquet file/dir globs) on DECISION_COLUMNS, in DuckDB.

    Returns n_ours, n_oracle, n_only_ours, n_only_oracle and up to ``examples`` differing rows of
    each side (a check run on the cluster side; nothing person-level is printed by callers).
    """
    cols = ", ".join(DECISION_COLUMNS)
    con = duckdb.connect()
    try:
        a = f"(SELECT {cols} FROM read_parquet({_q(ours)}))"
        b = f"(SELECT {cols} FROM read_parquet({_q(oracle)}))"
        out = {
            "n_ours": con.execute(f"SELECT COUNT(*) FROM {a}").fetchone()[0],
            "n_oracle": con.execute(f"SELECT COUNT(*) FROM {b}").fetchone()[0],
        }
        only_a = f"{a} EXCEPT ALL {b}"
        only_b = f"{b} EXCEPT ALL {a}"
        out["n_only_ours"] = con.execute(f"SELECT COUNT(*) FROM ({only_a})").fetchone()[0]
        out["n_only_oracle"] = con.execute(f"SELECT COUNT(*) FROM ({only_b})").fetchone()[0]
        out["examples_ours"] = con.execute(f"SELECT * FROM ({only_a}) ORDER BY 1, 2 LIMIT {examples}").fetchall()
        out["examples_oracle"] = con.execute(f"SELECT * FROM ({only_b}) ORDER BY 1, 2 LIMIT {examples}").fetchall()
        return out
    finally:
        con.close()


def _run(con: duckdb.DuckDBPyConnection, omop_dir: str, cfg: Config) -> tuple[str, dict[str, str]]:
    """Build the temp tables; return the final SELECT (one row per person and definition) and
    the SQL source of each OMOP table read (dates converted, ``_dated``)."""
    ph, mdd_cfg, tr = cfg.phenotypes, cfg.phenotypes.mdd, cfg.phenotypes.trials
    src = {t: _dated(con, _source(omop_dir, t), t, cfg.omop.time_zone) for t in (
        "person", "observation_period", "condition_occurrence", "drug_exposure",
        "procedure_occurrence", "concept", "concept_ancestor")}
    # Deaths: every row of the configured table (All of Us v8+: aou_death, EHR and HealthPro rows,
    # primary_death_record not read), its earliest dated row in or after the birth year below.
    death_file = cfg.omop.death_table
    if _exists(omop_dir, death_file):
        src["death"] = _dated(con, _source(omop_dir, death_file), "death", cfg.omop.time_zone)
    elif death_file != "death":
        raise FileNotFoundError(f"{omop_dir}: no {death_file} table (omop.death_table)")
    else:
        src["death"] = "(SELECT CAST(NULL AS BIGINT) AS person_id, CAST(NULL AS DATE) AS death_date WHERE FALSE)"
    person_types = {r[0].lower(): r[1].upper() for r in con.execute(f"DESCRIBE SELECT * FROM {src['person']}").fetchall()}
    person_cols = list(person_types)
    # CDM v6.0 records the death in person.death_datetime (no death table): death rows too, beside
    # the death table's (docs/phenotypes.md "Follow-up"; field case round 39: before, every such death was lost)
    if "death_datetime" in person_cols:
        src["death"] = (f"(SELECT person_id, death_date FROM {src['death']} UNION ALL SELECT person_id, "
                        f"death_datetime AS death_date FROM {src['person']} WHERE death_datetime IS NOT NULL)")
    birth_datetime = "CAST(birth_datetime AS DATE)" if "birth_datetime" in person_cols else "CAST(NULL AS DATE)"
    cutoff = f"DATE '{cfg.omop.data_cutoff_date.isoformat()}'"
    concept_cols = [r[0].lower() for r in con.execute(f"DESCRIBE SELECT * FROM {src['concept']}").fetchall()]
    # A descendant whose concept row has an invalid_reason is no member (ATLAS's expansion; the
    # chain's concepts.load_vocabulary); a concept table without the column keeps them all. Text
    # meaning no value (NULL from SQL Server Management Studio, NA from R's write.csv, blank: README
    # "Concepts") is the CDM's NULL, a valid concept; read as a reason, every concept was invalid.
    valid_descendant = (f"""AND NOT EXISTS (SELECT 1 FROM {src['concept']} v
            WHERE v.concept_id = a.descendant_concept_id
              AND UPPER(TRIM(CAST(v.invalid_reason AS VARCHAR))) NOT IN ('', 'NULL', 'NA'))"""
                        if "invalid_reason" in concept_cols else "")
    x = con.execute

    x("CREATE TEMP TABLE refs (set_name VARCHAR, domain VARCHAR, kind VARCHAR, concept_id BIGINT, "
      "vocabulary_id VARCHAR, concept_code VARCHAR, descendants BOOLEAN, only_if_standard BOOLEAN)")
    con.executemany("INSERT INTO refs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _refs_rows(cfg))
    # Concept sets: each root (by ID or by vocabulary + code) with itself and its descendants.
    x(f"""CREATE TEMP TABLE members AS
        WITH roots AS (
          SELECT r.set_name, r.domain, r.kind, r.descendants, COALESCE(r.concept_id, c.concept_id) AS root_id
          FROM refs r LEFT JOIN {src['concept']} c
            ON r.concept_id IS NULL AND c.vocabulary_id = r.vocabulary_id AND c.concept_code = r.concept_code
          WHERE COALESCE(r.concept_id, c.concept_id) IS NOT NULL
            -- a reference used only where the release holds it as a standard (or classification) concept
            AND (NOT r.only_if_standard OR EXISTS (SELECT 1 FROM {src['concept']} s
                 WHERE s.concept_id = COALESCE(r.concept_id, c.concept_id) AND TRIM(s.standard_concept) IN ('S', 'C'))))
        SELECT set_name, domain, kind, root_id, root_id AS concept_id FROM roots
        UNION
        SELECT r.set_name, r.domain, r.kind, r.root_id, CAST(a.descendant_concept_id AS BIGINT)
        FROM roots r JOIN {src['concept_ancestor']} a ON a.ancestor_concept_id = r.root_id
        WHERE r.descendants {valid_descendant}""")
    # A set's dose-form words (exclude_dose_forms): a member whose concept_name holds one as a whole
    # word, case-insensitive, is no member (RxNorm names end with the dose form: a topical doxepin
    # under any code or at the dose-form level).
    x("CREATE TEMP TABLE dose_forms (set_name VARCHAR, word VARCHAR)")
    forms = [(name, w) for name, cs in cfg.concept_sets.concept_sets.items() for w in cs.exclude_dose_forms]
    if forms:
        con.executemany("INSERT INTO dose_forms VALUES (?, ?)", forms)
    x(f"""CREATE TEMP TABLE cset AS
        SELECT DISTINCT i.set_name, i.domain, i.root_id, i.concept_id FROM members i
        WHERE i.kind = 'include' AND NOT EXISTS (
          SELECT 1 FROM members e WHERE e.kind = 'exclude' AND e.set_name = i.set_name AND e.concept_id = i.concept_id)
          AND NOT EXISTS (
          SELECT 1 FROM dose_forms f JOIN {src['concept']} n ON n.concept_id = i.concept_id
          WHERE f.set_name = i.set_name AND regexp_matches(n.concept_name, '(?i)\\b' || f.word || '\\b'))""")

    def in_set(col: str, name: str) -> str:
        return f"{col} IN (SELECT concept_id FROM cset WHERE set_name = {_q(name)})"

    # Persons and end of follow-up.
    x(f"""CREATE TEMP TABLE persons AS
        -- an empty year_of_birth is birth_datetime's year, and then an empty month / day its month /
        -- day (the CDM extracts year_of_birth from the date of birth)
        WITH p0 AS (SELECT CAST(person_id AS BIGINT) AS person_id, ANY_VALUE(gender_concept_id) AS g,
                          ANY_VALUE({_whole('year_of_birth', person_types)}) AS y,
                          ANY_VALUE({_whole('month_of_birth', person_types)}) AS m,
                          ANY_VALUE({_whole('day_of_birth', person_types)}) AS d,
                          ANY_VALUE({birth_datetime}) AS bdt
                   FROM {src['person']} GROUP BY 1),
        p AS (SELECT person_id, g, COALESCE(y, year(bdt)) AS y,
                     CASE WHEN y IS NULL THEN COALESCE(m, month(bdt)) ELSE m END AS m,
                     CASE WHEN y IS NULL THEN COALESCE(d, day(bdt)) ELSE d END AS d, bdt FROM p0),
        -- an open period (no end date) runs to the cutoff; a start after the end (swapped
        -- columns) still observed the person on the start: the later of the two
        -- (a period ending before the birth year, e.g. 1900 placeholders, is not used;
        -- a row with neither date is no period, nor one whose first day is after the cutoff:
        -- LEAST skips a missing end; a row without a start has no known first day: kept, a
        -- period ending at its end, the chain's persons.period_after_cutoff_expr)
        op AS (SELECT x.person_id, GREATEST(x.observation_period_start_date,
                                            COALESCE(x.observation_period_end_date, {cutoff})) AS last_day
               FROM {src['observation_period']} x
               WHERE (x.observation_period_start_date IS NOT NULL OR x.observation_period_end_date IS NOT NULL)
                 AND NOT COALESCE(CASE WHEN x.observation_period_start_date IS NOT NULL THEN
                                      LEAST(x.observation_period_start_date, x.observation_period_end_date)
                                  END > {cutoff}, FALSE)),
        o AS (SELECT op.person_id, MAX(op.last_day) AS last_obs
              FROM op JOIN p ON p.person_id = op.person_id
              WHERE year(op.last_day) >= p.y GROUP BY 1),
        -- a death dated before the birth year is no death of this person (a 1900 placeholder)
        dd AS (SELECT x.person_id, MIN(x.death_date) AS death_date FROM {src['death']} x
               JOIN p ON p.person_id = x.person_id WHERE year(x.death_date) >= p.y GROUP BY 1)
        SELECT p.person_id, CAST(p.y AS INTEGER) AS year_of_birth,
          -- year-only births: 1 July whatever birth_datetime holds (a masking placeholder)
          CASE WHEN p.m IS NULL OR p.m NOT BETWEEN 1 AND 12 THEN make_date(p.y, 7, 1)
               -- birth_datetime only within year_of_birth and month_of_birth (the required CDM fields win)
               WHEN year(p.bdt) = p.y AND month(p.bdt) = p.m THEN p.bdt
               WHEN p.d BETWEEN 1 AND day(last_day(make_date(p.y, p.m, 1))) THEN make_date(p.y, p.m, p.d)
               ELSE make_date(p.y, p.m, 1) END AS birth_date,
          LEAST(COALESCE(o.last_obs, {cutoff}), COALESCE(dd.death_date, {cutoff}), {cutoff}) AS end_date,
          o.last_obs IS NOT NULL AS has_period
        FROM p LEFT JOIN o USING (person_id) LEFT JOIN dd USING (person_id)""")

    # Spans of continuous observation (docs/phenotypes.md "Time at risk"): the usable periods, each
    # from its earlier date (no start: 1 January of the birth year) to its last day, merged where one
    # starts on or before the day after the latest earlier end (gaps-and-islands), or after at most
    # phenotypes.observation_period_gap_days days without observation (the persistence window).
    gap_days = int(ph.observation_period_gap_days)
    x(f"""CREATE TEMP TABLE spans AS
        WITH op AS (
          SELECT x.person_id,
                 CASE WHEN x.observation_period_start_date IS NULL THEN make_date(p.year_of_birth, 1, 1)
                      ELSE LEAST(x.observation_period_start_date, x.observation_period_end_date) END AS s,
                 GREATEST(x.observation_period_start_date, COALESCE(x.observation_period_end_date, {cutoff})) AS e
          FROM {src['observation_period']} x JOIN persons p ON p.person_id = x.person_id
          WHERE (x.observation_period_start_date IS NOT NULL OR x.observation_period_end_date IS NOT NULL)
            AND NOT COALESCE(CASE WHEN x.observation_period_start_date IS NOT NULL THEN
                                 LEAST(x.observation_period_start_date, x.observation_period_end_date) END > {cutoff},
                             FALSE)),
        u AS (SELECT * FROM op JOIN persons p USING (person_id) WHERE year(op.e) >= p.year_of_birth),
        g AS (SELECT person_id, s, e, MAX(e) OVER (PARTITION BY person_id ORDER BY s, e
                                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_e FROM u),
        h AS (SELECT *, SUM(CASE WHEN prev_e IS NULL OR date_diff('day', prev_e, s) - 1 > {gap_days} THEN 1 ELSE 0 END)
                          OVER (PARTITION BY person_id ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS span FROM g)
        SELECT person_id, MIN(s) AS span_start, MAX(e) AS span_end FROM h GROUP BY person_id, span""")

    # Controls are clean over the whole record: study condition codes at any date (or none).
    x(f"""CREATE TEMP TABLE cond_ever AS
        SELECT e.person_id, e.condition_concept_id AS concept_id FROM {src['condition_occurrence']} e
        WHERE e.condition_concept_id IN (SELECT concept_id FROM cset WHERE domain = 'condition')""")

    def restricted(table: str, date_col: str, concept_col: str, domain: str, extra: str = "") -> str:
        return f"""SELECT e.person_id, e.{concept_col} AS concept_id, e.{date_col} AS event_date{', ' + extra if extra else ''}
            FROM {src[table]} e JOIN persons p ON p.person_id = e.person_id
            WHERE e.{concept_col} IN (SELECT concept_id FROM cset WHERE domain = '{domain}')
              AND e.{date_col} >= make_date(p.year_of_birth, 1, 1) AND e.{date_col} <= p.end_date"""

    # A preliminary diagnosis (OMOP Condition Status "Preliminary diagnosis": rule-out / possible
    # codes) or a "history of" record (a past disorder noted) is no MDD diagnosis; it still counts
    # for the exclusions and the control rule.
    cond_cols = [r[0].lower() for r in x(f"DESCRIBE SELECT * FROM {src['condition_occurrence']}").fetchall()]
    preliminary = ("COALESCE(e.condition_status_concept_id IN ("
                   + ", ".join(str(i) for i in NOT_A_DIAGNOSIS_STATUS_IDS)
                   + "), FALSE)"
                   if "condition_status_concept_id" in cond_cols else "FALSE")
    x(f"CREATE TEMP TABLE cond AS {restricted('condition_occurrence', 'condition_start_date', 'condition_concept_id', 'condition', extra=preliminary + ' AS preliminary')}")
    x(f"CREATE TEMP TABLE proc AS {restricted('procedure_occurrence', 'procedure_date', 'procedure_concept_id', 'procedure')}")
    # device_exposure is optional: absent -> no device events.
    if _exists(omop_dir, "device_exposure"):
        src["device_exposure"] = _dated(con, _source(omop_dir, "device_exposure"), "device_exposure", cfg.omop.time_zone)
        x(f"CREATE TEMP TABLE dev AS {restricted('device_exposure', 'device_exposure_start_date', 'device_concept_id', 'device')}")
    else:
        x("CREATE TEMP TABLE dev (person_id BIGINT, concept_id BIGINT, event_date DATE)")
    # observation: the records of the sets of that domain (HCPCS G2082/G2083 where the release gives
    # them the Observation domain); absent -> none
    if _exists(omop_dir, "observation"):
        src["observation"] = _dated(con, _source(omop_dir, "observation"), "observation", cfg.omop.time_zone)
        x(f"CREATE TEMP TABLE obs AS {restricted('observation', 'observation_date', 'observation_concept_id', 'observation')}")
    else:
        x("CREATE TEMP TABLE obs (person_id BIGINT, concept_id BIGINT, event_date DATE)")
    drug_cols = [r[0] for r in x(f"DESCRIBE SELECT * FROM {src['drug_exposure']}").fetchall()]
    x(f"""CREATE TEMP TABLE drugs_ever AS
        SELECT DISTINCT person_id, drug_concept_id AS concept_id FROM {src['drug_exposure']}
        WHERE drug_concept_id IN (SELECT concept_id FROM members WHERE domain = 'drug' AND kind = 'include')""")

    def drug_col(name: str, on: bool, sql_type: str) -> str:
        return f"e.{name}" if on and name in drug_cols else f"CAST(NULL AS {sql_type})"

    # A dose given (drug_type_concept_id of an administration) without an end or days_supply is its own day.
    administration = ", ".join(str(i) for i in sorted(ADMINISTRATION_DRUG_TYPE_IDS))
    # A mail-order prescription without an end or days_supply: mail_order_days_supply days (OHDSI Themis: start + 89).
    mail_order = ", ".join(str(i) for i in sorted(MAIL_ORDER_DRUG_TYPE_IDS))

    x(f"""CREATE TEMP TABLE drugs AS
        SELECT e.person_id, e.drug_concept_id AS concept_id, e.drug_exposure_start_date AS start_date,
               e.drug_exposure_end_date AS end_date, e.days_supply,
               {drug_col('verbatim_end_date', tr.use_verbatim_end_date, 'DATE')} AS verbatim_end,
               {drug_col('refills', tr.use_refills, 'INTEGER')} AS refills,
               CAST({drug_col('quantity', True, 'DOUBLE')} AS DOUBLE) AS quantity,
               COALESCE(CAST({drug_col('drug_type_concept_id', True, 'BIGINT')} AS BIGINT) IN ({administration}), FALSE)
                 AS administration,
               COALESCE(CAST({drug_col('drug_type_concept_id', True, 'BIGINT')} AS BIGINT) IN ({mail_order}), FALSE)
                 AS mail_order
        FROM {src['drug_exposure']} e JOIN persons p ON p.person_id = e.person_id
        WHERE e.drug_concept_id IN (SELECT concept_id FROM members WHERE domain = 'drug' AND kind = 'include')
          AND e.drug_exposure_start_date >= make_date(p.year_of_birth, 1, 1)
          AND e.drug_exposure_start_date <= p.end_date""")
    # Claim reversals (docs/phenotypes.md "When an exposure ends"): a record with a negative days_supply or
    # quantity is no exposure, and cancels ONE claim it may reverse (_reversed_claims): n claims and m reversals
    # of one claim leave n - m; the claim rows cancelled are no exposure either.
    _reversed_claims(con, src["drug_exposure"], drug_cols, tr.use_verbatim_end_date, tr.use_refills)
    x("""DELETE FROM drugs WHERE rowid IN (
           SELECT d.rowid FROM (
             SELECT rowid, person_id, concept_id, start_date, days_supply, quantity, end_date, verbatim_end, refills,
                    administration, mail_order,
                    row_number() OVER (PARTITION BY person_id, concept_id, start_date, days_supply, quantity, end_date,
                                                    verbatim_end, refills, administration, mail_order) AS rn
             FROM drugs) d
           JOIN reversed_claims c ON c.person_id = d.person_id AND c.concept_id = d.concept_id
             AND c.start_date = d.start_date AND c.ds IS NOT DISTINCT FROM d.days_supply
             AND c.q IS NOT DISTINCT FROM d.quantity AND c.end_date IS NOT DISTINCT FROM d.end_date
             AND c.verbatim_end IS NOT DISTINCT FROM d.verbatim_end AND c.refills IS NOT DISTINCT FROM d.refills
             AND c.administration = d.administration AND c.mail_order = d.mail_order
           WHERE d.rn <= c.n)""")

    # MDD group per person.
    excl = list(mdd_cfg.exclude_concept_sets)
    excl_flags = ", ".join(f"MAX(CASE WHEN {in_set('concept_id', n)} THEN 1 ELSE 0 END) AS x{i}" for i, n in enumerate(excl))
    mdd_in = in_set("concept_id", mdd_cfg.concept_set)
    dep_in = in_set("concept_id", mdd_cfg.control_exclusion_concept_set)
    # MDD count and index within follow-up; depression and exclusion codes over the whole record.
    x(f"""CREATE TEMP TABLE dx AS
        WITH fu AS (
          SELECT person_id, COUNT(DISTINCT CASE WHEN {mdd_in} AND NOT preliminary THEN event_date END) AS n_mdd_dates,
                 MIN(CASE WHEN {mdd_in} AND NOT preliminary THEN event_date END) AS first_mdd
          FROM cond GROUP BY person_id),
        ever AS (
          SELECT person_id, MAX(CASE WHEN {mdd_in} OR {dep_in} THEN 1 ELSE 0 END) AS dep
                 {', ' + excl_flags if excl else ''}
          FROM cond_ever GROUP BY person_id)
        SELECT * FROM ever FULL JOIN fu USING (person_id)""")
    ad = tr.concept_set
    x(f"""CREATE TEMP TABLE ingredients AS
        SELECT DISTINCT concept_id AS drug_concept_id, root_id AS ingredient_concept_id FROM cset WHERE set_name = {_q(ad)}""")
    meets = f"COALESCE(dx.n_mdd_dates, 0) >= {mdd_cfg.min_diagnoses}"
    # completed years by calendar arithmetic (a 29 February birthday counts from 1 March)
    under = (f"year(dx.first_mdd) - year(p.birth_date) - CASE WHEN month(dx.first_mdd) * 100 + day(dx.first_mdd) "
             f"< month(p.birth_date) * 100 + day(p.birth_date) THEN 1 ELSE 0 END < {mdd_cfg.min_age_at_index}")
    implausible = _implausible_birth("p")  # excludes first, MDD or not
    cases = [f"WHEN {implausible} THEN 'implausible_year_of_birth'"]
    cases += [f"WHEN {meets} AND dx.x{i} = 1 THEN {_q(n)}" for i, n in enumerate(excl)]
    cases += [f"WHEN {meets} AND {under} THEN 'under_18_at_index'", f"WHEN {meets} THEN NULL",
              "WHEN dx.dep = 1 OR dx.n_mdd_dates > 0 THEN 'depression_not_mdd'"]
    cases += [f"WHEN dx.x{i} = 1 THEN {_q(n)}" for i, n in enumerate(excl)]
    cases += ["WHEN ad.person_id IS NOT NULL THEN 'antidepressant_no_mdd'"]
    # Evidence of EHR data (omop.ehr_evidence): without it, no control (the last reason).
    ehr_join = ""
    if cfg.omop.ehr_evidence != "none":
        if cfg.omop.ehr_evidence == "any_record":  # a row of any concept in a clinical table, dated on or
            # before the cutoff or undated (a row after it is outside the release: no evidence)
            ehr_sql = " UNION ".join(f"SELECT CAST(person_id AS BIGINT) AS person_id FROM {src[t]} "
                                     f"WHERE COALESCE({d} <= {cutoff}, TRUE)"
                                     for t, d in EHR_RECORD_DATES.items() if t in src)
        elif cfg.omop.ehr_evidence == "observation_period":  # a usable period (the persons table's)
            ehr_sql = "SELECT person_id FROM persons WHERE has_period"
        else:
            f, c = cfg.omop.ehr_person_list, cfg.omop.ehr_person_list_column
            assert f is not None
            reader = "read_parquet" if f.rstrip("/").endswith(".parquet") else "read_csv_auto"
            ehr_sql = f"SELECT CAST({_ident(c)} AS BIGINT) AS person_id FROM {reader}({_q(f)}) WHERE {_ident(c)} IS NOT NULL"
        x(f"CREATE TEMP TABLE ehr AS SELECT DISTINCT person_id FROM ({ehr_sql})")
        ehr_join = "LEFT JOIN ehr ON ehr.person_id = p.person_id"
        cases += ["WHEN ehr.person_id IS NULL THEN 'no_ehr_data'"]
    # the control rule's own drug sets (esketamine) are antidepressants for it too, whatever the definitions
    control_drugs = "".join(f" OR {in_set('concept_id', n)}" for n in mdd_cfg.control_exclusion_drug_concept_sets)
    # and its procedure sets (esketamine given in clinic, HCPCS G2082/G2083): a record at any date
    # read in the table of each of the set's domains (procedure_occurrence, observation)
    tables_of = {"procedure": ("procedure_occurrence", "procedure_concept_id"),
                 "observation": ("observation", "observation_concept_id")}
    control_procedures = "".join(
        f"UNION SELECT e.person_id FROM {src[tables_of[dom][0]]} e WHERE {in_set('e.' + tables_of[dom][1], n)} "
        for n in mdd_cfg.control_exclusion_procedure_concept_sets
        for dom in dict.fromkeys((cfg.concept_sets.concept_sets[n].domain, *cfg.concept_sets.concept_sets[n].also_domains))
        if tables_of[dom][0] in src)
    x(f"""CREATE TEMP TABLE mdd AS
        WITH r AS (
          SELECT p.person_id, p.end_date, CASE WHEN {meets} THEN dx.first_mdd END AS index_date,
                 {meets} AS meets, CASE {' '.join(cases)} END AS reason
          FROM persons p LEFT JOIN dx USING (person_id)
          LEFT JOIN (SELECT DISTINCT person_id FROM drugs_ever
                     WHERE concept_id IN (SELECT drug_concept_id FROM ingredients){control_drugs}
                     {control_procedures}) ad USING (person_id)
          {ehr_join})
        SELECT *, CASE WHEN reason IS NOT NULL THEN 'excluded' WHEN meets THEN 'MDD' ELSE 'non_MDD' END AS mdd_status
        FROM r""")

    # Exposures -> episodes -> trials (per-ingredient switch and minimum length).
    ignored = (f"i.ingredient_concept_id NOT IN ({', '.join(str(i) for i in tr.ignored_ingredient_ids)})"
               if tr.ignored_ingredient_ids else "TRUE")
    min_days = "CASE " + " ".join(f"WHEN e.ing = {i} THEN {n}" for i, n in tr.ingredient_min_trial_days.items()) \
        + f" ELSE {tr.min_trial_days} END" if tr.ingredient_min_trial_days else str(tr.min_trial_days)
    # Minimum daily dose: quantity x drug_strength amount / days_supply, known only when all > 0;
    # a known dose below the ingredient's minimum drops the record, an unknown one keeps it.
    x("CREATE TEMP TABLE min_dose (ing BIGINT, min_dose DOUBLE)")
    if tr.ingredient_min_daily_dose:
        con.executemany("INSERT INTO min_dose VALUES (?, ?)", list(tr.ingredient_min_daily_dose.items()))
    if tr.ingredient_min_daily_dose and _exists(omop_dir, "drug_strength"):
        # mg per unit of quantity (docs/phenotypes.md "Exposures"): an amount in mg (or of no unit column); a
        # liquid's mg per mL numerator (quantity: its volume); a quantified liquid's (a denominator_value
        # of mL) mg per item (trials.quantified_liquid_quantity items, and the larger reading under
        # items_or_ml: the record is dropped only when that dose is below the minimum) or per mL (ml:
        # numerator / denominator); not a product in a box (quantity may count boxes or units) nor any
        # other unit: unknown.
        ds = _source(omop_dir, "drug_strength")
        src["drug_strength"] = ds  # _unreached_drug_records' products' ingredients
        have = {r[0].lower() for r in x(f"DESCRIBE SELECT * FROM {ds}").fetchall()}

        def col(c: str, sql_type: str) -> str:
            return c if c in have else f"CAST(NULL AS {sql_type})"

        num, den = col('numerator_value', 'DOUBLE'), col('denominator_value', 'DOUBLE')
        quantified = {"items": num, "ml": f"{num} / {den}",
                      "items_or_ml": f"GREATEST({num}, {num} / {den})"}[tr.quantified_liquid_quantity]
        x(f"""CREATE TEMP TABLE strength AS
            SELECT drug_concept_id, ingredient_concept_id, MAX(CASE
                WHEN {col('box_size', 'INTEGER')} IS NOT NULL THEN NULL
                WHEN amount_value IS NOT NULL
                  THEN CASE WHEN COALESCE({col('amount_unit_concept_id', 'BIGINT')} = {MILLIGRAM}, TRUE)
                            THEN amount_value END
                WHEN {col('numerator_unit_concept_id', 'BIGINT')} = {MILLIGRAM}
                     AND {col('denominator_unit_concept_id', 'BIGINT')} = {MILLILITER}
                  THEN CASE WHEN {den} IS NULL THEN {num} WHEN {den} > 0 THEN {quantified} END
                END) AS amount
            FROM {ds} GROUP BY 1, 2""")
    else:
        x("CREATE TEMP TABLE strength (drug_concept_id BIGINT, ingredient_concept_id BIGINT, amount DOUBLE)")
    mx = tr.max_days_supply
    x(f"""CREATE TEMP TABLE trials AS
        WITH dosed AS (
          SELECT d.*, i.ingredient_concept_id AS ing, m.min_dose,
                 -- a days_supply above max_days_supply is implausible: no dose from it (unknown)
                 CASE WHEN d.quantity > 0 AND s.amount > 0 AND d.days_supply BETWEEN 1 AND {mx}
                      THEN d.quantity * s.amount / d.days_supply END AS daily_dose
          FROM drugs d JOIN ingredients i ON i.drug_concept_id = d.concept_id
          LEFT JOIN min_dose m ON m.ing = i.ingredient_concept_id
          LEFT JOIN strength s ON s.drug_concept_id = d.concept_id AND s.ingredient_concept_id = i.ingredient_concept_id
          WHERE {ignored}),
        ex AS (
          SELECT person_id, ing, start_date,
                 -- values implying more than max_days_supply days are implausible: not used
                 MAX(CASE WHEN verbatim_end > start_date AND verbatim_end - start_date < {mx} THEN verbatim_end
                          WHEN end_date > start_date AND end_date - start_date < {mx} THEN end_date
                          -- a refill course over max_days_supply: refills not used
                          WHEN days_supply BETWEEN 1 AND {mx} AND refills > 0
                               AND CAST(days_supply AS BIGINT) * (CAST(refills AS BIGINT) + 1) <= {mx}
                            THEN start_date + CAST(CAST(days_supply AS BIGINT) * (CAST(refills AS BIGINT) + 1) - 1 AS INTEGER)
                          WHEN days_supply BETWEEN 1 AND {mx} THEN start_date + CAST(days_supply - 1 AS INTEGER)
                          WHEN administration THEN start_date
                          WHEN mail_order THEN start_date + {tr.mail_order_days_supply - 1}
                          ELSE start_date + {tr.default_days_supply - 1} END) AS end_date
          FROM dosed
          WHERE NOT (min_dose IS NOT NULL AND daily_dose IS NOT NULL AND daily_dose < min_dose)
            AND NOT COALESCE(days_supply < 0 OR quantity < 0, FALSE)  -- negative: no exposure (OHDSI Themis)
          GROUP BY 1, 2, 3),
        flagged AS (
          SELECT *, MAX(end_date) OVER (PARTITION BY person_id, ing ORDER BY start_date, end_date
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
          FROM ex),
        numbered AS (
          SELECT *, SUM(CASE WHEN prev_end IS NULL OR date_diff('day', prev_end, start_date) - 1 > {tr.persistence_gap_days}
                             THEN 1 ELSE 0 END)
                    OVER (PARTITION BY person_id, ing ORDER BY start_date, end_date ROWS UNBOUNDED PRECEDING) AS episode
          FROM flagged),
        episodes AS (
          SELECT person_id, ing, MIN(start_date) AS trial_start, MAX(end_date) AS raw_end
          FROM numbered GROUP BY person_id, ing, episode)
        SELECT e.person_id, e.ing, e.trial_start, LEAST(e.raw_end, m.end_date) AS trial_end,
               date_diff('day', e.trial_start, LEAST(e.raw_end, m.end_date)) + 1 >= {min_days}
                 AND m.index_date IS NOT NULL
                 AND e.trial_start >= m.index_date - {tr.pre_index_window_days} AS adequate
        FROM episodes e JOIN mdd m USING (person_id)""")
    x("""CREATE TEMP TABLE firsts AS
        SELECT person_id, ing, MIN(trial_start) AS first_start,
               ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY MIN(trial_start), ing) AS k
        FROM trials WHERE adequate GROUP BY person_id, ing""")

    onsets = []
    for d in ph.trd_definitions:
        if d.rule == "antidepressant_sequence" and (d.last_trial_adequate or d.n_trials == 1):
            sql = f"SELECT person_id, first_start AS onset FROM firsts WHERE k = {d.n_trials}"
        elif d.rule == "antidepressant_sequence":
            # n-1 adequate trials, then the first start of any trial of another ingredient
            sql = f"""SELECT t.person_id, MIN(t.trial_start) AS onset
                FROM trials t JOIN firsts f ON f.person_id = t.person_id AND f.k = {d.n_trials - 1}
                WHERE t.trial_start >= f.first_start
                  AND t.ing NOT IN (SELECT p.ing FROM firsts p WHERE p.person_id = t.person_id AND p.k < {d.n_trials})
                GROUP BY t.person_id"""
        elif d.rule == "augmentation":
            # an agent's record whose known daily dose is below its minimum is no exposure: kept when
            # some ingredient of the set it reaches has no minimum, an unknown dose or one at/above it
            sql = f"""SELECT g.person_id, MIN(g.start_date) AS onset
                FROM drugs g JOIN firsts f ON f.person_id = g.person_id AND f.k = {d.n_trials}
                WHERE {in_set('g.concept_id', d.augmentation_concept_set)} AND g.start_date >= f.first_start
                  AND NOT COALESCE(g.days_supply < 0 OR g.quantity < 0, FALSE)  -- negative: no augmentation
                  AND EXISTS (
                    SELECT 1 FROM cset c LEFT JOIN min_dose m ON m.ing = c.root_id
                    LEFT JOIN strength s ON s.drug_concept_id = c.concept_id AND s.ingredient_concept_id = c.root_id
                    WHERE c.set_name = {_q(d.augmentation_concept_set)} AND c.concept_id = g.concept_id
                      AND NOT COALESCE(g.quantity > 0 AND s.amount > 0
                                       AND g.days_supply BETWEEN 1 AND {tr.max_days_supply}
                                       AND g.quantity * s.amount / g.days_supply < m.min_dose, FALSE))
                GROUP BY g.person_id"""
        else:
            parts = []
            for name in d.somatic_concept_sets:
                cs = cfg.concept_sets.concept_sets[name]
                if cs.domain in ("procedure", "device", "observation"):
                    for dom in dict.fromkeys((cs.domain, *cs.also_domains)):
                        table = {"procedure": "proc", "device": "dev", "observation": "obs"}[dom]
                        parts.append(f"SELECT person_id, event_date FROM {table} WHERE {in_set('concept_id', name)}")
                else:
                    # a negative days_supply is no exposure here either (no esketamine event)
                    parts.append(f"SELECT person_id, start_date AS event_date FROM drugs WHERE {in_set('concept_id', name)}"
                                 " AND NOT COALESCE(days_supply < 0 OR quantity < 0, FALSE)")
            sql = f"""SELECT s.person_id, MIN(s.event_date) AS onset
                FROM ({' UNION ALL '.join(parts)}) s JOIN mdd m ON m.person_id = s.person_id
                WHERE m.index_date IS NOT NULL AND s.event_date >= m.index_date GROUP BY s.person_id"""
        onsets.append(f"""SELECT m.person_id, {_q(d.name)} AS definition, o.onset FROM mdd m
            LEFT JOIN ({sql}) o USING (person_id)""")

    return f"""
        WITH o AS ({' UNION ALL '.join(onsets)}),
        n AS (SELECT person_id, COUNT(DISTINCT ing) AS n FROM trials WHERE adequate GROUP BY person_id),
        -- the Cox time at risk ends with the first observation span ending on/after the index
        -- (phenotypes.cox_time_at_risk: index_period), else (followup, or no span) with follow-up
        ip AS (SELECT m.person_id, MIN(s.span_end) AS period_end FROM mdd m
               JOIN spans s ON s.person_id = m.person_id AND s.span_end >= m.index_date
               WHERE {'TRUE' if ph.cox_time_at_risk == 'index_period' else 'FALSE'} GROUP BY 1),
        j AS (
          SELECT o.person_id, o.definition, m.mdd_status, m.reason, m.index_date, m.end_date,
                 COALESCE(n.n, 0) AS n_trials,
                 m.mdd_status = 'MDD' AND o.onset IS NOT NULL AND o.onset <= m.end_date AS trd,
                 CASE WHEN m.mdd_status = 'MDD' AND o.onset <= m.end_date THEN o.onset END AS onset,
                 LEAST(m.end_date, COALESCE(ip.period_end, m.end_date)) AS risk_end
          FROM o JOIN mdd m USING (person_id) LEFT JOIN n USING (person_id) LEFT JOIN ip USING (person_id))
        SELECT person_id, definition,
          CASE WHEN mdd_status <> 'MDD' THEN mdd_status WHEN trd THEN 'TRD'
               WHEN n_trials >= 1 AND date_diff('day', index_date, end_date) >= {ph.trmdd_min_followup_days} THEN 'trMDD'
               ELSE 'MDD_other' END AS status,
          CASE WHEN mdd_status <> 'MDD' THEN reason WHEN trd THEN NULL
               WHEN n_trials >= 1 AND date_diff('day', index_date, end_date) >= {ph.trmdd_min_followup_days} THEN NULL
               WHEN n_trials = 0 THEN 'no_adequate_trial' ELSE 'short_followup' END AS exclusion_reason,
          CASE WHEN mdd_status = 'MDD' THEN index_date END AS mdd_index_date,
          onset AS trd_onset_date,
          end_date AS followup_end_date,
          CASE WHEN mdd_status = 'MDD' THEN GREATEST(date_diff('day', index_date,
                 CASE WHEN trd AND onset <= risk_end THEN onset ELSE risk_end END), 1) END AS time_to_trd_days,
          CASE WHEN mdd_status = 'MDD' THEN CAST(trd AND onset <= risk_end AS INTEGER) END AS trd_event,
          CASE WHEN mdd_status = 'MDD' THEN n_trials END AS n_adequate_trials
        FROM j""", src


# (OMOP table, concept column, date column) of each domain's events, as the README's Concepts
# section names them.
EVENT_TABLES = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
    "device": ("device_exposure", "device_concept_id", "device_exposure_start_date"),
    "observation": ("observation", "observation_concept_id", "observation_date"),
}


def _reversed_claims(con: duckdb.DuckDBPyConnection, drug_source: str, drug_cols: list[str], use_verbatim: bool,
                     use_refills: bool) -> None:
    """CREATE TEMP TABLE reversed_claims (person_id, concept_id, start_date, ds, q, end_date, verbatim_end, refills,
    n): the claim rows claim reversals cancel among the study drug records of ``drug_source`` (every date;
    docs/phenotypes.md "When an exposure ends"), n rows of each such row's values (verbatim_end / refills null
    when the rule does not read them, as in ``drugs``; the claims are ranked by them all the same, as the chain
    ranks them), and reversal_totals (n_cancelled, n_unmatched).

    Written as a plain loop over the few persons and products with a reversal: the reversals in date order (on
    a day, those with days_supply and quantity first, then with days_supply, then without), each cancelling one
    claim not yet cancelled that it may reverse: one of its quantity first (both known and equal), then the latest
    (then: the greatest quantity, days_supply, end date, verbatim end, refills, drug_type_concept_id).

    A reversal whose drug_concept_id is in no study set (0, non-standard, another product's) is read by its code
    (its drug_source_concept_id, else its drug_concept_id; neither set: not read) as a reversal of the product of
    the study claims of its person whose drug_source_concept_id or drug_concept_id is that code (several: the
    concept of the latest such claim on or before the reversal's day, of one day the greatest; none before it: the
    latest); counted in reversal_totals.n_by_source. A drug_exposure_id on two rows of a person and product with a
    reversal (the CDM's primary key) is a ValueError."""
    cols = [c.lower() for c in drug_cols]

    def col(name: str, sql_type: str, on: bool = True) -> str:
        return f"CAST({name} AS {sql_type})" if on and name in cols else f"CAST(NULL AS {sql_type})"

    # Scans whose filters DuckDB pushes into the Parquet reader (the study concepts; a negative supply; a negative
    # quantity), then only the rows of persons with a reversal (IS NOT DISTINCT FROM: an empty person_id too, as the
    # loop below groups it): every match below is within one person. One scan computing a study flag for every row,
    # all study claims fetched into Python, made the twin ~3x the CPU at 300k persons (benchmarks/RESULTS.md,
    # session 57 xreview).
    rx = f"""SELECT CAST(person_id AS BIGINT) AS person_id, CAST(drug_concept_id AS BIGINT) AS concept_id,
                 drug_exposure_start_date AS start_date, CAST(days_supply AS BIGINT) AS ds, {col('quantity', 'DOUBLE')} AS q,
                 drug_exposure_end_date AS end_date, {col('verbatim_end_date', 'DATE')} AS verbatim_end,
                 {col('refills', 'BIGINT')} AS refills,
                 {col('drug_type_concept_id', 'BIGINT')} AS drug_type,
                 {col('drug_source_concept_id', 'BIGINT')} AS source, {col('drug_exposure_id', 'BIGINT')} AS id
          FROM {drug_source}"""
    study = "SELECT concept_id FROM members WHERE domain = 'drug' AND kind = 'include'"
    # a reversal outside the study sets that has a code (below); ds < 0 and q < 0 in two scans: DuckDB pushes
    # neither half of an OR into the Parquet reader
    foreign = (f"COALESCE(NULLIF(source, 0), NULLIF(concept_id, 0)) IS NOT NULL "
               f"AND NOT COALESCE(concept_id IN ({study}), FALSE)")
    rows = con.execute(f"""
        WITH kept AS MATERIALIZED (
          SELECT *, TRUE AS study, COALESCE(ds < 0 OR q < 0, FALSE) AS rev FROM ({rx}) WHERE concept_id IN ({study})
          UNION ALL
          SELECT *, FALSE AS study, TRUE AS rev FROM ({rx}) WHERE ds < 0 AND {foreign}
          UNION ALL
          SELECT *, FALSE AS study, TRUE AS rev FROM ({rx}) WHERE q < 0 AND COALESCE(ds >= 0, TRUE) AND {foreign}),
        who AS (SELECT DISTINCT person_id FROM kept WHERE rev)
        SELECT kept.* EXCLUDE (rev) FROM kept SEMI JOIN who ON kept.person_id IS NOT DISTINCT FROM who.person_id
        """).fetchall()
    study_rows = [r[:11] for r in rows if r[11]]
    # the claims' codes (person, code) -> [(start, concept)]: a claim names its source concept and its concept
    codes: dict[tuple, list] = {}
    for r in study_rows:
        if not ((r[3] is not None and r[3] < 0) or (r[4] is not None and r[4] < 0)):
            for code in {r[9] if r[9] else None, r[1]} - {None}:
                codes.setdefault((r[0], code), []).append((r[2], r[1]))
    by_source = []
    for r in rows:
        if r[11]:
            continue
        code = r[9] if r[9] else r[1]
        options = codes.get((r[0], code))
        if options:
            # the latest claim on or before the reversal's day (then the greatest concept); none before: the latest
            best = max(options, key=lambda o, s=r[2]: (s is not None and o[0] <= s, o[0], o[1]))
            by_source.append((r[0], best[1], *r[2:11]))
    n_by_source = len(by_source)
    pairs = {(r[0], r[1]) for r in [*study_rows, *by_source]
             if (r[3] is not None and r[3] < 0) or (r[4] is not None and r[4] < 0)}
    rows = [r for r in [*study_rows, *by_source] if (r[0], r[1]) in pairs]
    ids = [r[10] for r in rows if r[10] is not None]
    if len(ids) != len(set(ids)):
        raise ValueError("drug_exposure: a drug_exposure_id on more than one record of a person and drug with a "
                         "claim reversal")

    def low(v: object) -> tuple:  # an order where an empty value is below every value
        return (v is not None, v if v is not None else 0)

    by_pair: dict[tuple, list] = {}
    for r in rows:
        by_pair.setdefault((r[0], r[1]), []).append(r)
    cancelled: dict[tuple, int] = {}
    n_cancelled = n_unmatched = 0
    for recs in by_pair.values():
        is_negative = [(r[3] is not None and r[3] < 0) or (r[4] is not None and r[4] < 0) for r in recs]
        negative = [r for r, neg in zip(recs, is_negative, strict=True) if neg]
        claims = [r for r, neg in zip(recs, is_negative, strict=True) if not neg and r[2] is not None]
        reversals = []
        for r in negative:
            ds = abs(r[3]) if r[3] is not None else None
            q = abs(r[4]) if r[4] is not None else None
            kind = 2 if not ds else (1 if q is None else 0)
            reversals.append((r[2], kind, ds, q))
        reversals.sort(key=lambda v: (low(v[0]), v[1], low(v[2]), low(v[3])))
        free = list(range(len(claims)))
        for start, kind, ds, q in reversals:
            def may_reverse(c: tuple, start=start, kind=kind, ds=ds, q=q) -> bool:
                if start is None:
                    return False
                # on its day, or later within its supply or the payers' return-to-stock window (21 calendar days:
                # 15 business days at the longest, PAAS National's list of PBM windows; docs/phenotypes.md)
                days = (start - c[2]).days
                in_reach = c[2] == start or (c[2] < start and ((c[3] is not None and days < c[3]) or days <= 21))
                if kind == 2:
                    return in_reach and q is not None and c[4] == q
                return in_reach and c[3] == ds and (q is None or c[4] is None or c[4] == q)
            options = [i for i in free if may_reverse(claims[i])]
            if not options:
                n_unmatched += 1
                continue
            best = max(options, key=lambda i: (q is not None and claims[i][4] == q, claims[i][2], low(claims[i][4]),
                                               low(claims[i][3]), low(claims[i][5]), low(claims[i][6]), low(claims[i][7]),
                                               low(claims[i][8])))
            free.remove(best)
            c = claims[best]
            # drugs reads drug_type_concept_id as its administration and mail-order flags: the cancelled row is one
            # of the chosen claim's flags (a mail-order fill and a retail one are not equivalent; session 55 xreview)
            key = (*c[:6], c[6] if use_verbatim else None, c[7] if use_refills else None,
                   c[8] in ADMINISTRATION_DRUG_TYPE_IDS, c[8] in MAIL_ORDER_DRUG_TYPE_IDS)
            cancelled[key] = cancelled.get(key, 0) + 1
            n_cancelled += 1
    con.execute("""CREATE TEMP TABLE reversed_claims (person_id BIGINT, concept_id BIGINT, start_date DATE, ds BIGINT,
                   q DOUBLE, end_date DATE, verbatim_end DATE, refills BIGINT, administration BOOLEAN,
                   mail_order BOOLEAN, n BIGINT)""")
    if cancelled:
        con.executemany("INSERT INTO reversed_claims VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [(*k, n) for k, n in cancelled.items()])
    con.execute(f"CREATE TEMP TABLE reversal_totals AS SELECT {n_cancelled} AS n_cancelled, {n_unmatched} AS n_unmatched, "
                f"{n_by_source} AS n_by_source")


def _study_set_names(cfg: Config) -> list[str]:
    """The concept sets some rule of ``cfg`` reads (MDD, its exclusions and control rule,
    antidepressants, each definition's augmentation and somatic sets)."""
    ph = cfg.phenotypes
    names = [ph.mdd.concept_set, ph.mdd.control_exclusion_concept_set, *ph.mdd.exclude_concept_sets,
             *ph.mdd.control_exclusion_drug_concept_sets, *ph.mdd.control_exclusion_procedure_concept_sets,
             ph.trials.concept_set]
    for d in ph.trd_definitions:
        names += [d.augmentation_concept_set] if d.augmentation_concept_set else []
        names += list(d.somatic_concept_sets)
    return sorted(set(names))


def duckdb_drop_counts(omop_dir: str, cfg: Config, *, threads: int | None = None) -> dict[str, dict[str, int]]:
    """The records and death rows the rules do not use, and why, counted by DuckDB SQL from the
    same OMOP directory and config: the Spark stage's drop counts (``phenotypes.stage.
    stage_counts``: ``study_event_dates`` per domain, the death counts of ``birth_and_death``)
    computed independently, so that a count regression in Spark shows as a difference.

    ``{domain: {n_records, n_unknown_person, n_missing_date, n_before_birth_year,
    n_after_followup_end, n_after_death, n_after_cutoff, n_after_observation_end, n_kept,
    n_dated_after_cutoff}}`` over the records of each domain in any concept set a rule reads
    (a set's excludes not removed), every date; ``{"deaths": {n_persons_death_before_birth_year,
    n_persons_several_death_dates, n_persons_death_undated, n_persons_death_not_in_person_table,
    n_persons_period_not_in_person_table, n_persons_death_after_cutoff, n_persons_period_after_cutoff}}`` (the
    last two: the earliest usable death after the data cutoff, not read; an observation period whose first
    day is after the cutoff, no period); ``{"persons": {n_persons_birth_year_implausible}}`` (the
    persons the implausible-year-of-birth exclusion takes, ``_implausible_birth``: the stage counts
    them in notes.quirks.persons and in the cohort flow); ``{"ehr_evidence":
    {n_persons_ehr_rows_after_cutoff_only}}`` (persons whose every row in the EHR tables is dated after
    the cutoff: the stage's notes.ehr_evidence under any_record, whatever the rule here);
    and ``{"drug_records": {n_end_before_start, n_negative_days_supply, n_negative_quantity, n_zero_days_supply,
    n_refill_course_over_max, n_negative_refills, n_administration_one_day, n_mail_order_default,
    n_verbatim_end_not_after_start}}`` over the same drug records (``stage.drug_record_quirk_columns``);
    ``{"reversed_claims": {n_reversed_claims, n_unmatched_reversals}}``: those records claim reversals cancel (one
    each) and the reversals that cancel none (``_reversed_claims``; the stage's notes.quirks.reversed_claims).
    ``{"observation_condition_records": {n_condition_concept_in_observation,
    n_persons_condition_concept_in_observation}}``: the observation records whose observation_concept_id
    is a concept of a condition set a rule reads (not read; 0 when no set reads the table), and their
    distinct persons. ``{"dose_form_excluded": {n_records_<set>, n_persons_<set>}}`` per drug set with
    ``exclude_dose_forms`` (absent without one): its records of every date whose concept its includes
    reach and whose name holds one of its dose-form words (left out: skin products), and their persons.
    ``{"unknown_concept_records": {n_<table>_unknown_concept}}``: per event table but observation, its records
    whose standard concept_id (not 0) no concept row has (``_unknown_concept_records``; the stage's
    notes.quirks.unknown_concept_records). ``{"unreached_drug_records": {n_drug_exposure_unreached[,
    n_drug_exposure_unreached_by_name with a drug_strength]}}`` (``_unreached_drug_records``) and
    ``{"condition_block_records": {n_condition_occurrence_cut_block}}``: condition records of a concept whose
    membership of a study condition set a concept_ancestor cut in part changed (``_cut_block_records``).
    A record's window is [1 January of the birth year, end of follow-up]; one after the end is
    after death (the earliest death dated in or after the birth year), else after the data
    cutoff, else after the last observation period."""
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    try:
        _, src = _run(con, omop_dir, cfg)
        return _drop_counts(con, src, cfg)
    finally:
        con.close()


def _drop_counts(con: duckdb.DuckDBPyConnection, src: dict[str, str], cfg: Config) -> dict[str, dict[str, int]]:
    """``duckdb_drop_counts``' counts on ``con`` after ``_run`` (its temp tables; ``src``: its sources)."""
    x = con.execute
    cutoff = f"DATE '{cfg.omop.data_cutoff_date.isoformat()}'"
    sets = ", ".join(_q(n) for n in _study_set_names(cfg))
    x(f"""CREATE TEMP TABLE first_death AS
        SELECT d.person_id, MIN(d.death_date) AS death FROM {src['death']} d JOIN persons p USING (person_id)
        WHERE d.death_date >= make_date(p.year_of_birth, 1, 1) GROUP BY 1""")
    out: dict[str, dict[str, int]] = {}
    for domain, (table, concept_col, date_col) in EVENT_TABLES.items():
        if table not in src:  # an optional table (device_exposure) absent: no records
            out[domain] = {}
            continue
        row = x(f"""
            WITH ev AS (
              SELECT e.person_id, e.{date_col} AS d FROM {src[table]} e
              WHERE e.{concept_col} IN (SELECT concept_id FROM members
                                        WHERE kind = 'include' AND domain = {_q(domain)} AND set_name IN ({sets}))),
            w AS (
              SELECT ev.d, p.person_id IS NOT NULL AS known, make_date(p.year_of_birth, 1, 1) AS birth,
                     p.end_date, f.death, ev.d > p.end_date AS after_end
              FROM ev LEFT JOIN persons p USING (person_id) LEFT JOIN first_death f USING (person_id))
            SELECT COUNT(*),
              COUNT(*) FILTER (NOT known),
              COUNT(*) FILTER (known AND d IS NULL),
              COUNT(*) FILTER (known AND d < birth),
              COUNT(*) FILTER (known AND after_end),
              COUNT(*) FILTER (known AND after_end AND d > death),
              COUNT(*) FILTER (known AND after_end AND NOT COALESCE(d > death, FALSE) AND d > {cutoff}),
              COUNT(*) FILTER (known AND after_end AND NOT COALESCE(d > death, FALSE) AND d <= {cutoff}),
              COUNT(*) FILTER (known AND d >= birth AND d <= end_date),
              COUNT(*) FILTER (known AND d > {cutoff})
            FROM w""").fetchone()
        keys = ("n_records", "n_unknown_person", "n_missing_date", "n_before_birth_year", "n_after_followup_end",
                "n_after_death", "n_after_cutoff", "n_after_observation_end", "n_kept", "n_dated_after_cutoff")
        out[domain] = dict(zip(keys, map(int, row)))
    row = x(f"""
        WITH d AS (SELECT x.person_id, x.death_date, make_date(p.year_of_birth, 1, 1) AS birth
                   FROM {src['death']} x JOIN persons p USING (person_id)),
        per AS (SELECT person_id, MAX(CASE WHEN death_date < birth THEN 1 ELSE 0 END) AS before,
                       COUNT(DISTINCT CASE WHEN death_date >= birth THEN death_date END) AS dates,
                       MAX(CASE WHEN death_date IS NULL THEN 1 ELSE 0 END) AS undated
                FROM d GROUP BY 1)
        SELECT (SELECT COUNT(*) FROM per WHERE before = 1), (SELECT COUNT(*) FROM per WHERE dates > 1),
               (SELECT COUNT(*) FROM per WHERE undated = 1),
               (SELECT COUNT(DISTINCT person_id) FROM {src['death']}
                WHERE person_id NOT IN (SELECT person_id FROM persons)),
               (SELECT COUNT(DISTINCT person_id) FROM {src['observation_period']}
                WHERE person_id NOT IN (SELECT person_id FROM persons)),
               -- the earliest usable death after the cutoff: follow-up ends at the cutoff (not read)
               (SELECT COUNT(*) FROM first_death WHERE death > {cutoff}),
               -- a period whose first day is after the cutoff: no period (not read)
               (SELECT COUNT(DISTINCT person_id) FROM {src['observation_period']} x JOIN persons USING (person_id)
                WHERE x.observation_period_start_date IS NOT NULL
                  AND LEAST(x.observation_period_start_date, x.observation_period_end_date) > {cutoff})
               """).fetchone()
    # persons whose every row in the EHR tables is dated after the cutoff: no evidence of EHR data
    # under any_record (the chain's notes.ehr_evidence.n_persons_ehr_rows_after_cutoff_only)
    rows = " UNION ALL ".join(f"SELECT CAST(person_id AS BIGINT) AS person_id, {d} AS d FROM {src[t]}"
                              for t, d in EHR_RECORD_DATES.items() if t in src)
    out["ehr_evidence"] = {"n_persons_ehr_rows_after_cutoff_only": int(x(f"""
        SELECT COUNT(*) FROM (SELECT person_id FROM ({rows}) GROUP BY 1
                              HAVING BOOL_AND(COALESCE(d > {cutoff}, FALSE)))
        WHERE person_id IN (SELECT person_id FROM persons)""").fetchone()[0])}
    out["deaths"] = dict(zip(("n_persons_death_before_birth_year", "n_persons_several_death_dates",
                              "n_persons_death_undated", "n_persons_death_not_in_person_table",
                              "n_persons_period_not_in_person_table", "n_persons_death_after_cutoff",
                              "n_persons_period_after_cutoff"),
                             map(int, row)))
    # observation records whose observation_concept_id is a concept of a condition set the rules read
    # (a diagnosis the ETL wrote outside condition_occurrence): not read, counted where the table
    # is read (a set of the observation domain, or with it in also_domains), field case round 33
    reads_observation = any("observation" in (cs.domain, *cs.also_domains) for n in _study_set_names(cfg)
                            for cs in [cfg.concept_sets.concept_sets[n]])
    # ... and their persons (session 42)
    n_misplaced, n_persons = x(f"""SELECT COUNT(*), COUNT(DISTINCT person_id) FROM {src['observation']}
        WHERE observation_concept_id IN (SELECT concept_id FROM members WHERE kind = 'include'
          AND domain = 'condition' AND set_name IN ({sets}))""").fetchone() \
        if reads_observation and "observation" in src else (0, 0)
    out["observation_condition_records"] = {"n_condition_concept_in_observation": int(n_misplaced),
                                            "n_persons_condition_concept_in_observation": int(n_persons)}
    # per drug set with exclude_dose_forms: its records (every date) of a concept its includes reach
    # (code excludes ignored) whose name holds a dose-form word, and their persons (field case round 43)
    formed: dict[str, int] = {}
    for name in _study_set_names(cfg):
        if cfg.concept_sets.concept_sets[name].exclude_dose_forms:
            n, n_persons = x(f"""SELECT COUNT(*), COUNT(DISTINCT person_id) FROM {src['drug_exposure']}
                WHERE drug_concept_id IN (
                  SELECT i.concept_id FROM members i JOIN {src['concept']} n ON n.concept_id = i.concept_id
                  JOIN dose_forms f ON f.set_name = i.set_name
                  WHERE i.kind = 'include' AND i.set_name = {_q(name)}
                    AND regexp_matches(n.concept_name, '(?i)\\b' || f.word || '\\b'))""").fetchone()
            formed.update({f"n_records_{name}": int(n), f"n_persons_{name}": int(n_persons)})
    if formed:
        out["dose_form_excluded"] = formed
    [n_implausible] = x(f"SELECT COUNT(*) FROM persons p WHERE {_implausible_birth('p')}").fetchone()
    out["persons"] = {"n_persons_birth_year_implausible": int(n_implausible)}
    tr = cfg.phenotypes.trials
    refills = "CAST(refills AS BIGINT)" if tr.use_refills else "CAST(NULL AS BIGINT)"  # read only when used
    cols = {r[0].lower() for r in x(f"DESCRIBE SELECT * FROM {src['drug_exposure']}").fetchall()}
    mx, start = tr.max_days_supply, "drug_exposure_start_date"

    def usable_end(c: str) -> str:  # an end the exposure rule takes (after the start, within max_days_supply)
        return f"COALESCE({c} > {start} AND {c} - {start} < {mx}, FALSE)" if c in cols else "FALSE"

    kind = (f"COALESCE(CAST(drug_type_concept_id AS BIGINT) IN "
            f"({', '.join(str(i) for i in sorted(ADMINISTRATION_DRUG_TYPE_IDS))}), FALSE)"
            if "drug_type_concept_id" in cols else "FALSE")
    negative_quantity = "quantity < 0" if "quantity" in cols else "FALSE"
    one_day = (f"{kind} AND {start} IS NOT NULL AND NOT COALESCE(days_supply < 0 OR {negative_quantity}, FALSE) "
               f"AND NOT COALESCE(days_supply BETWEEN 1 AND {mx}, FALSE) AND NOT {usable_end('drug_exposure_end_date')}"
               + (f" AND NOT {usable_end('verbatim_end_date')}" if tr.use_verbatim_end_date else ""))
    # a mail-order prescription (not an administration) without a usable end or days_supply: its own length
    mail = (f"COALESCE(CAST(drug_type_concept_id AS BIGINT) IN "
            f"({', '.join(str(i) for i in sorted(MAIL_ORDER_DRUG_TYPE_IDS))}), FALSE)"
            if "drug_type_concept_id" in cols else "FALSE")
    mail_default = (f"{mail} AND NOT {kind} AND {start} IS NOT NULL "
                    f"AND NOT COALESCE(days_supply < 0 OR {negative_quantity}, FALSE) "
                    f"AND NOT COALESCE(days_supply BETWEEN 1 AND {mx}, FALSE) "
                    f"AND NOT {usable_end('drug_exposure_end_date')}"
                    + (f" AND NOT {usable_end('verbatim_end_date')}" if tr.use_verbatim_end_date else ""))
    # a verbatim end the exposure rule cannot take (not after the start), counted when the rule reads it
    verbatim_before = (f"verbatim_end_date <= {start}" if tr.use_verbatim_end_date and "verbatim_end_date" in cols
                       else "FALSE")
    row = x(f"""
        SELECT COUNT(*) FILTER (drug_exposure_end_date < drug_exposure_start_date),
               COUNT(*) FILTER (days_supply < 0), COUNT(*) FILTER ({negative_quantity}),
               COUNT(*) FILTER (days_supply = 0),
               COUNT(*) FILTER (days_supply BETWEEN 1 AND {tr.max_days_supply} AND {refills} > 0
                                AND CAST(days_supply AS BIGINT) * ({refills} + 1) > {tr.max_days_supply}),
               COUNT(*) FILTER ({refills} < 0),
               COUNT(*) FILTER ({one_day}),
               COUNT(*) FILTER ({mail_default}),
               COUNT(*) FILTER ({verbatim_before})
        FROM {src['drug_exposure']}
        WHERE drug_concept_id IN (SELECT concept_id FROM members
                                  WHERE kind = 'include' AND domain = 'drug' AND set_name IN ({sets}))""").fetchone()
    out["drug_records"] = dict(zip(("n_end_before_start", "n_negative_days_supply", "n_negative_quantity",
                                    "n_zero_days_supply",
                                    "n_refill_course_over_max", "n_negative_refills", "n_administration_one_day",
                                    "n_mail_order_default",
                                    "n_verbatim_end_not_after_start"),
                                   map(int, row)))
    # the study drug records (every date) claim reversals cancel, and the reversals that cancel none (_run's
    # _reversed_claims)
    n_reversed, n_unmatched, n_by_source = x("SELECT n_cancelled, n_unmatched, n_by_source FROM reversal_totals").fetchone()
    out["reversed_claims"] = {"n_reversed_claims": int(n_reversed), "n_unmatched_reversals": int(n_unmatched)}
    # of those, the reversals outside the study sets read by their code (the chain's quirks.reversals_by_source)
    out["reversals_by_source"] = {"n_reversals_by_source": int(n_by_source)}
    out["unreached_drug_records"] = _unreached_drug_records(con, src, cfg)
    out["unknown_concept_records"] = _unknown_concept_records(con, src)
    out["condition_block_records"] = {"n_condition_occurrence_cut_block": _cut_block_records(con, src, cfg)}
    return out


def _cut_block_records(con: duckdb.DuckDBPyConnection, src: dict[str, str], cfg: Config) -> int:
    """condition_occurrence records (every row) of a concept whose membership of a study condition set (include
    minus exclude) differs when each of the sets' references expanded with descendants has its block closed
    over concept_ancestor: from the block (``members``' rows of the root), follow the rows whose ancestor is a
    member of any such block but none of their roots, or is a root (its block's rows), until nothing new; a
    concept so added that ``concept`` marks invalid is left out (the stage's notes.quirks.condition_block_records:
    a table cut in part). A recursive CTE; an independent reading of the rule, not the stage's code."""
    x = con.execute
    sets = [n for n in _study_set_names(cfg) if "condition" in cfg.concept_sets.concept_sets[n].domains]
    if not sets:
        return 0
    concept_cols = {r[0].lower() for r in x(f"DESCRIBE SELECT * FROM {src['concept']}").fetchall()}
    invalid = (f"""EXISTS (SELECT 1 FROM {src['concept']} v WHERE v.concept_id = r.concept_id
                   AND UPPER(TRIM(COALESCE(CAST(v.invalid_reason AS VARCHAR), ''))) NOT IN ('', 'NULL', 'NA'))"""
               if "invalid_reason" in concept_cols else "FALSE")
    in_sets = ", ".join(_q(n) for n in sets)
    [n] = x(f"""
        WITH RECURSIVE
        -- the condition references expanded with descendants: their roots as members resolves them
        roots AS (SELECT DISTINCT m.set_name, m.kind, m.root_id FROM members m JOIN refs f
                    ON f.set_name = m.set_name AND f.kind = m.kind AND f.domain = m.domain AND f.descendants
                   AND (f.concept_id = m.root_id OR (f.concept_id IS NULL AND EXISTS (
                        SELECT 1 FROM {src['concept']} c WHERE c.concept_id = m.root_id
                        AND c.vocabulary_id = f.vocabulary_id AND c.concept_code = f.concept_code)))
                  WHERE m.domain = 'condition' AND m.set_name IN ({in_sets})),
        block AS (SELECT DISTINCT m.root_id, m.concept_id FROM members m
                  WHERE m.root_id IN (SELECT root_id FROM roots) AND m.concept_id <> m.root_id),
        inner_members AS (SELECT concept_id FROM block WHERE concept_id NOT IN (SELECT root_id FROM roots)),
        edges AS (SELECT CAST(ancestor_concept_id AS BIGINT) AS a, CAST(descendant_concept_id AS BIGINT) AS d
                  FROM {src['concept_ancestor']} WHERE ancestor_concept_id IN (SELECT concept_id FROM inner_members)
                  UNION SELECT root_id, concept_id FROM block),
        reach(root_id, concept_id) AS (
          SELECT root_id, concept_id FROM block
          UNION
          SELECT r.root_id, e.d FROM reach r JOIN edges e ON e.a = r.concept_id WHERE e.d <> r.root_id),
        closed AS (SELECT r.root_id, r.concept_id FROM reach r
                   WHERE NOT ({invalid}) OR (r.root_id, r.concept_id) IN (SELECT root_id, concept_id FROM block)),
        -- per set and kind: the members read (members) and the members closed
        now AS (SELECT DISTINCT set_name, kind, concept_id FROM members
                WHERE domain = 'condition' AND set_name IN ({in_sets})),
        grown AS (SELECT set_name, kind, concept_id FROM now
                  UNION SELECT o.set_name, o.kind, c.concept_id FROM roots o JOIN closed c ON c.root_id = o.root_id),
        set_now AS (SELECT set_name, concept_id FROM now WHERE kind = 'include'
                    EXCEPT SELECT set_name, concept_id FROM now WHERE kind = 'exclude'),
        set_grown AS (SELECT set_name, concept_id FROM grown WHERE kind = 'include'
                      EXCEPT SELECT set_name, concept_id FROM grown WHERE kind = 'exclude'),
        changed AS ((SELECT * FROM set_now EXCEPT SELECT * FROM set_grown)
                    UNION (SELECT * FROM set_grown EXCEPT SELECT * FROM set_now))
        SELECT COUNT(*) FROM {src['condition_occurrence']}
        WHERE condition_concept_id IN (SELECT concept_id FROM changed)""").fetchone()
    return int(n)


# The event tables and their standard concept column whose records of a concept absent from concept
# are counted (the stage's every SOURCE_CONCEPT_OF table but observation, which its run narrows to the
# concepts a study set could name: observation_count_ids).
UNKNOWN_CONCEPT_COLUMNS = {"condition_occurrence": "condition_concept_id", "drug_exposure": "drug_concept_id",
                           "procedure_occurrence": "procedure_concept_id", "device_exposure": "device_concept_id"}


def _unknown_concept_records(con: duckdb.DuckDBPyConnection, src: dict[str, str]) -> dict[str, int]:
    """n_<table>_unknown_concept per table of ``UNKNOWN_CONCEPT_COLUMNS``: its records (every date) whose
    standard concept column holds a concept_id other than 0 that no ``concept`` row has (OHDSI DQD
    isForeignKey; the stage's notes.quirks.unknown_concept_records). 0 for a table the export lacks."""
    out = {}
    for table, column in UNKNOWN_CONCEPT_COLUMNS.items():
        n = 0
        if table in src:
            [n] = con.execute(f"""SELECT COUNT(*) FROM {src[table]} e WHERE e.{column} <> 0
                AND NOT EXISTS (SELECT 1 FROM {src['concept']} c WHERE c.concept_id = e.{column})""").fetchone()
        out[f"n_{table}_unknown_concept"] = int(n)
    return out


def _unreached_drug_records(con: duckdb.DuckDBPyConnection, src: dict[str, str], cfg: Config) -> dict[str, int]:
    """drug_exposure records (every date) of a standard, valid concept of domain 'Drug' that a partial
    concept_ancestor left without a study ingredient (the stage's notes.quirks.unreached_drug_records): with a
    drug_strength (``src`` holds it where the stage reads it: a minimum daily dose configured and the table
    there), a product that drug_strength names an ingredient for which a study drug set includes with its
    descendants, when that set's members from that root do not hold it and no exclude of a study drug set does;
    descendants, when that set's members from that root do not hold it and no exclude of a study drug set does;
    with drug_strength rows but none naming such an ingredient (a partial drug_strength), the same when its
    concept_name holds that ingredient's name (as below) and none of its rows names a standard, valid
    'Ingredient' concept whose name differs from that ingredient's but holds it (aripiprazole lauroxil);
    by name (below) a product with no drug_strength row, and every product without a drug_strength: its
    concept_name holds, as a whole name (no letter or digit around it, case-insensitive), the name of such an
    ingredient (its concept's name; the YAML name when the concept table lacks it), and it is no member of any
    study drug set (roots and descendants, includes and excludes). 0 when the sets name no such ingredient.
    {"n_drug_exposure_unreached": those records}, with a drug_strength also "n_drug_exposure_unreached_by_name":
    those of them no drug_strength row naming the ingredient decided (no row, or by name where no row names it)."""
    x = con.execute
    drug_sets = [n for n in _study_set_names(cfg) if "drug" in cfg.concept_sets.concept_sets[n].domains]
    names: set[str] = set()
    roots: set[int] = set()
    root_names: dict[int, str] = {}
    for name in drug_sets:
        for ref in cfg.concept_sets.concept_sets[name].include:
            if not ref.descendants:
                continue
            if ref.concept_id is not None:
                root = ref.concept_id
            else:
                hit = x(f"SELECT concept_id FROM {src['concept']} WHERE vocabulary_id = ? AND concept_code = ?",
                        [ref.vocabulary_id, ref.concept_code]).fetchone()
                if hit is None:
                    continue
                root = int(hit[0])
            # a member root only (only_if_standard: where the release holds it as standard)
            if x("SELECT 1 FROM members WHERE set_name = ? AND root_id = ? AND kind = 'include'",
                 [name, root]).fetchone() is None:
                continue
            roots.add(root)
            named = x(f"SELECT concept_name FROM {src['concept']} WHERE concept_id = ?", [root]).fetchone()
            names.add(((named[0] if named and named[0] is not None else None) or ref.name).strip().lower())
            root_names[root] = ((named[0] if named and named[0] is not None else None) or ref.name).strip().lower()
    names.discard("")
    with_strength = "drug_strength" in src
    if not names:
        return {"n_drug_exposure_unreached": 0, **({"n_drug_exposure_unreached_by_name": 0} if with_strength else {})}
    alternatives = "|".join(re.sub(r"([^A-Za-z0-9\s])", r"\\\1", n) for n in sorted(names))
    pattern = f"(?i)(^|[^A-Za-z0-9])({alternatives})([^A-Za-z0-9]|$)"
    in_sets = ", ".join(_q(n) for n in drug_sets)
    concept_cols = {r[0].lower() for r in x(f"DESCRIBE SELECT * FROM {src['concept']}").fetchall()}
    valid = ("UPPER(TRIM(COALESCE(CAST(c.invalid_reason AS VARCHAR), ''))) IN ('', 'NULL', 'NA')"
             if "invalid_reason" in concept_cols else "TRUE")
    standard = f"""EXISTS (SELECT 1 FROM {src['concept']} c WHERE c.concept_id = e.drug_concept_id
                        AND TRIM(c.domain_id) = 'Drug' AND TRIM(c.standard_concept) = 'S' AND {valid}"""
    by_name = f"""(e.drug_concept_id NOT IN (SELECT concept_id FROM members WHERE set_name IN ({in_sets}))
          AND {standard} AND regexp_matches(c.concept_name, ?)))"""
    if "drug_strength" not in src:
        [n] = x(f"SELECT COUNT(*) FROM {src['drug_exposure']} e WHERE {by_name}", [pattern]).fetchone()
        return {"n_drug_exposure_unreached": int(n)}
    ds, study = src["drug_strength"], ", ".join(str(r) for r in sorted(roots))
    # a study ingredient's row for a product its reference's members (the root and what concept_ancestor takes
    # it to) do not hold, of a product no exclude holds
    cut = f"""EXISTS (SELECT 1 FROM {ds} s WHERE s.drug_concept_id = e.drug_concept_id
                AND s.ingredient_concept_id IN ({study})
                AND NOT EXISTS (SELECT 1 FROM members m WHERE m.kind = 'include' AND m.set_name IN ({in_sets})
                                AND m.root_id = s.ingredient_concept_id AND m.concept_id = s.drug_concept_id)
                AND NOT EXISTS (SELECT 1 FROM members m WHERE m.kind = 'exclude' AND m.set_name IN ({in_sets})
                                AND m.concept_id = s.drug_concept_id))"""
    # per study ingredient whose name the product's concept_name holds, where no drug_strength row of the
    # product names it: a row naming a standard, valid Ingredient of another name holding it explains the name
    per_ing = [(r, n, "(?i)(^|[^A-Za-z0-9])(" + re.sub(r"([^A-Za-z0-9\s])", r"\\\1", n) + ")([^A-Za-z0-9]|$)")
               for r, n in sorted(root_names.items()) if n]
    ing_rows = " UNION ALL ".join(f"SELECT {r} AS id, {_q(n)} AS name, {_q(p)} AS pat" for r, n, p in per_ing)
    lost_name = "FALSE" if not per_ing else f"""EXISTS (SELECT 1 FROM ({ing_rows}) i
          WHERE regexp_matches(c.concept_name, i.pat)
            AND NOT EXISTS (SELECT 1 FROM {ds} s WHERE s.drug_concept_id = e.drug_concept_id
                            AND s.ingredient_concept_id = i.id)
            AND NOT EXISTS (SELECT 1 FROM {ds} s JOIN {src['concept']} j ON j.concept_id = s.ingredient_concept_id
                            WHERE s.drug_concept_id = e.drug_concept_id AND TRIM(j.concept_class_id) = 'Ingredient'
                              AND TRIM(j.standard_concept) = 'S' AND {valid.replace('c.', 'j.')}
                              AND LOWER(TRIM(j.concept_name)) <> i.name AND regexp_matches(j.concept_name, i.pat))
            AND NOT EXISTS (SELECT 1 FROM members m WHERE m.kind = 'include' AND m.set_name IN ({in_sets})
                            AND m.root_id = i.id AND m.concept_id = e.drug_concept_id)
            AND NOT EXISTS (SELECT 1 FROM members m WHERE m.kind = 'exclude' AND m.set_name IN ({in_sets})
                            AND m.concept_id = e.drug_concept_id))"""
    [n, n_named] = x(f"""SELECT COUNT(*) FILTER (WHERE lost), COUNT(*) FILTER (WHERE lost AND NOT by_row)
        FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM {ds} s WHERE s.drug_concept_id = e.drug_concept_id)
                          THEN {standard} AND ({cut.strip()} OR {lost_name}))
                          ELSE {by_name} END AS lost,
                     COALESCE({cut.strip()}, FALSE) AS by_row
              FROM {src['drug_exposure']} e)""", [pattern]).fetchone()
    return {"n_drug_exposure_unreached": int(n), "n_drug_exposure_unreached_by_name": int(n_named)}
