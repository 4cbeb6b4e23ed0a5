"""Session 50 (rerun7): the rerun shapes of this session's changes and of everyday data handling.

One finding fixed: the work folders an interrupted run leaves in a release folder
(``.<stage>.inprogress-<id>``, ``.<name>.replaced-<id>``) were removed only by the next
publication of the same stage, so one beside a stage that was then up to date (a killed
``--force`` rerun of pgs: the scores' size again on disk) stayed for good and no command named it.
The other tests guard shapes checked right on b1d6bac (they pass there; kept so that a change to
the fingerprint cannot lose them unseen): this session's new drug_strength columns, an in-place
same-size same-mtime rewrite of a Parquet part, a part file added to a table folder, a newer
Catalog version of a scoring file under the same PGS ID, and a config edited only in comments or
key order. All without Spark (digest and plan functions, ``os`` fingerprints).
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from trd_spark.config import load_config
from trd_spark.io import LocalFs
from trd_spark.layout import Layout
from trd_spark.pipeline import skip_all_without_spark
from trd_spark.stages import (
    STAGE_SPECS,
    _entry_changes,
    _local_file_state,
    _scoring_file_changes,
    changed_inputs,
    config_slice,
    explain,
    fingerprint_parts,
    input_fingerprint,
)

REPO = Path(__file__).resolve().parent.parent
LIQUID = REPO / "tests" / "data" / "field_cases_round43" / "liquid-doses" / "omop"
SERTRALINE = 739138  # an ingredient of the trials set (tests/test_field_cases_round43_omop.py)
# drug_strength's columns read since b1d6bac when present (phenotypes.omop.OPTIONAL_COLUMNS)
NEW_COLUMNS = ("amount_unit_concept_id", "numerator_value", "numerator_unit_concept_id",
               "denominator_unit_concept_id", "box_size")


def _config(tmp_path: Path, omop: Path, min_dose: dict[int, float] | None = None):
    cfg = load_config(None, overrides={
        "output_root": str(tmp_path / "results"), "toy_data": None,
        "omop": {"format": "parquet", "path": str(omop), "data_cutoff_date": "2023-07-01",
                 "ehr_evidence": "observation_period"}})
    if min_dose:
        trials = cfg.phenotypes.trials.model_copy(update={"ingredient_min_daily_dose": min_dose})
        cfg = cfg.model_copy(update={"phenotypes": cfg.phenotypes.model_copy(update={"trials": trials})})
    return cfg


def test_leftover_work_folders_of_an_interrupted_run_are_named_by_explain_and_removed_by_the_next_run(
        tmp_path, caplog):
    """A killed run's work folders beside stages it did not republish: ``explain`` names them and
    the next run (here its no-Spark path: nothing to rerun) removes them, nothing else.

    On b1d6bac: ``explain`` said nothing of them and the run kept them (only a stage publishing
    again removed its own), so they stayed for good: ``assert 'left by an interrupted run' in ...``
    failed."""
    cfg = _config(tmp_path, LIQUID)
    layout = Layout.of(cfg)
    release = Path(layout.release_dir)
    left = [".pgs.inprogress-0a1b2c3d", ".export.replaced-9f8e7d6c"]
    for name in left:
        (release / name / "scores.parquet").mkdir(parents=True)
        (release / name / "scores.parquet" / "part-0.parquet").write_bytes(b"x" * 64)
    kept = [".lock", ".cohort.notes", "pgs"]  # not work folders of a stage: never touched
    (release / ".lock").write_text("{}")
    (release / ".cohort.notes").mkdir()
    (release / "pgs").mkdir()

    text = explain(cfg, LocalFs(), ["pgs"])
    assert f"left by an interrupted run in {release}/" in text
    assert ", ".join(sorted(left)) in text

    with caplog.at_level(logging.INFO, logger="trd_spark.pipeline"):
        assert skip_all_without_spark(cfg, []) == []  # nothing to run: the no-Spark path
    assert sorted(p.name for p in release.iterdir()) == sorted(kept)
    assert sum("left by an interrupted run" in r.getMessage() for r in caplog.records) == len(left)
    assert "left by an interrupted run" not in explain(cfg, LocalFs(), ["pgs"])


def test_drug_strength_columns_read_since_b1d6bac_rerun_phenotypes_only_where_it_is_read(tmp_path):
    """A release whose drug_strength differs only in the columns the phenotypes stage reads since
    b1d6bac (a liquid's concentration, the amount's unit, box_size): with a minimum daily dose
    the stage's input changed, the reason naming the table; without one (drug_strength not
    read) nothing changed; and such a table, fingerprinted twice, is the same input (no rerun
    forever). Passes on b1d6bac (the table's bytes are its fingerprint): a guard."""
    omop = tmp_path / "omop"
    shutil.copytree(LIQUID, omop)
    spec, fs = STAGE_SPECS["phenotypes"], LocalFs()
    with_dose = _config(tmp_path, omop, {SERTRALINE: 50.0})
    without = _config(tmp_path, omop)
    before_with = fingerprint_parts(with_dose, spec, fs, {})["inputs"]
    before_without = fingerprint_parts(without, spec, fs, {})["inputs"]
    table = pq.read_table(omop / "drug_strength.parquet")
    pq.write_table(table.drop([c for c in NEW_COLUMNS if c in table.schema.names]), omop / "drug_strength.parquet")
    now_with = fingerprint_parts(with_dose, spec, fs, {})["inputs"]
    now_without = fingerprint_parts(without, spec, fs, {})["inputs"]

    assert changed_inputs(before_with, now_with) == ["omop.path"]
    assert _entry_changes(before_with["omop.path"], now_with["omop.path"]) == "drug_strength.parquet changed"
    assert changed_inputs(before_without, now_without) == []
    assert changed_inputs(now_with, fingerprint_parts(with_dose, spec, fs, {})["inputs"]) == []


def test_a_part_rewritten_in_place_with_its_size_and_mtime_and_a_part_added_are_changes(tmp_path):
    """A copy tool that keeps mtimes rewrote a Parquet part in place (same inode, size, mtime):
    the stat recorded with its digest in the manifest no longer matches (ctime moved), so it is
    read and the input changes; a part file added to the table folder changes it too, named.
    Passes on b1d6bac: a guard."""
    table = tmp_path / "omop" / "drug_exposure"
    table.mkdir(parents=True)
    part = table / "part-00000.parquet"
    part.write_bytes(b"A" * 4096)
    st = os.stat(part)
    old_digest = _local_file_state(str(part))[2].removeprefix("sha256:")
    # the record a run made of it (taken more than RACY_NS after its last change)
    recorded = {str(part): [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, old_digest]}
    before = input_fingerprint(str(tmp_path / "omop"), None, recorded)
    assert input_fingerprint(str(tmp_path / "omop"), None, recorded)["digest"] == before["digest"]

    with open(part, "r+b") as f:  # in place: same inode and size
        f.write(b"B" * 4096)
    os.utime(part, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = os.stat(part)
    assert (again.st_size, again.st_mtime_ns, again.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    rewritten = input_fingerprint(str(tmp_path / "omop"), None, recorded)
    assert rewritten["digest"] != before["digest"]
    assert _entry_changes(before, rewritten) == "drug_exposure changed"

    (table / "part-00001.parquet").write_bytes(b"C" * 10)
    added = input_fingerprint(str(tmp_path / "omop"), None, recorded)
    assert added["files"] == 2 and added["digest"] != rewritten["digest"]


def test_a_newer_catalog_version_of_a_scoring_file_under_the_same_pgs_id_is_named_edited(tmp_path):
    """PGS000001.txt.gz replaced by the Catalog's next version (another ``#pgs_version`` and
    ``#date``, the same PGS ID and file name): the pgs stage's input changed and the reason names
    the file edited. Passes on b1d6bac: a guard."""
    scores = tmp_path / "scores"
    scores.mkdir()
    path = scores / "PGS000001.txt.gz"

    def write(version: str, date: str) -> None:
        with gzip.open(path, "wt") as f:
            f.write(f"#pgs_id=PGS000001\n#pgs_version={version}\n#date={date}\n#genome_build=GRCh38\n"
                    "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n1\t100\tA\tG\t0.1\n")

    write("1.0", "2023-01-01")
    before = input_fingerprint(str(scores / "*.txt.gz"))
    made = {"scoring_files": {"GRCh38": {"PGS000001": {"path": str(path), "sha256": _local_file_state(
        str(path))[2].removeprefix("sha256:")}}}}
    write("2.0", "2024-06-01")
    now = input_fingerprint(str(scores / "*.txt.gz"))
    assert now["digest"] != before["digest"]
    assert _scoring_file_changes({"notes": made}, now, [str(path)]) == f"{path} edited"


def test_a_config_edited_only_in_comments_or_key_order_reruns_no_stage(tmp_path):
    """The toy config, its concept sets and its trait panel rewritten without comments and with
    every mapping's keys in reverse order: every stage's config slice is the same. Passes on
    b1d6bac: a guard."""
    def reverse(node):
        if isinstance(node, dict):
            return {k: reverse(node[k]) for k in reversed(list(node))}
        return [reverse(v) for v in node] if isinstance(node, list) else node

    text = (REPO / "conf" / "toy.yaml").read_text().replace("../out", str(REPO / "out")).replace(
        "concept_sets: concept_sets.yaml", f"concept_sets: {tmp_path}/cs.yaml").replace(
        "trait_panel: trait_panel_toy.yaml", f"trait_panel: {tmp_path}/tp.yaml")
    (tmp_path / "a.yaml").write_text(text)
    shutil.copy(REPO / "conf" / "concept_sets.yaml", tmp_path / "cs.yaml")
    shutil.copy(REPO / "conf" / "trait_panel_toy.yaml", tmp_path / "tp.yaml")
    first = load_config(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("# edited\n" + yaml.safe_dump(reverse(yaml.safe_load(text)), sort_keys=False))
    for name in ("cs.yaml", "tp.yaml"):
        loaded = yaml.safe_load((tmp_path / name).read_text())
        (tmp_path / name).write_text("# edited\n" + yaml.safe_dump(reverse(loaded), sort_keys=False))
    second = load_config(tmp_path / "b.yaml")
    for spec in STAGE_SPECS.values():
        assert config_slice(first, spec) == config_slice(second, spec), spec.name
