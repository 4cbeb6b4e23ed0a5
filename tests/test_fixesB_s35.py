"""Session 35 helper "fixesB": the read-through's findings 3-7 and 9 (f7d6547..dbf7fb5).

- Finding 4, the control rule: esketamine given in clinic and billed as HCPCS G2082 / G2083 (a
  procedure record, concept set ``esketamine_clinic``) keeps a person out of the controls as the
  same esketamine recorded as a drug does (docs/phenotypes.md "Controls are clean over the whole record";
  study.md: controls have no depression diagnosis and no antidepressant exposure).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config import write_config
from test_field_cases_round26_omop import G2082, G2083, HCPCS
from test_phenotypes_support import (
    ANCESTRY,
    CONCEPTS,
    ESKETAMINE_SPRAY,
    drug,
    duckdb_twin_rows,
    obs,
    person,
    proc,
    toy_config,
    write_omop_tables,
)

from trd_spark.config import ConfigError, load_config
from trd_spark.phenotypes.stage import derive_phenotype_tables, read_omop


def test_an_esketamine_clinic_visit_keeps_a_person_out_of_the_controls(spark, tmp_path):
    """No depression code for anyone. By hand (README's control rule):
    1: G2082 visit in 2019 -> excluded, antidepressant_no_mdd (f7d6547: non_MDD, a control, while
    2: the esketamine spray as a drug record in 2019 -> excluded, antidepressant_no_mdd);
    3: G2083 visit in 2025, after the cutoff (2023-07-01) -> excluded, antidepressant_no_mdd, outside
       follow-up only (controls are clean over the whole record);
    4: nothing -> non_MDD. The DuckDB twin, which implements the rule on its own, gives the same rows."""
    root = tmp_path / "omop"
    root.mkdir()
    pids = (1, 2, 3, 4)
    write_omop_tables(root, {
        "person": [person(p) for p in pids],
        "observation_period": [obs(p) for p in pids],
        "condition_occurrence": [],
        "drug_exposure": [drug(2, ESKETAMINE_SPRAY, "2019-05-01", days_supply=1)],
        "procedure_occurrence": [proc(1, G2082, "2019-05-01"), proc(3, G2083, "2025-02-01")],
        "concept": CONCEPTS + HCPCS,
        "concept_ancestor": [(a, b, 1, 1) for a, b in ANCESTRY],
    })
    cfg = toy_config(path=str(root))
    tables = derive_phenotype_tables(read_omop(spark, cfg), cfg)
    got = {int(r.person_id): (r.mdd_status, r.exclusion_reason, bool(r.excluded_outside_followup_only))
           for r in tables.mdd.collect()}
    no_ad = ("excluded", "antidepressant_no_mdd")
    assert got == {1: (*no_ad, False), 2: (*no_ad, False), 3: (*no_ad, True), 4: ("non_MDD", None, False)}
    twin = {(int(p), k): (s, r) for p, k, s, r in duckdb_twin_rows(
        root, cfg, tmp_path / "duck.parquet", "person_id, definition, status, exclusion_reason", "TRUE")}
    spark_rows = {(int(r.person_id), r.definition): (r.status, r.exclusion_reason)
                  for r in tables.phenotypes.collect()}
    assert twin == spark_rows
    assert {v for (p, _), v in twin.items() if p in (1, 3)} == {no_ad}


@pytest.mark.parametrize(("sets", "words"), [
    (["nope"], "phenotypes.mdd.control_exclusion_procedure_concept_sets.0: unknown concept set 'nope'"),
    (["esketamine"], "phenotypes.mdd.control_exclusion_procedure_concept_sets.0: concept set 'esketamine' "
                     "has domain 'drug'; expected procedure"),
])
def test_the_control_procedure_sets_are_checked(tmp_path, sets, words):
    """phenotypes.mdd.control_exclusion_procedure_concept_sets: an unknown set, or one of another
    domain (a drug set there would match no procedure record), is one ConfigError naming the key
    and the file; the shipped default names esketamine_clinic."""
    assert load_config().phenotypes.mdd.control_exclusion_procedure_concept_sets == ["esketamine_clinic"]
    path = write_config(tmp_path, lambda r: r["phenotypes"].setdefault("mdd", {}).update(
        control_exclusion_procedure_concept_sets=sets))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and words in str(err.value)


def test_a_uri_globs_later_files_are_read_at_their_ends_only(tmp_path):
    """Finding 3 (cost): on a URI, ``check_vcf_files`` read every file's whole header (its sample
    line: several MB per shard of a sharded callset) and first record, serially on the driver.
    Now a later file is read at its first 16 and last 28 bytes only (compression, name, BGZF end
    block); the first file gets the header and first-record checks. Bytes read are counted through
    the ``open_uri`` hook (local files standing in for gs:// shards); the per-file compression and
    name checks still stop a later shard: an uncompressed file named .bgz is one error naming it."""
    import gzip as gz_module
    import io

    from trd_spark.config import GenotypeSource
    from trd_spark.errors import InputDataError
    from trd_spark.pgs.genotypes import BGZF_EOF, check_vcf_files

    header = "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n" + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" \
        + "\t".join(f"S{i}" for i in range(2000)) + "\n"
    record = "chr1\t100\t.\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(["0/1"] * 2000) + "\n"
    shards = []
    for k in range(3):
        path = tmp_path / f"shard{k}.vcf.gz"
        # a gzip member then the BGZF end block stands in for a complete shard's ends (kind gzip)
        path.write_bytes(gz_module.compress((header + record).encode()) + BGZF_EOF)
        shards.append(str(path))
    read: dict[str, int] = {}

    class Counting(io.FileIO):
        def read(self, size=-1):
            out = super().read(size)
            read[self.name] += len(out or b"")
            return out

        def readinto(self, b):
            n = super().readinto(b)
            read[self.name] += n or 0
            return n

    def open_uri(path: str):
        local = path.removeprefix("file://")
        read.setdefault(local, 0)
        return Counting(local, "rb")

    def listed(_glob: str) -> list[str]:
        return [f"file://{p}" for p in shards]

    source = GenotypeSource(format="vcf", path=f"file://{tmp_path}/shard*.vcf.gz")
    assert check_vcf_files(source, uri_files=listed, open_uri=open_uri) is True  # plain gzip: read serially
    size = Path(shards[0]).stat().st_size
    assert read[shards[0]] >= size > 16 + 28  # the first shard: header and first record
    assert [read[p] for p in shards[1:]] == [16, 16]  # later shards: first bytes only (kind gzip, no end read)
    Path(shards[2]).write_bytes((header + record).encode())  # an uncompressed later shard named .gz
    with pytest.raises(InputDataError, match="not compressed but named as gzip") as err:
        check_vcf_files(source, uri_files=listed, open_uri=open_uri)
    assert f"file://{shards[2]}" in str(err.value)
