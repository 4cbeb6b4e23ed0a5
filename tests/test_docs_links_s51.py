"""Every relative link, ``#anchor`` and named section reference in README.md and docs/*.md resolves.

The README was cut down and its per-stage reference moved into docs/ (session 51); the two refer to
each other by Markdown links (``[docs/pgs.md](docs/pgs.md)``, ``[Privacy](#privacy)``) and by section
names in prose (``docs/privacy.md, "Two releases' exports"``, ``README, "Commands"``). A link to a file
that is not there, an anchor no heading makes, or a quoted section title no heading has sends a reader
nowhere. Pure text checks: no Spark.
"""

from __future__ import annotations

import re
import typing
import unicodedata
from pathlib import Path

import pytest
from pydantic import BaseModel

from trd_spark.config import Config

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
# Prose references to a section by its title: `docs/x.md, "Title"`, `x.md "Title"`, `README, "Title"`,
# `README ("Title"`, and within one file `"Title", below` and, in README, `("Title")` for its own sections
# (in docs/ a parenthesised quote is a message, e.g. plink2's `("Found 3000 samples in fam file")`).
_FILE_SECTION = re.compile(r"\b((?:docs/)?[a-z]+\.md|README)(?:,| \(|,? (?:section|sections)?)\s*\"([^\"]+)\"")
# `see Title` with no document named: the title must be one of this file's own headings.
_SEE = re.compile(r"\b[Ss]ee ([A-Z][\w'-]*(?: [\w'-]+){0,6})")
_OWN_SECTION = re.compile(r"(?<!README )\(\"([A-Z][^\"]+)\"\)|\"([A-Z][^\"]+)\",? (?:below|above)")


def _prose(text: str) -> str:
    """The file's text without fenced code blocks, whitespace runs (line breaks) as one space."""
    return re.sub(r"\s+", " ", _FENCE.sub("", text))


def _title(heading: str) -> str:
    """A heading's text as a reader quotes it: Markdown code ticks and emphasis left out."""
    return re.sub(r"[`*_]", "", heading).strip()


def github_slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but ``-`` and ``_`` removed, spaces ``-``."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    kept = "".join(
        ch for ch in text if ch in "-_ " or unicodedata.category(ch)[0] in ("L", "N")
    )
    return kept.replace(" ", "-")


def headings(path: Path) -> list[str]:
    """Every heading of a Markdown file, outside fenced code, in order."""
    return [m.group(2) for m in _HEADING.finditer(_FENCE.sub("", path.read_text()))]


def anchors(path: Path) -> set[str]:
    """The anchors GitHub makes for a file's headings (a repeated slug gets ``-1``, ``-2`` ...)."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for h in headings(path):
        slug = github_slug(h)
        n = seen.get(slug, 0)
        out.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    return out


def _target(src: Path, name: str) -> Path | None:
    """The document a prose reference names: README, docs/x.md, or x.md beside the source in docs/."""
    if name == "README":
        return REPO / "README.md"
    for cand in (REPO / name, REPO / "docs" / name, src.parent / name):
        if cand.is_file():
            return cand
    return None


def _id(p: Path) -> str:
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else p.name


def broken_links(path: Path) -> list[str]:
    """Relative links of ``path`` whose file is missing or whose ``#anchor`` no heading makes."""
    bad = []
    for m in _LINK.finditer(_prose(path.read_text())):
        target = m.group(1)
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            bad.append(f"{_id(path)}: ({target}): no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{_id(path)}: ({target}): no heading makes #{anchor} in {_id(dest)}")
    return bad


_MD_NAME = re.compile(r"(?<![\w./-])/?([\w./-]+\.md)\b")


def unshipped_documents(path: Path) -> list[str]:
    """Names of ``.md`` files in ``path``'s prose that the repository does not hold (a reader has no
    ``/work/shared/study.md``): by path from the repository, docs/ or the file's folder, else by name."""
    shipped = {p.name for p in REPO.glob("*.md")} | {p.name for p in REPO.glob("*/*.md")}
    bad = []
    for m in _MD_NAME.finditer(_prose(path.read_text())):
        name = m.group(1)
        if m.group(0).startswith("/") or (
            _target(path, name) is None and ("/" in name or name not in shipped)
        ):
            bad.append(f"{_id(path)}: {m.group(0)}: not in the repository")
    return bad


def broken_section_refs(path: Path) -> list[str]:
    """Quoted section titles in ``path``'s prose that no heading of the named document has."""
    text = _prose(path.read_text())
    bad = []
    for m in _FILE_SECTION.finditer(text):
        dest = _target(path, m.group(1))
        if dest is None:
            bad.append(f"{_id(path)}: {m.group(0)!r}: no such document")
        elif m.group(2) not in {_title(h) for h in headings(dest)}:
            bad.append(f"{_id(path)}: {m.group(0)!r}: no such heading in {_id(dest)}")
    own = {_title(h) for h in headings(path)}
    for m in _OWN_SECTION.finditer(text):
        title = m.group(1) or m.group(2)
        if m.group(1) and path.name != "README.md":
            continue
        if title not in own and len(title.split()) <= 8 and not title.isupper():
            bad.append(f"{_id(path)}: {m.group(0)!r}: no such heading in {_id(path)}")
    elsewhere = {_title(h) for d in DOCS if d != path for h in headings(d)} - own
    for m in _SEE.finditer(text):
        words = m.group(1).split()
        for k in range(len(words), 0, -1):
            title = " ".join(words[:k])
            if title in own:
                break
            if title in elsewhere:
                bad.append(f"{_id(path)}: 'see {title}': a section of another document, not named")
                break
    return bad


