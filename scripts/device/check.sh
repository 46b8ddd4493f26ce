#!/usr/bin/env bash
# On the GPU machine (see prepare.sh): the driver, the devices, and every test
# executable on the GPU. WARM=1 reruns them, where the second run must compile
# none of clgrad's kernels; BENCH=1 adds the op and convolution benches. The
# logs of failing tests are written to $OUT (the device tool's folder) or /tmp.
set -u
. "$(dirname "$0")/env.sh"
logs=${OUT:-/tmp}
nvidia-smi -L 2>&1 | head -2
ls /etc/OpenCL/vendors 2>&1
"$g/root/usr/bin/clinfo" -l 2>&1
"$g/bin/clgrad" devices
export CLGRAD_DEVICE=${CLGRAD_DEVICE:-gpu} CLGRAD_TEST_CACHE_WRITER=$g/bin/cache_writer
pass=0 fail=0 start=$SECONDS
for t in "$g"/bin/test_*; do
  n=$(basename "$t") t0=$SECONDS
  if timeout 120 "$t" > "/tmp/$n.log" 2>&1; then pass=$((pass+1)); echo "PASS $n ($((SECONDS-t0)) s)"
  else fail=$((fail+1)); echo "FAIL $n ($((SECONDS-t0)) s)"; cp "/tmp/$n.log" "$logs/$n.log"; tail -30 "/tmp/$n.log"; fi
done
echo "$pass passed, $fail failed in $((SECONDS-start)) s"
if [ "${WARM:-0}" = 1 ]; then
  for t in "$g"/bin/test_*; do
    CLGRAD_TEST_EXPECT_WARM_CACHE=1 timeout 120 "$t" > /dev/null 2>&1 || echo "FAIL(warm) $(basename "$t")"
  done
  echo "warm rerun done"
fi
unset CLGRAD_TEST_CACHE_WRITER
if [ "${BENCH:-0}" = 1 ]; then
  timeout 200 "$g/bin/clgrad" bench ops
  timeout 200 "$g/bin/clgrad" bench conv --filter _b16 --repeat 5 --warmup 1
fi
