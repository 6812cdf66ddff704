"""A class-data-sharing archive for the Spark driver JVM, built by setup.

Every way a user runs featurelake starts a fresh driver JVM (the CLI, spark-submit, every
Airflow task), and each spends seconds loading and verifying the same ~20k Spark, Scala and
Hadoop classes. A dynamic CDS archive (JDK 13+) holds them pre-parsed: a session and its
first Delta write and read took 17.0 s, 12.7 s with the archive (benchmarks/README.md).

The JVM maps the archive only when the classpath it starts with begins like the one it was
dumped with, and a directory in that classpath must be empty. Spark puts its conf folder on
the classpath, and setup writes spark-defaults.conf there for plain `spark-submit`. So the
drivers featurelake starts (it passes every setting itself) get SPARK_CONF_DIR set to an
empty folder beside the archive. A user's own SPARK_CONF_DIR turns the archive off; so does a
stale one (another JDK, other jars): the JVM then falls back silently, as if it had none.

On a JDK 25 the same idea goes further: an AOT cache (JEP 483, 514, 515) holds the classes
loaded *and linked*, and the method profiles of the training run, so the JIT compiles hot
code sooner. When the machine has a JDK 25.0.3+ (JAVA_HOME, or one under /usr/lib/jvm),
setup also builds that cache, and local drivers run on that JDK with it (`spark.aot_cache`,
on by default): a 1M-label training set took ~1-2 s less (benchmarks/README.md). Cluster
drivers keep JAVA_HOME's java and the archive above: a driver should run the executors' JDK.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.errors import FeaturelakeError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class CdsArchiveError(FeaturelakeError):
    template = "the driver's class-data-sharing archive could not be built ({problem}); drivers start without it"


CDS_DIR = "cds"
ARCHIVE = "driver.jsa"
STAMP = "stamp.json"
EMPTY_CONF = "conf"
# A stale or mismatched archive is not an error: the JVM must fall back without a word.
QUIET = ("-Xlog:cds=off", "-Xlog:cds+dynamic=off")
AOT_CACHE = "driver.aot"
AOT_STAMP = "aot-stamp.json"
AOT_QUIET = ("-Xlog:aot=off", "-Xlog:cds=off")
# Spark 4.2 runs on JDK 17, 21 and 25, and deprecates 25 before 25.0.3 (a G1 data corruption,
# SPARK-55852); JDK 21 has no AOT cache.
AOT_JDK_MAJOR = 25
AOT_JDK_MIN = (25, 0, 3)
JDK_DIRS = (Path("/usr/lib/jvm"),)


def cds_dir(conf: FeaturelakeConfig) -> Path:
    return conf.spark.jars_dir / CDS_DIR


def _class_path_matches(conf: FeaturelakeConfig) -> bool:
    """The empty conf folder is there, and no SPARK_CONF_DIR of the user's own."""
    empty = cds_dir(conf) / EMPTY_CONF
    own_conf = os.environ.get("SPARK_CONF_DIR")
    if own_conf and Path(own_conf) != empty:
        return False
    return empty.is_dir() and not any(empty.iterdir())


def archive_usable(conf: FeaturelakeConfig) -> bool:
    """The archive exists, its conf folder is still empty, and no SPARK_CONF_DIR of the user's own."""
    return (cds_dir(conf) / ARCHIVE).is_file() and _class_path_matches(conf)


