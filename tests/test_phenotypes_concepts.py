"""Concept-set expansion against a tiny vocabulary (real IDs + synthetic descendants)."""

from __future__ import annotations

import logging

import pytest
from test_phenotypes_support import (
    ARIPIPRAZOLE_TAB,
    BIPOLAR_DEPRESSION,
    CONCEPTS,
    DEPRESSIVE_DISORDER,
    DYSTHYMIA,
    DYSTHYMIA_CHILD,
    ECT_CPT4,
    ECT_SNOMED,
    FLUOXETINE,
    FLUOXETINE_CAP,
    MDD_CHILD,
    MDD_CONCEPT,
    OLANZAPINE_FLUOXETINE,
    SERTRALINE,
    SERTRALINE_TAB,
    concept_set,
    omop_tables,
    spark_jobs,
)

from trd_spark.config import ConceptRef, ConceptSet, load_config
from trd_spark.errors import ConfigError
from trd_spark.phenotypes.concepts import (
    Vocabulary,
    absent_refs,
    expand_concept_set,
    id_frame,
    ingredient_frame,
    ingredient_map,
    load_vocabulary,
    mismatched_refs,
    nonstandard_refs,
)
from trd_spark.phenotypes.stage import check_standard_concepts, warn_absent_concepts
from trd_spark.stages import STAGE_SPECS, ConfigView
from trd_spark.toydata.vocabulary import CPT4_ECT_90870
from trd_spark.toydata.vocabulary import concept_table as toy_concept_table

ALL_SETS = ("mdd", "depression_spectrum", "ect", "tms", "antidepressants")


@pytest.fixture(scope="module")
def vocab(spark):
    """The vocabulary slice of the sets used here, collected once (two small queries)."""
    t = omop_tables(spark)
    extra = ConceptSet(domain="condition", include=[ConceptRef(concept_id=MDD_CONCEPT, name="MDD", descendants=False)])
    return load_vocabulary([*(concept_set(n) for n in ALL_SETS), extra], t["concept"], t["concept_ancestor"])


def test_mdd_set_keeps_mdd_descendants_and_drops_excluded_branches(vocab):
    ids = expand_concept_set(concept_set("mdd"), vocab)
    assert {DEPRESSIVE_DISORDER, MDD_CONCEPT, MDD_CHILD} <= ids
    # dysthymia and its descendant; the bipolar-depression child of the bipolar branch
    assert DYSTHYMIA not in ids
    assert DYSTHYMIA_CHILD not in ids
    assert BIPOLAR_DEPRESSION not in ids


def test_depression_spectrum_includes_dysthymia_branch(vocab):
    ids = expand_concept_set(concept_set("depression_spectrum"), vocab)
    assert {DEPRESSIVE_DISORDER, DYSTHYMIA, DYSTHYMIA_CHILD, MDD_CHILD, BIPOLAR_DEPRESSION} <= ids


def test_descendants_false_keeps_only_the_concept(vocab):
    cs = ConceptSet(domain="condition", include=[ConceptRef(concept_id=MDD_CONCEPT, name="MDD", descendants=False)])
    assert expand_concept_set(cs, vocab) == {MDD_CONCEPT}


def test_code_reference_resolves_in_concept_table(vocab):
    """ECT set: SNOMED by ID, CPT4 90870 by vocabulary + code (synthetic ID in this vocabulary)."""
    ids = expand_concept_set(concept_set("ect"), vocab)
    assert ECT_CPT4 in ids and ECT_SNOMED in ids
    # TMS codes are absent from this vocabulary: the set resolves to nothing, without error.
    assert expand_concept_set(concept_set("tms"), vocab) == set()


