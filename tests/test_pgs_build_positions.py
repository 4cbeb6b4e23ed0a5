"""Genotypes without a header (.bim, BGEN) declared on the wrong build (``pgs/build_positions.py``).

A .bim or BGEN says nothing of its build: a GRCh37 file declared GRCh38 was matched on GRCh38
coordinates, and with a low ``pgs.min_overlap`` every person was scored from the variant that
happened to sit at a GRCh38 score position. A harmonised scoring file places each variant on two
builds (``hm_chr``/``hm_pos`` and the author's ``chr_name``/``chr_position``); where the other
build's places are found far more often (``pgs.build_check_margin``), the genotypes are refused.

The data: 30 score variants, published on GRCh37 and harmonised to GRCh38 (toy coordinates:
the GRCh38 place is the GRCh37 one + 500, not a real liftover; only their consistency matters).
The GRCh37 genotypes hold the 30 at their GRCh37 places and one C>T at variant 0's GRCh38 place
(a chance hit on the wrong build). Files are written by plink2 from one VCF.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from trd_spark.errors import InputDataError

_N = 30
_P37 = [1_000_000 + 1000 * i for i in range(_N)]
_SHIFT = 500
_SAMPLES = ("1001", "1002", "1003", "1004")
_GTS = ("0/1", "1/1", "0/0", "0/1")


def _alleles(i: int) -> tuple[str, str]:
    """(REF, ALT) of score variant ``i``: C>T for variant 0 (its chance hit's alleles), A>G else."""
    return ("C", "T") if i == 0 else ("A", "G")


def _vcf(positions: list[int], chance_hit: int | None) -> str:
    """A VCF (no ##contig lengths: a .bim/BGEN has none) of the score variants at ``positions``,
    plus a C>T at ``chance_hit``."""
    rows = [(p, *_alleles(i)) for i, p in enumerate(positions)]
    if chance_hit is not None:
        rows.append((chance_hit, "C", "T"))
    lines = ["##fileformat=VCFv4.2", '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(_SAMPLES)]
    lines += [f"1\t{p}\trs{p}\t{r}\t{a}\t.\tPASS\t.\tGT\t" + "\t".join(_GTS) for p, r, a in sorted(rows)]
    return "\n".join(lines) + "\n"


def _score() -> str:
    """The PGS Catalog harmonised file: author GRCh37 places, hm GRCh38 places (+ _SHIFT)."""
    head = ("#pgs_id=PGS993001\n#genome_build=GRCh37\n#HmPOS_build=GRCh38\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n")
    rows = [f"1\t{p}\t{_alleles(i)[1]}\t{_alleles(i)[0]}\t0.1\t1\t{p + _SHIFT}\n" for i, p in enumerate(_P37)]
    return head + "".join(rows)


def _genotypes(tmp: Path, vcf: str, fmt: str) -> tuple[str, str]:
    """(config path, the variant file an error names) of ``vcf`` written as ``fmt`` by plink2."""
    (tmp / "g.vcf").write_text(vcf)
    plink2 = [shutil.which("plink2") or "plink2", "--vcf", str(tmp / "g.vcf"), "--threads", "1"]
    if fmt == "plink":
        subprocess.run([*plink2, "--make-bed", "--out", str(tmp / "g")], check=True, capture_output=True)
        return str(tmp / "g"), str(tmp / "g.bim")
    if fmt == "pgen":
        subprocess.run([*plink2, "--make-pgen", "--out", str(tmp / "g")], check=True, capture_output=True)
        return str(tmp / "g"), str(tmp / "g.pvar")
    if fmt == "pgen.zst":  # the .pvar zstd-compressed, as plink2 --make-pgen vzs writes it (and only it)
        subprocess.run([*plink2, "--make-pgen", "vzs", "--out", str(tmp / "g")], check=True, capture_output=True)
        assert not (tmp / "g.pvar").exists()
        return str(tmp / "g.pgen"), str(tmp / "g.pvar.zst")
    subprocess.run([*plink2, "--export", "bgen-1.2", "bits=8", "ref-first", "--out", str(tmp / "g")], check=True,
                   capture_output=True)
    return str(tmp / "g.bgen"), str(tmp / "g.bgen")


def _config(tmp: Path, genotypes: str, fmt: str, build: str, extra_pgs: str = ""):
    from test_field_cases_pgs import case_config

    (tmp / "score.txt").write_text(_score())
    extra = f", reference_genome: {build}" if build != "GRCh38" else ""
    return case_config(tmp, genotypes, str(tmp / "score.txt"), fmt=fmt, extra_genotypes=extra, extra_pgs=extra_pgs)


def _hail_route(tmp: Path, vcf: str, fmt: str) -> tuple[str, str]:
    """(genotypes path, the file an error names) of ``vcf`` as Hail's route reads it: the VCF
    itself (no ##contig line), or a .bed / BGEN written by plink2 (read by Hail with
    ``pgs.native.engine: hail``, as a file on a URI is)."""
    if fmt == "vcf":
        (tmp / "g.vcf").write_text(vcf)
        return str(tmp / "g.vcf"), str(tmp / "g.vcf")
    return _genotypes(tmp, vcf, fmt)


def _match(hl, spark, cfg, build: str):
    from trd_spark.pgs import stage

    files = stage.load_scoring_files(spark, cfg, build)
    return stage.match_dataset(hl, spark, cfg, "d", files)


@pytest.mark.parametrize("fmt", ["plink", "bgen", "pgen", "pgen.zst"])
def test_grch37_genotypes_without_a_header_declared_grch38_are_one_error(hl, spark, tmp_path, fmt):
    """A GRCh37 .bim / BGEN / .pvar / .pvar.zst (no ##contig line) in a dataset declared GRCh38 (the
    default), scored with the file harmonised to GRCh38: 30 of 30 score variants are found at
    their GRCh37 (author) place, 1 at its GRCh38 one: one InputDataError naming the variant file,
    the declared build and the config key. Before (base 93c1e64): no error; with min_overlap 0
    every person was scored from the one chance hit (variant 0's GRCh38 place)."""
    genotypes, where = _genotypes(tmp_path, _vcf(_P37, _P37[0] + _SHIFT), fmt)
    cfg = _config(tmp_path, genotypes, fmt.split(".")[0], "GRCh38")
    with pytest.raises(InputDataError, match=rf"^{re.escape(where)}: the genotypes look like GRCh37, not GRCh38 as "
                                             r"datasets\[\]\.genotypes\.reference_genome declares: of 30 score sites "
                                             r"placed differently on the two builds, 1 are found at their GRCh38 "
                                             r"position and 30 at their GRCh37 position"):
        _match(hl, spark, cfg, "GRCh38")


def test_a_pvar_zst_s_contig_lengths_of_the_other_build_are_one_error_at_its_line(hl, spark, tmp_path):
    """A pgen fileset whose .pvar is zstd-compressed (plink2 --make-pgen vzs: g.pvar.zst, no
    g.pvar), its ##contig length chr1's GRCh37 one, declared GRCh38: the header check reads the
    .pvar.zst and stops at that line, as for a .pvar. Before (base 48016ac): 'file not found (a
    pgen fileset is .pgen + .pvar + .psam)' naming g.pvar: a .pvar.zst was not read at all."""
    vcf = _vcf(_P37, None).replace("##fileformat=VCFv4.2\n", "##fileformat=VCFv4.2\n##contig=<ID=1,length=249250621>\n")
    genotypes, where = _genotypes(tmp_path, vcf, "pgen.zst")
    cfg = _config(tmp_path, genotypes, "pgen", "GRCh38")
    with pytest.raises(InputDataError, match=rf"^{re.escape(where)}:1: ##contig 1 has length 249250621, its length on "
                                             r"GRCh37 \(GRCh38: 248956422\)"):
        _match(hl, spark, cfg, "GRCh38")


def test_a_pvar_zst_on_the_declared_build_scores_as_plink2_does(hl, spark, tmp_path):
    """The control for .pvar.zst: GRCh38 genotypes declared GRCh38, the .pvar zstd-compressed:
    all 30 score variants match, and the scores equal plink2's (``--pfile g vzs --score``, the
    hm_pos weights file, no call missing: ``no-mean-imputation`` changes nothing and spares plink2's
    frequency file; plink2 2.00a3.5 needs the ``vzs`` modifier to read a .pvar.zst)."""
    from test_field_cases_pgs import run_scores

    genotypes, _ = _genotypes(tmp_path, _vcf([p + _SHIFT for p in _P37], _P37[0]), "pgen.zst")
    cfg = _config(tmp_path, genotypes, "pgen", "GRCh38")
    got = run_scores(hl, spark, cfg)
    (tmp_path / "w.tsv").write_text("".join(f"1:{p + _SHIFT}\t{_alleles(i)[1]}\t0.1\n" for i, p in enumerate(_P37)))
    subprocess.run([shutil.which("plink2") or "plink2", "--pfile", str(tmp_path / "g"), "vzs", "--set-all-var-ids",
                    "@:#", "--score", str(tmp_path / "w.tsv"), "1", "2", "3", "cols=+scoresums", "no-mean-imputation",
                    "--threads", "1",
                    "--out", str(tmp_path / "p")], check=True, capture_output=True)
    import pandas as pd

    want = pd.read_csv(tmp_path / "p.sscore", sep="\t").rename(columns=lambda c: c.lstrip("#"))
    assert got["n_matched"].tolist() == [_N] * len(_SAMPLES)
    assert dict(zip(got["person_id"].astype(str), got["score_sum"].round(9))) == dict(
        zip(want["IID"].astype(str), want["SCORE1_SUM"].round(9)))


def test_a_pvar_zst_is_the_input_preflight_checks_and_fingerprints(tmp_path):
    """The run's input checks (``preflight.missing_inputs``, before Spark) and the rerun
    fingerprint list a pgen fileset's files (``stages.plink_fileset_inputs``): with a .pvar.zst
    and no .pvar, the .pvar.zst. Before (base 48016ac): the absent .pvar, so ``run`` stopped on it
    as missing, and a replaced .pvar.zst could never rerun the stage."""
    from trd_spark.preflight import external_inputs, missing_inputs

    genotypes, where = _genotypes(tmp_path, _vcf(_P37, None), "pgen.zst")
    cfg = _config(tmp_path, genotypes, "pgen", "GRCh38")
    key = "datasets.0.genotypes.path"
    assert [(k, p) for k, p in external_inputs(cfg, ["pgs"]) if k.startswith(key)] == [
        (key, genotypes), (f"{key}[.pvar.zst]", where), (f"{key}[.psam]", str(tmp_path / "g.psam"))]
    assert [k for k, _ in missing_inputs(cfg, ["pgs"]) if k.startswith(key)] == []


@pytest.mark.parametrize("fmt", ["vcf", "plink", "bgen"])
def test_on_hail_s_route_grch37_genotypes_declared_grch38_are_one_error(hl, spark, tmp_path, fmt):
    """Hail's route (a VCF without ##contig lengths; a .bed or BGEN on a URI, here local ones
    with ``pgs.native.engine: hail``): the rows collected at the score loci and, in the same
    job, at the score sites' GRCh37 places give the same counts as the native route's: 30 at
    GRCh37, 1 at GRCh38: one InputDataError naming the VCF / .bim / BGEN, the declared build
    and the key. Before (base 48016ac): no error; every person scored from the one chance hit."""
    genotypes, where = _hail_route(tmp_path, _vcf(_P37, _P37[0] + _SHIFT), fmt)
    cfg = _config(tmp_path, genotypes, fmt, "GRCh38", extra_pgs="  native: {engine: hail}")
    with pytest.raises(InputDataError, match=rf"^{re.escape(where)}: the genotypes look like GRCh37, not GRCh38 as "
                                             r"datasets\[\]\.genotypes\.reference_genome declares: of 30 score sites "
                                             r"placed differently on the two builds, 1 are found at their GRCh38 "
                                             r"position and 30 at their GRCh37 position"):
        _match(hl, spark, cfg, "GRCh38")


def test_on_hail_s_route_the_right_build_matches_as_before_with_the_counts_logged(hl, spark, tmp_path, caplog):
    """The control on Hail's route (a VCF): GRCh38 genotypes declared GRCh38, with a C>T at
    variant 0's GRCh37 place. All 30 match; the row collected at the GRCh37 place only (for the
    check) is not among the rows matched and scored; one INFO line gives the counts."""
    from trd_spark.pgs.genotypes import SITE_POSITION

    genotypes, where = _hail_route(tmp_path, _vcf([p + _SHIFT for p in _P37], _P37[0]), "vcf")
    cfg = _config(tmp_path, genotypes, "vcf", "GRCh38")
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.build_positions"):
        r = _match(hl, spark, cfg, "GRCh38")
    assert r.summary["n_matched"].tolist() == [_N]
    assert sorted(r.frame.rows[SITE_POSITION].tolist()) == [p + _SHIFT for p in _P37]
    assert [rec.getMessage() for rec in caplog.records if rec.name == "trd_spark.pgs.build_positions"] == [
        f"{where}: build check: of 30 score sites placed differently on the two builds, 30 are found at their GRCh38 "
        "position and 1 at their GRCh37 position"]


def test_grch38_genotypes_declared_grch37_are_refused_from_the_harmonised_places(hl, spark, tmp_path):
    """The other way round: a GRCh38 .bim declared GRCh37. The same scoring file is then read by
    its author (GRCh37) places and its harmonised GRCh38 places are the other build's: all 30
    found there, none at the declared places: the error names the .bim and GRCh38."""
    genotypes, where = _genotypes(tmp_path, _vcf([p + _SHIFT for p in _P37], None), "plink")
    cfg = _config(tmp_path, genotypes, "plink", "GRCh37")
    with pytest.raises(InputDataError, match=rf"^{re.escape(where)}: the genotypes look like GRCh38, not GRCh37 .*"
                                             r"0 are found at their GRCh37 position and 30 at their GRCh38"):
        _match(hl, spark, cfg, "GRCh37")


def test_genotypes_on_the_declared_build_pass_with_the_counts_logged(hl, spark, tmp_path, caplog):
    """The control: the GRCh38 genotypes declared GRCh38 (with a C>T at variant 0's GRCh37 place,
    the chance hit now on the other side) match all 30 score variants and raise nothing; one INFO
    line gives the counts."""
    genotypes, where = _genotypes(tmp_path, _vcf([p + _SHIFT for p in _P37], _P37[0]), "plink")
    cfg = _config(tmp_path, genotypes, "plink", "GRCh38")
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.build_positions"):
        r = _match(hl, spark, cfg, "GRCh38")
    assert r.summary["n_matched"].tolist() == [_N]
    assert [rec.getMessage() for rec in caplog.records if rec.name == "trd_spark.pgs.build_positions"] == [
        f"{where}: build check: of 30 score sites placed differently on the two builds, 30 are found at their GRCh38 "
        "position and 1 at their GRCh37 position"]


def test_a_lifted_score_s_unlifted_places_are_the_other_build_s(tmp_path):
    """A score published on GRCh37 without harmonised columns, lifted to the declared GRCh38
    (``pgs.liftover``), on the GRCh37 .bim: ``matching.score_sites`` keeps only the lifted place
    (here + 500, as a chain would give: Hail's liftover itself is tested in test_pgs_inputs and
    test_pgs_stage, and a Hail job here would cost a minute), so the unlifted one is read from the
    file: all 30 found there, 1 (the chance hit) at the lifted places."""
    from trd_spark.config import GenotypeSource, LiftoverSettings
    from trd_spark.pgs import matching, pgen_engine
    from trd_spark.pgs.build_positions import build_evidence
    from trd_spark.pgs.scoring_files import parse_scoring_file

    genotypes, _ = _genotypes(tmp_path, _vcf(_P37, _P37[0] + _SHIFT), "plink")
    author = "".join(f"{line}\n" for line in _score().splitlines() if not line.startswith("#HmPOS"))
    author = "".join(line.rsplit("\t", 2)[0] + "\n" for line in author.splitlines())
    sf = parse_scoring_file(author, source="a.txt", target_build="GRCh38",
                            liftover=True)
    assert (sf.positions_build, sf.other_positions) == ("GRCh37", None)
    frame, _ = matching.score_variants_frame([sf], "GRCh38", liftover=LiftoverSettings(chain_file="c.chain"))
    sites = matching.score_sites_frame(frame)
    # As score_sites leaves a lifted site: chrom/pos and contig/position the lifted locus.
    lifted = sites["pos"].astype("int64") + _SHIFT
    sites = sites.assign(chrom="chr1", pos=lifted.astype("Int32"), contig="chr1", position=lifted.astype("Int64"),
                         lift_negative_strand=False, liftover_failed=False)
    sites.attrs.update(pgs_ids=[sf.pgs_id], rsid_only_files=[], score_files=["a.txt"],
                       **{matching.DUPLICATES_DROPPED: {}})
    files = pgen_engine.PlinkFiles.of(GenotypeSource(format="plink", path=genotypes))
    rows = pgen_engine.variant_index(files, "GRCh38").frame
    matched = matching.match_sites_frame(sites, rows, keep_ambiguous=False)
    e = build_evidence(matched, rows, [sf], "GRCh38", keep_ambiguous=False)
    assert e is not None and (e.other_build, e.n_sites, e.n_declared, e.n_other) == ("GRCh37", _N, 1, _N)


@pytest.mark.parametrize("fmt", ["plink", "bgen"])
def test_a_position_past_the_declared_contig_within_the_other_build_s_names_it(hl, spark, tmp_path, fmt):
    """A GRCh37 .bim / BGEN with a variant at chr1:249,000,000 (GRCh37's chr1 runs to 249,250,621,
    GRCh38's to 248,956,422), declared GRCh38: the index check stops at that variant as before,
    and now says it lies within GRCh37's chr1 and names the config key; a position past both
    builds' chr1 keeps the old hint. Before (base 93c1e64): '... (1 such variant rows; a contig
    name or build mismatch?)' in both cases."""
    genotypes, where = _genotypes(tmp_path, _vcf([*_P37[:3], 249_000_000], None), fmt)
    line = f"{where}:4" if fmt == "plink" else f"{where} variant 4"
    cfg = _config(tmp_path, genotypes, fmt, "GRCh38")
    with pytest.raises(InputDataError, match=rf"^{re.escape(line)}: chr1:249000000 is not a GRCh38 locus \(1 such "
                                             r"variant rows; it lies within GRCh37's chr1: the genotypes look like "
                                             r"GRCh37, not GRCh38 as datasets\[\]\.genotypes\.reference_genome "
                                             r"declares\)$"):
        _match(hl, spark, cfg, "GRCh38")
    genotypes, where = _genotypes(tmp_path, _vcf([*_P37[:3], 249_300_000], None), fmt)
    with pytest.raises(InputDataError, match=r"chr1:249300000 is not a GRCh38 locus \(1 such variant rows; a contig "
                                             r"name or build mismatch\?\)$"):
        _match(hl, spark, cfg, "GRCh38")


@pytest.mark.parametrize("n_declared, n_other, outcome", [
    (0, 0, "info"), (3, 2, "info"), (0, 4, "warning"), (0, 5, "error"), (1, 9, "warning"), (1, 10, "error"),
    (100, 100, "info"), (100, 101, "warning"), (100, 504, "warning"), (100, 505, "error")])
def test_the_margin_rule(caplog, n_declared, n_other, outcome):
    """``n_other >= margin x (n_declared + 1)`` refuses (margin 5: 5 hits against none, 10
    against 1); more on the other build below that is a WARNING; else an INFO line."""
    from trd_spark.pgs.build_positions import BuildEvidence, check_build_evidence

    e = BuildEvidence("GRCh37", 1000, n_declared, n_other, 1000)
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.build_positions"):
        if outcome == "error":
            with pytest.raises(InputDataError, match=r"^g\.bim: the genotypes look like GRCh37"):
                check_build_evidence(e, "g.bim", "GRCh38", 5.0)
            return
        check_build_evidence(e, "g.bim", "GRCh38", 5.0)
    assert [r.levelname for r in caplog.records] == [outcome.upper()]


def test_other_build_places_off_the_declared_reference_are_not_collected(hl):
    """``matching.ScoreLoci.at`` (the other-build places Hail's route collects rows at) keeps
    only places on the declared reference: a position past the contig's end would otherwise be
    a global position on the next contig (chr1 + 1 is chr2:1, whose row would be collected), and
    a contig the reference lacks has none."""
    import numpy as np

    from trd_spark.pgs.matching import ScoreLoci

    end = hl.get_reference("GRCh38").lengths["chr1"]
    loci = ScoreLoci.at(hl, np.array(["chr1", "chr1", "chr1", "chrUn", "1"], dtype=object),
                        np.array([1, end, end + 1, 5, 10]), "GRCh38")
    assert loci.global_positions.tolist() == [0, end - 1]
