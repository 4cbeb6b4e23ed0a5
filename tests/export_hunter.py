"""A ground-truth hunter over the toy releases' exports (privacy round 9, session 40; written apart
from the audit, ``report.tables`` / ``report.suppression``, and from ``export_attacker``).

The audit reasons over the relations it names; an outsider may use any. Here every count an export
shows exactly is rebuilt as the set of persons it counts, from the internal tables and the inputs
(``published_person_sets``: status groups, the models' n / cases / events, the PGS-distribution
groups, the Kaplan-Meier thirds at risk on each published day and their onsets before it, which the
life-table survival gives back, the cohort flow's steps, report.html's genotyped -> analysed table),
each rebuilt count checked against the shown one. ``small_groups`` then looks for combinations of
up to four such sets whose arithmetic is the size of a real group of 1..T-1 persons: ``a - b`` with b
inside a, ``a + b - c`` with a and b disjoint and c inside their union, ``a - b - c`` and
``a - b - c - d`` with disjoint parts inside a; and a count of the same cell in two releases that
changed by 1..T-1. No named relation is needed: the sets say which combinations are groups.
Before privacy round 8 (session 39's first toy-r2 export, its ``export_history``), it found the
Kaplan-Meier onsets after the curves (the Cox model's events less three thirds' onsets: 18 and 19).
The Kaplan-Meier thirds are rebuilt apart from ``models.km.pgs_tertile`` but by its rule since 8d4e57b
(by value: persons of one PGS in one third, a tied block at a cut point in the lower third), from the
count of persons with a strictly lower PGS; until session 50 the hunter kept the old rank rule (ties
split in person order), whose thirds differ from the published ones on tied scores.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

import numpy as np
import pandas as pd
from export_attacker import _html_tables

MDD = ("TRD", "trMDD", "MDD_other")
CONTRAST = {"trd_vs_nonmdd": (("TRD",), ("non_MDD",)), "trmdd_vs_nonmdd": (("trMDD",), ("non_MDD",)),
            "trd_vs_trmdd": (("TRD",), ("trMDD",)), "mdd_vs_nonmdd": (MDD, ("non_MDD",))}


def km_thirds(pgs: pd.Series) -> np.ndarray:
    """1, 2, 3: the Kaplan-Meier third of each person of ``pgs`` (no missing value), by
    ``models.km.pgs_tertile``'s rule (8d4e57b), written again another way: a person's third is set
    by how many persons have a strictly lower PGS (rank "min" - 1) against floor(n/3) and
    floor(2n/3), so persons of one PGS share a third and a tied block at a cut point is in the lower
    one (Stata's ``xtile``). Before session 50 the hunter ranked with ties in person order (the old
    rule), and its thirds were not the published ones on tied scores."""
    below = pgs.rank(method="min").to_numpy() - 1
    n = len(pgs)
    return 1 + (below >= n // 3).astype(int) + (below >= 2 * n // 3).astype(int)


def with_ancestry_step(unrelated: set[int], ancestry: pd.DataFrame, n_pcs: int, standardisation: str,
                       standardisation_n_pcs: int) -> set[int]:
    """The persons of the cohort flow's "with genetic ancestry and PCs" step, rebuilt apart from
    ``cohort.stage.dataset_counts`` from its rule (README "Cohort"): of ``unrelated`` (the previous step's
    persons), those with a row in ``ancestry`` (AoU's ancestry_preds.tsv: research_id, ancestry_pred,
    pca_features), an ancestry group under ``standardisation`` "ancestry" (a non-empty ancestry_pred), a value
    of each of the first ``standardisation_n_pcs`` PCs under "pc_adjusted", and a value of every covariate PC
    (the first ``n_pcs``) that one of those persons has. Persons of the file outside ``unrelated`` count
    nowhere. Until session 51 the hunter took every unrelated person with a row in the file, whatever its
    PCs: a step the pipeline counts without persons lacking a PC read as a mismatch."""
    pcs = [f"pc{i}" for i in range(1, n_pcs + 1)]
    rows = ancestry.assign(person_id=ancestry["research_id"].astype("int64"))
    rows = rows[rows.person_id.isin(unrelated)]
    text = rows["pca_features"].fillna("").astype(str).str.replace(r"[\[\]\s]", "", regex=True).str.split(",")
    values = pd.DataFrame([(list(v) + [""] * n_pcs)[:n_pcs] for v in text], columns=pcs, index=rows.index)
    values = values.apply(pd.to_numeric, errors="coerce")
    grouped = pd.Series(True, index=rows.index)
    if standardisation == "ancestry":
        grouped &= rows["ancestry_pred"].fillna("").astype(str).str.strip() != ""
    elif standardisation == "pc_adjusted":
        grouped &= values[pcs[:standardisation_n_pcs]].notna().all(axis=1)
    present = [c for c in pcs if values.loc[grouped, c].notna().any()]
    kept = grouped & values[present].notna().all(axis=1)
    return set(rows.loc[kept, "person_id"])


def published_person_sets(root: Path, releases: list[str], primary: str, n_pcs: int = 10,
                          standardisation: str = "pc_adjusted", standardisation_n_pcs: int = 4,
                          ) -> tuple[dict[tuple, frozenset], list[tuple]]:
    """Every count the releases' exports under ``root`` (``results/<release>/``; inputs under
    ``inputs/<release>/ancestry``) show exactly, as the set of (release, person_id) it counts. Cell
    names start with (release, kind). Returns (cells, mismatches: a rebuilt set whose size is not the
    shown count, (name, shown, rebuilt)); a mismatch means the rebuild is wrong, not a leak.
    ``standardisation`` / ``standardisation_n_pcs``: the config's pgs.standardisation and
    pgs.standardisation_n_pcs (the toy configs': pc_adjusted, 4), for ``with_ancestry_step``. The step
    "after removing related persons" is rebuilt from the flagged list (relatedness_flagged_samples.tsv) only:
    a release with ancestry.related_pairs (no toy config) would read a mismatch there."""
    cells: dict[tuple, frozenset] = {}
    mismatch: list[tuple] = []
    pcs = [f"pc{i}" for i in range(1, n_pcs + 1)]

    def add(name: tuple, ids, shown: str, rel: str) -> None:
        s = frozenset((rel, int(p)) for p in ids)
        text = str(shown).replace(",", "")
        if text.isdigit():
            if int(text) != len(s):
                mismatch.append((name, text, len(s)))
            else:
                cells[name] = s

    for rel in releases:
        b = root / "results" / rel

        def rd(n: str, b: Path = b) -> pd.DataFrame:
            return pd.read_csv(b / "export" / n, sep="\t", dtype=str, keep_default_na=False)

        fr = pd.read_parquet(b / "cohort" / "analysis_frame.parquet")
        ph = pd.read_parquet(b / "phenotypes" / "phenotypes.parquet")
        persons = pd.read_parquet(b / "phenotypes" / "persons.parquet")
        in_slice = {k: g for k, g in fr.groupby(["dataset", "definition"])}
        for r in rd("cohort_counts.tsv").itertuples():
            g = in_slice[(r.dataset, r.definition)]
            add((rel, "status", r.dataset, r.definition, r.status), g[g.status == r.status].person_id, r.n, rel)
        for r in rd("results.tsv").itertuples():
            cases, controls = CONTRAST[r.contrast]
            g = in_slice[(r.dataset, r.definition)]
            g = g[g.status.isin(cases + controls)].dropna(subset=[r.pgs_id, "age", "sex_female", *pcs])
            add((rel, "lg_n", r.dataset, r.definition, r.contrast, r.pgs_id), g.person_id, r.n, rel)
            add((rel, "lg_cases", r.dataset, r.definition, r.contrast, r.pgs_id), g[g.status.isin(cases)].person_id,
                r.n_cases, rel)
        for r in rd("cox.tsv").itertuples():
            g = in_slice[(r.dataset, r.definition)]
            g = g[g.status.isin(MDD)].dropna(subset=[r.pgs_id, "age_at_index", "sex_female", *pcs, "time_to_trd_days",
                                                     "trd_event"])
            g = g[g.time_to_trd_days >= 0]
            add((rel, "cox_n", r.dataset, r.definition, r.pgs_id), g.person_id, r.n, rel)
            add((rel, "cox_events", r.dataset, r.definition, r.pgs_id), g[g.trd_event > 0].person_id, r.n_events, rel)
        for r in rd("pgs_distribution.tsv").itertuples():
            g = in_slice[(r.dataset, primary)]
            g = g[g.ancestry.fillna("unknown") == r.ancestry].dropna(subset=[r.pgs_id])
            add((rel, "dist", r.dataset, r.ancestry, r.pgs_id), g.person_id, r.n, rel)
        if (b / "export" / "km_curves.tsv").exists():
            for (ds, d, p), kg in rd("km_curves.tsv").groupby(["dataset", "definition", "pgs_id"]):
                g = in_slice[(ds, d)]
                g = g[g.status.isin(MDD)].dropna(subset=["time_to_trd_days", "trd_event", p])
                g = g[g.time_to_trd_days >= 0].sort_values("person_id")
                third = km_thirds(g[p])
                for r in kg.itertuples():
                    t3, day = g[third == int(r.tertile)], int(r.time_days)
                    add((rel, "km_at_risk", ds, d, p, r.tertile, day), t3[t3.time_to_trd_days >= day].person_id,
                        r.n_at_risk, rel)
                    if day > 0:  # each step's onsets read back from the life-table survival
                        onsets = t3[(t3.trd_event > 0) & (t3.time_to_trd_days < day)].person_id
                        cells[(rel, "km_onsets_before", ds, d, p, r.tertile, day)] = frozenset((rel, int(x)) for x in onsets)
        for r in rd("cohort_flow.tsv").itertuples():
            q = ph[ph.definition == (primary if r.definition == "all" else r.definition)]
            mdd = q[q.status.isin(MDD)].person_id

            def excluded(*reasons: str, q: pd.DataFrame = q) -> pd.Series:
                return q[q.exclusion_reason.isin(reasons)].person_id

            steps = {"all_persons": persons.person_id, "mdd_included": mdd, "non_MDD": q[q.status == "non_MDD"].person_id,
                     "after_exclusion_under_18_at_index": mdd,
                     "after_exclusion_schizophrenia_spectrum": pd.concat([mdd, excluded("under_18_at_index")]),
                     "after_exclusion_bipolar": pd.concat([mdd, excluded("under_18_at_index")]),
                     "mdd_min_distinct_dates": pd.concat([mdd, excluded("under_18_at_index", "bipolar")]),
                     "TRD": q[q.status == "TRD"].person_id, "trMDD": q[q.status == "trMDD"].person_id,
                     "MDD_other_no_adequate_trial": q[q.status == "MDD_other"].person_id,
                     "with_adequate_trial": q[q.status.isin(("TRD", "trMDD"))].person_id}
            if r.step in steps:
                add((rel, "flow", r.definition, r.step), steps[r.step], r.n, rel)
        page = b / "export" / "report.html"
        if page.exists():
            scores = pd.read_parquet(b / "pgs" / "scores.parquet", columns=["dataset", "person_id"]).drop_duplicates()
            anc_dir = root / "inputs" / rel / "ancestry"
            related = set(pd.read_csv(anc_dir / "relatedness_flagged_samples.tsv", sep="\t").iloc[:, 0].astype(int))
            ancestry = pd.read_csv(anc_dir / "ancestry_preds.tsv", sep="\t", dtype=str, keep_default_na=False)
            for caption, _, rows in _html_tables(page.read_text()):
                if not caption.startswith("Genotyped to analysed"):
                    continue
                d = re.search(r"definition (\w+)", caption).group(1)
                before: set | None = None
                for ds, step, n, removed in rows:
                    genotyped = set(scores[scores.dataset == ds].person_id.astype(int))
                    frame = in_slice.get((ds, d), fr.iloc[:0])
                    steps = {"genotyped": genotyped, "after removing": genotyped - related,
                             "with genetic": with_ancestry_step(genotyped - related, ancestry, n_pcs, standardisation,
                                                                standardisation_n_pcs),
                             "in the analysis": set(frame.person_id.astype(int))}
                    s = next((v for k, v in steps.items() if step.startswith(k)), None)
                    if step.startswith("status "):
                        s = set(frame[frame.status == step[len("status "):]].person_id.astype(int))
                    if s is None:
                        mismatch.append(((rel, "dataset_flow", ds, d, step), n, "step not rebuilt"))
                        continue
                    add((rel, "dataset_flow", ds, d, step), s, n, rel)
                    if not step.startswith("status "):
                        if before is not None and removed:
                            add((rel, "dataset_flow_removed", ds, d, step), before - s, removed, rel)
                        before = s
    return cells, mismatch


def small_groups(cells: dict[tuple, frozenset], threshold: int = 20) -> list[tuple[int, str, list[tuple], frozenset]]:
    """Combinations of up to four of ``cells`` (``published_person_sets``) that are a group of 1 to
    ``threshold`` - 1 persons, and cells whose count changed by 1 to ``threshold`` - 1 between two
    releases (names equal but for the release). Returns (count, kind, the cells' names (one per set;
    cells of the same persons count once), the group (empty for a release change))."""
    by_set = collections.defaultdict(list)
    for name, s in cells.items():
        if s:  # an empty cell (a 0 shown) adds nothing to a sum
            by_set[s].append(name)
    sets = list(by_set)
    names = [sorted(by_set[s], key=str) for s in sets]
    people = sorted(set().union(*sets)) if sets else []
    at = {p: i for i, p in enumerate(people)}
    m = np.zeros((len(sets), len(people)), dtype=np.float32)
    for i, s in enumerate(sets):
        m[i, [at[p] for p in s]] = 1
    size, inter = m.sum(1), m @ m.T
    inside = inter == size[None, :]  # inside[a, b]: set b within set a
    out: dict[tuple, tuple] = {}

    def hit(kind: str, group: frozenset, *ix: int) -> None:
        out.setdefault((kind, tuple(sorted(ix))), (len(group), kind, [names[i][0] for i in ix], group))

    n = len(sets)
    for a in range(n):
        for b in np.nonzero(inside[a])[0]:
            if 0 < size[a] - size[b] < threshold:
                hit("a - b, b within a", sets[a] - sets[b], a, int(b))
        others = np.arange(a + 1, n)
        for b in others[inter[a, others] == 0]:
            union = sets[a] | sets[b]
            left = size[a] + size[b] - size
            for c in np.nonzero((inter[:, a] + inter[:, b] == size) & (left > 0) & (left < threshold))[0]:
                hit("a + b - c, c within a | b", union - sets[c], a, int(b), int(c))
        parts = np.array([b for b in np.nonzero(inside[a])[0] if 0 < size[b] < size[a]], dtype=int)
        for i, b in enumerate(parts):
            cs = parts[i + 1:]
            cs = cs[(inter[b, cs] == 0) & (size[cs] < size[a] - size[b])]
            for c in cs:
                rest = size[a] - size[b] - size[c]
                if rest < threshold:
                    hit("a - b - c, disjoint parts of a", sets[a] - sets[b] - sets[c], a, int(b), int(c))
                ds = cs[cs > c]
                ds = ds[(inter[b, ds] == 0) & (inter[c, ds] == 0) & (size[ds] < rest) & (rest - size[ds] < threshold)]
                for d in ds:
                    hit("a - b - c - d, disjoint parts of a", sets[a] - sets[b] - sets[c] - sets[d], a, int(b), int(c),
                        int(d))
    found = list(out.values())
    by_cell = collections.defaultdict(dict)
    for name, s in cells.items():
        by_cell[name[1:]][name[0]] = len(s)
    for cell, counts in sorted(by_cell.items(), key=str):
        values = sorted(counts.values())
        for x, y in zip(values, values[1:]):
            if 0 < y - x < threshold:
                found.append((y - x, "release change", [(r, *cell) for r in sorted(counts)], frozenset()))
    return sorted(found, key=lambda h: (h[1], h[0], str(h[2])))


def _atoms(cells: dict[tuple, frozenset], merge_releases: bool) -> tuple[list[list[tuple]], list[frozenset], np.ndarray]:
    """The Venn atoms of ``cells``: persons grouped by the exact cells they are in. Returns (names of
    each distinct non-empty set, each atom's persons, the set x atom incidence matrix). With
    ``merge_releases`` a person is one person in both releases (toy releases are prefix-stable)."""
    by_set: dict[frozenset, list[tuple]] = collections.defaultdict(list)
    for name, s in cells.items():
        s = frozenset(p for _, p in s) if merge_releases else s
        if s:
            by_set[s].append(name)
    sets = list(by_set)
    member: dict = collections.defaultdict(list)
    for i, s in enumerate(sets):
        for p in s:
            member[p].append(i)
    signature: dict[tuple, list] = collections.defaultdict(list)
    for p, ix in member.items():
        signature[tuple(ix)].append(p)
    incidence = np.zeros((len(sets), len(signature)))
    for j, ix in enumerate(signature):
        incidence[list(ix), j] = 1
    return [sorted(by_set[s], key=str) for s in sets], [frozenset(v) for v in signature.values()], incidence


def determined_small_groups(cells: dict[tuple, frozenset], threshold: int = 20, merge_releases: bool = False,
                            ) -> list[tuple[int, frozenset, dict[str, float]]]:
    """Groups of 1 to ``threshold`` - 1 persons whose count follows from ``cells`` (every count shown
    exactly, ``published_person_sets``) by ANY linear combination, of any number of terms and any
    rational coefficients: an atom (persons in exactly the same cells) or a union of two atoms whose
    indicator lies in the row space of the cell x atom incidence matrix M. The row space holds e_a
    exactly when row a of a basis of M's null space is 0 (and e_a + e_b when rows a and b are
    opposite); the basis is the SVD's, each hit then checked by least squares. Further candidates: each
    cell, each two cells' intersection and difference, of 1 to ``threshold`` - 1 persons (in the row
    space when their atoms' null-space rows sum to 0). Other unions of three or more atoms are not
    searched (an exact 0/1 search over the row space did not finish in minutes on
    toy-r2's 1,100 atoms). The atoms are the data's: a region empty on the toy data only (TRD under
    ad2_augmentation and not ad3: the toy generator nests them, their rules do not) is read as known
    to be empty, which an outsider cannot know; callers run this on views where that holds by design.
    Returns (persons, the group, the combination: cell name -> coefficient)."""
    names, members, m = _atoms(cells, merge_releases)
    if not members:
        return []
    size = np.array([len(x) for x in members])
    _, sv, vt = np.linalg.svd(m, full_matrices=True)
    rank = int((sv > 1e-9 * sv[0]).sum()) if len(sv) else 0
    null = vt[rank:].T  # atoms x (atoms - rank)
    norm = np.linalg.norm(null, axis=1) if null.size else np.zeros(len(members))
    small = np.nonzero(size < threshold)[0]
    candidates = [(a,) for a in small if norm[a] < 1e-8]
    rows: dict[tuple, list[int]] = collections.defaultdict(list)
    for a in small:
        if norm[a] >= 1e-8:
            rows[tuple(np.round(null[a], 6))].append(int(a))
    for a in small:
        if norm[a] >= 1e-8:
            candidates += [(int(a), b) for b in rows.get(tuple(np.round(-null[a], 6)) + (), [])
                           if a < b and size[a] + size[b] < threshold]
    # And the cells, their intersections and differences of 1..T-1 persons (unions of many atoms).
    inter = (m * size) @ m.T  # persons in both cells
    both = np.argwhere(np.triu((inter > 0) & (inter < threshold)))
    less = np.argwhere((np.diag(inter)[:, None] - inter > 0) & (np.diag(inter)[:, None] - inter < threshold))
    for (a, b), with_b in [*((p, True) for p in both), *((p, False) for p in less)]:
        ix = tuple(int(j) for j in np.nonzero((m[a] > 0) & ((m[b] > 0) == with_b))[0])
        if not null.size or np.abs(null[list(ix)].sum(0)).max() < 1e-8:
            candidates.append(ix)
    out, seen = [], set()
    for ix in candidates:
        if ix in seen:
            continue
        seen.add(ix)
        y = np.zeros(len(members))
        y[list(ix)] = 1
        x = np.linalg.lstsq(m.T, y, rcond=None)[0]
        if np.abs(m.T @ x - y).max() < 1e-6:
            combo = {str(names[i][0]): round(float(x[i]), 3) for i in np.nonzero(np.abs(x) > 1e-6)[0]}
            out.append((int(size[list(ix)].sum()), frozenset().union(*(members[i] for i in ix)), combo))
    return out


def definition_views(cells: dict[tuple, frozenset], definitions: list[str], nested: list[tuple[str, str]],
                     ) -> dict[str, dict[tuple, frozenset]]:
    """The cells an outsider may combine without knowing how two TRD definitions' persons overlap:
    for each definition (and each pair nested by design, ``report.tables.nested_definitions``), its
    cells and every cell of no definition (``all`` flow steps, PGS distribution groups). A cell shown
    under several definitions holds the same persons where the rules say so (non-MDD, MDD, a curve set's
    persons) and is then one set in every view."""
    def defs_of(name: tuple) -> set[str]:
        return {v for v in name if v in definitions}

    views = {d: {k: v for k, v in cells.items() if defs_of(k) <= {d}} for d in definitions}
    for a, b in nested:
        views[f"{a}+{b}"] = {k: v for k, v in cells.items() if defs_of(k) <= {a, b}}
    return views


def any_union_small_groups(cells: dict[tuple, frozenset], threshold: int = 20, merge_releases: bool = False,
                           limit: int = 20, time_limit: float = 120.0,
                           ) -> tuple[list[tuple[int, frozenset, dict[str, float]]], bool]:
    """Groups of 1 to ``threshold`` - 1 persons that are a union of ANY number of Venn atoms
    (``_atoms``) and whose count follows from ``cells`` by a linear combination of any number of
    terms with any real coefficients: the owed half of ``determined_small_groups`` (session 41
    searched one atom, two, and cells' intersections / differences only). An integer programme over
    the atom incidence M (cells x atoms), solved by HiGHS (``scipy.optimize.milp``): binary y over the
    atoms of fewer than ``threshold`` persons (an atom of ``threshold`` or more is in no group of
    fewer), free x over the cells, M^T x = y on every atom (0 on the large ones), 1 <= sizes . y <=
    ``threshold`` - 1. Each solution is checked by least squares (a numerical near-miss is cut and
    not reported) and cut (no-good: the same union again is infeasible), up to ``limit`` groups.
    Covers: every union of atoms whose indicator is in M's row space, i.e. every subset of persons
    the shown counts determine that the data's atoms can form. Does not cover: persons the atoms
    split (no shown count tells them apart, so no such group is determined), inequalities or
    bounds (a count known to lie in 1..19 without being determined), and labels (``<20``) read as
    ranges; as ``determined_small_groups``, a region empty on the data only is read as known empty,
    and over unions of many atoms that reading matters: on toy-r2's ad3 view (session 42) it
    reports 9 persons = the Kaplan-Meier onsets before each third's last published day under
    PGS900003 less those under PGS900002 (replication_wgs), exact only because the second set lies
    in the first on the toy data (by no rule: an outsider reads |A| - |B| with B less A unknown), and
    4 and 12 persons of the same kind. A hit is a candidate to judge, not a leak, until the regions
    it needs empty are empty by design (``definition_views``' nesting is one such judgement).
    Returns (hits: persons, group, combination cell name -> coefficient; complete: False when the
    solver stopped on ``time_limit`` or ``limit`` before proving no further group exists)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix, hstack, identity

    names, members, m = _atoms(cells, merge_releases)
    if not members:
        return [], True
    size = np.array([len(x) for x in members], dtype=float)
    n_cells, n_atoms = m.shape
    small = size < threshold
    # variables: x (n_cells, free) then y (n_atoms, binary; 0 on the large atoms)
    eq = hstack([csr_matrix(m.T), -identity(n_atoms, format="csr")]).tocsr()
    total = csr_matrix(np.concatenate([np.zeros(n_cells), size])[None, :])
    lo_y, hi_y = np.zeros(n_atoms), small.astype(float)
    bounds = Bounds(np.concatenate([np.full(n_cells, -np.inf), lo_y]), np.concatenate([np.full(n_cells, np.inf), hi_y]))
    integrality = np.concatenate([np.zeros(n_cells), np.ones(n_atoms)])
    cost = np.concatenate([np.zeros(n_cells), size])  # the smallest group first
    cuts: list[np.ndarray] = []
    out: list[tuple[int, frozenset, dict[str, float]]] = []
    while len(out) < limit:
        constraints = [LinearConstraint(eq, 0, 0), LinearConstraint(total, 1, threshold - 1)]
        if cuts:
            rows = np.array(cuts)
            constraints.append(LinearConstraint(csr_matrix(np.hstack([np.zeros((len(cuts), n_cells)), rows])),
                                                -np.inf, rows.sum(1) - 1))
        res = milp(cost, constraints=constraints, integrality=integrality, bounds=bounds,
                   options={"time_limit": time_limit, "presolve": True})
        if res.status == 2:  # infeasible: no further group
            return out, True
        if res.x is None:  # time limit (status 1) or another stop without a solution
            return out, False
        y = np.round(res.x[n_cells:]).astype(int)
        ix = np.nonzero(y)[0]
        cuts.append(y.astype(float))
        target = y.astype(float)
        x = np.linalg.lstsq(m.T, target, rcond=None)[0]
        if np.abs(m.T @ x - target).max() < 1e-6:
            combo = {str(names[i][0]): round(float(x[i]), 3) for i in np.nonzero(np.abs(x) > 1e-6)[0]}
            out.append((int(size[ix].sum()), frozenset().union(*(members[i] for i in ix)), combo))
    return out, False
