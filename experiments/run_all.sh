#!/usr/bin/env bash
# Every study of EXPERIMENTS.md, in the order their inputs need (auto and domain_gap read priors' CSV).
#   bash experiments/run_all.sh            # ~65 min on 2 CPU cores; each study also runs alone
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
for study in default tiny_world_mixing priors optimize reconstruction latents geometry surface domain_gap baselines auto; do
  echo "=== $study $(date +%H:%M:%S)"
  "$PY" "experiments/$study.py" "$@"
done
echo "=== done $(date +%H:%M:%S)"
