# Keeps the README's API example true: extracts its first C block, builds it
# against this build of the library and runs it.
# cmake -DREADME=... -DWORK_DIR=... -DCC=... -DINCLUDE_SRC=... -DINCLUDE_GEN=... -DLIBDIR=... -P readme_check.cmake
file(READ "${README}" text)
string(FIND "${text}" "```c\n" start)
if(start EQUAL -1)
  message(FATAL_ERROR "README has no C example")
endif()
math(EXPR start "${start} + 5")
string(SUBSTRING "${text}" ${start} -1 rest)
string(FIND "${rest}" "```" stop)
string(SUBSTRING "${rest}" 0 ${stop} code)
file(MAKE_DIRECTORY "${WORK_DIR}")
file(WRITE "${WORK_DIR}/readme_example.c" "#include <stdio.h>\n${code}")
set(flags "-I${INCLUDE_SRC}" "-I${INCLUDE_GEN}")
execute_process(COMMAND ${CC} -std=c11 -Wall -Wextra -Werror ${flags} "${WORK_DIR}/readme_example.c"
                        -L${LIBDIR} -lclgrad -o "${WORK_DIR}/readme_example"
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "README example does not compile:\n${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${LIBDIR}" "${WORK_DIR}/readme_example"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "loss [0-9]")
  message(FATAL_ERROR "README example failed (${rc}):\n${out}\n${err}")
endif()
message(STATUS "README example: ${out}")
