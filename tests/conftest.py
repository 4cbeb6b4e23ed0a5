"""Shared fixtures: one Spark + Hail session for the whole test run (local[2], loopback, UI off)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trd_spark.config import SparkSettings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The one SparkSession (with Hail initialised) shared by every test."""
    from trd_spark.session import start_session

    tmp = tmp_path_factory.mktemp("spark")
    settings = SparkSettings(master="local[2]", driver_memory="3g", shuffle_partitions=4, tmp_dir=str(tmp))
    session = start_session(settings)
    yield session


@pytest.fixture(scope="session")
def hl(spark):
    """Hail, initialised on the shared session."""
    import hail

    return hail
