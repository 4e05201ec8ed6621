"""``python -m unseen.convert`` (the old path): runs ``python -m unseen.models.convert`` with one line naming it."""

import sys

if __name__ == "__main__":
    print("note: unseen.convert moved to unseen.models.convert (python -m unseen.models.convert); this path will go",
          file=sys.stderr)
    from unseen.models.convert import main

    main()
