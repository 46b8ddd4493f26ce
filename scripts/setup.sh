#!/usr/bin/env bash
# Installs whatever clgrad needs that is missing, from Debian packages.
# Safe to run again: installed packages are skipped, and apt is not touched when
# nothing is missing. Every issue that brings a new dependency adds it here.
# With package names as arguments it installs those instead (what other
# set-ups reuse, e.g. bench/peers/setup.sh for PyTorch).
set -euo pipefail

packages=(
  build-essential cmake pkg-config      # C11 compiler (and C++ for the header check), build
  ocl-icd-opencl-dev opencl-headers     # OpenCL ICD loader and headers
  pocl-opencl-icd                       # the CPU as an OpenCL device (tests and CI run on it)
  clinfo                                # what the OpenCL stack sees, for bug reports
  libclblast-dev                        # GEMM
  clblast-utils                         # CLBlast's tuners, which `clgrad tune` runs
  libclfft-dev                          # FFT convolution
  libcmocka-dev                         # tests
  zlib1g-dev                            # gzip data sets, cache checksums
  libpng-dev                            # PNG images (sample grids, plots)
  dataset-fashion-mnist                 # the seed example's data (IDX, gzipped)
  wamerican wngerman wfrench wspanish   # word lists for the text examples and tests
  witalian wportuguese wdutch
  fortunes                              # a text corpus (fortune files) for the text examples
  doxygen                               # API reference: the docs target and its ctest entry
  clang libclang-rt-14-dev              # libFuzzer and its sanitizer runtimes (scripts/fuzz.sh)
  libopenmpi-dev openmpi-bin            # data parallelism across ranks (mpirun), CLGRAD_MPI
)

[ $# -gt 0 ] && packages=("$@")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "clgrad setup: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "clgrad setup: run as root or install sudo" >&2; exit 1; }
  sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
