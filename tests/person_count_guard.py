"""A guard against raw person counts in messages (the privacy bar: no count 1..T-1 in a log
line, an error or anything a user pastes into a ticket, and no exact count of T or more
either, since the export's audit may hide one to protect a small one; ``logs.person_count_text``).

Two readers, written apart from the code they check:

- ``raw_person_count_sites``: a static reading of Python source. Every f-string, every
  %-formatted log message (``log.info("%d persons", n)``) and every ``"..." % x`` is split into
  its placeholders; a placeholder whose next words (at most two words between) name persons,
  samples, participants or individuals (``{n} sample(s) are``, ``%d unrelated genotyped
  persons``, ``{n} duplicate person rows``), or that follows such a word (``samples: {n}``), is
  a person count (so is one after ``person_id:``, the person table's key: ``column
  person_id: {n} duplicate row(s)``). Its value must be a label: a call of ``person_count_text``, ``count_text(...,
  persons_below=...)``, ``suppressed_label`` or ``at_least_label``; the threshold itself
  (``threshold``, ``persons_below``, ``T``, ``threshold - 1``: the policy's number, not a
  count); a constant; or a position written after ``#`` (``sample #3``). ``n of {x}`` takes the
  kind of the count after ``of``. ``Steps.done(..., unit)`` with a person unit must pass
  ``persons=True``. A conditional whose test compares a count with a number other than 0
  (``counting_test``) is no label: a word it chooses next to persons (``sample{'s' if n != 1
  else ''}``, ``'one sample' if n == 1 else 'samples'``) tells n = 1 under a ``<20`` label.
- ``raw_person_counts``: the same words read in rendered text (a run log, an error line):
  a number (``1,780``) followed within two words by a person word that is not a label
  (``0``, ``<T``, ``T+``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

PERSON_WORD = r"(?:persons?|person\(s\)|people|samples?|sample\(s\)|participants?|participant\(s\)|individuals?)"
# The words between a count and its person word: ``{n} unrelated genotyped persons``.
_AFTER = re.compile(rf"^[\s(]*(?:[\w'-]+\s+){{0,2}}?{PERSON_WORD}(?![\w])", re.IGNORECASE)
_BEFORE = re.compile(rf"(?<![\w])(?:{PERSON_WORD}|person_id|research_id)\s*[:=]\s*$", re.IGNORECASE)
# ``{n} of {total} persons``: n counts what total counts.
_OF = re.compile(r"^\s*(?:of|/)\s*$")
_POSITION = re.compile(r"#\s*$")
# A person word the next placeholder may make plural: ``sample{'s' if n != 1 else ''}``.
_PLURAL = re.compile(r"(?<![\w])(?:person|sample|participant|individual|people)$", re.IGNORECASE)
LABEL_FUNCTIONS = {"person_count_text", "suppressed_label", "at_least_label"}
THRESHOLD_NAMES = {"threshold", "persons_below", "small_count_threshold", "T", "t"}
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical"}
_CONVERSION = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]")


@dataclass(frozen=True)
class Site:
    """A placeholder counting persons whose value is not a label."""

    path: str
    line: int
    text: str  # the message's literal text around the placeholder
    value: str  # the placeholder's expression

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.value!r} in {self.text!r}"


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def is_label(node: ast.AST) -> bool:
    """Whether a placeholder's value is a label or the threshold, not a count."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Call):
        f = _name(node.func)
        if f in LABEL_FUNCTIONS:
            return True
        if f == "count_text":
            return any(k.arg == "persons_below" and not (isinstance(k.value, ast.Constant) and k.value.value is None)
                       for k in node.keywords)
        return False
    if isinstance(node, ast.Name | ast.Attribute):
        return _name(node) in THRESHOLD_NAMES
    if isinstance(node, ast.BinOp):
        return is_label(node.left) and is_label(node.right)
    if isinstance(node, ast.IfExp):  # "fewer" if n < m else "more": words, unless the test counts
        return not counting_test(node.test) and is_label(node.body) and is_label(node.orelse)
    return False


def counting_test(test: ast.AST) -> bool:
    """Whether a condition compares a value with a number other than 0 (``n == 1``, ``len(absent)
    > 1``): a word it chooses tells that count ("one sample" / "samples": n = 1 under a ``<20``
    label). A test against 0 (zeros are shown), the threshold (``is_small_count``: the label's
    own rule) or another variable (``n < len(samples)``: "fewer" / "more") does not."""
    return any(isinstance(c, ast.Constant) and isinstance(c.value, int | float) and not isinstance(c.value, bool)
               and c.value != 0 for node in ast.walk(test) if isinstance(node, ast.Compare)
               for c in (node.left, *node.comparators))


