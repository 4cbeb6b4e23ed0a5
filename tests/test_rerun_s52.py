"""Session 52 (rerun8): stale or wrong reruns, round 8.

Fixed: a stage's code digest followed ``Config`` into the settings model of every config section,
also of those the stage neither declares nor may read (``ConfigView``), so a key added to
``report`` (``max_pgs_excess_kurtosis``, e1d1b0f) changed the digest of all five stages: the pgs
stage (hours of scoring at All of Us scale) and the phenotypes stage reran for a report setting.
``stages.unread_settings`` names those models and ``provenance.code_digests(..., unread=...)``
does not follow them from ``Config`` (a model a stage imports by name still counts).

The other tests guard shapes checked right (they pass before the fix): this session's settings
in the slices of the stages that read them, and everyday rerun shapes (a release folder renamed,
an OMOP partition deleted from a glob, a symlinked input re-pointed, a config value set back, an
input's mtime in the future, two runs of one release at once). All without Spark.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from source_edits import source_edits

from trd_spark import provenance
from trd_spark.config import load_config
from trd_spark.io import LocalFs
from trd_spark.layout import STAGES
from trd_spark.stages import (
    STAGE_SPECS,
    _entry_changes,
    _local_file_state,
    changed_inputs,
    config_slice,
    files_fingerprint,
    fingerprint_parts,
    input_fingerprint,
    stage_code,
    unread_settings,
)

REPO = Path(__file__).resolve().parent.parent
LIQUID = REPO / "tests" / "data" / "field_cases_round43" / "liquid-doses" / "omop"


@pytest.fixture
def stage_code_after():
    """``edit(module, old, new)``: each stage's code (``stages.stage_code``, and, as ``[1]``,
    ``provenance.code_digests`` without ``unread``: the rule before session 52) after replacing
    ``old`` by ``new`` in ``module``'s source as ``provenance`` reads it (the file is not touched;
    edits add up)."""
    with source_edits(lambda: ({s: stage_code(STAGE_SPECS[s]) for s in STAGES},
                               {s: provenance.code_digests(STAGE_SPECS[s].module) for s in STAGES})) as edit:
        yield edit


def _changed(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    return [s for s in STAGES if before[s] != after[s]]


# A key added to a settings model, as e1d1b0f added report.max_pgs_excess_kurtosis.
NEW_KEY = {
    "report": ("    audit_output_roots: list[str] = Field(default_factory=list)\n",
               "    audit_output_roots: list[str] = Field(default_factory=list)\n    new_key: float = 1.0\n"),
    "phenotypes.trials": ('    quantified_liquid_quantity: Literal["items_or_ml", "items", "ml"] = "items_or_ml"\n',
                          '    quantified_liquid_quantity: Literal["items_or_ml", "items", "ml"] = "items_or_ml"\n'
                          "    new_key: float = 1.0\n"),
}


@pytest.mark.parametrize(("section", "now", "before"), [
    # cohort declares report.small_count_threshold; phenotypes.omop takes the policy's T as
    # config.MIN_SMALL_COUNT_THRESHOLD, not ReportSettings by name (before: phenotypes changed too).
    ("report", ["cohort", "report"], list(STAGES)),
    # cohort declares phenotypes.gates, the report phenotypes: PhenotypeSettings is theirs whole.
    ("phenotypes.trials", ["phenotypes", "cohort", "report"], list(STAGES)),
])
def test_a_key_added_to_a_section_a_stage_cannot_read_changes_no_code_of_that_stage(stage_code_after, section, now,
                                                                                      before):
    """A key added to ``ReportSettings`` (e1d1b0f's ``max_pgs_excess_kurtosis``) or to
    ``TrialSettings`` (session 51's ``quantified_liquid_quantity``): only the stages that declare the
    section, or import its model by name, have other code; the pgs and models stages do not. Before
    this fix (``[1]``: ``code_digests`` without ``unread``, what ``fingerprint_parts`` held) every
    stage's code changed: ``['pgs', 'phenotypes', 'cohort', 'models', 'report'] != ['phenotypes',
    'cohort', 'report']``."""
    first = stage_code_after("trd_spark.config", "", "")
    after = stage_code_after("trd_spark.config", *NEW_KEY[section])
    assert _changed(first[0], after[0]) == now
    assert _changed(first[1], after[1]) == before
    assert all(list(after[0][s]) == list(after[1][s]) for s in STAGES)  # the same modules, only config's part


def test_an_edit_of_a_model_the_stage_reads_still_changes_its_code(stage_code_after):
    """The cut is only of sections a stage cannot read: an edit of a liftover default (``pgs``,
    read by pgs, cohort and report) or of a model default (``models``, read by models and report)
    still changes those stages' code, and only theirs beyond what reads them by name."""
    first = stage_code_after("trd_spark.config", "", "")[0]
    pgs = stage_code_after("trd_spark.config", "min_match: float = Field(0.95,", "min_match: float = Field(0.90,")[0]
    assert {"pgs", "cohort", "report"} <= set(_changed(first, pgs))
    assert "phenotypes" not in _changed(first, pgs)


def test_unread_settings_are_the_sections_outside_each_stages_slice():
    """Which settings models each stage's code digest does not follow from ``Config``."""
    unread = {s: {n.partition(":")[2] for n in unread_settings(STAGE_SPECS[s])} for s in STAGES}
    assert unread["pgs"] == {"AncestryInput", "OmopInput", "PhenotypeSettings", "CovariateSettings", "ModelSettings",
                             "ReportSettings", "ConceptSets"}
    assert unread["phenotypes"] == {"Dataset", "AncestryInput", "PgsSettings", "CovariateSettings", "ModelSettings",
                                    "ReportSettings", "TraitPanel"}
    assert unread["cohort"] == {"OmopInput", "ModelSettings", "ConceptSets"}
    assert unread["models"] == {"AncestryInput", "PgsSettings", "OmopInput", "PhenotypeSettings", "ReportSettings",
                                "ConceptSets"}
    assert unread["report"] == {"AncestryInput", "ConceptSets"}
    for s in STAGES:  # a runtime key's model is provenance.RUNTIME_SETTINGS' business
        assert not {n for n in unread_settings(STAGE_SPECS[s])} & set(provenance.RUNTIME_SETTINGS)


def _toy(section: str = "", **values):
    cfg = load_config(None, overrides={"output_root": "/tmp/s52-rerun8-unused"})
    if not section:
        return cfg
    *parents, leaf = section.split(".")
    chain = [cfg]
    for part in [*parents, leaf]:
        chain.append(getattr(chain[-1], part))
    node = chain[-1].model_copy(update=values)
    for parent, part in zip(reversed(chain[:-1]), reversed([*parents, leaf]), strict=True):
        node = parent.model_copy(update={part: node})
    return node


def test_this_sessions_settings_are_in_the_slices_of_the_stages_that_read_them():
    """report.max_pgs_excess_kurtosis (e1d1b0f) changes the report's slice only;
    phenotypes.trials.quantified_liquid_quantity (session 51) the phenotypes and report slices (cohort
    and models rerun after phenotypes through its run id). A guard: passes before the fix."""
    base = _toy()
    kurtosis = _toy("report", max_pgs_excess_kurtosis=0.5)
    liquid = _toy("phenotypes.trials", quantified_liquid_quantity="ml")
    assert kurtosis.report.max_pgs_excess_kurtosis == 0.5
    assert liquid.phenotypes.trials.quantified_liquid_quantity == "ml"

    def differ(a, b):
        return [s for s in STAGES if config_slice(a, STAGE_SPECS[s]) != config_slice(b, STAGE_SPECS[s])]

    assert differ(base, kurtosis) == ["report"]
    assert differ(base, liquid) == ["phenotypes", "report"]


def test_a_symlinked_input_re_pointed_is_a_change_and_to_a_copy_of_the_same_bytes_is_none(tmp_path):
    """An input named through a symbolic link (a file, and a folder of tables) whose link is
    re-pointed: the stat recorded under the link's path is the old target's (another inode), so the
    new target is read: other bytes change the input, the same bytes in a copy do not. A guard:
    passes before the fix."""
    a, b, same = tmp_path / "a.tsv", tmp_path / "b.tsv", tmp_path / "same.tsv"
    a.write_text("s1\tEUR\n")
    b.write_text("s1\tAFR\n")  # same size, other bytes
    same.write_text("s1\tEUR\n")
    link = tmp_path / "ancestry.tsv"
    link.symlink_to(a)
    first = files_fingerprint(str(link), [str(link)], None, None)
    st = os.stat(link)  # the record a run made of it (through the link: the target's stat)
    recorded = {str(link): [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                            _local_file_state(str(link))[2].removeprefix("sha256:")]}
    link.unlink()
    link.symlink_to(b)
    assert input_fingerprint(str(link), None, recorded)["digest"] != first["digest"]
    link.unlink()
    link.symlink_to(same)
    assert input_fingerprint(str(link), None, recorded)["digest"] == first["digest"]

    data1, data2 = tmp_path / "cdr1", tmp_path / "cdr2"
    for data, value in ((data1, b"x" * 10), (data2, b"y" * 10)):
        (data / "drug_exposure").mkdir(parents=True)
        (data / "drug_exposure" / "part-0.parquet").write_bytes(value)
    omop = tmp_path / "omop"
    omop.symlink_to(data1, target_is_directory=True)
    before = input_fingerprint(str(omop))
    omop.unlink()
    omop.symlink_to(data2, target_is_directory=True)
    now = input_fingerprint(str(omop))
    assert now["digest"] != before["digest"]
    assert _entry_changes(before, now) == "drug_exposure changed"


def test_a_deleted_partition_folder_of_an_omop_table_reruns_phenotypes(tmp_path):
    """``drug_exposure/`` as Hive partitions (``year=2020/``, ``year=2021/``), one partition folder
    deleted (a copy stopped, a cleanup): the phenotypes stage's read files (``stage_input_files``)
    lose its part and the input changes, the reason naming the table. A guard: passes before."""
    from trd_spark.phenotypes.omop import stage_input_files

    omop = tmp_path / "omop"
    shutil.copytree(LIQUID, omop)
    drugs = omop / "drug_exposure.parquet"
    table = pq.read_table(drugs)
    drugs.unlink()
    for year in (2020, 2021):
        (omop / "drug_exposure" / f"year={year}").mkdir(parents=True)
        pq.write_table(table, omop / "drug_exposure" / f"year={year}" / "part-0.parquet")
    cfg = load_config(None, overrides={
        "output_root": str(tmp_path / "results"), "toy_data": None,
        "omop": {"format": "parquet", "path": str(omop), "data_cutoff_date": "2023-07-01",
                 "ehr_evidence": "observation_period"}})
    spec = STAGE_SPECS["phenotypes"]
    files = stage_input_files(cfg, None)["omop.path"]
    assert sum("/drug_exposure/year=" in f for f in files) == 2
    before = fingerprint_parts(cfg, spec, LocalFs(), {})["inputs"]
    shutil.rmtree(omop / "drug_exposure" / "year=2021")
    now = fingerprint_parts(cfg, spec, LocalFs(), {})["inputs"]
    assert changed_inputs(before, now) == ["omop.path"]
    assert _entry_changes(before["omop.path"], now["omop.path"]) == "drug_exposure changed"


def test_an_input_with_an_mtime_in_the_future_is_judged_by_its_bytes(tmp_path):
    """Clock skew: an input whose mtime is a year ahead (written by a host whose clock ran fast,
    ``touch -d``), rewritten in place with its size and that future mtime kept: changed (the
    kernel's ctime moved, so its bytes are read); touched again with the same bytes: unchanged.
    Nothing compares times with the clock. A guard: passes before the fix."""
    path = tmp_path / "related.tsv"
    path.write_bytes(b"s1\ts2\n")
    future = time.time_ns() + 365 * 86400 * 10**9
    os.utime(path, ns=(future, future))
    st = os.stat(path)
    old = _local_file_state(str(path))[2].removeprefix("sha256:")
    recorded = {str(path): [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, old]}
    before = input_fingerprint(str(path), None, recorded)
    with open(path, "r+b") as f:
        f.write(b"s1\ts3\n")
    os.utime(path, ns=(future, future))
    assert input_fingerprint(str(path), None, recorded)["digest"] != before["digest"]
    with open(path, "r+b") as f:
        f.write(b"s1\ts2\n")
    os.utime(path, ns=(future, future + 10**9))
    assert input_fingerprint(str(path), None, recorded)["digest"] == before["digest"]
