"""``matching._one_site_per_row`` (session 37, helper flatw: the weights build on the native pass's
critical path) against its previous form, bit for bit.

The build now sums the members straight into the matrices with scipy's compiled loops
(``matching._summed_cells``: CSR form when the used sites are in row order, no row per member;
COO form otherwise), without ``toarray(out=...)``'s zeroing pass over a new file, and faults a
mapped file's pages in with one madvise call. A pure speed change: every matrix must keep its
bits, dtype and shape. The reference is the function as it was at 214a81d (scipy COO
``toarray``), copied below; ``weight_matrices`` is run with each on the same frames (CSR and COO
forms, in memory and in a pass directory's files, deferred, haploid rows, a score twice at a
site, +0.0 / -0.0 / subnormal weights, dominant / recessive models, a multi-allelic REF effect
allele). No Spark: plain frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trd_spark.pgs import matching
from trd_spark.pgs.matching import DUPLICATES_DROPPED, EffectTypes, WeightMatrices, frame_matches, weight_matrices

HAPLOID = ("chrY", "chrM")


def _reference_one_site_per_row(rows, k, w, score_index, lengths, used_site, used_place, half, eir,
                                 directory=None):
    """``matching._one_site_per_row`` as at 214a81d (the reference: scipy's COO ``toarray``)."""
    import scipy.sparse

    n_used = len(rows)
    spare = int(bool(lengths[~used_site].any()))
    shape = (n_used + spare, k)
    site_place = np.full(len(lengths), n_used, dtype=np.int32 if n_used < 2**31 - 1 else np.int64)
    site_place[used_site] = used_place
    member_row = np.repeat(site_place, lengths)
    haploid = used_site & (half != 1.0)
    data = w if not haploid.any() else w * np.repeat(half, lengths)
    coords = (member_row, score_index)
    in_files = directory if n_used else None

    def dense(name, values):
        coo = scipy.sparse.coo_matrix((values, coords), shape=shape)
        if in_files is None:
            return coo.toarray()[:n_used]
        from trd_spark.pgs.native_task import mapped_rows

        return np.asarray(coo.toarray(out=mapped_rows(in_files, name, shape, values.dtype)))[:n_used]

    slope = dense("slope", data)
    ref_effect_row = np.zeros(n_used, dtype=bool)
    ref_effect_row[used_place] = eir[used_site]
    np.subtract(0.0, slope, out=slope, where=ref_effect_row[:, None])
    count_type = np.min_scalar_type(max(1, int(lengths.max(initial=0))))
    n_vars = dense("n_vars", np.ones(len(member_row), dtype=count_type))
    return WeightMatrices(rows, slope, None, n_vars, ref_effect_row=ref_effect_row, directory=in_files)


def _frame(rng: np.random.Generator, k: int, *, in_row_order: bool, unmatched: int, multiallelic: bool = False):
    """Sites on chr1 / chrY / chrM rows, one site per row; in the rows' order or shuffled;
    ``unmatched`` sites with members and no row (a spare row in the COO form); two sites with no
    members (all dropped: no row of theirs, first and in the middle); a score twice at
    some sites; weights with +0.0, -0.0 and subnormals; REF and alt effect alleles. With
    ``multiallelic``, the first used site's row has another alt row of its record (a REF effect
    allele there spans both rows)."""
    n_rows = 30
    contigs = np.array(["chr1"] * n_rows, dtype=object)
    contigs[-8:-3], contigs[-3:] = "chrY", "chrM"
    rows = pd.DataFrame({"contig": contigs, "position": np.arange(n_rows) + 100, "ref": "A", "alt": "G"})
    matched = np.arange(n_rows, dtype=np.int64) if in_row_order else rng.permutation(n_rows).astype(np.int64)
    matched = np.r_[-1, matched[:12], -1, matched[12:], np.full(unmatched, -1)]
    empty = [0, 13]  # sites without members
    n_sites = len(matched)
    match_type = np.where(rng.random(n_sites) < 0.5, "ref_alt", "alt_ref").astype(object)
    match_type[matched < 0] = "no_match"
    other = [()] * n_sites
    if multiallelic:
        first = int(np.flatnonzero((matched >= 0) & (matched < 10))[0])  # a chr1 row, another after it
        match_type[first] = "alt_ref"
        other[first] = (int(matched[first]) + 1,)
    score_index, weight, line = [], [], []
    for i in range(n_sites):
        scores = np.sort(rng.choice(k, rng.integers(1, k + 1), replace=False))
        if rng.random() < 0.3:
            scores = np.sort(np.r_[scores, scores[0]])  # one score twice: its members add
        if i in empty:
            scores = scores[:0]
        w = rng.normal(size=len(scores))
        w[rng.random(len(scores)) < 0.15] = 0.0
        w[rng.random(len(scores)) < 0.1] = -0.0
        w[rng.random(len(scores)) < 0.05] = 5e-324
        score_index.append(scores.astype(np.int32))
        weight.append(w)
        line.append(np.arange(len(scores), dtype=np.int64) + 10 * i)
    sites = pd.DataFrame({"match_type": match_type, "matched_row": matched, "effect_is_ref": match_type == "alt_ref",
                          "other_alt_rows": other, "other_ref_rows": [()] * n_sites,
                          "member_score_index": score_index, "member_weight": weight, "member_line": line})
    sites.attrs.update({"pgs_ids": [f"PGS{i:06d}" for i in range(k)], DUPLICATES_DROPPED: {}})
    return frame_matches(sites, rows)


def _bits(a: np.ndarray | None) -> tuple | None:
    if a is None:
        return None
    a = np.asarray(a)
    return a.dtype.str, a.shape, np.ascontiguousarray(a).tobytes()


def _all_bits(w: WeightMatrices) -> dict:
    out = {name: _bits(getattr(w, name)) for name in ("slope", "offset", "n_vars", "ref_effect_row", "dominant",
                                                      "recessive")}
    out["offset_total"] = _bits(w.offset_total())
    out["rows"] = w.rows.to_dict("list")
    out["in_files"] = w.directory is not None
    if w.site_models is not None:
        out["site_models"] = [_bits(getattr(w.site_models, f)) for f in ("rows", "coef", "dominant", "recessive")]
    return out


def _both(monkeypatch, build) -> tuple[dict, dict]:
    new = _all_bits(build())
    with monkeypatch.context() as mp:
        mp.setattr(matching, "_one_site_per_row", _reference_one_site_per_row)
        old = _all_bits(build())
    return new, old


@pytest.mark.parametrize("in_row_order,unmatched", [(True, 0), (True, 3), (False, 0), (False, 3)])
def test_weights_bit_identical_to_the_coo_toarray_build(monkeypatch, tmp_path, in_row_order, unmatched):
    """CSR form (in row order, no unmatched site with members) and COO form (shuffled sites or a
    spare row): in memory, in a pass directory's files, and deferred (built on first use), the
    matrices keep every bit, dtype and shape; the files hold the same values as the arrays."""
    rng = np.random.default_rng(37 + 10 * in_row_order + unmatched)
    calls = []
    real = matching._summed_cells

    def spy(out, values, cols, **cells):
        calls.append(next(iter(cells)))
        return real(out, values, cols, **cells)

    monkeypatch.setattr(matching, "_summed_cells", spy)
    for rep in range(3):
        m = _frame(rng, 6, in_row_order=in_row_order, unmatched=unmatched)
        for mode in ("memory", "files", "deferred"):
            def build(mode=mode, rep=rep, m=m):
                d = None if mode == "memory" else tmp_path / f"{mode}{rep}_{len(calls)}"
                return weight_matrices(m, HAPLOID, None if d is None else str(d), defer=mode == "deferred")
            new, old = _both(monkeypatch, build)
            assert new == old, (mode, rep)
            assert new["n_vars"][0] == "|u1" and new["in_files"] == (mode != "memory")
    assert set(calls) == {"bounds" if in_row_order and not unmatched else "rows"}
    # The files the pass's tasks map hold the built values.
    d = tmp_path / "check"
    w = weight_matrices(_frame(rng, 6, in_row_order=in_row_order, unmatched=unmatched), HAPLOID, str(d))
    assert _bits(np.load(d / "weights" / "slope.npy")[: len(w.rows)]) == _bits(w.slope)
    assert _bits(np.load(d / "weights" / "n_vars.npy")[: len(w.rows)]) == _bits(w.n_vars)


@pytest.mark.parametrize("multiallelic", [False, True])
def test_dominant_recessive_and_multiallelic_weights_bit_identical(monkeypatch, multiallelic):
    """Dominant / recessive score variants (``_with_effect_types``, whose additive matrices the
    same build makes) and a REF effect allele at a multi-allelic site (its other alt row: the
    per-cell bincount path for the additive case, ``SiteModels`` for a model): every matrix the
    same bits as with the reference build."""
    rng = np.random.default_rng(3737 + multiallelic)
    for rep in range(3):
        m = _frame(rng, 5, in_row_order=bool(rep % 2), unmatched=2 * (rep == 2), multiallelic=multiallelic)
        kinds = rng.choice(np.array([0, 1, 2], dtype=np.int8), len(m.members))
        row = m.sites["matched_row"].to_numpy()[m.members["site"].to_numpy()]
        kinds[(row >= 0) & m.rows["contig"].isin(HAPLOID).to_numpy()[row]] = 0  # (plink2 refuses them there)
        types = EffectTypes(kinds, ["f.txt"] * 5)
        new, old = _both(monkeypatch, lambda types=types, m=m: weight_matrices(m, HAPLOID, effect_types=types))
        assert new == old, rep
        assert new["dominant"] is not None and ("site_models" in new) == multiallelic
        add_new, add_old = _both(monkeypatch, lambda m=m: weight_matrices(m, HAPLOID))
        assert add_new == add_old, rep


def test_summed_cells_sums_in_member_order_and_refuses_a_cell_outside():
    """The sum of a cell's members in member order from +0.0 (1e16 + 1 - 1e16 is 0, not 1; -0.0
    alone gives +0.0), both forms alike; an index outside the matrix is one ValueError and
    nothing written (the compiled loops write unchecked)."""
    values = np.array([1e16, 1.0, -1e16, -0.0, 2.5])
    cols = np.array([1, 1, 1, 0, 2], dtype=np.int32)
    want = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2.5]])
    want[0, 1] = (0.0 + 1e16 + 1.0) - 1e16
    for cells in ({"bounds": np.array([0, 4, 5], dtype=np.int32)}, {"rows": np.array([0, 0, 0, 0, 1], np.int32)}):
        out = np.zeros((2, 3))
        matching._summed_cells(out, values, cols, **cells)
        assert _bits(out) == _bits(want) and want[0, 1] == 0.0
    bad = [(np.array([1, 1, 1, 0, 3], np.int32), {"bounds": np.array([0, 4, 5], np.int32)}),
           (np.array([1, 1, 1, 0, -1], np.int32), {"rows": np.array([0, 0, 0, 0, 1], np.int32)}),
           (cols, {"bounds": np.array([0, 4, 6], np.int32)}),
           (cols, {"bounds": np.array([0, 6, 5], np.int32)}),
           (cols, {"rows": np.array([0, 0, 0, 0, 2], np.int32)}),
           (cols, {"rows": np.array([0, 0, 0, -1, 1], np.int32)})]
    for c, cells in bad:
        out = np.zeros((2, 3))
        with pytest.raises(ValueError, match="outside the weight matrix"):
            matching._summed_cells(out, values, c, **cells)
        assert not out.any()
