"""Toy OMOP CDM v5.4 tables: persons, a status drawn from the true PGS, and EHR timelines.

Status (one per person) is drawn first; then each status group's records are generated at once
with numpy (no per-person Python loops), so 300k persons take seconds. Every draw is keyed by
person (draws.PersonRng; a drug fill by person and rank), and the status model's intercepts are
calibrated on a fixed reference sample, so the first N persons of a bigger toy release have the
same status and records as a release of N persons (a later release is a superset). All dates are held as
int64 days since 1970-01-01 and written as date32. Every clinical date lies inside the person's
observation period and before death; the phenotype rules the pipeline applies by default
(see /work/notes/toydata.md) reproduce the drawn status:

- non_MDD: no depression code, no antidepressant.
- MDD_other: 2-4 MDD diagnoses; none or one 30-day antidepressant fill (not an adequate trial).
- trMDD: 2-4 MDD diagnoses; 1-2 adequate trials (2-6 consecutive 30-day fills) of distinct
  ingredients, ~15% one trial + augmentation; >= 1 year follow-up after the index.
- TRD: 2-4 MDD diagnoses; three sequential adequate trials of distinct ingredients, onset
  (3rd trial start) 200-1500 days after index; ~60% augmentation during the 2nd trial; ~10% ECT
  after the 2nd trial.
- noise_single_diagnosis: one depression diagnosis only (neither case nor control).
- excluded_bipolar: MDD plus a bipolar diagnosis. excluded_young_index: MDD index at age < 18.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trd_spark.toydata import vocabulary as voc
from trd_spark.toydata.draws import PersonRng, uniforms

STATUSES: tuple[str, ...] = (
    "non_MDD", "trMDD", "TRD", "MDD_other",
    "noise_single_diagnosis", "excluded_bipolar", "excluded_young_index",
)
NON_MDD, TRMDD, TRD, MDD_OTHER, NOISE_SINGLE, EXCL_BIPOLAR, EXCL_YOUNG = range(7)
# Share of all persons per status; the first four are reached through the multinomial logit.
STATUS_TARGETS = {"non_MDD": 0.60, "trMDD": 0.18, "TRD": 0.12, "MDD_other": 0.06}
NOISE_SHARES = {NOISE_SINGLE: 0.02, EXCL_BIPOLAR: 0.01, EXCL_YOUNG: 0.01}
DATASETS: tuple[str, ...] = ("discovery", "replication_wgs", "replication_array")
DATASET_SHARES = (0.45, 0.35, 0.20)
NO_GENOME_RATE = 0.01
ANCESTRY_GROUPS: tuple[str, ...] = ("eur", "afr", "amr")
ANCESTRY_SHARES = (0.60, 0.25, 0.15)
FEMALE_RATE = 0.60
FEMALE_LOG_OR = 0.3  # on every MDD category vs non_MDD
AGE_LOG_OR_PER_YEAR = -0.005  # ditto, age at the data cutoff, centred at 50
AGE_CENTRE = 50.0
FILL_DAYS = 30
DEATH_RATE = 0.02
TWO_PERIOD_RATE = 0.02
DUPLICATE_DRUG_RATE = 0.03
END_EQUALS_START_RATE = 0.5  # the EHR "single order" quirk: end = start, length in days_supply

GENDER_MALE, GENDER_FEMALE = 8507, 8532
CONDITION_TYPE_EHR = 32817
DRUG_TYPE_EHR = 32838
PERIOD_TYPE_EHR = 44814724
ROUTE_UNKNOWN = 0  # OMOP "no matching concept"; the pipeline does not use route
# Common OMOP Race / Ethnicity concepts (not used by the pipeline; shape only).
RACE_BY_GROUP = np.array([8527, 8516, 8527])
ETHNICITY_HISPANIC, ETHNICITY_NOT_HISPANIC = 38003563, 38003564

SOURCE_VALUES = {
    voc.MDD: "F32.9", voc.RECURRENT_MDD: "F33.9", voc.SINGLE_EPISODE_MDD: "F32.0",
    voc.SEVERE_MDD: "F32.2", voc.DEPRESSIVE_DISORDER: "F32.A", voc.DYSTHYMIA: "F34.1",
    voc.BIPOLAR: "F31.9", voc.BIPOLAR_I: "F31.9", voc.BIPOLAR_I_DEPRESSED: "F31.30",
    voc.ESSENTIAL_HYPERTENSION: "I10", voc.TYPE2_DIABETES: "E11.9", voc.ASTHMA: "J45.909",
}


def day(iso: str) -> int:
    """Days since 1970-01-01 of an ISO date."""
    return int(np.datetime64(iso, "D").astype(np.int64))


DATA_CUTOFF = day("2023-07-01")
LAST_DAY = day("2023-06-30")
INDEX_FIRST, INDEX_LAST = day("2012-01-01"), day("2020-12-31")


def _between(rng: PersonRng, lo, hi, size: int | tuple | None = None) -> np.ndarray:
    """Uniform integers in [lo, hi] (inclusive), lo/hi scalars or arrays."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.maximum(np.asarray(hi, dtype=np.int64), lo)
    if size is None:
        size = np.broadcast(lo, hi).shape
    return lo + np.floor(rng.random(size) * (hi - lo + 1)).astype(np.int64)


