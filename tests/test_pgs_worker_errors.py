"""pgs.stage.hail_errors on exceptions raised inside Spark tasks: the native engine reads and
scores bed/pgen/BGEN files in Python workers, whose exceptions reach the driver as a worker
traceback inside a Java error (Py4JJavaError, or Hail's FatalError around it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_field_cases_pgs import case_config, plink2_fileset, run_scores

from trd_spark.errors import InputDataError
from trd_spark.pgs import genotypes, stage

DATA = Path(__file__).resolve().parent / "data" / "pgs"


def test_a_bug_in_a_spark_task_is_no_input_error(spark):
    """A TypeError raised by trd_spark's code in a task passes through with the worker's
    traceback, as on the driver (test_field_cases_pgs::test_a_bug_in_our_code_is_not_reported_as_
    bad_genotypes). Before, it became 'reading the genotypes failed: PythonException: Traceback
    (most recent call last):' (exit 3, as bad input; without Hail's error handler 'An error
    occurred while calling z:org.apache.spark.api.python.PythonRDD.collectAndServe.')."""
    with pytest.raises(Exception) as e, stage.hail_errors("datasets.d.genotypes x"):
        spark.sparkContext.parallelize([None], 1).map(genotypes.compression).collect()
    assert not isinstance(e.value, InputDataError)
    assert "genotypes.py" in str(e.value) and "TypeError" in str(e.value)


def test_a_cut_pgen_is_one_line_naming_the_reader_s_error(hl, spark, tmp_path):
    """A .pgen cut short (a partial copy), read by the native engine's tasks: one InputDataError
    line naming the dataset and pgenlib's own error (its digits as '#'). Before, the line was
    the Java wrapper's first one, 'reading the genotypes failed: PythonException: Traceback
    (most recent call last):', which says nothing of the file."""
    prefix = plink2_fileset(DATA / "tiny.vcf", tmp_path / "t", "pgen")
    pgen = Path(f"{prefix}.pgen")
    pgen.write_bytes(pgen.read_bytes()[:-7])  # the header is whole: the reader fails at the variants
    cfg = case_config(tmp_path, prefix, str(DATA / "PGS000901.txt"), fmt="pgen")
    with pytest.raises(InputDataError) as e:
        run_scores(hl, spark, cfg)
    message = str(e.value)
    assert message.startswith(f"datasets.d.genotypes {tmp_path}/t: reading the genotypes failed: RuntimeError: "), \
        message
    assert "\n" not in message and "Traceback" not in message
    # pgenlib's 'read_range() error 4': digits as '#', as a shape in numpy's text would count samples
    assert not any(c.isdigit() for c in message.split("reading the genotypes failed:")[1]), message


def test_a_value_or_key_error_of_our_code_is_a_bug_not_bad_genotypes(spark):
    """A ValueError, KeyError or ZeroDivisionError raised in trd_spark's own frame (on the driver
    or in a Spark task) is a check or lookup we got wrong: it passes through with its traceback
    (exit 1). Before, only AttributeError/TypeError/NameError/AssertionError did, and a KeyError
    of ours read 'reading the genotypes failed: 'x'' (exit 3, the user sent to sound files). The
    same types raised outside our code (json, here) stay one input-error line."""
    import json

    from trd_spark.config import PACKAGE_DIR

    for code, kind in (("{}['x']", KeyError), ("int('x')", ValueError), ("1 // 0", ZeroDivisionError)):
        with pytest.raises(kind), stage.hail_errors("datasets.d.genotypes x"):
            exec(compile(code, str(PACKAGE_DIR / "bug.py"), "exec"))
    with pytest.raises(InputDataError, match=r"^datasets\.d\.genotypes x: reading the genotypes failed: "), \
            stage.hail_errors("datasets.d.genotypes x"):
        json.loads("{")  # a ValueError (JSONDecodeError) of the standard library's frame
    # In a Spark task: a function whose code is a package file's (pickled by value to the worker).
    ns: dict = {"__name__": "trd_spark_bug"}
    exec(compile("def lookup(x):\n    return {}[x]\n", str(PACKAGE_DIR / "bug.py"), "exec"), ns)
    with pytest.raises(Exception) as e, stage.hail_errors("datasets.d.genotypes x"):
        spark.sparkContext.parallelize(["x"], 1).map(ns["lookup"]).collect()
    assert not isinstance(e.value, InputDataError) and "KeyError" in str(e.value)


