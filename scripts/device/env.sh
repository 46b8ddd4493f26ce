# Sourced by the device scripts: registers the NVIDIA OpenCL driver (installed
# but not registered with the ICD loader on the machines seen so far) and puts
# the carried libraries on the library path. Says which driver library it used.
g=$PWD/.gpu
mkdir -p /tmp/vendors
nv=
for lib in /usr/local/nvidia/lib64/libnvidia-opencl.so.1 /usr/lib/libnvidia-opencl.so.1 \
           /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1; do
  if [ -e "$lib" ]; then nv=$lib; break; fi
done
[ -n "$nv" ] || nv=$(find /usr /opt /lib -name 'libnvidia-opencl.so*' 2>/dev/null | head -1)
if [ -n "$nv" ]; then echo "$nv" > /tmp/vendors/nvidia.icd; echo "env.sh: NVIDIA OpenCL driver: $nv"
else echo "env.sh: no libnvidia-opencl library found under /usr, /opt, /lib"; fi
for f in /etc/OpenCL/vendors/*.icd; do [ -f "$f" ] && cp "$f" /tmp/vendors/; done
export OCL_ICD_VENDORS=/tmp/vendors
export LD_LIBRARY_PATH=$g/bin:$g/root/usr/lib/x86_64-linux-gnu:/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
export CLGRAD_CACHE_DIR=${CLGRAD_CACHE_DIR:-/tmp/clgrad-cache}
