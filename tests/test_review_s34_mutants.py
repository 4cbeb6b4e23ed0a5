"""Mutation review of session 34 (helper "review", session 35): cases the session's tests let
hand mutants through, each a real fault of the code it guards. No Spark unless said.

``only_if_standard`` concept references (b143fc5, 442d3f4): the field case (round 24) and
test_fixesA_s34 build their vocabularies through Spark and hold each reference in one state only
(94.27 standard, 94.26 de-standardised); a reference given by ``concept_id`` that the release
lacks, and ``nonstandard_refs`` on a de-standardised one, were never asked. Here one hand-made
``Vocabulary`` holds every state at once: standard (a member), de-standardised (no member, its
concept_id a conditional source), absent by code and absent by ID (no member, "not in concept").

PGS Catalog complex alleles (b2f43d8): the HLA presence code 'P' was only ever tested beside an
HLA allele in rsID, which marks the row by itself; the code's own rule went untested.

Where a refused Spark setting came from (``stages.spark_setting_source``, 07d07db / 9c067e2): its
test wrote the key on a line of its own only, so a mutant taking any line that holds the key's
text (a comment, a longer key) named a file that set nothing.

The memory cgroup's room (``pgs.memory.cgroup_room``, 7504f08): its test held one limited cgroup
under an unlimited root, so neither a parent's smaller room (a pod's limit above its container's,
a systemd slice above a scope) nor the least of several rooms was ever needed: mutants reading the
process's own cgroup only, or the largest room, passed, and a pass sized to them could get the
pod OOM-killed with its files left on /dev/shm.

The MatrixTable entry reader's order check (188a596): every case of its test asked three rows, so
a mutant checking only requests of more than two rows passed; a task of two rows out of order
([4, 0], one per part) read each other's calls.

The export's model notes (130c7e0): its test built a release of one dataset, so the replication
table's notes ("replication fit failed: persons with missing values left out; ...", the case
``exported_note``'s docstring names) never reached the export: a mutant leaving them as the
models stage wrote them passed, and they told 1 or more persons lacking data where the audit
assumes 0 or more.

compare-releases' ``n_both`` (dbf1c2f): its test's one dataset shown by a single report held a
count under the threshold, which the audit hides anyway, so a mutant hiding ``n_both`` only
where NEITHER report shows the scored persons passed; with 20 or more it showed the exact count.

Provenance's top-level registry call (07d07db, d18f3ea): its test filled the registry through a
plain name (``X = register(rule)``); a registry filled through a method of one of the module's
own names (``_ = RULES.append(rule)``, the case ``_own_callee``'s docstring names) was never asked,
and a mutant reading only plain names passed: an edit to ``rule`` reran nothing that takes RULES.

Deaths read from ``omop.death_table`` (e738aed): where the run names the death table's location
in its messages (``omop_table_location``: the empty-table WARNINGs) no test asked, so a mutant
naming the CDM's ``death`` while ``aou_death`` was read passed.

The native pass's files' size (``pgen_engine.pass_files_bytes``, 89073b1): its tests asked for
room with need 0 or a monkeypatched room, so a mutant counting one score's matrices whatever the
score count passed; 61 scores then claimed 1/61 of the matrices' bytes, and a pass that does not
fit /dev/shm (RAM) was put there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_pgs_mt_entries import _entries

from trd_spark.config import ConceptRef, ConceptSet, load_config
from trd_spark.pgs.memory import cgroup_room
from trd_spark.pgs.mt_entries import EntriesReader
from trd_spark.pgs.native_task import _DOSAGE_OF_PLINK_CODE
from trd_spark.pgs.scoring_files import parse_scoring_file
from trd_spark.phenotypes.concepts import (
    Vocabulary,
    absent_refs,
    conditional_refs,
    conditional_source_ids,
    expand_concept_set,
    nonstandard_refs,
)
from trd_spark.report.tables import ReleaseCounts, hide_estimates_of_hidden_counts
from trd_spark.schemas import LOGISTIC_RESULTS, REPLICATION
from trd_spark.stages import spark_setting_source

ECT_SNOMED, ECT_9427, ECT_9426, ECT_BY_ID = 4030840, 2_000_000_601, 2_000_000_602, 2_000_000_699


def _ect_vocabulary() -> tuple[ConceptSet, Vocabulary]:
    """The ECT set of conf/concept_sets.yaml's shape: SNOMED ECT, and three ``only_if_standard``
    ICD9Proc references (94.27 standard here, 94.26 de-standardised, 94.25 absent) plus one by
    ID that this release's ``concept`` lacks."""
    def ref(code: str) -> ConceptRef:
        return ConceptRef(vocabulary_id="ICD9Proc", concept_code=code, name=f"ECT {code}", only_if_standard=True)

    cs = ConceptSet(domain="procedure", include=[
        ConceptRef(concept_id=ECT_SNOMED, name="Electroconvulsive therapy"), ref("94.27"), ref("94.26"), ref("94.25"),
        ConceptRef(concept_id=ECT_BY_ID, name="ECT by id", only_if_standard=True)])
    found = (ECT_SNOMED, ECT_9427, ECT_9426)
    vocab = Vocabulary(codes={("ICD9Proc", "94.27"): ECT_9427, ("ICD9Proc", "94.26"): ECT_9426},
                       descendants={}, names={ECT_SNOMED: "Electroconvulsive therapy"}, found=frozenset(found),
                       domains=dict.fromkeys(found, "Procedure"),
                       standard={ECT_SNOMED: "S", ECT_9427: "S", ECT_9426: None})
    return cs, vocab


