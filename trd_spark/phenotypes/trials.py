"""drug_exposure -> per-ingredient antidepressant exposures -> treatment episodes (trials).

Real-data quirk handled here: OMOP v5.4 makes ``drug_exposure_end_date`` mandatory, so ETLs
fill it in, and EHR prescription rows very often have end == start (one order) with the
true length only in ``days_supply``. Trusting end dates would find almost no adequate trial,
so an exposure's end is:

0. ``verbatim_end_date`` (the stop date as recorded by the source) when it is AFTER the
   start and ``use_verbatim_end_date`` is on (it may be earlier than the ETL's end date:
   a stopped prescription);
1. else ``drug_exposure_end_date`` when it is AFTER the start;
2. else start + ``days_supply`` x (1 + ``refills``) - 1 when days_supply > 0 (refills count
   only when > 0 and ``use_refills`` is on: an order for 30 days with 2 refills is a 90-day
   course; refills also recorded as dispensing rows overlap it and merge into one episode;
   a course longer than ``max_days_supply`` days, e.g. 90 days x 12 refills, is not used:
   the record's own days_supply is, as without refills);
3. else, for an administration record (``drug_type_concept_id`` in
   ``vocabulary.ADMINISTRATION_DRUG_TYPE_IDS``: one dose given on a ward, a medication
   administration record), its start day alone: it records a dose given, not an order whose
   supply runs on. OHDSI's drug era reads any record so that has no end and no days_supply
   (OHDSI/Era-Constructor, circe-be drugExposure.sql: COALESCE(end, start + days_supply, start +
   1), exclusive); read as a default-length order, 13 daily ward doses made a 42-day adequate trial
   (counted by the stage: notes.quirks.drug_records.n_administration_one_day);
4. else, for a mail-order prescription (``drug_type_concept_id`` in
   ``vocabulary.MAIL_ORDER_DRUG_TYPE_IDS``), start + ``mail_order_days_supply`` - 1 (default 90 days):
   OHDSI Themis' ratified drug_exposure_end_date convention (Themis #57) ends a mail-order prescription
   without an end or a days_supply at start + 89 and a written one at start + 29 (rule 5); read as a
   default-length order, a 90-day mail-order fill made no adequate trial (counted by the stage:
   notes.quirks.drug_records.n_mail_order_default). The same convention's quantity rule (quantity / an
   assumed daily dose of 1 for solid products) is not applied: a quantity may count tablets, mL or
   boxes and the daily dose is unknown (docs/phenotypes.md "When an exposure ends");
5. else start + ``default_days_supply`` - 1 (days_supply missing or 0: OHDSI's "unknown", the
   value many EHR ETLs write when the source has none).

Implausible values are not used (and are counted by the stage, gate
``implausible_drug_records``): an end date or verbatim end date implying an exposure longer
than ``max_days_supply`` days (e.g. an end in 2099), and a days_supply above it.

A record with a NEGATIVE days_supply is no exposure (dropped here, counted by the stage): the
CDM forbids it and OHDSI's ratified convention (Themis, days_supply) says such a source record
is dropped, as it is unknown whether the patient took the drug (typically a claim reversal).
So is a record with a negative ``quantity`` (a reversal written as the units returned; OHDSI DQD's
plausibleValueLow for drug_exposure.quantity is 0.0000001). It still keeps its person out of the
controls (the control rule reads every record).

A **claim reversal** (such a negative record) also cancels ONE claim it reverses, as OHDSI Themis
#124 says a negative record may need to be "combined with other record (e.g. reversal of
prescription)": kept, the reversed claim of a fill never dispensed made an adequate trial (ad3 TRD)
or an augmentation onset. A reversal may reverse a claim (a record that is no reversal) of the same
person and ``drug_concept_id`` whose days_supply is the reversal's without its sign and whose quantity
is the reversal's without its sign (either empty: any), or, when the reversal's days_supply is empty or
0, whose quantity is the reversal's without its sign (any days_supply), starting on the reversal's day
or earlier while its days_supply ran or within ``RETURN_TO_STOCK_DAYS`` (reversal start - claim start <
the claim's days_supply, or <= 21 days, whichever is longer; a claim without a days_supply within the 21
days). Reversals are taken in date order (on a day: those with days_supply
and quantity, then with days_supply, then without), each cancelling, of the claim rows not yet cancelled
that it may reverse, one of its own quantity (both known and equal: the claim its quantity names, not a
later record of unknown quantity such as an EHR order of the same supply), then the latest (of equals:
the greatest quantity, days_supply, end date, verbatim end, refills, drug_type_concept_id: a mail-order
fill and a retail one are not alike).
So n claim rows and m reversals of one claim leave n - m: a claim, its reversal and a rebill on one day
(identical rows) leave the rebill, as payers net a reversal against one claim
(NCPDP B2 reverses one B1; PCORnet's DISPENSE_AMT is the net amount). A reversal dated before its claim,
of another supply or quantity, or after the claim's supply ran out and the return-to-stock window passed
cancels nothing and is counted (``reversed_claim_counts``: stage notes.quirks.reversed_claims.
n_unmatched_reversals). Matched over the study drug records of every date (a reversal after death still
cancels its claim; only the records of persons and products with a reversal are matched,
``reversal_matches``, once per stage: the stage writes its rows and reads them for the records and the
counts); the cancelled rows are counted (notes.quirks.reversed_claims.n_reversed_claims) and, like the
reversal, keep their person out of the controls.

Which dispensing a reversal reverses (docs/phenotypes.md "When an exposure ends"). Payers match
a reversal to its claim by the transaction's identity, not by a drug concept: CMS's Part D claims (CCLF)
group a claim and its cancellation by fill date, pharmacy, prescription number and fill number (CCLF IP
v43 5.1.2, as tuva-health/medicare_cclf_connector's int_pharmacy_claim_adr applies it), an NCPDP B2
reversal carries its claim's date of service, prescription number and product ID (NCPDP D.0 B2 request:
401-D1, 402-D2, 407-D7), and a pharmacy-claims
vendor's normalization pairs them by prescription number, pharmacy, NDC, BIN and fill number
(CloudChaser08 erx pharmacyclaims 6_erx_07_revd.sql). OMOP keeps none of the prescription identifiers,
so a reversal is matched by person, ``drug_concept_id``, supply and quantity, and by date. The concept
stands for the NDC a reversal repeats: an ETL maps each NDC to one standard drug concept ("Maps to" of the
vocabulary it is built with), so a reversal and its claim, one NDC, have one drug_concept_id; rows of two
concepts are two NDCs, two products, not one dispensing (a CDR built from loads mapped with different
vocabulary versions could map one NDC to two concepts: not matched, counted). The date: a claims
source dates a reversal by its claim's date of service (above), so it falls on its claim's day; an ETL
dating it by the transaction instead dates a return-to-stock reversal (a fill not picked up, the one that
makes the claim no exposure) within the payers' return-to-stock windows, 10 to 14 calendar days at most
PBMs and 15 business days at the longest (PAAS National, "PBMs Enforcing Return to Stock Policies"):
``RETURN_TO_STOCK_DAYS`` = 21 calendar days. A later reversal (an audit or adjudication recoupment: the
drug was dispensed) cancels no claim whose supply has run out.

A reversal whose own ``drug_concept_id`` is in no study set (0, the NDC's non-standard concept in the standard
column, another vocabulary version's concept: session 57; before, not read, and the fill it reversed stood) is read
by its code, ``source_code_expr`` (its drug_source_concept_id, the NDC's concept that OMOP keeps of the source code,
else its drug_concept_id), as a reversal of the product of the study claims of its person that carry that code as
drug_source_concept_id or drug_concept_id (the concept of the latest such claim on or before its day when they carry
several), then matched as above (``reversal_matches``' ``foreign``; counted, ``source_reversal_counts``). A
``drug_exposure_id`` repeated among the records of a person and product with a reversal is counted
(``repeated_exposure_id_count``) and stops the stage: the CDM's primary key repeated is an export that repeats
records, and n rows less m reversals then leaves a repeated claim standing. Two rows with two ids are two claims.

Minimum dose (``ingredient_min_daily_dose``, per ingredient; default none): the daily dose of a
record is ``quantity x amount_value / days_supply`` (units dispensed x mg of ingredient per unit
/ days; the per-unit mg from ``drug_strength``, ``stage.strength_per_unit_exprs``: a tablet's
amount in mg, a liquid's mg per mL numerator, a quantified liquid's per item or per mL as
``quantified_liquid_quantity`` says, unknown when the two readings fall on both sides of the
minimum). A record whose dose is known and below the
minimum is dropped before anything else (it is no exposure of a trial). A record with unknown
dose (no usable drug_strength row for its product, e.g. an ingredient-level concept, a product
in a box or a strength in another unit, or quantity / days_supply missing or <= 0, or
days_supply above ``max_days_supply``: implausible, as for the end) counts, and is counted as a
quirk (``exposure_record_counts``). The same minimum of an augmentation agent (an ingredient of
a TRD definition's ``augmentation_concept_set``) makes a record below it no augmentation
exposure (``at_min_dose_records``, counted by ``min_dose_record_counts``).

Per-ingredient rules (``TrialSettings``): ignored ingredients form no trial (the caller
drops them from the ingredient map); ``ingredient_min_trial_days`` replaces
``min_trial_days`` for the listed ingredients.

Exposures of one ingredient are merged into one episode (trial) when the gap between the
running end of the episode and the next start is <= ``persistence_gap_days``; the gap is the
number of uncovered days in between (``datediff(next_start, end) - 1``), so back-to-back
exposures have gap 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import Window
from pyspark.sql import functions as F

from trd_spark.config import TrialSettings
from trd_spark.vocabulary import ADMINISTRATION_DRUG_TYPE_IDS, MAIL_ORDER_DRUG_TYPE_IDS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


def exposure_end_expr(
    start: Column,
    end: Column,
    days_supply: Column,
    default_days_supply: int,
    verbatim_end: Column | None = None,
    refills: Column | None = None,
    max_days_supply: int | None = None,
    administration: Column | None = None,
    mail_order: Column | None = None,
    mail_order_days_supply: int = 90,
) -> Column:
    """Effective end date of one exposure (inclusive); see the module docstring.

    ``verbatim_end`` / ``refills`` None: that rule is off. ``max_days_supply`` None: no
    plausibility limit. ``administration`` (boolean, ``administration_expr``; None: none is):
    where true, the start instead of the default length (rule 3). ``mail_order`` (boolean,
    ``mail_order_expr``; None: none is): where true (and not an administration), start +
    ``mail_order_days_supply`` - 1 instead of the default length (rule 4).
    """
    supply = days_supply
    if refills is not None:
        course = days_supply.cast("long") * (refills.cast("long") + 1)  # long: no int overflow
        fits = F.lit(True) if max_days_supply is None else course <= max_days_supply
        supply = F.when((refills > 0) & fits, course.cast("int")).otherwise(days_supply)

    def plausible_end(date: Column) -> Column:
        after = date > start
        return after if max_days_supply is None else after & (F.datediff(date, start) < max_days_supply)

    plausible_supply = days_supply > 0
    if max_days_supply is not None:
        plausible_supply = plausible_supply & (days_supply <= max_days_supply)
    out = F.when(plausible_end(verbatim_end), verbatim_end) if verbatim_end is not None else F
    out = out.when(plausible_end(end), end).when(plausible_supply, F.date_add(start, supply - 1))
    if administration is not None:
        out = out.when(administration, start)
    if mail_order is not None:
        out = out.when(mail_order, F.date_add(start, F.lit(mail_order_days_supply - 1)))
    return out.otherwise(F.date_add(start, F.lit(default_days_supply - 1)))


def administration_expr(drug_type_concept_id: Column) -> Column:
    """True for a drug record of an administration type (``vocabulary.ADMINISTRATION_DRUG_TYPE_IDS``),
    false otherwise (null-safe: a record without a type is no administration)."""
    return F.coalesce(drug_type_concept_id.isin(sorted(ADMINISTRATION_DRUG_TYPE_IDS)), F.lit(False))


def mail_order_expr(drug_type_concept_id: Column) -> Column:
    """True for a drug record of a mail-order type (``vocabulary.MAIL_ORDER_DRUG_TYPE_IDS``), false otherwise
    (null-safe: a record without a type is none)."""
    return F.coalesce(drug_type_concept_id.isin(sorted(MAIL_ORDER_DRUG_TYPE_IDS)), F.lit(False))


def mail_order_default_expr(use_verbatim_end_date: bool, max_days_supply: int | None) -> Column:
    """True for a drug_exposure row (its columns) whose end ``exposure_end_expr`` takes from rule 4: a
    mail-order prescription with no usable end (verbatim, when used, or the end date) and no usable
    days_supply, read as ``trials.mail_order_days_supply`` days where another order has the default length.
    Null-safe (false); a negative days_supply is no exposure (false). For the stage's count
    (notes.quirks.drug_records.n_mail_order_default)."""
    def end(mail_order: Column | None) -> Column:
        # lengths 2 and 3 tell rule 4 from the default (refills change neither)
        return exposure_end_expr(F.col("drug_exposure_start_date"), F.col("drug_exposure_end_date"),
                                 F.col("days_supply"), 2, F.col("verbatim_end_date") if use_verbatim_end_date else None,
                                 None, max_days_supply, administration_expr(F.col("drug_type_concept_id")),
                                 mail_order, 3)

    changed = end(mail_order_expr(F.col("drug_type_concept_id"))) != end(None)
    return F.coalesce(changed & is_exposure_expr(F.col("days_supply"), F.col("quantity")), F.lit(False))


def administration_one_day_expr(use_verbatim_end_date: bool, max_days_supply: int | None) -> Column:
    """True for a drug_exposure row (its columns) whose end ``exposure_end_expr`` takes from rule 3:
    an administration record with no usable end (verbatim, when used, or the end date) and no
    usable days_supply, read as its own day where an order would have the default length.
    Null-safe (false). For the stage's count (notes.quirks.drug_records)."""
    def end(administration: Column | None) -> Column:
        # a default of 2 days tells rule 3's one day from the default's (refills change neither)
        return exposure_end_expr(F.col("drug_exposure_start_date"), F.col("drug_exposure_end_date"),
                                 F.col("days_supply"), 2, F.col("verbatim_end_date") if use_verbatim_end_date else None,
                                 None, max_days_supply, administration)

    changed = end(administration_expr(F.col("drug_type_concept_id"))) != end(None)
    return F.coalesce(changed & is_exposure_expr(F.col("days_supply"), F.col("quantity")),
                      F.lit(False))  # a negative one is none


