#!/usr/bin/env bash
# On the GPU machine (see prepare.sh): the seed example and the second example
# (two conv blocks), default settings. Arguments: the examples (default both;
# `cnn2` means fashion_mnist_cnn2); SEEDS (default "0 1 2") picks the seeds.
set -u
. "$(dirname "$0")/env.sh"
mkdir -p /usr/share/datasets/fashion-mnist
cp "$g"/data/*.gz /usr/share/datasets/fashion-mnist/
cd /tmp
examples=${*:-"fashion_mnist_cnn fashion_mnist_cnn2"}
[ "$examples" = cnn2 ] && examples=fashion_mnist_cnn2
for ex in $examples; do
  for seed in ${SEEDS:-0 1 2}; do
    timeout 250 "$g/bin/$ex" --quiet --seed "$seed" --save "/tmp/$ex-$seed.safetensors" 2>&1 | tail -16
  done
done
