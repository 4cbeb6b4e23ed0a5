"""The matcher's per-row rules for a REF effect allele, against a direct statement of each rule.

``matching._other_alt_rows`` and ``matching._swapped_row_sites`` look only at genotype rows whose
file position another row shares (``_shared_positions``, issue 16, session 19). That prefilter
must never drop a row the rule itself would keep: here both functions are compared, on random
files mixing contig spellings (chr1 / 1 / chrX at the same positions), multi-allelic records
split by Hail (``site_position``/``site_ref`` the file row's, indels normalised to another
position), sites given already split (one line per alt) and PLINK 1 rows that do not all put
the site's REF in the REF column, with the rule written out row by row as the docstrings state
it. No Spark: plain frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trd_spark.pgs.genotypes import SITE_ALT, SITE_POSITION, SITE_REF
from trd_spark.pgs.matching import _other_alt_rows, _swapped_row_sites, file_rows

_BASES = "ACGT"


def _random_rows(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Genotype rows on few positions (so that rows share them), some split from a multi-allelic
    file row (site columns set, an indel's own position moved by normalisation)."""
    rows = []
    for _ in range(n):
        contig = rng.choice(["chr1", "1", "chrX"])
        position = int(rng.integers(100, 106))
        ref = rng.choice(list(_BASES)) if rng.random() < 0.8 else "".join(rng.choice(list(_BASES), 2))
        alt = rng.choice([b for b in _BASES if b != ref[0]]) if rng.random() < 0.8 else ref + rng.choice(list(_BASES))
        site = rng.random() < 0.3
        rows.append({"contig": contig, "position": position + (1 if site and len(alt) > 1 else 0), "ref": ref,
                     "alt": alt, SITE_POSITION: position if site else None, SITE_REF: ref if site else None,
                     SITE_ALT: alt if site else None})
    frame = pd.DataFrame(rows)
    frame[SITE_POSITION] = frame[SITE_POSITION].astype("Int64")
    return frame


def _other_alt_rows_by_rule(rows: pd.DataFrame, matched_row: np.ndarray, effect_is_ref: np.ndarray) -> list:
    """_other_alt_rows' docstring, row by row: for a REF effect allele, the rows of the same contig,
    file position and file REF as the matched row, with another alt."""
    gp, gr, ga = file_rows(rows)
    contig = rows["contig"].to_numpy(object)
    out: list[tuple[int, ...]] = []
    for m, is_ref in zip(matched_row, effect_is_ref, strict=True):
        if m < 0 or not is_ref:
            out.append(())
            continue
        out.append(tuple(r for r in range(len(rows)) if contig[r] == contig[m] and gp[r] == gp[m]
                         and gr[r] == gr[m] and ga[r] != ga[m]))
    return out


def _swapped_by_rule(rows: pd.DataFrame, matched_row: np.ndarray, match_type: np.ndarray,
                     other: list) -> tuple[list, list]:
    """_swapped_row_sites' docstring, row by row: at a (contig, file position) with rows of more
    than one file REF, all SNVs, whose allele pairs share exactly one allele (the site's REF), a
    score whose effect allele is that REF (as the matched row writes it) takes the other rows
    with it as REF (other alts) and those with it as alt (swapped)."""
    gp, gr, ga = file_rows(rows)
    contig = rows["contig"].to_numpy(object)
    other, swapped = list(other), [()] * len(matched_row)
    for i, m in enumerate(matched_row):
        if m < 0:
            continue
        group = [r for r in range(len(rows)) if contig[r] == contig[m] and gp[r] == gp[m]]
        if len({gr[r] for r in group}) < 2:
            continue
        pairs = [{gr[r], ga[r]} for r in group]
        if not all(p <= set(_BASES) and len(p) == 2 for p in pairs):
            continue
        shared = set.intersection(*pairs)
        if len(shared) != 1:
            continue
        ref = shared.pop()
        effect = ga[m] if match_type[i] in ("ref_alt", "ref_alt_flipped") else gr[m]
        if effect != ref:
            continue
        other[i] = tuple(r for r in group if r != m and gr[r] == ref)
        swapped[i] = tuple(r for r in group if r != m and ga[r] == ref)
    return other, swapped


@pytest.mark.parametrize("seed", range(40))
def test_the_position_prefilter_keeps_every_row_the_rules_keep(seed):
    """Random files of 3..30 rows on six positions and three contig spellings, 25 sites each."""
    rng = np.random.default_rng(seed)
    rows = _random_rows(rng, int(rng.integers(3, 31)))
    n_sites = 25
    matched_row = np.where(rng.random(n_sites) < 0.85, rng.integers(0, len(rows), n_sites), -1)
    effect_is_ref = rng.random(n_sites) < 0.6
    match_type = np.where(effect_is_ref, rng.choice(["alt_ref", "alt_ref_flipped"], n_sites),
                          rng.choice(["ref_alt", "ref_alt_flipped"], n_sites))

    other = _other_alt_rows(rows, matched_row, effect_is_ref)
    want_other = _other_alt_rows_by_rule(rows, matched_row, effect_is_ref)
    assert [tuple(sorted(o)) for o in other] == want_other

    got_other, got_swapped = _swapped_row_sites(rows, matched_row, match_type, other)
    want_other2, want_swapped = _swapped_by_rule(rows, matched_row, match_type, want_other)
    assert [tuple(sorted(o)) for o in got_other] == [tuple(sorted(o)) for o in want_other2]
    assert [tuple(sorted(s)) for s in got_swapped] == [tuple(sorted(s)) for s in want_swapped]