def aot_java_home(conf: FeaturelakeConfig) -> Path | None:
    """The JDK a driver runs on with setup's AOT cache: for a local master with `aot_cache`
    on and no JVM options of the conf's own, when the cache and the JDK it was built with are
    there; None otherwise."""
    own_options = "spark.driver.extraJavaOptions" in conf.spark.settings
    if not (conf.spark.aot_cache and conf.spark.master.startswith("local")) or own_options:
        return None
    folder = cds_dir(conf)
    if not (folder / AOT_CACHE).is_file() or not _class_path_matches(conf):
        return None
    try:
        java = Path(json.loads((folder / AOT_STAMP).read_text())["java"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return java.parent.parent if java.is_file() else None


def cds_java_options(conf: FeaturelakeConfig) -> list[str]:
    """The driver JVM options that map the archive ([] when it cannot be used, and when the
    AOT cache is used instead: its options travel with its JDK, in cds_environment)."""
    if aot_java_home(conf) is not None or not archive_usable(conf):
        return []
    return [f"-XX:SharedArchiveFile={cds_dir(conf) / ARCHIVE}", *QUIET]


def cds_environment(conf: FeaturelakeConfig) -> dict[str, str]:
    """What the spark-submit that starts a driver needs in its environment for the archive,
    or for the AOT cache: its JDK, and its options in SPARK_SUBMIT_OPTS (the driver JVM's
    options from the environment). A command run without this environment then starts on its
    own java without them: JDK 17 refuses `-Xlog:aot`."""
    empty = str(cds_dir(conf) / EMPTY_CONF)
    home = aot_java_home(conf)
    if home is None:
        return {"SPARK_CONF_DIR": empty} if archive_usable(conf) else {}
    options = [os.environ.get("SPARK_SUBMIT_OPTS", ""), f"-XX:AOTCache={cds_dir(conf) / AOT_CACHE}", *AOT_QUIET]
    return {"SPARK_CONF_DIR": empty, "JAVA_HOME": str(home), "SPARK_SUBMIT_OPTS": " ".join(filter(None, options))}


def jdk_version(home: Path) -> tuple[int, int, int] | None:
    """A JDK's version from its `release` file (JAVA_VERSION="25.0.3"); None when it has none or no java."""
    try:
        text = (home / "release").read_text()
    except OSError:
        return None
    match = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?(?:\.(\d+))?', text, re.M)
    if match is None or not (home / "bin" / "java").is_file():
        return None
    major, minor, patch = (int(part or 0) for part in match.groups())
    return major, minor, patch


def aot_jdk(java_home: str | None = None, jdk_dirs: Iterable[Path] = JDK_DIRS) -> Path | None:
    """The JDK setup builds the AOT cache with: `java_home` (default JAVA_HOME) when it is a
    JDK 25.0.3+, else the newest such JDK in `jdk_dirs`; None when there is none."""

    def fits(home: Path) -> bool:
        version = jdk_version(home)
        return version is not None and version[0] == AOT_JDK_MAJOR and version >= AOT_JDK_MIN

    own = java_home if java_home is not None else os.environ.get("JAVA_HOME")
    if own and fits(Path(own)):
        return Path(own).resolve()
    found = {home.resolve() for folder in jdk_dirs if folder.is_dir() for home in folder.iterdir() if fits(home)}
    return max(found, key=lambda home: (jdk_version(home), str(home)), default=None)


@contextmanager
def launcher_environment(conf: FeaturelakeConfig) -> Iterator[None]:
    """os.environ as pyspark's launcher should see it, only while it starts the JVM: a later
    plain `spark-submit` from this process must still find spark-defaults.conf."""
    extra = cds_environment(conf)
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def stamp(conf: FeaturelakeConfig, jdk: Path | None = None) -> dict[str, str]:
    """What the archive depends on: the JDK (`jdk`, else JAVA_HOME's or PATH's java), Spark's
    jars (pyspark's version) and the s3a jars on the class path (the JVM rejects an archive
    whose jars changed size or time)."""
    import pyspark

    search = f"{jdk}/bin" if jdk else f"{os.environ.get('JAVA_HOME', '')}/bin:{os.environ.get('PATH', '')}"
    java = shutil.which("java", path=search)
    jars = sorted(conf.spark.jars_dir.glob("s3/*.jar"))
    return {
        "pyspark": pyspark.__version__,
        "java": os.path.realpath(java) if java else "",
        "python": sys.executable,
        "s3_jars": " ".join(f"{j.name}:{j.stat().st_size}:{j.stat().st_mtime_ns}" for j in jars),
    }


def archive_is_current(conf: FeaturelakeConfig) -> bool:
    return _is_current(conf, ARCHIVE, STAMP, None)


def aot_cache_is_current(conf: FeaturelakeConfig, jdk: Path) -> bool:
    return _is_current(conf, AOT_CACHE, AOT_STAMP, jdk)


def _is_current(conf: FeaturelakeConfig, archive: str, stamp_file: str, jdk: Path | None) -> bool:
    folder = cds_dir(conf)
    try:
        return (folder / archive).is_file() and json.loads((folder / stamp_file).read_text()) == stamp(conf, jdk)
    except (OSError, ValueError):
        return False


def build_archive(conf_path: Path | None) -> Path:
    """Dump the archive from a representative driver run (about half a minute, once)."""
    return _build(conf_path, ARCHIVE, STAMP, None)


def build_aot_cache(conf_path: Path | None, jdk: Path) -> Path:
    """Train the AOT cache on `jdk` with the same representative run (about a minute, once)."""
    return _build(conf_path, AOT_CACHE, AOT_STAMP, jdk)


def _build(conf_path: Path | None, archive: str, stamp_file: str, jdk: Path | None) -> Path:
    conf = load_config(conf_path)
    folder = cds_dir(conf)
    (folder / EMPTY_CONF).mkdir(parents=True, exist_ok=True)
    partial = folder / f".{archive}.partial"
    partial.unlink(missing_ok=True)
    env = {**os.environ, "SPARK_CONF_DIR": str(folder / EMPTY_CONF), **({"JAVA_HOME": str(jdk)} if jdk else {})}
    kind = "aot" if jdk else "cds"
    command = [sys.executable, "-m", "featurelake.spark.cds", str(conf_path or ""), str(partial), kind]
    proc = subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise CdsArchiveError(problem=(proc.stderr.strip().splitlines() or ["no archive written"])[-1][:300])
    os.replace(partial, folder / archive)
    (folder / stamp_file).write_text(json.dumps(stamp(conf, jdk)))
    return folder / archive


def _representative_work(spark: SparkSession, scratch: Path) -> None:
    """What backfills, gates, training sets and materializations load: Delta writes and reads,
    windows, aggregations, joins, parquet and Arrow."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = spark.range(2000).select(
        (F.col("id") % 50).alias("user_id"),
        F.timestamp_seconds(F.lit(1_735_689_600) + F.col("id") * 3600).alias("event_timestamp"),
        (F.col("id") * 1.5).alias("amount"),
    )
    rows = rows.withColumn("date", F.to_date("event_timestamp"))
    table = str(scratch / "delta")
    rows.write.format("delta").partitionBy("date").save(table)
    later = rows.where(F.col("date") >= "2025-01-02")
    later.write.format("delta").mode("overwrite").option("replaceWhere", "date >= '2025-01-02'").save(table)
    read = spark.read.format("delta").load(table)
    window = Window.partitionBy("user_id").orderBy("event_timestamp").rowsBetween(Window.unboundedPreceding, 0)
    joined = read.select("user_id", F.last(F.struct("amount"), ignorenulls=True).over(window).alias("v"))
    latest = F.max_by("amount", "event_timestamp")
    daily = read.groupBy("user_id", "date").agg(F.sum("amount"), F.count(F.lit(1)), latest)
    out = joined.join(daily, "user_id").where(F.col("user_id") < 10)
    out.write.parquet(str(scratch / "parquet"))
    read.createOrReplaceTempView("tmp_view")
    spark.sql("SELECT user_id, count(*) AS n FROM tmp_view GROUP BY user_id HAVING count(*) > 1").toPandas()
    spark.read.parquet(str(scratch / "parquet")).toPandas()


def _dump(conf_path: str, archive: str, kind: str) -> None:
    from featurelake.spark.session import build_spark_session, driver_java_options

    conf = load_config(Path(conf_path) if conf_path else None)
    # The JDK is the one the caller's environment names: not the one an existing cache would pick.
    conf = conf.model_copy(update={"spark": conf.spark.model_copy(update={"aot_cache": False})})
    dump = (
        f"-XX:AOTCacheOutput={archive} {' '.join(AOT_QUIET)}"
        if kind == "aot"
        else f"-XX:ArchiveClassesAtExit={archive} {' '.join(QUIET)}"
    )
    options = f"{dump} {driver_java_options(conf, cds=False)}"
    spark = build_spark_session(conf, app_name="featurelake-cds", extra={"spark.driver.extraJavaOptions": options})
    with tempfile.TemporaryDirectory(prefix="featurelake-cds-") as scratch:
        _representative_work(spark, Path(scratch))
    gateway = spark.sparkContext._gateway
    spark.stop()
    proc = getattr(gateway, "proc", None)  # the JVM writes the archive as it exits: wait for it
    if proc is not None:
        proc.stdin.close()
        proc.wait(timeout=300)


if __name__ == "__main__":
    _dump(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "cds")
