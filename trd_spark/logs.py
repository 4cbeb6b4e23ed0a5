"""Logging setup, called only from entry points (CLI, jobs), never from library code."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str = "INFO", log_file: str | None = None) -> None:
    """Human-readable progress on stderr (and optionally a file). Py4J/Spark chatter is muted."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=getattr(logging, level.upper()), format=FORMAT, handlers=handlers, force=True)
    for noisy in ("py4j", "pyspark", "matplotlib", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
