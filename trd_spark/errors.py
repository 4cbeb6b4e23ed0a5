"""One exception hierarchy; each class carries the process exit code the CLI returns.

Exit codes (documented in README, used by schedulers):
  0 done, 1 unexpected failure, 2 config error, 3 input data error, 4 match-rate failure,
  5 model error, 6 another run holds the lock, 7 nothing to do, 8 download failed, 9 file
  system error (disk full, name too long), 130 / 143 interrupted by SIGINT / SIGTERM.
"""

from __future__ import annotations

import re
from typing import NoReturn


def header_fields_text(found: list[str] | tuple[str, ...], expected: list[str] | tuple[str, ...]) -> str:
    """What a file's first line holds, for an error about its header, quoting only the fields
    that are ``expected`` column names: a file whose header line is missing has data there
    (sample IDs, person_ids), and an error line must not carry a participant identifier into
    the Workbench logs. E.g. "the first line has 3 fields, 1 of them an expected column
    (ID_1); is the header line missing?"."""
    known = [f for f in found if f in expected]
    names = f" ({', '.join(known)})" if known else ""
    missing_header = "; is the header line missing?" if len(known) < len(found) else ""
    return (f"the first line has {len(found)} field{'s' if len(found) != 1 else ''}, {len(known)} of them "
            f"an expected column{names}{missing_header}")


def raise_other_width(path: str, text: str | None, *, first_data_line: int, reference: str,
                      otherwise: str, sep: str | None = None, reference_line: int = 1) -> NoReturn:
    """Raise InputDataError naming ``path:N`` (N: the file's 1-based line) of the first non-blank
    line from line ``first_data_line`` on whose number of fields (split on ``sep``; whitespace
    when None) differs from line ``reference_line``'s (the first; a .psam's header after its
    ``##`` lines), which the message calls ``reference`` ('the
    header'); when there is none, InputDataError ``otherwise`` naming ``path``. ``text``: the
    file's content, read from ``path`` when None. The error path of the sample-table readers
    (``pgen_engine.psam_samples``, ``bgen_reader.sample_file_ids``): pandas silently reads a
    line with one field more than the header as an index, every column shifted, and pads a
    shorter one; nothing from the line itself is quoted (it holds a sample ID)."""
    if text is None:
        with open(path) as f:
            text = f.read()
    lines = text.splitlines()
    width = len(lines[reference_line - 1].split(sep)) if len(lines) >= reference_line else 0
    for n, line in enumerate(lines[first_data_line - 1:], first_data_line):
        if line.strip() and len(line.split(sep)) != width:
            raise InputDataError(f"{len(line.split(sep))} fields where {reference} has {width}", where=f"{path}:{n}")
    raise InputDataError(otherwise, where=path)


# Letter runs an error message keeps in a value's shape (``value_shape``): they say how a date
# is written, not which one.
_FORMAT_WORDS = frozenset({"T", "Z", "UTC", "GMT", "AM", "PM"})


# Said beside a shape in a message, so that '####-##-##' is not taken for the value itself.
VALUE_SHAPE_NOTE = "digits shown as #, letters as a"


def value_shape(value: object, limit: int = 40) -> str:
    """How an input cell is written, for an error message, without its content: every digit
    reads ``#`` and every letter ``a``, except the format words T, Z, UTC, GMT, AM and PM
    (whole letter runs, any case); longer than ``limit`` characters: cut, ending in ``...``.
    E.g. ``'2014-03-24T12:00:00+00:00'`` -> ``'####-##-##T##:##:##+##:##'``, ``'Mar 24 2014'``
    -> ``'aaa ## ####'``, ``'90 days'`` -> ``'## aaaa'``. A cell of an OMOP table is a
    participant's record (a date, a days_supply) and README Privacy promises that logs carry
    no individual data, so an error quotes a bad cell only through this."""
    text = str(value)
    cut = len(text) > limit
    text = re.sub(r"\d", "#", text[:limit])
    text = re.sub(r"[^\W\d_]+", lambda m: m.group() if m.group().upper() in _FORMAT_WORDS else "a" * len(m.group()),
                  text)
    return text + ("..." if cut else "")


# A check that runs inside a Spark query (``pyspark.sql.functions.raise_error``: it fails only
# where a bad row is read, without a scan of its own) cannot raise our exceptions: it puts this
# tag before its message, and ``input_error_of`` turns the Spark error carrying it back into the
# one-line InputDataError (exit 3) the CLI reports.
QUERY_INPUT_ERROR_TAG = "trd-spark InputDataError: "