def test_a_code_reference_matching_two_concepts_is_an_error_naming_it(spark):
    """CPT4 90870 on two concept rows (the CDM does not make vocabulary_id + concept_code
    unique): load_vocabulary kept the last row collected, so the ECT set was one of the two
    concepts, silently. One ConfigError names the file, the reference and both concept IDs;
    the same concept on two identical rows is no ambiguity."""
    t = omop_tables(spark)
    concept = t["concept"]
    row = concept.where("vocabulary_id = 'CPT4' AND concept_code = '90870'")
    twice = concept.unionByName(row.selectExpr("concept_id + 7 AS concept_id", *[c for c in concept.columns
                                                                                if c != "concept_id"]))
    with pytest.raises(ConfigError, match=rf"^sets.yaml: 1 vocabulary \+ code reference\(s\) match more than one "
                                          rf"concept .*: CPT4 90870 \(.+\): concept_id {ECT_CPT4}, {ECT_CPT4 + 7}$"):
        load_vocabulary([concept_set("ect")], twice, t["concept_ancestor"], where="sets.yaml")
    same = load_vocabulary([concept_set("ect")], concept.unionByName(row), t["concept_ancestor"])
    assert same.codes == {("CPT4", "90870"): ECT_CPT4}


def test_vocabulary_codes_names_and_found_from_one_concept_query(spark):
    """concept is queried once for code and ID references together, concept_ancestor once, then
    concept once more for the descendants' invalid_reason (round 11): three Spark jobs. A code
    root gets its concept's name and counts as found; an ID absent
    from concept (escitalopram here) and an unresolved code (TMS CPT4) are the absent refs."""
    t = omop_tables(spark)
    sets = [concept_set(n) for n in ALL_SETS]
    got = {}
    assert spark_jobs(spark, lambda: got.setdefault("v", load_vocabulary(sets, t["concept"], t["concept_ancestor"]))) == 3
    v = got["v"]
    assert v.codes == {("CPT4", "90870"): ECT_CPT4}
    assert v.names[ECT_CPT4] == "Electroconvulsive therapy" and v.names[MDD_CONCEPT] == "Major depressive disorder"
    assert v.domains[ECT_CPT4] == "Procedure" and v.domains[MDD_CONCEPT] == "Condition" and v.domains[SERTRALINE] == "Drug"
    assert v.standard[ECT_CPT4] == "S" and v.standard[MDD_CONCEPT] == "S" and 715939 not in v.standard
    assert v.found is not None and {ECT_CPT4, ECT_SNOMED, MDD_CONCEPT, SERTRALINE} <= v.found and 715939 not in v.found
    assert not [r for r in absent_refs(concept_set("ect"), v) if "90870" in r or str(ECT_SNOMED) in r]
    assert len(absent_refs(concept_set("tms"), v)) == 3
    assert [r for r in absent_refs(concept_set("antidepressants"), v) if r.startswith("concept_id 715939 ")]


def test_ingredient_map_products_reach_their_ingredient(spark, vocab):
    rows = ingredient_map(concept_set("antidepressants"), vocab)
    # the Spark frame built from the rows carries them unchanged
    assert sorted(tuple(r)[:3] for r in ingredient_frame(spark, rows).collect()) == rows
    # dose columns: the given amount per (drug, ingredient) and minimum per ingredient, else null
    dosed = ingredient_frame(spark, rows, amounts={(SERTRALINE_TAB, SERTRALINE): 50.0}, min_daily_dose={SERTRALINE: 100.0})
    got = {(r.drug_concept_id, r.ingredient_concept_id): (r.amount_value, r.min_daily_dose) for r in dosed.collect()}
    assert got[(SERTRALINE_TAB, SERTRALINE)] == (50.0, 100.0)
    assert got[(SERTRALINE, SERTRALINE)] == (None, 100.0)
    assert got[(FLUOXETINE_CAP, FLUOXETINE)] == (None, None)
    m = {(d, i): n for d, i, n in rows}
    assert m[(SERTRALINE_TAB, SERTRALINE)] == "sertraline"
    assert m[(SERTRALINE, SERTRALINE)] == "sertraline"
    assert m[(FLUOXETINE_CAP, FLUOXETINE)] == "fluoxetine"
    # combination olanzapine/fluoxetine maps to fluoxetine only (olanzapine is not an antidepressant)
    assert [k for k in m if k[0] == OLANZAPINE_FLUOXETINE] == [(OLANZAPINE_FLUOXETINE, FLUOXETINE)]
    # an antidepressant absent from `concept` keeps the name written in the concept set
    assert m[(715939, 715939)] == "escitalopram"
    assert all(k[0] != ARIPIPRAZOLE_TAB for k in m)
    assert len({c[0] for c in CONCEPTS}) == len(CONCEPTS)