_KEY = re.compile(r"`([a-z_]+(?:\[\])?(?:\.[a-z_0-9]+(?:\[\])?)+)`")
# Short forms the docs use for keys under `phenotypes` (the README's rule-switch table).
_SHORT = {"mdd": ["phenotypes", "mdd"], "trials": ["phenotypes", "trials"]}
_FILE_SUFFIX = re.compile(r"\.(html|yaml|yml|md|tsv|json|parquet|txt|gz|py)$")


def _submodel(annotation: object) -> type[BaseModel] | None:
    """The config section (pydantic model) a field holds, through ``list[...]`` / ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def unknown_config_keys(path: Path) -> list[str]:
    """Backticked dotted names in ``path`` that start with a config section (``pgs.``, ``omop.`` ...)
    but are no key of ``trd_spark.config.Config``. A Spark property (``spark.driver.memory``, no field
    of the ``spark`` section) and a file name (``report.html``) are not keys; code is written with its
    package, ``trd_spark.releases.judged``, so that a reader does not look for it in the YAML."""
    bad = []
    for m in _KEY.finditer(path.read_text()):
        key = m.group(1)
        if _FILE_SUFFIX.search(key):
            continue
        parts = [p.removesuffix("[]") for p in key.split(".")]
        parts = _SHORT.get(parts[0], [parts[0]]) + parts[1:]
        if parts[0] not in Config.model_fields:
            continue
        if parts[0] == "spark" and parts[1] not in Config.model_fields["spark"].annotation.model_fields:  # type: ignore[union-attr]
            continue
        model: type[BaseModel] | None = Config
        for part in parts:
            if model is None:  # a mapping's key (`trials.ingredient_min_daily_dose.<id>`) or a leaf
                break
            if part not in model.model_fields:
                bad.append(f"{_id(path)}: `{key}`: no config key {part!r} there")
                break
            model = _submodel(model.model_fields[part].annotation)
    return bad


@pytest.mark.parametrize("path", DOCS, ids=_id)
def test_every_config_key_named_exists(path: Path) -> None:
    """Found: docs/reruns.md and docs/privacy.md wrote functions as `releases.lock_refresh_seconds`,
    `releases.judged`, `omop.read_omop_table`, `phenotypes.stage.data_gates`, which read as keys of
    the YAML's `releases`, `omop`, `phenotypes` sections (beside the real `releases.lock_refresh_minutes`);
    they are written with their package now, and every dotted name under a config section must be a
    key."""
    assert unknown_config_keys(path) == []


@pytest.mark.parametrize("path", DOCS, ids=_id)
def test_every_relative_link_and_anchor_resolves(path: Path) -> None:
    """Found: docs/pgs.md pointed its reader to "see Privacy" and "see Loading the outputs", sections
    that stayed in README when the reference moved out, and docs/phenotypes.md to concepts.md, a
    file that is not in the repository; those are links now, checked here."""
    assert broken_links(path) == []
    assert unshipped_documents(path) == []


@pytest.mark.parametrize("path", DOCS, ids=_id)
def test_every_quoted_section_reference_names_a_heading(path: Path) -> None:
    """A reference such as ``docs/reruns.md, "Reruns"`` or ``README ("Privacy")`` names a heading
    of that document, word for word (a renamed heading leaves it pointing nowhere)."""
    assert broken_section_refs(path) == []


def test_the_checker_catches_a_dead_anchor_and_section(tmp_path: Path) -> None:
    """The checks themselves: a missing file, a wrong anchor and an unknown section title are found;
    GitHub's slug drops punctuation and keeps a heading's words (``Quick start (fresh ...)``)."""
    assert github_slug("Quick start (fresh Debian machine with Python 3.11)") == (
        "quick-start-fresh-debian-machine-with-python-311"
    )
    assert github_slug("Two releases' exports") == "two-releases-exports"
    assert github_slug("What `export/` holds") == "what-export-holds"
    doc = tmp_path / "probe.md"
    doc.write_text(
        "# Probe\n\n## Real one\n\n[a](#real-one) [b](#gone) [c](nowhere.md)"
        f" [d]({REPO}/docs/privacy.md#not-there) [e]({REPO}/docs/privacy.md#compare-releases)"
        ' and docs/reruns.md, "No such section" and "Real one", above and "Missing one", below;'
        " see Real one; see Privacy.\n"
    )
    names = tmp_path / "names.md"
    names.write_text("Verified in concepts.md and /work/shared/study.md; RESULTS.md, docs/pgs.md, pgs.md.\n")
    assert [b.split(": ")[1] for b in unshipped_documents(names)] == ["concepts.md", "/work/shared/study.md"]
    links = broken_links(doc)
    refs = broken_section_refs(doc)
    assert len(links) == 3 and any("#gone" in b for b in links) and any("nowhere.md" in b for b in links)
    assert any("No such section" in b for b in refs) and any("Missing one" in b for b in refs)
    assert any("'see Privacy'" in b for b in refs)
    assert not any("Real one" in b for b in refs)


_CODE_REF = re.compile(r"\b(README|docs/[a-z]+\.md)(?:'s)?[,:]? \(?(?:\"([A-Z][^\"\n]{2,60})\"|'([A-Z][^\n]{2,60}?)'(?=[),;.:\"]|\s*$))", re.M)


def stale_code_references() -> list[str]:
    """``README "Title"`` / ``docs/x.md "Title"`` in the code, configs and scripts whose title is no
    heading of that document (a user reads them in messages and in the shipped YAML's comments)."""
    bad = []
    roots = [REPO / "trd_spark", REPO / "conf", REPO / "scripts", REPO / "jobs"]
    files = [p for r in roots for p in sorted(r.rglob("*")) if p.suffix in (".py", ".yaml", ".sh")]
    titles: dict[str, set[str]] = {}
    for path in files:
        text = path.read_text()
        if path.suffix == ".py":  # implicit concatenation: "...docs/privacy.md, 'Two " "releases' exports'"
            text = re.sub(r"\"\s*\n\s*f?\"", "", text)
        text = re.sub(r"\s*\n\s*(#\s*)?", " ", text)
        for m in _CODE_REF.finditer(text):
            doc = REPO / ("README.md" if m.group(1) == "README" else m.group(1))
            if not doc.is_file():
                bad.append(f"{_id(path)}: {m.group(0)!r}: no such document")
                continue
            known = titles.setdefault(doc.name, {_title(h) for h in headings(doc)})
            title = m.group(2) or m.group(3)
            if title not in known and not any(k.startswith(title + ":") for k in known):
                bad.append(f"{_id(path)}: {m.group(0)!r}: no such heading in {_id(doc)}")
    return bad


def test_code_and_config_references_name_a_heading() -> None:
    """Found: conf/concept_sets.yaml's comment pointed at README "Concepts" and code comments at
    README "Not covered" / "Two releases' exports", sections that moved to docs/."""
    assert stale_code_references() == []


def _section(path: Path, title: str) -> str:
    """The text of one ``## title`` section of a Markdown file (up to the next ``## `` heading)."""
    text = path.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start: end if end > 0 else None]


