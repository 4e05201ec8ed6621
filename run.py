"""Entry point: ``python run.py [group=choice ...] [key=value ...]`` (Hydra), the same as the ``unseen``
console script. See README.md."""

from unseen.cli import main

if __name__ == "__main__":
    main()