def _branch_text(node: ast.IfExp) -> str:
    """The literal text of a conditional's branches (nested conditionals and f-strings too)."""
    return " ".join(str(n.value) for n in ast.walk(node) if n is not node.test and isinstance(n, ast.Constant)
                    and isinstance(n.value, str))


def _parts(message: ast.AST, args: list[ast.expr]) -> list[str | ast.expr] | None:
    """A message as literal text and placeholder expressions, in order."""
    if isinstance(message, ast.JoinedStr):
        out: list[str | ast.expr] = []
        for v in message.values:
            if isinstance(v, ast.Constant):
                out.append(str(v.value))
            elif isinstance(v, ast.FormattedValue):
                out.append(v.value)
        return out
    if isinstance(message, ast.Constant) and isinstance(message.value, str):
        text = message.value
        specs = [m for m in _CONVERSION.finditer(text) if m.group(0) != "%%"]
        if not specs or len(args) < len(specs) or any("(" in m.group(0) or "*" in m.group(0) for m in specs):
            return None
        out, at = [], 0
        for m, a in zip(specs, args):
            out += [text[at:m.start()], a]
            at = m.end()
        return [*out, text[at:]]
    return None


def _sites_of(parts: list[str | ast.expr], path: str, line: int) -> list[Site]:
    text = "".join(p if isinstance(p, str) else "{}" for p in parts)
    found = []
    for i, p in enumerate(parts):
        if isinstance(p, str):
            continue
        before = "".join(q for q in parts[:i] if isinstance(q, str))[-40:]
        after, j = "", i + 1
        while j < len(parts) and isinstance(parts[j], str):
            after += parts[j]  # type: ignore[operator]
            j += 1
        counts_persons = bool(_AFTER.match(after) or _BEFORE.search(before))
        if isinstance(p, ast.IfExp) and counting_test(p.test) and (
                _PLURAL.search(before) or re.search(PERSON_WORD, _branch_text(p), re.IGNORECASE)):
            # A word chosen by a count next to persons: ``sample{'s' if n != 1 else ''}``, ``{'one
            # sample is' if len(absent) == 1 else 'samples are'}`` (n = 1 under any label).
            found.append(Site(path, getattr(p, "lineno", line), text, ast.unparse(p)))
            continue
        if not counts_persons and _OF.match(after) and j < len(parts):
            following = "".join(q for q in parts[j + 1:j + 2] if isinstance(q, str))
            counts_persons = bool(_AFTER.match(following))
        if counts_persons and not _POSITION.search(before) and not is_label(p):
            found.append(Site(path, getattr(p, "lineno", line), text, ast.unparse(p)))
    return found


def raw_person_count_sites(source: str, path: str = "<source>") -> list[Site]:
    """Every placeholder of ``source`` that counts persons with a value that is not a label."""
    tree = ast.parse(source)
    found: list[Site] = []
    in_log: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in LOG_METHODS and node.args \
                and "log" in ast.unparse(node.func).lower():
            parts = _parts(node.args[0], node.args[1:])
            if parts is not None:
                in_log.add(id(node.args[0]))
                found += _sites_of(parts, path, node.lineno)
        elif isinstance(node, ast.Call) and _name(node.func) == "done" and len(node.args) >= 3:
            unit = node.args[2]
            if isinstance(unit, ast.Constant) and isinstance(unit.value, str) \
                    and re.fullmatch(PERSON_WORD, unit.value, re.IGNORECASE) \
                    and not any(k.arg == "persons" for k in node.keywords):
                found.append(Site(path, node.lineno, f"done(..., {unit.value!r})", ast.unparse(node.args[1])))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) \
                and isinstance(node.left.value, str):
            args = list(node.right.elts) if isinstance(node.right, ast.Tuple) else [node.right]
            parts = _parts(node.left, args)
            if parts is not None:
                found += _sites_of(parts, path, node.lineno)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and id(node) not in in_log:
            parts = _parts(node, [])
            assert parts is not None
            found += _sites_of(parts, path, node.lineno)
    return sorted(set(found), key=lambda s: (s.path, s.line, s.value))


def package_sites(root: Path) -> list[Site]:
    """``raw_person_count_sites`` over every module under ``root`` (the ``trd_spark`` package)."""
    return [s for p in sorted(root.rglob("*.py"))
            for s in raw_person_count_sites(p.read_text(), str(p.relative_to(root.parent)))]


