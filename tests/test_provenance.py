"""A stage's code digest (provenance.code_digests): which modules and libraries it covers, and
that editing one module changes exactly the digests of the modules that import it.

Small packages are written to a temporary directory (and a zip) on sys.path; the real
package's stage modules are checked for the stage-order dependency rule the digests rely on.
"""

from __future__ import annotations

import ast
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from trd_spark.provenance import code_digests

FILES = {
    "__init__.py": "",
    "common.py": "import os\nimport yaml\nVALUE = 1\n",
    "lazy.py": "VALUE = 2\n",
    "a/__init__.py": "",
    "a/stage.py": """
        from __future__ import annotations
        from typing import TYPE_CHECKING
        from {pkg}.common import VALUE
        from . import rules
        if TYPE_CHECKING:
            import pandas
        def run():
            import {pkg}.lazy
            return VALUE
        """,
    "a/rules.py": "from ..common import VALUE as V\n",
    "b/__init__.py": "",
    "b/stage.py": "from {pkg}.lazy import VALUE\n",
}


def _write(root: Path, pkg: str) -> Path:
    for name, text in FILES.items():
        path = root / pkg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).format(pkg=pkg))
    return root / pkg


@pytest.fixture
def on_path(tmp_path):
    sys.path.insert(0, str(tmp_path))
    code_digests.cache_clear()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.split(".")[0].startswith("prov_pkg")]:
        del sys.modules[name]
    code_digests.cache_clear()


def test_digests_follow_absolute_relative_lazy_and_type_checking_imports(on_path):
    _write(on_path, "prov_pkg")
    a = code_digests("prov_pkg.a.stage", package="prov_pkg")
    modules = {k for k in a if not k.startswith("lib:")}
    assert modules == {"prov_pkg", "prov_pkg.common", "prov_pkg.lazy", "prov_pkg.a", "prov_pkg.a.stage",
                       "prov_pkg.a.rules"}
    # Third-party imports are recorded with the installed distribution's version; the
    # standard library (os, typing, __future__) is not.
    import pandas
    import yaml

    assert a["lib:yaml"] == f"PyYAML=={yaml.__version__}"
    assert a["lib:pandas"] == f"pandas=={pandas.__version__}"
    assert not {"lib:os", "lib:typing", "lib:__future__"} & set(a)
    b = code_digests("prov_pkg.b.stage", package="prov_pkg")
    assert {k for k in b if not k.startswith("lib:")} == {"prov_pkg", "prov_pkg.lazy", "prov_pkg.b", "prov_pkg.b.stage"}
    # Nothing but the top-level package (to locate its files) was imported to find this out.
    assert [m for m in sys.modules if m.startswith("prov_pkg")] == ["prov_pkg"]


def test_editing_a_module_changes_only_the_digests_of_its_importers(on_path):
    root = _write(on_path, "prov_pkg")
    a, b = (code_digests(f"prov_pkg.{s}.stage", package="prov_pkg") for s in "ab")
    (root / "common.py").write_text("import os\nimport yaml\nVALUE = 3\n")
    code_digests.cache_clear()
    a2, b2 = (code_digests(f"prov_pkg.{s}.stage", package="prov_pkg") for s in "ab")
    assert [k for k in a if a[k] != a2[k]] == ["prov_pkg.common"]
    assert b2 == b
    (root / "lazy.py").write_text("VALUE = 4\n")  # imported inside a function of a, at the top of b
    code_digests.cache_clear()
    a3, b3 = (code_digests(f"prov_pkg.{s}.stage", package="prov_pkg") for s in "ab")
    assert [k for k in a3 if a3[k] != a2[k]] == ["prov_pkg.lazy"]
    assert [k for k in b3 if b3[k] != b2[k]] == ["prov_pkg.lazy"]


def test_a_package_shipped_as_a_zip_has_the_same_digests(on_path):
    """spark-submit ships the package as a zip on sys.path (scripts/submit.sh)."""
    plain = _write(on_path / "plain", "prov_pkg_zip")
    archive = on_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in plain.rglob("*.py"):
            z.write(f, f.relative_to(plain.parent).as_posix())
    sys.path.insert(0, str(archive))
    try:
        zipped = code_digests("prov_pkg_zip.a.stage", package="prov_pkg_zip")
    finally:
        sys.path.remove(str(archive))
    code_digests.cache_clear()
    sys.path.insert(0, str(on_path / "plain"))
    try:
        assert code_digests("prov_pkg_zip.a.stage", package="prov_pkg_zip") == zipped
    finally:
        sys.path.remove(str(on_path / "plain"))
    assert "prov_pkg_zip.a.rules" in zipped


