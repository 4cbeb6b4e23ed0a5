"""Logging setup, called only from entry points (CLI, jobs), never from library code; the
run log (``open_run_log``); progress lines of a stage's steps (``Steps``) and the heartbeat
while a stage runs (``Heartbeat``).

Also counts WARNING records of the ``trd_spark`` loggers per pipeline stage (suspicious but
valid input: duplicate variants dropped, absent concepts, end dates before starts ...), so a
run summary and each stage manifest can say how many warnings a stage raised. There is no
process-wide counter: each run owns a ``WarningCounter`` (the CLI one per invocation,
``pipeline.run_stages`` one per call unless given one), attached to the ``trd_spark`` logger
only while that run lasts (``WarningCounter.attached``), so two runs in one process never
share counts.
"""

from __future__ import annotations

import logging
import numbers
import re
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark import SparkContext

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Warnings raised outside any stage (config loading, preflight) are counted under this key.
OUTSIDE_STAGES = "run"
# The package's logger: its records are the ones counted (other libraries' warnings are noise).
TRD_LOGGER = "trd_spark"


class WarningCounter(logging.Handler):
    """Counts one run's WARNING records (not ERROR) of the ``trd_spark`` loggers, keyed by
    the stage active when they were logged (``stage_scope``; ``OUTSIDE_STAGES`` otherwise).
    Counts only while ``attached``.

    Also where the run stands for its interrupt line (``cli._on_signal``, which has only this
    counter): ``running``, the stage the run runs or is about to run (from deciding whether it
    reruns to its end, ``pipeline.run_stages``; its checks before its own start included), and
    ``on_disk``, where a stage's folder stands ({stage: ``errors.Interrupted.PUBLISHED`` once it
    published its folder in this run, ``SWAPPING`` while its new folder replaces the old one,
    both from ``layout.publish_stage``; ``COMPLETE`` when it was complete as the run came to it,
    ``pipeline.run_stages``}); ``interrupted_at``: the stage a ``KeyboardInterrupt`` raised from
    (not by the CLI's signal handler, which reads ``running`` when the signal comes: the exception
    is told after the unwinding has left every stage)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.counts: Counter[str] = Counter()
        self.stage: str | None = None
        self.running: str | None = None
        self.on_disk: dict[str, str] = {}
        self.interrupted_at: str | None = None  # the stage a KeyboardInterrupt left (running_stage)

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            self.counts[self.stage or OUTSIDE_STAGES] += 1

    def count(self, stage: str) -> int:
        """WARNING records counted under ``stage`` (or ``OUTSIDE_STAGES``); 0 when none."""
        return self.counts.get(stage, 0)

    @contextmanager
    def attached(self) -> Iterator[WarningCounter]:
        """Count the ``trd_spark`` loggers' warnings while the block runs, then detach. Nested
        use is allowed: only the outermost block attaches and detaches. Attached to the
        ``trd_spark`` logger, not the root (``configure_logging``'s ``basicConfig(force=True)``
        replaces root handlers), so it counts whether or not logging was configured."""
        logger = logging.getLogger(TRD_LOGGER)
        owner = self not in logger.handlers
        if owner:
            logger.addHandler(self)
        try:
            yield self
        finally:
            if owner:
                logger.removeHandler(self)

    @contextmanager
    def running_stage(self, stage: str) -> Iterator[None]:
        """``stage`` is the one the run is at while the block runs (``running``): its warnings
        are still counted where they are logged (``stage_scope`` starts with the stage itself)."""
        previous, self.running = self.running, stage
        try:
            yield
        except KeyboardInterrupt:  # not our signal handler's (PySpark's, a caller's): said after unwinding
            self.interrupted_at = self.interrupted_at or stage
            raise
        finally:
            self.running = previous

    @contextmanager
    def stage_scope(self, stage: str) -> Iterator[None]:
        """Count warnings under ``stage`` (restarting its count) while the block runs."""
        previous, self.stage = self.stage, stage
        self.counts[stage] = 0
        try:
            yield
        finally:
            self.stage = previous


def configure_logging(level: str = "INFO") -> None:
    """Progress on stderr at ``level``: the ``trd_spark`` loggers, and other libraries' records
    only from ERROR (their warnings, Python ``warnings`` and the JVM's output are library noise,
    kept for the run log). Every record from DEBUG (``trd_spark``; others from INFO) is held
    until ``open_run_log`` writes it to the run log (at most the last ``RUN_LOG_BUFFER``)."""
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(getattr(logging, level.upper()))
    console.addFilter(_console_filter)
    console.addFilter(counts_with_separators)
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=[console, _Buffer()], force=True)
    logging.getLogger("trd_spark").setLevel(logging.DEBUG)
    for noisy in ("py4j", "pyspark", "matplotlib", "urllib3", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)


# ---------------------------------------------------------------------------------- run log
# Records kept before the run log is opened (config loading, `--release latest`); a command
# that never opens one (check-config, explain) keeps at most this many.
RUN_LOG_BUFFER = 10_000
# The logger of the lines the JVM writes to its stdout and stderr (log4j console output, Java warnings).
JVM_LOGGER = "jvm"


# A %-conversion of a log message (Python's printf-style: flags, width, precision, type).
_CONVERSION = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]")


def counts_with_separators(record: logging.LogRecord) -> bool:
    """Handler filter (console and run log): a ``trd_spark`` record's plain ``%d`` arguments
    are written with ``count_text`` (``1,780``, as the progress lines and summary write
    counts), so every count in the logs has one form whatever module logged it. Integers
    formatted with a width, flags or another type (``%5d``, ``%x``) and messages with ``*``
    widths or named arguments are left as they are; other loggers' records too. Rewrites
    the record in place (``%d`` -> ``%s``, the int -> its text; idempotent) and keeps it."""
    if not record.name.startswith(TRD_LOGGER) or not isinstance(record.args, tuple) or not record.args:
        return True
    msg = record.msg
    if not isinstance(msg, str) or "%d" not in msg:
        return True
    specs = [m.group(0) for m in _CONVERSION.finditer(msg) if m.group(0) != "%%"]
    if len(specs) != len(record.args) or any("*" in x or "(" in x for x in specs):
        return True
    args = list(record.args)
    out, at, i = [], 0, 0
    for m in _CONVERSION.finditer(msg):
        if m.group(0) == "%%":
            continue
        a = args[i]
        if m.group(0) == "%d" and isinstance(a, numbers.Integral) and not isinstance(a, bool):
            out.append(msg[at:m.start()] + "%s")
            args[i] = count_text(int(a))  # numpy integers (pandas / Spark counts) too
        else:
            out.append(msg[at:m.end()])
        at = m.end()
        i += 1
    record.msg = "".join(out) + msg[at:]
    record.args = tuple(args)
    return True


def _console_filter(record: logging.LogRecord) -> bool:
    return record.name.startswith("trd_spark") or record.levelno >= logging.ERROR


class _Buffer(logging.Handler):
    """Holds records until ``open_run_log`` replays them into the run log."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: deque[logging.LogRecord] = deque(maxlen=RUN_LOG_BUFFER)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _file_handler(path: Path) -> logging.FileHandler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(counts_with_separators)
    return handler


