"""Shared setup of the tests that run ``cli._run`` on a local release up to its lock, without a
Spark session or real inputs (tests/test_rerun_s41.py, tests/test_review_s41_mutants.py: one copy
of the same eight patches and held-lock run before session 43).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import pytest

from trd_spark import cli
from trd_spark.config import Config
from trd_spark.errors import LockedError
from trd_spark.releases import LocalFs, ReleaseLock


def prepared_run(monkeypatch: pytest.MonkeyPatch, cfg: Config, *, check_inputs: Callable[..., Any] | None = None,
                 session: Callable[..., Any] | None = None) -> argparse.Namespace:
    """The parsed ``trd-spark run --release r1`` for ``cli._run`` on ``cfg`` (``cli._load`` gives it),
    with the output root's check, the no-Spark skip, the scoring files' parse and the run log made
    no-ops; ``check_inputs`` stands for ``preflight.check_inputs`` (default: passes) and
    ``session``, when given, for ``cli._session`` (the Spark start)."""
    monkeypatch.setattr(cli, "_load", lambda _args: cfg)
    monkeypatch.setattr("trd_spark.preflight.check_inputs", check_inputs or (lambda *_a, **_k: None))
    monkeypatch.setattr("trd_spark.preflight.check_output_root", lambda *_a, **_k: None)
    monkeypatch.setattr("trd_spark.pipeline.skip_all_without_spark", lambda *_a, **_k: None)
    if session is not None:
        monkeypatch.setattr(cli, "_session", session)
    monkeypatch.setattr("trd_spark.pipeline.scoring_files_parsed_ahead", lambda *_a, **_k: nullcontext({}))
    monkeypatch.setattr(cli, "_open_run_log", lambda *_a: None)
    args = cli.build_parser().parse_args(["run", "--release", "r1"])
    args.warnings = None
    return args


def refused_while_another_run_holds_the_lock(cfg: Config, args: argparse.Namespace) -> None:
    """``cli._run(args)`` while another (live: this process) run holds ``cfg``'s local release lock
    raises LockedError (exit 6); the other run's lock is released afterwards whatever happened."""
    other = ReleaseLock(cfg, LocalFs())
    other.acquire()
    try:
        with pytest.raises(LockedError):
            cli._run(args, None)  # noqa: SLF001
    finally:
        other.release_lock()
