"""Session 42 flat (issue 16, both engines): the driver JVM's JIT also leaves the JDK's class-loading
code (``jdk/internal/loader``, ``java/lang/ClassLoader``, ``java/util/jar``) to C1
(``config.JIT_DIRECTIVES``, added at the session's start by ``session.add_jit_directives``). C2
compiled ``BuiltinClassLoader.defineClass`` / ``defineOrCheckPackage`` /
``findClassOnClassPathOrNull`` whenever the classes Hail and Spark load lazily made them hot, often
inside the PGS score phase (0.1-0.3 CPU-s of its JVM's 0.1-0.4; benchmarks/RESULTS.md, session 42
flat).

Real JVM (the suite's shared session): its directives are read back with ``jcmd``'s
``Compiler.directives_print``, as the JVM applies them."""

from __future__ import annotations

import re


def _applied(spark, method: str) -> tuple[str, str]:
    """(C1, C2) options HotSpot uses for ``method`` ("pkg/Class.name"): per compiler, the first
    directive from the top of the JVM's stack whose pattern matches and whose block for that
    compiler is enabled (as ``Compiler.directives_print`` lists them)."""
    from trd_spark.session import diagnostic_command

    text = diagnostic_command(spark.sparkContext, "compilerDirectivesPrint")
    chosen = []
    for i in (1, 2):
        for block in text.split("Directive:")[1:]:
            matching = re.search(r"matching: (.*)", block)
            options = re.search(r"c1 directives:(.*)c2 directives:(.*)", block, re.S)
            assert matching is not None and options is not None, block
            if any(re.fullmatch(re.escape(p).replace(r"\*", ".*"), method) for p in matching.group(1).split(", ")) \
                    and "Enable:true" in options.group(i):
                chosen.append(options.group(i))
                break
    return chosen[0], chosen[1]


def test_class_loading_code_is_not_compiled_by_c2(spark):
    """The JDK's class loaders and jar reading: C2 excluded, C1 not; the JDK's method handles, zip
    and serialisation, Spark's and Hail's code untouched (they run on data paths)."""
    for method in ("jdk/internal/loader/BuiltinClassLoader.defineClass",
                   "jdk/internal/loader/ClassLoaders$AppClassLoader.defineOrCheckPackage",
                   "jdk/internal/loader/URLClassPath$JarLoader.getResource",
                   "java/lang/ClassLoader.loadClass", "java/util/jar/JarFile.getEntry"):
        c1, c2 = _applied(spark, method)
        assert "Exclude:true" in c2, method
        assert "Exclude:false" in c1, method
    for method in ("java/lang/invoke/LambdaForm.compileToBytecode", "java/util/zip/Inflater.inflate",
                   "java/io/ObjectInputStream.readObject0", "java/lang/ClassLoaderHelper.mapAlternativeName",
                   "org/apache/spark/rdd/RDD.collect", "is/hail/expr/ir/Emit.emit"):
        assert "Exclude:false" in _applied(spark, method)[1], method
    assert spark.sparkContext.parallelize(range(10), 2).sum() == 45  # jobs still run