class RunLog:
    """The log file of one run (plink2's ``<out>.log``): every record from DEBUG, the JVM's
    output and library warnings; its last line says whether the run finished or failed."""

    def __init__(self, path: Path, command: str) -> None:
        self.path = path
        self.command = command
        # Where the run says its log is: ``path``, or the object-store copy (trd_spark.cli).
        self.destination = str(path)
        self.handler = _file_handler(path)

    def close(self, exit_code: int, error: BaseException | None = None) -> None:
        """Write the closing line, ``trd-spark <command> finished|FAILED, exit code N`` (to
        the file only: the console has the error line already), and detach the file. An
        unexpected ``error`` (exit code 1) is written with its traceback just before."""
        if error is not None and exit_code == 1:
            self.handler.handle(logging.LogRecord(
                "trd_spark", logging.ERROR, __file__, 0, "unexpected error: %s: %s", (type(error).__name__, error),
                (type(error), error, error.__traceback__)))
        outcome = "finished" if exit_code == 0 else "FAILED"
        self.handler.handle(logging.LogRecord(
            "trd_spark", logging.INFO if exit_code == 0 else logging.ERROR, __file__, 0,
            "trd-spark %s %s, exit code %d", (self.command, outcome, exit_code), None))
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()


def open_run_log(directory: Path, command: str, started: datetime) -> RunLog:
    """Start writing the run log ``<directory>/<started UTC, %Y%m%dT%H%M%SZ>-<command>.log``
    (directory created): the records held since ``configure_logging`` first, then every
    record from DEBUG (the ``trd_spark`` loggers; others from INFO) until ``RunLog.close``."""
    run_log = RunLog(directory / f"{started.astimezone(UTC):%Y%m%dT%H%M%SZ}-{command}.log", command)
    root = logging.getLogger()
    for buffer in [h for h in root.handlers if isinstance(h, _Buffer)]:
        for record in buffer.records:
            run_log.handler.handle(record)
        root.removeHandler(buffer)
    root.addHandler(run_log.handler)
    return run_log


