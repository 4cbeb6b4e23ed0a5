"""The Hail matcher and weights: the tests' independent oracle for the frame matcher.

The pipeline matches every format with ``trd_spark.pgs.matching.match_sites_frame`` (pandas on
the driver) and hands the native engine its weights as matrices (``matching.weight_matrices``).
This module keeps the earlier implementation of the same rules in Hail expressions (the
matching rules are in the ``trd_spark.pgs.matching`` module doc), used only by the tests
(tests/test_pgs_matching.py, test_pgs_native_engine.py, the plink2 oracle tests) to check
the frame matcher and both scoring engines against a second, independent computation:

    score_variants_table -> match_sites -> explode_members  (= match_variants)
        -> summarise_matches / variant_matches_frame          (the match logs)
        -> score_weights_table -> scoring.compute_scores      (Hail's pass)

plus ``pgen_matrix_table`` (a .pgen fileset's rows and samples as a MatrixTable: Hail has no
pgen reader) and ``weights_frame`` (Hail weights collected as the native engine's frame).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from trd_spark.errors import InputDataError
from trd_spark.pgs.genotypes import UNREADABLE_LOCI, haploid_contigs
from trd_spark.pgs.matching import (
    _COMPLEMENT,
    EFFECT_IS_REF_TYPES,
    MISSING_ALLELE_CODES,
    USED_MATCH_TYPES,
    ScoreLabel,
    _no_rsids,
    raise_duplicate_rows,
    summary_frame,
)
from trd_spark.pgs.pgen_engine import PlinkFiles, psam_samples
from trd_spark.schemas import PGS_VARIANT_MATCHES

if TYPE_CHECKING:
    import hail as hl_types
    from pyspark.sql import DataFrame

    from trd_spark.config import GenotypeSource


def _complement(hl: hl_types, allele):
    comp = hl.literal(_COMPLEMENT)
    return hl.or_missing(hl.len(allele) == 1, comp.get(allele))


def _complement_bases(hl: hl_types, allele):
    """The whole allele complemented base by base, not reversed (pgsc_calc's flip: ``TAC`` ->
    ``ATG``); missing unless wholly A/C/G/T."""
    return hl.or_missing(allele.matches("^[ACGT]+$"), allele.translate(_COMPLEMENT))


def _reverse_complement(hl: hl_types, allele):
    """ACGT string on the other strand (alleles are validated as A/C/G/T only)."""
    return hl.reversed(allele.translate(_COMPLEMENT))


def _palindromic(hl: hl_types, a, b):
    return hl.or_else((hl.len(a) == 1) & (_complement(hl, a) == b), False)


def place_by_rsid(hl: hl_types, mt: hl_types.MatrixTable, score_variants: hl_types.Table) -> hl_types.Table:
    """Give rows of rsID-only files (``by_rsid``) the locus of the genotype row with the same
    ``rsid`` (missing when the rsID is absent or on several loci); chrom/pos follow."""
    sv = score_variants
    files = hl.eval(sv.rsid_only_files)
    if not files:
        return sv
    if "rsid" not in mt.row:
        raise _no_rsids(files)
    wanted = sv.filter(sv.by_rsid & hl.is_defined(sv.rsid)).key_by("rsid").select().distinct()
    rows = mt.rows().select("rsid")
    rows = rows.filter(hl.is_defined(wanted[rows.rsid]))
    by_rsid = rows.group_by(rows.rsid).aggregate(loci=hl.agg.collect_as_set(rows.locus))
    found = by_rsid[sv.rsid].loci
    locus = hl.or_missing(sv.by_rsid & (hl.len(found) == 1), hl.array(found)[0])
    sv = sv.annotate(locus=hl.if_else(sv.by_rsid, locus, sv.locus))
    return sv.annotate(chrom=hl.if_else(sv.by_rsid, sv.locus.contig, sv.chrom),
                       pos=hl.if_else(sv.by_rsid, sv.locus.position, sv.pos))


def match_variants(
    hl: hl_types, mt: hl_types.MatrixTable, score_variants: hl_types.Table, *, keep_ambiguous: bool,
    rows: hl_types.Table | None = None,
) -> hl_types.Table:
    """One row per score variant (keyed by ``locus``): ``explode_members(match_sites(...))``,
    after ``check_genotype_duplicates``."""
    sites = match_sites(hl, mt, score_variants, keep_ambiguous=keep_ambiguous, rows=rows)
    check_genotype_duplicates(hl, sites, where="genotypes")
    return explode_members(hl, sites)


def _unnormalised_indel(hl: hl_types, e, o):
    """docs/pgs.md's unnormalised indel (minimal alleles ``e``/``o``): one allele a single base
    that is the other's first base while that allele's first and last bases are equal (shifts
    left), or the other's last base and not its first (anchored on its right)."""
    short = hl.if_else(hl.len(e) < hl.len(o), e, o)
    long_ = hl.if_else(hl.len(e) < hl.len(o), o, e)
    head, tail = long_[0], long_[hl.len(long_) - 1]
    return ((hl.len(short) == 1) & (hl.len(long_) > 1)
            & hl.if_else(head == short, head == tail, tail == short))