def test_outputs_doc_lists_every_status_and_reason() -> None:
    """Found: no document listed the values of `exclusion_reason` (`under_18_at_index`,
    `depression_not_mdd` ... appeared nowhere) or of `failure_reason` (`quasi_separation`,
    `singular_information` ...): a reader of the tables could not tell what a value means.
    docs/outputs.md "Statuses and reasons" lists them; every value of the code's vocabulary, and the
    default exclusion sets (also reasons), must be there."""
    from trd_spark.config import MddSettings
    from trd_spark.vocabulary import ExclusionReason, ModelFailure, Status

    section = _section(REPO / "docs" / "outputs.md", "Statuses and reasons")
    values = [*ExclusionReason, *ModelFailure, *(s for s in Status if s is not Status.MDD)]
    values += MddSettings().exclude_concept_sets
    assert [v for v in values if f"`{v}`" not in section] == []


_REPO_PATH = re.compile(r"(?<![\w/.-])((?:tests|trd_spark|conf|scripts|benchmarks|jobs|docs|\.ci)/[\w./-]*[\w/])")
# Placeholders the docs explain: the user's own config, any config.
_PLACEHOLDER_PATHS = {"conf/my_releases.yaml", "conf/x.yaml"}


def missing_repo_paths(path: Path) -> list[str]:
    """Repository paths (tests/..., trd_spark/..., conf/..., scripts/...) named in ``path`` that do
    not exist; a glob or a ``<placeholder>`` is not a path, nor one inside a URI (gs://b/jobs/r1)."""
    bad = []
    for m in _REPO_PATH.finditer(path.read_text()):
        name = m.group(1)
        end = m.end(1)
        if name in _PLACEHOLDER_PATHS or path.read_text()[end: end + 1] in "*<{":
            continue
        if not (REPO / name).exists():
            bad.append(f"{_id(path)}: {name}: no such file or directory")
    return bad


@pytest.mark.parametrize("path", DOCS, ids=_id)
def test_every_repository_path_named_exists(path: Path) -> None:
    """A test, module or config the docs cite as evidence or as the place to look must be there
    (a renamed test file leaves its claim unchecked)."""
    assert missing_repo_paths(path) == []