# ---------------------------------------------------------------------------------- progress
HEARTBEAT_STOP_WAIT_SECONDS = 2.0
def is_small_count(n: float, persons_below: int) -> bool:
    """The small-count rule, written once: a count of persons in 1..T-1 (T = ``persons_below``,
    ``report.small_count_threshold``, 20 by the AoU dissemination policy) is not shown; zero
    and counts >= T are. The exports (``report.suppression``), compare-releases, gate messages
    and log lines all ask it."""
    return 0 < n < persons_below


def suppressed_label(threshold: int) -> str:
    """The label shown for a count the small-count rule hides, e.g. ``<20``."""
    return f"<{threshold}"


def at_least_label(threshold: int) -> str:
    """The label a log line shows for a count of ``threshold`` persons or more, e.g. ``20+``."""
    return f"{threshold}+"


def person_count_text(n: int, persons_below: int) -> str:
    """How a count of persons reaches a log line, a gate message, an error or the run summary
    (everything a user may paste into a ticket), written once: 0 as ``0``, 1 to T-1 as ``<T``
    and T or more as ``T+`` (T = ``persons_below``, ``report.small_count_threshold``); never
    the count itself. The report's export hides counts of T or more too, to protect a small
    one (secondary suppression, ``report.suppression.audit_suppression``), and which it hides
    is decided when the report runs, after the logs were written: an exact count in a log line
    gave one back ("35 of 2,983 unrelated ..." in a gate WARNING with the export's 2988 gave the
    5 persons between them, tests/test_privacy_logs.py), and so would a share of it or a count
    rounded (near the rounding's edge). A label says no more than the export: a count of
    1..T-1 is a "<T" there too, one of T or more a number or "suppressed" (>= T), a zero 0.
    The exact counts stay in the stage manifests (internal) and the export shows what may be
    shown."""
    if n == 0:
        return "0"
    return suppressed_label(persons_below) if is_small_count(n, persons_below) else at_least_label(persons_below)


def count_text(n: int, *, persons_below: int | None = None) -> str:
    """``n`` with thousands separators (records, variants, files, rows of non-person tables).
    For a count of persons pass the small-count threshold (``report.small_count_threshold``)
    as ``persons_below``: the count is then shown as ``person_count_text`` says."""
    if persons_below is not None:
        return person_count_text(n, persons_below)
    return f"{n:,}"


def record_count_text(n: int, records_below: int | None) -> str:
    """How a count of OMOP records (study records, event-table rows, drug exposures: not persons)
    reaches a log line or a WARNING: 0 and counts of T or more as ``count_text`` writes them, 1 to
    T-1 as the person counts' label ``<T`` (T = ``records_below``, ``report.small_count_threshold``).
    ``records_below`` has no default: None (the exact count) only where a caller asks for it, for
    a record of its own that is never logged, so a new line that forgets the threshold is a
    TypeError, not a count leaked. Why: k records are held by 1 to k persons, so a count of 1 to
    T-1 records put the persons holding them below T (one record is one person; privacy round 5,
    session 36), while a count of T or more leaves 1 to T or more, no narrower than the label.
    The exact counts stay in the phenotypes stage manifest (``notes.quirks``,
    ``notes.study_event_dates``: internal, never exported)."""
    if records_below is not None and is_small_count(n, records_below):
        return suppressed_label(records_below)
    return count_text(n)


