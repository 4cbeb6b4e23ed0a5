"""Field cases, round 12 (session 22): known kinds of fault in shapes the earlier rounds did not try.

- An OMOP CSV as PostgreSQL COPY, BigQuery, pandas or R write it (RFC 4180): a quoted field
  holding a line break (drug_exposure.sig 'take\\none daily') or a quote written twice
  ('5"" tablet, daily'). Spark's defaults read one row per line with a backslash escape: the
  row was cut in two, its second half refused as 'person_id ... not bigint numbers' on the
  wrong line (valid data refused), and the doubled quote split the field at its comma
  (days_supply read from the text after it). The reader now takes RFC 4180
  (``omop.CSV_READ_OPTIONS``), and a text-value error names the line where its row starts,
  counting the lines a quoted field spans.
- A concept set naming a concept the release's vocabulary marks invalid (OMOP vocabulary kind;
  round 11 left descendants out, as ATLAS does): ATLAS/circe keep a set's own concepts whatever
  their invalid_reason (the query for the listed IDs has no such filter, only the descendants'
  has), and so do the chain and its DuckDB twin; the usual invalid concept (standard_concept
  NULL) is check_standard_concepts' error, which now names the invalid_reason, and one marked
  standard (a contradiction) is a counted WARNING naming file, set and concept.
- A Parquet integer column's error (days_supply 30.5 in a double column, which Spark's cast made
  30) named table and column only, where a CSV error names its line: it now names the row's
  position in its file (Spark's _metadata.row_index + 1) and the file.
- Unplaced variants (chromosome 0, PLINK's code) in an array's .bim / .pvar: plink2 reads and
  scores such a fileset, the native route refused it as '0:0 is not a GRCh38 locus' (valid data
  refused). They cannot match a score: counted (one WARNING naming the file) and left unmatched.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_phenotypes_support import MDD_CONCEPT, frame, toy_config

from trd_spark.config import ConceptRef, ConceptSet, load_config
from trd_spark.errors import ConfigError, InputDataError
from trd_spark.phenotypes.concepts import expand_concept_set, invalid_refs, load_vocabulary, nonstandard_refs
from trd_spark.phenotypes.omop import read_omop_table
from trd_spark.phenotypes.stage import check_standard_concepts, warn_absent_concepts
from trd_spark.stages import STAGE_SPECS, ConfigView

_DRUG_HEADER = "person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date,sig,days_supply,refills\n"


def test_an_rfc4180_csv_with_line_breaks_and_doubled_quotes_in_fields_is_read_as_written(spark, tmp_path):
    """By hand (Python's csv module reads the same): two rows, days_supply 30 and 7, sig with
    its line break and its quote. Before: 'drug_exposure.csv:3: ... column person_id: 1
    value(s) are not bigint numbers' (the line ' one daily",30,0' read as a row of its own)."""
    (tmp_path / "drug_exposure.csv").write_text(
        _DRUG_HEADER + '1,2000000101,2020-01-01,2020-01-01,"take\none daily",30,0\n'
        '2,2000000101,2020-02-01,2020-02-01,"5"" tablet, daily",7,1\n')
    config = toy_config(path=str(tmp_path), format="csv").omop
    got = sorted(tuple(r) for r in read_omop_table(spark, config, "drug_exposure").select(
        "person_id", "days_supply", "refills").collect())
    assert got == [(1, 30, 0), (2, 7, 1)]


@pytest.mark.parametrize(("rows", "line", "column"), [
    # The row with 30.5 starts on line 7: lines 2-5 are one row (a blank line and a doubled
    # quote inside its sig), line 6 is blank, line 7 opens a sig that ends on line 8.
    ('1,2000000101,2020-01-01,2020-01-01,"take\n\none ""x""\ndaily",30,0\n\n'
     '1,2000000101,2020-02-01,2020-02-01,"a\nb",30.5,0\n', 7, "days_supply"),
    ('1,2000000101,2020-01-01,2020-01-01,"take\none daily",30,0\n'
     '1,2000000101,2020-01-01,2020-01-01,x,30,0.5\n', 4, "refills"),
], ids=["row-spanning-lines", "row-after-one"])
def test_a_text_value_error_names_the_line_its_row_starts_on(spark, tmp_path, rows, line, column):
    """The line of the first offending row's start (header line 1, blank lines and the lines of
    a quoted field counted). Before: the reader cut the rows, the error named person_id."""
    (tmp_path / "drug_exposure.csv").write_text(_DRUG_HEADER + rows)
    config = toy_config(path=str(tmp_path), format="csv").omop
    with pytest.raises(InputDataError, match=rf"^{tmp_path}/drug_exposure.csv:{line}: OMOP table drug_exposure "
                                             rf"column {column}: <20 value\(s\) are not int numbers"):
        read_omop_table(spark, config, "drug_exposure")


def test_a_quoted_field_the_file_never_closes_is_an_error_not_rows_read_as_its_text(spark, tmp_path):
    """Read as RFC 4180, a field whose opening quote no later quote closes takes the rest of the
    file as its text: b.csv's rows on lines 5 and 6 were silently gone (Spark's parser raises
    nothing at the end of the file; read: persons 1, 2, 3). Now one error naming the file and the
    line of the quote that is not closed (a closed field spanning lines 2-3 before it counted);
    a.csv of the same table is sound."""
    table = tmp_path / "drug_exposure"
    table.mkdir()
    (table / "a.csv").write_text(_DRUG_HEADER + "1,2000000101,2020-01-01,2020-01-01,x,30,0\n")
    (table / "b.csv").write_text(
        _DRUG_HEADER + '2,2000000101,2020-01-01,2020-01-01,"take\none ""x"" daily",30,0\n'
        '3,2000000101,2020-02-01,2020-02-01,"5 tablets,7,1\n'
        "4,2000000101,2020-03-01,2020-03-01,x,14,0\n5,2000000101,2020-04-01,2020-04-01,x,14,0\n")
    config = toy_config(path=str(tmp_path), format="csv").omop
    with pytest.raises(InputDataError, match=rf"^{table}/b.csv:4: OMOP table drug_exposure: a quoted field opened "
                                             "on this line is not closed by the end of the file"):
        read_omop_table(spark, config, "drug_exposure")


DEPRESSIVE_DISORDER = 440383  # MDD's other root; MDD_CONCEPT (4152280) descends from it


def test_a_root_the_vocabulary_marks_invalid_is_kept_as_atlas_keeps_it_and_warned_of(spark, caplog):
    """The set lists MDD_CONCEPT, upgraded ('U') but still 'S' in this concept table, and its
    ancestor 440383 with descendants: MDD_CONCEPT stays a member by its own listing (ATLAS's
    concept query), not through 440383 (its descendant query leaves invalid ones out). The
    warning counts and names it. With standard_concept NULL (the vocabulary's convention for an
    invalid concept) the stage's ConfigError names the invalid_reason too."""
    def vocab(standard: str | None):
        concept = frame(spark, "concept", [
            (DEPRESSIVE_DISORDER, "Depressive disorder", "Condition", "SNOMED", "Clinical Finding", "S", "35489007",
             None),
            (MDD_CONCEPT, "Major depressive disorder", "Condition", "SNOMED", "Clinical Finding", standard,
             "370143000", "U")])
        ancestor = frame(spark, "concept_ancestor", [(DEPRESSIVE_DISORDER, DEPRESSIVE_DISORDER, 0, 0),
                                                     (DEPRESSIVE_DISORDER, MDD_CONCEPT, 1, 1),
                                                     (MDD_CONCEPT, MDD_CONCEPT, 0, 0)])
        return load_vocabulary([mdd], concept, ancestor)

    mdd = ConceptSet(domain="condition", include=[ConceptRef(concept_id=DEPRESSIVE_DISORDER, name="Depressive disorder"),
                                                  ConceptRef(concept_id=MDD_CONCEPT, name="MDD")])
    marked = vocab("S")
    assert marked.invalid == {MDD_CONCEPT: "U"}
    assert expand_concept_set(mdd, marked) == {DEPRESSIVE_DISORDER, MDD_CONCEPT}
    only_ancestor = ConceptSet(domain="condition", include=mdd.include[:1])
    assert expand_concept_set(only_ancestor, marked) == {DEPRESSIVE_DISORDER}
    assert invalid_refs(mdd, marked) == [f"concept_id {MDD_CONCEPT} (MDD): invalid_reason 'U'"]
    assert invalid_refs(ConceptSet(domain="condition", exclude=mdd.include), marked) == invalid_refs(mdd, marked)
    assert nonstandard_refs(mdd, marked) == []

    cfg = ConfigView(load_config(), STAGE_SPECS["phenotypes"])
    sets = cfg.concept_sets.concept_sets
    cfg_sets = cfg.concept_sets.model_copy(update={"concept_sets": {**sets, "mdd": mdd}})
    view = ConfigView(load_config().model_copy(update={"concept_sets": cfg_sets}), STAGE_SPECS["phenotypes"])
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        warn_absent_concepts(view, marked)
    lines = [r.getMessage() for r in caplog.records if "marks invalid" in r.getMessage()]
    assert lines == [f"phenotypes: {cfg.phenotypes.concept_sets}, concept set mdd: 1 reference(s) to a standard "
                     "concept this release's vocabulary marks invalid (D deprecated, U upgraded); kept in the set, as "
                     "ATLAS keeps a set's own concepts (invalid descendants are left out): "
                     f"concept_id {MDD_CONCEPT} (MDD): invalid_reason 'U'"]

    usual = vocab(None)
    assert invalid_refs(mdd, usual) == []
    assert nonstandard_refs(mdd, usual) == [f"concept_id {MDD_CONCEPT} (MDD): standard_concept NULL, invalid_reason 'U'"]
    with pytest.raises(ConfigError, match=rf"concept_sets.mdd.*concept_id {MDD_CONCEPT} \(MDD\): standard_concept "
                                          r"NULL, invalid_reason 'U'"):
        check_standard_concepts(view, usual)


def test_the_duckdb_twin_keeps_a_root_the_vocabulary_marks_invalid(tmp_path):
    """records-outside-observation with MDD_CONCEPT (the condition of persons 701 and 704-706,
    listed in the mdd set and a descendant of 440383) marked 'U' in concept: ATLAS keeps it as
    listed, so expected.tsv is unchanged (no Spark: the twin alone; the chain's expansion is
    the test above). Dropping it would make those persons non-MDD."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from duckdb_phenotypes import duckdb_phenotypes
    from test_field_cases_omop import CASES, _expected

    case = "records-outside-observation"
    omop = tmp_path / "omop"
    shutil.copytree(CASES / case / "omop", omop)
    concept = pq.read_table(omop / "concept.parquet")
    marked = pc.if_else(pc.equal(concept["concept_id"], MDD_CONCEPT), pa.scalar("U"), concept["invalid_reason"])
    pq.write_table(concept.set_column(concept.schema.get_field_index("invalid_reason"), "invalid_reason", marked),
                   omop / "concept.parquet")
    out = tmp_path / "duck.parquet"
    duckdb_phenotypes(str(omop), toy_config(path=str(omop)), str(out), threads=1)
    got = {(r.person_id, r.definition): r.status for r in pd.read_parquet(out).itertuples()}
    expected = {(int(e["person_id"]), e["definition"]): e["status"] for e in _expected(case).to_dict("records")}
    assert got == expected
    assert {s for (p, _), s in got.items() if p in (701, 704, 705, 706)} != {"non_MDD"}


def test_a_parquet_integer_column_error_names_the_row_and_file(spark, tmp_path):
    """days_supply as doubles 30.0, null, 30.5 in one file (pandas' int column with missing
    values, and a fraction): the third row is named, 1-based, with its file. No value, no ID."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    from trd_spark.errors import input_error_of

    n = 3
    pq.write_table(pa.table({
        "person_id": pa.array([7, 8, 9], pa.int64()), "drug_concept_id": pa.array([2000000101] * n, pa.int64()),
        "drug_exposure_start_date": pa.array([dt.date(2020, 1, 1)] * n),
        "drug_exposure_end_date": pa.array([dt.date(2020, 1, 1)] * n),
        "days_supply": pa.array([30.0, None, 30.5], pa.float64())}), tmp_path / "drug_exposure.parquet")
    config = toy_config(path=str(tmp_path)).omop
    with pytest.raises((PySparkException, Py4JJavaError)) as e:
        read_omop_table(spark, config, "drug_exposure").collect()
    err = input_error_of(e.value)
    assert isinstance(err, InputDataError)
    assert str(err).startswith(f"OMOP table drug_exposure ({tmp_path}/drug_exposure.parquet): column days_supply ")
    assert str(err).endswith(f"export whole numbers (row 3 of file:{tmp_path}/drug_exposure.parquet)")


def unplaced_fileset(tmp_path: Path) -> tuple[str, list[str]]:
    """plink2's .bed of 3 chr1 variants (v0 chr1:1000 A>G, v1 chr1:2000 C>T, v2 chr1:3000 G>A;
    samples 1001, 1002) with rows 2-3 moved to chromosome 0 (position 0) in the .bim, as an
    array's unplaced variants: the fileset prefix and the .bim lines written."""
    from test_field_cases_pgs import plink2_fileset

    vcf = tmp_path / "x.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1,length=248956422>\n"
                   '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t1001\t1002\n"
                   "chr1\t1000\tv0\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\n"
                   "chr1\t2000\tv1\tC\tT\t.\tPASS\t.\tGT\t0/0\t0/1\n"
                   "chr1\t3000\tv2\tG\tA\t.\tPASS\t.\tGT\t1/1\t0/1\n")
    prefix = plink2_fileset(vcf, tmp_path / "g", "plink")
    bim = (tmp_path / "g.bim").read_text().splitlines()
    unplaced = [bim[0], *("\t".join(["0", f.split()[1], "0", "0", *f.split()[4:]]) for f in bim[1:])]
    (tmp_path / "g.bim").write_text("\n".join(unplaced) + "\n")
    return prefix, unplaced


