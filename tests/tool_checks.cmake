# The clgrad command as users meet it: exit codes and messages.
# cmake -DTOOL=<path to clgrad> -DWORK_DIR=<scratch> -P tool_checks.cmake
function(expect name want_rc pattern)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL want_rc)
    message(FATAL_ERROR "${name}: exit ${rc}, expected ${want_rc}\n${out}\n${err}")
  endif()
  if(NOT "${out}${err}" MATCHES "${pattern}")
    message(FATAL_ERROR "${name}: output lacks '${pattern}':\n${out}\n${err}")
  endif()
  message(STATUS "${name}: ok")
endfunction()

file(MAKE_DIRECTORY "${WORK_DIR}/no-vendors")
expect("devices" 0 "\\* [0-9]+:[0-9]+ .*platform .*compute .*memory .*language" ${TOOL} devices)
expect("version" 0 "clgrad [0-9]+\\.[0-9]+\\.[0-9]+" ${TOOL} version)
expect("bad selection" 1 "CLGRAD_DEVICE|matches no device"
       ${CMAKE_COMMAND} -E env CLGRAD_DEVICE=no-such-device ${TOOL} devices)
# CLGRAD_DEVICES: '*' the first device of the selection, '+' the others; an item that matches nothing
expect("several devices" 0 "\\* [0-9]+:[0-9]+ .*CLGRAD_DEVICES=all: [0-9]+ devices?; '\\*' the first"
       ${CMAKE_COMMAND} -E env CLGRAD_DEVICES=all ${TOOL} devices)
expect("bad device list" 1 "CLGRAD_DEVICES: 'no-such-device' in device selection '0:0,no-such-device' matches no device"
       ${CMAKE_COMMAND} -E env CLGRAD_DEVICES=0:0,no-such-device ${TOOL} devices)
expect("bench --devices elsewhere" 2 "--devices applies to suite models only" ${TOOL} bench ops --devices all)
expect("bench --devices no match" 1 "--devices: 'no-such-device' in device selection .* matches no device"
       ${TOOL} bench models --devices no-such-device --quick)
# Each device alone, then both together, and the efficiency (two PoCL devices; other platforms'
# devices join them under "all").
expect("bench --devices" 0 "configuration 3 of [0-9]+: --devices all.*scaling with --devices all.*mlp +train +16 .*[0-9]\\.[0-9][0-9]  images/s"
       ${CMAKE_COMMAND} -E env "POCL_DEVICES=pthread pthread" ${TOOL} bench models --devices all --quick
       --filter mlp --mode train --warmup 1 --repeat 2)
expect("no platform" 1 "no OpenCL platform found.*pocl-opencl-icd"
       ${CMAKE_COMMAND} -E env OCL_ICD_VENDORS=${WORK_DIR}/no-vendors ${TOOL} devices)
expect("unknown command" 2 "unknown command" ${TOOL} frobnicate)
expect("usage" 2 "usage: clgrad" ${TOOL})