def test_id_frame_one_literal_distinct_longs(spark):
    """id_frame (broadcast side of the study-event filter): each ID once, as long, from ONE
    literal in the plan (an isin / array of literals holds one expression per ID)."""
    ids = [40_100_000_123, 5, 5, 1_100_000]
    df = id_frame(spark, ids, "drug_concept_id")
    assert df.schema["drug_concept_id"].dataType.simpleString() == "bigint"
    assert sorted(r.drug_concept_id for r in df.collect()) == [5, 1_100_000, 40_100_000_123]
    many = id_frame(spark, range(1000, 3000), "drug_concept_id")
    assert many.count() == 2000
    # the joined text, the separator and split's limit, whatever the number of IDs
    assert many._jdf.queryExecution().analyzed().toJSON().count("expressions.Literal") <= 3
    empty = id_frame(spark, [], "drug_concept_id")
    assert empty.count() == 0 and empty.columns == ["drug_concept_id"]


def test_ingredient_frame_json_literal_keeps_values_exactly(spark):
    """The JSON literal keeps doubles bit for bit and names with quotes, commas, unicode (the last column,
    amount_value_low, session 51: a quantified liquid's mg per mL beside its mg per item)."""
    rows = [(1, 10, 'a "quoted", name'), (2, 10, 'a "quoted", name'), (3, 30, "Johanniskraut – ü")]
    amounts = {(1, 10): 0.1 + 0.2, (3, 30): 1e-7}
    got = ingredient_frame(spark, rows, amounts=amounts, min_daily_dose={30: 2.5}, amounts_low={(3, 30): 1e-7 / 3}
                           ).collect()
    assert [tuple(r) for r in sorted(got)] == [
        (1, 10, 'a "quoted", name', 0.1 + 0.2, None, None), (2, 10, 'a "quoted", name', None, None, None),
        (3, 30, "Johanniskraut – ü", 1e-7, 2.5, 1e-7 / 3)]
    assert [f.dataType.simpleString() for f in ingredient_frame(spark, []).schema.fields] == [
        "bigint", "bigint", "string", "double", "double", "double"]
    assert ingredient_frame(spark, []).count() == 0


def _toy_vocabulary(**changed: tuple[str, str]) -> Vocabulary:
    """Every concept of the toy generator's ``concept`` table as a looked-up Vocabulary (no
    Spark); ``changed``: 'c<concept_id>' -> (concept_name, domain_id) replacing that row."""
    t = toy_concept_table().to_pylist()
    rows = {r["concept_id"]: r for r in t}
    for key, (name, domain) in changed.items():
        rows[int(key[1:])] = {**rows[int(key[1:])], "concept_name": name, "domain_id": domain}
    return Vocabulary(
        codes={(r["vocabulary_id"], r["concept_code"]): i for i, r in rows.items()},
        descendants={}, names={i: r["concept_name"] for i, r in rows.items()},
        found=frozenset(rows), domains={i: r["domain_id"] for i, r in rows.items()},
        standard={i: r["standard_concept"] for i, r in rows.items()})


def test_shipped_concept_sets_match_the_toy_vocabulary_rows():
    """conf/concept_sets.yaml's entries carry the domain and name of their toy ``concept`` row."""
    cfg = load_config()
    assert cfg.phenotypes.concept_sets.endswith("concept_sets.yaml")
    sets = cfg.concept_sets.concept_sets
    vocab = _toy_vocabulary()
    assert {n: m for n, cs in sets.items() if (m := mismatched_refs(cs, vocab))} == {}
    assert {n: m for n, cs in sets.items() if (m := nonstandard_refs(cs, vocab))} == {}
    assert [n for n, cs in sets.items() if absent_refs(cs, vocab)] == []  # every entry was compared


