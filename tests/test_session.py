from trd_spark.session import find_java, spark_conf
from trd_spark.config import SparkSettings


def test_java_is_supported():
    java = find_java()
    assert java.major in (11, 17)


def test_spark_conf_loopback_and_kryo():
    conf = spark_conf(SparkSettings(master="local[2]"))
    assert conf["spark.serializer"].endswith("KryoSerializer")
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert "spark.driver.host" not in spark_conf(SparkSettings(master="yarn"))


def test_shared_session_runs_hail_and_spark(spark, hl):
    assert spark.range(10).count() == 10
    mt = hl.utils.range_matrix_table(5, 3)
    assert mt.count() == (5, 3)
