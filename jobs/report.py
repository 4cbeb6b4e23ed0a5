"""spark-submit entry point for the report stage: `spark-submit jobs/report.py --config CONF`."""

import sys

from trd_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
