"""Stale reruns, session 47 (helper "privrerun4").

``pgs.download.directory``, where ``trd-spark download-scores`` writes, was the one local path of
the config not resolved against the config file's folder (``config._PATH_FIELDS`` holds only
paths a stage may read; the command's key was left out): a relative one was taken against the
current directory. With ``pgs.scoring_files: [scores]`` and ``pgs.download.directory: scores``
in ``conf/my.yaml``, ``download-scores`` run from the project's root wrote ``./scores`` while the
pgs stage read ``conf/scores``: scores fetched again (a re-released score, its old file removed)
were reported "1 downloaded" and the next run scored the earlier files, up to date and stale
(the pgs stage's fingerprint keys the files it reads, which had not changed). Now the
key is resolved as every path of the config is (``config._COMMAND_PATH_FIELDS``, outside every
stage's code digest). The PGS Catalog stand-in on loopback is ``test_download_scores``'s; the
client (pgscatalog-core) and the command are the real ones.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from test_download_scores import catalog, harmonised_text  # noqa: F401 - `catalog` is a fixture

from trd_spark.cli import main
from trd_spark.config import load_config
from trd_spark.pgs.download import scoring_file_name

REPO = Path(__file__).resolve().parent.parent


def _my_config(tmp_path: Path, catalog, directory: str) -> Path:  # noqa: F811 - the fixture's value
    """``tmp_path``/conf/my.yaml: conf/toy.yaml with a one-score panel (PGS000001), ``pgs.scoring_files:
    [scores]`` (conf/scores, created) and ``pgs.download.directory: directory`` on ``catalog``."""
    conf = tmp_path / "conf"
    (conf / "scores").mkdir(parents=True)
    (conf / "panel.yaml").write_text(yaml.safe_dump(
        {"domains": ["sleep"], "scores": [{"pgs_id": "PGS000001", "trait": "Insomnia", "domain": "sleep"}]}))
    cfg = yaml.safe_load((REPO / "conf" / "toy.yaml").read_text())
    cfg["phenotypes"]["concept_sets"] = str(REPO / "conf" / cfg["phenotypes"]["concept_sets"])
    cfg["pgs"]["trait_panel"] = "panel.yaml"
    cfg["pgs"]["scoring_files"] = ["scores"]
    cfg["pgs"]["download"] = {"directory": directory, "catalog_api": catalog.api, "attempts": 1,
                              "retry_wait_seconds": 0}
    (conf / "my.yaml").write_text(yaml.safe_dump(cfg))
    return conf / "my.yaml"


def test_a_relative_download_directory_is_the_config_s_scoring_folder_from_any_working_directory(
        catalog, tmp_path, monkeypatch):  # noqa: F811 - the fixture imported above
    """download-scores run from another working directory fills the folder the pgs stage reads,
    and nothing under the working directory. On 1dcddaa the file went to ``<cwd>/scores``, the
    config's ``conf/scores`` stayed empty (or kept its earlier files)."""
    conf = _my_config(tmp_path, catalog, "scores").parent
    elsewhere = tmp_path / "project_root"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    loaded = load_config("../conf/my.yaml")
    read_by_pgs = Path(loaded.pgs.scoring_files[0])
    assert read_by_pgs == conf / "scores"
    assert loaded.pgs.download.directory == str(read_by_pgs)  # was "scores", the working directory's

    name = scoring_file_name("PGS000001", "GRCh38")
    catalog.add("PGS000001", harmonised_text("PGS000001", (0.5, -0.25)))
    assert main(["download-scores", "--config", "../conf/my.yaml"]) == 0
    assert sorted(p.name for p in read_by_pgs.iterdir()) == [name, f"{name}.md5"]
    assert not (elsewhere / "scores").exists()


def test_an_output_root_uri_on_the_command_line_stays_a_uri(tmp_path, monkeypatch, capsys):
    """``--output-root gs://bucket/results`` names the bucket, as ``output_root:`` in the file
    does. On 1dcddaa the CLI passed it through ``Path.resolve``: the local folder
    ``<cwd>/gs:/bucket/results``, so a Dataproc run wrote its outputs on the driver's disk (exit
    0), ``--release latest`` and ``releases`` found none of the bucket's releases, and the
    report's audit read none of the exports published there. A local path is still taken
    against the working directory (a command line's path), not the config's folder."""
    monkeypatch.chdir(tmp_path)

    def resolved(output_root: str) -> str:
        assert main(["check-config", "--output-root", output_root]) == 0
        (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("output_root:")]
        return line.removeprefix("output_root:").strip()

    assert resolved("gs://my-bucket/results/") == "gs://my-bucket/results"  # the file's rule: no trailing /
    assert resolved("hdfs://nn:8020/trd") == "hdfs://nn:8020/trd"
    assert resolved("results") == str(tmp_path / "results")


def test_download_scores_warns_when_the_pgs_stage_does_not_read_its_folder(catalog, tmp_path, capsys):  # noqa: F811
    """(Session 47 fixesC, reader finding 4.) ``pgs.download.directory: downloads`` beside
    ``pgs.scoring_files: [scores]``: the file lands in conf/downloads, which the pgs stage never
    reads (its next run "up to date" on conf/scores' earlier files): one WARNING naming the folder
    and the entries. Into conf/scores itself: no warning (the first test's case). On 5e8e7ae
    nothing was said (the WARNING assertion fails)."""
    my = _my_config(tmp_path, catalog, "downloads")
    catalog.add("PGS000001", harmonised_text("PGS000001", (0.5, -0.25)))
    assert main(["download-scores", "--config", str(my)]) == 0  # its log on stderr (logs.configure_logging)
    warned = [x.split(" WARNING trd_spark: ", 1)[1] for x in capsys.readouterr().err.splitlines() if " WARNING " in x]
    downloads = tmp_path / "conf" / "downloads"
    assert (downloads / scoring_file_name("PGS000001", "GRCh38")).is_file()
    assert warned == [f"download-scores wrote to {downloads}, which the pgs stage does not read: it reads "
                      f"pgs.scoring_files ({tmp_path / 'conf' / 'scores'}); copy the files there (e.g. gsutil -m cp "
                      f"{downloads}/* gs://...) or set pgs.download.directory to that folder"]
    my.write_text(my.read_text().replace("directory: downloads", "directory: scores"))
    assert main(["download-scores", "--config", str(my)]) == 0
    assert " WARNING " not in capsys.readouterr().err
