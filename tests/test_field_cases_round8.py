"""Field cases, round 8 (session 18): known kinds of fault in shapes the earlier rounds did not try.

- Scoring files, "other_allele missing": a PGS Catalog format 1.0 file (``# PGS ID = ...`` header,
  the other allele in the column ``reference_allele``; tests/data/field_cases/pgs/
  scoring-file-format-1-reference-allele, expected.tsv by hand and plink2 --score). The column was
  not read, so every row was matched on its effect allele alone: a G/A score variant took the G
  copies at a G>T site, and C/A was not found at an A>C,G site. The same for column names in
  another case than the format's ('Other_Allele', 'IS_DOMINANT'), which were not read either.
- OMOP dates, "a date read as another day": date text holding a year or a year-month alone
  ('2019', '2019-03', a truncated or masked export) was cast by Spark to 1 January / the 1st of the
  month, a day the export never wrote, in every date column (exposure ends, observation periods,
  death, birth_datetime) and in the datetime partner an empty date falls back to.
- Genotypes, "partial DS field": a dosage_field naming GP or HDS (arrays of another length than
  the alts) was read as missing, so every entry silently took its GT's hard call
  (tests/data/field_cases/pgs/partial-dosage-field-probabilities); now one error naming field
  and site.

Cheap by design: two stage runs on 4-sample VCFs, the rest parses one file, reads one table or
one VCF.
"""

from __future__ import annotations

import datetime as dt

import pytest
from test_field_cases_pgs import CASES, assert_expected, run_case
from test_phenotypes_support import toy_config

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file
from trd_spark.phenotypes.omop import read_omop_table

FORMAT_1 = "scoring-file-format-1-reference-allele"


# ---- scoring files: PGS Catalog format 1.0 --------------------------------------------------------

def test_format_1_scoring_file_reads_its_header_and_reference_allele():
    """The format 1.0 header keys are read as their format 2.0 names (as the Catalog's scripts
    remap them) and ``reference_allele`` as other_allele, with a note for the log."""
    sf = read_scoring_file(str(CASES / FORMAT_1 / "scores" / "PGS990801.txt"))
    assert (sf.pgs_id, sf.header.trait_reported, sf.header.genome_build, sf.header.variants_number) == (
        "PGS990801", "field case trait", "GRCh38", 3)
    assert sf.variants["other_allele"].tolist() == ["A", "A", "G"]
    assert "column reference_allele read as other_allele (PGS Catalog format 1.0)" in sf.notes


def test_format_1_scoring_file_scores_as_plink2(hl, spark, tmp_path):
    """scoring-file-format-1-reference-allele through the stage's read -> match -> score: rs901
    (G/A at a G>T site) not found, rs902 (C/A) on the C alt of A>C,G, rs903 (A/G) as T/C on the
    other strand. Before: sums 2.5 1.25 0 1.25 (rs901 scored on the G copies, rs902 not found)."""
    assert_expected(run_case(hl, spark, tmp_path, FORMAT_1), FORMAT_1)


def test_a_format_2_column_or_key_wins_over_its_format_1_spelling():
    """A file with both other_allele and reference_allele reads other_allele; a #pgs_id beside a
    '# PGS ID =' line of the same score is the pgs_id whatever their order (another score's: which
    one the file is is unknown, an error naming both lines: session 32 fixes)."""
    columns = ("chr_name\tchr_position\teffect_allele\treference_allele\tother_allele\teffect_weight\n"
               "1\t1000\tG\tT\tA\t0.1\n")
    for head in ("# PGS ID = PGS2\n#pgs_id=PGS2\n", "#pgs_id=PGS2\n# PGS ID = pgs2\n"):
        sf = parse_scoring_file(head + "#genome_build=GRCh38\n" + columns, source="s.txt")
        assert sf.pgs_id == "PGS2"
        assert sf.variants["other_allele"].tolist() == ["A"]
        assert not any("reference_allele" in n for n in sf.notes)
    with pytest.raises(InputDataError, match=r"header gives pgs_id twice with different values \(line 1: 'PGS1'"):
        parse_scoring_file("# PGS ID = PGS1\n#pgs_id=PGS2\n#genome_build=GRCh38\n" + columns, source="s.txt")