def input_error_of(exc: BaseException) -> InputDataError | None:
    """The InputDataError a Spark query raised with ``QUERY_INPUT_ERROR_TAG`` + message (the
    message up to the end of its line, without Spark's appended SQLSTATE), or None when
    ``exc`` carries no such tag."""
    text = str(exc)
    at = text.find(QUERY_INPUT_ERROR_TAG)
    if at < 0:
        return None
    lines = text[at + len(QUERY_INPUT_ERROR_TAG):].splitlines()
    message = lines[0].split(" SQLSTATE:")[0].rstrip() if lines else ""
    return InputDataError(message)


class TrdSparkError(Exception):
    """Base class: a failure we understand and can explain in one line.

    The first sentence of a subclass's docstring is its line in every ``--help``'s exit-code
    list (``cli.exit_codes_help``, double backticks removed): it must read as a sentence there."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(TrdSparkError):
    """The config is invalid or the run cannot start with it (unknown key, wrong type, missing
    path, contradiction; an output_root, release directory or spark.tmp_dir that cannot be
    created or written, such as a release name over the file system's name limit, or too little
    free space, when the run starts)."""

    exit_code = 2


class InputDataError(TrdSparkError):
    """An input file (genotypes, scoring file, OMOP table, ancestry file) is malformed."""

    exit_code = 3


class MatchRateError(TrdSparkError):
    """A score's matched fraction is below ``pgs.min_overlap`` in some dataset."""

    exit_code = 4


class ModelError(TrdSparkError):
    """The model grid could not be assembled (not a single failed fit: those are rows)."""

    exit_code = 5


class LockedError(TrdSparkError):
    """Another run holds the lock on this release."""

    exit_code = 6


class NothingToDo(TrdSparkError):
    """``run --release latest`` found no release to run: every release is complete and up to date (not a failure)."""

    exit_code = 7


class DownloadError(TrdSparkError):
    """A scoring file could not be fetched from the PGS Catalog (no network, HTTP error,
    checksum mismatch after the configured attempts)."""

    exit_code = 8


class StorageError(TrdSparkError):
    """A file system operation failed during a run for a reason outside the pipeline (disk
    full, file name too long, permission denied, read-only file system); the error names the path.
    ``where``: the file, or the release's output directory when Spark or Hail names none. The
    same faults found by the checks before the run starts are a ConfigError (exit 2)."""

    exit_code = 9


class EnvironmentFault(TrdSparkError):
    """The machine or the Spark executors stopped the run for a reason outside the pipeline and
    its input: memory ran out (Python's MemoryError, Java's OutOfMemoryError) or a Python module is
    missing where a Spark task runs (ModuleNotFoundError in a worker). One line that says so, not
    an input error (exit 3) sending the user to files that are fine, and no traceback of ours
    (exit 1, like any failure that is no error of the input or config)."""

    exit_code = 1


class Interrupted(BaseException):
    """The run received SIGTERM (``timeout``, YARN / Dataproc cancel, Airflow) or SIGINT
    (Ctrl-C). A BaseException like KeyboardInterrupt, so no ``except Exception`` on the way
    up swallows it; the exit code is the shell's 128 + signal number (143, 130). ``stage``: the
    stage the run was at (running, or about to run: its checks before it starts), None between
    stages or before the first; ``on_disk``: where that stage's folder stood
    (``logs.WarningCounter.on_disk``: ``PUBLISHED`` in this run, ``SWAPPING`` mid-publish,
    ``COMPLETE`` from an earlier run, untouched; None: nothing of it complete, or not known);
    ``what_was_published`` says it."""

    PUBLISHED, SWAPPING, COMPLETE = "published", "swapping", "complete"

    def __init__(self, signum: int, stage: str | None = None, *, on_disk: str | None = None):
        import signal

        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        self.stage = stage
        self.on_disk = on_disk
        super().__init__(f"{self.signal_name} received" + (f" during stage {stage}" if stage else ""))

    def what_was_published(self) -> str:
        """What the interrupt line says of the stage's folder on disk: "the report stage's folder
        published before the signal"; "stage models left incomplete: ..." (the signal came while
        its new folder replaced the old one, ``layout.swap_in``: no ``_SUCCESS``, it reruns);
        "nothing of stage models published; its complete folder of an earlier run is kept" (the
        stage was complete when the run came to it: deciding whether it reruns, or rerunning it);
        "nothing of stage models published"; or (no stage) "nothing partial published" (every
        folder is published whole or not at all: ``layout.publish_stage``)."""
        if self.stage is None:
            return "nothing partial published"
        if self.on_disk == self.PUBLISHED:
            return f"the {self.stage} stage's folder published before the signal"
        if self.on_disk == self.SWAPPING:
            return (f"stage {self.stage} left incomplete: the signal came while its new folder replaced the old "
                    "one (no _SUCCESS: it reruns)")
        if self.on_disk == self.COMPLETE:
            return f"nothing of stage {self.stage} published; its complete folder of an earlier run is kept"
        return f"nothing of stage {self.stage} published"
