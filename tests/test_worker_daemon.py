"""The Python workers of a local master run pyspark's daemon without Spark's archives on
sys.path (trd_spark.worker_daemon, issue 16's fixed part: each task's
importlib.invalidate_caches() re-read them)."""

import os
import sys
import zipfile

from trd_spark.config import SparkSettings
from trd_spark.session import PYTHON_DAEMON_CONF, WORKER_DAEMON, spark_conf
from trd_spark.worker_daemon import path_without_spark_archives, spark_archives


def test_local_workers_import_pyspark_without_sparks_archives(spark):
    """A task of the shared session (local[2], the session's own conf): no existing archive
    under SPARK_HOME on the worker's sys.path (Spark puts pyspark.zip, py4j's zip and the
    spark-core jar there), pyspark imported from the installed package, and the task runs."""
    def worker_view(_):  # local: pickled by value (a worker cannot import this test module)
        import os
        import sys

        import pyspark

        return ([p for p in sys.path if p.endswith((".zip", ".jar")) and os.path.isfile(p)], pyspark.__file__,
                os.environ.get("SPARK_HOME"))

    archives, pyspark_file, spark_home = spark.sparkContext.parallelize([0], 1).map(worker_view).collect()[0]
    assert spark_home, "Spark gives its workers SPARK_HOME"
    home = os.path.realpath(spark_home) + os.sep
    assert [a for a in archives if os.path.realpath(a).startswith(home)] == []
    assert ".zip" not in pyspark_file and os.path.isfile(pyspark_file)


def test_daemon_module_set_for_local_masters_only():
    assert spark_conf(SparkSettings(master="local[2]"))[PYTHON_DAEMON_CONF] == WORKER_DAEMON
    assert spark_conf(SparkSettings(master="local-cluster[2,1,1024]"))[PYTHON_DAEMON_CONF] == WORKER_DAEMON
    # On a cluster the executors' Python need not have this package: pyspark's own daemon there.
    assert PYTHON_DAEMON_CONF not in spark_conf(SparkSettings(master="yarn"))


def test_daemon_module_not_set_for_another_worker_python(monkeypatch):
    monkeypatch.setenv("PYSPARK_PYTHON", "/usr/bin/python3-without-this-package")
    assert PYTHON_DAEMON_CONF not in spark_conf(SparkSettings(master="local[2]"))


def _archive(path, names):
    with zipfile.ZipFile(path, "w") as z:
        for name in names:
            z.writestr(name, "")
    return str(path)


def test_archives_dropped_only_when_pyspark_and_py4j_import_without_them(tmp_path):
    home = tmp_path / "spark"
    (home / "python" / "lib").mkdir(parents=True)
    (home / "jars").mkdir()
    pyspark_zip = _archive(home / "python" / "lib" / "pyspark.zip", ["pyspark/__init__.py"])
    py4j_zip = _archive(home / "python" / "lib" / "py4j-src.zip", ["py4j/__init__.py"])
    jar = _archive(home / "jars" / "spark-core.jar", ["org/x.class"])
    user_zip = _archive(tmp_path / "deps.zip", ["mylib/__init__.py"])  # a user's --py-files: not Spark's
    site = tmp_path / "site"
    for package in ("pyspark", "py4j"):
        (site / package).mkdir(parents=True)
        (site / package / "__init__.py").write_text("")
    path = [pyspark_zip, py4j_zip, jar, user_zip, str(tmp_path / "missing.zip"), str(site)]
    assert spark_archives(path, str(home)) == [pyspark_zip, py4j_zip, jar]
    assert path_without_spark_archives(path, str(home)) == [user_zip, str(tmp_path / "missing.zip"), str(site)]
    # pyspark (or py4j) only in Spark's archive, as on executors without a pip-installed pyspark: kept.
    no_site = path[:-1]
    assert path_without_spark_archives(no_site, str(home)) == no_site
    only_pyspark = [*path[:-1], str(site / "..")]  # site's parent: neither package there
    assert path_without_spark_archives(only_pyspark, str(home)) == only_pyspark
    assert path_without_spark_archives(path, None) == path


def test_worker_daemon_imports_only_the_standard_library_before_pyspark():
    """The daemon module runs first in every daemon: importing it pulls in no third-party
    module (pyspark comes from the path it leaves)."""
    import subprocess

    code = ("import sys; before = set(sys.modules); import trd_spark.worker_daemon; "
            "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
            "print(sorted(new - set(sys.stdlib_module_names) - {'trd_spark'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
