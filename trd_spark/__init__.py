"""trd-spark: polygenic scores vs treatment-resistant depression from EHR, on Spark + Hail."""

__version__ = "0.1.0"
