"""Who is male on X: the sex each genotype sample is read with, and what it is counted as.

A male's chrX call outside the pseudo-autosomal regions is one allele observation in the
frequency that imputes a missing X call (plink2 ``--freq``/``--score`` with the samples' sex,
docs/pgs.md "Dosage policy"). Where the sex comes from (``datasets[].genotypes.sex_source``):

- ``genotypes`` (default): the genotype files' own sex, as plink2 reads it: the .fam/.psam
  ``SEX`` (``pgen_engine.male_samples``), a BGEN's Oxford .sample ``sex`` column
  (``bgen_reader.sample_file_sex``; plink2 ``--sample``); else the ploidy of the calls on X
  (``genotypes.male_x_samples``, ``genotypes.vds_x_evidence``, BGEN ploidy-1 calls);
- a ``SexFile`` (``read_sex_file``): one sex per sample ID, as plink2 ``--update-sex`` reads
  it, used by every format and route; a VDS's pass over all of X's variant data is not run.

Codes: ``MALE`` 1, ``FEMALE`` 2, ``UNKNOWN`` 0 (plink2's; unknown is read as not male, as
plink2 counts a sample of unknown sex diploid on X). A declared male's heterozygous X call or
a declared female's haploid one is read as the call is (plink2 neither refuses nor sets it
missing: its ``--score`` counts a male's 0/1 as 1 copy and his call as one allele observation
of half an ALT) and counted as disagreeing (``SexCounts.disagreeing``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from trd_spark.errors import InputDataError, header_fields_text
from trd_spark.gates import label_reach, share_range
from trd_spark.logs import person_count_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from trd_spark.config import GenotypeSource, SexFile

log = logging.getLogger(__name__)

UNKNOWN, MALE, FEMALE = 0, 1, 2

# The sex codes plink2 reads in a .psam's SEX column, a BGEN .sample's sex column (--sample) and
# an --update-sex file (a .fam: 1 and 2 only): anything else (0, NA, -9) is unknown.
PLINK_MALE_CODES = ("1", "M", "m")
PLINK_FEMALE_CODES = ("2", "F", "f")


def plink_sex_codes(values: Iterable[str]) -> np.ndarray:
    """``MALE`` / ``FEMALE`` / ``UNKNOWN`` (int8) of each sex value as plink2 reads it."""
    return np.array([MALE if v in PLINK_MALE_CODES else FEMALE if v in PLINK_FEMALE_CODES else UNKNOWN
                     for v in values], dtype=np.int8)


def read_sex_file(text: str, spec: SexFile) -> dict[str, int]:
    """The sex file ``spec`` (its content ``text``) as sample ID -> ``MALE`` / ``FEMALE`` /
    ``UNKNOWN`` (a value in neither ``spec.male`` nor ``spec.female``, an empty field).
    Raises InputDataError naming ``spec.path`` and the line for a header without
    ``spec.id_column`` or ``spec.sex_column`` (only expected column names are quoted: a
    headerless file's first line holds IDs), a line with fewer fields than those columns need,
    and a sample ID listed twice (plink2 --update-sex refuses it too); never the ID itself."""
    lines = text.lstrip("\ufeff").splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise InputDataError("the sex file is empty (a header line naming "
                             f"{spec.id_column} and {spec.sex_column} is needed)", where=spec.path)
    sep = "\t" if "\t" in lines[first] else None
    header = [f.strip().removeprefix("#") for f in lines[first].rstrip("\r").split(sep)]
    wanted = [spec.id_column, spec.sex_column]
    if not all(c in header for c in wanted):
        raise InputDataError(f"the header names no {' or '.join(c for c in wanted if c not in header)} column "
                             f"(datasets[].genotypes.sex_source): {header_fields_text(header, wanted)}",
                             where=f"{spec.path}:{first + 1}")
    id_at, sex_at = header.index(spec.id_column), header.index(spec.sex_column)
    male, female = set(spec.male), set(spec.female)
    out: dict[str, int] = {}
    for n, line in enumerate(lines[first + 1:], first + 2):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split(sep)
        if len(fields) <= max(id_at, sex_at):
            raise InputDataError(f"{len(fields)} field(s), fewer than the header's {spec.id_column} and "
                                 f"{spec.sex_column} columns need", where=f"{spec.path}:{n}")
        sample, sex = fields[id_at].strip(), fields[sex_at].strip()
        if sample in out:
            raise InputDataError(f"a sample ID ({spec.id_column}) listed twice", where=f"{spec.path}:{n}")
        out[sample] = MALE if sex in male else FEMALE if sex in female else UNKNOWN
    return out


def declared_sex_of_persons(by_sample: Mapping[str, int], sample_map: Mapping[str, int] | None) -> dict[str, int]:
    """``read_sex_file``'s sample ID -> sex as person ID (text, the genotype columns' key after
    ``genotypes.samples_to_persons``) -> sex: through ``sample_map`` when given (a sample ID the
    map lacks is no genotype sample, ``sample_persons`` refuses such files), else as written."""
    if sample_map is None:
        return dict(by_sample)
    return {str(sample_map[s]): sex for s, sex in by_sample.items() if s in sample_map}


def sex_codes(persons: Sequence[str], declared: Mapping[str, int]) -> np.ndarray:
    """Per person of ``persons`` (file order), the declared sex (int8), -1 when the sex file
    does not list the sample (read as unknown)."""
    return np.array([declared.get(p, -1) for p in persons], dtype=np.int8)


@dataclasses.dataclass
class SexCounts:
    """One dataset's samples by the sex they were read with on X (exact counts: the manifest
    and logs show them as labels, ``note``). ``source``: ``file`` (a ``SexFile``) or what the
    genotypes gave (``fam``, ``psam``, ``bgen_sample``, ``calls``). ``not_in_file``: samples the
    sex file does not list (read as unknown); ``disagreeing``: samples whose declared sex
    disagrees with their scored X calls (a male with a heterozygous call, a female with a
    haploid one), None when not checked (bed/pgen: no ploidy in the file)."""

    source: str
    male: int
    female: int
    unknown: int
    not_in_file: int = 0
    disagreeing: int | None = None

    @classmethod
    def of_codes(cls, source: str, codes: np.ndarray, disagreeing: int | None = None) -> SexCounts:
        """From ``sex_codes``' array (-1: not in the file)."""
        return cls(source, int((codes == MALE).sum()), int((codes == FEMALE).sum()),
                   int(((codes == UNKNOWN) | (codes < 0)).sum()), int((codes < 0).sum()), disagreeing)

    def note(self, persons_below: int) -> dict[str, str]:
        """The manifest's ``notes.sample_sex`` entry: the source and each count as a label
        (``logs.person_count_text``: 0, <T, T+), never the count (privacy rule)."""
        out = {"source": self.source}
        for name in ("male", "female", "unknown", "not_in_file", "disagreeing"):
            n = getattr(self, name)
            out[name] = "not checked" if n is None else person_count_text(n, persons_below)
        return out

    def check(self, dataset: str, warn_share: float, persons_below: int) -> None:
        """Log the counts (INFO), and a WARNING when they are implausible: no male or no female
        among the samples, or more than ``warn_share`` of them of unknown sex or disagreeing with
        their calls (a sex file of another release, other codes than ``male``/``female``). The
        counts are labels (0, <T, T+; T = ``persons_below``) and a share is over the largest count
        its labels leave (``gates.share_range``), so whether it warned says no more of a count of
        1..T-1 than its label: decided on the exact share, it did (16..19 of 306)."""
        total = self.male + self.female + self.unknown
        text = self.note(persons_below)
        log.info("pgs: %s: sex on X from %s: male %s, female %s, unknown %s (not in the sex file %s), "
                 "disagreeing with their X calls %s", dataset, self.source, text["male"], text["female"],
                 text["unknown"], text["not_in_file"], text["disagreeing"])
        why = []
        if total and (not self.male or not self.female):
            why.append(f"no {'male' if not self.male else 'female'} sample")
        # Decided on what the INFO line's labels leave (gates.share_range), not the exact share:
        # with the export's scored samples (306) a WARNING at 5% put a "<20" of unknown sex at 16..19.
        least, largest = share_range(self.unknown, total, persons_below)
        if total and largest > warn_share:
            why.append(f"a share of samples of unknown sex above pgs.sex_warn_share ({warn_share:.0%}; "
                       f"{'some' if self.not_in_file else 'none'} of them not in the sex file)"
                       + label_reach((least, largest), labels=1))
        least, largest = share_range(self.disagreeing or 0, total, persons_below)
        if total and self.disagreeing and largest > warn_share:
            why.append(f"a share of samples disagreeing with their X calls above pgs.sex_warn_share ({warn_share:.0%}: "
                       "a declared male with a heterozygous call, a female with a haploid one)"
                       + label_reach((least, largest), labels=1))
        if why:
            log.warning("pgs: %s: implausible sex on X (%s): %s; a missing X call is imputed with males counted "
                        "haploid: check the sex source's file, ID and sex columns and codes "
                        "(datasets[].genotypes.sex_source)", dataset, self.source, "; ".join(why))


