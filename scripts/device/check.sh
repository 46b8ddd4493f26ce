#!/usr/bin/env bash
# On the GPU machine (see prepare.sh): devices, every test executable (twice:
# the second run must compile none of clgrad's kernels), and the benches.
set -u
. "$(dirname "$0")/env.sh"
nvidia-smi -L 2>&1 | head -2
ls /etc/OpenCL/vendors 2>&1
"$g/root/usr/bin/clinfo" -l 2>&1
"$g/bin/clgrad" devices
export CLGRAD_DEVICE=${CLGRAD_DEVICE:-gpu} CLGRAD_TEST_CACHE_WRITER=$g/bin/cache_writer
pass=0 fail=0
for t in "$g"/bin/test_*; do
  if timeout 300 "$t" > "/tmp/$(basename "$t").log" 2>&1; then pass=$((pass+1)); echo "PASS $(basename "$t")"
  else fail=$((fail+1)); echo "FAIL $(basename "$t")"; tail -30 "/tmp/$(basename "$t").log"; fi
done
for t in "$g"/bin/test_*; do
  CLGRAD_TEST_EXPECT_WARM_CACHE=1 timeout 300 "$t" > /dev/null 2>&1 || echo "FAIL(warm) $(basename "$t")"
done
echo "$pass passed, $fail failed"
unset CLGRAD_TEST_CACHE_WRITER
timeout 200 "$g/bin/clgrad" bench ops
timeout 200 "$g/bin/clgrad" bench conv --filter _b16 --repeat 5 --warmup 1
