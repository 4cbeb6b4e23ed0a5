"""spark-submit entry point for the phenotypes stage: `spark-submit jobs/phenotypes.py --config CONF`."""

import sys

from trd_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["phenotypes", *sys.argv[1:]]))