def _worker_raises(kind: str):
    def task(_):
        if kind == "memory":
            raise MemoryError
        import importlib

        return importlib.import_module("trd_spark_no_such_module")
    return task


@pytest.mark.parametrize("kind", ["memory", "module"])
def test_a_worker_out_of_memory_or_missing_a_module_says_so(spark, kind):
    """A Python worker's MemoryError or ModuleNotFoundError is the executors' environment, not
    the genotypes: one EnvironmentFault line (exit 1) naming the worker's error and what to give
    it. Before, both were 'InputDataError: ... reading the genotypes failed: MemoryError' (exit 3)."""
    from trd_spark.errors import EnvironmentFault

    with pytest.raises(EnvironmentFault) as e, stage.hail_errors("datasets.d.genotypes x"):
        spark.sparkContext.parallelize([1], 1).map(_worker_raises(kind)).collect()
    message = str(e.value)
    assert e.value.exit_code == 1 and "\n" not in message, message
    assert message.startswith("datasets.d.genotypes x: a Spark task's Python worker "), message
    expected = ("ran out of memory (MemoryError); not an input error: give it more memory (spark.executor_memory"
                if kind == "memory" else "cannot import a module (ModuleNotFoundError: No module named "
                "'trd_spark_no_such_module'); not an input error")
    assert expected in message, message


def test_memory_running_out_on_the_driver_or_in_a_jvm_says_so():
    """The driver's MemoryError and a JVM's java.lang.OutOfMemoryError (the text of a Py4J error
    around it) are EnvironmentFault lines too, not bad input."""
    from trd_spark.errors import EnvironmentFault

    with pytest.raises(EnvironmentFault, match=r"the driver ran out of memory \(MemoryError\).*spark\.driver_memory"), \
            stage.hail_errors("datasets.d.genotypes x"):
        raise MemoryError
    java = "An error occurred while calling o12.collect.\n: java.lang.OutOfMemoryError: Java heap space\n\tat x.y(z)"
    with pytest.raises(EnvironmentFault, match=r"a Spark JVM ran out of memory \(java\.lang\.OutOfMemoryError: "
                       r"Java heap space\)"), stage.hail_errors("datasets.d.genotypes x"):
        raise RuntimeError(java)


def _read_with_wrong_dtype(kind: str):
    pgen = str(next((DATA.parent / "field_cases" / "pgs").glob("*/pgen/data.pgen")))

    def task(_):
        import numpy as np
        import pgenlib

        with pgenlib.PgenReader(pgen.encode()) as reader:
            if kind == "element":  # RuntimeError: Invalid read_dosages() floatarr_out array element type
                reader.read_dosages(0, np.empty(reader.get_raw_sample_ct(), np.int32), 1)
            else:  # ValueError: Buffer dtype mismatch (raised in pgenlib's frame, not ours)
                reader.read_dosages_list(np.zeros(1, np.int64), np.empty((1, reader.get_raw_sample_ct())))
    return task


@pytest.mark.parametrize("kind", ["element", "buffer"])
def test_pgenlib_refusing_our_array_dtype_is_a_bug_not_bad_genotypes(spark, kind):
    """pgenlib's RuntimeError 'Invalid ... array element type' and Cython's ValueError 'Buffer
    dtype mismatch' mean our code handed it the wrong array: on the driver and in a Spark task
    they pass through with their traceback (exit 1). Before, both read 'reading the genotypes
    failed: RuntimeError: Invalid read_dosages() ...' (exit 3, the user sent to sound files)."""
    with pytest.raises((RuntimeError, ValueError)), stage.hail_errors("datasets.d.genotypes x"):
        _read_with_wrong_dtype(kind)(None)
    with pytest.raises(Exception) as e, stage.hail_errors("datasets.d.genotypes x"):
        spark.sparkContext.parallelize([0], 1).map(_read_with_wrong_dtype(kind)).collect()
    assert not isinstance(e.value, InputDataError), e.value
    assert ("array element type" if kind == "element" else "Buffer dtype mismatch") in str(e.value)