def test_only_if_standard_references_in_every_state_of_one_release():
    """Members: SNOMED ECT and the standard 94.27 only. 94.26 (not standard) is neither
    ``nonstandard_refs``' error (a mutant dropping ``ref.only_if_standard`` there stopped every run
    on a release that de-standardises ICD9Proc) nor ``absent_refs``' WARNING; each of the three
    non-members is one INFO entry of ``conditional_refs``, the ID reference that ``concept`` lacks
    read "not in concept" (a mutant asking only whether its code resolved called it
    "standard_concept NULL": a concept that is not there); the de-standardised one alone is a
    conditional source concept (442d3f4's counted records)."""
    cs, vocab = _ect_vocabulary()
    assert expand_concept_set(cs, vocab) == {ECT_SNOMED, ECT_9427}
    assert nonstandard_refs(cs, vocab) == []
    assert absent_refs(cs, vocab) == []
    assert conditional_refs(cs, vocab) == [
        "ICD9Proc 94.26 (ECT 94.26): standard_concept NULL",
        "ICD9Proc 94.25 (ECT 94.25): not in concept",
        f"concept_id {ECT_BY_ID} (ECT by id): not in concept",
    ]
    assert conditional_source_ids(cs, vocab) == {ECT_9426}
    # The same references as excludes: no member removed but 94.27's, no error, the same INFO entries
    both = ConceptSet(domain="procedure", include=[cs.include[0], ConceptRef(concept_id=ECT_9427, name="x")],
                      exclude=cs.include[1:])
    assert expand_concept_set(both, vocab) == {ECT_SNOMED}
    assert nonstandard_refs(both, vocab) == [] and absent_refs(both, vocab) == []
    assert len(conditional_refs(both, vocab)) == 3
    assert conditional_source_ids(both, vocab) == frozenset()  # includes only: records of an exclude are not read


def test_the_hla_presence_code_alone_marks_a_complex_allele():
    """'P' (the Catalog's HLA presence code) on a row with an rsID and no flag: left out and
    counted beside the SNP (line 4), as pgsc_calc leaves it unmatched. A mutant without the 'P'
    rule made the file one error at the row (a one-letter code is otherwise no named allele)."""
    head = ("#pgs_id=PGS990241\n#genome_build=GRCh38\n"
            "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\n")
    sf = parse_scoring_file(head + "rs1\t1\t100\tA\tG\t0.5\nrs5\t6\t\tP\t\t0.3\n", source="s.txt")
    assert sf.n_complex_skipped == 1 and sf.variants["line"].tolist() == [4]
    assert any(n.startswith("1 variant row with a complex effect allele ('P'") for n in sf.notes), sf.notes


