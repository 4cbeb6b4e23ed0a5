"""spark-submit entry point for the models stage: `spark-submit jobs/models.py --config CONF`."""

import sys

from trd_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["models", *sys.argv[1:]]))
