"""Input readers on bad input (session 23): each fault is one InputDataError naming the file and
the line or field, never a column read as missing that is there, nor a ValueError / LookupError
traceback from our own frames (since 8c08301 such a traceback is a bug of ours).

- A CSV header naming a column twice: Spark's CSV reader renames every copy (``person_id0``,
  ``person_id3``), so the table read as "missing required column person_id" although the header
  names it (twice). The OMOP CSV reader and the cohort stage's TSV reader now say so.
- The native route's variant list (.pvar / .bim): an empty .pvar raised UnboundLocalError and a
  position beyond int64 OverflowError from our frames; a fraction named no line.
- A BGEN's .sample line with another number of fields than its header: pandas read a longer first
  line as an index (every column shifted: ID_2 a wrong person, silently), a shorter one as empty;
  the same in a .psam (IID read from the SEX column) and a short .fam line (an empty IID).
"""

from __future__ import annotations

import pytest
from test_phenotypes_support import toy_config

from trd_spark.cohort.stage import read_tsv
from trd_spark.errors import InputDataError
from trd_spark.phenotypes.omop import read_omop_table


@pytest.mark.parametrize("header", ["person_id,drug_concept_id,Person_ID", "person_id,drug_concept_id,person_id"],
                         ids=["other-case", "same-case"])
def test_an_omop_csv_naming_a_column_twice_says_so(spark, tmp_path, header):
    """Before: 'OMOP table drug_exposure is missing required column(s) person_id, ...'."""
    (tmp_path / "drug_exposure.csv").write_text(
        f"{header},drug_exposure_start_date,drug_exposure_end_date,days_supply,refills\n"
        "1,2000000101,1,2020-01-01,2020-01-01,30,0\n")
    config = toy_config(path=str(tmp_path), format="csv").omop
    with pytest.raises(InputDataError) as e:
        read_omop_table(spark, config, "drug_exposure")
    assert str(e.value) == (f"{tmp_path}/drug_exposure.csv:1: OMOP table drug_exposure: column person_id "
                            "named twice in the header")


def test_a_cohort_tsv_naming_a_column_twice_says_so(spark, tmp_path):
    """Before: "missing column(s) ['research_id']: the first line has 4 fields ..."."""
    path = tmp_path / "ancestry_preds.tsv"
    path.write_text("research_id\tancestry_pred\tresearch_id\tpca_features\n1\teur\t1\t[0.1]\n")
    with pytest.raises(InputDataError) as e:
        read_tsv(spark, str(path), ["research_id", "ancestry_pred"], "ancestry")
    assert str(e.value) == f"ancestry {path}:1: column research_id named twice in the header"


@pytest.mark.parametrize(("suffix", "text", "where", "problem"), [
    ("pvar", "", ":1", "0 fields in the first variant line"),
    ("pvar", "#CHROM\tPOS\tID\tREF\tALT\n1\t100\trs1\tA\tG\n1\t1.5\trs2\tA\tG\n", ":3",
     "a position is not an integer of at most 18 digits ('1.5')"),
    ("pvar", "##x\n#CHROM\tPOS\tID\tREF\tALT\n1\t99999999999999999999\trs1\tA\tG\n", ":3",
     "a position is not an integer of at most 18 digits ('99999999999999999999')"),
    ("bim", "1\trs1\t0\t100\tG\tA\n1\trs2\t0\t99999999999999999999\tG\tA\n", ":2",
     "a position is not an integer of at most 18 digits ('99999999999999999999')"),
    ("bim", "1\trs1\t0\t100\tG\tA\n1\trs2\t0\t200\tG\n", ":2",
     "a variant line has no REF or no ALT field (fewer fields than the first variant line)"),
    ("pvar", "##x\n#CHROM\tPOS\tID\tREF\tALT\n1\t100\trs1\tA\n", ":3",
     "a variant line has no REF or no ALT field (fewer fields than the first variant line)"),
    ("bim", "1\trs1\t0\t100\tG\tA\n\n1\trs2\t0\t1.5\tG\tA\n", ":2",
     "an empty line (plink2 refuses empty lines in a variant list)"),
    ("bim", "1\trs1\t0\t100\tG\tA\n1\trs2\t0\t200\tG\tA\n   \n", ":3",
     "an empty line (plink2 refuses empty lines in a variant list)"),
    ("pvar", "##x\n#CHROM\tPOS\tID\tREF\tALT\n1\t100\trs1\tA\tG\n\n1\t200\trs2\tA\tG\n", ":4",
     "an empty line (plink2 refuses empty lines in a variant list)"),
    ("pvar", "\n1 rs1 0 100 G A\n", ":1", "an empty line (plink2 refuses empty lines in a variant list)"),
    ("bim", "\n\n1\trs1\t100\tG\n", ":3", "4 fields in the first variant line"),
], ids=["empty-pvar", "fraction", "beyond-int64-pvar", "beyond-int64-bim", "short-bim-line", "short-pvar-line",
        "blank-line-before-a-bad-bim-line", "blank-bim-line-at-the-end", "empty-pvar-line",
        "blank-line-before-headerless-pvar", "blank-lines-before-a-short-first-line"])