def match_sites(
    hl: hl_types, mt: hl_types.MatrixTable, score_variants: hl_types.Table, *, keep_ambiguous: bool,
    rows: hl_types.Table | None = None,
) -> hl_types.Table:
    """Match the score sites (``score_variants_table``; keyed by ``locus`` on return), adding
    ``match_type`` (see module doc), ``matched_alleles`` / ``matched_locus`` (the genotype row's
    key it scores against, missing unless used), ``effect_is_ref`` (True for alt_ref /
    alt_ref_flipped), ``other_alt_rows`` / ``other_alt_loci`` (the other genotype rows whose alt
    copies a REF effect allele also loses) and ``duplicate_genotype_rows`` (int: genotype rows
    at the site repeated; see ``check_genotype_duplicates``). Rows of rsID-only files are first
    placed by ``place_by_rsid``; lifted-over alleles on a negative-strand block are
    reverse-complemented for matching (the log keeps them as in the file).

    ``rows``: the genotype rows (keyed by ``locus``, ``alleles = [ref, alt]``), default
    ``mt.rows()``; with ``site_position``, ``site_ref``, ``site_alt`` (the file row a split row
    came from, as ``genotypes.biallelic_rows`` gives them) the rows as the file writes them,
    else each row is its own file row.

    docs/pgs.md's allele rule ("Matching", "Indel representations", "Multi-allelic sites"), written
    here in Hail expressions apart from ``matching.match_sites_frame``: every allele pair is
    brought to its minimal representation (``hl.min_rep``); a score site meets the genotype
    rows at its minimal locus; the first row (in minimal ``[ref, alt]`` order) whose alleles
    as the file writes them, at the score's written position, equal the score's as written
    wins; else the minimal forms, but only when one orientation (effect = alt, or effect =
    REF) fits; then strand flips of minimal SNVs when neither score allele is an allele at
    the site. A REF effect allele also loses the copies of every other alt of the matched
    row's file row (same contig, written position and REF)."""
    sv = place_by_rsid(hl, mt, score_variants).key_by("locus")
    rows = mt.rows() if rows is None else rows
    has_site = "site_position" in rows.row
    is_star = rows.alleles[1] == "*"
    minimal = hl.if_else(is_star, hl.struct(locus=rows.locus, alleles=rows.alleles),
                         hl.min_rep(rows.locus, rows.alleles))
    pair = hl.struct(
        row=rows.alleles, locus=rows.locus, ref=minimal.alleles[0], alt=minimal.alleles[1],
        m_pos=minimal.locus.position,
        w_pos=hl.int32(rows.site_position) if has_site else rows.locus.position,
        w_ref=rows.site_ref if has_site else rows.alleles[0],
        w_alt=rows.site_alt if has_site else rows.alleles[1])
    r = rows.select(_m=minimal.locus, _p=pair).key_by()
    by_minimal = r.group_by(locus=r._m).aggregate(pairs=hl.agg.collect(r._p))
    by_file_row = r.group_by(contig=r._p.locus.contig, w_pos=r._p.w_pos, w_ref=r._p.w_ref).aggregate(
        members=hl.agg.collect(hl.struct(locus=r._p.locus, alleles=r._p.row, w_alt=r._p.w_alt, m_pos=r._p.m_pos,
                                         ref=r._p.ref, alt=r._p.alt)))

    neg = sv.lift_negative_strand
    w_ea = hl.if_else(neg, _reverse_complement(hl, sv.effect_allele), sv.effect_allele)
    w_oa = hl.if_else(neg, _reverse_complement(hl, sv.other_allele), sv.other_allele)
    has_oa = hl.is_defined(w_oa)
    m = hl.or_missing(has_oa & hl.is_defined(sv.locus), hl.min_rep(sv.locus, [w_oa, w_ea]))
    sv = sv.annotate(_w_ea=w_ea, _w_oa=w_oa, _m_locus=hl.if_else(has_oa, m.locus, sv.locus),
                     _m_ea=hl.if_else(has_oa, m.alleles[1], w_ea), _m_oa=hl.or_missing(has_oa, m.alleles[0]))
    empty = hl.empty_array(by_minimal.pairs.dtype.element_type)
    sv = sv.annotate(_pairs=hl.sorted(hl.or_else(by_minimal[sv._m_locus].pairs, empty),
                                      key=lambda p: (p.ref, p.alt)))
    pairs = sv._pairs
    # The same [ref, alt] twice at a site (two files, chunks or rows): its weight would be
    # applied twice; an SNV written both ways (G>A and A>G) is a repeat too; so is a row of one
    # allele with a missing second allele (a batch where the site was monomorphic: ``G .``, a
    # .bim's ``G 0``) beside an SNV row holding that allele, or beside another such row of it in
    # another missing code (README "PGS engine", duplicate rows; session 50 pgs44's rule, 0146d89).
    codes = hl.literal(set(MISSING_ALLELE_CODES))

    def absent(a):
        return hl.is_missing(a) | codes.contains(a)

    def coded(p):
        return absent(p.w_ref) != absent(p.w_alt)

    def present(p):
        return hl.if_else(absent(p.w_alt), p.w_ref, p.w_alt)

    snv_alleles = hl.set(pairs.filter(lambda p: ~coded(p) & (hl.len(p.ref) == 1) & (hl.len(p.alt) == 1))
                         .flatmap(lambda p: [p.ref, p.alt]))
    canonical = pairs.filter(lambda p: ~(coded(p) & snv_alleles.contains(present(p)))).map(
        lambda p: hl.case().when(coded(p), [present(p), "."])
        .when((hl.len(p.ref) == 1) & (hl.len(p.alt) == 1), hl.sorted([p.ref, p.alt]))
        .default([p.ref, p.alt]))
    has_oa = hl.is_defined(sv._w_oa)
    single = hl.len(pairs) == 1

    def first(pred):
        return hl.find(lambda p: hl.or_else(pred(p), False), pairs)

    def fits(e, o, effect_is_alt: bool, ref, alt):
        effect, other = (alt, ref) if effect_is_alt else (ref, alt)
        return hl.if_else(has_oa, (e == effect) & (o == other), single & (e == effect))

    def written(effect_is_alt: bool):
        return first(lambda p: (p.w_pos == sv.pos) & fits(sv._w_ea, sv._w_oa, effect_is_alt, p.w_ref, p.w_alt))

    def in_minimal_form(e, o, effect_is_alt: bool):
        return first(lambda p: fits(e, o, effect_is_alt, p.ref, p.alt))

    w_ra, w_ar = written(True), written(False)
    m_ra, m_ar = in_minimal_form(sv._m_ea, sv._m_oa, True), in_minimal_form(sv._m_ea, sv._m_oa, False)
    by_written = hl.is_defined(w_ra) | hl.is_defined(w_ar)
    one_way = hl.is_missing(m_ra) | hl.is_missing(m_ar)
    c_ea, c_oa = _complement(hl, sv._m_ea), _complement(hl, sv._m_oa)
    # An allele that is one of the site's alleles is on the genotypes' strand: never flipped.
    at_site = hl.set(pairs.flatmap(lambda p: [p.ref, p.alt]))
    no_flip = at_site.contains(sv._m_ea) | hl.or_else(at_site.contains(sv._m_oa), False)
    sv = sv.annotate(
        duplicate_genotype_rows=hl.len(pairs) - hl.len(hl.set(canonical)),
        _dra=hl.if_else(by_written, w_ra, hl.or_missing(one_way, m_ra)),
        _dar=hl.if_else(by_written, w_ar, hl.or_missing(one_way, m_ar)),
        _fra=hl.or_missing(~no_flip, in_minimal_form(c_ea, c_oa, True)),
        _far=hl.or_missing(~no_flip, in_minimal_form(c_ea, c_oa, False)))
    ea, oa, has_oa = sv.effect_allele, sv.other_allele, hl.is_defined(sv.other_allele)

    def ambiguous(p):
        return hl.if_else(has_oa, _palindromic(hl, ea, oa), _palindromic(hl, p.ref, p.alt))

    drop_ambiguous = hl.literal(not keep_ambiguous)
    unreadable = hl.eval(mt.index_globals()[UNREADABLE_LOCI]) if UNREADABLE_LOCI in mt.globals else []
    match_type = (
        hl.case()
        .when(sv.liftover_failed, "liftover_failed")
        .when(hl.or_else(hl.literal(set(unreadable), hl.tset(hl.tstr)).contains(hl.str(sv.locus)), False),
              "multiallelic_unreadable")
        .when(hl.is_defined(sv._dra) & ambiguous(sv._dra) & drop_ambiguous, "ambiguous_dropped")
        .when(hl.is_defined(sv._dar) & ambiguous(sv._dar) & drop_ambiguous, "ambiguous_dropped")
        .when(hl.is_defined(sv._dra), "ref_alt")
        .when(hl.is_defined(sv._dar), "alt_ref")
        .when(hl.is_defined(sv._fra) & ~ambiguous(sv._fra), "ref_alt_flipped")
        .when(hl.is_defined(sv._far) & ~ambiguous(sv._far), "alt_ref_flipped")
        .when(hl.is_defined(sv.locus) & hl.or_else(_unnormalised_indel(hl, sv._m_ea, sv._m_oa), False),
              "not_found_unnormalised")
        .default("not_found")
    )
    sv = sv.annotate(match_type=match_type)
    matched = (
        hl.case()
        .when(sv.match_type == "ref_alt", sv._dra)
        .when(sv.match_type == "alt_ref", sv._dar)
        .when(sv.match_type == "ref_alt_flipped", sv._fra)
        .when(sv.match_type == "alt_ref_flipped", sv._far)
        .or_missing()
    )
    effect_is_ref = hl.literal(set(EFFECT_IS_REF_TYPES)).contains(sv.match_type)
    # A REF effect allele loses every other alt of the matched row's file row (plink2 --score:
    # REF dosage = ploidy - all alt dosages); rows at the position with another REF as the file
    # writes them are other sites.
    members = by_file_row[matched.locus.contig, matched.w_pos, matched.w_ref].members
    # ... when the effect allele (complemented when flipped) is that REF as written, at its
    # position; else (an SNV A/G met in minimal form at AT>GT,A) only the alts that change the
    # effect allele's bases (minimal [m_pos, m_pos + len - 1]): a deletion from the base after
    # its anchor, an insertion at its anchor, anything else over its REF; '*' always.
    flipped = (sv.match_type == "ref_alt_flipped") | (sv.match_type == "alt_ref_flipped")
    e_written = hl.if_else(flipped, _complement_bases(hl, sv._w_ea), sv._w_ea)
    whole_ref = hl.or_else((e_written == matched.w_ref) & (sv.pos == matched.w_pos), False)
    end = matched.m_pos + hl.len(matched.ref) - 1

    def alters(x):
        deletion = (hl.len(x.alt) == 1) & (hl.len(x.ref) > 1) & (x.ref[0] == x.alt)
        insertion = (hl.len(x.ref) == 1) & (hl.len(x.alt) > 1) & (x.alt[0] == x.ref)
        start = hl.if_else(deletion, x.m_pos + 1, x.m_pos)
        stop = hl.if_else(insertion, x.m_pos, x.m_pos + hl.len(x.ref) - 1)
        return ~x.alt.upper().matches("^[ACGT]+$") | ((start <= end) & (stop >= matched.m_pos))

    others = hl.or_else(members, hl.empty_array(members.dtype.element_type)).filter(
        lambda x: (x.w_alt != matched.w_alt) & (whole_ref | alters(x)))
    others = hl.if_else(effect_is_ref, others, hl.empty_array(others.dtype.element_type))
    sv = sv.annotate(
        matched_alleles=matched.row,
        matched_locus=matched.locus,
        effect_is_ref=effect_is_ref,
        other_alt_rows=others.map(lambda x: x.alleles),
        other_alt_loci=others.map(lambda x: x.locus),
    )
    return sv.drop("_pairs", "_dra", "_dar", "_fra", "_far", "_w_ea", "_w_oa", "_m_locus", "_m_ea", "_m_oa")


