#!/usr/bin/env bash
# Installs Debian's PyTorch 1.13 (CPU, python3-torch with OpenBLAS) for the differential fuzzer (bench/fuzz/run.ts).
# Uses sudo -n when not root; prints the torch version when done. About 35 s on a Debian 12 machine.
set -euo pipefail
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo -n"; fi
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 -c 'import torch; print("torch", torch.__version__, "already installed")'
  exit 0
fi
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch libopenblas0-pthread >/dev/null
/usr/bin/python3 -c 'import torch; print("torch", torch.__version__)'