def implausible_record_counts(drugs: DataFrame, max_days_supply: int, where: Column | None = None) -> list[Column]:
    """Aggregate columns (long) over drug records: n_end_over_max_days (drug_exposure_end_date or
    verbatim_end_date implying more than ``max_days_supply`` days) and n_days_supply_over_max. ``where`` (None:
    every row): the records counted."""
    start = F.col("drug_exposure_start_date")

    def too_long(date: str) -> Column:
        return F.coalesce(F.datediff(F.col(date), start) >= max_days_supply, F.lit(False))

    def among(flag: Column) -> Column:
        return flag if where is None else flag & where

    return [
        F.coalesce(F.sum(among(too_long("drug_exposure_end_date") | too_long("verbatim_end_date")).cast("long")),
                   F.lit(0)).alias("n_end_over_max_days"),
        F.coalesce(F.sum(among(F.col("days_supply") > max_days_supply).cast("long")), F.lit(0))
        .alias("n_days_supply_over_max"),
    ]


def refill_course_over_max_expr(max_days_supply: int) -> Column:
    """True for a drug record whose refill course (days_supply x (1 + refills), refills > 0) is
    longer than ``max_days_supply`` days while its days_supply alone is not: with
    ``use_refills`` its refills are not used (``exposure_end_expr``). Null-safe (false)."""
    ds, refills = F.col("days_supply"), F.col("refills")
    course = ds.cast("long") * (refills.cast("long") + 1)
    over = (refills > 0) & (ds > 0) & (ds <= max_days_supply) & (course > max_days_supply)
    return F.coalesce(over, F.lit(False))


