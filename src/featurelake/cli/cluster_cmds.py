"""dev-cluster: an S3 API server and a Spark standalone cluster on 127.0.0.1, to try the
scale-out mode (object-store lake, jobs on a cluster) on one machine."""

from __future__ import annotations

import secrets
import shlex
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from featurelake.cli.common import app, out, stopped_by_sigterm


@app.command("dev-cluster")
def dev_cluster_cmd(
    bucket: Annotated[str, typer.Option(help="The bucket to create for the lake.")] = "featurelake",
    cores: Annotated[int, typer.Option(help="Cores the Spark worker offers.")] = 2,
    memory: Annotated[str, typer.Option(help="Memory the Spark worker offers.")] = "3g",
    work_dir: Annotated[Path | None, typer.Option(help="Logs and Spark work files (default: a temp folder).")] = None,
) -> None:
    """Start moto's S3 server and a Spark master + worker on 127.0.0.1 until Ctrl-C; prints the env to export."""
    from featurelake.devservices import start_s3_server, start_spark_cluster

    folder = work_dir or Path(tempfile.mkdtemp(prefix="featurelake-dev-cluster-"))
    s3 = start_s3_server(folder)
    env = s3.environment("featurelake-dev", secrets.token_hex(16))
    cluster = None
    try:  # Ctrl-C or SIGTERM stops both
        with stopped_by_sigterm():
            import os

            os.environ.update(env)
            s3.create_bucket(bucket)
            cluster = start_spark_cluster(folder, cores=cores, memory=memory, env=env)
            exports = {
                **env,
                "FEATURELAKE_LAKE_ROOT": f"s3a://{bucket}/lake",
                "FEATURELAKE_SPARK_MASTER": cluster.master_url,
            }
            out.print("S3 API server (moto, in memory) and Spark standalone cluster on 127.0.0.1. In another shell:")
            for name, value in exports.items():
                out.print(f"  export {name}={shlex.quote(value)}")
            out.print(f"Spark master UI: {cluster.web_url}; logs in {folder / 'logs'}. Ctrl-C stops both.")
            while s3.process.poll() is None and all(p.poll() is None for p in cluster.processes):
                time.sleep(1)
            out.print("a service exited; stopping the others (see the logs)")
    except KeyboardInterrupt:
        out.print("stopping")
    finally:
        if cluster is not None:
            cluster.stop()
        s3.stop()
