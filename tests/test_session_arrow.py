"""Arrow for pandas <-> Spark is on for the whole session and nothing switches it per call.

``matching.pandas_to_spark`` used to turn ``spark.sql.execution.arrow.pyspark.enabled`` on and
back around each call, while the pgs stage's warm-up thread (``stage.native_warm_up``) calls it
beside the driver's matching: the session-wide flag raced (one call could run without Arrow, and
the flag stay as the other thread left it). Now ``session.spark_conf`` sets it once and
``pandas_to_spark`` never writes it on a session that has it.
"""

from __future__ import annotations

import threading

import pandas as pd
import pyspark.sql.types as T
from pyspark.sql.conf import RuntimeConfig

from trd_spark.config import SparkSettings
from trd_spark.pgs.matching import pandas_to_spark
from trd_spark.session import spark_conf

# Spark's own name (session.ARROW_CONF), spelled out: the test reads Spark's flag, not ours.
ARROW_CONF = "spark.sql.execution.arrow.pyspark.enabled"

SCHEMA = T.StructType([T.StructField("pgs_id", T.StringType()), T.StructField("weight", T.DoubleType())])


def test_every_session_we_start_has_arrow_on():
    assert spark_conf(SparkSettings())[ARROW_CONF] == "true"
    # A user's spark.extra_conf may still say otherwise (their choice; pandas_to_spark turns it on).
    assert spark_conf(SparkSettings(extra_conf={ARROW_CONF: "false"}))[ARROW_CONF] == "false"


def test_pandas_to_spark_never_switches_arrow_from_two_threads(spark, monkeypatch):
    """Two threads convert at once (the warm-up and the driver's matching): every frame is
    right, the session keeps Arrow on throughout, and no call writes the flag."""
    assert spark.conf.get(ARROW_CONF) == "true"  # the shared session: session.start_session
    writes: list[tuple[str, str]] = []
    real_set = RuntimeConfig.set

    def recording_set(self, key, value):
        if key == ARROW_CONF:
            writes.append((key, value))
        return real_set(self, key, value)

    monkeypatch.setattr(RuntimeConfig, "set", recording_set)
    seen: list[str | None] = []
    results: dict[int, list[tuple[str, float]]] = {}
    errors: list[BaseException] = []

    def convert(i: int) -> None:
        try:
            pdf = pd.DataFrame({"pgs_id": [f"PGS{i:06d}", None], "weight": [float(i), 0.5]})
            frames = [pandas_to_spark(spark, pdf, SCHEMA) for _ in range(3)]
            seen.append(spark.conf.get(ARROW_CONF))
            results[i] = [(r.pgs_id, r.weight) for r in frames[-1].collect()]
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=convert, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert writes == []
    assert seen == ["true", "true"]
    assert results == {i: [(f"PGS{i:06d}", float(i)), (None, 0.5)] for i in (1, 2)}
    assert spark.conf.get(ARROW_CONF) == "true"
