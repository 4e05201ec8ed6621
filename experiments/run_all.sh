#!/usr/bin/env bash
# Every study of EXPERIMENTS.md, in the order their inputs need (auto and domain_gap read priors' CSV).
#   bash experiments/run_all.sh            # ~75 min on 2 CPU cores for the tiny world; each study also runs alone
#   EMOJI=1 bash experiments/run_all.sh    # and the emoji world's study (~4.5 h more on 2 CPU cores, minutes on a GPU)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
STUDIES="default tiny_world_mixing priors optimize reconstruction latents geometry surface domain_gap baselines auto grain latent"
[ -n "${EMOJI:-}" ] && STUDIES="$STUDIES emoji emoji_priors emoji_fewshot redraw_space new_members"
for study in $STUDIES; do
  echo "=== $study $(date +%H:%M:%S)"
  "$PY" -m "experiments.$study" "$@"
done
echo "=== done $(date +%H:%M:%S)"
