"""Refresh a view's latest-rows snapshot at the table's newest version, again and again, until
killed: the process the snapshot-refresh kill test SIGKILLs at random moments. Usage:
python refresh_loop.py CONF VIEW LOG (a line when each refresh starts and when it is done)"""

from __future__ import annotations

import sys

from delta.tables import DeltaTable

from featurelake.config import load_config
from featurelake.offline.latest import refresh_latest
from featurelake.offline.tables import table_path
from featurelake.registry import load_registry
from featurelake.spark.session import build_spark_session

if __name__ == "__main__":
    conf = load_config(sys.argv[1])
    spark = build_spark_session(conf, app_name="refresh-loop")
    registry = load_registry(conf)
    view = registry.view(sys.argv[2])
    path = table_path(conf.lake_root, view)
    while True:
        version = int(DeltaTable.forPath(spark, path).history(1).collect()[0]["version"])
        with open(sys.argv[3], "a") as log:
            log.write(f"start {version}\n")
        assert refresh_latest(spark, conf.lake_root, view, registry.join_keys(view.name), version)
        with open(sys.argv[3], "a") as log:
            log.write(f"done {version}\n")
