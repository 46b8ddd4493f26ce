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
expect("no platform" 1 "no OpenCL platform found.*pocl-opencl-icd"
       ${CMAKE_COMMAND} -E env OCL_ICD_VENDORS=${WORK_DIR}/no-vendors ${TOOL} devices)
expect("unknown command" 2 "unknown command" ${TOOL} frobnicate)
expect("usage" 2 "usage: clgrad" ${TOOL})
