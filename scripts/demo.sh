#!/usr/bin/env bash
# README command 1: install what is missing, build, list the OpenCL devices, and
# train the Fashion-MNIST CNN (examples/fashion_mnist_cnn.c, the Keras seed model)
# on the best device (or the one CLGRAD_DEVICE names). Arguments go to the
# example: scripts/demo.sh --epochs 1 --train-samples 6000 for a quick look.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CLGRAD_BUILD_DIR:-$root/build}

"$root/scripts/setup.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
"$build/clgrad" devices
"$build/examples/fashion_mnist_cnn" "$@"