def test_column_names_in_another_case_are_read_as_the_format_spells_them():
    """A hand-edited file's 'Other_Allele' is the other allele (it was ignored: rows matched on
    the effect allele alone), 'IS_DOMINANT' True is a dominant row (it was scored additively;
    refused as non-additive until session 36) and 'RSID' is the rsID; a name already spelled right
    wins over another spelling."""
    text = ("#pgs_id=PGS1\n#genome_build=GRCh38\n"
            "RSID\tchr_name\tchr_position\teffect_allele\tOther_Allele\teffect_weight\tOTHER_ALLELE\n"
            "rs1\t1\t1000\tG\tA\t0.1\tT\n")
    sf = parse_scoring_file(text, source="s.txt")
    assert sf.variants[["rsid", "effect_allele", "other_allele"]].values.tolist() == [["rs1", "G", "A"]]
    assert "column names read case-insensitively: RSID as rsID, Other_Allele as other_allele" in sf.notes
    dominant = ("#pgs_id=PGS1\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\tother_allele\t"
                "effect_weight\tIS_DOMINANT\n1\t1000\tG\tA\t0.1\tTrue\n")
    # Read as is_dominant: a dominant row since session 36 (round 27; before, refused as non-additive).
    assert parse_scoring_file(dominant, source="s.txt").effect_types.tolist() == [1]


# ---- OMOP: date text without a day ------------------------------------------------------------------

# table -> (CSV header, a row with {v} in the date column under test, that column)
PARTIAL_DATES = {
    "drug_exposure": ("person_id,drug_concept_id,drug_exposure_start_date,drug_exposure_end_date,days_supply",
                      "1,2,2019-01-10,{v},30", "drug_exposure_end_date"),
    "observation_period": ("person_id,observation_period_start_date,observation_period_end_date",
                           "1,2010-01-01,{v}", "observation_period_end_date"),
    "death": ("person_id,death_date", "1,{v}", "death_date"),
}


@pytest.mark.parametrize("table", list(PARTIAL_DATES))
@pytest.mark.parametrize(("text", "shape"), [("2019", "####"), ("2019-03", "####-##")])
def test_year_only_or_year_month_date_text_is_one_error_naming_table_and_column(spark, tmp_path, table, text, shape):
    """A date written without its day is one error naming file, table and column with the value's
    shape (never the value: a date is individual data). Before: read as 1 January / 1 March
    (e.g. a drug_exposure_end_date '2019-03' ended the exposure on 2019-03-01)."""
    from trd_spark.phenotypes.omop import PERSON_ROW_TABLES

    header, row, column = PARTIAL_DATES[table]
    (tmp_path / f"{table}.csv").write_text(f"{header}\n{row.format(v=text)}\n")
    count = "" if table in PERSON_ROW_TABLES else "<20 "  # persons: no count; records 1..19: <20 (logs.record_count_text)
    with pytest.raises(InputDataError, match=rf"{table}\.csv:2: OMOP table {table} column {column}: {count}value\(s\) are "
                                             rf"not dates \(yyyy-mm-dd\), e\.g\. '{shape}'") as e:
        read_omop_table(spark, toy_config(path=str(tmp_path), format="csv").omop, table)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("text", "shape"), [("1990", "####"), ("1990-03", "####-##")])
