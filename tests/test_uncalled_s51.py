"""A multi-allelic site no sample is called at, given split in another row order or REF-last (session 51).

Session 50 (72e21e0) imputed 2/k alt copies per row of a k-allele site no sample is called at,
plink2's frequency 1/k of no observation, but grouped a site as *adjacent* rows with one written
position and REF. Two shapes of a site given split escaped that grouping and kept 1 copy per alt
row (the pre-72e21e0 answer: -1 copies for the REF effect allele of A>C,G,T):

- a .bim whose rows are not in position order (a site's rows apart: ``m_1 b m_2 m3_1 m_3 m3_2``),
- a BGEN written REF-last (plink2 ``--export bgen-1.2`` without ``ref-first``, its default), whose
  rows ``C,A``, ``G,A``, ``T,A`` put the site's REF A second: the readers take it for each row's
  alt (``matching.swapped_site_refs``' rule); such a row's read dosage is the copies of all
  alleles but its first, 2 - 2/k where no sample is called.

Inputs (tests/data/uncalled_split_unsorted/): ``split.vcf`` (the 4-sample case of
tests/data/uncalled_multiallelic/u.vcf split one record per alt, written out of order), plink2
2.00a3.5's .bed of it as written (``us``) and the REF-last 8-bit BGEN of the sorted split
(``rl``: ``plink2 --bfile ss --export bgen-1.2 bits=8 id-paste=iid``). Scores and oracle:
tests/data/uncalled_multiallelic/ (the REF A of A>C,G,T, its ALT C, the REF A of A>C,G), plink2's
.sscore on the unsplit .pgen: 0.5, 0.5, 0.666667.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_uncalled_s50 import plink2_sums

DATA = Path(__file__).parent / "data" / "uncalled_split_unsorted"
S50 = Path(__file__).parent / "data" / "uncalled_multiallelic"
# (The unsorted .bed on Hail's pass already gave plink2's sums: Hail's rows come in locus order.)
_ROUTES = {"bed-unsorted-native": ("plink", "us", ""),
           "bgen-ref-last-native": ("bgen", "rl.bgen", ""),
           "bgen-ref-last-hail": ("bgen", "rl.bgen", "  native: {engine: hail}\n")}


@pytest.mark.parametrize("route", list(_ROUTES))
def test_uncalled_site_given_split_out_of_order_or_ref_last(hl, spark, tmp_path, route):
    """Every person's sum equals plink2's on the unsplit site (0.5, 0.5, 0.666667). On acba4e2 each
    route gave -1.0 for the first (the unsorted .bed on the native engine, the REF-last BGEN on
    both engines)."""
    from test_field_cases_pgs import case_config, run_scores

    fmt, rel, extra = _ROUTES[route]
    cfg = case_config(tmp_path, str(DATA / rel), f"{S50}/PGS99000*.txt", fmt=fmt, extra_pgs=extra)
    got = run_scores(hl, spark, cfg)
    want = plink2_sums(S50)  # the unsplit .pgen's sums
    assert len(got) == 4 * len(want)  # 4 persons x 3 scores
    for row in got.itertuples():
        assert row.score_sum == pytest.approx(want[row.pgs_id], abs=1e-5), (route, row.pgs_id)
        assert (row.n_matched, row.n_missing) == (1, 1), (route, row.pgs_id)


def test_no_call_dosages_group_a_site_whatever_its_row_order_or_ref():
    """``matching.no_call_dosages`` groups one contig, written position and REF whatever the rows'
    order, and a position's SNV rows sharing one allele (``swapped_site_refs``: REF-last or a
    .bim's A1/A2) as one site, a row holding that REF as its alt reading 2 - 2/k. On acba4e2:
    None (adjacent rows only: no site of more than 2 alleles here). ``used`` limits the grouping
    to the used rows' positions."""
    from trd_spark.pgs.matching import no_call_dosages

    rows = pd.DataFrame({"contig": ["chr1"] * 8,
                         "position": [1000, 2000, 1000, 3000, 1000, 3000, 4000, 4000],
                         "ref": ["A", "A", "A", "C", "A", "G", "A", "AT"],
                         "alt": ["C", "C", "G", "A", "T", "A", "G", "A"]})
    got = no_call_dosages(rows)
    assert got is not None
    # 1000: A>C,G,T apart (0.5 each); 2000 biallelic; 3000: C,A and G,A REF-last (k 3: 2 - 2/3);
    # 4000: an SNV and a deletion, two biallelic sites.
    assert got.tolist() == pytest.approx([0.5, 1.0, 0.5, 4 / 3, 0.5, 4 / 3, 1.0, 1.0])
    # A REF-last row beside REF-first rows of its site (A>C,G and T,A): one site of 4 alleles.
    mixed = no_call_dosages(pd.DataFrame({"contig": ["chr1"] * 3, "position": [7, 7, 7], "ref": ["A", "A", "T"],
                                          "alt": ["C", "G", "A"]}))
    assert mixed is not None and mixed.tolist() == pytest.approx([0.5, 0.5, 1.5])
    # Only the used rows' sites: the rows at 1000 read 1 when none of them is used.
    used = no_call_dosages(rows, used=pd.Series([False, True, False, True, False, False, False, False]).to_numpy())
    assert used is not None and used.tolist() == pytest.approx([1.0, 1.0, 1.0, 4 / 3, 1.0, 4 / 3, 1.0, 1.0])