def _pick(rng, options, size: int | tuple[int, int]) -> np.ndarray:
    return np.asarray(options, dtype=np.int64)[rng.integers(0, len(options), size)]


def _distinct_ingredients(rng: PersonRng, n: int, k: int) -> np.ndarray:
    """(n, k) distinct trial ingredients per person (argsort of uniforms = random permutation)."""
    perm = np.argsort(rng.random((n, len(voc.TRIAL_INGREDIENTS))), axis=1)[:, :k]
    return np.asarray(voc.TRIAL_INGREDIENTS, dtype=np.int64)[perm]


@dataclass(frozen=True)
class Persons:
    """One row per OMOP person. dataset indexes DATASETS (-1: no genome); group ANCESTRY_GROUPS."""

    person_id: np.ndarray
    dataset: np.ndarray
    group: np.ndarray
    female: np.ndarray
    birth: np.ndarray  # days since epoch

    @property
    def n(self) -> int:
        return len(self.person_id)


def draw_persons(rng: np.random.Generator | PersonRng, n: int) -> Persons:
    """Person IDs 1_000_001.., dataset, ancestry group, sex, birth date (age 20-85 at the cutoff).

    With a PersonRng (the toy generator) person i's values do not depend on n."""
    person_id = 1_000_001 + np.arange(n, dtype=np.int64)
    dataset = rng.choice(len(DATASETS), size=n, p=DATASET_SHARES)
    dataset[rng.random(n) < NO_GENOME_RATE] = -1
    group = rng.choice(len(ANCESTRY_GROUPS), size=n, p=ANCESTRY_SHARES)
    female = rng.random(n) < FEMALE_RATE
    age_days = np.floor(rng.uniform(20.0, 85.0, n) * 365.25).astype(np.int64)
    return Persons(person_id, dataset, group, female, DATA_CUTOFF - age_days)


def age_at_cutoff(birth: np.ndarray) -> np.ndarray:
    """Approximate age in years (days / 365.25) used only to plant toy effects, not for study ages."""
    return (DATA_CUTOFF - birth) / 365.25


def status_probabilities(lin_trd: np.ndarray, lin_trmdd: np.ndarray, lin_other: np.ndarray,
                         intercepts: np.ndarray) -> np.ndarray:
    """(n, 4) probabilities of non_MDD, trMDD, TRD, MDD_other under the multinomial logit."""
    eta = np.stack([np.zeros_like(lin_trd), intercepts[0] + lin_trmdd,
                    intercepts[1] + lin_trd, intercepts[2] + lin_other], axis=1)
    eta -= eta.max(axis=1, keepdims=True)
    p = np.exp(eta)
    return p / p.sum(axis=1, keepdims=True)