def check_genotype_duplicates(
    hl: hl_types, sites: hl_types.Table, where: str, source: GenotypeSource | None = None
) -> None:
    """Raise InputDataError when a genotype row (locus, ref, alt) used by a score site occurs
    more than once (``duplicate_genotype_rows`` of ``match_sites``): e.g. one chromosome in two
    overlapping chunks, or a site both unsplit and split. Its weight would be applied twice.
    Names up to 3 such loci and their count. ``where`` names the dataset's files; with
    ``source``, the rows at those loci are located (``genotypes.locate_rows``: ``file:line``
    for VCF, .bim and .pvar files) and the error names the first file:line as its place."""
    dup = sites.filter(sites.duplicate_genotype_rows > 0)
    raise_duplicate_rows(sorted(dup.aggregate(hl.agg.collect_as_set(hl.str(dup.locus)))), where, source)


def explode_members(hl: hl_types, sites: hl_types.Table) -> hl_types.Table:
    """Site rows -> one row per score variant: pgs_id, score_index, effect_weight, line added,
    the member arrays dropped (no shuffle: the key, if any, is kept)."""
    members = hl.range(hl.len(sites.member_score_index)).map(lambda i: hl.struct(
        score_index=sites.member_score_index[i], effect_weight=sites.member_weight[i], line=sites.member_line[i]))
    out = sites.annotate(_member=members).drop("member_score_index", "member_weight", "member_line")
    out = out.explode("_member")
    return out.transmute(
        pgs_id=out.pgs_ids[out._member.score_index],
        score_index=out._member.score_index,
        effect_weight=out._member.effect_weight,
        line=out._member.line,
    )


