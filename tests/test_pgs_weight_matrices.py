"""``matching.weight_matrices`` against a per-member reference (issue 16, session 32).

The matrices are summed straight from the members when each used row holds one site
(``matching._one_site_per_row``: scipy's COO to dense, the REF effect's sign applied per row
after the sum) and per (row, score) cell with bincounts otherwise. Both must give, bit for bit
(the sign of a zero included), what a loop over the members in member order gives: slope
``-half x w`` for a REF effect allele else ``half x w`` (half 0.5 on chrY/chrM), offset ``2 x
half x w`` for a REF effect allele, n_vars the members counted. No Spark: plain frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trd_spark.pgs.matching import DUPLICATES_DROPPED, FrameMatches, frame_matches, weight_matrices

HAPLOID = ("chrY", "chrM")


def _sites_and_rows(rng: np.random.Generator, k: int, *, shared_row: bool, long_site: int = 0,
                    every_row_used: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Genotype rows on chr1/chrY/chrM, some used by no site, and score sites in an order that is
    not the rows' (as sites numbered by first appearance over several scoring files are): some
    unmatched (members kept, no row), REF and alt effect alleles, weights with +0.0 and -0.0,
    one score twice at some sites (its members add), and, with ``shared_row``, two used sites on
    one row (the bincount path). ``long_site``: that many members of score 0 at site 0.
    ``every_row_used``: no row without a used site."""
    n_sites = 36
    unmatched = rng.choice(n_sites, 6, replace=False)
    n_rows = n_sites - len(unmatched) - shared_row if every_row_used else 40
    contigs = np.array(["chr1"] * n_rows, dtype=object)
    contigs[-10:-4], contigs[-4:] = "chrY", "chrM"
    rows = pd.DataFrame({"contig": contigs, "position": np.arange(n_rows) + 100, "ref": "A", "alt": "G"})
    matched = np.full(n_sites, -1, dtype=np.int64)
    used = np.setdiff1d(np.arange(n_sites), unmatched)
    # Rows in an order that is not the sites' (with ``shared_row``, the last used site is put on
    # the first one's row below).
    matched[used] = np.r_[rng.permutation(n_rows), -1][:len(used)]
    match_type = np.where(rng.random(n_sites) < 0.5, "ref_alt", "alt_ref").astype(object)
    match_type[unmatched] = "no_match"
    if shared_row:
        matched[used[-1]] = matched[used[0]]
        match_type[used[-1]] = match_type[used[0]]  # one row, one allele: both sites' signs agree
    score_index, weight, line = [], [], []
    for i in range(n_sites):
        scores = np.sort(rng.choice(k, rng.integers(1, k + 1), replace=False))
        if rng.random() < 0.3:  # one score twice at this site
            scores = np.sort(np.r_[scores, scores[0]])
        if i == 0 and long_site:
            scores = np.r_[scores, np.zeros(long_site, dtype=np.int64)]
        w = rng.normal(size=len(scores))
        w[rng.random(len(scores)) < 0.15] = 0.0
        w[rng.random(len(scores)) < 0.1] = -0.0
        score_index.append(scores.astype(np.int32))
        weight.append(w)
        line.append(np.arange(len(scores), dtype=np.int64) + 10 * i)
    sites = pd.DataFrame({"match_type": match_type, "matched_row": matched,
                          "effect_is_ref": match_type == "alt_ref",
                          "other_alt_rows": [()] * n_sites, "other_ref_rows": [()] * n_sites,
                          "member_score_index": score_index, "member_weight": weight, "member_line": line})
    sites.attrs.update({"pgs_ids": [f"PGS{i:06d}" for i in range(k)], DUPLICATES_DROPPED: {}})
    return sites, rows


