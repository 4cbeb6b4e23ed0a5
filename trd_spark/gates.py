"""Data-shape gates: one mechanism for every stage to turn an implausible count into a counted
WARNING or one ``InputDataError`` naming the step and the likely cause.

A stage measures, per gate, how many persons / records a check finds implausible out of how
many (aggregates only, never an identifier) and calls ``check_gate`` with the configured
``GateThreshold``; the returned record goes to the stage manifest (``notes.gates``).
``require_rows`` is the hard gate for tables a stage cannot work without.
"""

from __future__ import annotations

import logging
import math

from trd_spark.config import GateThreshold
from trd_spark.errors import InputDataError
from trd_spark.logs import count_text, is_small_count, suppressed_label

log = logging.getLogger(__name__)

OK, WARNING = "ok", "warning"


def check_gate(
    name: str, n: int | None, total: int | None, threshold: GateThreshold, *, what: str, cause: str, where: str,
    persons_below: int | None = None,
) -> dict:
    """Compare the share ``n / total`` with ``threshold`` (None counts are 0; an empty total is share 0).

    Returns {"n", "total", "share", "level"} (level ``ok`` or ``warning``; a warning is
    logged once). Raises ``InputDataError`` (``where``: the stage) when the share reaches
    ``threshold.error``. ``what`` describes the counted items ("persons with sex 'other'"),
    ``cause`` the likely cause and fix, both shown in the message. For counts of persons pass
    ``persons_below`` (``report.small_count_threshold``): the message then shows no count 1 to
    threshold-1 nor one its numbers give by arithmetic (``_shown``); the record (the stage
    manifest, internal) keeps the exact counts.
    """
    n, total = int(n or 0), int(total or 0)
    share = n / total if total else 0.0
    record = {"n": n, "total": total, "share": round(share, 6), "level": OK}
    counts, shown_share = _shown(n, total, share, persons_below)
    message = f"gate {name}: {counts} {what}{shown_share}; likely cause: {cause}"
    if n and threshold.error is not None and share >= threshold.error:
        raise InputDataError(f"{message} (error at >= {threshold.error:.0%})", where=where)
    if n and threshold.warn is not None and share >= threshold.warn:
        log.warning("%s: %s (warning at >= %.0f%%)", where, message, 100 * threshold.warn)
        record["level"] = WARNING
    return record


def _shown(n: int, total: int, share: float, persons_below: int | None) -> tuple[str, str]:
    """(``"<n> of <total>"``, ``" (<share>)"``) as a gate message shows them. For persons
    (``persons_below`` = T) no count 1..T-1 can be read from them: n, total (``logs.count_text``)
    and the rest ``total - n`` (995 of 1,000 would give 5) in 1..T-1 are shown as "<T" / "all
    but <T", and the share then only as the bound those labels give (1.4% of 500 would give 7)."""
    exact = f"{n:,} of {total:,}", f" ({share:.1%})"
    if persons_below is None:
        return exact
    t = persons_below
    shown_total = count_text(total, persons_below=t)
    if is_small_count(total, t):
        return f"{count_text(n, persons_below=t)} of {shown_total}", ""
    if is_small_count(n, t):
        return f"{suppressed_label(t)} of {shown_total}", f" (under {math.ceil(1000 * t / total) / 10:.1f}%)"
    if is_small_count(total - n, t):
        return (f"all but {suppressed_label(t)} of {shown_total}",
                f" (over {math.floor(1000 * (total - t) / total) / 10:.1f}%)")
    return exact


def require_rows(empty: list[str], *, cause: str, where: str) -> None:
    """Raise ``InputDataError`` when any required table (listed in ``empty``) has no rows."""
    if empty:
        raise InputDataError(f"required table(s) {', '.join(empty)} have no rows; likely cause: {cause}", where=where)