def raw_person_counts(text: str, threshold: int = 20) -> list[str]:
    """Numbers in rendered text (a log, an error line) that count persons and are not a label:
    ``3 sample(s) are not in the sample map``, ``1,780 persons``, a count as a word (``one
    sample is``, ``seven persons``; ``NUMBER_WORDS``) (not ``<20 persons``, ``20+ persons``,
    ``0 persons``, ``sample #3``, ``fewer than 20 persons``, ``1 to 19 persons``: the
    threshold's range, or ``would become one person``)."""
    labels = {"0", f"<{threshold}", f"{threshold}+"}
    out = []
    for m in re.finditer(r"(?<![\w#.,<])(<?\d+(?:,\d{3})*\+?)" rf"(?=[\s(]+(?:[\w'-]+\s+){{0,2}}?{PERSON_WORD}(?!\w))",
                         text, re.IGNORECASE):
        n = m.group(1)
        if n in labels or n == str(threshold):  # "fewer than 20 persons": the policy's number
            continue
        if (n == "1" and text[m.end():].startswith(f" to {threshold - 1} ")) or (
                n == str(threshold - 1) and text[:m.start()].endswith("1 to ")):  # "a group of 1 to 19 persons"
            continue
        out.append(text[max(0, m.start() - 60):m.end() + 40])
    # A count written as a word ("one sample is not in the map", "seven persons"): no label is a
    # word. Not after "be" / "become" ("0042 and 42 would become one person": no count).
    for m in re.finditer(rf"(?<![\w-])(?<!\bbe )(?<!\bbecome )({NUMBER_WORDS})"
                         rf"(?=[\s(]+(?:[\w'-]+\s+){{0,2}}?{PERSON_WORD}(?!\w))", text, re.IGNORECASE):
        out.append(text[max(0, m.start() - 60):m.end() + 40])
    return out


# Counts written as words, 1 to 19 (and "a single"): ``raw_person_counts`` reads them as numbers.
NUMBER_WORDS = ("a single|single|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
                "fourteen|fifteen|sixteen|seventeen|eighteen|nineteen")


# Keys whose counts are persons in disguise, without a person word (phenotypes.stage's quirk
# parts ``persons`` and ``observation_periods``: one period per participant in the AoU CDR).
PERSON_KEYS = frozenset({"n_periods", "n_open_periods", "n_overlapping_periods", "n_sex_other",
                         "n_no_observation_period"})
# The person word ends the key or a part of it (``n_persons``, ``samples_missing``): ``personality``, a
# trait domain the headline prints before its N, names no persons (a false alarm of session 51).
_PERSON_KEY = re.compile(rf"^[\w.-]*?(?:{PERSON_WORD}|person_id)(?![a-z])[\w.-]*$", re.IGNORECASE)
# ``key 7`` / ``key: 7`` / ``key=7`` / ``"key": 7`` in rendered text (a quirk line, a JSON dump).
_KEY_VALUE = re.compile(r"(?<![\w-])\"?([A-Za-z_][\w.-]*)\"?[ \t]*[:=]?[ \t]*\"?(<?\d+(?:,\d{3})*\+?)(?![\w.])")


def counts_persons_key(key: str) -> bool:
    """Whether a key (a manifest field, a log line's ``name value`` pair built at run time)
    counts persons: it names persons, samples, participants or individuals (``n_persons``,
    ``n_persons_with_overlap``, ``samples_missing``), or is one of ``PERSON_KEYS``."""
    return key in PERSON_KEYS or bool(_PERSON_KEY.match(key))


def raw_person_count_keys(text: str, threshold: int = 20) -> list[str]:
    """``name value`` pairs in rendered text whose name counts persons (``counts_persons_key``)
    and whose value is not a label: the keys a run builds (``quirk_log_text``'s ``n_<name>``,
    f-string dict keys, ``extra=`` fields), which neither the source reader (it sees ``{k}``)
    nor ``raw_person_counts`` (the person word is before the number) reads."""
    labels = {"0", f"<{threshold}", f"{threshold}+"}
    return [text[max(0, m.start() - 40):m.end() + 20] for m in _KEY_VALUE.finditer(text)
            if counts_persons_key(m.group(1)) and m.group(2) not in labels]


