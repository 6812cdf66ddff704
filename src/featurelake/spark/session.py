"""The one place SparkSessions are built, in-process and under spark-submit."""

from __future__ import annotations

import importlib
import os
import socket
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from featurelake.config import FeaturelakeConfig
from featurelake.errors import FeaturelakeError
from featurelake.spark.cds import cds_environment, cds_java_options, launcher_environment
from featurelake.spark.jars import delta_jars, spark_home
from featurelake.spark.object_store import object_store_settings_for_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULTS_FILE = "spark-defaults.conf"
LOCAL_DRIVER_JAVA_OPTIONS = "-XX:+UseParallelGC"
DEFAULT_SNAPSHOT_PARTITIONS = "8"
LOG4J2_DRIVER = Path(__file__).resolve().parents[1] / "resources" / "log4j2-driver.properties"
DELTA_SNAPSHOT_PARTITIONS = 50  # Delta's own default
LOCAL_LISTING_THRESHOLD = "10000"


def spark_settings(conf: FeaturelakeConfig) -> dict[str, str]:
    """Every Spark setting featurelake relies on, conf/ settings last (they win)."""
    jars = ",".join(str(j) for j in delta_jars(conf.spark.jars_dir))
    return {"spark.jars": jars, **settings_without_jars(conf)}


def settings_without_jars(conf: FeaturelakeConfig) -> dict[str, str]:
    """spark_settings but the jar list, which needs the jars on disk (resolved later by DAGs)."""
    settings = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        # On by default in Spark 4: every Column function call then makes 3+ Py4J calls (read a
        # setting, set and clear the Python call site) and imports IPython when installed. It
        # only adds the Python line to query-context error messages; a small backfill made
        # 5,288 Py4J calls with it, 2,014 without.
        "spark.python.sql.dataFrameDebugging.enabled": "false",
    }
    # Delta rebuilds a table's state from its log in `snapshotPartitions` tasks, 50 unless
    # set: a 3-4 s stage for a one-commit table on 2 cores, paid at every write and read of a
    # fresh process. A view's log holds few files per commit (one per date partition), so
    # fewer tasks are plenty (`snapshot_partitions`); conf/ settings still win.
    settings["spark.databricks.delta.snapshotPartitions"] = snapshot_partitions(conf.spark.settings, conf.spark.master)
    if local_cores(conf.spark.master) is not None:
        # Reading more than 32 paths lists them in a Spark job; in local mode that job runs in
        # this JVM anyway and costs ~1.5 s cold, where the driver lists a few thousand local
        # files in milliseconds (training sets read a version's files by name: offline/delta_log).
        settings["spark.sql.sources.parallelPartitionDiscovery.threshold"] = LOCAL_LISTING_THRESHOLD
    settings["spark.driver.extraJavaOptions"] = driver_java_options(conf)
    settings.update(object_store_settings_for_spark(conf.spark.jars_dir, conf.lake_root))
    settings.update(conf.spark.settings)
    return settings


def driver_java_options(conf: FeaturelakeConfig, cds: bool = True) -> str:
    """Spark's log lines to <state_dir>/logs/spark.log (its errors too: featurelake reports a
    failure itself, in one message that names the file), setup's class-data-sharing archive
    (spark/cds.py), and in local mode, where one JVM does all the work, the throughput
    collector: it beat G1 by ~20% on the training-set benchmark (benchmarks/README.md).
    A conf/ setting replaces all of it."""
    options = [
        f"-Dlog4j2.configurationFile={LOG4J2_DRIVER}",
        f"-Dfeaturelake.spark.log={spark_log_file(conf)}",
        *(cds_java_options(conf) if cds else []),
    ]
    if conf.spark.master.startswith("local"):
        options.insert(0, LOCAL_DRIVER_JAVA_OPTIONS)
    return " ".join(f'"{o}"' if " " in o else o for o in options)


def spark_log_file(conf: FeaturelakeConfig) -> Path:
    return conf.state_dir.resolve() / "logs" / "spark.log"


_started_log: list[Path] = []  # the log of the session this process built, for error messages


def session_log_file() -> Path | None:
    """Where this process's Spark session logs (its errors too), once one was built."""
    return _started_log[-1] if _started_log else None


def snapshot_partitions(settings: Mapping[str, str], master: str) -> str:
    """The session's shuffle partitions, at most Delta's 50, and in local mode at most the
    local cores: there more tasks than cores only add per-task cost. On 2 cores, 2 instead of
    8 took the three table snapshots of `make demo`'s spark-submit training set from 3.9 s to
    1.7 s (benchmarks/README.md)."""
    shuffle = settings.get("spark.sql.shuffle.partitions", DEFAULT_SNAPSHOT_PARTITIONS)
    try:
        partitions = max(1, min(int(shuffle), DELTA_SNAPSHOT_PARTITIONS))
    except ValueError:  # "auto" and the like: leave the choice to Delta
        return str(DELTA_SNAPSHOT_PARTITIONS)
    cores = local_cores(master)
    return str(min(partitions, cores) if cores else partitions)


def local_cores(master: str) -> int | None:
    """The cores of a local master (local, local[4], local[*], local[4,2]); None otherwise."""
    if master == "local":
        return 1
    if not master.startswith("local["):
        return None
    threads = master[len("local[") :].split(",")[0].rstrip("]")
    if threads == "*":
        return os.cpu_count() or 1
    return int(threads) if threads.isdigit() and int(threads) > 0 else None


class SparkMasterUnreachableError(FeaturelakeError):
    template = (
        "nothing answers at the Spark master {master} ({problem}); start it, or fix spark.master in the conf / "
        "FEATURELAKE_SPARK_MASTER"
    )


