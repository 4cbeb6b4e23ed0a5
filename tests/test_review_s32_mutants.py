"""Mutation review of session 32's code (session 33, helper "review"): tests for hand mutants that
the session's own tests let through. Each test names its mutant; each fails on it and passes on
HEAD. Plain inputs, no Spark (milliseconds)."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import parse_scoring_file

COLUMNS = "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n"


def test_what_is_not_cut_short_is_not_called_so():
    """3d8901c / b66c5d3 (a plain scoring file cut short): the "cut short" hint and error are for
    a last line WITHOUT a line break. A last line with too few fields that does end in a line
    break is the plain field-count error (mutant: ``last`` without ``not ends_with_break`` calls
    it cut short); a subset of the rows in a file with old Mac line ends (CR only) ends in a line
    break (mutant: ``ends_with_break`` testing "\\n" alone calls it cut short). And a header
    key given as NR and then empty, neither a value, is no conflict (mutant: ``_header_meaning``
    keeping "nr": "header gives weight_type twice")."""
    head = "#pgs_id=PGS1\n#genome_build=GRCh38\n"
    with pytest.raises(InputDataError, match=r"expected 5 tab-separated fields, saw 3$") as e:
        parse_scoring_file(head + COLUMNS + "1\t100\tA\tG\t0.1\n1\t200\tC\n", source="s.txt")
    assert e.value.where == "s.txt:5" and "cut short" not in str(e.value)
    subset = (head + "#variants_number=3\n" + COLUMNS + "1\t100\tA\tG\t0.1234\n1\t200\tC\tT\t-0.25\n").replace("\n", "\r")
    sf = parse_scoring_file(subset, source="s.txt")
    assert sf.variants["effect_weight"].tolist() == [0.1234, -0.25]
    assert any("#variants_number says 3" in n for n in sf.notes)
    sf = parse_scoring_file(head + "#weight_type=NR\n#weight_type=\n" + COLUMNS + "1\t100\tA\tG\t2.0\n", source="s.txt")
    assert sf.variants["effect_weight"].tolist() == [2.0]


def test_a_cut_quote_drops_every_trailing_word_holding_a_digit():
    """ff76c51 (logs.LastStep): the quote of a long progress line drops the last words kept
    WHILE they hold a digit, not the last one alone (mutant ``if`` for ``while``): "... in 5 20
    or more ..." cut inside "or" kept "in 5", a count of 5 that the line did not say (its 5 and
    20 belong together, as "20 or more")."""
    from trd_spark.logs import LastStep

    def quoted(message: str) -> str:
        step = LastStep(exclude="heartbeat")
        step.emit(logging.LogRecord("trd_spark.x", logging.INFO, __file__, 1, message, None, None))
        found = re.fullmatch(r"; since '(.*)' \d+s ago", step.since())
        assert found is not None
        return found.group(1)

    tail = "groups 5 20 or more may be hidden there"
    cut_in_or = LastStep.SHOWN_CHARS - 3 - len("groups 5 20 o")  # the cut falls inside "or"
    message = "step: " + "x" * (cut_in_or - 7) + " " + tail
    got = quoted(message)
    assert got.endswith(" groups ..."), got


def test_weight_matrices_rows_are_indexed_from_zero_whatever_the_genotype_rows_index():
    """6b72ce0 (``matching._used_rows``): the used rows come indexed 0..n-1 (the frames beside
    them are positional). Every row used and the genotype rows indexed otherwise (a frame cut
    from a larger one keeps its labels): the shallow copy kept those labels (mutant: the test of
    a 0-based RangeIndex dropped), so a later assignment aligned on the index would fill NaN."""
    from test_pgs_weight_matrices import HAPLOID, _sites_and_rows

    from trd_spark.pgs.matching import frame_matches, weight_matrices

    sites, rows = _sites_and_rows(np.random.default_rng(33), 5, shared_row=False, every_row_used=True)
    rows.index = pd.RangeIndex(100, 100 + len(rows))
    m = frame_matches(sites, rows)
    w = weight_matrices(m, HAPLOID)
    assert len(w.rows) == len(rows)
    assert w.rows.index.equals(pd.RangeIndex(len(rows)))
    assert w.rows["position"].tolist() == rows["position"].tolist()


def test_checked_call_refuses_a_haploid_call_naming_an_allele_the_row_lacks(hl):
    """32207fe (``genotypes.checked_call``): a haploid call (a male's chrY or X outside its PARs)
    naming an allele the row lacks, ``2`` at a biallelic site, is the same error as a diploid
    ``0/2`` (mutant: the haploid branch's check made True let it through, read as no alt copy by
    the Hail pass); the row's own alleles and a missing call stay as they are. Two hl.eval."""
    from trd_spark.pgs.genotypes import checked_call

    locus, alleles = hl.locus("chrY", 2_786_855, "GRCh38"), hl.literal(["A", "G"])

    # (a diploid 0/2: test_field_cases_round22_pgs, through the passes)
    with pytest.raises(Exception, match=r"GT 2 at chrY:2786855 A,G names an allele the row does not have"):
        hl.eval(checked_call(hl, hl.call(2), locus, alleles))
    good = (hl.call(1), hl.call(0), hl.call(0, 1), hl.missing(hl.tcall))
    assert hl.eval(hl.tuple([checked_call(hl, c, locus, alleles) for c in good])) == hl.eval(hl.tuple(good))


def test_the_first_reason_to_stop_waiting_is_the_one_raised():
    """c9dea48 (``session.BackgroundStart.stop_waiting``): ``result()`` raises the first reason
    given (the parse's error that stopped the wait), not a later one (mutant: each call replaced
    the reason). A fake start (a sleeping "import"), abandoned before its launch step."""
    import threading
    import time

    from trd_spark.config import SparkSettings
    from trd_spark.session import BackgroundStart

    release = threading.Event()

    def start(settings, *, gate):
        release.wait(10)  # importing Hail
        gate.step()
        return "session"

    begun = BackgroundStart(SparkSettings(master="local[1]"), start=start).begin()
    begun.stop_waiting(ValueError("the parse failed: s.txt:12"))
    begun.stop_waiting(RuntimeError("a later reason"))
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="s.txt:12"):
        begun.result()
    assert time.monotonic() - t0 < 5
    release.set()
    begun._thread.join(10)  # noqa: SLF001
    assert not begun._thread.is_alive()  # noqa: SLF001