def raw_person_counts_in_json(record: object, threshold: int = 20, path: str = "", persons: bool = False) -> list[str]:
    """Person counts that are not labels in a JSON record (an exported manifest, compare's
    ``_disclosure.json``, a summary): a number under a key that counts persons
    (``counts_persons_key``, at any depth below it: ``{"n_persons": {"A": 7}}``), and in every
    string what ``raw_person_counts`` and ``raw_person_count_keys`` find. Returns "path: value"
    items (``persons``: ``record`` lies under such a key)."""
    labels = {f"<{threshold}", f"{threshold}+"}
    out: list[str] = []
    if isinstance(record, dict):
        for k, v in record.items():
            sub = f"{path}.{k}" if path else str(k)
            out += raw_person_counts_in_json(v, threshold, sub, persons or counts_persons_key(str(k)))
    elif isinstance(record, list):
        for i, v in enumerate(record):
            out += raw_person_counts_in_json(v, threshold, f"{path}[{i}]", persons)
    elif isinstance(record, bool) or record is None:
        pass
    elif isinstance(record, int | float):
        if persons and record != 0:
            out.append(f"{path}: {record}")
    elif isinstance(record, str):
        if persons and re.fullmatch(r"\d+(?:,\d{3})*", record) and record != "0" and record not in labels:
            out.append(f"{path}: {record}")
        out += [f"{path}: {x}" for x in raw_person_counts(record, threshold) + raw_person_count_keys(record, threshold)]
    return out


# OMOP record counts (session 36): k records are held by 1 to k persons, so a count of 1 to T-1
# records in a log line bounds a group of persons below T (one record is one person); such a count
# reads ``<T`` (``logs.record_count_text``). The record words next to a number, and the keys of the
# phenotypes stage's lines (``n_after_death``, ``n_unknown_person``, a quirk's ``n_<name>``: every
# ``n_`` key there counts records or, ``counts_persons_key``, persons).
RECORD_WORD = r"(?:records?|record\(s\))"
_RECORD_COUNT = re.compile(rf"(?<![\w#.,<])(\d+(?:,\d{{3}})*)(?=[\s(]+(?:[\w'/-]+\s+){{0,2}}?{RECORD_WORD}(?!\w))",
                           re.IGNORECASE)
RECORD_KEY = re.compile(r"^n_\w+$")
# The lines whose ``n_`` keys count OMOP records: the phenotypes stage's (its logger's prefix).
_RECORD_LINE = re.compile(r"(?m)^.*\bphenotypes: .*$")


def small_record_counts(text: str, threshold: int = 20) -> list[str]:
    """Counts of 1 to T-1 OMOP records in rendered text (a run log, a WARNING line) that are not
    the label ``<T``: a number followed within two words by a record word (``3 study record(s)``,
    ``1 antidepressant/study record(s)``), and in a phenotypes line a value under an ``n_`` key
    (``RECORD_KEY``: ``n_after_death 3``). Zeros, counts of T or more and labels pass. Also (session
    37) a gate message's exact counts (``exact_gate_counts``) and an OMOP reader line's count of 1 to
    T-1 bad cells (``small_value_counts``); ``small_record_rests`` reads the lines together."""
    out = [text[max(0, m.start() - 60):m.end() + 30] for m in _RECORD_COUNT.finditer(text)
           if 0 < int(m.group(1).replace(",", "")) < threshold]
    out += exact_gate_counts(text, threshold) + small_value_counts(text, threshold)
    for line in _RECORD_LINE.finditer(text):
        out += [line.group(0)[max(0, m.start() - 40):m.end() + 20] for m in _KEY_VALUE.finditer(line.group(0))
                if RECORD_KEY.match(m.group(1)) and re.fullmatch(r"\d+(?:,\d{3})*", m.group(2))
                and 0 < int(m.group(2).replace(",", "")) < threshold]
    return out


# Privacy round 6 (session 37): record counts that give a small one back by arithmetic, and the
# OMOP reader's counts of bad cells.
# An OMOP reader line ("OMOP table drug_exposure column days_supply: 3 value(s) are not ..."): its
# values are cells of records.
_OMOP_VALUES = re.compile(r"(?<![\w#.,<])(\d+(?:,\d{3})*)(?=\s+values?\b|\s+value\(s\))", re.IGNORECASE)
# A gate message, "gate <name>: <n> of <total> <what>(...); likely cause: ..." (gates.check_gate):
# the part before its cause holds its counts (and, for implausible_drug_records, their split).
_GATE = re.compile(r"\bgate (\w+): (.*?); likely cause:")
# A number in a gate's counts: a count, a share ("(20.0%)"), but not a config value before "days"
# (the drug value limit) nor the level after "at >=" (written after the cause anyway).
_GATE_NUMBER = re.compile(r"(?<![\w#.,<>=])(\d+(?:,\d{3})*(?:\.\d+)?%?\+?)(?![\d,.]?\d)(?!\+)(?!\s+days\b)")