def _reference(m: FrameMatches, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per used row (row order) and score: slope, offset, n_vars summed over the members in member
    order from +0.0, one member at a time; and the used rows."""
    s, mem = m.sites, m.members
    used_site = s["match_type"].isin(["ref_alt", "alt_ref"]).to_numpy() & \
        np.isin(np.arange(len(s)), mem["site"].to_numpy())
    used_rows = np.unique(s["matched_row"].to_numpy()[used_site])
    place = {r: i for i, r in enumerate(used_rows.tolist())}
    slope = [[0.0] * k for _ in used_rows]
    offset = [[0.0] * k for _ in used_rows]
    n_vars = np.zeros((len(used_rows), k), dtype=np.int64)
    for site, score, w in zip(mem["site"].tolist(), mem["score_index"].tolist(), mem["effect_weight"].tolist()):
        if not used_site[site]:
            continue
        row = int(s["matched_row"].iat[site])
        half = 0.5 if m.rows["contig"].iat[row] in HAPLOID else 1.0
        ref = bool(s["effect_is_ref"].iat[site])
        r = place[row]
        slope[r][score] += (-half if ref else half) * w
        offset[r][score] += (2.0 if ref else 0.0) * (half * w)
        n_vars[r, score] += 1
    return np.array(slope).reshape(-1, k), np.array(offset).reshape(-1, k), n_vars, used_rows


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(np.ascontiguousarray(a, np.float64).view(np.int64),
                                                 np.ascontiguousarray(b, np.float64).view(np.int64))


def test_weight_matrices_equal_a_per_member_sum_bit_for_bit_on_both_paths():
    """Both paths, several random frames each: slope and offset with the same bits as the
    member loop (no -0.0 where the loop gives +0.0: a REF effect's empty or zero cell), n_vars
    the member counts, the used rows in row order, the offsets' column sums as the matrix's. One
    site per row: n_vars in the smallest unsigned type holding a site's members (uint8 here, the
    native pass's tasks take it as it is), every row used or not (the rows frame then not
    copied, ``_used_rows``), and the members' runs taken from ``frame_matches``
    (``FrameMatches.member_bounds``) equal to a binary search over them."""
    rng = np.random.default_rng(32)
    k = 7
    for shared_row, every_row_used in ((False, False), (True, False), (False, True), (True, True)):
        for _ in range(4):
            sites, rows = _sites_and_rows(rng, k, shared_row=shared_row, every_row_used=every_row_used)
            m = frame_matches(sites, rows)
            assert m.member_bounds is not None
            assert np.array_equal(m.member_bounds, np.searchsorted(m.members["site"].to_numpy(),
                                                                   np.arange(len(m.sites) + 1)))
            w = weight_matrices(m, HAPLOID)
            slope, offset, n_vars, used_rows = _reference(m, k)
            assert w.rows["position"].tolist() == rows["position"].to_numpy()[used_rows].tolist()
            assert w.rows.index.equals(pd.RangeIndex(len(used_rows))) and w.rows is not m.rows
            assert (len(used_rows) == len(rows)) == every_row_used
            assert _same_bits(w.slope, slope), shared_row
            assert _same_bits(w.offset, offset), shared_row
            assert _same_bits(w.offset_total(), offset.sum(axis=0))
            assert np.array_equal(w.n_vars, n_vars)
            if shared_row:
                assert w.n_vars.dtype == np.int32  # the bincount path, as before
            else:
                assert w.n_vars.dtype == np.uint8 and w.ref_effect_row is not None


def test_weight_matrices_count_type_holds_the_largest_site():
    """A site with 300 members of one score (a cell counting 300): n_vars in uint16, counted
    exactly (uint8 would wrap to 44)."""
    sites, rows = _sites_and_rows(np.random.default_rng(7), 5, shared_row=False, long_site=300)
    m = frame_matches(sites, rows)
    w = weight_matrices(m, HAPLOID)
    slope, _, n_vars, _ = _reference(m, 5)
    assert w.n_vars.dtype == np.uint16
    assert np.array_equal(w.n_vars, n_vars) and int(n_vars.max()) > 255
    assert _same_bits(w.slope, slope)