def summarise_matches(
    hl: hl_types, matches: hl_types.Table, dataset: str, pgs_ids: Sequence[str], labels: dict[str, ScoreLabel]
) -> pd.DataFrame:
    """Per-score match counts (one small row per score; PGS_MATCH_SUMMARY columns)."""
    # One pass, no shuffle: a per-score counter of match types.
    by_score = matches.aggregate(hl.agg.group_by(matches.pgs_id, hl.agg.counter(matches.match_type)))
    return summary_frame(by_score, dataset, pgs_ids, labels)


def variant_matches_frame(hl: hl_types, matches: hl_types.Table, dataset: str) -> DataFrame:
    """The per-variant match log as a Spark DataFrame with the PGS_VARIANT_MATCHES schema."""
    matches = matches.key_by()
    log = matches.select(
        dataset=hl.literal(dataset),
        pgs_id=matches.pgs_id,
        chrom=matches.chrom,
        pos=matches.pos,
        effect_allele=matches.effect_allele,
        other_allele=matches.other_allele,
        effect_weight=matches.effect_weight,
        match_type=matches.match_type,
        multiallelic=hl.literal(False),  # not flagged by the oracle (the stage's matcher is tested for it)
    )
    return log.to_spark().select(*PGS_VARIANT_MATCHES.names)


