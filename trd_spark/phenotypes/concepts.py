"""Concept sets -> concept IDs, expanded through the data's own vocabulary tables.

A ``ConceptSet`` (trd_spark.config) lists ancestors by ``concept_id`` or by
``vocabulary_id`` + ``concept_code`` (resolved in ``concept``). With ``descendants: true``
each is expanded through ``concept_ancestor``; the concept itself is always kept even when
the (possibly trimmed) ancestor table lacks its level-0 self row. Excludes are expanded the
same way and removed. A reference with ``only_if_standard`` (a code some vocabulary releases
de-standardise, e.g. ICD9Proc) is a member only where ``concept`` holds it as a standard concept
(``conditional_refs``).

``load_vocabulary`` runs (at most) three small Spark queries for ALL study concept sets and
collects only the vocabulary rows they reach: its size is that of the concept sets (thousands
of IDs on RxNorm/SNOMED), never of the person-level data. A descendant whose ``concept`` row
has an ``invalid_reason`` (deprecated or upgraded) is no member, as OHDSI's ATLAS expands a set;
a concept the set names is kept whatever its ``invalid_reason``, as ATLAS keeps it (its
codeset query filters the descendants only). Downstream the expanded IDs filter the event
tables once, as the broadcast side of a semi join (``id_frame``), instead of joining
them with vocabulary tables again and again; the small filtered frames then use ``isin``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql import types as T

from trd_spark.config import ConceptRef, ConceptSet
from trd_spark.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class Vocabulary:
    """The slice of ``concept``/``concept_ancestor`` the study's concept sets reach.

    ``codes``: (vocabulary_id, concept_code) -> concept_id of the sets' code references;
    ``descendants``: root concept_id -> its descendants (self row not required);
    ``names``: concept_id -> concept_name for every root;
    ``found``: the roots present in ``concept`` (None: not looked up);
    ``domains``: concept_id -> domain_id ('Condition', 'Drug' ...) for every root found;
    ``standard``: concept_id -> standard_concept ('S', 'C' or None) for every root found;
    ``invalid``: concept_id -> invalid_reason ('D', 'U') for the roots found whose ``concept``
    row has one (not blank; none when the table has no such column);
    ``form_names``: concept_id -> concept_name for the descendants whose name holds a word of any
    set's ``exclude_dose_forms`` (``dose_form_pattern``; each set matches its own words:
    ``dose_form_excluded``).
    """

    codes: dict[tuple[str, str], int]
    descendants: dict[int, frozenset[int]]
    names: dict[int, str]
    found: frozenset[int] | None = None
    domains: dict[int, str] = field(default_factory=dict)
    standard: dict[int, str | None] = field(default_factory=dict)
    invalid: dict[int, str] = field(default_factory=dict)
    form_names: dict[int, str] = field(default_factory=dict)


def dose_form_pattern(words: Iterable[str]) -> str | None:
    """The regular expression matching a concept name that holds one of ``words`` as a whole word,
    case-insensitive (``(?i)\\b(?:topical|cutaneous)\\b``), read alike by Java (Spark ``rlike``),
    Python ``re`` and RE2 (DuckDB ``regexp_matches``: the twin); None for no word. The words are
    letters and blanks (``ConceptSet.exclude_dose_forms``), so nothing needs escaping."""
    distinct = sorted({w.strip().lower() for w in words})
    return f"(?i)\\b(?:{'|'.join(distinct)})\\b" if distinct else None


def load_vocabulary(
    concept_sets: Iterable[ConceptSet], concept: DataFrame, concept_ancestor: DataFrame, *, where: str | None = None
) -> Vocabulary:
    """Collect the vocabulary rows reached by ``concept_sets`` (includes and excludes).

    Three queries: ``concept`` once for the code references and the ID references together
    (codes, names, found), then ``concept_ancestor`` for the roots to expand (which the codes
    resolve first), then ``concept`` for the descendants with an ``invalid_reason``, which are
    left out as ATLAS leaves them out, and, in the same query, when a set names
    ``exclude_dose_forms``, the descendants' names holding one (``_descendant_facts``).

    Raises ConfigError (``where``: the concept-set YAML) naming each vocabulary + code
    reference that matches more than one ``concept`` row: the CDM does not make
    vocabulary_id + concept_code unique nor say which row wins, and keeping one of them (the
    last collected) made the set one concept silently; a ``concept_id`` reference is exact.
    """
    refs = [r for cs in concept_sets for r in (*cs.include, *cs.exclude)]
    code_refs = sorted({(r.vocabulary_id, r.concept_code) for r in refs if r.concept_id is None})
    id_roots = sorted({r.concept_id for r in refs if r.concept_id is not None})
    codes: dict[tuple[str, str], int] = {}
    rows = []
    if code_refs or id_roots:
        wanted = F.col("concept_id").isin(id_roots) if id_roots else F.lit(False)
        for vocab, code in code_refs:
            wanted = wanted | ((F.col("vocabulary_id") == vocab) & (F.col("concept_code") == code))
        reason = (F.trim(F.col("invalid_reason")) if "invalid_reason" in concept.columns
                  else F.lit(None).cast("string"))
        rows = (concept.where(wanted)
                .select("vocabulary_id", "concept_code", "concept_id", "concept_name", "domain_id", "standard_concept",
                        reason.alias("invalid_reason"))
                .collect())
        # A code absent from this data's vocabulary simply resolves to nothing (e.g. no CPT4 licence).
        wanted_codes = set(code_refs)
        matches: dict[tuple[str, str], set[int]] = {}
        for row in rows:
            if (row.vocabulary_id, row.concept_code) in wanted_codes:
                matches.setdefault((row.vocabulary_id, row.concept_code), set()).add(int(row.concept_id))
        ambiguous = {key: sorted(ids) for key, ids in matches.items() if len(ids) > 1}
        if ambiguous:
            label = {(r.vocabulary_id, r.concept_code): r.name for r in refs if r.concept_id is None}
            raise ConfigError(
                f"{len(ambiguous)} vocabulary + code reference(s) match more than one concept in this release's "
                "concept table (the CDM names no winner; reference the concept meant by its concept_id): "
                + "; ".join(f"{vocab} {code} ({label[(vocab, code)]}): concept_id {', '.join(map(str, ids))}"
                            for (vocab, code), ids in sorted(ambiguous.items())), where=where)
        codes.update({key: ids.pop() for key, ids in matches.items()})
    roots = sorted({i for r in refs if (i := _root(r, codes)) is not None})
    descendants: dict[int, set[int]] = {}
    form_names: dict[int, str] = {}
    expand = sorted({i for r in refs if r.descendants and (i := _root(r, codes)) is not None})
    if expand:
        # No distinct() in Spark (one more shuffle and job): repeated links fall into the sets.
        links = (
            concept_ancestor.where(F.col("ancestor_concept_id").isin(expand))
            .select("ancestor_concept_id", "descendant_concept_id")
            .collect()
        )
        # A descendant whose concept row is invalid ('D' deprecated, 'U' upgraded) is no member,
        # as OHDSI's ATLAS/circe expands a set (its descendant query keeps c.invalid_reason IS
        # NULL): a concept_ancestor row can still reach one after a vocabulary refresh, and its
        # records then counted as, say, MDD where the OHDSI definition does not count them.
        # The same job collects the descendants' names holding a set's dose-form word (exclude_dose_forms).
        pattern = dose_form_pattern(w for cs in concept_sets for w in cs.exclude_dose_forms)
        invalid, form_names = _descendant_facts(concept, {int(row.descendant_concept_id) for row in links}, pattern)
        for row in links:
            if int(row.descendant_concept_id) not in invalid:
                descendants.setdefault(int(row.ancestor_concept_id), set()).add(int(row.descendant_concept_id))
    # Every root's concept row is among ``rows``: an ID root by its ID, a code root by its code.
    root_set = set(roots)
    names = {int(r.concept_id): r.concept_name for r in rows if r.concept_id in root_set and r.concept_name is not None}
    found = {int(r.concept_id) for r in rows if r.concept_id in root_set}
    domains = {int(r.concept_id): r.domain_id for r in rows if r.concept_id in root_set and r.domain_id is not None}
    standard = {int(r.concept_id): r.standard_concept for r in rows if r.concept_id in root_set}
    invalid_roots = {int(r.concept_id): r.invalid_reason for r in rows
                     if r.concept_id in root_set and r.invalid_reason}
    return Vocabulary(codes, {k: frozenset(v) for k, v in descendants.items()}, names, frozenset(found), domains,
                      standard, invalid_roots, form_names)


def _invalid_concepts(concept: DataFrame, ids: set[int]) -> set[int]:
    """The concepts of ``ids`` whose ``concept`` row has an ``invalid_reason`` (not null, not
    blank); none when the table has no such column. One Spark job (a filter, no join)."""
    return _descendant_facts(concept, ids, None)[0]


def _descendant_facts(concept: DataFrame, ids: set[int], pattern: str | None) -> tuple[set[int], dict[int, str]]:
    """(``_invalid_concepts`` of ``ids``, concept_id -> concept_name for those of ``ids`` whose name
    matches ``pattern``, ``dose_form_pattern``; empty for None). One Spark job (a filter, no
    join), none when there is nothing to look for; collects the size of the matches."""
    has_reason = "invalid_reason" in concept.columns
    if not ids or (not has_reason and pattern is None):
        return set(), {}
    reason = F.trim(F.col("invalid_reason"))
    bad = (reason.isNotNull() & (reason != "")) if has_reason else F.lit(False)
    formed = F.coalesce(F.col("concept_name").rlike(pattern), F.lit(False)) if pattern is not None else F.lit(False)
    rows = (concept.where(F.col("concept_id").isin(sorted(ids)) & (bad | formed))
            .select("concept_id", "concept_name", bad.alias("bad"), formed.alias("formed")).collect())
    return ({int(r.concept_id) for r in rows if r.bad},
            {int(r.concept_id): r.concept_name for r in rows if r.formed})


def absent_refs(concept_set: ConceptSet, vocab: Vocabulary) -> list[str]:
    """The set's references (includes and excludes) absent from this release's ``concept``
    table, as ``concept_id N`` or ``VOCAB code``: they match nothing (a typo, or a vocabulary
    the release lacks). Empty when ``vocab.found`` was not looked up. ``only_if_standard``
    references are not listed (``conditional_refs`` names them)."""
    if vocab.found is None:
        return []
    out = []
    for ref in (*concept_set.include, *concept_set.exclude):
        if ref.only_if_standard:
            continue  # expected absent from some releases: conditional_refs
        root = _root(ref, vocab.codes)
        if root is None:
            out.append(f"{ref.vocabulary_id} {ref.concept_code} ({ref.name})")
        elif root not in vocab.found:
            out.append(f"concept_id {root} ({ref.name})")
    return out


# ConceptSet.domain -> the OMOP CDM ``concept.domain_id`` its concepts carry.
DOMAIN_IDS = {"condition": "Condition", "drug": "Drug", "procedure": "Procedure", "device": "Device",
              "observation": "Observation"}
# OMOP CDM v5.4 domain_id -> the table an ETL writes a record of a concept of that domain to
# (the CDM's rule: a record's table follows its standard concept's domain), for the domain
# mismatch line: the table a set of the wrong domain never reads.
DOMAIN_TABLES = {"Condition": "condition_occurrence", "Drug": "drug_exposure", "Procedure": "procedure_occurrence",
                 "Device": "device_exposure", "Observation": "observation", "Measurement": "measurement",
                 "Visit": "visit_occurrence", "Specimen": "specimen"}


def mismatched_refs(concept_set: ConceptSet, vocab: Vocabulary) -> list[str]:
    """The set's references (includes and excludes) found in ``concept`` whose row does not
    look like the concept meant: a typo'd ID usually lands on a real concept of the full
    vocabulary (AoU), which ``absent_refs`` cannot see. Two rules, one line each:

    - ``domain_id`` differs from the set's domain (``DOMAIN_IDS``: a 'Drug' concept in a
      condition set);
    - for a ``concept_id`` reference, ``concept_name`` differs from the YAML ``name``
      (case-insensitive, surrounding blanks ignored). A vocabulary + code reference is
      identified by its code; its ``name`` is a label (e.g. 'TMS initial (CPT4 90867)') and
      is not compared.

    Lines read ``concept_id N (yaml name): domain_id 'Drug', not 'Condition'`` (then where its
    records are and what to do: ``DOMAIN_TABLES``; a set of the chain's domain, or, for a domain
    the chain does not read, e.g. HCPCS G2082/G2083 in 'Observation' as OHDSI's HCPCS rules put
    G0908-G2252, that its records are missed) or
    ``concept_id N: name 'yaml name' in the YAML, 'concept name' in concept``. Empty when
    ``vocab.found`` was not looked up; references absent from ``concept`` are left to
    ``absent_refs``; a missing domain_id or concept_name is not compared.
    """
    if vocab.found is None:
        return []
    wanted = [DOMAIN_IDS[d] for d in concept_set.domains]  # domain and also_domains: each table is read
    want = " or ".join(repr(w) for w in wanted)
    out = []
    for ref in (*concept_set.include, *concept_set.exclude):
        root = _root(ref, vocab.codes)
        if root is None or root not in vocab.found:
            continue
        domain = vocab.domains.get(root)
        if domain is not None and domain not in wanted:
            table = DOMAIN_TABLES.get(domain, f"the {domain} domain's table")
            ours = {v: k for k, v in DOMAIN_IDS.items()}.get(domain)
            todo = (f"if it is the concept meant, move it to a set of domain {ours}" if ours else
                    f"the chain reads no {table}, so they are missed (docs/phenotypes.md, 'Concepts'): if it is the concept "
                    "meant, drop it and count those records apart")
            out.append(f"concept_id {root} ({ref.name}): domain_id {domain!r}, not {want}: an ETL writes its "
                       f"records to {table}, which this set never reads; {todo}")
        name = vocab.names.get(root)
        if ref.concept_id is not None and name is not None and name.strip().casefold() != ref.name.strip().casefold():
            out.append(f"concept_id {root}: name {ref.name!r} in the YAML, {name!r} in concept")
    return out


# concept.standard_concept values a set may name: standard ('S') and classification ('C')
# concepts head concept_ancestor's hierarchies; any other (NULL: a source code such as an
# ICD10CM concept, or a concept deprecated / upgraded by a vocabulary release) has no
# descendants there and is never an event table's *_concept_id.
STANDARD_CONCEPT_VALUES = frozenset({"S", "C"})


def nonstandard_refs(concept_set: ConceptSet, vocab: Vocabulary) -> list[str]:
    """The set's references (includes and excludes) whose ``concept`` row is not a standard
    or classification concept, as ``concept_id N (name): standard_concept NULL``: records are
    read by their standard concept, so such a reference matches nothing and the set is
    silently narrower (an exclude: broader). Empty when ``vocab.found`` was not looked up;
    references absent from ``concept`` are left to ``absent_refs``; an ``only_if_standard``
    reference is no member then, by its own rule (``conditional_refs``)."""
    if vocab.found is None:
        return []
    out = []
    for ref in (*concept_set.include, *concept_set.exclude):
        root = _root(ref, vocab.codes)
        if ref.only_if_standard or root is None or root not in vocab.found or root not in vocab.standard:
            continue
        value = vocab.standard[root]
        if value not in STANDARD_CONCEPT_VALUES:
            shown = "NULL" if value is None else repr(value)
            reason = f", invalid_reason {vocab.invalid[root]!r}" if root in vocab.invalid else ""
            out.append(f"concept_id {root} ({ref.name}): standard_concept {shown}{reason}")
    return out


def invalid_refs(concept_set: ConceptSet, vocab: Vocabulary) -> list[str]:
    """The set's references (includes and excludes) to a standard or classification concept
    whose ``concept`` row has an ``invalid_reason`` ('D' deprecated, 'U' upgraded), as
    ``concept_id N (name): invalid_reason 'U'``. Such a row contradicts the vocabulary's
    conventions (an invalid concept is no standard concept; the usual one, standard_concept
    NULL, is ``nonstandard_refs``' error). ATLAS/circe keep a set's own concepts whatever
    their invalid_reason (its query for the listed IDs has no such filter; only the
    descendants' has), and so does ``expand_concept_set``: the stage warns of them. Empty when
    ``vocab.found`` was not looked up."""
    out = []
    for ref in (*concept_set.include, *concept_set.exclude):
        root = _root(ref, vocab.codes)
        if root is None or root not in vocab.invalid or vocab.standard.get(root) not in STANDARD_CONCEPT_VALUES:
            continue
        out.append(f"concept_id {root} ({ref.name}): invalid_reason {vocab.invalid[root]!r}")
    return out


def unlinked_refs(concept_set: ConceptSet, vocab: Vocabulary) -> list[str]:
    """The references (includes and excludes, expanded with ``descendants``) of a condition set to a
    standard, valid Condition concept that ``concept_ancestor`` holds no row for as an ancestor, not even
    the level-0 self row Athena writes for every standard concept, as ``concept_id N (name)``: the table
    lost that concept's block (a row limit, a subset), so the set reads the concept itself and none of
    its sub-diagnoses (SNOMED names them after no parent: no name check as for drug products). Zero cost:
    those rows are the ones ``load_vocabulary`` reads. Not seen: a block cut in part (its self row kept).
    Empty for a set without the condition domain, or when ``vocab.found`` was not looked up. Measured on
    the toy export: exact on the two halves of its concept_ancestor (benchmarks/RESULTS.md "Session 56
    ancestor2")."""
    if vocab.found is None or "condition" not in concept_set.domains:
        return []
    out = []
    for ref in (*concept_set.include, *concept_set.exclude):
        root = _member_root(ref, vocab)
        if (not ref.descendants or root is None or root not in vocab.found or root in vocab.invalid
                or (vocab.standard.get(root) or "").strip() != "S"
                or (vocab.domains.get(root) or "").strip() != DOMAIN_IDS["condition"]):
            continue
        if root not in vocab.descendants:
            out.append(f"concept_id {root} ({vocab.names.get(root, ref.name)})")
    return out


def closed_vocabulary(concept_sets: Iterable[ConceptSet], vocab: Vocabulary, concept: DataFrame,
                      concept_ancestor: DataFrame) -> Vocabulary:
    """``vocab`` with the descendants of each condition set's reference expanded with ``descendants`` closed
    over ``concept_ancestor``'s rows whose ancestor is a member of such a block (its descendants): a concept
    a member reaches joins the block (then the members of those rows, over the rows read: a fixed point), as
    Athena's table, transitively closed (min_levels_of_separation counts the path), already has it. A
    complete table changes nothing; one cut in part (a row limit, a lost part file of a sharded export)
    that lost (root, c) but kept (member, c) is seen. Only what can be PROVEN lost: a block whose rows from
    its members are lost too is not seen. A concept joined so that ``concept`` marks invalid is left out,
    as ``load_vocabulary`` leaves it. One Spark query (a filter on the members' IDs, as ``load_vocabulary``'s)
    over ``concept_ancestor``'s two ID columns, and one of ``concept`` only when a concept joined; none when
    no condition reference has descendants. Session 57 (benchmarks/RESULTS.md "Session 57 vocab": no false
    flag on any cut of the toy and field-case tables)."""
    roots = sorted({root for cs in concept_sets if "condition" in cs.domains for ref in (*cs.include, *cs.exclude)
                    if ref.descendants and (root := _member_root(ref, vocab)) is not None})
    blocks = {root: vocab.descendants.get(root, frozenset()) for root in roots}
    members = set().union(*blocks.values()) - set(roots) if blocks else set()
    if not members:
        return vocab
    # a filter, as load_vocabulary's query of the roots' rows: Parquet and the BigQuery connector are handed
    # it (an In filter), so BigQuery returns only these rows; one query, no plan reused (no id_frame needed)
    links = (concept_ancestor.where(F.col("ancestor_concept_id").isin(sorted(members)))
             .select(F.col("ancestor_concept_id").cast("long").alias("a"),
                     F.col("descendant_concept_id").cast("long").alias("d")).collect())
    # a root's rows are those load_vocabulary read (its block); the other members' rows are these
    below: dict[int, set[int]] = {root: set(block) for root, block in blocks.items()}
    for row in links:
        if row.d is not None:
            below.setdefault(int(row.a), set()).add(int(row.d))
    closed: dict[int, set[int]] = {}
    for root, block in blocks.items():
        grown, frontier = set(block), set(block)
        while frontier:
            found = set().union(*(below.get(x, set()) for x in frontier)) - grown - {root}
            grown |= found
            frontier = found
        closed[root] = grown
    joined = set().union(*(closed[r] - blocks[r] for r in roots))
    if not joined:
        return vocab
    invalid = _invalid_concepts(concept, joined)
    descendants = dict(vocab.descendants)
    descendants.update({r: frozenset(closed[r] - invalid) for r in roots if closed[r] - invalid != blocks[r]})
    return dataclasses.replace(vocab, descendants=descendants)


def _root(ref: ConceptRef, codes: dict[tuple[str, str], int]) -> int | None:
    if ref.concept_id is not None:
        return ref.concept_id
    assert ref.vocabulary_id is not None and ref.concept_code is not None  # ConceptRef._one_way
    return codes.get((ref.vocabulary_id, ref.concept_code))


def _member_root(ref: ConceptRef, vocab: Vocabulary) -> int | None:
    """``ref``'s concept when it is a member of its set: found by its code (or given by ID), and for
    an ``only_if_standard`` reference also held by ``concept`` as a standard or classification
    concept (``conditional_refs``); None otherwise."""
    root = _root(ref, vocab.codes)
    if root is not None and ref.only_if_standard and vocab.standard.get(root) not in STANDARD_CONCEPT_VALUES:
        return None
    return root


def conditional_refs(concept_set: ConceptSet, vocab: Vocabulary) -> list[str]:
    """The set's ``only_if_standard`` references (includes and excludes) that are no member in this
    release, as ``VOCAB code (name): not in concept`` or ``...: standard_concept NULL``. Such a code
    is standard in some vocabulary releases and de-standardised in others (ICD9Proc 94.27, ECT: where
    it is not standard, its records carry the standard concept it maps to, which the set names too),
    so its absence is no fault: the stage logs it at INFO, not as ``absent_refs``' WARNING nor as
    ``nonstandard_refs``' error. Empty when ``vocab.found`` was not looked up."""
    if vocab.found is None:
        return []
    out = []
    for ref in (*concept_set.include, *concept_set.exclude):
        if not ref.only_if_standard or _member_root(ref, vocab) is not None:
            continue
        root = _root(ref, vocab.codes)
        label = (f"{ref.vocabulary_id} {ref.concept_code}" if ref.concept_id is None else f"concept_id {root}")
        if root is None or root not in vocab.found:
            out.append(f"{label} ({ref.name}): not in concept")
        else:
            value = vocab.standard.get(root)
            out.append(f"{label} ({ref.name}): standard_concept {'NULL' if value is None else repr(value)}")
    return out


def conditional_source_ids(concept_set: ConceptSet, vocab: Vocabulary) -> frozenset[int]:
    """The concept_ids of the set's ``only_if_standard`` includes that this release's ``concept``
    holds but not as a standard concept (``conditional_refs``: no member here). Their records
    carry them as the source concept (procedure_source_concept_id, ...) and the standard concept
    they map to in the concept column; the set relies on that mapped concept being one it names,
    which ``phenotypes.stage.event_table_counts`` counts (records of these source concepts whose
    standard concept is not in the set). Empty when ``vocab.found`` was not looked up."""
    if vocab.found is None:
        return frozenset()
    roots = (_root(ref, vocab.codes) for ref in concept_set.include
             if ref.only_if_standard and _member_root(ref, vocab) is None)
    return frozenset(r for r in roots if r is not None and r in vocab.found)


def conditional_member_ids(concept_set: ConceptSet, vocab: Vocabulary) -> frozenset[int]:
    """The concept_ids of the set's ``only_if_standard`` includes that this release's ``concept``
    holds as standard concepts (members here, ``_member_root``). A record carrying one as its
    source concept (procedure_source_concept_id, ...) but another standard concept was mapped by
    an ETL run with a vocabulary version that held the code as non-standard (the reason the
    reference is conditional): the study reads the standard concept, so the record is not read as
    the set; ``phenotypes.stage.event_table_counts`` counts such records with those of
    ``conditional_source_ids``. Empty when ``vocab.found`` was not looked up."""
    if vocab.found is None:
        return frozenset()
    roots = (_member_root(ref, vocab) for ref in concept_set.include if ref.only_if_standard)
    return frozenset(r for r in roots if r is not None and r in vocab.found)


def _expand_ref(ref: ConceptRef, vocab: Vocabulary) -> frozenset[int]:
    root = _member_root(ref, vocab)
    if root is None:
        return frozenset()
    below = vocab.descendants.get(root, frozenset()) if ref.descendants else frozenset()
    return frozenset({root}) | below


def dose_form_excluded(concept_set: ConceptSet, vocab: Vocabulary) -> frozenset[int]:
    """The set's members left out for their dose form: the concepts (roots by their ``names``,
    descendants by their ``form_names``) whose ``concept_name`` holds a word of the set's
    ``exclude_dose_forms`` (``dose_form_pattern``; a null name matches nothing). Empty without
    such words. Not intersected with the set: callers subtract it."""
    pattern = dose_form_pattern(concept_set.exclude_dose_forms)
    if pattern is None:
        return frozenset()
    regex = re.compile(pattern)
    return frozenset(i for names in (vocab.names, vocab.form_names) for i, name in names.items()
                     if name is not None and regex.search(name))


def _expand_refs(refs: list[ConceptRef], vocab: Vocabulary) -> frozenset[int]:
    out: frozenset[int] = frozenset()
    for r in refs:
        out |= _expand_ref(r, vocab)
    return out


def expand_concept_set(concept_set: ConceptSet, vocab: Vocabulary) -> frozenset[int]:
    """Concept IDs in the set: includes (with descendants) minus excludes (with descendants) minus
    the members of an excluded dose form (``dose_form_excluded``)."""
    return (_expand_refs(concept_set.include, vocab) - _expand_refs(concept_set.exclude, vocab)
            - dose_form_excluded(concept_set, vocab))


def ingredient_map(concept_set: ConceptSet, vocab: Vocabulary) -> list[tuple[int, int, str]]:
    """Drug concept -> ingredient of the set: ``(drug_concept_id, ingredient_concept_id, ingredient_name)``.

    The set's includes are the ingredients (RxNorm Ingredient concepts); every descendant
    product (clinical/branded drug, pack ...) maps to each included ingredient it descends
    from, so a combination product maps to several rows. The ingredient maps to itself.
    ``ingredient_name`` is the ``concept`` name, else the name written in the concept set.
    Drug concepts in the set's excludes and of its excluded dose forms (``dose_form_excluded``)
    are removed. Sorted, distinct.
    """
    excluded = _expand_refs(concept_set.exclude, vocab) | dose_form_excluded(concept_set, vocab)
    rows: dict[tuple[int, int], str] = {}
    for ref in concept_set.include:
        root = _member_root(ref, vocab)
        if root is None:
            continue
        name = vocab.names.get(root, ref.name)
        for drug in _expand_ref(ref, vocab) - excluded:
            rows.setdefault((drug, root), name)
    return sorted((d, i, n) for (d, i), n in rows.items())


# ASCII punctuation a concept name may hold ("St. John's wort", "vitamin B 12 (cyanocobalamin)"): escaped
# with a backslash, which Java (Spark ``rlike``), Python ``re`` and RE2 (DuckDB) all read as the character.
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def name_pattern(names: Iterable[str]) -> str | None:
    """The regular expression matching a concept name that holds one of ``names`` as a whole name,
    case-insensitive: not inside a longer word on either side (``ketamine`` is not found in
    ``esketamine``; ``(?:^|[^A-Za-z0-9])`` rather than ``\\b``, so a name ending in punctuation is
    found too), read alike by Java, Python ``re`` and RE2 (``dose_form_pattern``'s three readers).
    ASCII punctuation is escaped (``_PUNCTUATION``); blank and null names are skipped; None for
    none left."""
    distinct = sorted({n.strip().lower() for n in names if n is not None and n.strip()})
    if not distinct:
        return None
    escaped = ["".join(f"\\{ch}" if ch in _PUNCTUATION else ch for ch in n) for n in distinct]
    return f"(?i)(?:^|[^A-Za-z0-9])(?:{'|'.join(escaped)})(?:[^A-Za-z0-9]|$)"


def name_extract_pattern(names: Iterable[str]) -> str | None:
    """The regular expression whose group 1 is each of ``names`` a concept name holds as a whole name
    (``name_pattern``'s rule, case-insensitive), for Spark's ``regexp_extract_all``: the letters or digits
    around it are looked at, not consumed (``(?<![A-Za-z0-9])``, ``(?![A-Za-z0-9])``), so names one
    separator apart ("olanzapine/fluoxetine") are each found; longer names first, so "lithium carbonate"
    is found whole where a shorter name starts it. Read by Java only (RE2, the twin's, has no lookaround:
    the twin matches ``name_pattern`` per name). None for no name left."""
    distinct = sorted({n.strip().lower() for n in names if n is not None and n.strip()}, key=lambda n: (-len(n), n))
    if not distinct:
        return None
    escaped = ["".join(f"\\{ch}" if ch in _PUNCTUATION else ch for ch in n) for n in distinct]
    return f"(?i)(?<![A-Za-z0-9])({'|'.join(escaped)})(?![A-Za-z0-9])"


def ingredient_names(concept_sets: Iterable[ConceptSet], vocab: Vocabulary) -> dict[int, str]:
    """{ingredient: its name, lower case, stripped} for the ingredients ``ingredient_reach`` keys (each include
    reference expanded with ``descendants`` and a member here), by its ``concept`` name, else the name the YAML
    writes (``drug_reach``'s names, per ingredient): the names the per-ingredient name rule of the
    ``drug_strength`` check looks for (``phenotypes.stage.UnreachedCheck``). Blank names left out."""
    out: dict[int, str] = {}
    for cs in concept_sets:
        for ref in cs.include:
            root = _member_root(ref, vocab)
            if ref.descendants and root is not None:
                name = (vocab.names.get(root, ref.name) or "").strip().lower()
                if name:
                    out[root] = name
    return out


def drug_reach(concept_sets: Iterable[ConceptSet], vocab: Vocabulary) -> tuple[list[str], frozenset[int]]:
    """(the names of ``concept_sets``' included ingredients, every concept ``concept_ancestor`` takes
    them to) for the check of a partial ``concept_ancestor`` (``phenotypes.stage.event_table_counts``'
    ``UNREACHED``). Names: each include reference expanded with ``descendants`` and a member here
    (``_member_root``), by its ``concept`` name, else the name the YAML writes (sorted, distinct).
    Reached: the members of every include and exclude reference with its descendants (``_expand_ref``),
    before excludes and dose forms are taken out: a product the set leaves out on purpose (doxepin cream)
    is reached. RxNorm names a clinical or branded drug after its ingredients ("sertraline 50 MG Oral
    Tablet"), and Athena's ``concept_ancestor`` takes every such product to each of them: a standard
    drug concept named after an ingredient that it does not reach is the product of a table that lost
    rows (OHDSI CohortDiagnostics' "orphan concepts" look for the same by name)."""
    names: set[str] = set()
    reached: frozenset[int] = frozenset()
    for cs in concept_sets:
        for ref in cs.include:
            root = _member_root(ref, vocab)
            if ref.descendants and root is not None:
                names.add(vocab.names.get(root, ref.name))
        reached |= _expand_refs([*cs.include, *cs.exclude], vocab)
    return sorted(names), reached


def ingredient_reach(concept_sets: Iterable[ConceptSet], vocab: Vocabulary
                     ) -> tuple[dict[int, frozenset[int]], frozenset[int]]:
    """({ingredient: the concepts ``concept_ancestor`` takes it to, itself included} for each include
    reference of ``concept_sets`` expanded with ``descendants`` and a member here (``_member_root``: the
    ingredients whose names ``drug_reach`` gives), the members of every exclude reference with its
    descendants) for the ``drug_strength`` form of the check of a partial ``concept_ancestor``
    (``phenotypes.stage.event_table_counts``' ``UNREACHED``): a product ``drug_strength`` names such an
    ingredient for (OHDSI's own table of a product's ingredients, one row per (drug_concept_id,
    ingredient_concept_id)) but outside that ingredient's reach, and not left out on purpose (an exclude:
    doxepin cream), is read as no product of it. Per ingredient, so a combination product reached through
    one of its ingredients only (olanzapine / fluoxetine without its fluoxetine row) is seen too."""
    reach: dict[int, frozenset[int]] = {}
    excluded: frozenset[int] = frozenset()
    for cs in concept_sets:
        for ref in cs.include:
            root = _member_root(ref, vocab)
            if ref.descendants and root is not None:
                reach[root] = reach.get(root, frozenset()) | _expand_ref(ref, vocab)
        excluded |= _expand_refs(list(cs.exclude), vocab)
    return reach, excluded


def id_frame(spark: SparkSession, ids: Iterable[int], column: str) -> DataFrame:
    """One ``long`` column ``column``, one row per distinct ID of ``ids`` (sorted).

    Built in the JVM from ONE string literal (split, cast): the plan holds a single
    expression whatever the number of IDs, unlike ``isin`` or an array of literals (one
    expression per ID, analysed again at every transformation of a plan that uses it), and
    no Python worker computes it. Meant for concept sets (thousands of IDs) used as the
    build side of a broadcast join.
    """
    values = sorted(set(ids))
    if not values:
        return spark.range(0).select(F.lit(None).cast("long").alias(column))
    text = F.lit(",".join(str(int(v)) for v in values))
    return spark.range(1).select(F.explode(F.split(text, ",").cast("array<bigint>")).alias(column))


# The ingredient_frame columns, in order.
INGREDIENT_COLUMNS = T.StructType([
    T.StructField("drug_concept_id", T.LongType()),
    T.StructField("ingredient_concept_id", T.LongType()),
    T.StructField("ingredient_name", T.StringType()),
    T.StructField("amount_value", T.DoubleType()),
    T.StructField("min_daily_dose", T.DoubleType()),
    T.StructField("amount_value_low", T.DoubleType()),
])


def ingredient_frame(
    spark: SparkSession,
    rows: list[tuple[int, int, str]],
    *,
    amounts: dict[tuple[int, int], float] | None = None,
    min_daily_dose: dict[int, float] | None = None,
    amounts_low: dict[tuple[int, int], float] | None = None,
) -> DataFrame:
    """``ingredient_map`` rows as a small DataFrame.

    Built inside the JVM from ONE JSON string literal (``from_json`` + ``inline``: no Python
    worker, no RDD, one expression in the plan whatever the number of products), so a plan
    that scans it many times stays cheap to analyse. Columns drug_concept_id (long),
    ingredient_concept_id (long), ingredient_name, amount_value (double: ingredient amount
    per unit of the product, ``amounts`` keyed by (drug, ingredient), from drug_strength),
    min_daily_dose (double, per ingredient) and amount_value_low (double, ``amounts_low``: a smaller
    amount per unit the strength allows, a quantified liquid whose quantity may count its mL,
    ``stage.strength_per_unit_exprs``; null: the amount_value); null where not given. JSON numbers keep
    the doubles exactly (Python writes the shortest repr that reads back to the same double).
    """
    amounts, min_daily_dose, amounts_low = amounts or {}, min_daily_dose or {}, amounts_low or {}
    records = [
        {"drug_concept_id": d, "ingredient_concept_id": i, "ingredient_name": n,
         "amount_value": amounts.get((d, i)), "min_daily_dose": min_daily_dose.get(i),
         "amount_value_low": amounts_low.get((d, i))}
        for d, i, n in rows
    ]
    parsed = F.from_json(F.lit(json.dumps(records)), T.ArrayType(INGREDIENT_COLUMNS))
    return spark.range(1 if records else 0).select(F.inline(parsed))
