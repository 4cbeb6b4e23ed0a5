"""The audit's protection LP is built from sparse rows, not a dense block: the same matrix, so
the same LP and the same verdicts.

``_link_rows`` replaced a dense (movable x (cells + 2 movable)) block turned sparse, whose
non-zero scan was ~12% of the audit's CPU on the toy release. HiGHS's answer (which optimal
vertex, hence which cells are hidden) depends on the exact arrays it is given, so the CSR arrays
must be the ones the dense block gave, and an audit must decide the same with either builder.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix, hstack, vstack

import trd_spark.report.suppression as sup
from trd_spark.errors import TrdSparkError


def _dense_link_rows(pos: list[int], n: int) -> csr_matrix:
    """The construction before ``_link_rows`` (session 26's ``_cells_to_move``), verbatim."""
    m = len(pos)
    link = np.zeros((m, n + 2 * m))
    for r, k in enumerate(pos):
        link[r, k], link[r, n + r], link[r, n + m + r] = 1.0, -1.0, 1.0
    return csr_matrix(link)


def _a_eq(rel: csr_matrix, link: csr_matrix) -> csr_matrix:
    """``_cells_to_move``'s equality matrix around ``link``."""
    m = link.shape[0]
    return vstack([hstack([rel, csr_matrix((rel.shape[0], 2 * m))]), link]).tocsr()


@pytest.mark.parametrize("seed", range(30))
def test_link_rows_are_the_dense_blocks_arrays(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    pos = sorted(rng.choice(n, size=int(rng.integers(0, n + 1)), replace=False).tolist())
    rel = csr_matrix(rng.integers(-1, 2, size=(int(rng.integers(1, 6)), n)).astype(float))
    new, old = _a_eq(rel, sup._link_rows(pos, n)), _a_eq(rel, _dense_link_rows(pos, n))
    assert new.shape == old.shape
    for fmt in (lambda a: a, lambda a: a.tocsc()):  # linprog hands HiGHS the CSC arrays
        a, b = fmt(new), fmt(old)
        for x, y in ((a.indptr, b.indptr), (a.indices, b.indices), (a.data, b.data)):
            assert x.dtype == y.dtype and np.array_equal(x, y)


def _release(rng: np.random.Generator) -> tuple[dict, set, list[dict]]:
    """A small random release: two tables of parts with their totals, a shared grand total
    (so the groups link), each with a small part or two among larger ones."""
    values: dict = {}
    relations: list[dict] = []
    for t in ("a", "b"):
        parts = rng.integers(20, 90, size=int(rng.integers(3, 6)))
        parts[rng.choice(len(parts), size=int(rng.integers(1, 3)), replace=False)] = rng.integers(1, 20)
        if rng.random() < 0.3:
            parts[int(rng.integers(len(parts)))] = 0
        for i, v in enumerate(parts):
            values[(t, i)] = int(v)
        values[(t, "total")] = int(parts.sum())
        relations.append({(t, "total"): 1, **{(t, i): -1 for i in range(len(parts))}})
    values[("all",)] = values[("a", "total")] + values[("b", "total")]
    relations.append({("all",): 1, ("a", "total"): -1, ("b", "total"): -1})
    return values, set(values), relations


def _verdict(values, published, relations):
    try:
        r = sup.audit_with_fewer_hidden(values, published, relations, 20)
    except TrdSparkError as e:
        return str(e)
    return r.hide, r.dropped, r.intervals, r.pinned_by_known, r.hidden_for


@pytest.mark.parametrize("seed", range(12))
def test_audit_verdicts_same_with_the_dense_block(seed, monkeypatch):
    values, published, relations = _release(np.random.default_rng(seed))
    new = _verdict(values, published, relations)
    monkeypatch.setattr(sup, "_link_rows", _dense_link_rows)
    assert _verdict(values, published, relations) == new  # every interval, label and reason