def test_a_birth_datetime_without_its_day_is_read_as_empty_with_a_warning(spark, tmp_path, caplog, text, shape):
    """person.birth_datetime '1990' or '1990-03' (session 19: the error above, stopping the run)
    is read as empty with one WARNING naming file, table and column and the value's shape (no
    count: the rows are persons): birth_datetime only adds the day to year_of_birth and
    month_of_birth, which decide the birth date (persons.birth_date_expr), and such text has no
    day (Spark read it as the 1st). Other text that is no date is still the error; a whole
    birth_datetime is read as before."""
    from pyspark.sql import functions as F

    from trd_spark.phenotypes.persons import birth_date_expr

    header = "person_id,gender_concept_id,year_of_birth,month_of_birth,day_of_birth,birth_datetime"
    (tmp_path / "person.csv").write_text(f"{header}\n1,8532,1990,3,,{text}\n2,8532,1990,3,,1990-03-17\n")
    with caplog.at_level("WARNING", logger="trd_spark"):
        person = read_omop_table(spark, toy_config(path=str(tmp_path), format="csv").omop, "person")
    got = {r.person_id: (r.birth_datetime, r.birth_date) for r in person.select("person_id", "birth_datetime", birth_date_expr(
        F.col("year_of_birth"), F.col("month_of_birth"), F.col("day_of_birth"), F.col("birth_datetime")).alias(
        "birth_date")).collect()}
    assert got == {1: (None, dt.date(1990, 3, 1)), 2: (dt.date(1990, 3, 17), dt.date(1990, 3, 17))}
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning == (f"{tmp_path}/person.csv: OMOP table person column birth_datetime: value(s) are a year or a "
                       f"year-month alone (e.g. '{shape}', digits shown as #, letters as a): read as empty; "
                       "year_of_birth and month_of_birth give the birth date")
    (tmp_path / "person.csv").write_text(f"{header}\n1,8532,1990,3,,03/1990\n")
    with pytest.raises(InputDataError, match=r"person\.csv:2: OMOP table person column birth_datetime: .*are not dates"):
        read_omop_table(spark, toy_config(path=str(tmp_path), format="csv").omop, "person")


def test_whole_date_text_shapes_are_still_read(spark, tmp_path):
    """Unchanged: one-digit month/day, surrounding blanks and a time after the date."""
    (tmp_path / "death.csv").write_text('person_id,death_date\n1,2019-3-5\n2," 2019-03-05 "\n3,2019-03-05T10:00:00\n'
                                        "4,2019-03-05 10:00:00\n")
    got = read_omop_table(spark, toy_config(path=str(tmp_path), format="csv").omop, "death").collect()
    assert [r.death_date for r in sorted(got, key=lambda r: r.person_id)] == [dt.date(2019, 3, 5)] * 4


def test_an_empty_date_does_not_take_a_datetime_partner_without_its_day(spark, tmp_path):
    """The datetime an empty date falls back to (omop.DATETIME_OF) follows the same rule as the
    date column: a death_datetime '2019-03' or '2019' fails the read with one line naming table
    and columns (exit 3), not 2019-03-01; a whole one gives its date. Session 18 read such text
    as empty: the death row was then no death at all and the person's follow-up ran on to the
    data cutoff, with no count or message (session 19 review)."""
    (tmp_path / "death.csv").write_text("person_id,death_date,death_datetime\n3,,2019-03-05 10:00:00\n4,2019-01-02,2019\n")
    for zone in (None, "UTC"):
        got = read_omop_table(spark, toy_config(path=str(tmp_path), format="csv", time_zone=zone).omop,
                              "death").collect()
        assert {r.person_id: r.death_date for r in got} == {3: dt.date(2019, 3, 5), 4: dt.date(2019, 1, 2)}, zone
    for text in ("2019-03", "2019"):
        assert _partner_errors(spark, tmp_path, text) == {
            f"OMOP table death ({tmp_path}/death.csv): death_date is empty where death_datetime is a date without its "
            "day (a year or a year-month alone, which Spark would read as the 1st); export the whole date"}, text


