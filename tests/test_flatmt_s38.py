"""Session 38 flatmt (issue 16, hail-mt route): the driver JVM's JIT leaves the bytecode readers of
Spark's ClosureCleaner (xbean's shaded ASM) and the JDK's own ASM to C1 (``session.JIT_DIRECTIVES``,
added at the session's start by ``session.add_jit_directives`` through the JVM's DiagnosticCommand
MBean). Before, C2 compiled ``ClassReader.readCode`` (OSR at three loop heads, then whole: 0.5-1.2 s
of compile each) at whatever job made it hot, e.g. the score phase's one job, on a core its tasks
need (benchmarks/RESULTS.md, session 38 flatmt).

Real JVM (the suite's shared session): its directives are read back with ``jcmd``'s
``Compiler.directives_print``, as the JVM applies them."""

from __future__ import annotations

import logging
import re


def _directives(spark) -> list[tuple[list[str], str, str]]:
    """The JVM's compiler directives, top of its stack first: (patterns, C1 options, C2 options)."""
    from trd_spark.session import diagnostic_command

    text = diagnostic_command(spark.sparkContext, "compilerDirectivesPrint")
    found = []
    for block in text.split("Directive:")[1:]:
        matching = re.search(r"matching: (.*)", block)
        options = re.search(r"c1 directives:(.*)c2 directives:(.*)", block, re.S)
        assert matching is not None and options is not None, block
        found.append((matching.group(1).split(", "), options.group(1), options.group(2)))
    return found


def _applied(spark, method: str) -> tuple[str, str]:
    """(C1, C2) options HotSpot uses for ``method`` ("pkg/Class.name"): per compiler, the first
    directive from the top whose pattern matches and whose block for that compiler is enabled."""
    def matches(pattern: str) -> bool:
        return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), method) is not None

    chosen = []
    for i in (1, 2):
        for patterns, *options in _directives(spark):
            if any(matches(p) for p in patterns) and "Enable:true" in options[i - 1]:
                chosen.append(options[i - 1])
                break
    return chosen[0], chosen[1]


def test_closure_cleaner_parser_is_not_compiled_by_c2(spark):
    """Spark's ClassReader.readCode and the JDK's ASM frame pass, and (session 42 flat) the JDK's
    class loaders and jar reading: C2 excluded, C1 not. C2 compiled ``BuiltinClassLoader.defineClass``
    / ``defineOrCheckPackage`` / ``findClassOnClassPathOrNull`` whenever the classes Hail and Spark
    load lazily made them hot, often inside the PGS score phase (benchmarks/RESULTS.md, session 42
    flat). Spark's and Hail's own code, Hail's code generator's ASM (org/objectweb/asm), the JDK's
    method handles, zip and serialisation untouched (they run on data paths)."""
    for method in ("org/apache/xbean/asm9/ClassReader.readCode", "jdk/internal/org/objectweb/asm/Frame.execute",
                   "jdk/internal/loader/BuiltinClassLoader.defineClass",
                   "jdk/internal/loader/ClassLoaders$AppClassLoader.defineOrCheckPackage",
                   "jdk/internal/loader/URLClassPath$JarLoader.getResource",
                   "java/lang/ClassLoader.loadClass", "java/util/jar/JarFile.getEntry"):
        c1, c2 = _applied(spark, method)
        assert "Exclude:true" in c2, method
        assert "Exclude:false" in c1, method
    for method in ("org/apache/spark/rdd/RDD.collect", "org/objectweb/asm/ClassReader.readCode",
                   "is/hail/expr/ir/Emit.emit", "java/lang/invoke/LambdaForm.compileToBytecode",
                   "java/util/zip/Inflater.inflate", "java/io/ObjectInputStream.readObject0",
                   "java/lang/ClassLoaderHelper.mapAlternativeName"):
        assert "Exclude:false" in _applied(spark, method)[1], method
    assert spark.sparkContext.parallelize(range(10), 2).sum() == 45  # jobs still run (their closures parsed by C1)


def test_refused_directives_are_logged_and_the_session_goes_on(spark, tmp_path, caplog):
    """A text the JVM refuses: False, one INFO line with the JVM's answer, nothing added, no file left."""
    from trd_spark.session import add_jit_directives

    before = _directives(spark)
    with caplog.at_level(logging.INFO, logger="trd_spark.session"):
        assert add_jit_directives(spark.sparkContext, str(tmp_path), "[{match: 1}]") is False
    lines = [r.getMessage() for r in caplog.records if "JIT compiler directives not added" in r.getMessage()]
    assert len(lines) == 1 and "match" in lines[0], lines
    assert _directives(spark) == before
    assert list(tmp_path.iterdir()) == []
    assert spark.sparkContext.parallelize(range(4), 2).count() == 4


def test_null_setting_adds_no_directives(spark, tmp_path, caplog):
    """``spark.jit_directives: null`` (the setting's off switch, session 38 reader finding 6): the
    JVM's JIT as it ships: nothing added, no file written, no INFO line. The default is the
    ``JIT_DIRECTIVES`` text."""
    from trd_spark.config import SparkSettings
    from trd_spark.session import JIT_DIRECTIVES, add_jit_directives

    assert SparkSettings().jit_directives == JIT_DIRECTIVES
    off = SparkSettings.model_validate({"jit_directives": None})
    before = _directives(spark)
    with caplog.at_level(logging.INFO, logger="trd_spark.session"):
        assert add_jit_directives(spark.sparkContext, str(tmp_path), off.jit_directives) is False
    assert [r.getMessage() for r in caplog.records if "JIT" in r.getMessage()] == []
    assert _directives(spark) == before
    assert list(tmp_path.iterdir()) == []


def test_directives_are_added_once_per_jvm(spark, tmp_path):
    """The session's start added ``JIT_DIRECTIVES``; adding them again in that JVM is True (they are
    there) and stacks no second copy (HotSpot keeps at most CompilerDirectivesLimit, 50)."""
    from trd_spark.session import JIT_DIRECTIVES, add_jit_directives

    before = _directives(spark)
    assert sum("org/apache/xbean/asm9/*.*" in patterns for patterns, _, _ in before) == 1
    assert add_jit_directives(spark.sparkContext, str(tmp_path), JIT_DIRECTIVES) is True
    assert _directives(spark) == before
    assert list(tmp_path.iterdir()) == []