def is_reversal_expr(days_supply: Column, quantity: Column | None = None) -> Column:
    """True for a drug record whose ``days_supply`` or ``quantity`` (None: not read) is negative: a
    claim reversal (module docstring), false otherwise (null-safe)."""
    negative = days_supply < 0
    if quantity is not None:
        negative = negative | (quantity < 0)
    return F.coalesce(negative, F.lit(False))


def is_exposure_expr(days_supply: Column, quantity: Column | None = None) -> Column:
    """False for a drug record whose ``days_supply`` or ``quantity`` (None: not read) is negative
    (``is_reversal_expr``), true otherwise (null-safe).

    Such a record is no exposure (module docstring: the CDM forbids a negative days_supply and OHDSI's
    Themis convention drops it, e.g. a claim reversal; it is unknown whether the drug was taken; a
    negative quantity is OHDSI DQD-implausible, the units a reversal returns): not an antidepressant
    exposure of a trial, nor an augmentation or somatic (esketamine) event of a TRD onset. Every
    record still keeps its person out of the controls. The claim such a record reverses is dropped
    by ``drop_reversed_claims``.
    """
    return ~is_reversal_expr(days_supply, quantity)


_CLAIM_KEY = ("person_id", "drug_concept_id", "drug_exposure_start_date", "days_supply", "quantity")
# the columns that order a reversal's candidate claims after (exact quantity, start, quantity, days_supply): a claim
# row's other read columns, the greatest first; rows equal in all of them are equivalent to every rule.
# drug_type_concept_id is read (an administration or a mail-order record without an end or days_supply has its own
# length): without it, which of a mail-order and a retail claim a reversal cancelled followed collect_list's order
# (session 55 xreview); drug_source_concept_id last so that the pick never depends on the rows' order.
_CLAIM_TIES = ("drug_exposure_end_date", "verbatim_end_date", "refills", "drug_type_concept_id",
               "drug_source_concept_id")
