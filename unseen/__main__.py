"""``python -m unseen``: the same as the ``unseen`` console script."""

import sys

try:
    from unseen.job.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python imports: one line, as at any later moment
    print("interrupted: no results were written", file=sys.stderr)
    sys.exit(130)

main()