def test_a_spark_defaults_file_that_only_mentions_the_key_is_not_named_as_its_source(tmp_path, monkeypatch):
    """spark-submit reads a spark-defaults.conf line as ``key value``: a commented-out line and a
    longer key that starts with this one set nothing, so the error must not send the user to that
    file (which they would find saying nothing of it); the key's own line is named."""
    key = "spark.sql.files.ignoreCorruptFiles"
    cfg = load_config()
    assert key not in cfg.spark.extra_conf
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    defaults = tmp_path / "spark-defaults.conf"
    defaults.write_text(f"# {key} true\n{key}Extra true\nspark.driver.memory 4g\n")
    assert spark_setting_source(key, cfg).startswith("the session's Spark configuration")
    defaults.write_text(f"# {key} true\n{key}\ttrue\n")
    assert spark_setting_source(key, cfg) == str(defaults)


def test_a_parent_cgroups_smaller_room_caps_the_room(tmp_path):
    """v2 and v1 layouts: the process in ``/pod/ctr``; the pod limited to 64 MiB with 60 MiB used
    (4 MiB of room), its container to 1 GiB with 1 MiB used, the root unlimited: 4 MiB, the least
    room over the cgroup and its ancestors (kernel cgroup-v2.rst: a child's usage counts against
    each ancestor's limit)."""
    mib = 2**20
    for v2, (limit, usage, proc) in ((True, ("memory.max", "memory.current", "0::/pod/ctr\n")),
                                     (False, ("memory.limit_in_bytes", "memory.usage_in_bytes", "4:memory:/pod/ctr\n"))):
        root = tmp_path / f"cg{v2}"
        base = root if v2 else root / "memory"
        for folder, (lim, used) in ((base, ("max" if v2 else "9223372036854771712", "99999999")),
                                    (base / "pod", (64 * mib, 60 * mib)), (base / "pod" / "ctr", (1024 * mib, mib))):
            folder.mkdir(parents=True, exist_ok=True)
            (folder / limit).write_text(f"{lim}\n")
            (folder / usage).write_text(f"{used}\n")
        (tmp_path / f"proc{v2}").write_text(proc)
        assert cgroup_room(str(root), str(tmp_path / f"proc{v2}")) == 4 * mib, v2


@pytest.mark.parametrize("rows", [[4, 0], [3, 3]], ids=["two_across_parts", "two_repeated"])
def test_two_rows_out_of_order_are_refused(tmp_path, rows):
    """The fewest rows that can be out of order: [4, 0] (part 1's row before part 0's) and [3, 3]
    are one ValueError naming the MatrixTable, as three rows are (tests/test_flatmt_s34.py)."""
    with pytest.raises(ValueError, match="the entry reader's rows are not ascending and distinct"):
        EntriesReader(_entries(tmp_path), np.array(rows, dtype=np.int64), _DOSAGE_OF_PLINK_CODE)


def test_the_replication_tables_notes_leave_out_persons_left_out():
    """A replication row of a shown fit whose note says persons were left out: the export's row
    keeps its other note ("too few cases ...") without that part, as the results table's does
    (tests/test_privacy_s34.py); its estimates stay (the fits are shown)."""
    missing = "persons with missing values left out"
    fit = {"definition": "ad3", "contrast": "trd_vs_nonmdd", "pgs_id": "PGS900001", "trait": "t", "domain": "d",
           "beta": 0.1, "se": 0.2, "odds_ratio": 1.1, "ci_low": 0.7, "ci_high": 1.6, "p": 0.6, "converged": True,
           "failure_reason": None}
    logistic = pd.DataFrame([{**fit, "dataset": ds, "n": 525, "n_cases": 25, "note": missing}
                             for ds in ("discovery", "replication")], columns=LOGISTIC_RESULTS.names)
    replication = pd.DataFrame([{**fit, "dataset": "replication", "beta_discovery": 0.3, "p_adjusted_discovery": 0.01,
                                 "same_direction": None, "replicated": False,
                                 "note": f"replication fit failed: {missing}; too few cases (fewer than min_cases=20)"}],
                               columns=REPLICATION.names)
    rc = ReleaseCounts(cohort_flow=pd.DataFrame(), cohort_counts=None, logistic=logistic, cox=None,
                       pgs_distribution=None, primary_definition="ad3", replication=replication,
                       discovery_dataset="discovery")
    out = hide_estimates_of_hidden_counts({"logistic": logistic}, rc)
    assert out["logistic"]["note"].tolist() == ["", ""]
    assert out["replication"]["note"].tolist() == ["replication fit failed: too few cases (fewer than min_cases=20)"]
    assert out["replication"]["beta_discovery"].tolist() == [0.3]