# Calendar days after a claim within which a reversal may still reverse it when its days_supply is shorter (or
# empty): the payers' return-to-stock window for a fill not picked up, 10-14 calendar days at most PBMs, 15 business
# days (about 21 calendar days) at the longest (PAAS National, "PBMs Enforcing Return to Stock Policies"; module
# docstring). Before session 56 a reversal 15 days after a 14-day claim, or 3 days after a claim without a
# days_supply, cancelled nothing and the fill never picked up stood as an exposure.
RETURN_TO_STOCK_DAYS = 21
# The columns of ``reversal_matches`` (its rows, one per person and product with a reversal).
MATCH_KEY = ("person_id", "drug_concept_id")


def source_code_expr() -> Column:
    """The product code a claim reversal outside the study drug sets is read by (``reversal_matches``' ``foreign``):
    its ``drug_source_concept_id`` (the source code's concept, e.g. the NDC the reversal repeats), else its
    ``drug_concept_id`` (a non-standard concept such as the NDC written in the standard column); null when neither
    is set (0 or null: the record names no product)."""
    source, concept = F.col("drug_source_concept_id"), F.col("drug_concept_id")
    return F.when(source != 0, source).when(concept != 0, concept)


def reversals_by_source(drugs: DataFrame, foreign: DataFrame) -> DataFrame:
    """The reversals of ``foreign`` (drug_exposure rows with a negative days_supply or quantity whose
    drug_concept_id is in no study set; columns of ``drugs``, ``drug_source_concept_id`` holding their
    ``source_code_expr``) that name the product of a study claim of their person, as study records of that claim's
    drug_concept_id, with ``_by_source`` true. A claim (a record of ``drugs`` that is no reversal) names a code by its
    drug_source_concept_id (not 0) or its drug_concept_id (a reversal whose source concept is the study concept
    itself). When the person's claims of one code hold several drug_concept_ids (loads mapped with different
    vocabulary versions), the concept of the latest claim on or before the reversal's day is taken (of one day: the
    greatest concept_id; no claim before it: the latest claim), as a reversal takes the latest claim.
    One equi-join of the (few) reversals with the claims' codes (person, code), one row per reversal back.
    Columns: those of ``drugs`` and ``_by_source``; ``reversal_matches``' ``by_source`` (``run`` writes them once:
    read lazily, ``reversal_matches`` plans them twice, once for the pairs and once for their records)."""
    start, src = F.col("drug_exposure_start_date"), F.col("drug_source_concept_id")
    claims = drugs.where(~is_reversal_expr(F.col("days_supply"), F.col("quantity"))).select(
        "person_id", F.col("drug_concept_id").alias("_to"), start.alias("_cs"),
        F.explode(F.array_distinct(F.filter(F.array(F.when(src != 0, src), F.col("drug_concept_id")),
                                            lambda c: c.isNotNull()))).alias("_code"))
    keys = foreign.select("person_id", src.alias("_code"), start.alias("_rs")).distinct()
    pick = keys.join(claims, ["person_id", "_code"]).groupBy("person_id", "_code", "_rs").agg(
        F.max(F.struct(F.coalesce(F.col("_cs") <= F.col("_rs"), F.lit(False)).alias("b"), F.col("_cs").alias("s"),
                       F.col("_to").alias("c")))["c"].alias("_to"))
    f = foreign.alias("f")
    p = pick.alias("p")
    hit = f.join(p, (F.col("f.person_id") == F.col("p.person_id")) & (F.col("f.drug_source_concept_id") == F.col("p._code"))
                 & F.col("f.drug_exposure_start_date").eqNullSafe(F.col("p._rs")))
    return hit.select(*[F.col("p._to").alias(c) if c == "drug_concept_id" else F.col(f"f.{c}").alias(c)
                        for c in drugs.columns], F.lit(True).alias("_by_source"))


