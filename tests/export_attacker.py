"""An outsider who reads an export and knows the study's structure (test helper).

Written independently of ``trd_spark.report.tables``: it parses the exported tables as text
and states the relations from the study design (status counts add up to the MDD total, which
is the same under every TRD definition; a model's n is the sum of its groups; the KM curves'
thirds add up to the MDD persons and their events to the TRD persons; ...), then asks two
questions per hidden cell:

- ``determined``: is the cell fixed exactly by the equations once the shown numbers are
  plugged in? (null space of the hidden part of the system, numpy SVD; no bounds);
- ``interval``: min and max of the cell over real non-negative solutions that respect
  every shown number and label ("<20" = 1..19, "suppressed" = at least 20), by linear
  programming (scipy linprog, HiGHS interior point, a different method from the audit's).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog


class Attacker:
    """Variables named by tuples; ``know`` adds a linear equation ``sum(coef * var) = rhs``."""

    def __init__(self, threshold: int = 20):
        self.threshold = threshold
        self.bounds: dict = {}
        self.equations: list[tuple[dict, float]] = []
        self._cache: dict = {}

    def cell(self, name, shown=None):
        """A variable; ``shown`` is its exported text (a number, "<T", "suppressed") or None."""
        if name in self.bounds and shown is None:
            return name
        t = self.threshold
        if shown is None:
            b = (0.0, None)
        elif isinstance(shown, str) and shown.startswith("<"):
            b = (1.0, float(int(shown[1:]) - 1))
        elif shown == "suppressed":
            b = (float(t), None)
        else:
            b = (float(shown), float(shown))
        self.bounds[name] = b
        self._cache.clear()
        return name

    def know(self, coefs: dict, rhs: float = 0.0) -> None:
        for v in coefs:
            self.cell(v)
        self.equations.append((coefs, rhs))
        self._cache.clear()

    def _system(self):
        if "system" not in self._cache:
            self._cache["system"] = self._build()
        return self._cache["system"]

    def _build(self):
        names = sorted(self.bounds, key=str)
        idx = {n: i for i, n in enumerate(names)}
        a = np.zeros((len(self.equations), len(names)))
        b = np.zeros(len(self.equations))
        for r, (coefs, rhs) in enumerate(self.equations):
            for v, c in coefs.items():
                a[r, idx[v]] += c
            b[r] = rhs
        return names, idx, a, b

    def determined(self, name) -> bool:
        names, idx, a, b = self._system()
        if "null" not in self._cache:
            unknown = [i for i, n in enumerate(names) if self.bounds[n][0] != self.bounds[n][1]]
            sub = a[:, unknown]
            _, s, vt = np.linalg.svd(sub)
            rank = int((s > 1e-9 * max(s.max(initial=0), 1)).sum())
            # Rows: unknown cells; columns span the null space of the hidden part.
            self._cache["null"] = ({i: r for r, i in enumerate(unknown)}, vt[rank:].T)
        where, null = self._cache["null"]
        if idx[name] not in where:
            return True  # shown
        return bool(np.all(np.abs(null[where[idx[name]]]) < 1e-9)) if null.size else True

    def interval(self, name) -> tuple[float, float]:
        names, idx, a, b = self._system()
        bounds = [self.bounds[n] for n in names]
        out = []
        for sign in (1.0, -1.0):
            c = np.zeros(len(names))
            c[idx[name]] = sign
            res = linprog(c, A_eq=a, b_eq=b, bounds=bounds, method="highs-ipm")
            if res.status == 3:
                out.append(np.inf)
                continue
            assert res.status == 0, res.message  # the equations must hold on the true values
            out.append(sign * res.fun)
        return out[0], out[1]