@pytest.mark.parametrize(("domain", "ref", "changed", "expected"), [
    # fluoxetine's ID typed into a condition set: a real concept, another domain and name
    ("condition", ConceptRef(concept_id=FLUOXETINE, name="Major depressive disorder"), {},
     [f"concept_id {FLUOXETINE} (Major depressive disorder): domain_id 'Drug', not 'Condition': an ETL writes its "
      "records to drug_exposure, which this set never reads; if it is the concept meant, move it to a set of domain drug",
      f"concept_id {FLUOXETINE}: name 'Major depressive disorder' in the YAML, 'fluoxetine' in concept"]),
    # right domain, another condition's name
    ("condition", ConceptRef(concept_id=DYSTHYMIA, name="Major depressive disorder"), {},
     [f"concept_id {DYSTHYMIA}: name 'Major depressive disorder' in the YAML, 'Dysthymia' in concept"]),
    ("condition", ConceptRef(concept_id=MDD_CONCEPT, name="  major DEPRESSIVE disorder "), {}, []),  # case, blanks
    # a code reference's name is a label; its domain is still compared
    ("procedure", ConceptRef(vocabulary_id="CPT4", concept_code="90870", name="ECT label"), {}, []),
    ("procedure", ConceptRef(vocabulary_id="CPT4", concept_code="90870", name="ECT label"),
     {f"c{CPT4_ECT_90870}": ("Electroconvulsive therapy", "Observation")},
     # Observation (HCPCS G2082/G2083, esketamine in clinic, fall in OHDSI's HCPCS rule G0908-G2252): the chain
     # reads observation since session 36, so the line says to move it to a set of that domain
     [f"concept_id {CPT4_ECT_90870} (ECT label): domain_id 'Observation', not 'Procedure': an ETL writes its records "
      "to observation, which this set never reads; if it is the concept meant, move it to a set of domain "
      "observation"]),
    # a domain the chain reads no table of: the line says the records are missed and what to do
    ("procedure", ConceptRef(vocabulary_id="CPT4", concept_code="90870", name="ECT label"),
     {f"c{CPT4_ECT_90870}": ("Electroconvulsive therapy", "Measurement")},
     [f"concept_id {CPT4_ECT_90870} (ECT label): domain_id 'Measurement', not 'Procedure': an ETL writes its records "
      "to measurement, which this set never reads; the chain reads no measurement, so they are missed (docs/phenotypes.md, "
      "'Concepts'): if it is the concept meant, drop it and count those records apart"]),
    # absent from concept: absent_refs' line, not this one
    ("drug", ConceptRef(concept_id=715939, name="escitalopram"), {}, []),
])
def test_mismatched_refs_domain_and_name(domain, ref, changed, expected):
    vocab = _toy_vocabulary(**changed)
    vocab = Vocabulary(vocab.codes, {}, vocab.names, vocab.found - {715939}, vocab.domains)
    cs = ConceptSet(domain=domain, exclude=[ref])
    assert mismatched_refs(cs, vocab) == expected
    assert mismatched_refs(ConceptSet(domain=domain, include=[ref]), vocab) == expected  # includes too
    assert mismatched_refs(cs, Vocabulary(vocab.codes, {}, vocab.names, None)) == []  # not looked up


def test_phenotype_stage_warns_of_a_mismatched_concept_naming_file_set_and_id(caplog):
    """A counted WARNING (trd_spark logger) names the YAML file, the set and the concept ID.
    Read through the stage's config view, as the stage does: the file's path is a key the
    phenotype stage excludes (not its input), which made the warning a LookupError (exit 1)."""
    cfg = ConfigView(load_config(), STAGE_SPECS["phenotypes"])
    vocab = _toy_vocabulary(**{f"c{MDD_CONCEPT}": ("fluoxetine", "Drug")})
    with caplog.at_level(logging.WARNING, logger="trd_spark"):
        warn_absent_concepts(cfg, vocab)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "differs" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"phenotypes: {cfg.phenotypes.concept_sets}, concept set mdd: 2 reference(s) ")
    assert f"concept_id {MDD_CONCEPT} (Major depressive disorder): domain_id 'Drug', not 'Condition'" in lines[0]


