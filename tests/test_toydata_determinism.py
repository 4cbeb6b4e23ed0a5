"""The toy data set is byte-identical for the same arguments and changes with the seed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from trd_spark.errors import ConfigError
from trd_spark.toydata import generate_toy_data

EXPECTED_FILES = {
    "genotypes/discovery.vcf.bgz", "genotypes/discovery.vcf.bgz.tbi",
    "genotypes/replication_wgs.vcf.bgz", "genotypes/replication_wgs.vcf.bgz.tbi",
    "genotypes/replication_array.vcf.bgz", "genotypes/replication_array.vcf.bgz.tbi",
    *{f"scores/PGS9000{k:02d}.txt.gz" for k in range(1, 11)},
    *{f"omop/{t}.parquet" for t in ("person", "observation_period", "condition_occurrence", "drug_exposure",
                                    "procedure_occurrence", "device_exposure", "observation", "death", "concept",
                                    "concept_ancestor")},
    "ancestry/ancestry_preds.tsv", "ancestry/relatedness.tsv", "ancestry/relatedness_flagged_samples.tsv",
    "truth.json", "truth_persons.parquet",
}


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    generate_toy_data(str(tmp_path / "a"), persons=120, variants=250, seed=5)
    generate_toy_data(str(tmp_path / "b"), persons=120, variants=250, seed=5)
    generate_toy_data(str(tmp_path / "c"), persons=120, variants=250, seed=6)
    a, b, c = (_hashes(tmp_path / x) for x in "abc")
    assert set(a) == EXPECTED_FILES
    assert a == b
    differing = {name for name in a if a[name] != c[name]}
    # Everything random differs; only the fixed vocabulary tables and the empty device_exposure and
    # observation (written so the toy run raises no missing-table warning) are seed-independent.
    assert differing == EXPECTED_FILES - {"omop/concept.parquet", "omop/concept_ancestor.parquet",
                                          "omop/device_exposure.parquet", "omop/observation.parquet"}


def test_rerun_into_the_same_directory_replaces_the_previous_data(tmp_path):
    generate_toy_data(str(tmp_path), persons=120, variants=250, seed=1)
    first = _hashes(tmp_path)
    generate_toy_data(str(tmp_path), persons=120, variants=250, seed=1)
    assert _hashes(tmp_path) == first


@pytest.mark.parametrize("kwargs", [{"persons": 10}, {"variants": 50}], ids=["few-persons", "few-variants"])
def test_too_small_requests_are_config_errors(tmp_path, kwargs):
    with pytest.raises(ConfigError):
        generate_toy_data(str(tmp_path), **kwargs)
