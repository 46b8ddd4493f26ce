#!/usr/bin/env bash
# Prepares .gpu/ (git-ignored) for a run on a GPU machine that has no package
# access: the Debian OpenCL ICD loader, CLBlast, clFFT, clinfo and cmocka,
# unpacked, plus this build's library, tool, examples and test executables, and
# the Fashion-MNIST files. Run on the development machine after a build:
#   scripts/device/prepare.sh [build-dir]
# then on the GPU machine, from the repository root with .gpu carried:
#   bash scripts/device/check.sh      # driver, devices, every test executable
#   bash scripts/device/train.sh      # the two Fashion-MNIST examples, three seeds
#   python3 bench/peers/compare.py --device cuda --clgrad .gpu/bin/clgrad   # beside PyTorch
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
g=$root/.gpu
rm -rf "$g" && mkdir -p "$g/debs" "$g/root" "$g/bin" "$g/data"
(cd "$g/debs" && apt-get download ocl-icd-libopencl1 libclblast1 libclfft2 clinfo libcmocka0 >/dev/null)
for f in "$g"/debs/*.deb; do dpkg -x "$f" "$g/root"; done
rm -rf "$g/debs" "$g/root/usr/share"
cp -L "$build/libclgrad.so.0" "$build/clgrad" "$build"/examples/device_tour \
      "$build"/examples/fashion_mnist_cnn "$build"/examples/fashion_mnist_cnn2 "$build"/tests/test_* "$build/tests/cache_writer" "$g/bin/"
cp /usr/share/datasets/fashion-mnist/*.gz "$g/data/" 2>/dev/null || true
# Debug information would take the carried tree past the device tool's 64 MiB.
strip --strip-debug "$g"/bin/*
du -sh "$g"
