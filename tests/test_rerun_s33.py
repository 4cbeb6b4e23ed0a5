"""Session 33, stale and needless reruns (the rerun hunter): settings whose change reran stages
that do not read them, or reran none of the stages whose outputs depend on them.

Stages are published with the real ``publish_stage`` on small inputs (test_pipeline_rerun's
fixture: a one-line output per stage, the manifest and run id the runner reads); then one
setting changes and ``stages.plan`` (what ``run`` and ``explain`` decide with) must name exactly
the stages that would rerun.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_pipeline_rerun import _publish, _reruns, published_in

from trd_spark.config import Config, TraitPanel
from trd_spark.layout import STAGES
from trd_spark.releases import LocalFs
from trd_spark.stages import STAGE_SPECS, config_view, plan


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory) -> Config:
    """test_pipeline_rerun's ``published``, once for the module."""
    return published_in(spark, tmp_path_factory.mktemp("rerun_s33"))


def _with_panel(cfg: Config, **changes: object) -> Config:
    panel = TraitPanel.model_validate({**cfg.trait_panel.model_dump(mode="json"), **changes})
    return cfg.model_copy(update={"trait_panel": panel})


def test_a_trait_still_to_curate_reruns_nothing_and_curating_it_reruns_pgs_onwards(published):
    """A panel entry without a ``pgs_id`` (a trait still to curate) is listed by check-config
    and download-scores and read by no stage, yet the panel's whole content was in the pgs,
    cohort, models and report slices: noting one reran every stage, hours of PGS scoring at
    All of Us scale. Giving it its ``pgs_id`` (it moves to ``scores``) reruns pgs onwards."""
    cfg = published
    todo = {"trait": "Loneliness", "domain": "personality"}
    noted = _with_panel(cfg, to_curate=[todo])
    assert noted.trait_panel.to_curate and _reruns(noted) == []
    curated = _with_panel(cfg, scores=[*cfg.trait_panel.model_dump(mode="json")["scores"],
                                       {**todo, "pgs_id": "PGS900011"}])
    assert _reruns(curated) == ["pgs", "cohort", "models", "report"]
    assert plan(curated, LocalFs())["pgs"] == ["config changed: trait_panel.scores"]
    # No stage may come to depend on it unseen: reading it through a stage's view is refused.
    with pytest.raises(LookupError, match="trait_panel.to_curate"):
        _ = config_view(noted, STAGE_SPECS["report"]).trait_panel.to_curate


def test_reordering_the_panel_domains_reruns_only_the_report(published):
    """The panel's list of domains orders the report's domain sections and is read by the report
    alone; each score's own domain is its label in the pgs scores table and the models' rows.
    Reordering the list reran pgs, cohort, models and report; moving a score to another domain
    still reruns them all."""
    cfg = published
    reordered = _with_panel(cfg, domains=list(reversed(cfg.trait_panel.domains)))
    assert _reruns(reordered) == ["report"]
    assert plan(reordered, LocalFs())["report"] == ["config changed: trait_panel.domains"]
    with pytest.raises(LookupError, match="trait_panel.domains"):
        _ = config_view(reordered, STAGE_SPECS["pgs"]).trait_panel.domains
    scores = cfg.trait_panel.model_dump(mode="json")["scores"]
    moved = [{**scores[0], "domain": "cognition" if scores[0]["domain"] != "cognition" else "sleep"}, *scores[1:]]
    assert _reruns(_with_panel(cfg, scores=moved)) == ["pgs", "cohort", "models", "report"]


def test_a_spark_setting_that_skips_unreadable_files_reruns_every_stage(spark, published):
    """``spark.sql.files.ignoreCorruptFiles`` / ``ignoreMissingFiles`` make Spark's file sources
    skip a part file they cannot read and return the rest; under the ``spark.sql.files.`` prefix
    of the split sizes they counted as tuning, in no slice: the outputs made while a corrupt OMOP
    part was skipped stayed current after the setting was removed. The split sizes still rerun
    nothing."""
    cfg = published

    def with_conf(**conf: str) -> Config:
        return cfg.model_copy(update={"spark": cfg.spark.model_copy(update={"extra_conf": conf})})

    assert _reruns(with_conf(**{"spark.sql.files.maxPartitionBytes": "64m"})) == []
    for key in ("spark.sql.files.ignoreCorruptFiles", "spark.sql.files.ignoreMissingFiles"):
        skipping = with_conf(**{key: "true"})
        assert _reruns(skipping) == list(STAGES), key
        assert plan(skipping, LocalFs())["phenotypes"] == [f"config changed: spark.extra_conf.{key}"]
    skipping = with_conf(**{"spark.sql.files.ignoreCorruptFiles": "true"})
    _publish(spark, skipping)
    assert _reruns(skipping) == []
    assert _reruns(cfg) == list(STAGES)  # the setting removed: every output made under it reruns
    _publish(spark, cfg)


