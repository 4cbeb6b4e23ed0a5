"""Differential fuzz of ``pgs.reference_fasta`` against ``bcftools norm -f`` + plink2 (not part of the suite).

Session 57 (helper fastafuzz). Per seed:

- a random chr1 reference (``reference``: 2,000-3,000 bases) with planted repeats: homopolymers,
  di- and tri-nucleotide units, runs of about 100 bases (``SHIFT_WINDOW``) and across the 128-base
  buckets of Hail's row pick, one starting at base 2 and one ending at the sequence's last base;
- genotype records (``records``): an event of a repeat (one or two units deleted or inserted) or an
  SNV, written in a random equivalent window (``window_form``: left-aligned, shifted right, anchored
  on its right, padded), some multi-allelic (two events of one window, or an event and an SNV in it);
  random diploid calls (some missing);
- two scoring files (``score_rows``): rows naming the records' events (or absent events of the
  repeats) in a random equivalent window of their own, SNVs as written or strand-flipped, the effect
  allele either side.

Oracle: ``bcftools norm -f`` (pysam's bundled bcftools; whole records, no ``-m-``, as docs/pgs.md
decides) on the genotype VCF and on the score sites (each written as a VCF record, its REF the allele
that is the FASTA's bases; neither: as written); then the normalised score sites matched to the
normalised records by their alleles (as written, else per alt in minimal form; a strand-flipped SNV
by its complement), the first row of a site winning (``duplicate_variants: first``), and plink2
``--score`` on the normalised records' .pgen (``plink2_sums_in_parts``: a record counted twice goes
to two plink2 runs). A REF effect allele met in minimal form at a multi-allelic record (the
project's partial-REF rule, which plink2's REF dosage does not follow) is avoided by writing such a
row's effect allele on its ALT side.

Each route (``--routes``: pgen and bed native, vcf and mt Hail's, ``vcf-hail-pass``) runs the stage
with ``pgs.reference_fasta`` on the files as written. Its sums must equal the oracle's, except that
a row the route counts ``not_found_unnormalised`` (with the stage's WARNING) is allowed where the
oracle matched it: the oracle is then rescored without it and the row is counted as ``counted``.
Every other difference is a DIFF line, by kind (``n_matched``, a match type, a sum).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/diff_pgs_fasta.py --seeds 1-20 --routes pgen vcf

Prints one line per seed, the DIFF lines and ``SUMMARY seeds=N runs=R disagreements=D counted=C``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import diff_pgs_kinds as K  # noqa: E402
import diff_pgs_routes as R  # noqa: E402

BASES = "ACGT"
HEAD = ("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
ROUTES = {**R.ROUTES, "pgen": ("pgen", "raw", ""), "bed": ("plink", "rawsplit", "")}
DEFAULT_ROUTES = ["pgen", "vcf"]


def reference(rng: np.random.Generator) -> tuple[str, list[tuple[int, int]]]:
    """A random sequence (index 0 = position 1) and its planted repeats (first, last position)."""
    n = int(rng.integers(2000, 3001))
    seq = list(rng.choice(list(BASES), n))
    repeats: list[tuple[int, int]] = []

    def plant(start: int, unit: str, copies: int) -> None:
        s = "".join(unit * copies)
        if start < 1 or start + len(s) - 1 > n:
            return
        seq[start - 1:start - 1 + len(s)] = list(s)
        repeats.append((start, start + len(s) - 1))

    def unit_of() -> str:
        size = int(rng.choice([1, 1, 2, 2, 3]))
        while True:
            u = "".join(rng.choice(list(BASES), size))
            if size == 1 or len(set(u)) > 1:
                return u

    plant(2, unit_of(), int(rng.integers(2, 6)))                       # the contig's start
    u = unit_of()
    k = int(rng.integers(2, 6))
    plant(n - len(u) * k + 1, u, k)                                    # ends at the last base
    edge = 128 * int(rng.integers(2, n // 128 - 2))                    # across a 128-base bucket
    u = unit_of()
    plant(edge - int(rng.integers(0, 12)), u, int(rng.integers(3, 12)))
    u = str(rng.choice(list(BASES)))                                   # about SHIFT_WINDOW long
    plant(int(rng.integers(300, n - 400)), u * int(rng.integers(98, 104)), 1)
    for _ in range(int(rng.integers(8, 16))):
        u = unit_of()
        plant(int(rng.integers(40, n - 60)), u, int(rng.integers(2, 9)))
    return "".join(seq), sorted(repeats)


def apply(seq: str, pos: int, ref: str, alt: str) -> str:
    assert seq[pos - 1:pos - 1 + len(ref)] == ref
    return seq[:pos - 1] + alt + seq[pos - 1 + len(ref):]


def event(rng: np.random.Generator, seq: str, span: tuple[int, int]) -> str | None:
    """The haplotype of a random indel of the repeat ``span`` (a unit or two, deleted or inserted;
    the unit read as the repeat's period) or an SNV in it; None when it changes nothing."""
    first, last = span
    body = seq[first - 1:last]
    period = next((p for p in range(1, 4) if all(body[i] == body[i % p] for i in range(len(body)))), len(body))
    at = int(rng.integers(first, last + 1))
    kind = rng.choice(["del1", "del2", "ins1", "ins2", "snv"])
    if kind == "snv":
        b = seq[at - 1]
        return apply(seq, at, b, str(rng.choice([x for x in BASES if x != b])))
    k = int(kind[-1]) * period
    if kind.startswith("del"):
        if at + k - 1 > len(seq):
            return None
        return apply(seq, at, seq[at - 1:at - 1 + k], "")
    ins = "".join(seq[at - 1 + i] if at - 1 + i < len(seq) else "A" for i in range(k))
    return apply(seq, at, "", ins) if rng.random() < 0.8 else apply(seq, at, "", "".join(rng.choice(list(BASES), k)))


def apply_empty(seq: str, pos: int, ref: str, alt: str) -> str:
    return seq[:pos - 1] + alt + seq[pos - 1 + len(ref):]


def windows(seq: str, haps: list[str], around: tuple[int, int], rng: np.random.Generator, want: int = 40
            ) -> list[tuple[int, str, list[str]]]:
    """Random equivalent records (pos, REF, ALTs) of the haplotypes ``haps``: a window [a, b] of the
    reference such that each haplotype is the reference with REF = seq[a..b] replaced by its ALT
    (prefix before a and suffix after b shared), REF and every ALT non-empty and different."""
    out = []
    lo, hi = max(1, around[0] - 3), min(len(seq), around[1] + 3)
    for _ in range(want * 4):
        a = int(rng.integers(lo, hi + 1))
        b = int(rng.integers(a, min(len(seq), a + (hi - lo) + 3) + 1))
        ref = seq[a - 1:b]
        alts = []
        for h in haps:
            d = len(h) - len(seq)
            if h[:a - 1] != seq[:a - 1] or h[b + d:] != seq[b:] or b + d < a - 1:
                break
            alts.append(h[a - 1:b + d])
        else:
            if all(alts) and len(set(alts)) == len(alts) and ref not in alts:
                out.append((a, ref, alts))
        if len(out) >= want:
            break
    return out


def changed_span(seq: str, hap: str) -> tuple[int, int]:
    """The positions (1-based) the haplotype's change can sit at: from the first difference from
    the left to the last from the right."""
    i = 0
    while i < min(len(seq), len(hap)) and seq[i] == hap[i]:
        i += 1
    j = 0
    while j < min(len(seq), len(hap)) - i and seq[-1 - j] == hap[-1 - j]:
        j += 1
    return i + 1, len(seq) - j


def records(rng: np.random.Generator, seq: str, repeats: list[tuple[int, int]], n: int
            ) -> tuple[list[dict], list[str]]:
    """Genotype records (``id``, ``pos``, ``ref``, ``alts``, their haplotypes) and the absent events' haplotypes."""
    out: list[dict] = []
    absent: list[str] = []
    spans = repeats + [(p, p) for p in rng.integers(20, len(seq) - 20, size=max(3, n // 4)).tolist()]
    for _ in range(n * 3):
        if len(out) >= n:
            break
        span = spans[int(rng.integers(len(spans)))]
        haps = []
        for _ in range(2 if rng.random() < 0.25 else 1):
            h = event(rng, seq, span)
            if h is not None and h != seq and h not in haps:
                haps.append(h)
        if not haps:
            continue
        if rng.random() < 0.15:
            absent.append(haps[0])
            continue
        first = min(changed_span(seq, h)[0] for h in haps)
        last = max(changed_span(seq, h)[1] for h in haps)
        forms = windows(seq, haps, (first, last), rng)
        if not forms:
            continue
        pos, ref, alts = forms[int(rng.integers(len(forms)))]
        if any(r["pos"] == pos and r["ref"] == ref and set(r["alts"]) & set(alts) for r in out):
            continue
        if any(set(r["haps"]) & set(haps) for r in out):
            continue  # one variant in two records: plink2 and the stage would see a duplicate
        out.append({"id": f"v{len(out)}", "chrom": "chr1", "pos": pos, "ref": ref, "alts": alts, "haps": haps})
    return out, absent


def calls_of(rng: np.random.Generator, recs: list[dict], n_samples: int) -> np.ndarray:
    """records x samples x 2 allele indexes (-1 missing)."""
    c = np.zeros((len(recs), n_samples, 2), dtype=np.int64)
    for r, rec in enumerate(recs):
        k = len(rec["alts"])
        c[r] = rng.integers(0, k + 1, size=(n_samples, 2))
        c[r][rng.random(n_samples) < 0.5] = 0
        c[r][rng.random(n_samples) < 0.05] = -1
        c[r].sort(axis=1)
        c[r] = np.where((c[r] < 0).any(axis=1, keepdims=True), -1, c[r])
    return c


def write_fasta(path: Path, seq: str) -> None:
    path.write_text(">chr1 fuzz\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60)))


def bcftools_norm(fasta: Path, vcf: Path) -> dict[str, tuple[int, str, list[str]]]:
    """``bcftools norm -f`` of a VCF: ID -> (POS, REF, ALTs)."""
    from pysam import bcftools

    out = bcftools.norm("-f", str(fasta), str(vcf))
    got = {}
    for line in out.splitlines():
        if line and not line.startswith("#"):
            f = line.split("\t")
            got[f[2]] = (int(f[1]), f[3], f[4].split(","))
    return got


def min_rep(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    return K._min_rep(pos, ref, alt)


def flip(a: str) -> str:
    return a.translate(R.COMPLEMENT)


def score_rows(rng: np.random.Generator, seq: str, recs: list[dict], absent: list[str]) -> list[dict]:
    """Score rows (pos, effect, other, weight; ``hap``: the event named, ``flip``: an SNV row
    strand-flipped) in file order."""
    rows: list[dict] = []
    pool = [(h, rec) for rec in recs for h in rec["haps"]] + [(h, None) for h in absent]
    for h, rec in pool:
        if rng.random() < 0.15:
            continue
        forms = windows(seq, [h], changed_span(seq, h), rng, want=20)
        if not forms:
            continue
        pos, ref, (alt,) = forms[int(rng.integers(len(forms)))]
        w = float(np.round(rng.normal(0, 1), 4))
        swap = bool(rng.random() < 0.4)
        is_flip = (len(ref) == 1 and len(alt) == 1 and flip(ref) != alt and rng.random() < 0.3
                   and sum(r["pos"] == pos for r in recs) <= 1 and rec is not None and len(rec["alts"]) == 1)
        e, o = (ref, alt) if not swap else (alt, ref)
        if is_flip:
            e, o = flip(e), flip(o)
        if any(r["pos"] == pos and {r["effect"], r["other"]} == {e, o} for r in rows):
            continue
        rows.append({"pos": pos, "effect": e, "other": o, "weight": w, "hap": h, "flip": is_flip})
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def oracle(work: Path, fasta: Path, seq: str, recs: list[dict], norm: dict, split_norm: dict, rows: list[dict]
           ) -> tuple[list[dict], list[dict], int]:
    """Each score row's oracle match (``vid``, ``counted``: the allele plink2 counts in the
    normalised .pgen; None: not found; ``dup``: an earlier row's site), after ``bcftools norm -f``
    of its site under each reading that fits the FASTA (the REF is the allele that is its bases;
    both may be), met with each record's alts left-aligned one by one (``split_norm``: ``bcftools
    norm -f`` of the records split, ``-m-``: the variant each alt is, even where another alt keeps
    the whole record in place). A REF effect allele at a multi-allelic record is written on the
    ALT side instead (module doc). A row whose two readings meet two records (an insertion and a
    deletion of one pair: docs/pgs.md's limit) is left out of the file. Returns the rows kept, their
    matches and the number left out."""
    lines = []
    readings: dict[int, list[tuple[str, bool]]] = {}
    for i, r in enumerate(rows):
        e, o = (flip(r["effect"]), flip(r["other"])) if r["flip"] else (r["effect"], r["other"])
        for k, (ref, alt) in enumerate(((e, o), (o, e))):
            if seq[r["pos"] - 1:r["pos"] - 1 + len(ref)] == ref:
                lines.append(f"chr1\t{r['pos']}\ts{i}_{k}\t{ref}\t{alt}\t.\tPASS\t.\n")
                readings.setdefault(i, []).append((f"s{i}_{k}", ref == e))
    (work / "sites.vcf").write_text(HEAD + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "".join(lines))
    sites = bcftools_norm(fasta, work / "sites.vcf")
    variants: dict[tuple, tuple[str, int]] = {}
    for rec in recs:
        for j in range(len(rec["alts"])):
            sid = rec["id"] if len(rec["alts"]) == 1 else f"{rec['id']}_{j + 1}"
            p, ref, (alt,) = split_norm[sid]
            variants[(p, ref, alt)] = (rec["id"], j)
    by_id = {rec["id"]: rec for rec in recs}
    seen: set = set()
    kept, out, ambiguous = [], [], 0
    for i, r in enumerate(rows):
        hits = []
        for sid, eff_ref in readings.get(i, []):
            p, ref, (alt,) = sites[sid]
            if (p, ref, alt) in variants:
                hits.append((variants[(p, ref, alt)], eff_ref, (p, ref, alt)))
        if len({h[0] for h in hits}) > 1:
            ambiguous += 1
            continue
        got = {"vid": None, "counted": None, "dup": False}
        if hits:
            (vid, j), eff_ref, key = hits[0]
            rec = by_id[vid]
            if eff_ref and len(rec["alts"]) > 1:
                r["effect"], r["other"] = r["other"], r["effect"]
                eff_ref = False
            _, nref, nalts = norm[vid]
            got = {"vid": vid, "counted": nref if eff_ref else nalts[j], "dup": key in seen}
            if got["dup"]:
                got["vid"] = got["counted"] = None
            seen.add(key)
        kept.append(r)
        out.append(got)
    return kept, out, ambiguous


def make_seed(work: Path, seed: int, args) -> dict:
    rng = np.random.default_rng(seed + 57_000)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    seq, repeats = reference(rng)
    fasta = work / "ref.fa"
    write_fasta(fasta, seq)
    recs, absent = records(rng, seq, repeats, args.records)
    recs.sort(key=lambda r: r["pos"])
    for i, rec in enumerate(recs):
        rec["id"] = f"v{i}"
    samples = [str(1001 + i) for i in range(args.samples)]
    calls = calls_of(rng, recs, len(samples))
    R.write_vcf(work / "d.vcf", recs, calls, samples)
    norm = bcftools_norm(fasta, work / "d.vcf")
    # Two records at one position with one REF, as written or left-aligned, are one site given
    # split to the stage (their alt copies summed): kept apart here, the later one dropped.
    seen: set = set()
    keep = []
    for r, rec in enumerate(recs):
        keys = {(rec["pos"], rec["ref"]), tuple(norm[rec["id"]][:2])}
        if not keys & seen:
            keep.append(r)
        seen |= keys
    recs = [{**recs[r], "id": f"v{i}"} for i, r in enumerate(keep)]
    calls = calls[keep]
    R.write_vcf(work / "d.vcf", recs, calls, samples)
    norm = bcftools_norm(fasta, work / "d.vcf")
    # The normalised records, sorted (bcftools keeps the IDs), with the same calls.
    nrecs = [{**rec, "pos": norm[rec["id"]][0], "ref": norm[rec["id"]][1], "alts": norm[rec["id"]][2]}
             for rec in recs]
    R.write_vcf(work / "n.vcf", nrecs, calls, samples)
    R.plink2("--vcf", str(work / "n.vcf"), "--make-pgen", "--out", str(work / "g"))
    R.plink2("--vcf", str(work / "d.vcf"), "--make-pgen", "--out", str(work / "raw"))
    srec, scalls, _ = R.split(recs, calls)
    R.write_vcf(work / "split.vcf", srec, scalls, samples)
    split_norm = bcftools_norm(fasta, work / "split.vcf")
    R.plink2("--vcf", str(work / "split.vcf"), "--make-bed", "--out", str(work / "rawsplit"))
    (work / "sex.txt").write_text("#IID\tSEX\n" + "".join(f"{s}\t2\n" for s in samples))
    (work / "scores").mkdir()
    zero = bool(rng.random() < 0.5)
    files = {}
    ambiguous = 0
    for k in range(2):
        pgs_id = f"PGS97{seed % 1000:03d}{k}"
        rows = score_rows(rng, seq, recs, absent)
        rows, found, n_ambiguous = oracle(work, fasta, seq, recs, norm, split_norm, rows)
        ambiguous += n_ambiguous
        R.write_scoring_file(work / "scores" / f"{pgs_id}.txt", pgs_id,
                             [("1", r["pos"], r["effect"], r["other"], r["weight"]) for r in rows])
        files[pgs_id] = {"rows": rows, "found": found}
    (work / "case.json").write_text(json.dumps({"seed": seed, "files": {
        k: [{**{x: y for x, y in r.items() if x != "hap"}, **f} for r, f in zip(v["rows"], v["found"], strict=True)]
        for k, v in files.items()}}, indent=1))
    return {"opts": {"zero": zero, "keep_ambiguous": False}, "files": files, "samples": samples,
            "n_records": len(recs), "ambiguous": ambiguous, "calls": calls, "recs": recs, "work": str(work), "fasta": str(fasta),
            "oracle": {k: {"n_matched": sum(f["vid"] is not None for f in v["found"])} for k, v in files.items()}}


def oracle_scores(work: Path, case: dict, pgs_id: str, allowed: set[int]) -> dict:
    """plink2's sums, ALLELE_CTs and the missing counts of the oracle's matches of ``pgs_id``
    (without the rows ``allowed``: counted not_found_unnormalised by the route)."""
    f = case["files"][pgs_id]
    matches = [(m["vid"], m["counted"], r["weight"]) for i, (r, m) in enumerate(zip(f["rows"], f["found"],
                                                                                     strict=True))
               if m["vid"] is not None and i not in allowed]
    sums, cts, slack = K.plink2_sums_in_parts(work, pgs_id, matches, case["opts"]["zero"])
    idx = {rec["id"]: i for i, rec in enumerate(case["recs"])}
    miss = np.zeros(len(case["samples"]), dtype=int)
    for v, _, _ in matches:
        miss += (case["calls"][idx[v], :, 0] < 0).astype(int)
    return {"n_matched": len(matches), "sums": sums, "allele_ct": cts, "sum_slack": slack,
            "n_missing": dict(zip(case["samples"], miss.tolist(), strict=True))}


def run_route(hl, spark, work: Path, route: str, case: dict) -> pd.DataFrame:
    fmt, rel, extra = ROUTES[route]
    routes = {route: (fmt, rel, extra + f"  reference_fasta: {case['fasta']}\n")}
    return R.run_route(hl, spark, work, route, case, routes)


def compare(route: str, got: pd.DataFrame, case: dict, first: dict) -> tuple[list[str], int]:
    """The route's disagreements with the oracle (module doc) and the rows it counted
    ``not_found_unnormalised`` where the oracle matched."""
    work = Path(case["work"])
    vm = pd.read_csv(work / f"run_{route}" / "variant_matches.tsv", sep="\t", dtype=str)
    bad: list[str] = []
    counted = 0
    want_all = {}
    for pgs_id, f in case["files"].items():
        log = vm[vm["pgs_id"] == pgs_id]
        types = {(int(p), e, o): t for p, e, o, t in zip(log["pos"], log["effect_allele"], log["other_allele"],
                                                         log["match_type"], strict=True)}
        allowed = set()
        for i, (r, m) in enumerate(zip(f["rows"], f["found"], strict=True)):
            t = types.get((r["pos"], r["effect"], r["other"]))
            used = t is not None and t not in ("not_found", "not_found_unnormalised") and not t.startswith("dup")
            if m["vid"] is not None and t == "not_found_unnormalised":
                allowed.add(i)
            elif m["vid"] is not None and not used:
                bad.append(f"{route} {pgs_id}: oracle matched {r['pos']} {r['effect']}/{r['other']} at {m['vid']}, "
                           f"ours {t}")
            elif m["vid"] is None and used and not m["dup"]:
                bad.append(f"{route} {pgs_id}: oracle not found {r['pos']} {r['effect']}/{r['other']}, ours {t}")
        counted += len(allowed)
        want_all[pgs_id] = oracle_scores(work, case, pgs_id, allowed)
    bad += R.compare(route, got, {**case, "oracle": want_all}, first if not counted else {})
    return bad, counted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="+", default=["1"], help="seeds or ranges (3-9)")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--records", type=int, default=40)
    ap.add_argument("--routes", nargs="+", choices=list(ROUTES), default=DEFAULT_ROUTES)
    ap.add_argument("--work-dir", default="/tmp/trd_spark_diff_pgs_fasta")
    ap.add_argument("--budget", type=float, default=0.0, help="stop starting seeds after this many seconds")
    args = ap.parse_args()
    from trd_spark.config import SparkSettings
    from trd_spark.session import start_session

    root = Path(args.work_dir)
    root.mkdir(parents=True, exist_ok=True)
    spark = start_session(SparkSettings(master="local[2]", driver_memory="3g", shuffle_partitions=2,
                                        tmp_dir=str(root / "tmp")))
    import hail as hl

    t_start = time.perf_counter()
    seeds = R.parse_seeds(args.seeds)
    runs = disagreements = counted_all = done = 0
    for seed in seeds:
        if args.budget and time.perf_counter() - t_start > args.budget:
            break
        done += 1
        t0 = time.perf_counter()
        work = root / f"seed{seed}"
        try:
            case = make_seed(work, seed, args)
        except Exception as e:  # noqa: BLE001 - a generator/oracle failure is reported, not a disagreement
            print(f"seed {seed}: generator error {type(e).__name__}: {str(e)[:300]}", flush=True)
            continue
        first: dict = {}
        bad_seed: list[str] = []
        n_counted = 0
        for route in args.routes:
            runs += 1
            try:
                got = run_route(hl, spark, work, route, case)
            except Exception as e:  # noqa: BLE001 - a route's error is a disagreement
                bad_seed.append(f"{route}: error {type(e).__name__}: {str(e).splitlines()[0][:300]}")
                continue
            b, c = compare(route, got, case, first)
            bad_seed += b
            n_counted += c
        disagreements += len(bad_seed)
        counted_all += n_counted
        print(f"seed {seed}: {case['n_records']} records, {case['ambiguous']} ambiguous rows left out, oracle matched "
              f"{ {k: v['n_matched'] for k, v in case['oracle'].items()} }, counted not_found_unnormalised "
              f"{n_counted}, {len(bad_seed)} disagreements, {time.perf_counter() - t0:.0f} s", flush=True)
        for b in bad_seed:
            print(f"  DIFF seed {seed} {b}", flush=True)
    print(f"SUMMARY seeds={done} runs={runs} disagreements={disagreements} counted={counted_all}")


if __name__ == "__main__":
    main()