def test_a_variant_list_s_bad_position_or_emptiness_names_the_file_and_line(tmp_path, suffix, text, where, problem):
    """The native route's variant index (``pgen_engine.variant_index``). Before (622bca3): an
    empty .pvar raised UnboundLocalError and a position beyond int64 OverflowError (tracebacks
    from our frames, exit 1 for bad input); a fraction named the file but not its line; a line
    cut short read its missing allele as empty (the variant unmatched, silently). An empty or
    blank line (which plink2 refuses: 'Unexpected interior empty line', also as the file's last
    line; /usr/bin/plink2 on a .bim and a .pvar, session 24) was skipped, so every later line
    named in an error was one too low (the 1.5 at line 3 named as line 2) and a file plink2
    refuses was read; the first variant line's field count named line ``skip + 1`` behind blank lines."""
    from trd_spark.pgs import pgen_engine

    (tmp_path / f"g.{suffix}").write_text(text)
    files = pgen_engine.PlinkFiles("pgen" if suffix == "pvar" else "plink", str(tmp_path / "g"))
    with pytest.raises(InputDataError) as e:
        pgen_engine.variant_index(files, "GRCh38")
    assert str(e.value).startswith(f"{tmp_path}/g.{suffix}{where}: {problem}"), str(e.value)


@pytest.mark.parametrize(("text", "line", "fields"), [
    ("ID_1 ID_2 missing\n0 0 0\nS1 1001 0 extra\nS2 1002 0\n", 3, 4),
    ("ID_1 ID_2 missing\n0 0 0\nS1 1001 0\n\nS2\n", 5, 1),
], ids=["longer-first-line", "shorter-line"])
def test_a_sample_file_line_of_another_width_names_its_line(tmp_path, text, line, fields):
    """A BGEN's Oxford .sample (``bgen_reader.sample_file_ids``). Before (622bca3): a first sample
    line with one field more was read by pandas as an index, every column shifted (ID_2 took
    'missing''s '0' for S1: a wrong person, silently); a shorter line gave an empty ID_2."""
    from trd_spark.pgs.bgen_reader import sample_file_ids

    path = tmp_path / "x.sample"
    path.write_text(text)
    with pytest.raises(InputDataError) as e:
        sample_file_ids(str(path), 2)
    assert str(e.value) == f"{path}:{line}: {fields} fields where the header has 3"
    path.write_text("ID_1 ID_2 missing\n0 0 0\nS1 1001 0\n\nS2 1002 0\n")  # a blank line is no sample
    assert sample_file_ids(str(path), 2) == ["1001", "1002"]


@pytest.mark.parametrize(("name", "text", "where", "problem"), [
    ("g.psam", "#FID\tIID\tSEX\nF1\tS1\t1\textra\nF2\tS2\t2\n", ":2", "4 fields where the header has 3"),
    ("g.fam", "F1 S1 0 0 1 -9\nF2\n", ":2", "1 fields where the first line has 6"),
    # A field inserted before a later line's IID: read with usecols=[1], pandas took it as the IID
    # (another person, silently; plink2 reads it so too) until session 24.
    ("g.fam", "F1 S1 0 0 1 -9\nF2 X S2 0 0 2 -9\n", ":2", "7 fields where the first line has 6"),
    ("g.psam", "#FID\tIID\tSEX\nF1\tS1\t1\nF2\tX\tS2\t2\n", ":3", "4 fields where the header has 3"),
], ids=["psam-longer-first-line", "fam-short-line", "fam-longer-later-line", "psam-longer-later-line"])
def test_a_psam_or_fam_line_of_another_width_names_its_line(tmp_path, name, text, where, problem):
    """The native route's samples (``pgen_engine.psam_samples``). Before (622bca3): the .psam's
    longer first sample line made pandas infer an index, so the IIDs read were the SEX column's
    '1', '2' (other persons' IDs, silently); the short .fam line gave an empty IID."""
    from trd_spark.pgs import pgen_engine

    (tmp_path / name).write_text(text)
    files = pgen_engine.PlinkFiles("pgen" if name.endswith("psam") else "plink", str(tmp_path / "g"))
    with pytest.raises(InputDataError) as e:
        pgen_engine.psam_samples(files)
    assert str(e.value) == f"{tmp_path}/{name}{where}: {problem}"
