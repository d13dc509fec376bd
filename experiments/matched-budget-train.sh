#!/usr/bin/env bash
# Trains the matched-budget models of experiments/matched-budget.ts: for each seed, VAR and VIAR side by side, one
# core each, for the same wall time (MINUTES, default 14), into ROOT/seed-S/ (default checkpoints/matched).
# Usage: bash experiments/matched-budget-train.sh [ROOT] [MINUTES] [SEEDS...]
set -euo pipefail
root=${1:-checkpoints/matched}
minutes=${2:-14}
shift $(( $# > 2 ? 2 : $# )) || true
seeds=("${@:-0 1 2}")
for s in ${seeds[@]}; do
  mkdir -p "$root/seed-$s"
  for m in var viar; do
    npm run -s viar -- train --model $m --data mnist --seed "$s" --threads 1 --fit-minutes "$minutes" \
      --minutes "$(awk "BEGIN { print $minutes + 1 }")" --out "$root/seed-$s" > "$root/seed-$s/$m.stdout" 2>&1 &
  done
  wait
  tail -n 2 "$root"/seed-"$s"/*-mnist.log
done
