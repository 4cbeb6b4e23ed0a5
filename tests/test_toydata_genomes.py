"""Toy genomes and scoring files: Hail imports the VCFs; scoring files carry every matching case;
the true PGS in the truth file is recovered from the written VCF and scoring files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from trd_spark.toydata import generate_toy_data

COMPLEMENT = str.maketrans("ACGT", "TGCA")
HEADER_KEYS = ["pgs_id", "pgs_name", "trait_reported", "trait_mapped", "trait_efo", "genome_build",
               "variants_number", "weight_type", "HmPOS_build", "format_version"]
COLUMNS = ["rsID", "chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight", "hm_source",
           "hm_rsID", "hm_chr", "hm_pos", "hm_inferOtherAllele", "hm_match_chr", "hm_match_pos"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy_genomes")
    truth = generate_toy_data(str(out), persons=300, variants=400, seed=3)
    return out, truth


def _read_vcf(path: Path) -> tuple[list[str], pd.DataFrame, np.ndarray]:
    """(samples, sites frame, GT strings (sites x samples)) straight from the text."""
    with gzip.open(path, "rt") as f:
        lines = [ln.rstrip("\n").split("\t") for ln in f if not ln.startswith("##")]
    samples = lines[0][9:]
    body = np.array(lines[1:], dtype=object)
    sites = pd.DataFrame({"chrom": body[:, 0], "pos": body[:, 1].astype(int), "ref": body[:, 3], "alt": body[:, 4]})
    return samples, sites, body[:, 9:]


def _read_score(path: Path) -> tuple[dict[str, str], pd.DataFrame]:
    with gzip.open(path, "rt") as f:
        text = f.read().splitlines()
    header = dict(ln.lstrip("#").split("=", 1) for ln in text if ln.startswith("#") and "=" in ln)
    rows = [ln.split("\t") for ln in text if not ln.startswith("#")]
    return header, pd.DataFrame(rows[1:], columns=rows[0])


def test_vcfs_import_in_hail_with_expected_counts(toy, hl):
    out, truth = toy
    counts = {}
    for name in ("discovery", "replication_wgs", "replication_array"):
        path = out / "genotypes" / f"{name}.vcf.bgz"
        assert (out / "genotypes" / f"{name}.vcf.bgz.tbi").stat().st_size > 0
        mt = hl.import_vcf(str(path), reference_genome="GRCh38", force_bgz=True)
        counts[name] = mt.count()
        assert counts[name][1] == truth["datasets"][name]
        if name == "discovery":
            stats = mt.aggregate_entries(hl.struct(missing=hl.agg.count_where(hl.is_missing(mt.GT)),
                                                   second_alt=hl.agg.count_where(mt.GT[1] == 2)))
            assert stats.missing > 0 and stats.second_alt > 0
            assert mt.aggregate_rows(hl.agg.count_where(hl.len(mt.alleles) == 3)) == truth["multiallelic_sites"]
            assert mt.aggregate_rows(hl.agg.all(mt.locus.contig.startswith("chr")))
    assert counts["discovery"][0] == counts["replication_wgs"][0] == truth["variants"]
    assert counts["replication_array"][0] == truth["array_sites"]
    assert 0.5 * truth["variants"] < truth["array_sites"] < 0.75 * truth["variants"]


def test_array_sites_are_a_subset_of_wgs_sites(toy):
    out, _ = toy
    _, wgs, _ = _read_vcf(out / "genotypes" / "replication_wgs.vcf.bgz")
    _, arr, _ = _read_vcf(out / "genotypes" / "replication_array.vcf.bgz")
    key = ["chrom", "pos", "ref", "alt"]
    assert len(arr.merge(wgs, on=key)) == len(arr) < len(wgs)
    assert wgs["pos"].between(1, 40_000_000).all()
    assert not wgs.duplicated(["chrom", "pos"]).any()


def test_no_person_in_two_datasets_and_some_without_genome(toy):
    out, truth = toy
    seen = [set(_read_vcf(out / "genotypes" / f"{d}.vcf.bgz")[0]) for d in truth["datasets"]]
    assert sum(map(len, seen)) == len(set().union(*seen)) == truth["persons"] - truth["persons_without_genome"]
    anc = pd.read_csv(out / "ancestry" / "ancestry_preds.tsv", sep="\t")
    assert set(anc["research_id"].astype(str)) == set().union(*seen)
    assert (anc["ancestry_pred"] == anc["ancestry_pred_other"]).all()
    assert anc["pca_features"].map(lambda s: len(s.strip("[]").split(","))).eq(16).all()
    flagged = pd.read_csv(out / "ancestry" / "relatedness_flagged_samples.tsv", sep="\t")
    pairs = pd.read_csv(out / "ancestry" / "relatedness.tsv", sep="\t")
    assert list(pairs.columns) == ["i.s", "j.s", "kin"] and list(flagged.columns) == ["sample_id"]
    assert set(flagged["sample_id"]) <= set(pairs["i.s"]) | set(pairs["j.s"])
    assert len(flagged) == len(pairs) == truth["related_pairs"]


def test_pcs_separate_ancestry_groups(toy):
    out, _ = toy
    anc = pd.read_csv(out / "ancestry" / "ancestry_preds.tsv", sep="\t")
    pc1 = anc["pca_features"].map(lambda s: float(s.strip("[]").split(",")[0]))
    means = pc1.groupby(anc["ancestry_pred"]).mean()
    within = pc1.groupby(anc["ancestry_pred"]).std().max()
    assert means.max() - means.min() > 2 * within


def test_scoring_files_have_header_columns_and_every_matching_case(toy):
    out, truth = toy
    _, sites, _ = _read_vcf(out / "genotypes" / "replication_wgs.vcf.bgz")
    sites["chr"] = sites["chrom"].str.removeprefix("chr")
    multi_total = 0
    for k in range(1, 11):
        pgs_id = f"PGS9000{k:02d}"
        header, rows = _read_score(out / "scores" / f"{pgs_id}.txt.gz")
        assert all(key in header for key in HEADER_KEYS)
        assert header["pgs_id"] == pgs_id and header["format_version"] == "2.0"
        assert header["trait_reported"] == truth["effects"][pgs_id]["trait"]
        assert int(header["variants_number"]) == len(rows)
        assert list(rows.columns) == COLUMNS
        assert not rows["chr_name"].str.startswith("chr").any()
        m = rows.merge(sites, left_on=["hm_chr", rows["hm_pos"].astype(int)], right_on=["chr", "pos"], how="left")
        absent = m["ref"].isna()
        ambiguous = (m["effect_allele"].str.translate(COMPLEMENT) == m["other_allele"])
        direct = ((m["effect_allele"] == m["alt"]) & (m["other_allele"] == m["ref"])) | (
            (m["effect_allele"] == m["ref"]) & (m["other_allele"] == m["alt"]))
        second_alt = ~absent & m["alt"].str.contains(",", na=False)
        comp_e, comp_o = m["effect_allele"].str.translate(COMPLEMENT), m["other_allele"].str.translate(COMPLEMENT)
        flipped = ~absent & ~ambiguous & ~second_alt & (((comp_e == m["alt"]) & (comp_o == m["ref"]))
                                           | ((comp_e == m["ref"]) & (comp_o == m["alt"])))
        assert (absent | ambiguous | direct | flipped | second_alt).all()
        assert not (flipped & direct).any()
        assert absent.sum() >= 1 and 2 <= (ambiguous & ~absent).sum() <= 3 and flipped.sum() >= 1
        multi_total += int(second_alt.sum())
        expected = truth["score_variants"][pgs_id]
        assert (absent.sum(), (ambiguous & ~absent).sum(), flipped.sum()) == (
            expected["absent"], expected["ambiguous"], expected["flipped"])
    assert multi_total == 2


def _recompute_pgs(vcf: Path, score: Path) -> pd.Series:
    """Sum of weight x effect-allele dosage per sample, matching as the default matcher does:
    exact or strand-flipped alleles (incl. a second ALT), ambiguous and absent variants dropped,
    missing calls counted as 0."""
    samples, sites, gts = _read_vcf(vcf)
    _, rows = _read_score(score)
    sites["chr"] = sites["chrom"].str.removeprefix("chr")
    total = np.zeros(len(samples))
    index = {(c, p): i for i, (c, p) in enumerate(zip(sites["chr"], sites["pos"]))}
    for r in rows.itertuples():
        i = index.get((r.hm_chr, int(r.hm_pos)))
        if i is None or r.effect_allele.translate(COMPLEMENT) == r.other_allele:
            continue
        alleles = [sites.at[i, "ref"], *sites.at[i, "alt"].split(",")]
        eff, oth = r.effect_allele, r.other_allele
        if not (eff in alleles and oth in alleles):
            eff, oth = eff.translate(COMPLEMENT), oth.translate(COMPLEMENT)
        e = str(alleles.index(eff))
        dose = np.array([g.split("/").count(e) for g in gts[i]])
        total += float(r.effect_weight) * dose
    return pd.Series(total, index=samples)


def test_true_pgs_recovered_from_written_files(toy):
    out, _ = toy
    persons = pq.read_table(out / "truth_persons.parquet").to_pandas()
    persons.index = persons["person_id"].astype(str)
    for k in (2, 4, 9):  # a plain score and both scores with a multi-allelic variant
        pgs_id = f"PGS9000{k:02d}"
        got = _recompute_pgs(out / "genotypes" / "discovery.vcf.bgz", out / "scores" / f"{pgs_id}.txt.gz")
        truth_pgs = persons.loc[got.index, f"true_pgs_{pgs_id}"]
        assert np.corrcoef(got, truth_pgs)[0, 1] > 0.95, pgs_id
