"""Differential fuzz of the PGS scoring routes against plink2 --score (not part of the suite).

Per seed: a small random target (default 40 samples x ~60 records: biallelic SNVs, palindromic
A/T and C/G SNVs, insertions and deletions, multi-allelic SNV records, multi-allelic indel records
(``AT>ATC,A[,GT]``), an SNV and a deletion at
one position, chrX non-PAR records with haploid male calls, 0-60% missing calls per record, now
and then a record no sample is called at), written as a VCF; every other format is made from
the same calls by plink2 2.00a3.5 (sex by ``--update-sex``):

  d.vcf        the VCF (multi-allelic records unsplit)         -> Hail's read + export, Hail's pass
  d.mt         ``hl.import_vcf`` of it                          -> Hail's read + export (Hail's pass:
                                                                   route mt-hail-pass, not by default)
  g.pgen       ``plink2 --vcf d.vcf --make-pgen`` (unsplit)     -> native engine; plink2's oracle input
  s.bed        ``plink2 --vcf split.vcf --make-bed``            -> native engine, Hail's pass (split per
                                                                   alt with the record's REF, as
                                                                   ``bcftools norm -m-`` without -f;
                                                                   plink2 2.00a3.5 has no split)
  s.bgen       ``plink2 --bfile s --export bgen-1.2 bits=8 ref-first id-paste=iid`` -> native engine
               (Hail's ``import_bgen``: route bgen-hail-pass, not by default)

and two random Catalog scoring files (rows matching ALT/REF or REF/ALT, strand-flipped rows,
A/T and C/G rows, rows one base off any record (absent), rows with an empty other_allele at a
one-alt locus, lower-case rows, rows repeated with their alleles in either order or on the other
strand, flipped rows where no flip is tried (indels, multi-allelic sites: not_found), rows whose
two alleles are both alts (not_found)). The pgs options vary with the seed (``missing_genotypes``
mean_impute / zero = plink2 ``no-mean-imputation``, ``--bad-freqs`` under mean_impute since
plink2 refuses in-sample frequencies of < 50 samples; ``keep_ambiguous``; ``duplicate_variants:
first``). The oracle: this script's own reading of docs/pgs.md's matching rules (the rows it expects
matched, each as the unsplit .pgen's variant ID and the allele counted), scored by ``plink2
--pfile g --score`` with the same flags. Compared per sample and score: every route's sum with
plink2's (|diff| <= 1e-5 x max(1, |sum|): plink2 prints 6 significant digits), the routes' sums
with each other (1e-9), n_matched with the oracle's row count, allele_count with plink2's
ALLELE_CT and n_missing with the oracle's count of missing calls at the matched records. Each
route's published rows and match log are left in ``<work-dir>/seed<N>/run_<route>/``.

    .venv/bin/python benchmarks/diff_pgs_routes.py --seeds 1 2 3
    .venv/bin/python benchmarks/diff_pgs_routes.py --seeds 1-20 --routes pgen bed

Prints one line per seed and route that disagrees, then one summary line
``SUMMARY seeds=N runs=R disagreements=D``. One Spark/Hail session for every seed.
``--match-only``: the matcher alone (the .pgen's and split .bed's variant lists, no Spark or
Hail, no sums), n_matched against the oracle: seconds per seed (``--seeds 1-2000``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
COMPLEMENT = str.maketrans("ACGT", "TGCA")
ROUTES = {  # route -> (format, file below the seed's dir, extra pgs settings)
    "vcf": ("vcf", "d.vcf", ""),
    "vcf-hail-pass": ("vcf", "d.vcf", "  native: {engine: hail}\n"),
    "mt": ("mt", "d.mt", ""),
    "pgen": ("pgen", "g", ""),
    "bed": ("plink", "s", ""),
    "bed-hail-pass": ("plink", "s", "  native: {engine: hail}\n"),
    "bgen": ("bgen", "s.bgen", ""),
    "mt-hail-pass": ("mt", "d.mt", "  native: {engine: hail}\n"),
    "bgen-hail-pass": ("bgen", "s.bgen", "  native: {engine: hail}\n"),
}
DEFAULT_ROUTES = ["vcf", "vcf-hail-pass", "mt", "pgen", "bed", "bed-hail-pass", "bgen"]
X_START = 3_000_000  # chrX outside GRCh38's PAR1 (ends 2,781,479)
PAR_START = 100_000  # chrX inside PAR1 (10,001-2,781,479): diploid for everyone (plink2 --split-par hg38)
Y_START = 3_000_000  # chrY outside its PAR1: males haploid, others uncalled
CONTIG_ORDER = {"chr1": 0, "chrX": 1, "chrY": 2}


def _flip(a: str) -> str:
    return a.translate(COMPLEMENT)


def bases_of(rng: np.random.Generator) -> str:
    return "ACGT"[int(rng.integers(4))]


def generate(rng: np.random.Generator, n_samples: int, n_records: int, more_contigs: bool = False
             ) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Records (chrom, pos, id, ref, alts, kind) and calls: an int array (records x samples x 2)
    of allele indexes, -1 missing, the second haplotype -2 where the call is haploid (a male's
    chrX and chrY; a non-male's chrY is uncalled, ``.``); and the male flags. ``more_contigs``:
    a sex-contig record is also one in X's PAR1 or on chrY (the same draws otherwise)."""
    male = rng.random(n_samples) < 0.5
    records: list[dict] = []
    bases = "ACGT"
    pos1 = 10_000
    posx, pospar, posy = X_START, PAR_START, Y_START
    for _ in range(n_records):
        on_x = rng.random() < 0.15
        kind = rng.choice(["snv", "snv", "snv", "palindromic", "ins", "del", "multi", "samepos", "multi_indel"]) \
            if not on_x else rng.choice(["snv", "snv", "palindromic"])
        where = str(rng.choice(["x", "par", "y"])) if on_x and more_contigs else "x"
        if on_x and where == "par":
            pospar += int(rng.integers(500, 5000))
            chrom, pos = "chrX", pospar
        elif on_x and where == "y":
            posy += int(rng.integers(500, 5000))
            chrom, pos = "chrY", posy
        elif on_x:
            posx += int(rng.integers(500, 5000))
            chrom, pos = "chrX", posx
        else:
            pos1 += int(rng.integers(500, 5000))
            chrom, pos = "chr1", pos1
        ref = bases[rng.integers(4)]
        if kind == "palindromic":
            alts = [_flip(ref)]
        elif kind in ("snv", "samepos"):
            alts = [rng.choice([b for b in bases if b not in (ref, _flip(ref))])]
        elif kind == "ins":
            alts = [ref + "".join(rng.choice(list(bases), int(rng.integers(1, 3))))]
        elif kind == "del":
            ref = ref + "".join(rng.choice(list(bases), int(rng.integers(1, 3))))
            alts = [ref[0]]
        elif kind == "multi_indel":  # AT>ATC,A[,GT]: an insertion, a deletion, maybe an SNV at the anchor
            ref = ref + bases[rng.integers(4)]
            alts = [ref + bases[rng.integers(4)], ref[0]]
            if rng.random() < 0.5:
                alts.append(rng.choice([b for b in bases if b != ref[0]]) + ref[1:])
        else:  # multi: two or three alts
            alts = list(rng.choice([b for b in bases if b != ref], int(rng.integers(2, 4)), replace=False))
        records.append({"chrom": chrom, "pos": pos, "id": f"v{len(records)}", "ref": ref, "alts": alts,
                        "kind": str(kind)})
        if kind == "samepos":  # a deletion at the same position, its REF starting with the SNV's REF
            records.append({"chrom": chrom, "pos": pos, "id": f"v{len(records)}",
                            "ref": ref + bases[rng.integers(4)], "alts": [ref], "kind": "del"})
    if more_contigs and not any(r["chrom"] == "chrX" and r["pos"] >= X_START for r in records):
        # plink2 2.00a3.5 --split-par with PAR1 rows and no other X row relabels the next
        # contig's first row X (chrY:3003703 became X:3003703, session 50): one X row after PAR1.
        records.append({"chrom": "chrX", "pos": X_START + 1, "id": f"v{len(records)}", "ref": "C", "alts": ["T"],
                        "kind": "snv"})
    calls = np.full((len(records), n_samples, 2), -1, dtype=np.int64)
    for r, rec in enumerate(records):
        n_alleles = 1 + len(rec["alts"])
        freqs = rng.dirichlet(np.ones(n_alleles))
        calls[r] = rng.choice(n_alleles, size=(n_samples, 2), p=freqs)
        miss = rng.choice([0.0, 0.05, 0.2, 0.6]) if rng.random() > 0.04 else 1.0
        calls[r][rng.random(n_samples) < miss] = -1
        if rec["chrom"] == "chrX" and rec["pos"] >= X_START:
            calls[r][male, 1] = -2
        if rec["chrom"] == "chrY":
            calls[r][male, 1] = -2
            calls[r][~male] = (-1, -2)
    return records, calls, male


