"""Fuzzing (hypothesis): the scoring-file parser and the config loader either parse or raise
our own error type (``TrdSparkError``), never another exception. No Spark; bounded examples."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trd_spark.config import REPO_CONF_DIR, load_config
from trd_spark.errors import TrdSparkError
from trd_spark.pgs.scoring_files import read_scoring_file

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

HEADER_KEYS = ["pgs_id", "genome_build", "HmPOS_build", "variants_number", "weight_type", "trait_reported", "x"]
COLUMNS = ["chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight", "hm_chr", "hm_pos",
           "is_haplotype", "dosage_0_weight", "rsID"]
VALUES = st.one_of(
    st.sampled_from(["1", "chr2", "X", "100", "-5", "0", "1.5", "A", "ACGT", "N", "", "NA", "NR", "nan", "inf",
                     "-inf", "1e400", "GRCh38", "hg19", "True", "PGS000001", "\u00e9", " "]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\t\r\n"), max_size=8),
)


@st.composite
def scoring_texts(draw) -> str:
    header = [f"#{k}={draw(VALUES)}" for k in draw(st.lists(st.sampled_from(HEADER_KEYS), max_size=6))]
    if draw(st.booleans()):
        header.insert(0, "#pgs_id=PGS000001")
    cols = draw(st.lists(st.sampled_from(COLUMNS), min_size=0, max_size=8))
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        n = len(cols) + draw(st.sampled_from([0, 0, 0, -1, 1]))
        rows.append("\t".join(draw(VALUES) for _ in range(max(n, 0))))
    lines = [*header, *(["\t".join(cols)] if cols or draw(st.booleans()) else []), *rows]
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))


@FUZZ
@given(text=scoring_texts(), compress=st.sampled_from(["plain", "gzip", "truncated_gzip"]))
def test_scoring_file_parser_raises_only_our_errors(tmp_path, text, compress):
    path = tmp_path / "fuzz.txt.gz"
    data = text.encode()
    if compress != "plain":
        data = gzip.compress(data)
        if compress == "truncated_gzip":
            data = data[: max(2, len(data) // 2)]
    path.write_bytes(data)
    try:
        sf = read_scoring_file(str(path), duplicate_variants="first")
    except TrdSparkError as e:
        assert str(path) in str(e)  # every error names the file
    else:
        assert sf.variants["effect_weight"].notna().all()


TOY = yaml.safe_load((REPO_CONF_DIR / "toy.yaml").read_text())
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.just("{release}"), st.just("${NO_SUCH_VARIABLE_X}"))
YAMLISH = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                       max_leaves=6)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


TOY_PATHS = [p for p in _paths(TOY) if p]


@st.composite
def mutated_configs(draw):
    raw = yaml.safe_load(yaml.safe_dump(TOY))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(TOY_PATHS))
        node = raw
        try:
            for k in path[:-1]:
                node = node[k]
            action = draw(st.sampled_from(["set", "delete", "add_key"]))
            if action == "set":
                node[path[-1]] = draw(YAMLISH)
            elif action == "delete" and isinstance(node, dict):
                node.pop(path[-1], None)
            elif isinstance(node, dict):
                node[draw(st.text(max_size=8))] = draw(YAMLISH)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or replaced this path
    return raw


@FUZZ
@given(raw=mutated_configs())
def test_config_loader_raises_only_our_errors(tmp_path, raw):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    # Relative paths in the toy config resolve against conf/: keep them pointing there.
    for name in ("concept_sets.yaml", "trait_panel_toy.yaml"):
        if not (tmp_path / name).exists():
            (tmp_path / name).symlink_to(REPO_CONF_DIR / name)
    try:
        load_config(path)
    except TrdSparkError as e:
        assert str(tmp_path) in str(e) or "fuzz.yaml" in str(e) or str(REPO_CONF_DIR) in str(e), str(e)


@FUZZ
@given(text=st.text(max_size=200))
def test_config_loader_on_arbitrary_text(tmp_path, text):
    path = tmp_path / "any.yaml"
    path.write_text(text)
    with pytest.raises(TrdSparkError):
        load_config(path)


def test_toy_config_itself_loads():
    """The fuzzers' starting point is valid (else every mutation would fail trivially)."""
    assert load_config(REPO_CONF_DIR / "toy.yaml").release == TOY["release"]
    assert Path(REPO_CONF_DIR / "toy.yaml").exists()