def reversal_matches(drugs: DataFrame, foreign: DataFrame | None = None, *,
                     by_source: DataFrame | None = None) -> DataFrame:
    """Per (person_id, drug_concept_id) of ``drugs`` with a claim reversal (``is_reversal_expr``): ``_claims`` (its
    records that are no reversal, every column of ``drugs``, in one array), ``_cancelled`` (the positions in
    ``_claims`` of the claims its reversals cancel, one each; module docstring) and ``_n_reversals``.

    Only the records of the (few) persons and products with a reversal are matched: those pairs are found first,
    and the records semi-joined to them. That join is Spark's choice: a broadcast of the pairs when the planner's
    estimate of their size (from the files', an upper bound: no filter is assumed to drop rows) or, under adaptive
    execution, their real size after the distinct is below ``spark.sql.autoBroadcastJoinThreshold`` (10 MB by
    default), else a shuffle join (before session 56 the pairs were always broadcast, at any size). The matching
    is one pass of ``aggregate`` over the pair's reversals (date order; on a day, those of known days_supply and
    quantity first, then of known days_supply, then of unknown), each taking, of the claims not yet taken that
    it may reverse, one of its quantity (both known and equal) first, then the latest. The stage writes these
    rows once and passes them to ``drop_reversed_claims`` and ``reversed_claim_counts`` (``matches``): the
    matching runs once per stage.

    ``foreign`` (None: none): the claim reversals whose own drug_concept_id is in no study set (0, a non-standard
    concept, another product's), ``drug_source_concept_id`` holding their ``source_code_expr``; those naming a study
    claim's product (``_by_source``) are matched as reversals of that claim's drug_concept_id (module docstring),
    counted per pair in ``_n_by_source``. ``by_source``: ``reversals_by_source(drugs, foreign)`` already computed
    (written: ``run``), instead of ``foreign``. ``_n_repeated_ids``: the pair's rows (claims and reversals) whose
    ``drug_exposure_id`` (null: not counted) another of its rows repeats (the CDM's primary key: the stage's error).
    """
    start, ds, q = F.col("drug_exposure_start_date"), F.col("days_supply"), F.col("quantity")
    reversal = is_reversal_expr(ds, q)
    rows = drugs.withColumn("_by_source", F.lit(False))
    if foreign is not None:
        by_source = reversals_by_source(drugs, foreign)
    if by_source is not None:
        rows = rows.unionByName(by_source.select(*drugs.columns, "_by_source"))
    pairs = rows.where(reversal).select(*MATCH_KEY).distinct()
    near = rows.join(pairs, list(MATCH_KEY), "left_semi")
    ids = F.collect_list("drug_exposure_id") if "drug_exposure_id" in drugs.columns else F.array().cast("array<long>")
    unknown_ds = ds.isNull() | (ds == 0)
    kind = F.when(unknown_ds, 2).when(q.isNull(), 1).otherwise(0)
    rev = F.struct(start.alias("s"), kind.alias("k"), F.abs(ds).alias("ds"), F.abs(q).alias("q"))
    grouped = near.groupBy(*MATCH_KEY).agg(
        F.collect_list(F.when(~reversal, F.struct(*[F.col(c) for c in drugs.columns]))).alias("_claims"),
        F.array_sort(F.collect_list(F.when(reversal, rev))).alias("_revs"),
        F.count(F.when(reversal & F.col("_by_source"), 1)).alias("_n_by_source"),
        (F.size(ids) - F.size(F.array_distinct(ids))).alias("_n_repeated_ids"))

    def step(taken: Column, r: Column) -> Column:
        def may_reverse(c: Column) -> Column:
            c_start, c_ds, c_q = c["drug_exposure_start_date"], c["days_supply"], c["quantity"]
            days = F.datediff(r["s"], c_start)
            # on its day, or later while its supply runs or within the return-to-stock window
            reach = (c_start == r["s"]) | ((c_start < r["s"]) & ((days < c_ds) | (days <= RETURN_TO_STOCK_DAYS)))
            by_supply = (c_ds == r["ds"]) & (r["q"].isNull() | c_q.isNull() | (c_q == r["q"]))
            return F.coalesce(reach & F.when(r["k"] == 2, c_q == r["q"]).otherwise(by_supply), F.lit(False))

        ranked = F.transform(F.col("_claims"), lambda c, i: F.when(
            may_reverse(c) & ~F.array_contains(taken, i),
            F.struct(F.coalesce(c["quantity"] == r["q"], F.lit(False)).alias("x"), c["drug_exposure_start_date"].alias("s"),
                     c["quantity"].alias("q"), c["days_supply"].alias("ds"),
                     *[c[t].alias(t) for t in _CLAIM_TIES if t in drugs.columns], i.alias("i"))))
        best = F.array_max(ranked)  # of its quantity first, then the latest; nulls (no candidate) are skipped
        return F.when(best.isNull(), taken).otherwise(F.concat(taken, F.array(best["i"])))

    return grouped.select(
        *MATCH_KEY, "_claims", F.size("_revs").alias("_n_reversals"),
        F.aggregate("_revs", F.array().cast("array<int>"), step).alias("_cancelled"),
        F.col("_n_by_source").cast("long").alias("_n_by_source"), F.col("_n_repeated_ids").cast("long").alias("_n_repeated_ids"))


def reversed_claim_keys(drugs: DataFrame, matches: DataFrame | None = None) -> DataFrame:
    """The claims of ``drugs`` (drug_exposure rows: person_id, drug_concept_id, drug_exposure_start_date,
    days_supply, quantity, ...) that claim reversals cancel: those five columns and ``n_cancelled`` (long), the
    rows of that claim cancelled (one per reversal; module docstring). Aggregated per claim (identical keys: one row).
    ``matches``: ``reversal_matches(drugs)`` when already computed (None: computed here)."""
    m = reversal_matches(drugs) if matches is None else matches
    cancelled = m.select(F.explode(F.transform("_cancelled", lambda i: F.element_at("_claims", i + 1))).alias("c"))
    return cancelled.groupBy(*[F.col("c")[k].alias(k) for k in _CLAIM_KEY]).agg(
        F.count(F.lit(1)).cast("long").alias("n_cancelled"))


