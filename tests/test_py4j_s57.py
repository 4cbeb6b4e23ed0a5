"""The driver's py4j lookups (session 57 py4j): a class named by its simple name or its full
name costs no search of the class path.

py4j resolves ``jvm.functions`` by trying each star import of PySpark's JVM view in turn, and
``jvm.org.apache.hadoop.fs.Path`` by asking the JVM about each dotted part; every miss is a
search of every jar (~0.2 ms of the driver JVM's CPU). A toy run made ~7,000 ``functions`` and
~2,300 dotted-part lookups (benchmarks/RESULTS.md "Session 57 py4j").
"""

from __future__ import annotations

import pytest
from py4j.java_gateway import java_import
from py4j.protocol import REFL_GET_UNKNOWN_SUB_COMMAND_NAME, REFLECTION_COMMAND_NAME

from trd_spark.io import Fs, java_class, write_table
from trd_spark.schemas import PGS_SCORES, check_spark, check_struct
from trd_spark.session import PYSPARK_SIMPLE_NAMES, pin_pyspark_classes

# PySpark 3.5's own imports into its JVM view (pyspark.java_gateway.launch_gateway).
PYSPARK_IMPORTS = ("org.apache.spark.SparkConf", "org.apache.spark.api.java.*", "org.apache.spark.api.python.*",
                   "org.apache.spark.ml.python.*", "org.apache.spark.mllib.api.python.*", "org.apache.spark.resource.*",
                   "org.apache.spark.sql.*", "org.apache.spark.sql.api.python.*", "org.apache.spark.sql.hive.*",
                   "scala.Tuple2")


def _single_imports(gateway, jvm=None) -> dict[str, str]:
    """The single-import map (simple name -> class name) of py4j's JVM view ``jvm`` (the
    gateway's default view, PySpark's ``sc._jvm``, when None), read in the JVM."""
    view = (gateway.java_gateway_server.getGateway().getDefaultJVMView() if jvm is None
            else jvm._jvm_object)  # noqa: SLF001 - a new view's Java object
    return {str(k): str(v) for k, v in view.getSingleImportsMap().items()}


@pytest.fixture
def lookups(spark, monkeypatch):
    """The names the driver asks the JVM to resolve (py4j's "unknown member" reflection
    command: a simple name through the view's imports, or a dotted part), in order."""
    client = spark.sparkContext._jvm._gateway_client  # noqa: SLF001
    names: list[str] = []
    send = client.send_command
    prefix = REFLECTION_COMMAND_NAME + REFL_GET_UNKNOWN_SUB_COMMAND_NAME

    def counting(command, *args, **kwargs):
        if command.startswith(prefix):
            names.append(command[len(prefix):].split("\n", 1)[0])
        return send(command, *args, **kwargs)

    monkeypatch.setattr(client, "send_command", counting)
    return names


def test_the_session_pins_the_classes_pyspark_names_as_its_star_imports_resolve_them(spark):
    """After ``start_session`` the view holds each of ``PYSPARK_SIMPLE_NAMES`` as a single import
    (on 6ff58c5 it held none: every ``F.col`` searched the class path), and each names the class
    a view with only PySpark's imports resolves it to: the same classes, found sooner."""
    gateway = spark.sparkContext._gateway  # noqa: SLF001
    single = _single_imports(gateway)
    plain = gateway.new_jvm_view()
    for name in PYSPARK_IMPORTS:
        java_import(plain, name)
    assert set(_single_imports(gateway, plain)) == {"SparkConf", "Tuple2"}
    expected = {name: getattr(plain, name)._fqn for name in PYSPARK_SIMPLE_NAMES}  # noqa: SLF001
    assert expected["functions"] == "org.apache.spark.sql.functions"
    assert expected["PythonUtils"] == "org.apache.spark.api.python.PythonUtils"
    assert {name: single.get(name) for name in PYSPARK_SIMPLE_NAMES} == expected
    assert pin_pyspark_classes(spark.sparkContext) == expected  # idempotent


def test_file_operations_and_table_writes_look_up_only_pinned_names(spark, tmp_path, lookups):
    """``Fs`` and ``write_table``'s Observation wait (``io.observed``) name their JVM classes in
    full (``io.java_class``): Fs resolves no name, a table write only pinned ones and the dotted
    parts of PySpark's own ``Observation`` class (pyspark.sql.observation names it so). On
    6ff58c5 ``Fs.exists`` asked for org, org.apache, org.apache.hadoop, org.apache.hadoop.fs and
    Path, and each write for the scala.concurrent and java.util.concurrent parts of its wait."""
    fs = Fs(spark)
    path = str(tmp_path / "dir" / "note.txt")
    assert not fs.exists(path)
    fs.mkdirs(str(tmp_path / "dir"))
    fs.write_text(path, "text")
    assert fs.exists(path) and fs.listdir(str(tmp_path / "dir")) == ["note.txt"]
    assert fs.read_text(f"file://{path}") == "text"
    assert lookups == []
    assert write_table(spark.range(7), str(tmp_path / "t.parquet")) == 7
    observation = {"org", "org.apache", "org.apache.spark", "org.apache.spark.sql", "org.apache.spark.sql.Observation"}
    assert "functions" in lookups  # the counting wrapper sees the write's F.count
    # Under load the Observation's wait can time out (``observed`` then reads the files back): PySpark's
    # conversion of that Py4J error looks up Utils and TypeUtil by their dotted parts (CI-style run at
    # load ~45). Allowed, not required; what 6ff58c5 asked (the wait's scala.concurrent and
    # java.util.concurrent parts) is not.
    timeout_conversion = {"py4j", "py4j.reflection", "py4j.reflection.TypeUtil", "org.apache.spark.util",
                          "org.apache.spark.util.Utils"}
    assert observation <= set(lookups)
    assert set(lookups) - set(PYSPARK_SIMPLE_NAMES) - timeout_conversion == observation
    assert not [name for name in lookups if name.startswith(("scala", "java"))]


def test_java_class_calls_the_named_class(spark):
    """``java_class`` names a class in full; its static members and constructor work as through the view."""
    system = java_class(spark, "java.lang.System")
    assert str(system.getProperty("java.home")) == str(spark.sparkContext._jvm.java.lang.System.getProperty("java.home"))  # noqa: SLF001
    assert str(java_class(spark, "org.apache.hadoop.fs.Path")("file:///a/b").getName()) == "b"


def test_check_struct_is_check_spark_without_the_select(spark):
    """``pipeline.check_upstream_schemas`` checks a table's Spark schema alone (``check_struct``):
    the same error as ``check_spark``, and the undeclared columns returned, without a plan."""
    from pyspark.sql import functions as F

    from trd_spark.errors import TrdSparkError

    df = spark.createDataFrame([], PGS_SCORES.struct).withColumn("extra", F.lit(1))
    assert check_struct(df.schema, PGS_SCORES, extra_ok=True) == ["extra"]
    assert check_spark(df, PGS_SCORES, extra_ok=True).columns == [*PGS_SCORES.names, "extra"]
    for check in (lambda: check_struct(df.schema, PGS_SCORES), lambda: check_spark(df, PGS_SCORES)):
        with pytest.raises(TrdSparkError, match=r"table scores does not match its schema: unexpected columns \['extra'\]"):
            check()
    missing = df.drop(PGS_SCORES.names[0])
    with pytest.raises(TrdSparkError, match=f"missing column {PGS_SCORES.names[0]}"):
        check_struct(missing.schema, PGS_SCORES, extra_ok=True)
