#!/usr/bin/env bash
# One nightly run: compare the shipped model with its committed baseline and extend the history.
set -euo pipefail
day=$(date +%F)
evalkit compare examples/nightly.yaml \
  --against baselines/tuned-nightly.json \
  --history reports/history.jsonl \
  --gate examples/gate-nightly.yaml \
  --out "reports/nightly-$day" --junit "reports/nightly-$day/junit.xml"
