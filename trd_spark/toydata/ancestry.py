"""Toy All of Us ancestry files: ancestry_preds.tsv (with 16 genotype PCs) and relatedness.

PCs come from a numpy PCA of standardised ALT dosages at a few hundred common sites, so they
track the Balding-Nichols ancestry groups. Relatedness pairs are labels only (the genomes of
a pair are not made related): ~1% of persons with a genome, kinship ~0.25.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_PCS = 16
RELATED_RATE = 0.01


def genotype_pcs(dosage: np.ndarray, n_pcs: int = N_PCS) -> np.ndarray:
    """(persons, n_pcs) PC scores of standardised dosages (persons x sites); sign fixed so that
    each component's largest-magnitude loading is positive. Missing components are zeros."""
    x = dosage.astype(float)
    sd = x.std(axis=0)
    x = (x[:, sd > 0] - x[:, sd > 0].mean(axis=0)) / sd[sd > 0]
    # Eigen-decomposition of the small sites x sites matrix (persons may be many).
    evals, evecs = np.linalg.eigh(x.T @ x)
    evecs = evecs[:, np.argsort(evals)[::-1][:n_pcs]]
    evecs *= np.sign(evecs[np.abs(evecs).argmax(axis=0), np.arange(evecs.shape[1])])
    pcs = x @ evecs
    if pcs.shape[1] < n_pcs:
        pcs = np.hstack([pcs, np.zeros((pcs.shape[0], n_pcs - pcs.shape[1]))])
    return pcs


def _vector(values: np.ndarray, decimals: int) -> list[str]:
    """Rows of a 2-D array as "[v1, v2, ...]" strings (the AoU TSV style)."""
    text = np.char.mod(f"%.{decimals}f", np.round(values, decimals) + 0.0)
    return ["[" + ", ".join(row) + "]" for row in text]


def write_ancestry(out_dir: Path, rng: np.random.Generator, person_ids: np.ndarray, group: np.ndarray,
                   group_names: tuple[str, ...], pcs: np.ndarray) -> None:
    """ancestry_preds.tsv for the persons given (those with a genome), in person_id order.

    probabilities are listed in `group_names` order; the predicted group gets 0.75-0.99.
    """
    n, g = len(person_ids), len(group_names)
    top = rng.uniform(0.75, 0.99, n)
    rest = rng.dirichlet(np.ones(g - 1), n) * (1 - top)[:, None]
    probs = np.zeros((n, g))
    probs[np.arange(n), group] = top
    others = np.array([[j for j in range(g) if j != k] for k in range(g)])[group]
    probs[np.arange(n)[:, None], others] = rest
    names = np.asarray(group_names)[group]
    lines = ["research_id\tancestry_pred\tprobabilities\tpca_features\tancestry_pred_other"]
    lines += [f"{p}\t{a}\t{pr}\t{pc}\t{a}" for p, a, pr, pc in
              zip(person_ids, names, _vector(probs, 4), _vector(pcs, 6))]
    (out_dir / "ancestry_preds.tsv").write_text("\n".join(lines) + "\n")


def write_relatedness(out_dir: Path, rng: np.random.Generator, person_ids: np.ndarray) -> int:
    """relatedness.tsv (i.s, j.s, kin) and relatedness_flagged_samples.tsv; returns #pairs."""
    n_pairs = max(1, int(round(RELATED_RATE * len(person_ids) / 2)))
    chosen = rng.choice(person_ids, size=2 * n_pairs, replace=False).reshape(n_pairs, 2)
    chosen.sort(axis=1)
    chosen = chosen[np.argsort(chosen[:, 0])]
    kin = rng.uniform(0.2, 0.3, n_pairs)
    flagged = np.sort(chosen[np.arange(n_pairs), rng.integers(0, 2, n_pairs)])
    rows = [f"{i}\t{j}\t{k:.4f}" for (i, j), k in zip(chosen, kin)]
    (out_dir / "relatedness.tsv").write_text("\n".join(["i.s\tj.s\tkin", *rows]) + "\n")
    (out_dir / "relatedness_flagged_samples.tsv").write_text(
        "\n".join(["sample_id", *map(str, flagged)]) + "\n")
    return n_pairs
