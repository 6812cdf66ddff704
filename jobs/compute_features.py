"""spark-submit jobs/compute_features.py backfill VIEW --start YYYY-MM-DD --end YYYY-MM-DD
spark-submit jobs/compute_features.py run VIEW --date YYYY-MM-DD

The same arguments as `featurelake backfill` / `featurelake run`: this job hands them to the
same command, which builds the session (the one spark-submit started) and calls the library.
"""

from __future__ import annotations

import sys

from featurelake.cli.main import main

COMMANDS = {"backfill", "run"}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1:])