def _gt(call: np.ndarray) -> str:
    a, b = int(call[0]), int(call[1])
    if b == -2:
        return "." if a < 0 else str(a)
    return "./." if a < 0 else f"{a}/{b}"


def write_vcf(path: Path, records: list[dict], calls: np.ndarray, samples: list[str]) -> None:
    head = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=248956422>", "##contig=<ID=chrX,length=156040895>",
            "##contig=<ID=chrY,length=57227415>",
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples)]
    order = sorted(range(len(records)), key=lambda r: (CONTIG_ORDER[records[r]["chrom"]], records[r]["pos"]))
    lines = [f"{records[r]['chrom']}\t{records[r]['pos']}\t{records[r]['id']}\t{records[r]['ref']}\t"
             f"{','.join(records[r]['alts'])}\t.\tPASS\t.\tGT\t" + "\t".join(_gt(c) for c in calls[r]) for r in order]
    path.write_text("\n".join(head + lines) + "\n")


def split(records: list[dict], calls: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """One record per alt with the record's REF (``bcftools norm -m-`` without -f): a call's
    other alts become REF, a missing allele stays missing."""
    out_r, out_c = [], []
    for rec, c in zip(records, calls, strict=True):
        for k, alt in enumerate(rec["alts"], start=1):
            out_r.append({**rec, "id": f"{rec['id']}_{k}", "alts": [alt]})
            out_c.append(np.where(c < 0, c, (c == k).astype(np.int64)))
    return out_r, np.array(out_c)


def check_contigs(path: Path, records: list[dict], record_id) -> None:
    """Every row of plink2's .pvar/.bim on its record's contig (PAR1 for X's PAR1): plink2's own
    import is an input here, not under test, and a relabelled row made the oracle wrong."""
    table = pd.read_csv(path, sep="\t", comment=None, header=None, dtype=str,
                        skiprows=sum(1 for line in path.open() if line.startswith("#")))
    ids = table[1] if path.suffix == ".bim" else table[2]
    want = {"chr1": "1", "chrX": "X", "chrY": "Y"}
    for contig, vid in zip(table[0], ids, strict=True):
        rec = records[int(record_id(vid).removeprefix("v"))]
        expected = "PAR1" if rec["chrom"] == "chrX" and rec["pos"] < X_START else want[rec["chrom"]]
        if contig not in (expected, {"PAR1": "XY"}.get(expected)):
            raise RuntimeError(f"{path}: {vid} on {contig}, its record on {rec['chrom']}:{rec['pos']} (plink2's import)")


def plink2(*args: str) -> None:
    subprocess.run(["plink2", "--threads", "1", *args], check=True, capture_output=True)


def scoring_rows(rng: np.random.Generator, records: list[dict], keep_ambiguous: bool, extended: bool = False
                 ) -> tuple[list[tuple], list[tuple[str, str, float]]]:
    """A scoring file's rows (chr_name, chr_position, effect, other, weight) in file order, and
    the oracle's matches (unsplit variant ID, allele whose copies count, weight), docs/pgs.md's rules:
    the first row of a site (same position and allele pair, either order) wins
    (duplicate_variants: first); rows whose alleles are an A/T or C/G pair dropped unless keep_ambiguous; a strand-flipped
    SNV row counts the complement; a row at a position with no record is not found. ``extended``:
    also rows of a one-alt record written with one more base (SNVs on either side, indels on the
    right: ``AG/CG`` for A>C, ``ATG/AG`` for AT>A), matched in minimal form."""
    rows: list[tuple] = []
    shared: dict[int, int] = {}
    for rec in records:
        shared[rec["pos"]] = shared.get(rec["pos"], 0) + 1
    for rec in records:
        if rng.random() < 0.2:
            continue
        chrom = rec["chrom"].removeprefix("chr")
        w = float(np.round(rng.normal(0, 1), 4))
        alt = rec["alts"][int(rng.integers(len(rec["alts"])))]
        shape = rng.choice(["ref_alt", "alt_ref", "flip", "flip_swap", "absent", "effect_only", "lower",
                            "both_alts"])
        snv = len(rec["ref"]) == 1 and len(alt) == 1 and len(rec["alts"]) == 1
        if shape == "absent":
            rows.append((chrom, rec["pos"] + 1, alt, rec["ref"], w, None))
            continue
        if shape == "both_alts" and len(rec["alts"]) > 1:
            # Effect and other allele both alts of the record: not_found (README, as pgsc_calc).
            e, o = rng.choice(rec["alts"], 2, replace=False)
            rows.append((chrom, rec["pos"], str(e), str(o), w, None))
            continue
        indel_or_multi_snv = len(alt) != len(rec["ref"]) or (len(rec["ref"]) == 1 and len(rec["alts"]) > 1)
        if shape == "flip" and indel_or_multi_snv and rec["kind"] != "palindromic" and rng.random() < 0.5:
            # Both alleles complemented where no strand flip is tried: an indel (SNVs only) or a
            # multi-allelic SNV site, whose three alleles meet any flipped pair (README: A/C at
            # G>A,C,T is not_found); found only as written (REF effect G, other C at G>C,A).
            # Not the SNV alt of a multi-allelic indel record (AA>GA of AA>AAT,A,GA): its pair
            # complemented base by base, CT/TT, is the SNV C/T in minimal form, G/A flipped,
            # which docs/pgs.md's rules match (ref_alt_flipped, session 50 seed 126 of the matcher).
            e, o = _flip(alt), _flip(rec["ref"])
            m = (rec["id"], rec, e) if e == rec["ref"] and o in rec["alts"] else None
            rows.append((chrom, rec["pos"], e, o, w, m))
            continue
        if shape == "effect_only" and len(rec["alts"]) == 1 and shared[rec["pos"]] == 1:
            # No other allele (an empty cell): README matches the effect allele at a one-alt locus.
            e = alt if rng.random() < 0.5 else rec["ref"]
            rows.append((chrom, rec["pos"], e, "", w, (rec["id"], rec, e)))
            continue
        if extended and len(rec["alts"]) == 1 and rng.random() < 0.15:
            # README: failing the written alleles, in minimal representation (one orientation).
            pad = bases_of(rng)
            left = len(rec["ref"]) == len(alt) and rng.random() < 0.5
            e, o = (pad + alt, pad + rec["ref"]) if left else (alt + pad, rec["ref"] + pad)
            if rng.random() < 0.5:
                rows.append((chrom, rec["pos"] - left, e, o, w, (rec["id"], rec, alt)))
            else:
                rows.append((chrom, rec["pos"] - left, o, e, w, (rec["id"], rec, rec["ref"])))
            continue
        if shape == "lower":  # alleles compared in upper case (docs/pgs.md: Allele case)
            rows.append((chrom, rec["pos"], alt.lower(), rec["ref"].lower(), w, (rec["id"], rec, alt)))
            continue
        if shape.startswith("flip") and snv and rec["kind"] != "palindromic":
            e, o = (_flip(alt), _flip(rec["ref"])) if shape == "flip" else (_flip(rec["ref"]), _flip(alt))
            rows.append((chrom, rec["pos"], e, o, w, (rec["id"], rec, _flip(e))))
        elif shape in ("alt_ref", "flip_swap"):
            rows.append((chrom, rec["pos"], rec["ref"], alt, w, (rec["id"], rec, rec["ref"])))
        else:
            rows.append((chrom, rec["pos"], alt, rec["ref"], w, (rec["id"], rec, alt)))
        if rng.random() < 0.08 and rows[-1][3]:  # the same site again, alleles in either order, another weight
            c, p, e, o, _, m = rows[-1]
            if rng.random() < 0.5:  # swapped: the other allele counts (its complement on a flipped row)
                e, o = o, e
                if len(rec["alts"]) == 1:
                    m = (m[0], m[1], rec["ref"] if m[2] == rec["alts"][0] else rec["alts"][0])
                else:
                    m = (m[0], m[1], e.upper())
            if snv and rec["kind"] != "palindromic" and rng.random() < 0.4:
                # The same variant on the other strand: another site in the file, one variant once
                # matched, which duplicate_variants: first drops there (docs/pgs.md: Duplicate policy).
                e, o = _flip(e.upper()), _flip(o.upper())
            rows.append((c, p, e, o, float(np.round(rng.normal(0, 1), 4)), m))
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    seen: set = set()
    matches = []
    for c, p, e, o, w, m in rows:
        key = (c, p, frozenset((e.upper(), o.upper())))
        if key in seen:
            continue
        seen.add(key)
        if m is None:
            continue
        vid, rec, counted = m
        # Once matched, a later row on the genotype row an earlier one took is dropped too
        # (matching.matched_duplicates: the pair on the other strand).
        both = {e.upper(), o.upper()} if o else set()
        on_strand = both if both & {rec["ref"], *rec["alts"]} else {_flip(a) for a in both}
        galt = next(iter(on_strand - {rec["ref"]}), rec["alts"][0]) if len(rec["alts"]) > 1 else rec["alts"][0]
        # README: a score row whose alleles are an A/T or C/G pair is dropped, whatever the
        # genotype row (also at a multi-allelic site G>A,C: pgsc_calc decides on the score's pair);
        # a row without other allele by the genotyped pair (matching.match_sites_frame's rule).
        pair = (e, o) if o else (rec["ref"], rec["alts"][0])
        if len(pair[0]) == 1 and pair[0].upper() == _flip(pair[1].upper()) and not keep_ambiguous:
            continue
        if (vid, galt) in seen:
            continue
        seen.add((vid, galt))
        matches.append((vid, counted, w))
    return [r[:5] for r in rows], matches


def write_scoring_file(path: Path, pgs_id: str, rows: list[tuple]) -> None:
    body = "".join(f"{c}\t{p}\t{e}\t{o}\t{w}\n" for c, p, e, o, w in rows)
    path.write_text(f"###PGS CATALOG SCORING FILE\n#format_version=2.0\n#pgs_id={pgs_id}\n#genome_build=GRCh38\n"
                    f"#variants_number={len(rows)}\nchr_name\tchr_position\teffect_allele\tother_allele\t"
                    f"effect_weight\n{body}")


def plink2_sums(work: Path, pgs_id: str, matches: list[tuple[str, str, float]], zero: bool
                ) -> tuple[dict[str, float], dict[str, int]]:
    """plink2 --score on the unsplit .pgen with the oracle's matched rows: sample -> SUM, and
    sample -> ALLELE_CT (README: ``allele_count`` is plink2's ALLELE_CT)."""
    if not matches:
        return {}, {}
    table = work / f"{pgs_id}.plink2.tsv"
    table.write_text("ID\tA1\tW\n" + "".join(f"{v}\t{a}\t{w!r}\n" for v, a, w in matches))
    plink2("--pfile", str(work / "g"), "--score", str(table), "1", "2", "3", "header", "cols=+scoresums",
           # Under 50 founders plink2 refuses in-sample frequencies without --bad-freqs.
           *(["no-mean-imputation"] if zero else ["--bad-freqs"]), "--out", str(work / f"{pgs_id}.plink2"))
    out = pd.read_csv(work / f"{pgs_id}.plink2.sscore", sep="\t")
    ids = out.iloc[:, 0].astype(str)
    return (dict(zip(ids, out["SCORE1_SUM"], strict=True)),
            dict(zip(ids, out["ALLELE_CT"].astype(int), strict=True)))


def missing_counts(calls: np.ndarray, samples: list[str], matches: list[tuple[str, str, float]],
                   records: list[dict], male: np.ndarray) -> dict[str, int]:
    """sample -> matched variants whose call is missing (``n_missing``: a record's alts are
    missing together, a male's chrX call is his first allele; a non-male's chrY call is no
    missing call, docs/pgs.md: Dosage policy)."""
    rec = [int(v.removeprefix("v")) for v, _, _ in matches]
    if not rec:
        return dict.fromkeys(samples, 0)
    miss = calls[rec, :, 0] < 0
    on_y = np.array([records[r]["chrom"] == "chrY" for r in rec])
    miss[np.ix_(on_y, ~male)] = False
    return dict(zip(samples, (int(x) for x in miss.sum(axis=0)), strict=True))


def make_seed(hl, work: Path, seed: int, n_samples: int, n_records: int, extended: bool = False) -> dict:
    """Writes the seed's target in every format and its scoring files; returns the case."""
    rng = np.random.default_rng(seed)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    records, calls, male = generate(rng, n_samples, n_records, extended)
    samples = [str(1001 + i) for i in range(n_samples)]
    write_vcf(work / "d.vcf", records, calls, samples)
    srec, scalls = split(records, calls)
    write_vcf(work / "split.vcf", srec, scalls, samples)
    (work / "sex.txt").write_text("#IID\tSEX\n" + "".join(f"{s}\t{1 if m else 2}\n" for s, m in zip(samples, male, strict=True)))
    common = ["--update-sex", str(work / "sex.txt"), "--split-par", "hg38", "--vcf-half-call", "missing"]
    plink2("--vcf", str(work / "d.vcf"), *common, "--make-pgen", "--out", str(work / "g"))
    plink2("--vcf", str(work / "split.vcf"), *common, "--make-bed", "--out", str(work / "s"))
    plink2("--bfile", str(work / "s"), "--export", "bgen-1.2", "bits=8", "ref-first", "id-paste=iid",
           "--out", str(work / "s"))
    check_contigs(work / "g.pvar", records, lambda v: v)
    check_contigs(work / "s.bim", records, lambda v: v.rsplit("_", 1)[0])
    if hl is not None:
        hl.import_vcf(str(work / "d.vcf"), reference_genome="GRCh38").write(str(work / "d.mt"), overwrite=True)
    opts = {"zero": bool(rng.random() < 0.5), "keep_ambiguous": bool(rng.random() < 0.5)}
    (work / "scores").mkdir()
    oracle = {}
    for k in range(2):
        pgs_id = f"PGS99{seed % 1000:03d}{k}"
        rows, matches = scoring_rows(rng, records, opts["keep_ambiguous"], extended)
        write_scoring_file(work / "scores" / f"{pgs_id}.txt", pgs_id, rows)
        sums, allele_ct = plink2_sums(work, pgs_id, matches, opts["zero"])
        oracle[pgs_id] = {"n_matched": len(matches), "sums": sums, "allele_ct": allele_ct,
                          "n_missing": missing_counts(calls, samples, matches, records, male)}
    return {"opts": opts, "oracle": oracle, "samples": samples, "n_records": len(records)}


def run_route(hl, spark, work: Path, route: str, case: dict) -> pd.DataFrame:
    sys.path.insert(0, str(REPO / "tests"))
    from test_field_cases_pgs import case_config, published_frame

    from trd_spark.pgs import stage
    from trd_spark.pgs.matching import variant_matches_pandas

    fmt, rel, extra = ROUTES[route]
    opts = case["opts"]
    pgs = (f"  missing_genotypes: {'zero' if opts['zero'] else 'mean_impute'}\n"
           f"  keep_ambiguous: {str(opts['keep_ambiguous']).lower()}\n  duplicate_variants: first\n{extra}")
    tmp = work / f"run_{route}"
    tmp.mkdir(exist_ok=True)
    cfg = case_config(tmp, str(work / rel), f"{work}/scores/*.txt", fmt=fmt, extra_pgs=pgs,
                      extra_genotypes=f", sex_source: {{path: {work / 'sex.txt'}}}")
    files = stage.load_scoring_files(spark, cfg, "GRCh38")
    matched = stage.match_dataset(hl, spark, cfg, "d", files)
    # The match log kept for minimising a disagreement (variant, match type per score row).
    variant_matches_pandas(matched.frame, "d").to_csv(tmp / "variant_matches.tsv", sep="\t", index=False)
    got = published_frame(stage.scores_of_dataset(hl, spark, cfg, matched))
    got.to_csv(tmp / "scores.tsv", sep="\t", index=False)
    return got


def compare(route: str, got: pd.DataFrame, case: dict, first: dict) -> list[str]:
    """Disagreements of one route: with plink2's sums, the oracle's match count, the first route's sums."""
    bad = []
    for pgs_id, want in case["oracle"].items():
        g = got[got["pgs_id"] == pgs_id]
        if g.empty:
            if want["n_matched"]:
                bad.append(f"{route} {pgs_id}: no rows, oracle matched {want['n_matched']}")
            continue
        n = set(g["n_matched"])
        if n != {want["n_matched"]}:
            bad.append(f"{route} {pgs_id}: n_matched {sorted(n)} != oracle {want['n_matched']}")
        sums = dict(zip(g["person_id"].astype(str), g["score_sum"], strict=True))
        if set(sums) != set(case["samples"]) or len(g) != len(sums):
            bad.append(f"{route} {pgs_id}: {len(g)} rows for {len(set(sums) & set(case['samples']))} of "
                       f"{len(case['samples'])} samples")
        avg = g["score_sum"] / (2 * g["n_matched"])
        if not np.allclose(g["score_avg"], avg, rtol=1e-12, atol=1e-12, equal_nan=True):
            bad.append(f"{route} {pgs_id}: score_avg is not score_sum / (2 n_matched)")
        for col, key in (("allele_count", "allele_ct"), ("n_missing", "n_missing")):
            ours = dict(zip(g["person_id"].astype(str), g[col].astype(int), strict=True))
            off = [s for s, v in want[key].items() if ours.get(s) != v]
            if off:
                bad.append(f"{route} {pgs_id} {col} of {len(off)} samples, e.g. {off[0]}: ours {ours.get(off[0])} "
                           f"oracle {want[key][off[0]]}")
        for s, v in want["sums"].items():
            if abs(sums.get(s, np.nan) - v) > 1e-5 * max(1.0, abs(v)) or s not in sums:
                bad.append(f"{route} {pgs_id} sample {s}: ours {sums.get(s)} plink2 {v}")
                break
        ref = first.get(pgs_id)
        if ref is not None:
            for s, v in ref.items():
                if abs(sums.get(s, np.nan) - v) > 1e-9 or s not in sums:
                    bad.append(f"{route} {pgs_id} sample {s}: ours {sums.get(s)} vs first route {v}")
                    break
        else:
            first[pgs_id] = sums
    return bad


class _Lengths:
    """Stands for Hail's reference in ``--match-only`` (the contigs the target uses)."""

    lengths = {"chr1": 248_956_422, "chrX": 156_040_895, "chrY": 57_227_415}

    @classmethod
    def get_reference(cls, _name: str) -> type[_Lengths]:
        return cls


def match_only(work: Path, case: dict) -> list[str]:
    """The matcher alone (``matching.match_sites_frame`` on the .pgen's and the split .bed's
    variant lists, as the native engine's route runs it; no Spark, no Hail): its used rows per
    score against the oracle's count. Seconds per seed, so thousands of seeds fit where the
    routes take minutes each."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_field_cases_pgs import case_config

    from trd_spark.pgs import matching, pgen_engine
    from trd_spark.pgs.native_task import PlinkFiles
    from trd_spark.pgs.scoring_files import read_scoring_files

    opts, bad = case["opts"], []
    pgs = f"  keep_ambiguous: {str(opts['keep_ambiguous']).lower()}\n  duplicate_variants: first\n"
    for fmt, rel in (("pgen", "g"), ("plink", "s")):
        tmp = work / f"match_{fmt}"
        tmp.mkdir(exist_ok=True)
        cfg = case_config(tmp, str(work / rel), f"{work}/scores/*.txt", fmt=fmt, extra_pgs=pgs)
        sites = matching.score_sites(_Lengths, None, read_scoring_files(None, cfg.pgs, "GRCh38"), "GRCh38")
        index = pgen_engine.variant_index(PlinkFiles.of(cfg.dataset("d").genotypes), "GRCh38")
        m = matching.match_sites_frame(sites, index.frame, keep_ambiguous=opts["keep_ambiguous"],
                                       duplicate_variants="first")
        vm = matching.variant_matches_pandas(matching.frame_matches(m, index.frame), "d")
        vm.to_csv(tmp / "variant_matches.tsv", sep="\t", index=False)
        used = vm[vm["match_type"].isin(matching.USED_MATCH_TYPES)]
        for pgs_id, want in case["oracle"].items():
            n = int((used["pgs_id"] == pgs_id).sum())
            if n != want["n_matched"]:
                bad.append(f"match-{fmt} {pgs_id}: n_matched {n} != oracle {want['n_matched']}")
    return bad


def parse_seeds(items: list[str]) -> list[int]:
    out = []
    for it in items:
        lo, _, hi = it.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="+", default=["1"], help="seeds or ranges (3-9)")
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--records", type=int, default=60)
    ap.add_argument("--routes", nargs="+", choices=list(ROUTES), default=DEFAULT_ROUTES)
    ap.add_argument("--work-dir", default="/tmp/trd_spark_diff_pgs")
    ap.add_argument("--extended", action="store_true",
                    help="records also in X's PAR1 and on chrY, score rows written with one more base "
                         "(other seeds than without)")
    ap.add_argument("--match-only", action="store_true",
                    help="the matcher alone on the .pgen and split .bed (n_matched; no Spark, no sums)")
    args = ap.parse_args()
    if not shutil.which("plink2"):
        sys.exit("plink2 is not on PATH")
    if args.match_only:
        seeds, bad = parse_seeds(args.seeds), 0
        for seed in seeds:
            work = Path(args.work_dir) / f"seed{seed}"
            diffs = match_only(work, make_seed(None, work, seed, args.samples, args.records, args.extended))
            bad += len(diffs)
            for b in diffs:
                print(f"  DIFF seed {seed} {b}", flush=True)
        print(f"SUMMARY match-only seeds={len(seeds)} runs={2 * len(seeds)} disagreements={bad}")
        return
    from trd_spark.config import SparkSettings
    from trd_spark.session import start_session

    root = Path(args.work_dir)
    root.mkdir(parents=True, exist_ok=True)
    spark = start_session(SparkSettings(master="local[2]", driver_memory="3g", shuffle_partitions=2,
                                        tmp_dir=str(root / "tmp")))
    import hail as hl

    seeds = parse_seeds(args.seeds)
    runs = disagreements = 0
    for seed in seeds:
        t0 = time.perf_counter()
        work = root / f"seed{seed}"
        case = make_seed(hl, work, seed, args.samples, args.records, args.extended)
        first: dict = {}
        bad_seed = []
        for route in args.routes:
            runs += 1
            try:
                got = run_route(hl, spark, work, route, case)
            except Exception as e:  # noqa: BLE001 - a route's error is a disagreement to report
                bad_seed.append(f"{route}: error {type(e).__name__}: {str(e).splitlines()[0][:300]}")
                continue
            bad_seed += compare(route, got, case, first)
        disagreements += len(bad_seed)
        matched = {k: v["n_matched"] for k, v in case["oracle"].items()}
        print(f"seed {seed}: {case['n_records']} records, opts {case['opts']}, oracle matched {matched}, "
              f"{len(bad_seed)} disagreements, {time.perf_counter() - t0:.0f} s", flush=True)
        for b in bad_seed:
            print(f"  DIFF seed {seed} {b}", flush=True)
    print(f"SUMMARY seeds={len(seeds)} runs={runs} disagreements={disagreements}")


if __name__ == "__main__":
    main()
