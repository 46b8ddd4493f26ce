#!/usr/bin/env bash
# README command 1: install what is missing, build, list the OpenCL devices, and
# run the main example on the best device (or the one CLGRAD_DEVICE names).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CLGRAD_BUILD_DIR:-$root/build}

"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
"$build/clgrad" devices
"$build/examples/device_tour" "$@"
