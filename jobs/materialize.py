"""spark-submit jobs/materialize.py VIEW [--full]

The same arguments as `featurelake materialize`: this job hands them to the same command,
which builds the session (the one spark-submit started) and calls the library.
"""

from __future__ import annotations

import sys

from featurelake.cli.main import main

if __name__ == "__main__":
    main(["materialize", *sys.argv[1:]])
