"""The guard against a future raw person count in a log line or an error (tests/person_count_guard.py):
every message of the package that counts persons, samples or participants shows a label
(``logs.person_count_text``: 0, <T, T+), never the number; the guard finds a count planted
in a log call, an f-string error, a ``%``-format or a ``Steps.done`` person unit, and a word a
count chooses next to persons (``sample{'s' if n != 1 else ''}``, ``'one sample' if n == 1``)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from person_count_guard import (
    package_sites,
    raw_person_count_keys,
    raw_person_count_sites,
    raw_person_counts,
    raw_person_counts_in_json,
)

PACKAGE = Path(__file__).resolve().parent.parent / "trd_spark"

# Messages the guard reads as person counts that count no participant, each with the reason.
REVIEWED = {
    ("trd_spark/pipeline.py", "persons"):
        "the toy data's size (toy_data.persons in the config): synthetic persons, no participant",
    ("trd_spark/toydata/draws.py", "len(self._rows)"): "toy data generator: synthetic persons",
    ("trd_spark/pgs/pgen_engine.py", "str(e).splitlines()[0]"):
        "a library's read error after 'the samples:' (pandas' parser text), not a count",
    ("trd_spark/report/stage.py", "label"):
        "beyond_sd_note: the cohort manifest's notes.pgs_beyond_sd, written as person_count_text labels "
        "by cohort.stage.warn_beyond_sd",
}


def test_no_message_of_the_package_counts_persons_without_a_label():
    """Every f-string, %-formatted log message and ``Steps.done`` of trd_spark/ whose number
    counts persons / samples / participants shows a label (fails on fd84436: the pgs sample-map
    errors' ``{len(absent)} sample(s)``, the BGEN / .bed / .fam sample counts, the OMOP person
    table's duplicate rows and persons without a birth year)."""
    found = [s for s in package_sites(PACKAGE) if (s.path, s.value) not in REVIEWED]
    assert not found, "\n".join(map(str, found))
    reviewed = {(s.path, s.value) for s in package_sites(PACKAGE)}
    assert reviewed == set(REVIEWED), "a reviewed message is gone: drop it from REVIEWED"


PLANTED = {
    "log_percent_d": 'log.warning("phenotypes: %d persons without a birth year", n)',
    "log_words_between": 'log.info("cohort: %s: %s unrelated genotyped persons", ds, f"{n:,}")',
    "fstring_error": 'raise InputDataError(f"{len(absent)} sample(s) are not in the sample map")',
    "record_count_of_persons": 'raise InputDataError(f"OMOP: {n} duplicate person rows")',
    "of_total": 'log.warning(f"{n} of {total} participants lack a PGS")',
    "before_word": 'log.info("pgs: samples: %s", len(ids))',
    "percent_operator": 'text = "%d individuals dropped" % n',
    "steps_unit": 'steps.done("read persons", n, "persons")',
    # Privacy round 19 (lead 4): a word chosen by a count, next to a label or in place of one (n = 1).
    "count_chooses_plural": 'log.info("pgs: %s sample%s not in the map", person_count_text(n, T), "s" if n != 1 else "")',
    "count_chooses_words": "raise InputDataError(f\"{'one sample is' if len(absent) == 1 else 'samples are'} unmapped\")",
    "count_chooses_label": "log.warning(f\"{'a single' if n == 1 else person_count_text(n, T)} persons lack a score\")",
}
LABELLED = [
    'log.warning("phenotypes: %s persons without a birth year", person_count_text(n, threshold))',
    'raise InputDataError(f"{count_text(n, persons_below=T)} sample(s) are not in the sample map")',
    'raise InputDataError(f"sample(s) are not in the sample map (the first: sample #{i + 1})")',
    'log.info("a PGS third starts with fewer than %d persons", threshold)',
    'log.info(f"quantiles only with {threshold - 1} persons or more")',
    'steps.done("read persons", n, "persons", persons=True)',
    'log.info("pgs: %d variants, %d scoring files", n, k)',
    "print(f\"{n} {scheme}:// input{'s' if n > 1 else ''} not checked\")",  # inputs, not persons
    'log.info("%s persons%s", person_count_text(n, T), "; see the WARNING lines above" if n else "")',  # zero shown
    "raise InputDataError(f\"{'fewer' if n < len(samples) else 'more'} samples than the .fam\")",  # no number
]


@pytest.mark.parametrize("line", list(PLANTED.values()), ids=list(PLANTED))
def test_the_guard_finds_a_planted_raw_person_count(line):
    sites = raw_person_count_sites(textwrap.dedent(line))
    assert [s.value for s in sites] == (["n", "total"] if " of {total}" in line else [sites[0].value]), sites


@pytest.mark.parametrize("line", LABELLED)
def test_the_guard_passes_labels_thresholds_and_positions(line):
    assert raw_person_count_sites(line) == []


def test_the_guard_finds_a_raw_count_planted_in_a_real_module():
    """The package's own sample-map error with its count put back, as fd84436 wrote it."""
    path = PACKAGE / "pgs" / "genotypes.py"
    source = path.read_text()
    clean = raw_person_count_sites(source, "genotypes.py")
    old = 'f"sample(s) are not in the sample map ('
    assert source.count(old) == 1
    planted = raw_person_count_sites(source.replace(old, 'f"{len(absent)} sample(s) are not in the sample map ('),
                                     "genotypes.py")
    assert [s.value for s in planted if s not in clean] == ["len(absent)"], planted


def test_the_pgs_sample_errors_show_no_count():
    """sample_persons' errors (a sample ID twice, not a plain integer, absent from the sample
    map, two samples on one person) name the first sample's position and no count: samples
    are persons, and '1 sample(s)' / '#2, #5' gave their number (fails on fd84436)."""
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.genotypes import sample_persons

    cases = [
        (["1", "2", "2", "3", "3"], None),
        (["1", "01", "002", "4"], None),
        (["1", "1²", "3", "4"], None),  # '1²'.isdigit() but no int: was a ValueError naming the ID
        (["a", "b", "c", "d"], {"a": 1, "b": 2}),
        (["a", "b", "c", "d"], {"a": 1, "b": 1, "c": 1, "d": 2}),
    ]
    for ids, sample_map in cases:
        with pytest.raises(InputDataError) as e:
            sample_persons(ids, where="g.vcf", sample_map=sample_map)
        text = str(e.value)
        assert "the first: sample #" in text and raw_person_counts(text) == [], text
        assert not any(i in text for i in ids if len(i) > 1), text  # no sample ID
        assert not any(f"#{i}" in text for i in range(4, 6)), text  # the first only, not a list


def test_the_text_reader_finds_raw_counts_and_passes_labels():
    assert raw_person_counts("g.vcf: 3 sample(s) are not in the sample map")
    assert raw_person_counts("cohort: 1,780 unrelated genotyped persons")
    assert raw_person_counts("gate x: 35 of 2,983 persons")  # the 2,983
    # Counts as words (privacy round 19, lead 4): no label is a word.
    for text in ("g.vcf: one sample is not in the sample map", "cohort: seven unrelated genotyped persons removed",
                 "pgs: a single sample has no call on X", "Nineteen participants lack a PGS"):
        assert raw_person_counts(text), text
    for text in ("g.vcf: <20 sample(s) are missing", "cohort: 20+ genotyped persons with PGS, removed <20",
                 "0 persons", "the first: sample #3", "fewer than 20 persons", "pgs: 928 matched rows",
                 "IDs are never re-formatted (0042 and 42 would become one person)", "two genomes cannot be one person",
                 "someone's persons", "pgs: one scoring file per sample map"):
        assert raw_person_counts(text) == [], text


def test_the_guard_reads_keys_built_at_run_time():
    """Privacy round 10, item 3: a key a run builds (``quirk_log_text``'s ``n_<name> value``,
    an f-string dict key of a manifest, a summary's field) reads ``{k} {v}`` in the source, so
    the source reader cannot tell it counts persons, and in rendered text the person word comes
    before the number. ``raw_person_count_keys`` reads such pairs in text, and
    ``raw_person_counts_in_json`` numbers under such keys in a JSON record (the exported
    manifests and compare's _disclosure.json of the toy runs: test_privacy_export). Planted raw
    counts are found; the labels the package writes pass."""
    from trd_spark.phenotypes.stage import quirk_log_text

    planted = ["phenotypes: observation_periods: n_periods 2,993, n_open_periods 0",  # persons in disguise
               "phenotypes: birth_and_death: n_persons_death_undated 7",
               'notes: {"n_persons_with_overlap": 7}', "samples_missing=3"]
    for text in planted:
        assert raw_person_count_keys(text), text
    for part, counts in (("observation_periods", {"n_periods": 2993, "n_persons_with_overlap": 7}),
                         ("birth_and_death", {"n_persons_death_undated": 7}),
                         ("persons", {"n_persons": 3000, "n_sex_other": 7, "n_no_observation_period": 0})):
        line = quirk_log_text(part, counts, 20)
        assert raw_person_count_keys(line) == [], line
    records = ("condition records: n_records 714, n_unknown_person 0, n_kept 714", "pgs: n_variants 928")
    assert [raw_person_count_keys(t) for t in records] == [[], []]

    assert raw_person_counts_in_json({"notes": {"quirks": {"persons": {"n_persons": 3000}}}}) == [
        "notes.quirks.persons.n_persons: 3000"]
    assert raw_person_counts_in_json({"gates": [{"samples": {"A": 7, "B": "<20"}}]}) == ["gates[0].samples.A: 7"]
    assert raw_person_counts_in_json({"note": "35 of 2,983 persons"})
    assert raw_person_counts_in_json({"n_persons": "20+", "files": {"x.tsv": {"bytes": 7}}, "n_rows": 7}) == []


def test_identifier_guard_discounts_only_the_configs_concept_labels():
    """tests/identifier_guard.py (session 48): the phenotype stage's INFO line naming the
    only_if_standard reference RxNorm 1000091 (also a toy person_id) is no identifier, read from
    the loaded config's concept sets; the same number anywhere else still is one, and so is a
    vocabulary code the config does not reference."""
    from identifier_guard import config_labels, identifiers_in

    from trd_spark.config import DEFAULT_CONFIG

    labels = config_labels(DEFAULT_CONFIG)
    assert "RxNorm 1000091" in labels
    ids = {"1000091", "1000092", "10000910"}
    line = ("2026-12-07 03:26:54,165 INFO    trd_spark.phenotypes.stage: phenotypes: concept set antidepressants: "
            "1 reference(s) used only where this release holds them as a standard concept, not a member here: "
            "RxNorm 1000091 (doxepin hydrochloride 50 MG/ML Topical Cream): not in concept")
    assert identifiers_in(line, ids, labels) == []
    assert identifiers_in(line + "\nqc: person 1000091 dropped", ids, labels) == ["1000091"]
    assert identifiers_in("1000091", ids, labels) == ["1000091"]
    assert identifiers_in("RxNorm 10000910; xRxNorm 1000091", ids, labels) == ["1000091", "10000910"]
    assert identifiers_in("RxNorm 1000092", ids, labels) == ["1000092"]  # no reference of the config