@dataclasses.dataclass
class SexOnX:
    """What ``engine.score`` reads the sex on X with, and what it found: ``declared``, person ID
    (text) -> sex of a ``SexFile`` (``declared_sex_of_persons``), None for the genotypes' own;
    ``counts``, set by ``engine.score`` when the sex source gives counts (a sex file, a .fam /
    .psam, a BGEN .sample's sex column, a VDS's calls on X), else left None."""

    declared: dict[str, int] | None = None
    counts: SexCounts | None = None
    # Where ``declared`` came from: ``file`` (a SexFile) or ``bgen_sample`` (a BGEN .sample's sex column).
    source: str = "file"


def dataset_sex(source: GenotypeSource, sample_map: Mapping[str, int] | None,
                read_text: Callable[[str], str]) -> SexOnX:
    """The sex on X of one dataset's genotypes ``source`` before scoring: a sex file
    (``source.sex_source``, read with ``read_text(path)``: ``io.Fs.read_text``) declared as it
    says; else a BGEN's Oxford .sample ``sex`` column (``bgen_reader.sample_file_sex``: plink2
    --sample reads it, while the calls of a bgenix / qctool export code a male's X diploid; a
    BGEN on a URI, gs:// / hdfs:// / file://, read through Hail's file system ``hailtop.fs``, as
    ``genotypes.read_genotypes`` reads its .sample's IDs); else nothing declared
    (``engine.score`` reads the genotypes' own sex). Person IDs
    through ``sample_map`` (``declared_sex_of_persons``). Errors as ``read_sex_file`` /
    ``bgen_reader.sample_file_table``."""
    from trd_spark.config import SexFile, is_uri

    spec = source.sex_source
    if isinstance(spec, SexFile):
        return SexOnX(declared_sex_of_persons(read_sex_file(read_text(spec.path), spec), sample_map), source="file")
    if source.format == "bgen":
        from trd_spark.pgs.bgen_reader import BgenFiles, sample_file_sex, sample_ids

        fs: Any = None
        if is_uri(source.path):
            # The .sample beside a BGEN on a URI was not read (its males' X calls counted as
            # diploid, silently, where plink2 --sample reads their sex).
            import hailtop.fs

            fs = hailtop.fs
        files = BgenFiles.open(source.path) if fs is None else BgenFiles.open(source.path, fs.open)
        codes = sample_file_sex(files, fs)
        if codes is not None:
            by_sample = dict(zip(sample_ids(files, fs), (int(c) for c in codes), strict=True))
            return SexOnX(declared_sex_of_persons(by_sample, sample_map), source="bgen_sample")
    return SexOnX()
