"""spark-submit entry point for the whole pipeline: `spark-submit jobs/run_all.py --config CONF`."""

import sys

from trd_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
