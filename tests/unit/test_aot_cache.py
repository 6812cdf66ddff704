"""Which JDK setup trains the AOT cache with, and when a driver uses it (spark/cds.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from featurelake.config import FeaturelakeConfig, load_config
from featurelake.spark.cds import (
    AOT_CACHE,
    AOT_STAMP,
    ARCHIVE,
    EMPTY_CONF,
    aot_java_home,
    aot_jdk,
    cds_environment,
    cds_java_options,
    jdk_version,
)


def _jdk(root: Path, name: str, version: str | None, java: bool = True) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    if java:
        (home / "bin" / "java").write_text("#!/bin/sh\n")
    if version is not None:
        (home / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\nMODULES="java.base"\n')
    return home


def test_jdk_versions_come_from_the_release_file(tmp_path: Path) -> None:
    assert jdk_version(_jdk(tmp_path, "a", "25.0.3")) == (25, 0, 3)
    assert jdk_version(_jdk(tmp_path, "b", "17")) == (17, 0, 0)
    assert jdk_version(_jdk(tmp_path, "c", None)) is None
    assert jdk_version(_jdk(tmp_path, "d", "25.0.3", java=False)) is None  # a JRE folder without java


def test_setup_picks_java_home_when_it_is_a_jdk_25_0_3_or_later_else_the_newest_in_the_jdk_folders(
    tmp_path: Path,
) -> None:
    jvm = tmp_path / "jvm"
    _jdk(jvm, "java-17", "17.0.15")
    _jdk(jvm, "temurin-25.0.2", "25.0.2")  # Spark deprecates 25 before 25.0.3 (G1 data corruption)
    _jdk(jvm, "java-26", "26.0.1")  # not a JDK Spark 4.2 runs on
    assert aot_jdk(java_home="", jdk_dirs=[jvm]) is None
    newest = _jdk(jvm, "temurin-25.0.4", "25.0.4")
    _jdk(jvm, "temurin-25.0.3", "25.0.3")
    assert aot_jdk(java_home="", jdk_dirs=[jvm]) == newest.resolve()
    own = _jdk(tmp_path, "own-25.0.3", "25.0.3")
    assert aot_jdk(java_home=str(own), jdk_dirs=[jvm]) == own.resolve()
    own_17 = _jdk(tmp_path, "own-17", "17.0.15")
    assert aot_jdk(java_home=str(own_17), jdk_dirs=[jvm]) == newest.resolve()
    assert aot_jdk(java_home="", jdk_dirs=[tmp_path / "missing"]) is None


def _conf(tmp_path: Path, master: str = "local[2]", aot_cache: bool = True, options: str = "") -> FeaturelakeConfig:
    path = tmp_path / "conf.yaml"
    settings = f"  settings:\n    spark.driver.extraJavaOptions: '{options}'\n" if options else ""
    path.write_text(f"project: t\nspark:\n  master: '{master}'\n  jars_dir: {tmp_path / 'jars'}\n"
                    f"  aot_cache: {str(aot_cache).lower()}\n{settings}")  # fmt: skip
    return load_config(path, env={})


def _setup_built(tmp_path: Path, jdk: Path) -> Path:
    folder = tmp_path / "jars" / "cds"
    (folder / EMPTY_CONF).mkdir(parents=True)
    for name in (ARCHIVE, AOT_CACHE):
        (folder / name).write_bytes(b"archive")
    (folder / AOT_STAMP).write_text(json.dumps({"java": str(jdk / "bin" / "java")}))
    return folder


def test_a_local_driver_runs_on_the_cache_s_jdk_with_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    jdk = _jdk(tmp_path, "jdk-25", "25.0.3")
    folder = _setup_built(tmp_path, jdk)
    monkeypatch.setenv("SPARK_SUBMIT_OPTS", "-Dmine=1")
    conf = _conf(tmp_path)
    assert aot_java_home(conf) == jdk
    # Not in the command: the JVM refuses the archive beside the cache, and JDK 17 `-Xlog:aot`.
    assert cds_java_options(conf) == []
    assert cds_environment(conf) == {
        "SPARK_CONF_DIR": str(folder / EMPTY_CONF),
        "JAVA_HOME": str(jdk),
        "SPARK_SUBMIT_OPTS": f"-Dmine=1 -XX:AOTCache={folder / AOT_CACHE} -Xlog:aot=off -Xlog:cds=off",
    }


@pytest.mark.parametrize("case", ["cluster", "turned off", "own options", "jdk gone", "no stamp", "own conf dir"])
def test_otherwise_a_driver_keeps_its_java_and_maps_the_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    jdk = _jdk(tmp_path, "jdk-25", "25.0.3")
    folder = _setup_built(tmp_path, jdk)
    conf = _conf(tmp_path, master="spark://127.0.0.1:7077" if case == "cluster" else "local[2]",
                 aot_cache=case != "turned off", options="-Xss4m" if case == "own options" else "")  # fmt: skip
    if case == "jdk gone":
        (jdk / "bin" / "java").unlink()
    if case == "no stamp":
        (folder / AOT_STAMP).unlink()
    if case == "own conf dir":
        monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
        assert aot_java_home(conf) is None and cds_java_options(conf) == [] and cds_environment(conf) == {}
        return
    assert aot_java_home(conf) is None
    assert cds_java_options(conf)[0] == f"-XX:SharedArchiveFile={folder / ARCHIVE}"
    assert cds_environment(conf) == {"SPARK_CONF_DIR": str(folder / EMPTY_CONF)}
