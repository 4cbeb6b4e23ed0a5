"""generate_toy_data: the whole toy data set (genomes, scoring files, OMOP, ancestry, truth).

Deterministic: every random draw comes from numpy Generators or hashes seeded from `seed` (one
stream per component), outputs are sorted, gzip/BGZF headers carry no timestamps, so the same
arguments give byte-identical files. No Spark is needed.

Prefix-stable, as a real data release is a superset of the one before: with the same seed and
variants, the first N persons of a toy release of M > N persons are the persons of a release of
N (same IDs, datasets, genotypes, PCs, statuses, OMOP rows, relatedness pairs). Person draws
are keyed by person (draws.PersonRng, genotypes.tile_uniforms), and nothing is calibrated on
the persons drawn: the true PGS is standardised by its expected population mean and SD
(population_moments), the status intercepts come from a fixed reference sample
(omop.reference_intercepts) and the PCs from a fixed reference panel.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trd_spark.errors import ConfigError
from trd_spark.toydata import ancestry, omop
from trd_spark.toydata.draws import PersonRng
from trd_spark.toydata.genotypes import ScoreEffects, Sites, draw_sites, write_genotypes
from trd_spark.toydata.limits import MAX_PERSONS, MAX_SEED, MAX_VARIANTS, MIN_PERSONS, MIN_SEED, MIN_VARIANTS
from trd_spark.toydata.scores import SCORES, ScoreVariants, draw_score_variants, write_scoring_files

# Planted log-ORs per SD of the true PGS for TRD vs non_MDD; trMDD and MDD_other get half.
PLANTED_LOG_OR_TRD: dict[str, float] = {
    "Insomnia": 0.40, "Neuroticism": 0.40, "Educational attainment": -0.40,
    "Intelligence": -0.30, "ADHD": 0.20,
}
TRMDD_FRACTION = 0.5
ARRAY_SITE_SHARE = 0.60
N_PCA_SITES = 300
N_PCA_REFERENCE = 1000  # persons of the fixed reference panel the PCs are projected on
PRIMARY_DEFINITION = "ad3"


def planted_log_ors() -> tuple[np.ndarray, np.ndarray]:
    """(log-OR TRD vs non_MDD, log-OR trMDD vs non_MDD) per score, in SCORES order."""
    trd = np.array([PLANTED_LOG_OR_TRD.get(trait, 0.0) for _, trait, *_ in SCORES])
    return trd, trd * TRMDD_FRACTION


@dataclass(frozen=True)
class GenotypeResult:
    """What the genotype step hands on: raw true PGS (n_scores x persons), its expected population
    mean and SD per score, PCs of persons with a genome (in person order), and counts for
    truth.json."""

    true_pgs_raw: np.ndarray
    true_pgs_mean: np.ndarray
    true_pgs_sd: np.ndarray
    pcs: np.ndarray
    sites: Sites
    array_sites: np.ndarray
    score_variants: ScoreVariants


def _array_sites(rng: np.random.Generator, sites: Sites, score_sites: np.ndarray) -> np.ndarray:
    """~60% of sites: every site a score uses, plus a random share of the others."""
    on_array = np.zeros(sites.n, dtype=bool)
    on_array[score_sites] = True
    rest = np.flatnonzero(~on_array)
    share = max(0.0, (ARRAY_SITE_SHARE * sites.n - on_array.sum()) / max(len(rest), 1))
    on_array[rest[rng.random(len(rest)) < share]] = True
    return on_array


def generate_genotypes(out_dir: str | Path, persons: omop.Persons, variants: int, seed: int) -> GenotypeResult:
    """Write genotypes/*.vcf.bgz(+.tbi) and scores/*.txt.gz under `out_dir`.

    Genotypes are drawn for every person (those without a genome are never written) so the
    true PGS exists for all; cost is O(persons x variants) in blocks (see genotypes.py).
    """
    out = Path(out_dir)
    rng = np.random.default_rng([seed, 2])
    sites = draw_sites(rng, variants, len(omop.ANCESTRY_GROUPS))
    score_variants = draw_score_variants(rng, sites)
    frame = score_variants.frame
    array_sites = _array_sites(rng, sites, frame.loc[frame["site"] >= 0, "site"].to_numpy())
    common = np.flatnonzero(~sites.multiallelic & (sites.ancestral_af > 0.2) & (sites.ancestral_af < 0.8))
    pca_sites = np.sort(rng.choice(common, size=min(N_PCA_SITES, len(common)), replace=False))

    (out / "genotypes").mkdir(parents=True, exist_ok=True)
    raw_pgs, pca_dosage = write_genotypes(
        out / "genotypes", sites, persons.person_id, persons.dataset, persons.group,
        list(omop.DATASETS), array_sites, score_variants.true_effects(), pca_sites, seed,
    )
    write_scoring_files(out / "scores", score_variants)
    has_genome = persons.dataset >= 0
    pcs = ancestry.genotype_pcs(pca_dosage[has_genome], _reference_dosage(sites, pca_sites, seed))
    mean, sd = population_moments(sites, score_variants.true_effects())
    return GenotypeResult(raw_pgs, mean, sd, pcs, sites, array_sites, score_variants)


def _allele_frequencies(sites: Sites, site: np.ndarray, allele: np.ndarray) -> np.ndarray:
    """(groups, len(site)) frequency of allele index `allele` (0 REF, 1 ALT, 2 ALT2) at `site`."""
    af = sites.af[:, site, :]
    alt = af[:, np.arange(len(site)), np.maximum(allele, 1) - 1]
    return np.where(allele == 0, 1.0 - af.sum(axis=2), alt)


def _reference_dosage(sites: Sites, pca_sites: np.ndarray, seed: int) -> np.ndarray:
    """ALT dosages (N_PCA_REFERENCE x pca sites) of a fixed reference panel drawn with the
    ancestry shares: the PCA the toy PCs are projected on, the same for every release size."""
    rng = np.random.default_rng([seed, 8])
    group = rng.choice(len(omop.ANCESTRY_GROUPS), size=N_PCA_REFERENCE, p=omop.ANCESTRY_SHARES)
    q = _allele_frequencies(sites, pca_sites, np.ones(len(pca_sites), np.int64))[group]
    return (rng.random((2, *q.shape)) < q).sum(axis=0).astype(np.int8)


def population_moments(sites: Sites, effects: ScoreEffects) -> tuple[np.ndarray, np.ndarray]:
    """Expected mean and SD of each raw true PGS (n_scores each) in the toy population: per
    ancestry group, dosage ~ Binomial(2, q) at independent sites (Hardy-Weinberg), mixed with
    omop.ANCESTRY_SHARES. Used instead of the persons' own mean and SD so that a person's
    standardised PGS (and so their status) is the same whatever the release size."""
    q = _allele_frequencies(sites, effects.site, effects.allele)
    share = np.asarray(omop.ANCESTRY_SHARES)
    mean_g = np.zeros((effects.n_scores, q.shape[0]))
    var_g = np.zeros_like(mean_g)
    np.add.at(mean_g, effects.score, (2 * q * effects.weight).T)
    np.add.at(var_g, effects.score, (2 * q * (1 - q) * effects.weight ** 2).T)
    mean = mean_g @ share
    sd = np.sqrt(np.maximum((var_g + mean_g ** 2) @ share - mean ** 2, 0.0))
    return mean, np.where(sd > 0, sd, 1.0)


def _score_summary(sv: ScoreVariants) -> dict:
    out = {}
    for k, (pgs_id, trait, *_rest) in enumerate(SCORES):
        f = sv.frame[sv.frame["score"] == k]
        cases = f["case"].value_counts()
        out[pgs_id] = {
            "trait": trait, "variants": int(len(f)), "used_in_true_pgs": int(f["used_in_truth"].sum()),
            **{c: int(cases.get(c, 0)) for c in ("alt_ref", "ref_alt", "flipped", "ambiguous", "absent",
                                                 "multiallelic")},
        }
    return out


def _write_truth_persons(path: Path, persons: omop.Persons, truth: pd.DataFrame, pgs_z: np.ndarray) -> None:
    dataset = np.where(persons.dataset >= 0, np.asarray(omop.DATASETS)[persons.dataset.clip(0)], "none")
    cols: dict[str, pa.Array] = {
        "person_id": pa.array(persons.person_id, pa.int64()),
        "dataset": pa.array(dataset, pa.string()),
        "ancestry_group": pa.array(np.asarray(omop.ANCESTRY_GROUPS)[persons.group], pa.string()),
        "female": pa.array(persons.female, pa.bool_()),
        "status": pa.array(truth["status"].to_numpy(), pa.string()),
    }
    for c in ("birth_date", "mdd_index_date", "trd_onset_date", "death_date", "observation_end_date"):
        cols[c] = pa.array(truth[c]).cast(pa.date32())
    for k, (pgs_id, *_rest) in enumerate(SCORES):
        cols[f"true_pgs_{pgs_id}"] = pa.array(pgs_z[k], pa.float64())
    pq.write_table(pa.table(cols), path, compression="snappy")


def generate_toy_data(out_dir: str, persons: int = 3000, variants: int = 2000, seed: int = 42) -> dict:
    """Write the toy data set under `out_dir` (replacing its toy sub-folders) and return truth.

    Layout: genotypes/{discovery,replication_wgs,replication_array}.vcf.bgz(+.tbi),
    scores/PGS9000NN.txt.gz, omop/<table>.parquet, ancestry/{ancestry_preds,relatedness,
    relatedness_flagged_samples}.tsv, truth.json and truth_persons.parquet (per person: dataset,
    status, dates, true standardised PGS). The returned dict is the content of truth.json.
    """
    for what, value, least, most in (("persons", persons, MIN_PERSONS, MAX_PERSONS),
                                     ("variants", variants, MIN_VARIANTS, MAX_VARIANTS),
                                     ("seed", seed, MIN_SEED, MAX_SEED)):
        if not least <= value <= most:  # toydata.limits: the CLI checks its options by them as it parses them
            raise ConfigError(f"need {least:,} to {most:,}, got {value:,}", where=f"generate_toy_data({what})")
    out = Path(out_dir)
    # truth.json is what says the folder holds complete toy data (pipeline.ensure_toy_data generates
    # only without it): removed before anything else is, and written last, so a generation stopped
    # midway over an earlier one leaves none, and the next run generates again instead of reading
    # the partial files as the earlier data set (session 48).
    (out / "truth.json").unlink(missing_ok=True)
    for sub in ("genotypes", "scores", "omop", "ancestry"):
        shutil.rmtree(out / sub, ignore_errors=True)
    (out / "ancestry").mkdir(parents=True, exist_ok=True)

    people = omop.draw_persons(PersonRng(seed, 1, persons), persons)
    geno = generate_genotypes(out, people, variants, seed)
    pgs_z = (geno.true_pgs_raw - geno.true_pgs_mean[:, None]) / geno.true_pgs_sd[:, None]

    has_genome = people.dataset >= 0
    with_genome = np.flatnonzero(has_genome)
    ancestry.write_ancestry(out / "ancestry", PersonRng(seed, 3, 0, with_genome), people.person_id[has_genome],
                            people.group[has_genome], omop.ANCESTRY_GROUPS, geno.pcs)
    n_pairs = ancestry.write_relatedness(out / "ancestry", PersonRng(seed, 4, 0, with_genome),
                                         people.person_id[has_genome])

    log_or_trd, log_or_trmdd = planted_log_ors()
    truth_frame, omop_summary = omop.generate_omop(out / "omop", people, pgs_z, log_or_trd, log_or_trmdd, seed)
    _write_truth_persons(out / "truth_persons.parquet", people, truth_frame, pgs_z)

    dataset_names = np.where(has_genome, np.asarray(omop.DATASETS)[people.dataset.clip(0)], "none")
    n_by_dataset = pd.crosstab(dataset_names, truth_frame["status"].to_numpy()).to_dict("index")
    truth = {
        "seed": seed,
        "persons": persons,
        "variants": variants,
        "datasets": {d: int((people.dataset == i).sum()) for i, d in enumerate(omop.DATASETS)},
        "persons_without_genome": int((~has_genome).sum()),
        "array_sites": int(geno.array_sites.sum()),
        "multiallelic_sites": int(geno.sites.multiallelic.sum()),
        "ancestry_groups": {g: int((people.group == i).sum()) for i, g in enumerate(omop.ANCESTRY_GROUPS)},
        "related_pairs": n_pairs,
        "status_counts": omop_summary["status_counts"],
        "status_counts_by_dataset": {
            d: {s: int(n_by_dataset[d].get(s, 0)) for s in omop.STATUSES}
            for d in (*omop.DATASETS, "none") if d in n_by_dataset
        },
        "effects": {
            pgs_id: {
                "trait": trait,
                "log_or_trd_vs_nonmdd": float(log_or_trd[k]),
                "log_or_trmdd_vs_nonmdd": float(log_or_trmdd[k]),
                "log_or_trd_vs_trmdd": float(log_or_trd[k] - log_or_trmdd[k]),
            }
            for k, (pgs_id, trait, *_rest) in enumerate(SCORES)
        },
        "covariate_effects": {"female_log_or_mdd_categories": omop.FEMALE_LOG_OR,
                              "age_log_or_per_year": omop.AGE_LOG_OR_PER_YEAR},
        "status_intercepts": omop_summary["status_intercepts"],
        "primary_definition": PRIMARY_DEFINITION,
        "score_variants": _score_summary(geno.score_variants),
        "omop_records": omop_summary["record_counts"],
        "subgroups": omop_summary["subgroups"],
        "notes": (
            "Status is drawn from a multinomial logit (reference non_MDD) of the standardised TRUE PGS "
            "(z by the expected population mean and SD, so a person's z does not depend on the release "
            "size; MDD_other shares trMDD's PGS effects), female and age at 2023-07-01. "
            "Effects are per SD of the true PGS, which sums weight x effect-allele dosage over present, "
            "non-ambiguous scoring-file variants (strand-flipped and second-ALT multi-allelic variants "
            "included) from genotypes before the ~1% missing calls. Pairwise logistic regression on two "
            "categories recovers these log-ORs exactly in expectation. Noise persons: "
            "noise_single_diagnosis (one depression code; neither case nor control), excluded_bipolar, "
            "excluded_young_index (MDD index before age 18). Synthetic concept IDs are >= 2000000000. "
            "Per-person truth (status, dates, true PGS) is in truth_persons.parquet."
        ),
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    return truth