def score_weights_table(hl: hl_types, matches: hl_types.Table, n_scores: int) -> hl_types.Table:
    """Genotype rows used by any score, keyed by locus/alleles, with per-score arrays
    (length ``n_scores``, indexed by ``score_index``): ``slope``, ``offset`` (float64) and
    ``n_vars`` (int32, score variants at this row).

    ``matches`` is ``match_variants``' table: re-keyed by each target row's own locus and alleles,
    then grouped with ``collect_by_key``."""
    used = matches.filter(hl.literal(set(USED_MATCH_TYPES)).contains(matches.match_type))
    # chrY/chrM calls count once (plink2 --score): half the weight on the diploid-scale dosage.
    haploid = haploid_contigs(used.matched_locus.dtype.reference_genome)
    w = hl.if_else(hl.literal(set(haploid)).contains(used.matched_locus.contig),
                   0.5 * used.effect_weight, used.effect_weight)
    # A REF effect allele loses the copies of every alt at the site (matching.other_alt_rows):
    # slope -w on each other alt row too, while the offset and the variant count stay on the
    # matched row only.
    rows = hl.array([hl.struct(locus=used.matched_locus, alleles=used.matched_alleles, is_matched=True)]).extend(
        hl.zip(used.other_alt_loci, used.other_alt_rows).map(
            lambda x: hl.struct(locus=x[0], alleles=x[1], is_matched=False)))
    used = used.select(score_index=used.score_index, w=w, effect_is_ref=used.effect_is_ref, target=rows).key_by()
    used = used.explode("target")
    main = used.target.is_matched
    # Each target row at its own locus (a non-minimal site's rows may sit at other loci).
    used = used.select(
        locus=used.target.locus,
        alleles=used.target.alleles,
        score_index=used.score_index,
        slope=hl.if_else(used.effect_is_ref, -used.w, used.w),
        offset=hl.if_else(used.effect_is_ref & main, 2.0 * used.w, 0.0),
        counted=main,
    )
    grouped = used.key_by("locus", "alleles").collect_by_key("_vars")
    v = grouped._vars

    def spread(value, zero):
        # Two score variants of one score on the same row simply add.
        return hl.range(n_scores).map(
            lambda k: v.fold(lambda acc, x: acc + hl.if_else(x.score_index == k, value(x), zero), zero))

    return grouped.select(
        slope=spread(lambda x: x.slope, 0.0),
        offset=spread(lambda x: x.offset, 0.0),
        n_vars=spread(lambda x: hl.int32(x.counted), hl.int32(0)),
    )