def record_count_label(n: int, records_below: int) -> str:
    """How a count of OMOP records reaches a message that must give no exact count at all: 0,
    ``<T`` for 1 to T-1 and ``T+`` for T or more (as ``person_count_text``; T = ``records_below``,
    ``report.small_count_threshold``). For counts that are sums or parts of counts other lines show
    (a record gate's ``n of total``, ``gates.check_gate``'s ``records_below``; the split of
    ``implausible_drug_records``): exact beside them, two counts of T or more gave their difference
    of 1 to T-1 records (``records_after_cutoff``' count less the follow-up lines' ``n_after_cutoff``
    is the records after death dated after the cutoff; privacy round 6, session 37). The exact
    counts stay in the stage manifest (``notes.gates``, ``notes.quirks``)."""
    return person_count_text(n, records_below)


def _exact_text(n: int, text: str) -> bool:
    """Whether ``text`` shows count ``n`` exactly (not a label)."""
    return text == count_text(n)


def _derivable(counts: Mapping[str, int], shown: Mapping[str, str],
               equations: Sequence[tuple[str, tuple[str, ...]]], hidden: frozenset[str] = frozenset()) -> set[str]:
    """The counts a reader of ``shown`` gets (``record_counts_text``'s ``apart``): shown exactly, or
    the one unknown member of an equation (a sum that holds exactly) whose other members it gets (a
    total of exact parts; a part of an exact total and exact other parts); ``hidden``: names taken as
    labelled (a trial)."""
    known = {k for k in counts if k not in hidden and _exact_text(counts[k], shown[k])}
    grew = True
    while grew:
        grew = False
        for total, parts in equations:
            unknown = [k for k in (total, *parts) if k not in known]
            if len(unknown) == 1:
                known.add(unknown[0])
                grew = True
    return known


def _read_counts(counts: Mapping[str, int], relations: Sequence[tuple[str, Sequence[str]]],
                 equations: Sequence[tuple[str, tuple[str, ...]]], within: Sequence[tuple[str, Sequence[str]]],
                 known: set[str]) -> list[tuple[str, int, str]]:
    """(name, count, the count it is read from) of each count a reader gets beyond those ``known``
    (``_derivable``), which no equation names (privacy rounds 8-9, sessions 39-40): the sum of a
    total's parts where the total has a surplus (``<total> parts <p>+<q>``, read from its largest
    part), that surplus where the total is got too (``<total> surplus over <p>+<q>``), and a
    ``within`` total's rest less its parts (``<total> less <p>+<q>``, read from the total). The
    names are the same in every run, so another run's count of the same name is the same count
    (``record_counts_text``'s ``prior``)."""
    out: list[tuple[str, int, str]] = []
    for total, parts in relations:
        if (total, tuple(parts)) in equations or any(k not in counts for k in (total, *parts)) \
                or any(p not in known for p in parts):
            continue
        together = sum(counts[p] for p in parts)
        out.append((f"{total} parts {'+'.join(parts)}", together, max(parts, key=lambda p: (counts[p], p))))
        if total in known:
            out.append((f"{total} surplus over {'+'.join(parts)}", counts[total] - together, total))
    for total, parts in within:
        if all(k in counts and k in known for k in (total, *parts)):
            out.append((f"{total} less {'+'.join(parts)}", counts[total] - sum(counts[p] for p in parts), total))
    return out


def record_counts_read(counts: Mapping[str, int], shown: Mapping[str, str],
                       sums: Mapping[str, Sequence[str]] | Sequence[tuple[str, Sequence[str]]] | None = None,
                       within: Sequence[tuple[str, Sequence[str]]] = ()) -> dict[str, int]:
    """name -> count of every count a reader of ``shown`` (``record_counts_text``' result over the
    same ``counts``, ``sums`` and ``within``) gets: those shown exactly or derived (``_derivable``)
    and those no equation names (``_read_counts``). What a run's stage manifest records of its
    lines, for a later run's ``prior`` (``phenotypes.stage.RECORD_COUNTS_LOGGED``)."""
    relations = list(sums.items() if isinstance(sums, Mapping) else sums or ())
    equations = [(t, tuple(ps)) for t, ps in relations if all(k in counts for k in (t, *ps))
                 and counts[t] == sum(counts[p] for p in ps)]
    known = _derivable(counts, shown, equations)
    return {**{k: counts[k] for k in counts if k in known},
            **{name: n for name, n, _ in _read_counts(counts, relations, equations, within, known)}}


