"""A count and its noun agree in what a user reads (``logs.counted``): "(1 such rows)" in a
scoring-file error (new-user trial, session 30), and its kin in the parse's errors and notes,
the parse hand-over's line and check-config's first line."""

from __future__ import annotations

import gzip
import logging

import pytest
import yaml

from trd_spark.config import REPO_CONF_DIR, PgsSettings
from trd_spark.errors import InputDataError
from trd_spark.logs import counted

HEADER = ("#pgs_id=PGS900001\n#genome_build=GRCh38\n#weight_type=beta\n"
          "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n")


@pytest.mark.parametrize("n, noun, plural, text", [
    (0, "row", None, "0 rows"), (1, "row", None, "1 row"), (2, "row", None, "2 rows"),
    (1780, "row", None, "1,780 rows"), (1, "variant row's", "variant rows'", "1 variant row's"),
    (3, "variant row's", "variant rows'", "3 variant rows'")], ids=str)
def test_counted(n, noun, plural, text):
    assert counted(n, noun, plural) == text


def test_one_duplicate_row_is_one_row():
    """A variant listed twice: the error counted "(1 duplicate rows; ...)"."""
    from trd_spark.pgs.scoring_files import parse_scoring_file

    text = HEADER + "1\t100\tG\tA\t0.1\n1\t200\tC\tT\t0.2\n1\t100\tG\tA\t0.3\n"
    with pytest.raises(InputDataError, match=r"^s\.txt:7: duplicate variant .*\(1 duplicate row; set "):
        parse_scoring_file(text, source="s.txt")


def test_one_file_parsed_ahead_is_one_file(tmp_path, caplog):
    """The pgs stage's line when it takes the parse that ran while Spark started read "1 scoring
    files for GRCh38 parsed while the session started"."""
    import trd_spark.pgs.scoring_files as sf

    with gzip.open(tmp_path / "PGS900001.txt.gz", "wt") as f:
        f.write(HEADER + "1\t100\tG\tA\t0.1\n")
    pgs = PgsSettings(scoring_files=[str(tmp_path / "*.txt.gz")], trait_panel=str(REPO_CONF_DIR / "trait_panel_toy.yaml"))
    with caplog.at_level(logging.INFO, logger="trd_spark.pgs.scoring_files"), sf.parsed_ahead(pgs, ["GRCh38"]) as ahead:
        files = sf.read_scoring_files(None, pgs, "GRCh38", ahead=ahead)
    assert len(files) == 1
    taken = [r.getMessage() for r in caplog.records if "parsed while the session started" in r.getMessage()]
    assert len(taken) == 1 and taken[0].startswith("1 scoring file for GRCh38 parsed while"), taken


def test_check_config_counts_one_dataset_as_one(tmp_path, capsys):
    """check-config's first line read "1 datasets" for a config of one dataset."""
    from trd_spark.cli import main

    raw = yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())
    raw.pop("toy_data")
    raw["datasets"] = raw["datasets"][:1]
    raw["pgs"]["trait_panel"] = str(REPO_CONF_DIR / "trait_panel_toy.yaml")
    raw["phenotypes"]["concept_sets"] = str(REPO_CONF_DIR / "concept_sets.yaml")
    config = tmp_path / "one.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert main(["check-config", "--config", str(config)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith("release toy-r1, 1 dataset, 3 TRD definitions, 10 scores in the trait panel"), first
