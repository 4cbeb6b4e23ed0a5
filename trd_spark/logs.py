"""Logging setup, called only from entry points (CLI, jobs), never from library code.

Also counts WARNING records of the ``trd_spark`` loggers per pipeline stage (suspicious but
valid input: duplicate variants dropped, absent concepts, end dates before starts ...), so a
run summary and each stage manifest can say how many warnings a stage raised. The counter is
attached to the ``trd_spark`` logger on import (``basicConfig(force=True)`` only replaces
root handlers), so it counts whether or not ``configure_logging`` ran.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Warnings raised outside any stage (config loading, preflight) are counted under this key.
OUTSIDE_STAGES = "run"


class WarningCounter(logging.Handler):
    """Counts WARNING records (not ERROR) by the stage active when they were logged."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.counts: Counter[str] = Counter()
        self.stage: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            self.counts[self.stage or OUTSIDE_STAGES] += 1

    def count(self, stage: str) -> int:
        return self.counts.get(stage, 0)

    @contextmanager
    def stage_scope(self, stage: str) -> Iterator[None]:
        """Count warnings under ``stage`` (restarting its count) while the block runs."""
        previous, self.stage = self.stage, stage
        self.counts[stage] = 0
        try:
            yield
        finally:
            self.stage = previous


WARNINGS = WarningCounter()
if WARNINGS not in logging.getLogger("trd_spark").handlers:
    logging.getLogger("trd_spark").addHandler(WARNINGS)


def configure_logging(level: str = "INFO", log_file: str | None = None) -> None:
    """Human-readable progress on stderr (and optionally a file). Py4J/Spark chatter is muted."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=getattr(logging, level.upper()), format=FORMAT, handlers=handlers, force=True)
    for noisy in ("py4j", "pyspark", "matplotlib", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
