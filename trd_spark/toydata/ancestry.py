"""Toy All of Us ancestry files: ancestry_preds.tsv (with 16 genotype PCs) and relatedness.

PCs project standardised ALT dosages at a few hundred common sites onto the PCA of a fixed
reference panel (as AoU projects onto HGDP + 1000 Genomes), so they track the Balding-Nichols
ancestry groups and a person's PCs do not depend on who else is in the release. Relatedness
pairs are labels only (the genomes of a pair are not made related): ~1% of persons with a
genome, kinship ~0.25. Every draw is keyed by person (draws.PersonRng): a bigger toy release
extends a smaller one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trd_spark.toydata.draws import PersonRng

N_PCS = 16
RELATED_RATE = 0.01


def genotype_pcs(dosage: np.ndarray, reference: np.ndarray, n_pcs: int = N_PCS) -> np.ndarray:
    """(persons, n_pcs) PC scores of dosages (persons x sites) projected on the PCA of the
    `reference` dosages (reference persons x the same sites), both standardised by the
    reference's means and SDs; sign fixed so that each component's largest-magnitude loading
    is positive. Missing components are zeros."""
    ref = reference.astype(float)
    mean, sd = ref.mean(axis=0), ref.std(axis=0)
    keep = sd > 0
    r = (ref[:, keep] - mean[keep]) / sd[keep]
    # Eigen-decomposition of the small sites x sites matrix (persons may be many).
    evals, evecs = np.linalg.eigh(r.T @ r)
    evecs = evecs[:, np.argsort(evals)[::-1][:n_pcs]]
    evecs *= np.sign(evecs[np.abs(evecs).argmax(axis=0), np.arange(evecs.shape[1])])
    pcs = ((dosage[:, keep].astype(float) - mean[keep]) / sd[keep]) @ evecs
    if pcs.shape[1] < n_pcs:
        pcs = np.hstack([pcs, np.zeros((pcs.shape[0], n_pcs - pcs.shape[1]))])
    return pcs


def _vector(values: np.ndarray, decimals: int) -> list[str]:
    """Rows of a 2-D array as "[v1, v2, ...]" strings (the AoU TSV style)."""
    text = np.char.mod(f"%.{decimals}f", np.round(values, decimals) + 0.0)
    return ["[" + ", ".join(row) + "]" for row in text]


def write_ancestry(out_dir: Path, rng: PersonRng, person_ids: np.ndarray, group: np.ndarray,
                   group_names: tuple[str, ...], pcs: np.ndarray) -> None:
    """ancestry_preds.tsv for the persons given (those with a genome), in person_id order.

    probabilities are listed in `group_names` order; the predicted group gets 0.75-0.99, the
    others share the rest as a flat Dirichlet (normalised exponentials). `rng`: one row per person.
    """
    n, g = len(person_ids), len(group_names)
    top = rng.uniform(0.75, 0.99, n)
    exp = -np.log1p(-rng.random((n, g - 1)))
    rest = exp / exp.sum(axis=1, keepdims=True) * (1 - top)[:, None]
    probs = np.zeros((n, g))
    probs[np.arange(n), group] = top
    others = np.array([[j for j in range(g) if j != k] for k in range(g)])[group]
    probs[np.arange(n)[:, None], others] = rest
    names = np.asarray(group_names)[group]
    lines = ["research_id\tancestry_pred\tprobabilities\tpca_features\tancestry_pred_other"]
    lines += [f"{p}\t{a}\t{pr}\t{pc}\t{a}" for p, a, pr, pc in
              zip(person_ids, names, _vector(probs, 4), _vector(pcs, 6))]
    (out_dir / "ancestry_preds.tsv").write_text("\n".join(lines) + "\n")


def write_relatedness(out_dir: Path, rng: PersonRng, person_ids: np.ndarray) -> int:
    """relatedness.tsv (i.s, j.s, kin) and relatedness_flagged_samples.tsv; returns #pairs.

    person_ids: sorted, one `rng` row each. Persons 2k and 2k+1 form a pair with probability
    RELATED_RATE (drawn from person 2k's row), so pairs are disjoint and a pair of a smaller
    release is a pair of every bigger one; the flagged member is either at random.
    """
    n = len(person_ids)
    u_pair, kin_all, u_flag = rng.random((n, 3)).T
    first = np.arange(0, n - 1, 2)
    first = first[u_pair[first] < RELATED_RATE]
    chosen = np.stack([person_ids[first], person_ids[first + 1]], axis=1)
    n_pairs = len(first)
    kin = 0.2 + 0.1 * kin_all[first]
    flagged = np.sort(chosen[np.arange(n_pairs), (u_flag[first] < 0.5).astype(np.int64)])
    rows = [f"{i}\t{j}\t{k:.4f}" for (i, j), k in zip(chosen, kin)]
    (out_dir / "relatedness.tsv").write_text("\n".join(["i.s\tj.s\tkin", *rows]) + "\n")
    (out_dir / "relatedness_flagged_samples.tsv").write_text(
        "\n".join(["sample_id", *map(str, flagged)]) + "\n")
    return n_pairs
