"""A new user's mistakes (session 52, helper newuser): a clean clone, README followed literally, then
the inputs a user gets wrong.

- Two scoring files joined into one (``cat PGS1.txt.gz PGS2.txt.gz > panel.txt.gz``, ``zcat a b``,
  or a column-header line pasted twice): the second file's ``#`` lines were left out as
  commented-out rows and its column line was read as a variant row whose effect allele,
  ``effect_allele``, is a complex allele (left out with a note), so the second score's variants were
  summed into the first score with two WARNINGs (``#variants_number`` disagrees, one complex
  allele) and a complete-looking pgs stage. Now one error naming the file and the line.

Parse-level cases (no Spark): each file is hand-written.
"""

from __future__ import annotations

import gzip

import pytest

from trd_spark.errors import InputDataError
from trd_spark.pgs.scoring_files import parse_scoring_file, read_scoring_file


def _score(pgs_id: str, rows: str, n: int) -> str:
    return (f"#pgs_id={pgs_id}\n#genome_build=GRCh38\n#variants_number={n}\n"
            "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n" + rows)


A = _score("PGS1", "1\t100\tA\tG\t0.1\n1\t200\tC\tT\t-0.25\n", 2)
B = _score("PGS2", "2\t300\tG\tA\t0.3\n2\t400\tT\tC\t0.4\n", 2)


def test_two_gzipped_scoring_files_joined_by_cat_are_one_error_at_the_second_header(tmp_path):
    """``cat a.txt.gz b.txt.gz > both.txt.gz`` (a gzip of two members, read as one text): before
    (173ccde), PGS1 was scored with PGS2's two variants too (4 rows, the column line left out as a
    complex allele); now an InputDataError at line 10, the second column line."""
    path = tmp_path / "both.txt.gz"
    path.write_bytes(gzip.compress(A.encode()) + gzip.compress(B.encode()))
    with pytest.raises(InputDataError, match=r"column-header line among the variant rows") as e:
        read_scoring_file(str(path))
    assert e.value.where == f"{path}:10"
    assert "\n" not in str(e.value)


def test_a_column_line_pasted_twice_is_one_error_whatever_its_spelling():
    """The column line again, in another case (a hand-assembled file), or in another column order
    (a second file of another layout): the row's effect_allele is a column name either way."""
    again = "CHR_NAME\tCHR_POSITION\tEFFECT_ALLELE\tOTHER_ALLELE\tEFFECT_WEIGHT\n"
    text = A.replace("0.1\n", "0.1\n" + again)
    with pytest.raises(InputDataError, match=r"'EFFECT_ALLELE'") as e:
        parse_scoring_file(text, source="s.txt")
    assert e.value.where == "s.txt:6"
    other_layout = "effect_weight\tchr_name\tchr_position\teffect_allele\tother_allele\n"
    with pytest.raises(InputDataError, match=r"column-header line") as e:
        parse_scoring_file(A + other_layout, source="s.txt")
    assert e.value.where == "s.txt:7"


def test_a_single_file_still_parses():
    """The check reads only the distinct effect alleles: a normal file is unchanged."""
    sf = parse_scoring_file(A, source="a.txt")
    assert sf.pgs_id == "PGS1" and len(sf.variants) == 2


def test_a_date_of_the_right_shape_out_of_range_says_so(spark):
    """OMOP condition_start_date '2020-13-45' (a typo, a day-month swap): the error showed only its
    shape, '####-##-##' (no participant's date in a message), which reads as a good date, so the
    user could not tell what was wrong (on 173ccde: "... are not dates (yyyy-mm-dd), e.g.
    '####-##-##' (digits shown as #, letters as a)" and nothing more). Now it says the date or time
    is out of range, still without the value; a value of another shape gets no such hint."""
    from pyspark.sql import types as T

    from trd_spark.phenotypes.omop import check_text_values

    columns = [("person_id", T.LongType()), ("condition_start_date", T.DateType())]
    for value, hint in (("2020-13-45", True), ("2019-02-30 10:00:00", True), ("20/11/2019", False)):
        df = spark.createDataFrame([(1, value), (2, "2019-11-20")], "person_id bigint, condition_start_date string")
        with pytest.raises(InputDataError, match=r"are not dates") as e:
            check_text_values(df, "condition_occurrence", columns, where="mem")
        assert ("out of range" in str(e.value)) == hint, str(e.value)
        assert "2020" not in str(e.value) and "2019" not in str(e.value) and "45" not in str(e.value)


def test_compare_releases_help_explains_its_two_releases_with_a_toy_example():
    """``trd-spark compare-releases --help`` showed 'release_a release_b' with no word on them and
    only an All of Us example (on 173ccde): a new user on the toy releases could not tell what to
    pass. Now each has a help line and the toy example (README's) is first."""
    from trd_spark.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["compare-releases"].format_help()
    assert "release_a" not in text
    assert "trd-spark compare-releases toy-r1 toy-r2 --config conf/toy_releases.yaml" in text
    positional = text.split("positional arguments:")[1].split("options:")[0]
    assert "releases.input_root" in positional and "exit 3" in " ".join(positional.split())


def test_a_misspelt_option_gets_the_command_usage_and_the_option_meant(capsys):
    """``trd-spark run --confg conf/x.yaml``: argparse answered with the top-level usage
    ('usage: trd-spark [-h] [--version] COMMAND ...', 'trd-spark: error: unrecognized arguments'),
    which names no option of ``run`` (on 173ccde). Now the command's usage and error, exit 2,
    with the option meant."""
    from trd_spark.cli import main

    with pytest.raises(SystemExit) as e:
        main(["run", "--confg", "conf/x.yaml"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage: trd-spark run " in err
    assert err.strip().splitlines()[-1] == (
        "trd-spark run: error: unrecognized arguments: --confg conf/x.yaml (did you mean --config?)")
    with pytest.raises(SystemExit) as e:
        main(["releases", "--force"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "trd-spark releases: error: unrecognized arguments: --force"


def test_a_config_copied_out_of_conf_names_the_shipped_file_it_lost(tmp_path):
    """``cp conf/toy.yaml ~/work/my.yaml``: its relative ``concept_sets.yaml`` now resolves beside the
    copy, where there is none. The error named only that path (on 173ccde); it now names the shipped
    file to copy or point to. A path to a file of another name gets no such hint."""
    from trd_spark.config import DEFAULT_CONFIG, REPO_CONF_DIR, load_config
    from trd_spark.errors import ConfigError

    copy = tmp_path / "my.yaml"
    copy.write_text(DEFAULT_CONFIG.read_text())
    with pytest.raises(ConfigError) as e:
        load_config(copy)
    msg = str(e.value)
    assert f"no such file or directory: {tmp_path}/" in msg
    assert f"the shipped concept_sets.yaml is {REPO_CONF_DIR / 'concept_sets.yaml'}" in msg
    copy.write_text(DEFAULT_CONFIG.read_text().replace("concept_sets: concept_sets.yaml",
                                                       f"concept_sets: {REPO_CONF_DIR / 'concept_sets.yaml'}")
                    .replace("trait_panel: trait_panel_toy.yaml", "trait_panel: my_panel.yaml"))
    with pytest.raises(ConfigError) as e:
        load_config(copy)
    assert "my_panel.yaml" in str(e.value) and "shipped" not in str(e.value)
