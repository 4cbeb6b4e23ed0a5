"""Toy genomes: Balding-Nichols allele frequencies, bgzipped + tabix-indexed VCF 4.2 per dataset.

Sites are drawn once for all datasets (chr1..chr22, positions 1..40,000,000, GRCh38 contig
names and lengths). Genotypes are drawn per block of sites for every person at once (two
haplotypes compared with per-ancestry-group allele frequencies), turned into fixed-width
"a/b" byte cells with numpy and streamed into one BGZF writer per dataset, so memory is
bounded by one block whatever the number of sites. The same pass accumulates the true PGS
(from the genotypes before missingness is applied) and the dosages used for ancestry PCs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

GRCH38_LENGTHS: tuple[int, ...] = (
    248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973, 145138636,
    138394717, 133797422, 135086622, 133275309, 114364328, 107043718, 101991189, 90338345,
    83257441, 80373285, 58617616, 64444167, 46709983, 50818468,
)
CONTIGS: tuple[str, ...] = tuple(f"chr{i}" for i in range(1, 23))
MAX_POSITION = 40_000_000
BASES = np.array(list("ACGT"))
# Index of the complementary base in BASES (A<->T, C<->G).
COMPLEMENT = np.array([3, 2, 1, 0])
FST = 0.05
MISSING_RATE = 0.01
MULTIALLELIC_RATE = 0.005
# Cells per block (sites x persons) drawn at once: bounds memory (~50 bytes per cell).
_BLOCK_CELLS = 4_000_000
# Uniforms come from one numpy stream per tile of sites x persons, so a person's genotypes do not
# depend on how many persons there are (a bigger toy release extends a smaller one).
_TILE_SITES, _TILE_PERSONS = 16, 4096


@dataclass(frozen=True)
class Sites:
    """All sites, sorted by (contig, position). Allele codes index BASES; alt2 = -1 if biallelic.

    af[g, s, a]: frequency in ancestry group g of ALT allele a+1 (a = 0 first ALT, 1 second).
    """

    contig: np.ndarray  # int, 0..21
    position: np.ndarray  # int64, 1-based
    ref: np.ndarray
    alt: np.ndarray
    alt2: np.ndarray
    af: np.ndarray
    ancestral_af: np.ndarray
    rsid: np.ndarray  # str

    @property
    def n(self) -> int:
        return len(self.position)

    @property
    def multiallelic(self) -> np.ndarray:
        return self.alt2 >= 0

    @property
    def strand_ambiguous(self) -> np.ndarray:
        return (COMPLEMENT[self.ref] == self.alt) & ~self.multiallelic

    def keys(self) -> np.ndarray:
        """One int64 per site, contig * 1e9 + position (for membership tests)."""
        return self.contig.astype(np.int64) * 1_000_000_000 + self.position


def draw_sites(rng: np.random.Generator, n_sites: int, n_groups: int) -> Sites:
    """Draw `n_sites` sites with Balding-Nichols per-group allele frequencies (F = FST)."""
    lengths = np.array(GRCH38_LENGTHS, dtype=float)
    per_contig = rng.multinomial(n_sites, lengths / lengths.sum())
    contig = np.repeat(np.arange(22), per_contig)
    position = np.concatenate([
        np.sort(rng.choice(MAX_POSITION, size=k, replace=False)) + 1 for k in per_contig
    ]).astype(np.int64)
    ref = rng.integers(0, 4, n_sites)
    alt = (ref + rng.integers(1, 4, n_sites)) % 4
    n_multi = max(2, int(round(MULTIALLELIC_RATE * n_sites)))
    multi = rng.choice(n_sites, size=n_multi, replace=False)
    alt2 = np.full(n_sites, -1)
    # The second ALT is a base that is neither REF, ALT nor REF's complement, so REF/ALT2 is
    # never strand-ambiguous (scores use REF/ALT2 at these sites).
    pick = rng.integers(0, 2, n_multi)
    for i, (r, a) in enumerate(zip(ref[multi], alt[multi])):  # a few sites only
        others = [b for b in range(4) if b not in (r, a, COMPLEMENT[r])]
        alt2[multi[i]] = others[pick[i] % len(others)]

    p = rng.uniform(0.05, 0.95, n_sites)
    shape = (1 - FST) / FST
    af_total = rng.beta(p * shape, (1 - p) * shape, size=(n_groups, n_sites))
    af_total = np.clip(af_total, 0.001, 0.999)
    af = np.zeros((n_groups, n_sites, 2))
    share = np.ones(n_sites)
    share[multi] = rng.uniform(0.5, 0.8, n_multi)  # fraction of ALT copies that are the first ALT
    af[:, :, 0] = af_total * share
    af[:, :, 1] = af_total * (1 - share)
    rsid = np.char.add("rs", (900_000_000 + np.arange(n_sites)).astype(str))
    return Sites(contig, position, ref, alt, alt2, af, p, rsid)


def vcf_header(sample_ids: list[str]) -> bytes:
    """VCF 4.2 header with GRCh38 contig lines for chr1..chr22 and a GT FORMAT field."""
    lines = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    ]
    lines += [f"##contig=<ID={c},length={n},assembly=GRCh38>" for c, n in zip(CONTIGS, GRCH38_LENGTHS)]
    lines.append("##source=trd_spark.toydata (synthetic, Balding-Nichols)")
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *sample_ids]))
    return ("\n".join(lines) + "\n").encode()


def _row_prefixes(sites: Sites, lo: int, hi: int) -> list[bytes]:
    alt = BASES[sites.alt[lo:hi]].astype(object)
    multi = sites.alt2[lo:hi] >= 0
    alt[multi] = alt[multi] + "," + BASES[sites.alt2[lo:hi][multi]]
    return [
        f"{CONTIGS[c]}\t{p}\t{r}\t{BASES[ref]}\t{a}\t.\tPASS\t.\tGT\t".encode()
        for c, p, r, ref, a in zip(
            sites.contig[lo:hi], sites.position[lo:hi], sites.rsid[lo:hi], sites.ref[lo:hi], alt
        )
    ]


def tile_uniforms(seed: int, lo: int, hi: int, n: int) -> np.ndarray:
    """float32 uniforms (3, hi - lo, n) for sites lo..hi-1 (lo a multiple of _TILE_SITES) and
    persons 0..n-1: two haplotypes and the missing-call draw. Tile (t, c) of _TILE_SITES sites x
    _TILE_PERSONS persons comes whole from the stream [seed, 7, t, c], so cell (site, person)
    is the same for every n (float32: half the cost, ample precision)."""
    u = np.empty((3, hi - lo, n), dtype=np.float32)
    for t0 in range(lo, hi, _TILE_SITES):
        t1 = min(t0 + _TILE_SITES, hi)
        for c0 in range(0, n, _TILE_PERSONS):
            c1 = min(c0 + _TILE_PERSONS, n)
            rng = np.random.default_rng([seed, 7, t0 // _TILE_SITES, c0 // _TILE_PERSONS])
            tile = rng.random((3, _TILE_SITES, _TILE_PERSONS), dtype=np.float32)
            u[:, t0 - lo:t1 - lo, c0:c1] = tile[:, :t1 - t0, :c1 - c0]
    return u


def _draw_haplotypes(u: np.ndarray, af_block: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Allele index (0 REF, 1 ALT, 2 ALT2) of both haplotypes: int8 array (2, sites, persons),
    from uniforms u (2, sites, persons)."""
    p1 = af_block[group, :, 0].T[None].astype(np.float32)  # (1, sites, persons)
    p12 = p1 + af_block[group, :, 1].T[None].astype(np.float32)
    hap = (u < p1).astype(np.int8)
    hap[(u >= p1) & (u < p12)] = 2
    return hap


