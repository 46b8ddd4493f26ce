#!/usr/bin/env bash
# What the PyTorch peers need and clgrad does not: Debian's python3-torch, and
# OpenBLAS as the system BLAS (python3-torch links libblas.so.3, which is the
# slow reference BLAS unless an optimised one is installed; OpenBLAS takes over
# through Debian's alternatives). Run as root, or with sudo available.
set -euo pipefail
exec bash "$(dirname "$0")/../../scripts/setup.sh" python3-torch libopenblas0-pthread
