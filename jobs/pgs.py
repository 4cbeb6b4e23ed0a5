"""spark-submit entry point for the pgs stage: `spark-submit jobs/pgs.py --config CONF`."""

import sys

from trd_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["pgs", *sys.argv[1:]]))
