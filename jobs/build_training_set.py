"""spark-submit jobs/build_training_set.py --labels PATH --features view:feature,... --output PATH [...]

The same arguments as `featurelake training-set`: this job hands them to the same command.
"""

from __future__ import annotations

import sys

from featurelake.cli.main import main

if __name__ == "__main__":
    main(["training-set", *sys.argv[1:]])
