"""The Spark benchmark's Python side (tests/bench/spark.sh), over Spark Connect:

    spark_peers.py URL generate ROWS DIR   the orders table, written once as Parquet in DIR
                                           and registered as bench.orders_ROWS
    spark_peers.py URL hand ROWS RUNS      the floor: one hand-written statement, RUNS times
    spark_peers.py URL soda ROWS RUNS      Soda Core (soda-core-spark-df) on the same table

Timed runs print one line each, `seconds`, measured around the query (or the scan) inside
this process: the Python client's start-up is not counted against the peers.
"""

import sys
import time

from pyspark.sql import SparkSession

CHECKS = """
checks for {table}:
  - row_count > 0
  - missing_count(customer_id) <= 100000
  - missing_percent(customer_id) <= 5
  - duplicate_count(id) <= 100000
  - invalid_count(status) <= 100000:
      valid values: [placed, shipped, delivered, cancelled]
  - min(amount) >= 0
  - max(amount) <= 1000
  - avg(amount) between 0 and 1000
  # Soda's Spark data source has no stddev metric: the same aggregate as an expression.
  - stddev_amount <= 1000:
      stddev_amount expression: stddev_samp(amount)
  - freshness(created_at) < 3650d
"""


def hand_sql(table):
    return f"""SELECT count(*), count_if(customer_id IS NULL),
      100.0 * count_if(customer_id IS NULL) / nullif(count(*), 0),
      count(id) - count(DISTINCT id),
      count_if(status NOT IN ('placed', 'shipped', 'delivered', 'cancelled')),
      min(amount), max(amount), avg(amount), stddev_samp(amount),
      unix_timestamp() - unix_timestamp(max(created_at)) FROM {table}"""


def generate(spark, rows, folder):
    spark.sql("CREATE DATABASE IF NOT EXISTS bench")
    path = f"{folder}/orders_{rows}"
    try:
        spark.read.parquet(path).limit(1).collect()
    except Exception:
        spark.range(1, rows + 1).selectExpr(
            "CASE WHEN id % 10000 = 0 THEN id - 1 ELSE id END AS id",
            "CASE WHEN id % 100 = 0 THEN NULL ELSE (id * 7919) % 100000 END AS customer_id",
            "element_at(array('placed','shipped','delivered','cancelled'), CAST(1 + id % 4 AS INT))"
            " || CASE WHEN id % 1000 = 0 THEN '?' ELSE '' END AS status",
            "CAST(((id * 104729) % 100000) / 100.0 AS DOUBLE) AS amount",
            "timestamp_seconds(unix_timestamp() - id % 2592000) AS created_at",
        ).write.mode("overwrite").parquet(path)
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS bench.orders_{rows} USING parquet LOCATION '{path}'"
    )


def timed(work, runs):
    for _ in range(runs):
        started = time.perf_counter()
        work()
        print(f"{time.perf_counter() - started:.3f}", flush=True)


def soda(spark, table, runs):
    from soda.scan import Scan

    def scan():
        s = Scan()
        s.set_data_source_name("lake")
        s.add_spark_session(spark, data_source_name="lake")
        s.add_sodacl_yaml_str(CHECKS.format(table=table))
        s.execute()
        if s.has_check_fails() or s.has_error_logs():
            sys.exit("soda: " + s.get_logs_text())

    timed(scan, runs)


def main():
    url, mode, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    spark = SparkSession.builder.remote(url).getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    table = f"bench.orders_{rows}"
    if mode == "generate":
        generate(spark, rows, sys.argv[4])
    elif mode == "hand":
        timed(lambda: spark.sql(hand_sql(table)).collect(), int(sys.argv[4]))
    elif mode == "soda":
        soda(spark, table, int(sys.argv[4]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
