"""Services for trying featurelake's scale-out mode on one machine, all on 127.0.0.1:
an S3 API server (moto's server mode) and a Spark standalone master and worker.
The tests start them through these functions; `featurelake dev-cluster` starts them for a person.
"""

from featurelake.devservices.processes import ServiceStartError
from featurelake.devservices.s3_server import S3Server, start_s3_server
from featurelake.devservices.spark_cluster import SparkCluster, start_spark_cluster

__all__ = ["S3Server", "ServiceStartError", "SparkCluster", "start_s3_server", "start_spark_cluster"]