def test_n_both_of_a_dataset_one_report_hides_is_a_label():
    """Datasets whose scored persons only release A's, only release B's, or both reports show,
    each with 150 persons in both releases (not small): only the last shows its number (150 is
    then A's or B's shown count less nothing); the others say "suppressed", whichever report hid
    it (tests/test_privacy_s34.py's reasoning: n_both is the earlier release's scored persons)."""
    from trd_spark.report.compare import pair_counts_shown

    counts = pd.DataFrame([("only_a", "PGS900001", 150, 400, 150, True, False),
                           ("only_b", "PGS900001", 400, 150, 150, False, True),
                           ("both", "PGS900001", 150, 400, 150, True, True)],
                          columns=["dataset", "pgs_id", "n_a", "n_b", "n_both", "shown_a", "shown_b"])
    assert list(pair_counts_shown(counts, 20)) == ["suppressed", "suppressed", 150]


def test_a_registry_filled_through_a_method_call_counts_its_entries(tmp_path, monkeypatch):
    """``_ = RULES.append(rule)`` at a module's top level: an importer of RULES by name takes
    rule's code (an edit to it changes that importer's digest), an importer of another name does
    not. (A bare ``RULES.append(rule)`` defines no name: the whole module counts, for every
    importer.)"""
    from temp_package import shared_digests, temp_package

    shared = "RULES = []\n\n\ndef rule():\n    return 1\n\n\n_ = RULES.append(rule)\n\n\ndef other():\n    return 2\n"
    files = {"__init__.py": "", "shared.py": shared, "user.py": "from review34_pkg.shared import RULES\n",
             "apart.py": "from review34_pkg.shared import other\n"}

    def digests() -> dict[str, str]:
        return shared_digests("review34_pkg", ("user", "apart"))

    with temp_package(tmp_path, monkeypatch, "review34_pkg", files) as root:
        before = digests()
        (root / "shared.py").write_text(shared.replace("return 1", "return 3"))
        after = digests()
        assert after["user"] != before["user"]
        assert after["apart"] == before["apart"]


def test_the_death_tables_location_names_the_configured_table():
    """BigQuery (the AoU Workbench CDR; no file system asked): ``project.dataset.aou_death`` where
    omop.death_table is aou_death, ``...death`` by default; other tables by their own name."""
    from trd_spark.phenotypes.omop import omop_table_location

    omop = load_config().omop.model_copy(update={"format": "bigquery", "path": "proj.cdr"})
    aou = omop.model_copy(update={"death_table": "aou_death"})
    assert omop_table_location(None, aou, "death") == "proj.cdr.aou_death"
    assert omop_table_location(None, omop, "death") == "proj.cdr.death"
    assert omop_table_location(None, aou, "person") == "proj.cdr.person"


def test_the_pass_files_bytes_cover_every_scores_matrices():
    """At least the bytes of the matrices a pass of n rows x k scores writes (slope and offset
    float64, n_vars int32: ``matching.weight_matrices``) plus the partial sums given, for 1 and
    61 scores."""
    from trd_spark.pgs.pgen_engine import pass_files_bytes

    n = 1000
    for k in (1, 61):
        matrices = 2 * np.zeros((n, k), dtype=np.float64).nbytes + np.zeros((n, k), dtype=np.int32).nbytes
        assert pass_files_bytes(n, k, 12345) >= matrices + 12345, k
