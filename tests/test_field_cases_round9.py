"""Field cases, round 9 (session 19): known kinds of fault in shapes the earlier rounds did not try.

- Multi-allelic effect = REF in a VariantDataset as All of Us writes it: variant data with LOCAL
  alleles (``LA`` = 0 plus the alts the sample carries, ``LGT`` indexing into ``LA``, no global
  ``GT``) and reference blocks spanning several positions (one block covers several score loci).
  The earlier VDS tests wrote ``LA`` = every allele (``LGT`` = ``GT``) and one-base blocks.
"""

from __future__ import annotations

from test_field_cases_pgs import CASES, assert_expected, case_config, run_scores

MULTIALLELIC = "multiallelic-effect-is-ref"

# multiallelic-effect-is-ref's VCF (chr4; samples 1001..1006) as calls per site.
_SITES = [
    (1_000_000, ["A", "G", "C"], ["0/0", "0/1", "0/2", "1/2", "2/2", "1/1"]),
    (2_000_000, ["C", "T"], ["0/1", "0/0", "1/1", "0/1", "0/0", "0/1"]),
    (3_000_000, ["G", "A", "T"], ["0/1", "0/2", "1/1", "1/2", "0/0", "2/2"]),
]
_SAMPLES = ["1001", "1002", "1003", "1004", "1005", "1006"]
# Each sample's hom-ref stretches as reference blocks (start, END): 1001 is hom-ref at 1000000
# only, 1002 at 2000000, 1005 at both 2000000 and 3000000 (ONE block); blocks start before and
# end after the sites, as gVCF blocks do. No block overlaps the sample's own variant calls.
_REF_BLOCKS = {
    "1001": [(900_000, 1_999_999)],
    "1002": [(1_500_000, 2_999_999)],
    "1005": [(1_000_001, 3_500_000)],
}


def write_local_allele_vds(hl, path: str) -> None:
    """multiallelic-effect-is-ref as an All of Us style VDS: LA = [0, alts carried], LGT into LA."""
    var_rows, ref_rows = [], []
    for pos, alleles, calls in _SITES:
        for s, gt in zip(_SAMPLES, calls, strict=True):
            a, b = (int(x) for x in gt.split("/"))
            if (a, b) == (0, 0):
                continue
            la = [0, *sorted({a, b} - {0})]
            var_rows.append({"locus": hl.Locus("chr4", pos, "GRCh38"), "alleles": alleles, "s": s,
                             "LGT": hl.Call([la.index(a), la.index(b)]), "LA": la})
    for s in _SAMPLES:  # a one-base block far off for every sample: each is a column of both parts
        for start, end in [(100, 100), *_REF_BLOCKS.get(s, [])]:
            ref_rows.append({"locus": hl.Locus("chr4", start, "GRCh38"), "s": s, "END": end})
    locus = hl.tlocus("GRCh38")
    var = hl.Table.parallelize(var_rows, hl.tstruct(locus=locus, alleles=hl.tarray(hl.tstr), s=hl.tstr,
                                                    LGT=hl.tcall, LA=hl.tarray(hl.tint32)))
    ref = hl.Table.parallelize(ref_rows, hl.tstruct(locus=locus, s=hl.tstr, END=hl.tint32))
    var_mt = var.to_matrix_table(row_key=["locus", "alleles"], col_key=["s"])
    ref_mt = ref.to_matrix_table(row_key=["locus"], col_key=["s"])
    ref_mt = ref_mt.annotate_rows(ref_allele=hl.literal({p: al[0] for p, al, _ in _SITES}).get(
        ref_mt.locus.position, "N"))
    hl.vds.VariantDataset(ref_mt, var_mt).write(path)


def test_vds_with_local_alleles_and_long_reference_blocks_scores_the_ref_effect_allele(hl, spark, tmp_path):
    """multiallelic-effect-is-ref from an All of Us style VDS (local alleles, multi-position
    reference blocks): the same expected.tsv as the VCF (REF dosage = 2 - every alt's copies;
    hand + plink2)."""
    write_local_allele_vds(hl, str(tmp_path / "g.vds"))
    cfg = case_config(tmp_path, str(tmp_path / "g.vds"), f"{CASES / MULTIALLELIC}/scores/*", fmt="vds")
    assert_expected(run_scores(hl, spark, cfg), MULTIALLELIC)
