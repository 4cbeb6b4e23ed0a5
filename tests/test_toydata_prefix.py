"""A bigger toy release extends a smaller one, as a real data release extends the one before.

Two toy data sets with the same seed and variants, 100 and 150 persons: the 100 persons of the
small one are the first 100 of the big one with the same genome columns, PCs, ancestry rows,
statuses and true PGS, and the same OMOP rows (IDs included: rows are sorted by person first);
a related pair of the small release is a pair of the big one. Before, every draw came from a
stream shared by all persons and the PGS was standardised over the persons drawn, so conf/
toy_releases.yaml's toy-r2 gave toy-r1's person IDs to other people (compare-releases saw a PGS
correlation ~0 between the releases).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from trd_spark.toydata import generate_toy_data

SMALL, BIG = 100, 150
OMOP_TABLES = ("person", "observation_period", "condition_occurrence", "drug_exposure", "procedure_occurrence",
               "death")


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy_prefix")
    # 400 sites: from there up the toy scores' draws are those before session 54's MIN_MATCHED_SHARE (at 200
    # sites, seed 9, its other scores left the 100 persons without a procedure row, which the test needs).
    truths = [generate_toy_data(str(root / str(n)), persons=n, variants=400, seed=9) for n in (SMALL, BIG)]
    return root / str(SMALL), root / str(BIG), truths


def _vcf_columns(path: Path) -> pd.DataFrame:
    """Genotype columns by sample ID, rows = sites (text as written)."""
    with gzip.open(path, "rt") as f:
        rows = [ln.rstrip("\n").split("\t") for ln in f if not ln.startswith("##")]
    return pd.DataFrame(rows[1:], columns=rows[0])


def _person_ids(small: Path) -> set[int]:
    return set(pq.read_table(small / "omop" / "person.parquet").column("person_id").to_pylist())


@pytest.mark.parametrize("table", OMOP_TABLES)
def test_omop_rows_of_the_small_release_are_the_big_releases_rows_of_its_persons(releases, table):
    small, big, _ = releases
    ids = _person_ids(small)
    assert len(ids) == SMALL
    a = pq.read_table(small / "omop" / f"{table}.parquet").to_pandas()
    b = pq.read_table(big / "omop" / f"{table}.parquet").to_pandas()
    assert len(a) >= 1
    b = b[b["person_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_genomes_pcs_statuses_and_pairs_of_the_small_release_are_kept(releases):
    small, big, (t_small, t_big) = releases
    ids = _person_ids(small)
    for dataset in t_small["datasets"]:
        a = _vcf_columns(small / "genotypes" / f"{dataset}.vcf.bgz")
        b = _vcf_columns(big / "genotypes" / f"{dataset}.vcf.bgz")
        assert list(b.columns[:len(a.columns)]) == list(a.columns) and len(b.columns) > len(a.columns)
        pd.testing.assert_frame_equal(a, b[a.columns])
    anc_a = pd.read_csv(small / "ancestry" / "ancestry_preds.tsv", sep="\t")
    anc_b = pd.read_csv(big / "ancestry" / "ancestry_preds.tsv", sep="\t")
    pd.testing.assert_frame_equal(anc_a, anc_b[anc_b["research_id"].isin(ids)].reset_index(drop=True))
    truth_a = pq.read_table(small / "truth_persons.parquet").to_pandas()
    truth_b = pq.read_table(big / "truth_persons.parquet").to_pandas()
    pd.testing.assert_frame_equal(truth_a, truth_b.iloc[:SMALL])
    pairs_a = pd.read_csv(small / "ancestry" / "relatedness.tsv", sep="\t")
    pairs_b = pd.read_csv(big / "ancestry" / "relatedness.tsv", sep="\t")
    inside = pairs_b["i.s"].isin(ids) & pairs_b["j.s"].isin(ids)
    assert len(pairs_a) >= 1
    pd.testing.assert_frame_equal(pairs_a, pairs_b[inside].reset_index(drop=True))
    assert t_small["score_variants"] == t_big["score_variants"]
