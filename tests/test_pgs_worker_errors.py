"""pgs.stage.hail_errors on exceptions raised inside Spark tasks: the native engine reads and
scores bed/pgen/BGEN files in Python workers, whose exceptions reach the driver as a worker
traceback inside a Java error (Py4JJavaError, or Hail's FatalError around it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from trd_spark.config import load_config
from trd_spark.errors import InputDataError
from trd_spark.pgs import genotypes, stage

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "pgs"


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
    plink2 = shutil.which("plink2")
    assert plink2, "plink2 must be on PATH (apt-get install plink2)"
    subprocess.run([plink2, "--threads", "1", "--vcf", str(DATA / "tiny.vcf"), "--make-pgen", "--out",
                    str(tmp_path / "t")], check=True, capture_output=True)
    pgen = tmp_path / "t.pgen"
    pgen.write_bytes(pgen.read_bytes()[:-7])  # the header is whole: the reader fails at the variants
    (tmp_path / "panel.yaml").write_text(
        "domains: [physical]\nscores:\n  - {pgs_id: PGS000901, trait: Tiny trait, domain: physical}\n")
    (tmp_path / "c.yaml").write_text(f"""
release: t1
output_root: {tmp_path}/out
datasets:
  - {{name: cut, role: discovery, genotypes: {{format: pgen, path: {tmp_path}/t}}}}
ancestry: {{path: {tmp_path}/ancestry.tsv}}
pgs:
  scoring_files: ["{DATA / 'PGS000901.txt'}"]
  trait_panel: {tmp_path}/panel.yaml
omop: {{path: {tmp_path}/omop, data_cutoff_date: 2023-07-01}}
phenotypes:
  concept_sets: {REPO / 'conf' / 'concept_sets.yaml'}
  primary_definition: ad3
  trd_definitions:
    - {{name: ad3, rule: antidepressant_sequence, n_trials: 3}}
""")
    cfg = load_config(tmp_path / "c.yaml")
    r = stage.match_dataset(hl, spark, cfg, "cut", stage.load_scoring_files(spark, cfg, "GRCh38"))
    with pytest.raises(InputDataError) as e:
        stage.score_dataset(hl, cfg, r).to_pandas()
    message = str(e.value)
    assert message.startswith(f"datasets.cut.genotypes {tmp_path}/t: reading the genotypes failed: RuntimeError: "), \
        message
    assert "\n" not in message and "Traceback" not in message
    # pgenlib's 'read_range() error 4': digits as '#', as a shape in numpy's text would count samples
    assert not any(c.isdigit() for c in message.split("reading the genotypes failed:")[1]), message
