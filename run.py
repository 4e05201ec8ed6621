"""Entry point: ``python run.py [group=choice ...] [key=value ...]`` (Hydra), the same as the ``unseen``
console script. See README.md."""

import sys

try:
    from unseen.job.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python imports: one line, as at any later moment
    print("interrupted: no results were written", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    main()
