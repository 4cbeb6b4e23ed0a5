"""Toy PGS Catalog scoring files (format 2.0, harmonised to GRCh38) with the usual matching cases.

Each score owns its own disjoint variants, all at sites on the array (so every dataset can use
them). Per score, the rows include the cases a matcher must handle:
  - effect allele = ALT (~60%) or REF (~40%);
  - ~10% written on the opposite strand (both alleles complemented);
  - ~5% at positions absent from every VCF;
  - 2-3 strand-ambiguous (A/T, C/G) variants, dropped by the default matcher (fewer in a score of
    fewer than 20 variants: ``MIN_MATCHED_SHARE``);
  - for two scores, one variant whose effect allele is the second ALT of a multi-allelic site.
The TRUE PGS uses every variant the default matcher keeps: present and not ambiguous
(flipped and multi-allelic second-ALT variants included).
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trd_spark.errors import ConfigError
from trd_spark.toydata.genotypes import BASES, COMPLEMENT, CONTIGS, MAX_POSITION, ScoreEffects, Sites

# (pgs_id, trait, pgs_name, trait_mapped, trait_efo), as in conf/trait_panel_toy.yaml.
# EFO IDs are illustrative for the toy files; nothing downstream resolves them.
SCORES: tuple[tuple[str, str, str, str, str], ...] = (
    ("PGS900001", "Educational attainment", "toy_educational_attainment", "educational attainment", "EFO_0011015"),
    ("PGS900002", "Intelligence", "toy_intelligence", "intelligence", "EFO_0004337"),
    ("PGS900003", "Neuroticism", "toy_neuroticism", "neuroticism measurement", "EFO_0007660"),
    ("PGS900004", "Insomnia", "toy_insomnia", "insomnia", "EFO_0004698"),
    ("PGS900005", "Chronotype", "toy_chronotype", "chronotype measurement", "EFO_0008328"),
    ("PGS900006", "Risk tolerance", "toy_risk_tolerance", "risk-taking behaviour", "EFO_0008579"),
    ("PGS900007", "Extraversion", "toy_extraversion", "extraversion measurement", "EFO_0007826"),
    ("PGS900008", "ADHD", "toy_adhd", "attention deficit hyperactivity disorder", "EFO_0003888"),
    ("PGS900009", "Height", "toy_height", "body height", "EFO_0004339"),
    ("PGS900010", "Cognitive performance", "toy_cognitive_performance", "cognitive function measurement",
     "EFO_0008354"),
)
# Scores (by position in SCORES) that include a second-ALT multi-allelic variant.
MULTIALLELIC_SCORES = (1, 8)
COLUMNS = [
    "rsID", "chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight", "hm_source",
    "hm_rsID", "hm_chr", "hm_pos", "hm_inferOtherAllele", "hm_match_chr", "hm_match_pos",
]


@dataclass(frozen=True)
class ScoreVariants:
    """One row per scoring-file variant (all scores), in file order within each score.

    site = -1 for variants absent from the genomes; allele = effect allele index at the site
    (0 REF, 1 ALT, 2 ALT2); case in {ref_alt, alt_ref, flipped, absent, ambiguous, multiallelic}.
    """

    frame: pd.DataFrame

    def true_effects(self) -> ScoreEffects:
        """The variants the default matcher uses (present, not strand-ambiguous)."""
        f = self.frame[self.frame["used_in_truth"]]
        return ScoreEffects(
            site=f["site"].to_numpy(np.int64), allele=f["allele"].to_numpy(np.int64),
            weight=f["effect_weight"].to_numpy(float), score=f["score"].to_numpy(np.int64),
            n_scores=len(SCORES),
        )


# The least share of a score's rows the default matcher matches (every case but absent and
# ambiguous): above the toy configs' ``pgs.min_overlap`` (0.75), so that the pipeline runs on toy
# data of every size the generator accepts. A tiny genome's 12-19-variant scores lost 1 absent and
# 3 ambiguous rows: 11 of 15 matched at ``--variants 300`` (0.73), the run's exit 4 (session 54).
MIN_MATCHED_SHARE = 0.8


def max_ambiguous(size: int, n_absent: int) -> int:
    """The most strand-ambiguous rows a score of ``size`` rows, ``n_absent`` of them absent from
    the genomes, may hold and still have ``MIN_MATCHED_SHARE`` of its rows matched."""
    return max(0, size - n_absent - math.ceil(MIN_MATCHED_SHARE * size - 1e-9))


def variants_per_score(n_sites: int) -> int:
    """Upper bound on a score's size: 100-200 at realistic sizes, fewer for tiny toy genomes."""
    return int(min(200, max(12, n_sites // 20)))


def draw_score_variants(rng: np.random.Generator, sites: Sites) -> ScoreVariants:
    """Choose each score's disjoint variants, weights, effect alleles and matching cases."""
    cap = variants_per_score(sites.n)
    sizes = np.minimum(rng.integers(100, 201, len(SCORES)), cap)
    multi_pool = rng.permutation(np.flatnonzero(sites.multiallelic))
    ambig_pool = rng.permutation(np.flatnonzero(sites.strand_ambiguous))
    plain_pool = rng.permutation(np.flatnonzero(~sites.multiallelic & ~sites.strand_ambiguous))
    taken_multi = taken_ambig = taken_plain = 0
    existing = set(sites.keys().tolist())
    frames = []
    for k, size in enumerate(sizes):
        n_absent = max(1, int(round(0.05 * size)))
        # Drawn whatever the size (the draws after it stay the same), kept at most max_ambiguous.
        n_ambig = min(int(rng.integers(2, 4)), max_ambiguous(int(size), n_absent))
        n_multi = 1 if k in MULTIALLELIC_SCORES else 0
        n_plain = int(size) - n_absent - n_ambig - n_multi
        if (taken_plain + n_plain > len(plain_pool) or taken_ambig + n_ambig > len(ambig_pool)
                or taken_multi + n_multi > len(multi_pool)):
            raise ConfigError(f"too few sites ({sites.n}) for {len(SCORES)} disjoint toy scores",
                              where="generate_toy_data(variants)")
        plain = plain_pool[taken_plain:taken_plain + n_plain]
        ambig = ambig_pool[taken_ambig:taken_ambig + n_ambig]
        multi = multi_pool[taken_multi:taken_multi + n_multi]
        taken_plain, taken_ambig, taken_multi = taken_plain + n_plain, taken_ambig + n_ambig, taken_multi + n_multi

        # Present variants: effect allele ALT (60%) or REF (40%); ~10% of plain ones flipped.
        effect_is_alt = rng.random(n_plain + n_ambig) < 0.6
        present = np.concatenate([plain, ambig])
        allele = effect_is_alt.astype(np.int64)
        effect_base = np.where(effect_is_alt, sites.alt[present], sites.ref[present])
        other_base = np.where(effect_is_alt, sites.ref[present], sites.alt[present])
        n_flip = max(1, int(round(0.10 * size)))
        flipped = np.zeros(len(present), dtype=bool)
        flipped[rng.choice(n_plain, size=n_flip, replace=False)] = True
        effect_base = np.where(flipped, COMPLEMENT[effect_base], effect_base)
        other_base = np.where(flipped, COMPLEMENT[other_base], other_base)
        # Named as the matcher names them: effect = ALT is "ref_alt" (the VCF order REF, ALT).
        case = np.where(flipped, "flipped", np.where(effect_is_alt, "ref_alt", "alt_ref")).astype(object)
        case[n_plain:] = "ambiguous"

        # Multi-allelic: effect allele is the second ALT, other allele REF.
        m_effect, m_other = sites.alt2[multi], sites.ref[multi]

        # Absent: random non-ambiguous alleles at positions that are not sites.
        a_contig = rng.integers(0, 22, n_absent)
        a_pos = rng.integers(1, MAX_POSITION + 1, n_absent)
        for i in range(n_absent):  # a handful of rows: resample on the (rare) collision
            while int(a_contig[i]) * 1_000_000_000 + int(a_pos[i]) in existing:
                a_pos[i] = rng.integers(1, MAX_POSITION + 1)
            existing.add(int(a_contig[i]) * 1_000_000_000 + int(a_pos[i]))
        a_effect = rng.integers(0, 4, n_absent)
        # The other allele is neither the effect allele nor its complement (not ambiguous).
        a_other = np.array([[1, 2], [0, 3], [0, 3], [1, 2]])[a_effect, rng.integers(0, 2, n_absent)]

        site = np.concatenate([present, multi, np.full(n_absent, -1)])
        f = pd.DataFrame({
            "score": k,
            "site": site,
            "contig": np.concatenate([sites.contig[present], sites.contig[multi], a_contig]),
            "position": np.concatenate([sites.position[present], sites.position[multi], a_pos]),
            "rsID": np.concatenate([sites.rsid[present], sites.rsid[multi],
                                    [f"rs{800_000_000 + k * 1000 + i}" for i in range(n_absent)]]),
            "effect_allele": BASES[np.concatenate([effect_base, m_effect, a_effect])],
            "other_allele": BASES[np.concatenate([other_base, m_other, a_other])],
            "allele": np.concatenate([allele, np.full(n_multi, 2), np.full(n_absent, -1)]),
            "case": np.concatenate([case, np.full(n_multi, "multiallelic", object),
                                    np.full(n_absent, "absent", object)]),
        })
        f["effect_weight"] = np.round(rng.normal(0.0, 1.0, len(f)) * 0.05, 6)
        f["used_in_truth"] = ~f["case"].isin(["ambiguous", "absent"])
        frames.append(f.sort_values(["contig", "position"], kind="stable"))
    return ScoreVariants(pd.concat(frames, ignore_index=True))


def _header(pgs_id: str, name: str, trait: str, mapped: str, efo: str, n: int) -> str:
    return "\n".join([
        "###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring "
        "for additional information",
        "#format_version=2.0",
        "##POLYGENIC SCORE (PGS) INFORMATION",
        f"#pgs_id={pgs_id}",
        f"#pgs_name={name}",
        f"#trait_reported={trait}",
        f"#trait_mapped={mapped}",
        f"#trait_efo={efo}",
        "#genome_build=GRCh38",
        f"#variants_number={n}",
        "#weight_type=beta",
        "##HARMONIZATION DETAILS",
        "#HmPOS_build=GRCh38",
        "#HmPOS_date=2024-01-01",
    ]) + "\n"


def write_scoring_files(out_dir: Path, variants: ScoreVariants) -> list[Path]:
    """Write scores/PGS9000NN.txt.gz (gzip mtime 0, no file name in the gzip header)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (pgs_id, trait, name, mapped, efo) in enumerate(SCORES):
        f = variants.frame[variants.frame["score"] == k]
        chrom = np.array([c[3:] for c in CONTIGS])[f["contig"].to_numpy()]
        pos = f["position"].astype(str).to_numpy()
        table = pd.DataFrame({
            "rsID": f["rsID"].to_numpy(), "chr_name": chrom, "chr_position": pos,
            "effect_allele": f["effect_allele"].to_numpy(), "other_allele": f["other_allele"].to_numpy(),
            "effect_weight": [f"{w:.6f}" for w in f["effect_weight"]], "hm_source": "ENSEMBL",
            "hm_rsID": f["rsID"].to_numpy(), "hm_chr": chrom, "hm_pos": pos, "hm_inferOtherAllele": "",
            "hm_match_chr": "True", "hm_match_pos": "True",
        })[COLUMNS]
        text = _header(pgs_id, name, trait, mapped, efo, len(f)) + table.to_csv(sep="\t", index=False,
                                                                                 lineterminator="\n")
        path = out_dir / f"{pgs_id}.txt.gz"
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(text.encode())
        paths.append(path)
    return paths