def _linear_predictors(persons: Persons, birth: np.ndarray, pgs_z: np.ndarray, log_or_trd: np.ndarray,
                       log_or_trmdd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(TRD, trMDD) linear predictors per person: planted log-ORs x standardised PGS + sex and age."""
    covariate = FEMALE_LOG_OR * persons.female + AGE_LOG_OR_PER_YEAR * (age_at_cutoff(birth) - AGE_CENTRE)
    return log_or_trd @ pgs_z + covariate, log_or_trmdd @ pgs_z + covariate


def calibrate_intercepts(lin_trd: np.ndarray, lin_trmdd: np.ndarray) -> np.ndarray:
    """Intercepts (trMDD, TRD, MDD_other) whose mean probabilities over these persons are the
    STATUS_TARGETS shares among persons who are not noise (fixed-point iteration)."""
    eligible_share = 1.0 - sum(NOISE_SHARES.values())
    target = np.array([STATUS_TARGETS[s] for s in ("non_MDD", "trMDD", "TRD", "MDD_other")]) / eligible_share
    intercepts = np.log(target[1:] / target[0])
    for _ in range(50):
        mean_p = status_probabilities(lin_trd, lin_trmdd, lin_trmdd, intercepts).mean(axis=0)
        intercepts += np.log(target[1:] / mean_p[1:]) - np.log(target[0] / mean_p[0])
    return intercepts


def draw_statuses(
    rng: np.random.Generator, persons: Persons, pgs_z: np.ndarray,
    log_or_trd: np.ndarray, log_or_trmdd: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Status per person, birth dates (young-index noise persons made young) and intercepts.

    pgs_z: (n_scores, n) standardised true PGS. Noise persons are set aside first (exact counts);
    the others get a multinomial-logit status whose intercepts are calibrated on these persons so
    the overall shares match STATUS_TARGETS. Not prefix-stable (see draw_statuses_by_person).
    """
    n = persons.n
    status = np.full(n, -1)
    birth = persons.birth.copy()
    order = rng.permutation(n)
    start = 0
    for code, share in NOISE_SHARES.items():
        k = max(1, int(round(share * n)))
        status[order[start:start + k]] = code
        start += k
    young = status == EXCL_YOUNG
    birth[young] = DATA_CUTOFF - np.floor(rng.uniform(20.5, 26.0, young.sum()) * 365.25).astype(np.int64)

    eligible = status < 0
    lin_trd, lin_trmdd = (x[eligible] for x in _linear_predictors(persons, birth, pgs_z, log_or_trd, log_or_trmdd))
    intercepts = calibrate_intercepts(lin_trd, lin_trmdd)
    p = status_probabilities(lin_trd, lin_trmdd, lin_trmdd, intercepts)
    u = rng.random(len(p))[:, None]
    status[eligible] = (u > np.cumsum(p, axis=1)).sum(axis=1).clip(0, 3)
    return status, birth, intercepts


REFERENCE_PERSONS = 20_000


def reference_intercepts(seed: int, log_or_trd: np.ndarray, log_or_trmdd: np.ndarray) -> np.ndarray:
    """Intercepts calibrated on a fixed reference sample (REFERENCE_PERSONS persons drawn as
    draw_persons does, independent N(0, 1) standardised PGS): the same for every toy release
    size, so a person's status probabilities do not depend on who else is in the release."""
    rng = np.random.default_rng([seed, 13])
    ref = draw_persons(rng, REFERENCE_PERSONS)
    z = rng.normal(size=(len(log_or_trd), REFERENCE_PERSONS))
    return calibrate_intercepts(*_linear_predictors(ref, ref.birth, z, log_or_trd, log_or_trmdd))


def draw_statuses_by_person(
    rng: PersonRng, persons: Persons, pgs_z: np.ndarray, log_or_trd: np.ndarray, log_or_trmdd: np.ndarray,
    intercepts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Status and birth dates per person from the person's own draws (prefix-stable).

    Noise statuses by NOISE_SHARES probabilities (counts vary, unlike draw_statuses), the others
    from the multinomial logit with the given `intercepts` (reference_intercepts).
    """
    n = persons.n
    u_noise, u_young, u_status = rng.random((n, 3)).T
    status = np.full(n, -1)
    edges = np.cumsum(list(NOISE_SHARES.values()))
    noise = u_noise < edges[-1]
    status[noise] = np.asarray(list(NOISE_SHARES))[np.searchsorted(edges, u_noise[noise], side="right")]
    birth = persons.birth.copy()
    young = status == EXCL_YOUNG
    birth[young] = DATA_CUTOFF - np.floor((20.5 + 5.5 * u_young[young]) * 365.25).astype(np.int64)
    eligible = status < 0
    lin_trd, lin_trmdd = (x[eligible] for x in _linear_predictors(persons, birth, pgs_z, log_or_trd, log_or_trmdd))
    p = status_probabilities(lin_trd, lin_trmdd, lin_trmdd, intercepts)
    status[eligible] = (u_status[eligible][:, None] > np.cumsum(p, axis=1)).sum(axis=1).clip(0, 3)
    return status, birth


@dataclass
class _Records:
    """Clinical records gathered across status groups (person index, concept, date)."""

    cond: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    fills: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    proc: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    def add_course(self, who: np.ndarray, ingredient: np.ndarray, start: np.ndarray, n_fills: np.ndarray) -> None:
        """Consecutive 30-day fills: fill j of a course starts at start + 30 j."""
        rep = np.repeat(np.arange(len(who)), n_fills)
        j = np.arange(len(rep)) - np.repeat(np.cumsum(n_fills) - n_fills, n_fills)
        self.fills.append((who[rep], ingredient[rep], start[rep] + FILL_DAYS * j))


def _adult_from(birth: np.ndarray) -> np.ndarray:
    """Earliest MDD index for an adult case: a month after the 18th birthday."""
    return birth + int(np.ceil(18 * 365.25)) + 30


def _mdd_diagnoses(rng: PersonRng, rec: _Records, who: np.ndarray, index: np.ndarray) -> np.ndarray:
    """2-4 MDD diagnoses on distinct dates, the first on the index date; returns the last date.

    Gaps of 7-240 days, shrunk for late indexes so that every diagnosis precedes LAST_DAY - 10."""
    k = rng.integers(2, 5, len(who))
    gaps = _between(rng, 7, 240, (len(who), 3))
    scale = np.clip((LAST_DAY - 10 - index) / 720.0, 0.0, 1.0)[:, None]
    gaps = np.maximum(1, np.floor(gaps * scale)).astype(np.int64)
    dates = index[:, None] + np.concatenate([np.zeros((len(who), 1), np.int64), np.cumsum(gaps, axis=1)], axis=1)
    keep = np.arange(4)[None, :] < k[:, None]
    rows = np.broadcast_to(who[:, None], keep.shape)[keep]
    rec.cond.append((rows, _pick(rng, voc.MDD_DIAGNOSES, (len(who), 4))[keep], dates[keep]))
    return dates[np.arange(len(who)), k - 1]


@dataclass
class _Timeline:
    """Per-person anchors filled in by the status generators (days since epoch; -1 = none)."""

    index: np.ndarray
    onset: np.ndarray
    first_event: np.ndarray
    min_end: np.ndarray


def _trd(rng, rec: _Records, tl: _Timeline, who: np.ndarray, birth: np.ndarray) -> dict[str, int]:
    m = len(who)
    lo = np.maximum(INDEX_FIRST, _adult_from(birth[who]))
    # index -> TRD onset; the youngest persons (adult only from 2021) get a shorter gap so that
    # the third trial still fits before LAST_DAY.
    gap = np.minimum(_between(rng, 200, 1500, m), LAST_DAY - 240 - lo)
    index = _between(rng, lo, np.maximum(np.minimum(INDEX_LAST, LAST_DAY - gap - 240), lo))
    off1 = _between(rng, 0, np.minimum(90, gap - 200))
    s1, window = index + off1, gap - off1  # window >= 200 days holds trials 1 and 2
    n1 = np.minimum(rng.integers(2, 7, m), window // FILL_DAYS - 2)
    n2 = np.minimum(rng.integers(2, 7, m), window // FILL_DAYS - n1)
    s2 = s1 + FILL_DAYS * n1 + _between(rng, 0, window - FILL_DAYS * (n1 + n2))
    s3 = index + gap
    n3 = rng.integers(2, 7, m)
    ing = _distinct_ingredients(rng, m, 3)
    for c, s, nf in ((0, s1, n1), (1, s2, n2), (2, s3, n3)):
        rec.add_course(who, ing[:, c], s, nf)
    end = s3 + FILL_DAYS * n3

    aug = rng.random(m) < 0.6
    a_start = s2 + _between(rng, 0, FILL_DAYS * n2 - 1)
    a_n = rng.integers(2, 4, m)
    rec.add_course(who[aug], _pick(rng, voc.TRIAL_AUGMENTATION, m)[aug], a_start[aug], a_n[aug])
    end = np.where(aug, np.maximum(end, a_start + FILL_DAYS * a_n), end)

    ect = rng.random(m) < 0.10
    ect_day = s2 + FILL_DAYS * n2 + _between(rng, 0, 60, m)
    sessions = rng.integers(1, 4, m)
    ect_concept = _pick(rng, voc.ECT_PROCEDURES, m)
    rep = np.repeat(np.flatnonzero(ect), sessions[ect])
    j = np.arange(len(rep)) - np.repeat(np.cumsum(sessions[ect]) - sessions[ect], sessions[ect])
    rec.proc.append((who[rep], ect_concept[rep], ect_day[rep] + 3 * j))
    end = np.where(ect, np.maximum(end, ect_day + 3 * (sessions - 1)), end)

    last_dx = _mdd_diagnoses(rng, rec, who, index)
    tl.index[who], tl.onset[who], tl.first_event[who] = index, s3, index
    tl.min_end[who] = np.maximum.reduce([end, last_dx, index + 365]) + 1
    return {"trd_with_augmentation": int(aug.sum()), "trd_with_ect": int(ect.sum())}


def _index_dates(rng: PersonRng, who: np.ndarray, birth: np.ndarray) -> np.ndarray:
    """MDD index 2012-2020, at adult age (after 2020 for the few adults only from 2021)."""
    lo = np.maximum(INDEX_FIRST, _adult_from(birth[who]))
    return _between(rng, lo, np.maximum(INDEX_LAST, lo))


def _trmdd(rng, rec: _Records, tl: _Timeline, who: np.ndarray, birth: np.ndarray) -> dict[str, int]:
    m = len(who)
    index = _index_dates(rng, who, birth)
    one_aug = rng.random(m) < 0.15
    two = (rng.random(m) < 0.5) & ~one_aug
    ing = _distinct_ingredients(rng, m, 2)
    s1 = index + _between(rng, 0, 180, m)
    n1 = rng.integers(2, 7, m)
    s2 = s1 + FILL_DAYS * n1 + _between(rng, 0, 120, m)
    n2 = rng.integers(2, 7, m)
    rec.add_course(who, ing[:, 0], s1, n1)
    rec.add_course(who[two], ing[two, 1], s2[two], n2[two])
    end = np.where(two, s2 + FILL_DAYS * n2, s1 + FILL_DAYS * n1)
    a_start = s1 + _between(rng, 0, FILL_DAYS * n1 - 1)
    a_n = rng.integers(2, 4, m)
    rec.add_course(who[one_aug], _pick(rng, voc.TRIAL_AUGMENTATION, m)[one_aug], a_start[one_aug], a_n[one_aug])
    end = np.where(one_aug, np.maximum(end, a_start + FILL_DAYS * a_n), end)
    last_dx = _mdd_diagnoses(rng, rec, who, index)
    tl.index[who], tl.first_event[who] = index, index
    tl.min_end[who] = np.maximum.reduce([end, last_dx, index + 365]) + 1
    return {"trmdd_two_trials": int(two.sum()), "trmdd_one_trial_augmentation": int(one_aug.sum())}


def _mdd_other(rng, rec: _Records, tl: _Timeline, who: np.ndarray, birth: np.ndarray) -> dict[str, int]:
    m = len(who)
    index = _index_dates(rng, who, birth)
    short = rng.random(m) < 0.5
    start = index + _between(rng, 0, 180, m)
    rec.add_course(who[short], _pick(rng, voc.TRIAL_INGREDIENTS, m)[short], start[short], np.ones(short.sum(), np.int64))
    last_dx = _mdd_diagnoses(rng, rec, who, index)
    tl.index[who], tl.first_event[who] = index, index
    tl.min_end[who] = np.maximum(last_dx, np.where(short, start + FILL_DAYS, 0)) + 1
    return {"mdd_other_one_short_fill": int(short.sum())}


def _noise_single(rng, rec: _Records, tl: _Timeline, who: np.ndarray, birth: np.ndarray) -> dict[str, int]:
    m = len(who)
    date = _between(rng, INDEX_FIRST, INDEX_LAST, m)
    rec.cond.append((who, _pick(rng, voc.MDD_DIAGNOSES + (voc.DYSTHYMIA,), m), date))
    tl.first_event[who], tl.min_end[who] = date, date + 1
    return {}


def _one_trial_some(rng, rec: _Records, who: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Half of the persons get one adequate trial after the index; returns its end (or index)."""
    m = len(who)
    treated = rng.random(m) < 0.5
    start = index + _between(rng, 0, 90, m)
    n = rng.integers(2, 5, m)
    rec.add_course(who[treated], _pick(rng, voc.TRIAL_INGREDIENTS, m)[treated], start[treated], n[treated])
    return np.where(treated, start + FILL_DAYS * n, index)


def _excluded_bipolar(rng, rec: _Records, tl: _Timeline, who: np.ndarray, birth: np.ndarray) -> dict[str, int]:
    m = len(who)
    index = _index_dates(rng, who, birth)
    bipolar_day = np.minimum(index + _between(rng, -365, 700, m), LAST_DAY - 10)
    rec.cond.append((who, _pick(rng, voc.BIPOLAR_DIAGNOSES, m), bipolar_day))
    end = _one_trial_some(rng, rec, who, index)
    last_dx = _mdd_diagnoses(rng, rec, who, index)
    tl.index[who], tl.first_event[who] = index, np.minimum(index, bipolar_day)
    tl.min_end[who] = np.maximum.reduce([end, last_dx, bipolar_day]) + 1
    return {}


def _excluded_young(rng, rec: _Records, tl: _Timeline, who: np.ndarray, birth: np.ndarray) -> dict[str, int]:
    m = len(who)
    # Index between the 14th birthday and 18th birthday minus ~2 months: always age < 18.
    index = birth[who] + _between(rng, 14 * 365, 17 * 365 + 300, m)
    end = _one_trial_some(rng, rec, who, index)
    last_dx = _mdd_diagnoses(rng, rec, who, index)
    tl.index[who], tl.first_event[who] = index, index
    tl.min_end[who] = np.maximum(end, last_dx) + 1
    return {}


def _date32(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.int32(), mask=None if valid is None else ~valid).cast(pa.date32())


def _write(out_dir: Path, name: str, table: pa.Table) -> None:
    pq.write_table(table, out_dir / f"{name}.parquet", compression="snappy")


def _sorted_frame(cols: dict[str, np.ndarray], keys: list[str]) -> dict[str, np.ndarray]:
    order = np.lexsort([cols[k] for k in reversed(keys)])
    return {k: v[order] for k, v in cols.items()}


def generate_omop(out_dir: str | Path, persons: Persons, pgs_z: np.ndarray, log_or_trd: np.ndarray,
                  log_or_trmdd: np.ndarray, seed: int) -> tuple[pd.DataFrame, dict]:
    """Draw statuses from `pgs_z` (n_scores x persons) and write the OMOP tables to `out_dir`.

    Returns (per-person truth frame: person_id, status, mdd_index_date, trd_onset_date,
    birth_date; summary dict with status counts and record counts). Vectorised per status.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = persons.n
    rng = PersonRng(seed, 11, n)
    intercepts = reference_intercepts(seed, log_or_trd, log_or_trmdd)
    status, birth = draw_statuses_by_person(rng, persons, pgs_z, log_or_trd, log_or_trmdd, intercepts)
    none = np.full(n, -1, np.int64)
    tl = _Timeline(index=none.copy(), onset=none.copy(), first_event=np.full(n, LAST_DAY),
                   min_end=np.zeros(n, np.int64))
    rec = _Records()
    extra: dict[str, int] = {}
    groups = {TRD: _trd, TRMDD: _trmdd, MDD_OTHER: _mdd_other, NOISE_SINGLE: _noise_single,
              EXCL_BIPOLAR: _excluded_bipolar, EXCL_YOUNG: _excluded_young}
    for code, fn in groups.items():
        extra.update(fn(rng.subset(np.flatnonzero(status == code)), rec, tl, np.flatnonzero(status == code), birth))

    # Observation: starts 2010-2016 before the first clinical record, ends 2021 - 2023-06-30
    # after every record (and >= 1 year after an MDD index for trMDD/TRD).
    start_hi = np.minimum(day("2016-12-31"), tl.first_event - 30)
    obs_start = _between(rng, np.minimum(day("2010-01-01"), start_hi - 365), start_hi)
    end_lo = np.clip(np.maximum(tl.min_end, day("2021-01-01")), None, LAST_DAY)
    obs_end = _between(rng, end_lo, LAST_DAY)
    died = rng.random(n) < DEATH_RATE
    death = _between(rng, end_lo, obs_end)
    last_alive = np.where(died, death, obs_end)

    # Unrelated background records for everyone, inside observation and before death.
    # Slot j < k of each person (k drawn per person), rows in person order as np.repeat gives.
    slots = np.arange(3)[None, :] < rng.integers(0, 4, n)[:, None]
    rows = np.nonzero(slots)[0]
    rec.cond.append((rows, _pick(rng, voc.UNRELATED_CONDITIONS, (n, 3))[slots],
                     _between(rng, obs_start[:, None], last_alive[:, None], (n, 3))[slots]))
    slots = np.arange(2)[None, :] < rng.integers(0, 3, n)[:, None]
    rows = np.nonzero(slots)[0]
    rec.fills.append((rows, _pick(rng, voc.UNRELATED_DRUG_INGREDIENTS, (n, 2))[slots],
                      _between(rng, obs_start[:, None], last_alive[:, None] - FILL_DAYS, (n, 2))[slots]))

    pid = persons.person_id
    # --- person
    birth_dt = birth.astype("datetime64[D]")
    years = birth_dt.astype("datetime64[Y]")
    months = birth_dt.astype("datetime64[M]")
    hispanic = (persons.group == 2) & (rng.random(n) < 0.8)
    _write(out, "person", pa.table({
        "person_id": pa.array(pid, pa.int64()),
        "gender_concept_id": pa.array(np.where(persons.female, GENDER_FEMALE, GENDER_MALE), pa.int64()),
        "year_of_birth": pa.array(years.astype(np.int64) + 1970, pa.int64()),
        "month_of_birth": pa.array((months - years).astype(np.int64) + 1, pa.int64()),
        "day_of_birth": pa.array((birth_dt - months).astype(np.int64) + 1, pa.int64()),
        "birth_datetime": pa.array(birth_dt.astype("datetime64[us]"), pa.timestamp("us")),
        "race_concept_id": pa.array(RACE_BY_GROUP[persons.group], pa.int64()),
        "ethnicity_concept_id": pa.array(np.where(hispanic, ETHNICITY_HISPANIC, ETHNICITY_NOT_HISPANIC), pa.int64()),
    }))

    # --- observation_period (a few persons also have an earlier, record-free period)
    two = np.flatnonzero(rng.random(n) < TWO_PERIOD_RATE)
    early_end = obs_start[two] - _between(rng, 100, 400, n)[two]
    early_start = early_end - _between(rng, 300, 1000, n)[two]
    op = _sorted_frame({
        "person_id": np.concatenate([pid, pid[two]]),
        "start": np.concatenate([obs_start, early_start]),
        "end": np.concatenate([obs_end, early_end]),
    }, ["person_id", "start"])
    _write(out, "observation_period", pa.table({
        "observation_period_id": pa.array(np.arange(1, len(op["start"]) + 1), pa.int64()),
        "person_id": pa.array(op["person_id"], pa.int64()),
        "observation_period_start_date": _date32(op["start"]),
        "observation_period_end_date": _date32(op["end"]),
        "period_type_concept_id": pa.array(np.full(len(op["start"]), PERIOD_TYPE_EHR), pa.int64()),
    }))

    # --- death
    _write(out, "death", pa.table({
        "person_id": pa.array(pid[died], pa.int64()), "death_date": _date32(death[died]),
    }))

    # --- condition_occurrence
    c = _sorted_frame({
        "person_id": pid[np.concatenate([r[0] for r in rec.cond])],
        "concept": np.concatenate([r[1] for r in rec.cond]),
        "date": np.concatenate([r[2] for r in rec.cond]),
    }, ["person_id", "date", "concept"])
    n_c = len(c["date"])
    source = pd.Series(c["concept"]).map(SOURCE_VALUES).to_numpy(object)
    _write(out, "condition_occurrence", pa.table({
        "condition_occurrence_id": pa.array(np.arange(1, n_c + 1), pa.int64()),
        "person_id": pa.array(c["person_id"], pa.int64()),
        "condition_concept_id": pa.array(c["concept"], pa.int64()),
        "condition_start_date": _date32(c["date"]),
        "condition_end_date": _date32(c["date"]),
        "condition_type_concept_id": pa.array(np.full(n_c, CONDITION_TYPE_EHR), pa.int64()),
        "condition_source_value": pa.array(source, pa.string()),
    }))

    # --- drug_exposure: products mostly, some ingredient-level rows; the end = start quirk;
    # ~3% duplicated rows (order + dispensing).
    who = np.concatenate([r[0] for r in rec.fills])
    ingredient = np.concatenate([r[1] for r in rec.fills])
    start = np.concatenate([r[2] for r in rec.fills])
    m = len(start)
    # Each fill's draws are keyed by (person, rank of the fill among the person's own fills).
    by_person = np.argsort(who, kind="stable")
    rank = np.empty(m, np.int64)
    rank[by_person] = np.arange(m) - np.searchsorted(who[by_person], who[by_person])
    u = uniforms(seed, 12, [who, rank], 6)
    as_ingredient = u[:, 0] < 0.10
    concept = np.where(as_ingredient, ingredient, voc.product_ids(ingredient, u[:, 1] < 0.33))
    quirk = u[:, 2] < END_EQUALS_START_RATE
    end = np.where(quirk, start, start + FILL_DAYS - 1)
    supply_known = quirk | (u[:, 3] >= 0.2)
    verbatim = ~quirk & (u[:, 4] < 0.05)
    dup = np.flatnonzero(u[:, 5] < DUPLICATE_DRUG_RATE)
    take = np.concatenate([np.arange(m), dup])
    d = _sorted_frame({
        "person_id": pid[who][take], "concept": concept[take], "start": start[take], "end": end[take],
        "supply_known": supply_known[take], "verbatim": verbatim[take],
    }, ["person_id", "start", "concept", "end", "supply_known", "verbatim"])
    n_d = len(d["start"])
    _write(out, "drug_exposure", pa.table({
        "drug_exposure_id": pa.array(np.arange(1, n_d + 1), pa.int64()),
        "person_id": pa.array(d["person_id"], pa.int64()),
        "drug_concept_id": pa.array(d["concept"], pa.int64()),
        "drug_exposure_start_date": _date32(d["start"]),
        "drug_exposure_end_date": _date32(d["end"]),
        "verbatim_end_date": _date32(d["end"], d["verbatim"]),
        "days_supply": pa.array(np.full(n_d, FILL_DAYS), pa.int64(), mask=~d["supply_known"]),
        "quantity": pa.array(np.full(n_d, 30.0), pa.float64()),
        "refills": pa.array(np.zeros(n_d, np.int64), pa.int64()),
        "drug_type_concept_id": pa.array(np.full(n_d, DRUG_TYPE_EHR), pa.int64()),
        "route_concept_id": pa.array(np.full(n_d, ROUTE_UNKNOWN), pa.int64()),
    }))

    # --- procedure_occurrence
    p = _sorted_frame({
        "person_id": pid[np.concatenate([r[0] for r in rec.proc])],
        "concept": np.concatenate([r[1] for r in rec.proc]),
        "date": np.concatenate([r[2] for r in rec.proc]),
    }, ["person_id", "date", "concept"])
    _write(out, "procedure_occurrence", pa.table({
        "procedure_occurrence_id": pa.array(np.arange(1, len(p["date"]) + 1), pa.int64()),
        "person_id": pa.array(p["person_id"], pa.int64()),
        "procedure_concept_id": pa.array(p["concept"], pa.int64()),
        "procedure_date": _date32(p["date"]),
    }))
    # Present (as in an AoU CDR) but without toy events: somatic treatment comes from procedures.
    _write(out, "device_exposure", pa.table({
        "device_exposure_id": pa.array([], pa.int64()),
        "person_id": pa.array([], pa.int64()),
        "device_concept_id": pa.array([], pa.int64()),
        "device_exposure_start_date": pa.array([], pa.date32()),
    }))

    # Present (as in an AoU CDR) but without toy events: the esketamine_clinic set (HCPCS G2082/G2083)
    # is read there too, and the toy vocabulary holds neither code.
    _write(out, "observation", pa.table({
        "observation_id": pa.array([], pa.int64()),
        "person_id": pa.array([], pa.int64()),
        "observation_concept_id": pa.array([], pa.int64()),
        "observation_date": pa.array([], pa.date32()),
    }))

    _write(out, "concept", voc.concept_table())
    _write(out, "concept_ancestor", voc.concept_ancestor_table())

    epoch = np.datetime64("1970-01-01", "D")
    truth = pd.DataFrame({
        "person_id": pid,
        "status": np.asarray(STATUSES)[status],
        "birth_date": epoch + birth,
        "mdd_index_date": pd.Series(epoch + tl.index).where(tl.index >= 0),
        "trd_onset_date": pd.Series(epoch + tl.onset).where(tl.onset >= 0),
        "death_date": pd.Series(epoch + death).where(died),
        "observation_end_date": epoch + obs_end,
    })
    summary = {
        "status_counts": {s: int((status == i).sum()) for i, s in enumerate(STATUSES)},
        "status_intercepts": {"trMDD": float(intercepts[0]), "TRD": float(intercepts[1]),
                              "MDD_other": float(intercepts[2])},
        "record_counts": {
            "condition_occurrence": n_c, "drug_exposure": n_d, "procedure_occurrence": len(p["date"]),
            "drug_exposure_duplicates": int(len(dup)),
            "drug_exposure_end_equals_start": int((d["end"] == d["start"]).sum()),
            "deaths": int(died.sum()), "persons_with_two_observation_periods": int(len(two)),
        },
        "subgroups": extra,
    }
    return truth, summary
