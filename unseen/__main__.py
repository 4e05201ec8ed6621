"""``python -m unseen``: the same as the ``unseen`` console script."""

from unseen.cli import main

main()