@pytest.fixture
def edited_vocabulary(monkeypatch):
    """``provenance.code_digests`` as it reads ``trd_spark.vocabulary`` after an edit: a
    function ``edit(old, new)`` replacing text in the module's source (the file is not
    touched), then the five stages' digests afresh."""
    from trd_spark import provenance

    real = provenance._source  # noqa: SLF001
    text = real("trd_spark.vocabulary")[0]
    edits: list[tuple[str, str]] = []

    def source(name: str):
        if name != "trd_spark.vocabulary":
            return real(name)
        out = text
        for old, new in edits:
            assert old in out, old
            out = out.replace(old, new)
        return out, False

    monkeypatch.setattr(provenance, "_source", source)

    def edit(old: str, new: str) -> dict[str, dict[str, str]]:
        edits.append((old, new))
        provenance.code_digests.cache_clear()
        return {s: provenance.code_digests(STAGE_SPECS[s].module) for s in STAGES}

    provenance.code_digests.cache_clear()
    yield edit
    monkeypatch.undo()
    provenance.code_digests.cache_clear()


def _changed(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[str]:
    return [s for s in STAGES if before[s] != after[s]]


def test_a_phenotype_rules_concept_ids_in_vocabulary_do_not_rerun_the_pgs_stage(edited_vocabulary):
    """``trd_spark.vocabulary`` holds the phenotype rules' concept IDs beside the enums every
    stage uses; ``config`` imports ``vocabulary.Contrast``, so every stage imported it and its
    code digest was the whole module's: adding a drug type concept ID (session 32) or a
    condition status (session 33) reran the pgs stage, hours of scoring at All of Us scale that
    read none of them. A stage's code is now the part of it its modules take by name."""
    before = edited_vocabulary("", "")
    # The administration drug types: the phenotype stage's trials read them, no other stage.
    after = edited_vocabulary("frozenset({32818, ", "frozenset({32817, 32818, ")
    assert _changed(before, after) == ["phenotypes"]
    assert [k for k in after["phenotypes"] if after["phenotypes"][k] != before["phenotypes"][k]] == [
        "trd_spark.vocabulary"]
    # A status the cohort flow, the models and the report read too (through their own names).
    assert _changed(after, edited_vocabulary("class Status(StrEnum):", 'class Status(StrEnum):\n    X = "x"')) == [
        "phenotypes", "cohort", "models", "report"]
    # The contrasts, which the config itself takes: every stage.
    assert _changed(after, edited_vocabulary('class Contrast(StrEnum):', 'class Contrast(StrEnum):\n    X = "x"')) == list(
        STAGES)


def test_a_module_read_whole_or_by_name_digests_all_it_may_run(tmp_path, monkeypatch):
    """By name only when every importer takes names: ``from pkg import shared`` (or ``import
    pkg.shared``, ``from pkg.shared import *``, ``pkg.shared.X`` after ``import pkg``) digests the
    whole module, and a name's
    definition counts with every module-level name it uses (a constant built from another)."""
    from temp_package import shared_digests, temp_package

    files = {
        "__init__.py": "",
        "shared.py": 'from enum import StrEnum\n\n\nclass Kind(StrEnum):\n    A = "a"\n\n\n'
                     "RULE_IDS = frozenset({1, 2})\nBOTH = RULE_IDS | {3}\nOTHER = 4\n",
        "common.py": "from rerun33_pkg.shared import Kind\n",
        "scores.py": "from rerun33_pkg import common\n",
        "rules.py": "from rerun33_pkg import common\nfrom .shared import BOTH\n",
        "whole.py": "from rerun33_pkg import shared\n",
        "star.py": "from rerun33_pkg.shared import *\n",
        # The module object reached through the package (another module imported it by name).
        "attr.py": "import rerun33_pkg\nfrom rerun33_pkg import common\n\n\ndef f():\n"
                   "    return rerun33_pkg.shared.OTHER\n",
        # The module bound under an alias (``import pkg.shared as sh``: no attribute chain spells it).
        "aliased.py": "import rerun33_pkg.shared as sh\nfrom rerun33_pkg import common\n\n\ndef f():\n"
                      "    return sh.OTHER\n",
    }
    mods = ("scores", "rules", "whole", "star", "attr", "aliased")

    def digests() -> dict[str, str]:
        return shared_digests("rerun33_pkg", mods)

    with temp_package(tmp_path, monkeypatch, "rerun33_pkg", files) as root:
        before = digests()
        (root / "shared.py").write_text(files["shared.py"].replace("OTHER = 4", "OTHER = 5"))
        other = digests()
        assert [m for m in mods if other[m] != before[m]] == ["whole", "star", "attr", "aliased"]
        (root / "shared.py").write_text(files["shared.py"].replace("{1, 2}", "{1, 2, 7}"))
        rule = digests()
        assert [m for m in mods if rule[m] != before[m]] == ["rules", "whole", "star", "attr", "aliased"]
        # The module's own imports count with any name taken (a name they bind may be used).
        (root / "shared.py").write_text(files["shared.py"].replace("import StrEnum", "import StrEnum, IntEnum"))
        assert all(v != before[m] for m, v in digests().items())
        (root / "shared.py").write_text(files["shared.py"].replace('A = "a"', 'A = "b"'))
        assert all(v != before[m] for m, v in digests().items())
        # Code other than definitions at the top level: the whole module, for every importer.
        (root / "shared.py").write_text(files["shared.py"] + "print('imported')\n")
        top = digests()
        (root / "shared.py").write_text(files["shared.py"].replace("OTHER = 4", "OTHER = 5") + "print('imported')\n")
        assert all(v != top[m] for m, v in digests().items())
        # A name looked up by string (globals(), vars(), eval, a module __getattr__): the whole
        # module too. (Session 34's review: mutants leaving "vars", "__getattr__" or the module's
        # own locals() out of the rule passed this test when it tried globals() alone.)
        for lookup_code in ("def kind_of(name):\n    return globals()[name]\n", "NAMES = vars()\n",
                            "def kind_of(name):\n    return eval(name)\n", "NAMES = locals()\n",
                            "def __getattr__(name):\n    return {'LEGACY': OTHER}[name]\n"):
            lookup = files["shared.py"] + "\n\n" + lookup_code
            (root / "shared.py").write_text(lookup)
            by_string = digests()
            (root / "shared.py").write_text(lookup.replace("OTHER = 4", "OTHER = 5"))
            assert all(v != by_string[m] for m, v in digests().items()), lookup_code


def test_moving_the_trait_panel_or_concept_set_file_reruns_nothing(published, tmp_path):
    """The panel's and the concept sets' contents are what the stages read (the panel in the
    pgs, cohort, models and report slices, the concept sets in the phenotype stage's); their
    paths are not, yet the report's slice held both paths (all of ``pgs`` and ``phenotypes``):
    the same file copied elsewhere reran the report, a new export. The same content moved now
    reruns nothing; edited, it reruns as before."""
    cfg = published
    panel, sets = tmp_path / "panel.yaml", tmp_path / "sets.yaml"
    panel.write_bytes(Path(cfg.pgs.trait_panel).read_bytes())
    sets.write_bytes(Path(cfg.phenotypes.concept_sets).read_bytes())
    moved = cfg.model_copy(update={"pgs": cfg.pgs.model_copy(update={"trait_panel": str(panel)}),
                                   "phenotypes": cfg.phenotypes.model_copy(update={"concept_sets": str(sets)})})
    assert _reruns(moved) == []
    # Still readable where a message names the file (stages.MESSAGE_KEYS), still no input of the report.
    assert config_view(moved, STAGE_SPECS["report"]).phenotypes.concept_sets == str(sets)
    with pytest.raises(LookupError, match="pgs.trait_panel"):
        _ = config_view(moved, STAGE_SPECS["report"]).pgs.trait_panel