def test_a_record_with_a_verbatim_end_is_not_counted_as_read_by_the_default(spark, caplog):
    """b66c5d3 (``omop.log_records_without_drug_type``): of a drug_exposure export without
    drug_type_concept_id, the WARNING counts the records the missing administration rule would
    have read otherwise: no end, no verbatim end after the start, no days_supply. A record whose
    only end is its verbatim_end_date (10 days on) has that end (trials' rule 1) and is not
    counted (mutant: the verbatim test dropped counted it: 2 instead of 1)."""
    import datetime as dt

    from trd_spark.phenotypes.omop import conform_omop_table

    day = dt.date(2020, 1, 1)
    schema = ("person_id long, drug_concept_id long, drug_exposure_start_date date, drug_exposure_end_date date, "
              "verbatim_end_date date, days_supply int")
    rows = [(1, 10, day, day, None, None), (2, 10, day, None, day + dt.timedelta(days=10), None)]
    with caplog.at_level(logging.INFO, logger="trd_spark.phenotypes.omop"):
        # records_below=2: 1 reads "<2", 2 (the verbatim end ignored) "2+" (a label always, session 37).
        conform_omop_table(spark.createDataFrame(rows, schema), "drug_exposure", where="omop/drug_exposure.parquet",
                           records_below=2)
    found = [r.getMessage() for r in caplog.records if "drug_type_concept_id" in r.getMessage()]
    assert len(found) == 1 and "; <2 record(s) without an end or a days_supply" in found[0], found


# Every row biallelic, so the export takes the calls as stored (round 22's VCF has multi-allelic
# rows, whose split export checked the calls first); with a chrX row, the calls rebuilt.
_BIALLELIC_BAD_GT_VCF = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##contig=<ID=chr1,length=248956422>
##contig=<ID=chrX,length=156040895>
#CHROM	POS	ID	REF	ALT	QUAL	FILTER	INFO	FORMAT	1001	1002	1003	1004
chr1	100	.	A	G	.	PASS	.	GT	0/1	1/1	0/0	0/0
chr1	200	.	C	T	.	PASS	.	GT	0/1	1/1	0/2	1/1
"""


@pytest.mark.parametrize("x_row", [False, True], ids=["calls-as-stored", "calls-rebuilt"])
def test_the_exports_of_biallelic_rows_refuse_a_call_naming_an_allele_the_row_lacks(hl, spark, tmp_path, x_row):
    """32207fe (``scoring`` export of the calls for the native pass): a VCF whose rows are all
    biallelic is exported with its calls as stored (``calls``), or rebuilt when it has a row on
    a haploid-capable contig (``calls_rebuilt``); a 0/2 call at chr1:200 is one error naming the
    site in both. Mutants (either export's checked_call dropped: Hail's writer wrote 0/2 as two T
    copies): round 22's tests passed, their VCF having multi-allelic rows (the split export)."""
    from test_field_cases_pgs import case_config, run_scores

    vcf = _BIALLELIC_BAD_GT_VCF + ("chrX\t2800000\t.\tG\tA\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0\t0/0\n" if x_row else "")
    (tmp_path / "g.vcf").write_text(vcf)
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "s.txt").write_text(
        "#pgs_id=PGS000000\n#genome_build=GRCh38\n" + COLUMNS + "1\t100\tA\tG\t1\n1\t200\tT\tC\t10\n"
        + ("X\t2800000\tA\tG\t1\n" if x_row else ""))
    cfg = case_config(tmp_path, str(tmp_path / "g.vcf"), str(tmp_path / "scores" / "s.txt"))
    with pytest.raises(InputDataError, match=r"GT 0/2 at chr1:200 C,T names an allele the row does not have"):
        run_scores(hl, spark, cfg)