@pytest.mark.parametrize(("standard", "expected"), [
    ("S", []),
    ("C", []),  # a classification concept heads a concept_ancestor hierarchy (ICD10PCS)
    # a source code, or a concept a new vocabulary release deprecated ('U'pgraded): no record
    # carries it, no descendants reach it
    (None, [f"concept_id {MDD_CONCEPT} (Major depressive disorder): standard_concept NULL"]),
    ("", [f"concept_id {MDD_CONCEPT} (Major depressive disorder): standard_concept ''"]),
])
def test_nonstandard_refs(standard, expected):
    vocab = _toy_vocabulary()
    vocab = Vocabulary(vocab.codes, {}, vocab.names, vocab.found - {715939}, vocab.domains,
                       {**vocab.standard, MDD_CONCEPT: standard})
    ref = ConceptRef(concept_id=MDD_CONCEPT, name="Major depressive disorder")
    assert nonstandard_refs(ConceptSet(domain="condition", include=[ref]), vocab) == expected
    assert nonstandard_refs(ConceptSet(domain="condition", exclude=[ref]), vocab) == expected
    absent = ConceptSet(domain="drug", include=[ConceptRef(concept_id=715939, name="escitalopram")])
    assert nonstandard_refs(absent, vocab) == []  # absent_refs' case
    assert nonstandard_refs(ConceptSet(domain="condition", include=[ref]), Vocabulary({}, {}, {}, None)) == []


def test_phenotype_stage_stops_on_a_nonstandard_concept_naming_file_set_and_id():
    """A concept set naming a non-standard concept (e.g. one a new vocabulary release made
    non-standard) matched nothing, with no warning: now one ConfigError (exit 2)."""
    cfg = ConfigView(load_config(), STAGE_SPECS["phenotypes"])
    vocab = _toy_vocabulary()
    check_standard_concepts(cfg, vocab)  # the shipped sets pass
    vocab = Vocabulary(vocab.codes, {}, vocab.names, vocab.found, vocab.domains, {**vocab.standard, MDD_CONCEPT: None})
    with pytest.raises(ConfigError) as err:
        check_standard_concepts(cfg, vocab)
    assert str(err.value).startswith(f"{cfg.phenotypes.concept_sets}: concept_sets.mdd: 1 reference(s) to a non-standard ")
    assert f"concept_id {MDD_CONCEPT} (Major depressive disorder): standard_concept NULL" in str(err.value)
    assert err.value.exit_code == 2


def test_a_nonstandard_concept_stops_the_run_before_the_pgs_stage(spark, tmp_path):
    """Session-17 leftover: the non-standard-concept ConfigError came when the phenotype stage
    read OMOP, after the pgs stage (hours at All of Us scale). ``pipeline.run_stages`` now runs
    the check (``phenotypes.stage.check_concept_sets``: concept and concept_ancestor only) when
    the run starts: no stage runs, nothing is written. The toy vocabulary itself passes."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from test_phenotypes_support import toy_config

    from trd_spark.phenotypes.stage import check_concept_sets
    from trd_spark.pipeline import run_stages
    from trd_spark.toydata.vocabulary import concept_ancestor_table

    omop = tmp_path / "omop"
    omop.mkdir()
    concept = toy_concept_table()
    pq.write_table(concept, omop / "concept.parquet")
    pq.write_table(concept_ancestor_table(), omop / "concept_ancestor.parquet")
    cfg = toy_config(path=str(omop)).model_copy(update={"output_root": str(tmp_path / "out")})
    check_concept_sets(spark, cfg)
    standard = [None if i == MDD_CONCEPT else s for i, s in zip(concept["concept_id"].to_pylist(),
                                                                 concept["standard_concept"].to_pylist())]
    concept = concept.set_column(concept.schema.get_field_index("standard_concept"), "standard_concept",
                                 pa.array(standard, pa.string()))
    pq.write_table(concept, omop / "concept.parquet")
    with pytest.raises(ConfigError, match=rf"concept_sets.mdd: 1 reference\(s\) to a non-standard concept.*"
                                          rf"concept_id {MDD_CONCEPT} \(Major depressive disorder\): standard_concept NULL"):
        run_stages(spark, cfg, ["pgs", "phenotypes"])
    assert not (tmp_path / "out").exists()  # no stage ran