def record_counts_text(counts: Mapping[str, int], records_below: int,
                       sums: Mapping[str, Sequence[str]] | Sequence[tuple[str, Sequence[str]]] | None = None,
                       within: Sequence[tuple[str, Sequence[str]]] = (), apart: bool = False,
                       prior: Mapping[str, Collection[int]] | None = None) -> dict[str, str]:
    """``record_count_text`` of each of ``counts`` (name -> records), in order.

    ``sums``: total -> the names of its parts (a mapping, or (total, parts) pairs where a total
    has two sums), where the total is AT LEAST their sum: it may
    exceed them by records no name of ``counts`` holds (``antidepressant_exposures``' n_records
    holds the negative days_supply records within follow-up, which its line does not show). That
    surplus, total - sum(parts), is a hidden part: shown exactly beside exact parts, the total
    gave it back. A sum one of whose names ``counts`` lacks is no relation (a part not shown is
    unknown to the reader). A total of T or more reads ``T+`` (``at_least_label``) when a part is
    not shown exactly (a label, or a total so shown: n_after_followup_end 25 = n_after_death <20
    + n_after_cutoff 20 + n_after_observation_end 0 gave the 5 back) or when the surplus is 1 to
    T-1 (n_records 1,003 over exact parts 900 + 100 + 0 gave 3). A total of 1 to T-1 is its label
    anyway. A one-part sum in both directions (a -> (b,), b -> (a,)) says that two lines show the
    same count (the drug domain's followup n_records and ``drug_values``' n_records): labelled in
    one, it is labelled in the other. Names may be qualified by line (``quirks.drug_values.n_records``)
    so that one call reads the lines of a run together (``phenotypes.stage.stage_count_texts``).

    ``within``: (total, parts) pairs of counts in different lines where the total holds the parts
    (disjoint) and other records no line names, of which the total's line says nothing (a table's
    records and its study records; the study drug records and those with one quirk): the rest is
    a count no line shows, and an exact total less exact parts gave it back (privacy round 6,
    session 37: ``event_table_records``' 80 procedure records beside the 77 study ones were 3
    records of other procedures). The total reads ``T+`` when that rest is 1 to T-1, or, with
    parts shown as labels, when the slack the labels leave (the rest less the least count of each
    label: 1 for ``<T``, T for ``T+``) is under T-2, the width of a label's own 1..T-1: then a
    part or the rest is narrower than its label (total 9,000 beside a ``<20`` part leaves both
    wide and stays exact). Unlike ``sums``, a labelled part alone does not label the total.

    ``apart``: no two counts shown exactly differ by 1 to T-1, related or not (privacy round 7,
    session 38): ``sums`` and ``within`` name the relations the code knows, but whoever reads the
    lines need not know which counts hold which to try every difference, and a pair no relation
    named gave its difference all the same (a tiny toy run: 161 antidepressant exposures beside 172
    condition records and 188 study drug records). Of two such counts the larger reads ``T+`` (a
    total rather than its part, as ``within`` labels it); the counts kept exact are then at least T
    apart. A count the reader derives is read as shown (session 38 reader, helper "fixesA": a
    ``T+`` total whose parts stayed exact was their sum, 350 beside 340): the one unknown member of
    a ``sums`` relation that holds exactly (no surplus; a total of exact parts, a part of an exact
    total less its other exact parts), repeated until nothing more follows. Such a count 1..T-1
    from another, or itself 1..T-1, and a ``within`` total so derived whose rest is 1..T-1, label
    an exact count it is read from (``cut``); at the fixpoint no two derivable counts differ by
    1..T-1 and none derived is 1..T-1 (tests/test_privacy_s38.py's random check). A ``sums`` total
    labelled but so derived (another sum of it holds exactly) gives its surplus back as an exact
    total does: a surplus of 1..T-1, or a part not derived, labels an exact count it is read from
    (privacy round 8, session 39; tests/test_privacy_s39.py). The counts the reader gets that no
    equation names are read as the derived ones: the sum of a total's exact parts where the total has
    a surplus, that surplus where the total is got too (a surplus of T or more: 35 negative days_supply
    records beside a count of 40 gave 5), and a ``within`` total's rest less its exact parts; one of
    1..T-1, or 1..T-1 from a count the reader gets or another such count, labels a count it is read
    from (privacy round 9, session 40; tests/test_privacy_s40.py).

    ``prior`` (with ``apart``): name -> the counts of that name other runs' lines gave their reader
    (``record_counts_read`` of each: other releases, earlier runs of this one). A count the reader
    gets here 1..T-1 from one of them labels a count it is read from: two releases' logs each
    showing 500 and 507 records of one kind gave the 7 records (1..7 persons) between them, as two
    exports' counts do (docs/privacy.md "Two releases' exports"; privacy round 7 of session 50)."""
    shown = {k: record_count_text(v, records_below) for k, v in counts.items()}

    exact = _exact_text

    def least(name: str) -> int:  # the least count a part's text allows (exact: itself)
        text = shown[name]
        if exact(counts[name], text):
            return counts[name]
        return records_below if text == at_least_label(records_below) else 1

    relations = list(sums.items() if isinstance(sums, Mapping) else sums or ())
    # The sums a reader can solve: those that hold exactly (no surplus), read as equations.
    equations = [(t, tuple(ps)) for t, ps in relations if all(k in counts for k in (t, *ps))
                 and counts[t] == sum(counts[p] for p in ps)]

    def derivable(hidden: frozenset[str] = frozenset()) -> set[str]:
        return _derivable(counts, shown, equations, hidden)

    def cut(name: str) -> str:
        """The exact count to label so that the reader no longer derives ``name``: of the exact
        non-zero counts its equations reach, the first (largest first) whose label alone does it,
        else the largest (the loop labels another on its next pass; all labelled, only zeros
        remain, which derive no count but 0)."""
        reach, todo = {name}, [name]
        while todo:
            at = todo.pop()
            for total, parts in equations:
                if at in (total, *parts):
                    todo += [k for k in (total, *parts) if k not in reach]
                    reach.update((total, *parts))
        candidates = sorted((k for k in reach if counts[k] and exact(counts[k], shown[k])),
                            key=lambda k: (-counts[k], k))
        return next((k for k in candidates if name not in derivable(frozenset({k}))), candidates[0])

    changed = True
    while changed:  # a total is a part of another (n_after_followup_end of n_records)
        changed = False
        for total, parts in relations:
            if any(k not in counts for k in (total, *parts)):
                continue
            surplus = counts[total] - sum(counts[p] for p in parts)
            if exact(counts[total], shown[total]):
                if (any(not exact(counts[p], shown[p]) for p in parts)
                        or not exact(surplus, record_count_text(surplus, records_below))):
                    shown[total], changed = at_least_label(records_below), True
            elif apart and total in (known := derivable()):
                # A labelled total another sum gives back (a total with two sums; privacy round 8,
                # session 39): less its parts it is the surplus all the same (t = 50 + 255 exactly and
                # t = 100 + 200 + 5 gave the 5), and a part it does not give back is bounded by it.
                if any(p not in known for p in parts) or is_small_count(surplus, records_below):
                    shown[cut(total)], changed = at_least_label(records_below), True
        for total, parts in within:
            if any(k not in counts for k in (total, *parts)):
                continue
            given = exact(counts[total], shown[total])  # else (apart) a labelled total the sums give back
            if not given and not (apart and total in derivable()):
                continue
            slack = counts[total] - sum(least(p) for p in parts)
            labelled = any(not exact(counts[p], shown[p]) for p in parts)
            if (slack < records_below - 2) if labelled else is_small_count(slack, records_below):
                shown[total if given else cut(total)], changed = at_least_label(records_below), True
        if apart:
            known, kept = derivable(), 0
            for name in sorted((k for k in known if counts[k]), key=lambda k: (counts[k], k)):  # same every run
                if not is_small_count(counts[name] - kept, records_below):
                    kept = counts[name]
                elif exact(counts[name], shown[name]):
                    shown[name], changed = at_least_label(records_below), True
                elif name in derivable():  # labelled, but its relation gives it back: label one of the counts
                    # it is read from. `known` is this pass's start: a count labelled since (the branch above)
                    # may no longer give it back, and then no exact count is left to label (full suite, s38).
                    shown[cut(name)], changed = at_least_label(records_below), True
                    break  # what the reader derives changed: read again
            if changed:
                continue
            # The sum of a total's parts where the total also holds records no name holds (a surplus:
            # no equation) is a count of its own (privacy round 8, session 39: the exposures' parts
            # 900 + 95 with n_records 20+ for its 5 negative days_supply records, beside 1,010 drug
            # records kept, which hold them: 15 records). 1..T-1, or 1..T-1 from a count the reader
            # gets, it labels its largest part the reader gets (``cut``).
            # The same for the other counts the reader gets that no equation names (privacy round 9, session
            # 40): a surplus of T or more where the total is got too (exposures' n_records 1,030 over
            # 900 + 95: 35 negative days_supply records, beside a count of 40 in another line: 5), and a
            # ``within`` total's rest less its exact parts (a table's records of other concepts); each one
            # 1..T-1 from a count the reader gets, or from another such count, labels the total (``cut``).
            known = derivable()
            values = sorted({counts[k] for k in known if counts[k]})
            # (count, the name to ``cut`` so that the reader no longer gets it)
            extra = [(count, at) for _, count, at in _read_counts(counts, relations, equations, within, known)]
            for i, (count, name) in enumerate(extra):
                others = [*values, *(c for j, (c, _) in enumerate(extra) if j != i and c)]
                if count and (is_small_count(count, records_below)
                              or any(is_small_count(abs(v - count), records_below) for v in others)):
                    shown[cut(name)], changed = at_least_label(records_below), True
                    break
            if changed or not prior:
                continue
            # The same count in another run's lines (another release, an earlier run of this one): their
            # difference is a change of records, 1..T-1 a count no line shows (privacy round 7 of session 50).
            read = [(k, counts[k], k) for k in sorted(known)] + _read_counts(counts, relations, equations, within,
                                                                            known)
            for name, count, at in read:
                if count and any(is_small_count(abs(v - count), records_below) for v in prior.get(name, ())):
                    shown[cut(at)], changed = at_least_label(records_below), True
                    break
    return shown


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` with ``noun`` agreeing with it, written as ``count_text`` writes counts: ``1 row``,
    ``0 rows``, ``1,780 rows`` (``plural``: an irregular one; default ``noun`` + "s"). Not for
    counts of persons (``person_count_text``). An error read "(1 such rows)" (new-user trial,
    session 30)."""
    return f"{count_text(n)} {noun if n == 1 else plural or noun + 's'}"


class Steps:
    """Progress lines of one stage: ``"<stage>: <step>, <count> <unit> (<seconds> s)"``, the
    time being that since the previous step (or since the stage started)."""

    def __init__(self, stage: str, small_count_threshold: int) -> None:
        self.stage = stage
        self.threshold = small_count_threshold
        self.t0 = time.monotonic()
        self.log = logging.getLogger(f"trd_spark.{stage}")

    def done(self, step: str, count: int | None = None, unit: str = "records", *, persons: bool = False) -> None:
        """Log that ``step`` finished; ``count`` of ``unit`` (``persons=True``: a count of
        person-level rows, shown as ``person_count_text`` says: 0, <T or T+, and said to be
        one: ``wrote scores, 20+ person-level rows, exact count not logged``; a bare ``20+
        rows`` read as a rounding error)."""
        now = time.monotonic()
        if count is None:
            counted = ""
        elif persons:
            counted = (f", {count_text(count, persons_below=self.threshold)} person-level {unit}"
                       + (", exact count not logged" if count else ""))
        else:
            counted = f", {count_text(count)} {unit}"
        self.log.info("%s: %s%s (%.1f s)", self.stage, step, counted, now - self.t0)
        self.t0 = now


class Heartbeat:
    """While a stage runs, a line every ``seconds`` from a background thread saying what Spark
    is doing (active jobs and stages, tasks done/total; ``SparkContext.statusTracker()``), so
    a long stage is never silent. With no Spark job active (the driver parses or matches), the
    line names the stage's last progress line and how long ago it was logged (``LastStep``):
    "no Spark job active" alone, minute after minute, read as a hang. A context manager: the
    thread stops when the block ends, normally or by an exception (an interrupt), waiting at
    most ``HEARTBEAT_STOP_WAIT_SECONDS`` for it."""

    def __init__(self, spark_context: SparkContext, label: str, seconds: float) -> None:
        self.sc = spark_context
        self.label = label
        self.seconds = seconds
        self.log = logging.getLogger("trd_spark.progress")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{label}", daemon=True)
        self._t0 = time.monotonic()
        self.last_step = LastStep(exclude=self.log.name)

    def __enter__(self) -> Heartbeat:
        self._t0 = time.monotonic()
        logging.getLogger(TRD_LOGGER).addHandler(self.last_step)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(TRD_LOGGER).removeHandler(self.last_step)
        self._stop.set()
        # A status call into a busy or dead JVM (after an interrupt) must not delay the
        # stage's end: the thread is a daemon and logs nothing once stopped.
        self._thread.join(HEARTBEAT_STOP_WAIT_SECONDS)

    def _beat(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                status = self.spark_status()
            except Exception as e:  # noqa: BLE001 - the JVM may be busy or gone (interrupt); never fail a stage
                status = f"Spark status unavailable ({type(e).__name__})"
            if not self._stop.is_set():
                self.log.info("%s: still running (%s elapsed); %s", self.label,
                              _elapsed(time.monotonic() - self._t0), status)

    def spark_status(self) -> str:
        """The active Spark jobs and stages with tasks done/total, e.g. ``"Spark job 12,
        stage 31 (count at ...): 5/8 tasks done, 2 running"``."""
        tracker = self.sc.statusTracker()
        stages = [s for s in (tracker.getStageInfo(i) for i in sorted(tracker.getActiveStageIds())) if s]
        if not stages:
            return "no Spark job active (work on the driver" + self.last_step.since() + ")"
        jobs = ", ".join(str(j) for j in sorted(tracker.getActiveJobsIds()))
        parts = [f"stage {s.stageId} ({s.name}): {s.numCompletedTasks}/{s.numTasks} tasks done, "
                 f"{s.numActiveTasks} running" for s in stages]
        # The tracker's job and stage lists are read one after the other: a job may end between
        # (seen on a toy run: "Spark job , stage 201 ...").
        return (f"Spark job {jobs}, " if jobs else "Spark ") + "; ".join(parts)


class LastStep(logging.Handler):
    """The last INFO-or-higher record of the ``trd_spark`` loggers (but ``exclude``, the
    heartbeat's own) while attached, for ``Heartbeat``'s line when the driver works alone. Its
    text is taken when the line is written, after the console's filters rewrote the record
    (``counts_with_separators``): the line repeats what the console already showed, never a
    DEBUG record (the run log's alone)."""

    # A long progress line is cut: the heartbeat line names the step, it does not repeat it.
    SHOWN_CHARS = 120

    def __init__(self, exclude: str) -> None:
        super().__init__(level=logging.INFO)
        self.exclude = exclude
        self.record: logging.LogRecord | None = None
        self.at = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name != self.exclude:
            self.record, self.at = record, time.monotonic()

    def since(self) -> str:
        """``; since 'pgs: matching 61 scores in dataset discovery' 1m05s ago``, or "" before
        any record."""
        record = self.record
        if record is None:
            return ""
        text = " ".join(record.getMessage().split())
        if len(text) > self.SHOWN_CHARS:
            # Cut between words, and drop the last words kept while they hold a digit: a count cut
            # from its qualifier ("20 or more", "20+", "1,234") would read as another count.
            cut = text[:self.SHOWN_CHARS - 3]
            words = cut.split(" ")[:-1]
            while words and any(c.isdigit() for c in words[-1]):
                words.pop()
            text = (" ".join(words) if words else cut) + " ..."  # one long word (a path): cut in it
        return f"; since '{text}' {_elapsed(time.monotonic() - self.at)} ago"


def _elapsed(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    return f"{minutes}m{s:02d}s" if minutes else f"{s}s"