def test_unplaced_chromosome_0_rows_of_a_bim_are_counted_not_refused(hl, tmp_path, caplog):
    """An array's .bim carries unplaced variants as chromosome 0 (position 0 too): plink2
    2.00a3.5 reads the fileset and scores by the placed rows (--score exit 0, checked here);
    the native route refused it as '0:0 is not a GRCh38 locus'. They cannot match a score: the
    index keeps them unmatched, counted (attrs, one WARNING naming the .bim). Another contig off
    the reference (chr99) is still the error."""
    import subprocess

    from trd_spark.pgs import pgen_engine

    prefix, unplaced = unplaced_fileset(tmp_path)
    (tmp_path / "w.txt").write_text("v0\tG\t0.5\n")
    subprocess.run([shutil.which("plink2"), "--bfile", prefix, "--score", str(tmp_path / "w.txt"), "1", "2", "3",
                    "cols=+scoresums", "no-mean-imputation", "--threads", "1", "--out", str(tmp_path / "s")],
                   check=True, capture_output=True)
    with open(tmp_path / "s.sscore") as f:
        assert [line.split()[-1] for line in f][1:] == ["0.5", "1"]  # 1001 0/1, 1002 1/1 at v0 (G 0.5)
    files = pgen_engine.PlinkFiles("plink", prefix)
    index = pgen_engine.variant_index(files, "GRCh38")
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        n_unplaced = pgen_engine.check_variant_loci(index, hl.get_reference("GRCh38").lengths, "GRCh38",
                                                    files.variants)
    assert n_unplaced == 2  # returned, not kept on the index (session 23)
    assert [r.getMessage() for r in caplog.records if "chromosome 0" in r.getMessage()] == [
        f"{files.variants}: 2 variant row(s) on chromosome 0 (PLINK's code for unplaced variants) cannot match a "
        "score: read, left unmatched (as plink2 reads them)"]
    assert list(index.frame["contig"]) == ["chr1", "0", "0"]
    (tmp_path / "g.bim").write_text("\n".join([*unplaced[:2], unplaced[2].replace("0", "99", 1)]) + "\n")
    with pytest.raises(InputDataError, match=r"g\.bim:3: 99:0 is not a GRCh38 locus \(1 such variant rows"):
        pgen_engine.check_variant_loci(pgen_engine.variant_index(files, "GRCh38"), hl.get_reference("GRCh38").lengths,
                                       "GRCh38", files.variants)