def check_master_reachable(master: str, timeout_s: float = 5.0) -> None:
    """A standalone master that does not answer fails here in seconds; Spark itself retries for over a minute."""
    if not master.startswith("spark://"):
        return
    for address in master.removeprefix("spark://").split(","):  # HA masters: one answering is enough
        host, _, port = address.partition(":")
        try:
            socket.create_connection((host, int(port or 7077)), timeout=timeout_s).close()
            return
        except (OSError, ValueError) as exc:
            problem = str(exc)
    raise SparkMasterUnreachableError(master=master, problem=problem)


def _prepare_environment(master: str) -> None:
    # Python workers must run this interpreter, or venv imports fail inside executors.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def _import_pandas_while_the_jvm_starts() -> None:
    """Start importing pandas (with numpy and pyarrow) in a thread.

    A session's Python side imports pandas (~0.5-0.7 s here) after its JVM is up; until then
    the driver only waits for the JVM to start, with the GIL released. Importing it in that
    wait takes it off every fresh process's path (the CLI, each Airflow task). When the main
    thread gets to its own import, it waits for this one to finish (Python's per-module
    import locks); neither import chain needs a module the other is importing first."""
    if "pandas" in sys.modules:
        return

    def load() -> None:
        try:
            for name in ("numpy", "pyarrow", "pandas"):  # in the order pandas itself loads them
                importlib.import_module(name)
        except Exception:  # the main thread imports them again and reports the error
            return

    threading.Thread(target=load, name="featurelake-import-pandas", daemon=True).start()


def build_spark_session(
    conf: FeaturelakeConfig,
    app_name: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> SparkSession:
    """A SparkSession with Delta, UTC and conf/ settings (reuses a running one)."""
    from pyspark.sql import SparkSession

    _prepare_environment(conf.spark.master)
    settings = {"spark.app.name": app_name or conf.spark.app_name, **spark_settings(conf), **(extra or {})}
    # Under spark-submit the JVM already runs (PythonRunner sets the gateway port): the
    # master given on its command line wins over conf/, and there is no JVM start to wait for.
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        check_master_reachable(conf.spark.master)
        settings["spark.master"] = conf.spark.master
        _import_pandas_while_the_jvm_starts()
        _launch_driver_jvm(conf, settings)
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    _started_log.append(spark_log_file(conf))
    return session


class DriverStartError(FeaturelakeError):
    template = "the Spark driver JVM did not start ({problem}); its output is in {log}"


def _launch_driver_jvm(conf: FeaturelakeConfig, settings: Mapping[str, str]) -> None:
    """Start this process's driver JVM as pyspark would, but with its output in Spark's log.

    What a JVM prints before its logging starts ("WARNING: Using incubator modules", JDK 25's
    "package ... not in java.base" for Spark's --add-opens) would otherwise reach the user's
    terminal on every command. A JVM that fails to start says why in the same file, and the
    error quotes it. Nothing to do when this process already has a JVM (a stopped session's)."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:
        return
    log = spark_log_file(conf)
    log.parent.mkdir(parents=True, exist_ok=True)
    launch_conf = SparkConf(loadDefaults=False).setAll(list(settings.items()))
    with log.open("ab") as output, launcher_environment(conf):
        start = output.tell()
        try:
            gateway = launch_gateway(launch_conf, popen_kwargs={"stdout": output, "stderr": output})  # type: ignore[no-untyped-call]
        except Exception as exc:  # pyspark's JAVA_GATEWAY_EXITED: the reason is in the log
            raise DriverStartError(problem=_jvm_output(log, start) or str(exc), log=str(log)) from None
    SparkContext._ensure_initialized(gateway=gateway)


def _jvm_output(log: Path, start: int, lines: int = 3) -> str:
    """The last lines the JVM's launch wrote to the log, on one line."""
    with log.open("rb") as text:
        text.seek(start)
        written = [line.strip() for line in text.read().decode(errors="replace").splitlines() if line.strip()]
    return " | ".join(written[-lines:])


def spark_submit_command(
    conf: FeaturelakeConfig, job: Path | str, args: list[str], spark_submit: str | None = None
) -> list[str]:
    """The full spark-submit command line for a job, with the same settings."""
    binary = spark_submit or str(Path(sys.executable).parent / "spark-submit")
    settings = spark_settings(conf)
    command = [binary, "--master", conf.spark.master, "--jars", settings.pop("spark.jars")]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, str(job), *args]


def spark_submit_environment(conf: FeaturelakeConfig) -> dict[str, str]:
    """The environment for spark_submit_command: this one, plus what maps the driver's
    class-data-sharing archive."""
    return {**os.environ, **cds_environment(conf)}


def render_spark_defaults(conf: FeaturelakeConfig) -> str:
    lines = ["# Written by featurelake setup: Delta, UTC and this venv's python for spark-submit."]
    # Where an object store is depends on the environment a job runs in, not on setup's.
    static = {k: v for k, v in spark_settings(conf).items() if not k.startswith("spark.hadoop.fs.s3a.endpoint")}
    # A plain spark-submit reads this file from a conf folder on its classpath: the archive
    # cannot be mapped there (spark/cds.py). A conf/ setting of the options stays as it is.
    if static.get("spark.driver.extraJavaOptions") == driver_java_options(conf):
        static["spark.driver.extraJavaOptions"] = driver_java_options(conf, cds=False)
    lines += [f"{key} {value}" for key, value in static.items()]
    return "\n".join(lines) + "\n"


def install_spark_defaults(conf: FeaturelakeConfig) -> Path:
    """Write spark-defaults.conf into SPARK_HOME/conf so a plain `spark-submit` of a job
    gets the Delta jars and settings before its JVM starts."""
    target = spark_home() / "conf" / DEFAULTS_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_spark_defaults(conf))
    return target
