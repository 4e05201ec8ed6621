"""``python -m unseen.finetune`` (the old path): runs ``python -m unseen.baselines.finetune`` with one line naming
it."""

import sys

if __name__ == "__main__":
    print("note: unseen.finetune moved to unseen.baselines.finetune (python -m unseen.baselines.finetune); this path "
          "will go", file=sys.stderr)
    from unseen.baselines.finetune import main

    main()