def exact_gate_counts(text: str, threshold: int = 20) -> list[str]:
    """Gate messages (``gates.check_gate``) that show a count or share other than a label: for
    persons and records alike, ``n of total`` and any split of n read ``0``, ``<T`` or ``T+``
    (an exact count of T or more beside the lines' counts gave the difference: the records dated
    after the cutoff less the follow-up lines' records after the cutoff; a share times a total
    gave the count)."""
    labels = {"0", f"<{threshold}", f"{threshold}+"}
    out = []
    for m in _GATE.finditer(text):
        bad = [n.group(1) for n in _GATE_NUMBER.finditer(m.group(2)) if n.group(1) not in labels]
        if bad:
            out.append(f"gate {m.group(1)}: {bad} in {m.group(2)[:120]!r}")
    return out


def small_value_counts(text: str, threshold: int = 20) -> list[str]:
    """Counts of 1 to T-1 bad cells in an OMOP reader's line ("OMOP table ... : 3 value(s) are not
    dates"): k cells are k records, held by 1..k persons."""
    return [line[max(0, m.start() - 60):m.end() + 30] for line in text.splitlines() if "OMOP table" in line
            for m in _OMOP_VALUES.finditer(line) if 0 < int(m.group(1).replace(",", "")) < threshold]


# The phenotypes stage's record lines as their reader sees them: "phenotypes: <domain> records in
# study concept sets: n_x 1, ..." and "phenotypes: <part>: n_x 1, ...".
_FOLLOWUP_LINE = re.compile(r"phenotypes: (\w+) records in study concept sets: (.*)$", re.MULTILINE)
_PART_LINE = re.compile(r"phenotypes: (\w+): (n_\w+ .*)$", re.MULTILINE)
_PAIR = re.compile(r"\b(n_\w+) (<?\d+(?:,\d{3})*\+?)")
# Each event table of a study domain (the CDM's), written here apart from phenotypes.stage.
DOMAIN_TABLES = {"condition": "condition_occurrence", "drug": "drug_exposure", "procedure": "procedure_occurrence",
                 "device": "device_exposure", "observation": "observation"}


def record_line_counts(text: str) -> dict[str, str]:
    """The counts of the phenotypes stage's record lines in ``text``, qualified by line:
    ``drug.n_records`` (the follow-up line of a domain), ``drug_values.n_records`` (a part's)."""
    out: dict[str, str] = {}
    for m in _FOLLOWUP_LINE.finditer(text):
        out.update({f"{m.group(1)}.{k}": v for k, v in _PAIR.findall(m.group(2))})
    for m in _PART_LINE.finditer(text):
        if "records in study concept sets" not in m.group(0):
            out.update({f"{m.group(1)}.{k}": v for k, v in _PAIR.findall(m.group(2))})
    return out


def _line_name(qualified: str) -> str:
    """``record_line_counts``' name of a count ``phenotypes.stage`` qualifies by line:
    ``study_event_dates.drug.n_records`` -> ``drug.n_records``, ``quirks.drug_values.n_records`` ->
    ``drug_values.n_records``."""
    return qualified.split(".", 1)[1]


def declared_relations(names) -> tuple[list[tuple[str, tuple[str, ...]]], list[tuple[str, tuple[str, ...]]],
                                       list[tuple[str, tuple[str, ...]]]]:
    """(equations, at-least sums, within pairs) the code itself declares among the phenotypes
    lines' counts ``names`` (``record_line_counts``' names), read from ``phenotypes.stage`` rather
    than copied (session 50 privguard: the copies in ``_rest_pairs`` / ``_AT_LEAST`` missed privacy7's
    exposures relation, n_records 1,000 less n_below_min_dose 300 less n_dose_unknown 695 = 5):
    ``FOLLOWUP_SUMS`` per domain and ``SAME_RECORD_COUNTS`` as equations (a follow-up line's total
    is its parts by construction; one count in two lines), ``QUIRK_SUMS`` as totals at least their
    parts (the exposures' n_records also holds the negative days_supply records), and
    ``records_within`` for the quirk parts ``names`` holds. The guard's own pairs, written apart
    (``_rest_pairs``, ``_FOLLOWUP_EQUATIONS``, ``_AT_LEAST``), stay as a floor: a relation the code
    stops declaring is still read."""
    from trd_spark.phenotypes.stage import FOLLOWUP_SUMS, QUIRK_SUMS, SAME_RECORD_COUNTS, records_within

    quirks: dict[str, dict[str, int]] = {}
    for name in names:
        part, _, key = name.partition(".")
        if part not in DOMAIN_TABLES and key:
            quirks.setdefault(part, {})[key] = 0
    equations = [(f"{d}.{t}", tuple(f"{d}.{p}" for p in ps)) for d in DOMAIN_TABLES for t, ps in FOLLOWUP_SUMS.items()]
    for one, other in SAME_RECORD_COUNTS:
        equations += [(_line_name(one), (_line_name(other),)), (_line_name(other), (_line_name(one),))]
    at_least = [(f"{part}.{t}", tuple(f"{part}.{p}" for p in ps)) for part, sums in QUIRK_SUMS.items()
                for t, ps in sums.items()]
    within = [(_line_name(t), tuple(_line_name(p) for p in ps)) for t, ps in records_within(quirks)]
    return equations, at_least, within


