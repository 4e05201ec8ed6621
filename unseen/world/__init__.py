"""The old home of the worlds (before unseen.worlds.tiny and unseen.worlds.emoji): ``python -m unseen.world.X`` and
``python -m unseen.world.emoji.X`` still run, from their new files, with one line that names the new path."""

import importlib.abc
import importlib.util
import sys

RENAMED = {"evaluate": "measure_model"}  # the worlds' `evaluate` measured the model: now named so


def new_name(old: str) -> str:
    """unseen.world.emoji.X -> unseen.worlds.emoji.X', unseen.world.X -> unseen.worlds.tiny.X'."""
    parts = old.split(".")[2:]
    parts = ["emoji", *parts[1:]] if parts[:1] == ["emoji"] else ["tiny", *parts]
    return ".".join(["unseen", "worlds", *(RENAMED.get(p, p) for p in parts)])


class _OldPaths(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if not name.startswith(__name__ + "."):
            return None
        found = importlib.util.find_spec(new_name(name))
        if found is None or found.origin is None:
            return None
        return importlib.util.spec_from_file_location(name, found.origin,
                                                      submodule_search_locations=found.submodule_search_locations)


sys.meta_path.insert(0, _OldPaths())
print(f"note: unseen.world moved: the tiny world is unseen.worlds.tiny and the emoji world unseen.worlds.emoji "
      f"(e.g. python -m {new_name(__name__ + '.train_ddpm')}); this path will go", file=sys.stderr)
