"""Delta Lake's jars: fetched once from Maven Central, then used offline.

delta-spark's Python package carries no jars. We resolve exactly the artifact that
matches the installed delta-spark and pyspark with Maven, then drop every jar whose
artifact Spark already ships (jackson, hadoop, parquet, ...): two copies of a library on
one classpath is how version conflicts start.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

from featurelake.errors import DeltaJarsMissingError, JarFetchError

MANIFEST = "MANIFEST.txt"
_VERSIONED_JAR = re.compile(r"^(?P<artifact>.+?)-(?P<version>\d[^-]*(?:-[A-Za-z0-9.]+)?)\.jar$")

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>featurelake</groupId><artifactId>delta-jars</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.delta</groupId><artifactId>{artifact}</artifactId><version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def delta_version() -> str:
    return version("delta-spark")


def spark_home() -> Path:
    """The pyspark installation (also under spark-submit, which imports pyspark from a zip inside it)."""
    import pyspark

    package = Path(pyspark.__file__).parent
    for parent in package.parents:  # .../pyspark/python/lib/pyspark.zip/pyspark -> .../pyspark
        if (parent / "jars").is_dir():
            return parent
    return package


def delta_coordinates() -> tuple[str, str]:
    """(artifactId, version) of the Delta jar built for the installed Spark."""
    import pyspark

    major_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"delta-spark_{major_minor}_2.13", delta_version()


def artifact_name(jar_file: str) -> str:
    match = _VERSIONED_JAR.match(jar_file)
    return match.group("artifact") if match else jar_file.removesuffix(".jar")


def delta_jars(jars_dir: Path) -> list[Path]:
    """The jars to put on the classpath; raises when setup has not fetched them."""
    manifest = jars_dir / MANIFEST
    artifact, ver = delta_coordinates()
    if not manifest.is_file() or f"{artifact}:{ver}" not in manifest.read_text():
        raise DeltaJarsMissingError(delta_version=ver, jars_dir=jars_dir)
    jars = sorted(jars_dir.glob("*.jar"))
    if not any(j.name.startswith(artifact) for j in jars):
        raise DeltaJarsMissingError(delta_version=ver, jars_dir=jars_dir)
    return jars


def fetch_delta_jars(jars_dir: Path, mvn: str = "mvn") -> list[Path]:
    """Resolve the Delta jars with Maven into ``jars_dir`` (idempotent)."""
    artifact, ver = delta_coordinates()
    try:
        return delta_jars(jars_dir)
    except DeltaJarsMissingError:
        pass
    if shutil.which(mvn) is None:
        raise JarFetchError(coordinates=f"io.delta:{artifact}:{ver}", detail="mvn not on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "pom.xml").write_text(_POM.format(artifact=artifact, version=ver))
        out = work / "jars"
        proc = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime",
             f"-DoutputDirectory={out}"],
            cwd=work, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            detail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise JarFetchError(coordinates=f"io.delta:{artifact}:{ver}", detail=" | ".join(detail))
        provided = {artifact_name(j.name) for j in (spark_home() / "jars").glob("*.jar")}
        # jcl-over-slf4j in Spark already provides commons-logging's classes
        provided |= {"commons-logging", "shims"}
        kept = [j for j in sorted(out.glob("*.jar")) if artifact_name(j.name) not in provided]
        if jars_dir.exists():
            shutil.rmtree(jars_dir)
        jars_dir.mkdir(parents=True)
        for jar in kept:
            shutil.copy2(jar, jars_dir / jar.name)
        lines = [f"{artifact}:{ver}", *(j.name for j in kept)]
        (jars_dir / MANIFEST).write_text("\n".join(lines) + "\n")
    return delta_jars(jars_dir)