def _union(*lists: list[tuple[str, tuple[str, ...]]]) -> list[tuple[str, tuple[str, ...]]]:
    return list(dict.fromkeys(pair for pairs in lists for pair in pairs))


def _rest_pairs(names) -> list[tuple[str, tuple[str, ...]]]:
    """The (total, parts) pairs ``small_record_rests`` reads, for the counts ``names`` of
    ``record_line_counts``: the total holds the parts and records no line shows. The code's
    ``records_within`` (``declared_relations``) and, written apart, the pairs below."""
    return _union(_own_rest_pairs(names), declared_relations(names)[2])


def _own_rest_pairs(names) -> list[tuple[str, tuple[str, ...]]]:
    pairs: list[tuple[str, tuple[str, ...]]] = []
    for domain, table in DOMAIN_TABLES.items():
        total = f"event_table_records.n_{table}_records"
        pairs += [(total, (f"{domain}.n_records",)),
                  (total, (f"{domain}.n_records", f"unmapped_records.n_{table}"))]
    for part in ("drug_records", "drug_values", "condition_status"):
        whole = "condition.n_records" if part == "condition_status" else "drug.n_records"
        pairs += [(whole, (k,)) for k in names if k.startswith(f"{part}.") and k != f"{part}.n_records"]
    pairs.append(("drug.n_kept", ("antidepressant_exposures.n_records",)))
    return pairs


def small_record_rests(text: str, threshold: int = 20) -> list[str]:
    """Differences of 1 to T-1 records between two lines' exact counts of the phenotypes stage
    whose difference is a count no line shows: a table's records less its study records (and
    less its concept-0 records, ``unmapped_records``); the study drug records less those with one
    quirk (``drug_records``, ``drug_values``); the study condition records less those with a
    status; the drug records kept less the antidepressant records (``antidepressant_exposures``).
    Labels (``<T``, ``T+``) are no exact counts: a pair with one is skipped."""
    counts = {k: int(v.replace(",", "")) for k, v in record_line_counts(text).items()
              if re.fullmatch(r"\d+(?:,\d{3})*", v)}
    out = []
    for total, parts in _rest_pairs(counts):
        if total in counts and all(p in counts for p in parts):
            rest = counts[total] - sum(counts[p] for p in parts)
            if 0 < rest < threshold:
                out.append(f"{total} {counts[total]:,} less {' + '.join(parts)}: {rest}")
    return out


def gate_calls_without_threshold(root: Path) -> list[str]:
    """Calls of ``check_gate`` under ``root`` (the ``trd_spark`` package) that pass neither
    ``persons_below`` nor ``records_below``: such a gate's message shows its counts and share
    exactly (session 37: the record gates did)."""
    out = []
    for p in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Call) and _name(node.func) == "check_gate" \
                    and not {k.arg for k in node.keywords} & {"persons_below", "records_below"}:
                out.append(f"{p.relative_to(root.parent)}:{node.lineno}: {ast.unparse(node)[:80]}")
    return out


# Privacy round 7 (session 38): any two exact counts of one unit in one run's logs. ``small_record_rests``
# reads the differences of the pairs it names (a table's records less its study records, ...); a pair
# it does not name (a new quirk line's counts, the OMOP reader's counts, a WARNING's count beside a
# quirk line's) gave its difference back all the same, and an outsider need not know which counts
# are related to try each difference: two exact record counts 1..T-1 apart are a count of 1..T-1
# records (1..T-1 persons) whenever one holds the other's records and some more.
# A log record of the run log or the console: it starts with the logging format's timestamp.
_LOG_RECORD = re.compile(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )")
_EXACT = re.compile(r"\d+(?:,\d{3})*")