def pgen_matrix_table(hl: hl_types, files: PlinkFiles, reference_genome: str, *,
                      keep_rsid: bool = False) -> hl_types.MatrixTable:
    """A .pgen fileset's rows and columns for matching (Hail has no pgen reader), shaped as
    ``genotypes.read_genotypes`` returns: rows keyed by ``locus``/``alleles = [ref, alt]``
    (multi-allelic .pvar rows split per alt; ``rsid`` = the ID column with ``keep_rsid``),
    columns keyed by ``s`` (the .psam IID, file order). The entry ``DOSAGE`` is always missing:
    only the native engine (``score``) reads the genotypes. Contigs are recoded as
    ``read_genotypes`` does; an unknown contig fails when the rows are first used."""
    from trd_spark.pgs.genotypes import plink_contig_recoding

    for path in (files.matrix, files.variants, files.samples):
        if not os.path.isfile(path):
            raise InputDataError("file not found (a pgen fileset is .pgen + .pvar + .psam)", where=path)
    samples = psam_samples(files)
    # Meta lines start with ##; a multi-character comment is a regular expression to Hail.
    ht = hl.import_table(files.variants, comment="##.*", impute=False, missing="")
    if "#CHROM" not in ht.row:
        raise InputDataError("a .pvar needs its #CHROM header line (plink2 --make-pgen writes it)",
                             where=files.variants)
    recode = hl.literal(plink_contig_recoding(reference_genome))
    chrom = ht["#CHROM"]
    alts = ht.ALT.split(",")
    ht = ht.select(locus=hl.locus(recode.get(chrom, chrom), hl.int32(ht.POS), reference_genome),
                   ref=ht.REF, alts=alts, **({"rsid": ht.ID} if keep_rsid else {}))
    ht = ht.annotate(alleles=ht.alts.map(lambda a: hl.array([ht.ref, a]))).explode("alleles")
    ht = ht.drop("ref", "alts")
    n = ht.count()
    mt = hl.utils.range_matrix_table(n, len(samples))
    rows = ht.add_index("_i").key_by("_i")
    mt = mt.annotate_rows(**rows[hl.int64(mt.row_idx)])
    mt = mt.annotate_cols(s=hl.literal(samples)[mt.col_idx])
    mt = mt.key_rows_by("locus", "alleles").key_cols_by("s").drop("row_idx", "col_idx")
    return mt.select_entries(DOSAGE=hl.missing(hl.tfloat64))


def weights_frame(hl: hl_types, weights: hl_types.Table) -> pd.DataFrame:
    """``scoring.score_weights_table`` on the driver: one row per genotype row used by a score,
    ``contig``, ``position``, ``ref``, ``alt`` and the per-score arrays ``slope``, ``offset``
    (float64) and ``n_vars`` (int32), each a list of length k. Small: k numbers per matched row.
    """
    ht = weights.key_by()
    ht = ht.select(contig=ht.locus.contig, position=ht.locus.position, ref=ht.alleles[0], alt=ht.alleles[1],
                   slope=ht.slope, offset=ht.offset, n_vars=ht.n_vars)
    # Through Arrow: the session has it on (session.ARROW_CONF), and nothing switches it off.
    return ht.to_spark().toPandas()
