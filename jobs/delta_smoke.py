"""spark-submit jobs/delta_smoke.py --path PATH [--conf CONF]

Writes and reads a Delta table (with time travel) and prints the result as JSON: proof
that spark-submit gets Delta's jars and featurelake's settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from featurelake.config import load_config
from featurelake.spark.session import build_spark_session
from featurelake.spark.smoke import delta_round_trip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", required=True)
    parser.add_argument("--conf", default=None)
    args = parser.parse_args(argv)
    spark = build_spark_session(load_config(args.conf), app_name="featurelake-delta-smoke")
    result = delta_round_trip(spark, args.path)
    print("RESULT " + json.dumps({**dataclasses.asdict(result), "tz": spark.conf.get("spark.sql.session.timeZone")}))
    spark.stop()


if __name__ == "__main__":
    main()
