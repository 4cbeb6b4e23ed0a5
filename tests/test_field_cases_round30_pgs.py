"""PGS field cases, round 30 (session 38, helper pgs30): the seven PGS kinds
(/work/shared/field_cases/README.md).

- multiallelic-effect-is-ref (owed by round 29): Hail's pass (``pgs.native.engine: hail``,
  ``dosage_field``, a BGEN on a URI, a cluster without ``pgs.native.export_dir``) refused a
  dominant / recessive row whose effect allele is the REF of a multi-allelic site (one error),
  where the native engine scores it as plink2 2.00a3.5 does on the unsplit site. Hail's pass now
  sums the site's split rows per group (``scoring.compute_scores``' ``site_models``), equal to
  the hand-worked answers of field case multiallelic-effect-is-ref-dominant and to plink2.
"""

from __future__ import annotations

import pytest
from test_field_cases_pgs import case_config, run_scores
from test_field_cases_round29_pgs import SCORES, VCF, expected

# plink2's ALLELE_CT of the case: 2 per called variant of the 4 (the native engine's too).
ALLELE_COUNT = {1001: 8, 1002: 8, 1003: 6, 1004: 8, 1005: 6, 1006: 6}


@pytest.mark.parametrize("missing, one_row_blocks", [("mean_impute", False), ("zero", False), ("mean_impute", True)])
def test_hails_pass_scores_ref_effect_dominant_rows_at_multiallelic_sites(hl, spark, tmp_path, monkeypatch, missing,
                                                                          one_row_blocks):
    """Hail's pass (``pgs.native.engine: hail``) on the VCF of field case
    multiallelic-effect-is-ref-dominant (two-, three- and four-allele sites, missing calls):
    expected.tsv, hand-worked and equal to plink2 on the unsplit VCF (asserted by round 29's
    test), and plink2's allele counts. Before (5f00ae0): one InputDataError at the scoring file's
    line 5 ("which Hail's pass cannot score"). ``one_row_blocks``: ``scoring.compute_scores`` on
    Hail's split of the VCF written in 3 partitions (read as ``format: mt``) with ``block_size=1``, so each site's rows are summed
    across blocks and partitions (``hl.agg.group_by``'s merge; the 4-row VCF is otherwise one
    block of one partition). Session 38 fixesB: that case fails on a mutant keeping one block's
    sums per group (``hl.agg.take`` of the block's own group sums) that passes the other two."""
    from trd_spark.pgs import engine

    calls = []
    path, fmt = str(VCF), "vcf"
    if one_row_blocks:
        path, fmt = str(tmp_path / "g.mt"), "mt"
        hl.split_multi_hts(hl.import_vcf(str(VCF), reference_genome="GRCh38")).repartition(3).write(path)
        compute_scores = engine.compute_scores

        def one_row_per_block(*args, **kwargs):
            calls.append(args[1].n_partitions())
            return compute_scores(*args, **{**kwargs, "block_size": 1})

        monkeypatch.setattr(engine, "compute_scores", one_row_per_block)
    want = expected(missing)
    cfg = case_config(tmp_path, path, str(SCORES / "*"), fmt=fmt,
                      extra_pgs=f"  missing_genotypes: {missing}\n  native: {{engine: hail}}\n")
    got = run_scores(hl, spark, cfg)
    assert calls == ([3] if one_row_blocks else [])
    got = got.set_index(got["person_id"].astype(int))
    assert got["score_sum"].to_dict() == pytest.approx(want["score_sum"].to_dict(), abs=1e-9)
    assert got["n_missing"].to_dict() == want["n_missing"].to_dict()
    assert got["allele_count"].to_dict() == ALLELE_COUNT
    assert set(got["n_matched"]) == {4}


HEAD = "#pgs_id=PGS993001\n#genome_build=GRCh38\n#weight_type=beta\n"
COLUMNS = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"


def test_position_in_exponent_form_is_an_error_at_its_line():
    """A position a spreadsheet (or R) wrote in exponent form may be rounded to the digits shown:
    ``1.23457E+08`` read as 123457000 named another base, silently. One error at its line, as
    pgscatalog-core (pgsc_calc) refuses it; ``100.0``, ``+100`` and ``0100`` stay 100 (pgscatalog-core
    takes them too), and so do the weights plink2 2.00a3.5 reads (``1e-400`` is 0.0 there too; ``1,5``,
    ``0x1p-3`` and ``1e+400`` are its 'invalid coefficient' and an error here). Before (5f00ae0):
    read as 123457000 and 100."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.scoring_files import parse_scoring_file

    rows = ["1\t100.0\tA\tG\t0.5\n", "1\t+200\tA\tG\t1e-400\n", "1\t0300\tC\tT\t0.25\n"]
    sf = parse_scoring_file(HEAD + COLUMNS + "".join(rows), source="s.txt")
    assert sf.variants["pos"].tolist() == [100, 200, 300]
    assert sf.variants["effect_weight"].tolist() == [0.5, 0.0, 0.25]
    for pos in ("1.23457E+08", "1e5"):
        with pytest.raises(InputDataError) as e:
            parse_scoring_file(HEAD + COLUMNS + "".join(rows) + f"2\t{pos}\tA\tG\t0.1\n", source="s.txt")
        assert e.value.where == "s.txt:8" and "exponent form" in str(e.value)
    for weight in ("1,5", "0x1p-3", "1e+400"):
        with pytest.raises(InputDataError) as e:
            parse_scoring_file(HEAD + COLUMNS + f"1\t100\tA\tG\t{weight}\n", source="s.txt")
        assert e.value.where == "s.txt:5" and "not a finite number" in str(e.value)