def _partner_errors(spark, tmp_path, text: str) -> set[str]:
    """The one-line errors (each exit 3) of reading a death table whose row has death_date empty
    and death_datetime ``text`` (beside a whole partner and an empty one), without and with
    omop.time_zone, as the CLI reads the Spark query's error."""
    from trd_spark.errors import input_error_of

    (tmp_path / "death.csv").write_text(f"person_id,death_date,death_datetime\n1,,{text}\n3,,2019-03-05\n5,,\n")
    out = set()
    for zone in (None, "UTC"):
        with pytest.raises(Exception) as e:  # noqa: B017 - the Spark query's error, read as the CLI reads it
            read_omop_table(spark, toy_config(path=str(tmp_path), format="csv", time_zone=zone).omop, "death").collect()
        err = input_error_of(e.value)
        assert err is not None and err.exit_code == 3, (text, zone)
        out.add(str(err))
    return out


def test_an_empty_date_beside_datetime_text_that_is_no_date_is_one_error(spark, tmp_path):
    """The other text a datetime partner may hold, read when its date is empty: a US date
    ('03/15/2019'), a day the calendar lacks ('2019-02-30'), a word: one line naming table and
    columns (exit 3), as such text in the date column is (check_text_values), never the value.
    Session 19 read them as empty: a death row with death_date empty and death_datetime
    '03/15/2019' was no death, silently (review of session 19). Both empty stays empty."""
    for text in ("03/15/2019", "2019-02-30", "unknown"):
        assert _partner_errors(spark, tmp_path, text) == {
            f"OMOP table death ({tmp_path}/death.csv): death_date is empty where death_datetime is text that is no "
            "date (yyyy-mm-dd, optionally with a time); export the date"}, text
    (tmp_path / "death.csv").write_text("person_id,death_date,death_datetime\n3,,2019-03-05\n5,,\n")
    got = read_omop_table(spark, toy_config(path=str(tmp_path), format="csv").omop, "death").collect()
    assert {r.person_id: r.death_date for r in got} == {3: dt.date(2019, 3, 5), 5: None}


# ---- genotypes: a dosage_field that is no per-alt dosage -------------------------------------------

PROBABILITIES = "partial-dosage-field-probabilities"


def test_dosage_field_reads_ds_and_refuses_probabilities_and_haplotype_dosages(hl):
    """partial-dosage-field-probabilities: DS (Number=A) gives expected.tsv's dosages (one variant,
    weight 1: the sums); GP (3 values) and HDS (2 values per entry) are one error naming field and
    site. Before: an array of another length than the alts was read as missing, so every entry
    fell back to its GT (0 1 2 1 for GP and HDS alike)."""
    import pandas as pd

    from trd_spark.pgs.genotypes import contig_recoding, to_biallelic_dosage

    mt = hl.import_vcf(str(CASES / PROBABILITIES / "genotypes" / "data.vcf"), reference_genome="GRCh38",
                       contig_recoding=contig_recoding("GRCh38"), array_elements_required=False)
    ds = to_biallelic_dosage(hl, mt, where="t", dosage_field="DS")
    got = {int(r.s): r.DOSAGE for r in ds.entries().collect()}
    want = pd.read_csv(CASES / PROBABILITIES / "expected.tsv", sep="\t", comment="#")
    assert got == pytest.approx(dict(zip(want.person_id, want.score_sum)), abs=1e-6)
    for field, n in (("GP", 3), ("HDS", 2)):
        with pytest.raises(Exception, match=rf"dosage field {field} has {n} values at chr14:1000000 C,T, not one per "
                                            r"alt allele"):
            to_biallelic_dosage(hl, mt, where="t", dosage_field=field).entries().collect()


def test_dosage_field_of_probabilities_is_one_stage_error(hl, spark, tmp_path):
    """The same through the stage (dosage_field: GP): one InputDataError line naming the file."""
    with pytest.raises(InputDataError, match=rf"{PROBABILITIES}/genotypes/data\.vcf: reading the genotypes failed: "
                                             r".*dosage field GP has 3 values at chr14:1000000 C,T") as e:
        run_case(hl, spark, tmp_path, PROBABILITIES, extra_genotypes=", dosage_field: GP")
    assert "\n" not in str(e.value)