def _gt_cells(hap: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Fixed-width "a/b<TAB>" byte cells, uint8 (sites, persons, 4); unphased, smaller allele first."""
    lo = np.minimum(hap[0], hap[1])
    hi = np.maximum(hap[0], hap[1])
    cells = np.empty((*lo.shape, 4), dtype=np.uint8)
    cells[..., 0] = np.where(missing, ord("."), ord("0") + lo)
    cells[..., 1] = ord("/")
    cells[..., 2] = np.where(missing, ord("."), ord("0") + hi)
    cells[..., 3] = ord("\t")
    return cells


@dataclass(frozen=True)
class ScoreEffects:
    """Variants that enter the TRUE PGS: site index, effect allele index (0/1/2), weight, score."""

    site: np.ndarray
    allele: np.ndarray
    weight: np.ndarray
    score: np.ndarray
    n_scores: int


def write_genotypes(
    out_dir: Path,
    sites: Sites,
    person_ids: np.ndarray,
    dataset: np.ndarray,
    group: np.ndarray,
    dataset_names: list[str],
    array_sites: np.ndarray,
    effects: ScoreEffects,
    pca_sites: np.ndarray,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw every person's genotypes block by block and write one VCF per dataset.

    dataset[i] indexes dataset_names (-1: no genome, drawn but never written). The dataset
    named "replication_array" gets only the sites where `array_sites` is True.
    Returns (raw true PGS, float64 (n_scores, persons); ALT dosages at `pca_sites`, int8
    (persons, len(pca_sites))), both from genotypes before missingness.
    """
    n = len(person_ids)
    block = max(1, _BLOCK_CELLS // max(n, 1) // _TILE_SITES) * _TILE_SITES
    cols = [np.flatnonzero(dataset == d) for d in range(len(dataset_names))]
    paths = [out_dir / f"{name}.vcf.bgz" for name in dataset_names]
    writers = [pysam.BGZFile(str(p), "wb", None) for p in paths]  # index None: pysam's stub omits the default
    raw_pgs = np.zeros((effects.n_scores, n))
    pca_dosage = np.zeros((n, len(pca_sites)), dtype=np.int8)
    order = np.argsort(effects.site, kind="stable")
    eff_site, eff_allele = effects.site[order], effects.allele[order]
    eff_weight, eff_score = effects.weight[order], effects.score[order]
    try:
        for w, c in zip(writers, cols):
            w.write(vcf_header([str(i) for i in person_ids[c]]))
        for lo in range(0, sites.n, block):
            hi = min(lo + block, sites.n)
            u = tile_uniforms(seed, lo, hi, n)
            hap = _draw_haplotypes(u[:2], sites.af[:, lo:hi, :], group)
            missing = u[2] < MISSING_RATE

            sel = slice(np.searchsorted(eff_site, lo), np.searchsorted(eff_site, hi))
            if sel.stop > sel.start:
                local = eff_site[sel] - lo
                allele = eff_allele[sel][:, None]
                dose = (hap[0, local] == allele).astype(np.int8) + (hap[1, local] == allele)
                wmat = np.zeros((effects.n_scores, len(local)))
                wmat[eff_score[sel], np.arange(len(local))] = eff_weight[sel]
                raw_pgs += wmat @ dose
            in_block = (pca_sites >= lo) & (pca_sites < hi)
            if in_block.any():
                local = pca_sites[in_block] - lo
                pca_dosage[:, in_block] = ((hap[0, local] == 1).astype(np.int8) + (hap[1, local] == 1)).T

            cells = _gt_cells(hap, missing)
            prefixes = _row_prefixes(sites, lo, hi)
            for name, w, c in zip(dataset_names, writers, cols):
                keep = np.arange(hi - lo)
                if name == "replication_array":
                    keep = np.flatnonzero(array_sites[lo:hi])
                if len(c) == 0:
                    body = np.full((len(keep), 1), ord("\n"), dtype=np.uint8)
                    lines = [prefixes[k][:-1] + body[i].tobytes() for i, k in enumerate(keep)]
                    w.write(b"".join(lines))
                    continue
                sub = cells[keep][:, c]
                sub[:, -1, 3] = ord("\n")
                sub = sub.reshape(len(keep), -1)
                w.write(b"".join(prefixes[k] + sub[i].tobytes() for i, k in enumerate(keep)))
    finally:
        for w in writers:
            w.close()
    for p in paths:
        pysam.tabix_index(str(p), preset="vcf", force=True)
    return raw_pgs, pca_dosage