def exact_unit_counts(text: str, threshold: int = 20) -> list[tuple[str, int, str]]:
    """The exact counts of ``text`` (a run log, a console, an error line) by unit: ``records`` (a
    number before a record word, ``_RECORD_COUNT``; an OMOP reader's bad cells, ``_OMOP_VALUES``; a
    value under an ``n_`` key of a phenotypes line that does not count persons), and ``persons`` (a
    number before a person word, ``raw_person_counts``' reading; a value under a key that counts
    persons; not the policy's own numbers, ``fewer than 20 persons``, ``1 to 19 persons``). Labels
    (``<T``, ``T+``) and zeros are no exact counts. The resolved config's record and the toy
    generator's (``# resolved config``, ``toy data not found``: the toy data's size is no count)
    are left out. Returns (unit, count,
    context) items, in order."""
    out: list[tuple[str, int, str]] = []
    for record in _LOG_RECORD.split(text):
        if "# resolved config" in record or "toy data not found: generating" in record:
            continue
        for m in _RECORD_COUNT.finditer(record):
            out.append(("records", int(m.group(1).replace(",", "")), record[max(0, m.start() - 60):m.end() + 30]))
        for line in record.splitlines():
            if "OMOP table" in line:
                out += [("records", int(m.group(1).replace(",", "")), line[max(0, m.start() - 60):m.end() + 30])
                        for m in _OMOP_VALUES.finditer(line)]
        for m in re.finditer(rf"(?<![\w#.,<])(\d+(?:,\d{{3}})*)(?=[\s(]+(?:[\w'-]+\s+){{0,2}}?{PERSON_WORD}(?!\w))",
                             record, re.IGNORECASE):
            n = m.group(1)
            if n == str(threshold) or (n == "1" and record[m.end():].startswith(f" to {threshold - 1} ")) or (
                    n == str(threshold - 1) and record[:m.start()].endswith("1 to ")):
                continue
            out.append(("persons", int(m.group(1).replace(",", "")), record[max(0, m.start() - 60):m.end() + 30]))
        for line in _RECORD_LINE.finditer(record):
            for m in _KEY_VALUE.finditer(line.group(0)):
                if not _EXACT.fullmatch(m.group(2)):
                    continue
                n = int(m.group(2).replace(",", ""))
                where = line.group(0)[max(0, m.start() - 40):m.end() + 20]
                if counts_persons_key(m.group(1)):
                    out.append(("persons", n, where))
                elif RECORD_KEY.match(m.group(1)):
                    out.append(("records", n, where))
    return [x for x in out if x[1] != 0]


# The sums among the phenotypes lines' record counts as their reader reads them (session 38,
# fixesA; written here apart from phenotypes.stage's FOLLOWUP_SUMS / QUIRK_SUMS / SAME_RECORD_COUNTS):
# equations (a member of which the others give) and a total at least its parts (the exposures'
# n_records also holds the negative days_supply records: its parts give a count, not its value).
_FOLLOWUP_EQUATIONS = (("n_after_followup_end", ("n_after_death", "n_after_cutoff", "n_after_observation_end")),
                       ("n_records", ("n_unknown_person", "n_missing_date", "n_before_birth_year",
                                      "n_after_followup_end", "n_kept")))
_AT_LEAST = (("antidepressant_exposures.n_records", ("antidepressant_exposures.n_below_min_dose",
              "antidepressant_exposures.n_exposures", "antidepressant_exposures.n_duplicates_removed")),)


