#!/usr/bin/env bash
# On the GPU machine (see prepare.sh): the seed example, default settings, on
# three seeds.
set -u
. "$(dirname "$0")/env.sh"
mkdir -p /usr/share/datasets/fashion-mnist
cp "$g"/data/*.gz /usr/share/datasets/fashion-mnist/
cd /tmp
for seed in 0 1 2; do
  timeout 150 "$g/bin/fashion_mnist_cnn" --quiet --seed "$seed" --save "/tmp/w$seed.safetensors" 2>&1 | tail -16
done
