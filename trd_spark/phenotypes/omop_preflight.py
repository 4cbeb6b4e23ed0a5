"""The OMOP tables' columns checked before Spark starts (``preflight.check_inputs``).

A table without a required column (``omop.OMOP_COLUMNS`` less ``omop.OPTIONAL_COLUMNS``), or whose
Parquet file stores a numeric column as a type the chain would cast to a number silently, stopped
the run only once Spark had started and the phenotypes stage read the table (~1.5 min on a loaded
machine: session 52's new-user trial). Here the same error comes at once, from what is cheap to read
without Spark: a local Parquet table's footer (pyarrow's schema of its first data file, the one
Spark takes its schema from) or a local CSV table's header line. One ``InputDataError`` naming the
file and the column(s), the same words as the reader's (``omop.conform_omop_table``,
``omop._sex_column``).

Lenient by design: whatever this module cannot judge with certainty (a table on gs:// or BigQuery,
an absent table, a table both as a file and a folder, a file pyarrow cannot read, a compressed CSV
other than gzip, an empty file) is left to the reader's own checks after Spark starts, so it never
refuses an input the chain would read. The other part files of a Parquet table, and every file's
values, are still checked there (``omop.check_part_file_schemas``, ``omop.check_text_values``).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import types as T

from trd_spark.config import local_path
from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import (
    OMOP_COLUMNS,
    OPTIONAL_COLUMNS,
    omop_tables_read,
    release_table,
    spark_reads_name,
)

if TYPE_CHECKING:
    from trd_spark.config import Config

# The bytes of a CSV file read for its header line (a header longer than this is left to Spark).
_HEADER_BYTES = 1 << 20
_DEFAULT_SEX_COLUMN = "sex_at_birth_concept_id"


def check_omop_schemas(cfg: Config) -> None:
    """Raise ``InputDataError`` naming the file for the first OMOP table the phenotypes stage
    reads under ``cfg`` (``omop.omop_tables_read``, by its release's name: ``omop.release_table``)
    that lacks a required column or holds a column of a type the chain casts silently
    (``table_column_problem``). Local Parquet and CSV releases only; nothing is read for
    BigQuery or a URI. Reads one footer or one header line per table: no Spark."""
    omop = cfg.omop
    if omop.format not in ("parquet", "csv"):
        return
    base = local_path(omop.path.rstrip("/"))
    if base is None:
        return
    sex = omop.sex_at_birth.column.lower()
    for table in omop_tables_read(cfg):
        found = table_file_columns(base, release_table(omop, table), omop.format)
        if found is None:
            continue
        where, columns = found
        problem = table_column_problem(table, columns, sex_column=sex if table == "person" else None)
        if problem is not None:
            raise InputDataError(problem + (other_delimiter_hint(columns) if omop.format == "csv" else ""),
                                 where=where)


# A CSV header read as one field holding one of these was written with another delimiter.
_OTHER_DELIMITERS = (("\t", "tabs"), (";", "semicolons"), ("|", "vertical bars"))


def other_delimiter_hint(columns: dict[str, pa.DataType | None]) -> str:
    """The words added to a CSV table's missing-column error when its header line is one field
    holding tabs, semicolons or vertical bars: a table exported tab-separated (``bcp``, SQL
    Server, ``COPY ... (FORMAT text)``), European Excel's ``;`` or ``|``-delimited. The reader
    (Spark's, RFC 4180) takes commas only; without these words the error listed every column as
    missing (session 54's new user). Nothing of the header is quoted (a headerless file has data
    there). "" otherwise."""
    if len(columns) != 1:
        return ""
    only = next(iter(columns))
    for char, name in _OTHER_DELIMITERS:
        if char in only:
            return (f"; its header line is one field holding {name}: OMOP CSV tables are read comma-separated "
                    "(RFC 4180, as BigQuery, PostgreSQL COPY ... CSV, pandas and R write them), export it so")
    return ""


def table_file_columns(base: str, name: str, fmt: str) -> tuple[str, dict[str, pa.DataType | None]] | None:
    """(the file read, its columns: lower-cased name -> Arrow type, None where the type is not
    known here: a CSV column, a partition folder's key) of the OMOP table ``name`` of the local
    release folder ``base`` in format ``fmt``: ``{name}.{fmt}``, or the first data file of the
    folder ``{name}/`` in name order (its partition folders too; hidden and ``_`` names skipped,
    ``omop.spark_reads_name``), as ``omop._locate`` and Spark find it. None when it cannot be
    told here (absent; both a file and a folder; no data file; unreadable): the reader's own
    checks report it once Spark has started."""
    file, folder = os.path.join(base, f"{name}.{fmt}"), os.path.join(base, name)
    if os.path.isfile(file) and os.path.isdir(folder):
        return None
    if os.path.isfile(file):
        first, keys = file, []
    elif os.path.isdir(folder):
        parts = _data_files(folder)
        if not parts:
            return None
        first = os.path.join(folder, parts[0])
        keys = [d.split("=", 1)[0].lower() for d in parts[0].split("/")[:-1] if "=" in d]
    else:
        return None
    columns = _parquet_columns(first) if fmt == "parquet" else _csv_columns(first)
    if columns is None:
        return None
    columns.update(dict.fromkeys(k for k in keys if k not in columns))
    return (f"{first}:1" if fmt == "csv" else first), columns


def _data_files(folder: str) -> list[str]:
    """The data files below ``folder`` Spark reads (``omop.spark_reads_name`` at every level),
    as sorted paths relative to it."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if spark_reads_name(d)]
        rel = os.path.relpath(root, folder)
        found += [f if rel == "." else f"{rel}/{f}".replace(os.sep, "/") for f in files if spark_reads_name(f)]
    return sorted(found)


def _parquet_columns(file: str) -> dict[str, pa.DataType | None] | None:
    """The columns of the Parquet ``file`` (its footer's Arrow schema, lower-cased names; a
    dictionary column by its values' type), or None when pyarrow cannot read it."""
    try:
        schema = pq.read_schema(file)
    except (OSError, pa.ArrowException):
        return None
    return {f.name.lower(): (f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in schema}


def _csv_columns(file: str) -> dict[str, pa.DataType | None] | None:
    """The columns the header line of the CSV ``file`` names (lower-cased; a byte-order mark
    dropped; RFC 4180 quoting), or None for an empty file, a header longer than 1 MiB, or a
    compressed file other than ``.gz``."""
    name = file.lower()
    try:
        if name.endswith(".gz"):
            with gzip.open(file, "rb") as f:
                head = f.read(_HEADER_BYTES)
        elif name.endswith((".bz2", ".xz", ".zst", ".lz4", ".snappy", ".deflate", ".zip", ".z")):
            return None
        else:
            with open(file, "rb") as f:
                head = f.read(_HEADER_BYTES)
    except (OSError, EOFError):
        return None
    text = head.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="replace")
    if not text.strip() or ("\n" not in text and len(head) == _HEADER_BYTES):
        return None
    header = next(csv.reader(io.StringIO(text)), [])
    return {c.lower(): None for c in header}


def table_column_problem(table: str, columns: dict[str, pa.DataType | None], *,
                         sex_column: str | None = None) -> str | None:
    """What is wrong with the columns of OMOP ``table`` as a file holds them (lower-cased name ->
    Arrow type, None when unknown), or None: a required column missing (the reader's words:
    "OMOP table condition_occurrence is missing required column(s) condition_start_date"); for
    ``person``, the column ``sex_column`` (``omop.sex_at_birth.column``) missing when it is not the
    default; then a column read as a number (an ID, days_supply, quantity...) that the file stores
    as a type Spark's cast turns into a number without an error (``silent_number_cast``)."""
    declared = dict(OMOP_COLUMNS[table])
    optional = OPTIONAL_COLUMNS.get(table, frozenset())
    missing = [n for n in declared if n not in optional and n not in columns]
    if missing:
        return f"OMOP table {table} is missing required column(s) {', '.join(missing)}"
    read_as = {n: n for n in declared}
    if sex_column is not None and sex_column != _DEFAULT_SEX_COLUMN:
        if sex_column not in columns:
            return (f"OMOP table person has no column {sex_column}, which omop.sex_at_birth.column names as its "
                    "sex at birth (set it to the table's column, or leave it out to read sex_at_birth_concept_id, "
                    "else gender_concept_id)")
        read_as[_DEFAULT_SEX_COLUMN] = sex_column
    for name, target in declared.items():
        held = columns.get(read_as[name])
        why = silent_number_cast(held, target) if held is not None else None
        if why is not None:
            shown = name if read_as[name] == name else f"{read_as[name]} (read as {name})"
            return (f"OMOP table {table} column {shown} is {held} in this file, where the CDM has a number "
                    f"({target.simpleString()}): Spark's cast would read {why}, silently; export the column as "
                    "numbers")
    return None


def silent_number_cast(held: pa.DataType, target: T.DataType) -> str | None:
    """How Spark's (non-ANSI) cast reads a column stored as Arrow type ``held`` when the chain
    casts it to the numeric ``target`` (``omop.whole_number``), where it does so without an error:
    a boolean as 1 / 0, a timestamp as its seconds since 1970 (a nanosecond one, read as a long:
    its nanoseconds), a date as empty; None for any other pair (numbers and text are checked value
    by value once Spark has started; a time of day or a nested type is Spark's own error)."""
    if not isinstance(target, T.NumericType):
        return None
    if pa.types.is_boolean(held):
        return "true and false as 1 and 0"
    if pa.types.is_timestamp(held):
        return "a date-time as a count of (nano)seconds since 1970"
    if pa.types.is_date(held):
        return "a date as empty"
    return None