def test_unknown_module_is_an_error(on_path):
    with pytest.raises(ImportError, match="prov_pkg_missing.stage"):
        code_digests("prov_pkg_missing.stage", package="prov_pkg_missing")


def test_each_stage_digests_its_own_code_and_what_comes_before_it_only():
    """Packages depend in stage order only (pgs, phenotypes, cohort, models, report): so a
    change to a later stage's code cannot rerun an earlier stage."""
    digests = {s: set(code_digests(f"trd_spark.{s}.stage")) for s in ("pgs", "phenotypes", "cohort", "models", "report")}
    assert {"trd_spark.pgs.engine", "trd_spark.pgs.pgen_engine", "trd_spark.pgs.matching", "lib:pgenlib",
            "lib:hail", "trd_spark.vocabulary", "trd_spark.stages"} <= digests["pgs"]
    assert {"trd_spark.models.cox", "trd_spark.models.logistic", "lib:lifelines", "lib:statsmodels"} <= digests["models"]
    assert {"trd_spark.report.suppression", "lib:highspy"} <= digests["report"]
    order = list(digests)
    for i, stage in enumerate(order):
        for later in order[i + 1:]:
            assert not {m for m in digests[stage] if m.startswith(f"trd_spark.{later}.")}, (stage, later)


def test_the_stages_parse_each_module_once_and_an_edited_one_again(on_path, monkeypatch):
    """Every `trd-spark run` and `explain` digests the five stages, which share most modules
    (stages, config, io, ...): each module's code is read into a digest once per process (5.5-6
    -> 1.6-1.9 CPU-s per process, session 29), and a module edited since is read afresh, not
    taken from a cache."""
    from trd_spark import provenance

    digested: list[str] = []
    code_text = provenance._code_text  # noqa: SLF001

    def counting(tree):
        digested.append(tree.body[0].value.value if tree.body and isinstance(tree.body[0], ast.Expr) else "")
        return code_text(tree)

    monkeypatch.setattr(provenance, "_code_text", counting)
    if hasattr(provenance, "_module_code"):  # what this process digested before
        provenance._module_code.cache_clear()  # noqa: SLF001
    stages = [f"trd_spark.{s}.stage" for s in ("pgs", "phenotypes", "cohort", "models", "report")]
    modules = set().union(*({m for m in code_digests(s) if not m.startswith("lib:")} for s in stages))
    # A by-name module the stages take only run control from is read too, then left out (RUN_CONTROL).
    modules |= {c.partition(":")[0] for c in provenance.RUN_CONTROL if ":" in c}
    assert len(digested) == len(modules) > 30

    root = _write(on_path, "prov_pkg_edit")
    for name in ("common.py", "a/rules.py"):  # a docstring names each module in what is digested
        (root / name).write_text(f'"""{name}"""\n' + (root / name).read_text())
    before = code_digests("prov_pkg_edit.a.stage", package="prov_pkg_edit")
    (root / "common.py").write_text('"""common.py"""\nimport os\nimport yaml\nVALUE = 3\n')
    code_digests.cache_clear()  # a new process, or a test that reads the code afresh
    after = code_digests("prov_pkg_edit.a.stage", package="prov_pkg_edit")
    assert {m for m in before if before[m] != after[m]} == {"prov_pkg_edit.common"}
    assert digested.count("common.py") == 2 and digested.count("a/rules.py") == 1


@pytest.mark.parametrize("folder, listed", [("_vendor", False), ("site", True)])
def test_vendored_distributions_do_not_enter_a_library_key(tmp_path, monkeypatch, folder, listed):
    """setuptools puts its ``_vendor`` directory on sys.path once imported, with copies such
    as backports.tarfile: the key of ``backports`` (we import backports.zstd) must not depend
    on whether something imported setuptools first, or a stage reruns for nothing."""
    from trd_spark.provenance import _distribution_versions

    info = tmp_path / folder / "backports.fakecopy-9.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: backports.fakecopy\nVersion: 9.0\n")
    (info / "top_level.txt").write_text("backports\n")
    monkeypatch.syspath_prepend(str(tmp_path / folder))
    _distribution_versions.cache_clear()  # computed once per process
    try:
        assert ("backports.fakecopy==9.0" in _distribution_versions().get("backports", "")) is listed
    finally:
        _distribution_versions.cache_clear()