def derived_record_counts(text: str) -> dict[str, int]:
    """The record counts of the phenotypes lines (``record_line_counts``) that ``text`` shows as a
    label but its reader derives from exact ones (privacy round 7 finding, session 38): a follow-up
    line's total of exact parts (n_after_followup_end, n_records) or a part of an exact total and
    exact other parts; the drug domain's n_records and drug_values' n_records, one count; the sum of
    ``antidepressant_exposures``' exact parts (a count of records whether or not it is n_records:
    named ``antidepressant_exposures.n_records parts``, not taken for n_records, which also holds
    the negative days_supply records; session 39). name -> count, iterated until nothing more follows."""
    shown = record_line_counts(text)
    known = {k: int(v.replace(",", "")) for k, v in shown.items() if _EXACT.fullmatch(v)}
    equations = [(f"{d}.{t}", tuple(f"{d}.{p}" for p in ps)) for d in DOMAIN_TABLES for t, ps in _FOLLOWUP_EQUATIONS]
    equations += [("drug.n_records", ("drug_values.n_records",))]
    code_equations, code_at_least, _ = declared_relations(shown)
    equations = _union(equations, code_equations)
    at_least = [p for p in _union(list(_AT_LEAST), code_at_least) if p not in equations]
    derived: dict[str, int] = {}
    grew = True
    while grew:
        grew = False
        for total, parts in [*equations, *at_least]:
            members = (total, *parts)
            if not all(k in shown for k in members):
                continue
            unknown = [k for k in members if k not in known]
            if unknown == [total] and (total, parts) not in equations:
                # At least its parts (privacy round 8, session 39): their sum is a count of its own,
                # not the total's (a surplus of negative days_supply records), so it is no member of
                # an equation: named apart, it derives nothing more and is read only in pairs.
                name = f"{total} parts"
                if name not in derived:
                    derived[name] = sum(known[p] for p in parts)
                    grew = True
                continue
            if unknown == [total]:
                derived[total] = known[total] = sum(known[p] for p in parts)
            elif len(unknown) == 1 and (total, parts) in equations:
                derived[unknown[0]] = known[unknown[0]] = known[total] - sum(known[p] for p in parts if p in known)
            else:
                continue
            grew = True
    # Counts no equation names, got from exact or derived ones (privacy round 9, session 40): the
    # surplus of a total at least its parts (the exposures' negative days_supply records), and the
    # rest of a total less parts it holds (``_rest_pairs``: a table's records of other concepts).
    # Named apart, read only in pairs: 35 negative days_supply records beside a count of 40 are 5.
    for total, parts in at_least:
        if total in known and all(p in known for p in parts) and known[total] != sum(known[p] for p in parts):
            derived[f"{total} surplus"] = known[total] - sum(known[p] for p in parts)
    for total, parts in _rest_pairs(list(shown)):
        # parts of 0 leave the total itself (nothing new): not named again
        if total in known and all(p in known for p in parts) and known[total] != sum(known[p] for p in parts) \
                and sum(known[p] for p in parts):
            derived[f"{total} less {' + '.join(parts)}"] = known[total] - sum(known[p] for p in parts)
    return derived


def close_count_pairs(text: str, threshold: int = 20) -> list[str]:
    """Every pair of exact counts of one unit in ``text`` (one run's logs: ``exact_unit_counts``,
    and the record counts its reader derives, ``derived_record_counts``) whose difference is 1 to
    T-1, named by the two counts and where they stand; and a derived count of 1 to T-1. A pair with
    a label (``<T``, ``T+``) is none: the label leaves the difference as wide as itself. Shown counts
    of 1 to T-1 are found by ``small_record_counts`` / ``raw_person_counts`` themselves."""
    counts = exact_unit_counts(text, threshold)
    out = []
    for name, n in derived_record_counts(text).items():
        if 0 < n < threshold:
            out.append(f"records derived {name} {n}")
        counts.append(("records", n, f"derived {name}"))
    for unit in ("records", "persons"):
        first: dict[int, str] = {}
        for u, n, where in counts:
            if u == unit:
                first.setdefault(n, where)
        values = sorted(first)
        for i, a in enumerate(values):
            for b in values[i + 1:]:
                if b - a >= threshold:
                    break
                out.append(f"{unit} {a:,} ({first[a]!r}) and {b:,} ({first[b]!r}): {b - a}")
    return out


def record_counts_got(text: str) -> dict[str, int]:
    """name -> count of every record count the reader of one run's phenotypes lines gets: shown
    exactly (``record_line_counts``) or derived (``derived_record_counts``). The names are the same
    in every run (the code's ``notes.record_counts_logged`` keeps its reader's counts by name)."""
    got = {k: int(v.replace(",", "")) for k, v in record_line_counts(text).items() if _EXACT.fullmatch(v)}
    return got | derived_record_counts(text)


def cross_run_record_changes(texts: dict[str, str], threshold: int = 20) -> list[str]:
    """The same record count in two runs' logs (``texts``: run -> its log; other releases, an
    earlier run of one release) 1 to T-1 apart: the change is a count of records no line shows
    (privacy round 7 of session 50: ``dose_form_excluded``'s n_records_antidepressants 500 in r1's
    log and 507 in r2's gave 7 records, 1..7 persons; the code's ``prior``,
    ``phenotypes.stage.logged_record_counts``)."""
    got = {run: record_counts_got(text) for run, text in texts.items()}
    runs = list(got)
    out = []
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            for name in sorted(got[a].keys() & got[b].keys()):
                if 0 < abs(got[a][name] - got[b][name]) < threshold:
                    out.append(f"records {name}: {got[a][name]:,} in {a}, {got[b][name]:,} in {b}")
    return out
