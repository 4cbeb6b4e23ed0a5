"""Privacy round 10 (session 41; helper "privacy10"): combinations of any number of shown counts.

``tests/export_hunter.py``'s ``small_groups`` tries the combinations of up to four shown counts of
the forms it names. ``determined_small_groups`` reads every count an export shows exactly as the set
of persons it counts, cuts the persons into Venn atoms (persons in exactly the same cells) and asks
linear algebra whether an atom of 1..19 persons, a union of two, or a cell, two cells' intersection or
difference of 1..19 persons is a linear combination of the shown counts, with any number of terms and
any coefficients (README "Privacy"). On a copy of the toy-r1 export that shows ad3's 16 MDD_other
persons of the discovery dataset (``<20`` in the export) the toy test fails; on the real exports it
passes.
"""

from __future__ import annotations

import pytest

T = 20


def test_a_five_term_combination_is_found():
    """Persons 0..99; shown: a = 0..99, b = 0..19, c = 20..39, d = 50..69, e = 70..94 (each 20 or more).
    a - b - c - d - e is the 15 persons 40..49 and 95..99 (in a alone: one atom). ``small_groups`` tries
    four terms at most (a - b - c - d: 40 persons) and finds nothing; ``determined_small_groups`` finds
    the 15 with the combination. On f0075d6 the hunter has no such search (ImportError)."""
    from export_hunter import determined_small_groups, small_groups

    def cell(name: str, lo: int, hi: int) -> tuple[tuple, frozenset]:
        return ("r", name), frozenset(("r", p) for p in range(lo, hi))

    cells = dict([cell("a", 0, 100), cell("b", 0, 20), cell("c", 20, 40), cell("d", 50, 70), cell("e", 70, 95)])
    assert not small_groups(cells, T)
    hits = determined_small_groups(cells, T)
    group = frozenset(("r", p) for p in [*range(40, 50), *range(95, 100)])
    assert [(n, g) for n, g, _ in hits] == [(15, group)], hits
    assert hits[0][2] == {str(("r", "a")): 1.0, **{str(("r", k)): -1.0 for k in "bcde"}}, hits[0][2]
    # With e hidden, nothing: the persons in a alone are then 40 (40..49, 70..99).
    del cells[("r", "e")]
    assert determined_small_groups(cells, T) == []


@pytest.mark.slow
def test_no_combination_of_any_length_is_a_small_group(toy_releases):
    """Both toy exports (conftest's ``toy_releases``), each release alone and the pair (a person the
    same person in both): no group of 1..19 persons ``determined_small_groups`` tries is a combination of the
    counts they show exactly, within each TRD definition's cells with the cells of no definition
    (``definition_views``). Over all cells at once, the combinations found each take cells of two TRD
    definitions that do not nest by their rules (the toy generator nests ad2_augmentation's TRD persons
    in ad3's, session 40's "ad3 minus ad2_augmentation = 13", and session 41's 1 person: a Kaplan-Meier
    third's persons at risk on day 990 plus its onsets before it, under ad3 less under
    ad2_augmentation, is the persons censored before that day under ad2_augmentation and not ad3 less
    those censored under ad3 and not ad2_augmentation; the second group is empty on the toy data only,
    so an outsider reads x - y = 1 with y unknown): no leak, left as such."""
    import yaml
    from export_hunter import definition_views, determined_small_groups, published_person_sets
    from toy_releases import TOY_RELEASES

    from trd_spark.config import DEFAULT_CONFIG, load_config
    from trd_spark.report.tables import nested_definitions

    tmp, config = toy_releases[0], toy_releases[1]
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cells, mismatch = published_person_sets(tmp, list(TOY_RELEASES), raw["phenotypes"]["primary_definition"],
                                            raw["covariates"]["n_pcs"])
    assert not mismatch, mismatch[:5]
    definitions = [str(d["name"]) for d in raw["phenotypes"]["trd_definitions"]]
    nested = nested_definitions(load_config(config).phenotypes.trd_definitions)
    found, across = {}, {}
    for part in [*TOY_RELEASES, "pair"]:
        sub = {k: v for k, v in cells.items() if part == "pair" or k[0] == part}
        for view, view_cells in definition_views(sub, definitions, nested).items():
            if hits := determined_small_groups(view_cells, T, merge_releases=part == "pair"):
                found[(part, view)] = [(n, combo) for n, _, combo in hits]
        for n, _, combo in determined_small_groups(sub, T, merge_releases=part == "pair"):
            used = {d for name in combo for d in definitions if f"'{d}'" in name}
            if len(used) < 2 or any({a, b} <= used for a, b in nested):
                across[part] = (n, combo)
    assert not found, found
    assert not across, across
