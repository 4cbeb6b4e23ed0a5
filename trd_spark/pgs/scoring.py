"""Compute every score in one pass over the genotypes (plink2 ``--score`` semantics).

For a person and score with matched variants v (weight w_v, effect-allele dosage d_v):

    score_sum    = sum_v w_v * d_v
    allele_count = 2 x (matched variants with a non-missing GT)          (plink2 ALLELE_CT)
    score_avg    = score_sum / (2 x matched variants)                    (plink2 SCORE_AVG)
    n_missing    = matched variants with a missing GT

d_v is the alt-allele dosage (``DOSAGE``: from GT, a VCF/MT dosage field or BGEN dosages)
when the effect allele is alt, and 2 minus it when the
effect allele is ref. A missing GT is imputed with the dataset's mean effect-allele dosage at
that variant (``mean_impute``, plink2's default) or contributes 0 (``zero``, plink2
``no-mean-imputation``). ``n_matched`` is the score's matched variants (plink2 DENOM / 2).

Each score variant contributes ``offset + slope * n_alt`` with ``slope = w, offset = 0``
(effect = alt) or ``slope = -w, offset = 2w`` (effect = ref). Rows carry one slope/offset per
score (0 where the score has no variant at the row), so all scores are summed together with
``hl.agg.array_sum`` in one pass; two score variants landing on the same row simply add.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Sequence

from trd_spark.pgs.matching import USED_MATCH_TYPES
from trd_spark.schemas import PGS_SCORES

if TYPE_CHECKING:
    import hail as hl_types
    from pyspark.sql import DataFrame


def score_weights_table(hl: "hl_types", matches: "hl_types.Table", n_scores: int) -> "hl_types.Table":
    """Genotype rows used by any score, keyed by locus/alleles, with per-score arrays
    (length ``n_scores``, indexed by ``score_index``): ``slope``, ``offset`` (float64) and
    ``n_vars`` (int64, score variants at this row)."""
    used = matches.filter(hl.literal(set(USED_MATCH_TYPES)).contains(matches.match_type))
    w = used.effect_weight
    used = used.select(
        locus=used.locus,
        alleles=used.matched_alleles,
        score_index=used.score_index,
        slope=hl.if_else(used.effect_is_ref, -w, w),
        offset=hl.if_else(used.effect_is_ref, 2.0 * w, 0.0),
    )

    def spread(value, zero):
        return hl.range(n_scores).map(lambda k: hl.if_else(k == used.score_index, value, zero))

    return used.group_by(used.locus, used.alleles).aggregate(
        slope=hl.agg.array_sum(spread(used.slope, 0.0)),
        offset=hl.agg.array_sum(spread(used.offset, 0.0)),
        n_vars=hl.agg.array_sum(spread(hl.int32(1), hl.int32(0))),
    )


def compute_scores(
    hl: "hl_types",
    mt: "hl_types.MatrixTable",
    weights: "hl_types.Table",
    pgs_ids: Sequence[str],
    n_matched: Sequence[int],
    *,
    missing_genotypes: Literal["mean_impute", "zero"] = "mean_impute",
) -> "hl_types.Table":
    """Long table (unkeyed): s, pgs_id, score_sum, allele_count, score_avg, n_missing, n_matched.

    ``mt``: rows keyed by locus/alleles (biallelic), entry ``DOSAGE`` (float64 alt dosage,
    missing = missing genotype), column key ``s`` (``genotypes.read_genotypes``).
    ``weights``: from ``score_weights_table``; ``pgs_ids``/``n_matched`` in score_index order.
    """
    k = len(pgs_ids)
    mt = mt.semi_join_rows(weights)
    mt = mt.annotate_rows(_w=weights[mt.row_key])
    n_alt = mt.DOSAGE
    # Mean alt dosage over called genotypes (NaN when none are called: then impute 0).
    mean_alt = hl.agg.sum(n_alt) / hl.float64(hl.agg.count_where(hl.is_defined(n_alt)))
    mt = mt.annotate_rows(_mean_alt=hl.if_else(hl.is_nan(mean_alt), 0.0, mean_alt))
    n_alt = mt.DOSAGE
    w = mt._w
    called = hl.is_defined(n_alt)
    zeros_f = hl.range(k).map(lambda _: 0.0)
    zeros_i = hl.range(k).map(lambda _: hl.int64(0))

    def contribution(dose):
        return hl.range(k).map(lambda i: w.offset[i] + w.slope[i] * dose)

    if missing_genotypes == "mean_impute":
        missing_contribution = contribution(mt._mean_alt)
    else:
        missing_contribution = zeros_f
    mt = mt.annotate_cols(
        _sum=hl.agg.array_sum(hl.if_else(called, contribution(n_alt), missing_contribution)),
        _called=hl.agg.array_sum(hl.if_else(called, w.n_vars, zeros_i)),
        _missing=hl.agg.array_sum(hl.if_else(called, zeros_i, w.n_vars)),
    )
    cols = mt.cols()

    def full(arr, zeros):
        # With no matched rows at all the row aggregations are empty (or missing).
        return hl.if_else(hl.is_defined(arr) & (hl.len(arr) == k), arr, zeros)

    cols = cols.annotate(
        _sum=full(cols._sum, zeros_f), _called=full(cols._called, zeros_i), _missing=full(cols._missing, zeros_i)
    )
    ids = hl.literal(list(pgs_ids))
    denom = hl.literal([2 * int(n) for n in n_matched])
    per_score = hl.range(k).map(
        lambda i: hl.struct(
            pgs_id=ids[i],
            score_sum=cols._sum[i],
            allele_count=2 * cols._called[i],
            n_missing=cols._missing[i],
            denom=denom[i],
            n_matched=hl.int64(denom[i] // 2),
        )
    )
    out = cols.select(_scores=per_score).explode("_scores")
    out = out.select(
        pgs_id=out._scores.pgs_id,
        score_sum=out._scores.score_sum,
        allele_count=out._scores.allele_count,
        score_avg=hl.or_missing(out._scores.denom > 0, out._scores.score_sum / out._scores.denom),
        n_missing=out._scores.n_missing,
        n_matched=out._scores.n_matched,
    )
    return out.key_by().select("s", "pgs_id", "score_sum", "allele_count", "score_avg", "n_missing", "n_matched")


def scores_frame(hl: "hl_types", scores: "hl_types.Table", dataset: str) -> "DataFrame":
    """The long score table as a Spark DataFrame with the PGS_SCORES schema (person_id from s)."""
    scores = scores.key_by()  # the Hail Table output is keyed by s, pgs_id
    out = scores.select(
        dataset=hl.literal(dataset),
        person_id=hl.parse_int64(scores.s),
        pgs_id=scores.pgs_id,
        score_sum=scores.score_sum,
        allele_count=scores.allele_count,
        score_avg=scores.score_avg,
        n_missing=scores.n_missing,
        n_matched=scores.n_matched,
    )
    return out.to_spark().select(*PGS_SCORES.names)
