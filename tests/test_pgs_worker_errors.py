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