def drop_reversed_claims(drugs: DataFrame, matches: DataFrame | None = None) -> DataFrame:
    """``drugs`` (drug_exposure rows, every date) without the claim rows the claim reversals among them cancel (one
    per reversal, ``reversal_matches``; module docstring), same columns. ``matches``: ``reversal_matches(drugs)``
    (the stage's written rows: no matching here; None: matched here). The records of persons and products without a
    reversal pass a join with the matched pairs (Spark broadcasts them under its size bound, ``reversal_matches``),
    the claims of the others come from ``matches``."""
    m = reversal_matches(drugs) if matches is None else matches
    reversal = is_reversal_expr(F.col("days_supply"), F.col("quantity"))
    pairs = m.select(*MATCH_KEY, F.lit(True).alias("_rp"))
    # every record but the claims of a pair with a reversal (those are matched): the reversals stay, no exposure
    passed = drugs.join(pairs, list(MATCH_KEY), "left").where(F.col("_rp").isNull() | reversal).select(*drugs.columns)
    kept = m.select(F.explode(F.filter("_claims", lambda c, i: ~F.array_contains("_cancelled", i))).alias("c"))
    return passed.unionByName(kept.select(*[F.col("c")[c].alias(c) for c in drugs.columns]))


def reversed_claim_counts(drugs: DataFrame, matches: DataFrame | None = None) -> DataFrame:
    """One row (long): n_reversed_claims, the rows of ``drugs`` (every date) that claim reversals cancel (one per
    reversal; an exported-twice claim's two rows are two claims), and n_unmatched_reversals, the reversals that
    cancel none (no claim of their person, product, supply and quantity on their day or earlier within its
    days_supply or ``RETURN_TO_STOCK_DAYS``, or every such claim taken by another reversal). Aggregates only.
    ``matches``: ``reversal_matches(drugs)`` when already computed (the stage's written rows; None: computed here)."""
    m = reversal_matches(drugs) if matches is None else matches
    return m.agg(F.coalesce(F.sum(F.size("_cancelled")), F.lit(0)).cast("long").alias("n_reversed_claims"),
                 F.coalesce(F.sum(F.col("_n_reversals") - F.size("_cancelled")), F.lit(0)).cast("long")
                 .alias("n_unmatched_reversals"))


def source_reversal_counts(matches: DataFrame) -> DataFrame:
    """One row (long): n_reversals_by_source, the claim reversals whose own drug_concept_id is in no study set read
    by their source code as reversals of a study claim's product (``reversal_matches``' ``foreign``; each cancels a
    claim, counted in n_reversed_claims, or none, in n_unmatched_reversals). Aggregates only."""
    return matches.agg(F.coalesce(F.sum("_n_by_source"), F.lit(0)).cast("long").alias("n_reversals_by_source"))


def repeated_exposure_id_count() -> Column:
    """The aggregate ``n_repeated_drug_exposure_ids`` (long) over ``reversal_matches``' rows: the records of the
    persons and products with a claim reversal whose drug_exposure_id another of their records repeats. The
    stage observes it while it writes the matches (no job of its own) and stops on any (``check_exposure_ids``)."""
    return F.coalesce(F.sum("_n_repeated_ids"), F.lit(0)).cast("long").alias("n_repeated_drug_exposure_ids")


# The name sessions 54-55 used (tests and RESULTS.md refer to it).
_reversal_matches = reversal_matches


def daily_dose_expr(quantity: Column, amount_value: Column, days_supply: Column,
                    max_days_supply: int | None = None) -> Column:
    """quantity x amount_value / days_supply (amount unit per day); null when any part is missing or <= 0,
    or days_supply is above ``max_days_supply`` (None: no limit): an implausible days_supply (a typo such
    as 3000) is not used for the end (``exposure_end_expr``) nor for the dose, where it made 60 tablets of
    50 mg 1 mg a day, a silent drop of a course whose end date was right (field case round 43)."""
    known = (quantity > 0) & (amount_value > 0) & (days_supply > 0)
    if max_days_supply is not None:
        known = known & (days_supply <= max_days_supply)
    return F.when(known, quantity * amount_value / days_supply)


def _with_dose_flags(drug_exposure: DataFrame, ingredients: DataFrame, max_days_supply: int | None = None) -> DataFrame:
    """drug_exposure x ingredient rows with ``_below_min_dose`` and ``_dose_unknown`` (booleans).

    Both are false for ingredients without a minimum dose (``min_daily_dose`` null). Below: the dose
    from ``amount_value`` is below the minimum. Unknown: no dose, or (``amount_value_low``, a
    quantified liquid whose quantity may count items or mL, ``stage.strength_per_unit_exprs``) the
    dose from amount_value is at or above the minimum and the one from amount_value_low below it:
    the record counts as at ``at_min_dose_records`` and ``derive_ingredient_exposures``, and is
    counted as of unknown dose, not as a dose known to reach the minimum (session 51: 120 mL of a
    60 mL bottle of 20 mg/mL over 60 days read 2,400 mg a day, known). ``max_days_supply``: as
    ``daily_dose_expr``.
    """
    dose = daily_dose_expr(F.col("quantity"), F.col("amount_value"), F.col("days_supply"), max_days_supply)
    low = daily_dose_expr(F.col("quantity"), F.coalesce(F.col("amount_value_low"), F.col("amount_value")),
                          F.col("days_supply"), max_days_supply)
    has_min = F.col("min_daily_dose").isNotNull()
    below = F.coalesce(has_min & (dose < F.col("min_daily_dose")), F.lit(False))
    return (
        drug_exposure.join(F.broadcast(ingredients), "drug_concept_id")
        .withColumn("_below_min_dose", below)
        .withColumn("_dose_unknown", has_min & (dose.isNull() | (~below & F.coalesce(low < F.col("min_daily_dose"),
                                                                                     F.lit(False)))))
    )


