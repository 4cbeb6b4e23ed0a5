"""Participant identifiers in rendered text (a run log, an exported file), told apart from the
study's concept references.

A log line may name a concept-set reference of the config (``RxNorm 1000091 (doxepin ...)``,
``concept_id 4152280``: public OMOP vocabulary, e.g. ``phenotypes: concept set ...: 1
reference(s) used only where this release holds them ...``), and a vocabulary code can be the
same number as a toy person_id (RxNorm 1000091 is one; session 48). Only the exact labels the
phenotype stage writes for the LOADED config's references (``VOCAB CODE``, ``concept_id N``;
``trd_spark.phenotypes.concepts``) are taken out before the numbers are compared with the input
identifiers: the same number anywhere else (``person 1000091``, a bare ``1000091``) is still one.

Hex digests (a manifest's SHA-256s, a config hash: 32 hex digits or more as one word) are taken out
too: their digit runs are chance (``...b8536325c4f...``), and one that equals a toy person_id (about
one digest in 10,000 holds a 7-digit run in 1000001..1003000) would fail a clean run by chance.
"""

from __future__ import annotations

import re
from pathlib import Path

from trd_spark.config import Config, load_config

# A digest as one word: 32+ hex digits holding a letter (a run of digits alone stays a number).
DIGEST = re.compile(r"(?<![\w])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{32,}(?![\w])")


def concept_reference_labels(cfg: Config) -> set[str]:
    """Every include and exclude of ``cfg``'s concept sets as the stage names it in a log line:
    ``{vocabulary_id} {concept_code}`` for a reference by code, ``concept_id {id}`` by ID."""
    assert cfg.concept_sets is not None, "load the config with its concept sets (load_config)"
    labels = set()
    for concept_set in cfg.concept_sets.concept_sets.values():
        for ref in (*concept_set.include, *concept_set.exclude):
            labels.add(f"concept_id {ref.concept_id}" if ref.concept_id is not None
                       else f"{ref.vocabulary_id} {ref.concept_code}")
    return labels


def identifiers_in(text: str, ids: set[str], labels: set[str]) -> list[str]:
    """The numbers of ``text`` (runs of digits) that are input identifiers ``ids``, sorted, once
    each, after every whole occurrence of a concept-reference label of ``labels`` and every hex
    digest (``DIGEST``) is removed."""
    text = DIGEST.sub(" ", text)
    if labels:
        # Longest first, so "concept_id 4152280" is not cut inside a longer label; a label counts
        # only as a whole (not "RxNorm 10000910", not "xRxNorm 1000091").
        alternatives = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
        text = re.sub(rf"(?<![\w.])(?:{alternatives})(?![\w.])", " ", text)
    return sorted(set(re.findall(r"\d+", text)) & ids)


def config_labels(config: Path) -> set[str]:
    """``concept_reference_labels`` of the config file a run read."""
    return concept_reference_labels(load_config(config))
