"""spark-submit entry point for the cohort stage: `spark-submit jobs/cohort.py --config CONF`."""

import sys

from trd_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["cohort", *sys.argv[1:]]))