def at_min_dose_records(drugs: DataFrame, ingredients: DataFrame, max_days_supply: int | None = None) -> DataFrame:
    """``drugs`` rows (their columns) that are exposures under the minimum-dose rule: a record
    x ingredient row of ``ingredients`` (``concepts.ingredient_frame``, with ``amount_value`` and
    ``min_daily_dose``) whose dose is known and below the ingredient's minimum is dropped; a record
    of no row of ``ingredients`` is kept. A product of two listed ingredients is kept once per
    ingredient not below its minimum (rows may repeat: the callers read start dates). For the
    augmentation agents (``stage._drug_events``): quetiapine 25-50 mg at night is a sleep aid, no
    augmentation, where the config gives the agent a minimum (field case round 42). ``max_days_supply``: as
    ``daily_dose_expr``."""
    dose = daily_dose_expr(F.col("quantity"), F.col("_amount"), F.col("days_supply"), max_days_supply)
    flags = ingredients.select("drug_concept_id", F.col("amount_value").alias("_amount"),
                               F.col("min_daily_dose").alias("_min"))
    return (drugs.join(F.broadcast(flags), "drug_concept_id", "left")
            .where(~F.coalesce(dose < F.col("_min"), F.lit(False)))
            .select(*drugs.columns))


def min_dose_record_counts(drugs: DataFrame, ingredients: DataFrame, max_days_supply: int | None = None) -> DataFrame:
    """One row (long): n_below_min_dose (record x ingredient rows of ``ingredients`` whose known dose
    is below the ingredient's minimum: no exposure, ``at_min_dose_records``) and n_dose_unknown (rows
    of an ingredient with a minimum whose dose is not computable: kept), over ``drugs`` whose
    days_supply is not negative (``is_exposure_expr``: those are no exposure anyway). The
    augmentation agents' counterpart of ``exposure_record_counts``' two counts (``max_days_supply``: as
    ``daily_dose_expr``). Aggregates only."""
    rows = _with_dose_flags(drugs.where(is_exposure_expr(F.col("days_supply"), F.col("quantity"))), ingredients,
                           max_days_supply)
    return rows.agg(
        F.coalesce(F.sum(F.col("_below_min_dose").cast("long")), F.lit(0)).cast("long").alias("n_below_min_dose"),
        F.coalesce(F.sum(F.col("_dose_unknown").cast("long")), F.lit(0)).cast("long").alias("n_dose_unknown"),
    )


def derive_ingredient_exposures(
    drug_exposure: DataFrame,
    ingredients: DataFrame,
    default_days_supply: int,
    *,
    use_verbatim_end_date: bool = True,
    use_refills: bool = False,
    max_days_supply: int | None = None,
    mail_order_days_supply: int = 90,
) -> DataFrame:
    """Exposures mapped to ingredients, one row per (person_id, ingredient_concept_id, exposure_start_date).

    ``ingredients`` is ``concepts.ingredient_frame`` output (with ``amount_value`` and
    ``min_daily_dose`` for the minimum-dose rule). Records below an ingredient's minimum daily
    dose, and records with a negative days_supply (module docstring), are dropped. Rows
    repeating the same person, ingredient and start (order + dispensing of one prescription,
    or a product mapping twice) are one exposure; the longest end is kept.
    Output: person_id, ingredient_concept_id, ingredient_name, exposure_start_date, exposure_end_date.
    """
    start = F.col("drug_exposure_start_date")
    return (
        _with_dose_flags(drug_exposure, ingredients, max_days_supply)
        .where(~F.col("_below_min_dose") & is_exposure_expr(F.col("days_supply"), F.col("quantity")))
        .select(
            "person_id",
            "ingredient_concept_id",
            "ingredient_name",
            start.alias("exposure_start_date"),
            exposure_end_expr(
                start, F.col("drug_exposure_end_date"), F.col("days_supply"), default_days_supply,
                F.col("verbatim_end_date") if use_verbatim_end_date else None,
                F.col("refills") if use_refills else None,
                max_days_supply,
                administration_expr(F.col("drug_type_concept_id")),
                mail_order_expr(F.col("drug_type_concept_id")),
                mail_order_days_supply,
            ).alias("exposure_end_date"),
        )
        # One shuffle for the person's whole exposure timeline: every grouping and window
        # below is keyed by person_id first, so this partitioning satisfies them all.
        .repartition("person_id")
        # ingredient_name is a function of ingredient_concept_id (concepts.ingredient_map), so
        # grouping by it changes no group; a string key (not a string aggregate such as
        # first()) lets Spark hash-aggregate instead of sorting the rows for a sort aggregate.
        .groupBy("person_id", "ingredient_concept_id", "ingredient_name", "exposure_start_date")
        .agg(F.max("exposure_end_date").alias("exposure_end_date"))
        .select("person_id", "ingredient_concept_id", "exposure_start_date", "exposure_end_date", "ingredient_name")
    )


