"""s3a for Spark: the jars (fetched once by setup, never shipped per job) and the settings.

hadoop-aws must match the Hadoop that pyspark bundles (`hadoop-client-api-<v>.jar`), with
the AWS SDK v2 bundle and the analytics-accelerator read stream that version was built
against. The SDK bundle is ~690 MB: it goes on the driver's and executors' class path from
a local folder (`<jars_dir>/s3/`), which on a real cluster is the image's own copy.
The endpoint, region and addressing come from the standard AWS environment or the conf's
`s3:` section; credentials never pass through Spark's conf (it reaches command lines and
logs): s3a's default provider chain reads the environment, profile or instance role.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from featurelake.errors import FeaturelakeError, JarFetchError
from featurelake.storage import S3Settings

S3_DIR = "s3"
MANIFEST = "MANIFEST.txt"
# hadoop version -> the artifacts its hadoop-aws needs (from its pom).
_ARTIFACTS = {
    "3.5.0": [
        "org.apache.hadoop:hadoop-aws:3.5.0",
        "software.amazon.awssdk:bundle:2.35.4",
        "software.amazon.s3.analyticsaccelerator:analyticsaccelerator-s3:1.3.1",
    ],
}


class ObjectStoreJarsMissingError(FeaturelakeError):
    template = (
        "the lake is on an object store ({lake_root}) but the s3a jars for Hadoop {hadoop} are not in {folder}; "
        "run `make setup` (it fetches hadoop-aws and the AWS SDK bundle from Maven Central once)"
    )


class UnsupportedHadoopError(FeaturelakeError):
    template = "pyspark bundles Hadoop {hadoop}, for which featurelake knows no hadoop-aws set (known: {known})"


@lru_cache(maxsize=1)
def bundled_hadoop_version() -> str:
    """Cached: DAG files ask once per spark-submit task, and the installed pyspark cannot change."""
    from featurelake.spark.jars import spark_home

    for jar in (spark_home() / "jars").glob("hadoop-client-api-*.jar"):
        return jar.name.removeprefix("hadoop-client-api-").removesuffix(".jar")
    raise UnsupportedHadoopError(hadoop="(none found)", known=", ".join(_ARTIFACTS))


def s3_coordinates() -> list[str]:
    hadoop = bundled_hadoop_version()
    if hadoop not in _ARTIFACTS:
        raise UnsupportedHadoopError(hadoop=hadoop, known=", ".join(_ARTIFACTS))
    return _ARTIFACTS[hadoop]


def s3_jars(jars_dir: Path) -> list[Path] | None:
    """The s3a jars setup fetched, or None when they are not there (or not for this Hadoop)."""
    folder = jars_dir / S3_DIR
    manifest = folder / MANIFEST
    try:
        wanted = s3_coordinates()
    except UnsupportedHadoopError:
        return None
    if not manifest.is_file() or manifest.read_text().split() != wanted:
        return None
    return sorted(folder.glob("*.jar"))


def fetch_s3_jars(jars_dir: Path, mvn: str = "mvn") -> list[Path]:
    """Fetch hadoop-aws and its SDK into `<jars_dir>/s3/` with Maven, once."""
    found = s3_jars(jars_dir)
    if found:
        return found
    wanted = s3_coordinates()
    if shutil.which(mvn) is None:
        raise JarFetchError(coordinates=", ".join(wanted), detail="mvn not on PATH")
    folder = jars_dir / S3_DIR
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    repository = Path(os.environ.get("MAVEN_REPOSITORY", Path.home() / ".m2" / "repository"))
    for coordinate in wanted:
        # Not transitive: its test-scope dependencies point at repositories we cannot reach.
        proc = subprocess.run([mvn, "-q", "-B", "dependency:get", "-Dtransitive=false", f"-Dartifact={coordinate}"],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise JarFetchError(
                coordinates=coordinate, detail=" | ".join((proc.stdout + proc.stderr).splitlines()[-5:])
            )
        group, artifact, version = coordinate.split(":")
        jar = repository.joinpath(*group.split("."), artifact, version, f"{artifact}-{version}.jar")
        _link_or_copy(jar, folder / jar.name)
    (folder / MANIFEST).write_text("\n".join(wanted) + "\n")
    return sorted(folder.glob("*.jar"))


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # the SDK bundle is ~690 MB: no second copy when one file system holds both
    except OSError:
        shutil.copy2(source, target)


def s3a_settings(settings: S3Settings) -> dict[str, str]:
    """spark.hadoop.fs.s3a.* for the endpoint, with bounded retries so failures surface in seconds."""
    prefix = "spark.hadoop.fs.s3a."
    conf = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        prefix + "retry.limit": "3",
        prefix + "attempts.maximum": "3",
        prefix + "connection.establish.timeout": "5s",
        prefix + "connection.timeout": "60s",
    }
    if settings.endpoint_url:
        conf[prefix + "endpoint"] = settings.endpoint_url
        conf[prefix + "connection.ssl.enabled"] = str(urlsplit(settings.endpoint_url).scheme == "https").lower()
    if settings.use_path_style:
        conf[prefix + "path.style.access"] = "true"
    if settings.region:
        conf[prefix + "endpoint.region"] = settings.region
    return conf


def object_store_settings_for_spark(jars_dir: Path, lake_root: str) -> dict[str, str]:
    """Class path + s3a settings when the s3a jars are present; a typed error when an
    object-store lake needs them and they are not."""
    from featurelake.storage import is_object_store, object_store_settings

    jars = s3_jars(jars_dir)
    if jars is None:
        if is_object_store(lake_root):
            raise ObjectStoreJarsMissingError(lake_root=lake_root, hadoop=bundled_hadoop_version(),
                                              folder=jars_dir / S3_DIR)  # fmt: skip
        return {}
    classpath = str(jars_dir / S3_DIR / "*")
    return {
        "spark.driver.extraClassPath": classpath,
        "spark.executor.extraClassPath": classpath,
        **s3a_settings(object_store_settings()),
    }
