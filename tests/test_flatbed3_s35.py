"""``matching.weight_matrices``' common case built in parts of consecutive sites, in threads
(``_one_site_per_row``, ``_site_parts``; issue 16, session 35): the same bits as the per-member
loop of tests/test_pgs_weight_matrices.py and as one part, in memory and in a native pass's
files, with unmatched sites (members kept, no row) inside the parts that have no spare row, REF
effect alleles, haploid rows and one score twice at a site. No Spark: plain frames.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_pgs_weight_matrices import HAPLOID, _reference, _same_bits, _sites_and_rows
from trd_spark.pgs import matching
from trd_spark.pgs.matching import frame_matches, weight_matrices


def _rising(seed: int, k: int):
    """``_sites_and_rows``' frame with the used sites' rows rising with the sites (as the
    stage's are: rows in file order), so that the sites can be cut into parts."""
    sites, rows = _sites_and_rows(np.random.default_rng(seed), k, shared_row=False)
    used = sites["matched_row"].to_numpy() >= 0
    sites.loc[used, "matched_row"] = np.sort(sites.loc[used, "matched_row"].to_numpy())
    return frame_matches(sites, rows)


@pytest.mark.parametrize("in_files", [False, True])
def test_weight_matrices_in_parts_equal_one_part_bit_for_bit(monkeypatch, tmp_path, in_files):
    k = 7
    for seed in range(6):
        m = _rising(seed, k)
        slope, _, n_vars, _ = _reference(m, k)
        lengths = np.diff(m.member_bounds)
        used_site = m.sites["match_type"].isin(matching.USED_MATCH_TYPES).to_numpy() & (lengths > 0)
        # Some unmatched site with members lies before the last part's first site (its members
        # must be left out of a part without the spare row, not summed into a wrong row).
        assert (lengths[~used_site] > 0).any()
        one = weight_matrices(m, HAPLOID, str(tmp_path / f"one{seed}") if in_files else None, threads=1)
        monkeypatch.setattr(matching, "WEIGHT_PART_MEMBERS", 1)
        for threads in (2, 3, 5):
            ends = matching._site_parts(lengths, np.flatnonzero(used_site),
                                        np.arange(int(used_site.sum())), threads)
            assert len(ends) == threads  # really in parts
            assert np.flatnonzero(~used_site & (lengths > 0)).min() < ends[-2]
            d = str(tmp_path / f"p{seed}_{threads}") if in_files else None
            w = weight_matrices(m, HAPLOID, d, threads=threads)
            assert w.n_vars.dtype == np.uint8 and (w.directory is not None) == in_files
            assert _same_bits(w.slope, slope) and _same_bits(w.slope, one.slope)
            assert np.array_equal(w.n_vars, n_vars) and np.array_equal(w.ref_effect_row, one.ref_effect_row)
            assert _same_bits(w.offset_total(), one.offset_total())
            if in_files:  # the pass's files hold the same rows (the spare row past them)
                assert _same_bits(np.load(f"{d}/weights/slope.npy")[:len(slope)], slope)
                assert np.array_equal(np.load(f"{d}/weights/n_vars.npy")[:len(slope)], n_vars)
        monkeypatch.undo()


def test_site_parts_one_part_when_rows_do_not_rise(monkeypatch):
    """Used sites whose rows do not rise with the sites (a part's rows would not be a range of
    their own): one part, whatever the threads."""
    monkeypatch.setattr(matching, "WEIGHT_PART_MEMBERS", 1)
    lengths = np.full(10, 3)
    assert matching._site_parts(lengths, np.arange(10), np.array([0, 1, 2, 3, 5, 4, 6, 7, 8, 9]), 4) == [10]
    assert matching._site_parts(lengths, np.arange(10), np.arange(10), 4) == [2, 4, 7, 10]
