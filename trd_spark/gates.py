"""Data-shape gates: one mechanism for every stage to turn an implausible count into a counted
WARNING or one ``InputDataError`` naming the step and the likely cause.

A stage measures, per gate, how many persons / records a check finds implausible out of how
many (aggregates only, never an identifier) and calls ``check_gate`` with the configured
``GateThreshold``; the returned record goes to the stage manifest (``notes.gates``).
``require_rows`` is the hard gate for tables a stage cannot work without.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from trd_spark.config import DataGates, GateThreshold
from trd_spark.errors import InputDataError
from trd_spark.logs import is_small_count, person_count_text

log = logging.getLogger(__name__)

OK, WARNING = "ok", "warning"


def check_gate(
    name: str, n: int | None, total: int | None, threshold: GateThreshold, *, what: str, cause: str, where: str,
    persons_below: int | None = None, records_below: int | None = None,
    shown_range: tuple[int, int] | None = None,
) -> dict:
    """Compare the share ``n / total`` with ``threshold`` (None counts are 0; an empty total is share 0).

    Returns {"n", "total", "share", "level"} (level ``ok`` or ``warning``; a warning is
    logged once). Raises ``InputDataError`` (``where``: the stage) when the share reaches
    ``threshold.error``. ``what`` describes the counted items ("persons with sex 'other'"),
    ``cause`` the likely cause and fix, both shown in the message. For counts of persons pass
    ``persons_below`` (``report.small_count_threshold``): the message then shows no count 1 to
    threshold-1 nor one its numbers give by arithmetic (``_shown``: labels only, no share), and
    the gate decides on what the labels leave (``share_range``), so that whether it fired tells
    nothing more about a count of 1 to threshold-1 either; the record (the stage manifest,
    internal) keeps the exact counts. A person gate's error names its config key, not its level
    (``_error_level_text``).

    For counts of OMOP records pass ``records_below`` (the same threshold) instead: the message
    shows and the gate decides as for persons (labels ``0``, ``<T``, ``T+``, no share, decided
    on ``share_range``), the error names its level. k records are held by 1..k persons, and a
    record gate's counts are sums or parts of the phenotypes stage's record lines: exact, they
    gave a small count back by arithmetic across lines (``records_after_cutoff``' count less the
    follow-up lines' ``n_after_cutoff``: the records after death dated after the cutoff; a
    WARNING at 1% of an exact 1,500 records put a ``<20`` of ``n_before_birth_year`` at 15..19;
    privacy round 6, session 37). Raises ValueError when both thresholds are given.

    ``shown_range``: for a record gate whose ``n`` is a sum of counts the log lines show (each
    exact or a label: ``logs_range``), the least and largest ``n`` those lines leave. A count of
    T or more is otherwise decided on exactly, and whether it warned bounded a part the lines
    show as a label (condition's 100 records before the birth year exact, drug's ``<20``, 10,000
    records and a 1.1% gate: a WARNING put the ``<20`` at 10..19; privacy round 8, session 39):
    with it the gate decides on the range, as a small count on its label.
    """
    if persons_below is not None and records_below is not None:
        raise ValueError(f"gate {name}: counts of persons or of records, not both")
    below = persons_below if persons_below is not None else records_below
    n, total = int(n or 0), int(total or 0)
    share = n / total if total else 0.0
    record = {"n": n, "total": total, "share": round(share, 6), "level": OK}
    counts, shown_share = _shown(n, total, share, below)
    message = f"gate {name}: {counts} {what}{shown_share}; likely cause: {cause}"
    lowest, highest = share_range(n, total, below)
    if shown_range is not None and total:
        lowest, highest = min(lowest, shown_range[0] / total), max(highest, min(1.0, shown_range[1] / total))
    open_share = label_reach((lowest, highest), labels=2)  # the message's two counts, n and total
    if n and threshold.error is not None and lowest >= threshold.error:
        raise InputDataError(f"{message}{_error_level_text(name, threshold.error, persons_below)}", where=where)
    if n and threshold.warn is not None and highest >= threshold.warn:
        log.warning("%s: %s (warning at >= %s%%%s)", where, message, f"{100 * threshold.warn:g}", open_share)
        record["level"] = WARNING
    return record


def label_reach(shares: tuple[float, float], labels: int) -> str:
    """What a WARNING decided on the largest share its labels leave (``share_range``'s
    ``(least, largest)`` as ``shares``) adds after the level it names: that a count read as
    those labels can reach the level, not that the count does; "" when the share is exact (its
    least equals its largest). ``labels``: how many counts of the message are labels (1: "its
    label", as ``pgs.sample_sex``'s WARNING; more: "these labels", as ``check_gate``'s)."""
    least, largest = shares
    if least == largest:
        return ""
    return f", which a count read as {'its label' if labels == 1 else 'these labels'} can reach"


def _error_level_text(name: str, error: float, persons_below: int | None) -> str:
    """How a gate's error says why it stopped the run: its level for records ("(error at >=
    50%)"); for persons the config key that holds the level and what to do, not the level
    itself. Pasted into a ticket, "(error at >= 50%)" told that a count a later export of the
    same data may hide is at least half its total; whoever knows the config still reads that
    from the key, so the report's audit states it too (``known_levels``)."""
    if persons_below is None:
        return f" (error at >= {100 * error:g}%)"
    return (f"; the share reached this gate's error level (phenotypes.gates.{name}.error): fix the input, "
            f"or raise or unset that level if such data are expected")


def known_levels(name: str, record: dict, configured: GateThreshold, persons_below: int) -> list[float]:
    """The levels (shares) at which a message of person gate ``name`` about the counts of
    ``record`` (its stage manifest record: ``n``, ``total``) could have been given by a run of
    the same data: this config's warn and error levels (``configured``) and the defaults'
    (``config.DataGates``), sorted. An earlier run that stopped at one (the run before the user
    raised it) leaves its message in a ticket, which tells count >= level x total; the report's
    audit states the largest level the count reaches (``report.tables.gate_outcomes``). [] for a
    count of 1 to ``persons_below`` - 1: its gate decides on its label (``share_range``), so no
    message tells more of it than the label. Raises ValueError for a ``name`` that is no
    ``config.DataGates`` gate (read as a gate without defaults, it left the default levels out
    of the audit silently)."""
    if name not in DataGates.model_fields:
        raise ValueError(f"{name!r} is not a person gate of phenotypes.gates (config.DataGates)")
    if is_small_count(int(record["n"]), persons_below):
        return []
    default = getattr(DataGates(), name)
    return sorted({level for t in (configured, default) for level in (t.warn, t.error) if level is not None})


class CountLabel(NamedTuple):
    """How a gate message shows a count (``text``) and the least and largest count a reader of
    the message can tell from it (``least``, ``largest``)."""

    text: str
    least: int
    largest: int


def count_label(x: int, persons_below: int | None) -> CountLabel:
    """The one derivation of a gate count's label (``_shown``'s text, ``share_range``'s bounds):
    without ``persons_below`` the count itself, exact; for persons or OMOP records (T =
    ``persons_below``, ``check_gate``'s ``persons_below`` or ``records_below``) as
    ``logs.person_count_text`` shows it, a count of 1 to T-1 being any of them (``<T``) and zero
    and counts of T or more exact (``0``, ``T+``; the export shows them or protects them)."""
    if persons_below is None:
        return CountLabel(f"{x:,}", x, x)
    least, largest = (1, persons_below - 1) if is_small_count(x, persons_below) else (x, x)
    return CountLabel(person_count_text(x, persons_below), least, largest)


def share_range(n: int, total: int, persons_below: int | None) -> tuple[float, float]:
    """The least and largest share ``n / total`` a reader of the gate's message can tell: the
    exact share without ``persons_below``; for persons, a count of 1 to T-1 is any of them
    (its label ``<T``; T = ``persons_below``), zero and counts of T or more are exact
    (``count_label``). A person gate warns when the largest reaches its level and stops the
    run when the least does, so its outcome depends on a small count only through its label:
    deciding on the exact share, a WARNING (or its absence) put a small count above (below)
    level x total, and with the export's total (1,900 persons, a 1% gate) a warning gave the
    count exactly (19; tests/test_privacy_logs.py). A small count thus warns whenever some
    count of its label could reach the level (a false alarm on datasets under (T-1) / level
    persons) and stops a run only when every such count would."""
    share = n / total if total else 0.0
    n_label, total_label = count_label(n, persons_below), count_label(total, persons_below)
    if (n_label.least, n_label.largest, total_label.least, total_label.largest) == (n, n, total, total):
        return share, share
    return n_label.least / total_label.largest, min(1.0, n_label.largest / total_label.least)


def _shown(n: int, total: int, share: float, persons_below: int | None) -> tuple[str, str]:
    """(``"<n> of <total>"``, ``" (<share>)"``) as a gate message shows them (``count_label``).
    For persons (``persons_below`` = T) both counts as ``logs.person_count_text`` shows them
    (0, <T, T+) and no share: an exact count of T or more, or a share of one (1.4% of 500 gave 7;
    35 of 2,983 with the export's 2988 gave 5), can give back a count the export hides. That the
    gate fired says the share reached the level the message names, no more."""
    counts = f"{count_label(n, persons_below).text} of {count_label(total, persons_below).text}"
    return counts, f" ({share:.1%})" if persons_below is None else ""


def logs_range(parts: list[tuple[int, str]], records_below: int, largest: int) -> tuple[int, int]:
    """The least and largest sum of ``parts`` ((count, how the log lines show it)) a reader of the
    lines can tell: an exact text is its count, ``<T`` is 1..T-1, ``T+`` is T..``largest`` (the
    gate's total: no line bounds it more), ``0`` is 0 (T = ``records_below``). For
    ``check_gate``'s ``shown_range``."""
    least = most = 0
    for n, text in parts:
        if text == f"{n:,}":
            least, most = least + n, most + n
        elif text == f"<{records_below}":
            least, most = least + 1, most + records_below - 1
        else:  # T+, or any other label: at least T, at most the total
            least, most = least + records_below, most + largest
    return least, min(most, largest)


def require_rows(empty: list[str], *, cause: str, where: str) -> None:
    """Raise ``InputDataError`` when any required table (listed in ``empty``) has no rows."""
    if empty:
        raise InputDataError(f"required table(s) {', '.join(empty)} have no rows; likely cause: {cause}", where=where)