def exposure_record_counts(drug_exposure: DataFrame, ingredients: DataFrame, max_days_supply: int | None = None
                           ) -> DataFrame:
    """One row: how many antidepressant records collapse into how many exposures.

    Columns (long): n_records (drug_exposure rows x ingredient reached), n_below_min_dose
    (dropped by the minimum-dose rule), n_dose_unknown (kept although an ingredient minimum
    applies: dose not computable), n_exposures (distinct person, ingredient, start of the
    kept rows: what ``derive_ingredient_exposures`` keeps), n_duplicates_removed (kept rows
    minus exposures: order + dispensing rows of one prescription, repeated rows, products of
    one ingredient started the same day). Kept rows are neither below the minimum dose nor of a
    negative days_supply (``is_exposure_expr``: no exposure, counted as the drug-record quirk
    n_negative_days_supply), so n_records = n_below_min_dose + n_exposures + n_duplicates_removed
    + those rows. ``max_days_supply``: as ``daily_dose_expr``. Aggregates only.
    """
    per_start = (
        _with_dose_flags(drug_exposure, ingredients, max_days_supply)
        .groupBy("person_id", "ingredient_concept_id", "drug_exposure_start_date")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(F.col("_below_min_dose").cast("long")).alias("below"),
            F.sum(F.col("_dose_unknown").cast("long")).alias("unknown"),
            # never below the minimum too: a dose needs days_supply > 0 (daily_dose_expr)
            F.sum((~is_exposure_expr(F.col("days_supply"), F.col("quantity"))).cast("long")).alias("negative"),
        )
    )
    kept = F.col("n") - F.col("below") - F.col("negative")
    return per_start.agg(
        F.coalesce(F.sum("n"), F.lit(0)).cast("long").alias("n_records"),
        F.coalesce(F.sum("below"), F.lit(0)).cast("long").alias("n_below_min_dose"),
        F.coalesce(F.sum("unknown"), F.lit(0)).cast("long").alias("n_dose_unknown"),
        F.sum(F.when(kept > 0, 1).otherwise(0)).cast("long").alias("n_exposures"),
        F.coalesce(F.sum(F.when(kept > 0, kept - 1)), F.lit(0)).cast("long").alias("n_duplicates_removed"),
    )


def derive_episodes(exposures: DataFrame, persistence_gap_days: int) -> DataFrame:
    """Merge one ingredient's exposures into episodes (window functions, no per-person loop).

    Running max of earlier ends -> new-episode flag when the gap exceeds the persistence
    window -> cumulative sum numbers the episodes.
    Output: person_id, ingredient_concept_id, ingredient_name, trial_start_date, trial_end_date.
    """
    order = Window.partitionBy("person_id", "ingredient_concept_id").orderBy(
        "exposure_start_date", "exposure_end_date"
    )
    before = order.rowsBetween(Window.unboundedPreceding, -1)
    upto = order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    prev_end = F.max("exposure_end_date").over(before)
    gap = F.datediff(F.col("exposure_start_date"), prev_end) - 1
    new_episode = F.when(prev_end.isNull() | (gap > persistence_gap_days), 1).otherwise(0)
    # The window's sort (person, ingredient, start, end) is the one sort of the timeline; the
    # episode aggregate below hashes on the same person partitioning (ingredient_name is a key,
    # not a string aggregate, for the reason in derive_ingredient_exposures).
    return (
        exposures.withColumn("_new", new_episode)
        .withColumn("_episode", F.sum("_new").over(upto))
        .groupBy("person_id", "ingredient_concept_id", "ingredient_name", "_episode")
        .agg(
            F.min("exposure_start_date").alias("trial_start_date"),
            F.max("exposure_end_date").alias("trial_end_date"),
        )
        .drop("_episode")
    )


def derive_antidepressant_trials(
    exposures: DataFrame, mdd: DataFrame, settings: TrialSettings
) -> DataFrame:
    """ANTIDEPRESSANT_TRIALS from ingredient exposures and MDD index dates.

    ``mdd`` needs person_id, mdd_index_date (null when not MDD) and followup_end_date. A
    trial's end is clipped at the end of follow-up (death, end of observation or cutoff: a
    supply running past it is not observed treatment). A trial is adequate when it lasts
    >= ``min_trial_days`` (inclusive day count, after clipping) and starts on/after
    index - ``pre_index_window_days``; trials of persons without an index are never adequate.
    """
    trials = derive_episodes(exposures, settings.persistence_gap_days)
    trial_days = (F.datediff("trial_end_date", "trial_start_date") + 1).cast("int")
    min_days = F.lit(settings.min_trial_days)
    for ingredient_id, days in sorted(settings.ingredient_min_trial_days.items(), reverse=True):
        min_days = F.when(F.col("ingredient_concept_id") == ingredient_id, F.lit(days)).otherwise(min_days)
    after_index = F.col("trial_start_date") >= F.date_sub(F.col("mdd_index_date"), settings.pre_index_window_days)
    # least() skips nulls: a person unknown to ``mdd`` keeps the unclipped end.
    clipped_end = F.least(F.col("trial_end_date"), F.col("followup_end_date"))
    return (
        trials.join(mdd.select("person_id", "mdd_index_date", "followup_end_date"), "person_id", "left")
        .withColumn("trial_end_date", clipped_end)
        .withColumn("trial_days", trial_days)
        .withColumn(
            "adequate",
            F.coalesce((F.col("trial_days") >= min_days) & after_index, F.lit(False)),
        )
        .select(
            "person_id",
            "ingredient_concept_id",
            "ingredient_name",
            "trial_start_date",
            "trial_end_date",
            "trial_days",
            "adequate",
        )
    )
