# Script mode: the docs_guide test compiles every complete C program of
# docs/getting-started.md (a ```c block with a main) with -Wall -Wextra -Werror
# against this build and runs it, so the guide's code stays true.
# cmake -DGUIDE=... -DWORK_DIR=... -DCC=... -DINCLUDE_SRC=... -DINCLUDE_GEN=... -DLIBDIR=...
#       -P cmake/docs.cmake
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.18)   # policies: while(TRUE) is a constant
  file(READ "${GUIDE}" text)
  file(REMOVE_RECURSE "${WORK_DIR}")
  file(MAKE_DIRECTORY "${WORK_DIR}")
  set(fence "```")
  set(count 0)
  while(TRUE)
    string(FIND "${text}" "${fence}c\n" start)
    if(start EQUAL -1)
      break()
    endif()
    math(EXPR start "${start} + 5")
    string(SUBSTRING "${text}" ${start} -1 text)
    string(FIND "${text}" "${fence}" stop)
    string(SUBSTRING "${text}" 0 ${stop} code)
    string(SUBSTRING "${text}" ${stop} -1 text)
    if(NOT code MATCHES "int main\\(")
      continue()   # an excerpt, not a program
    endif()
    math(EXPR count "${count} + 1")
    set(name "guide_${count}")
    file(WRITE "${WORK_DIR}/${name}.c" "${code}")
    execute_process(COMMAND ${CC} -std=c11 -Wall -Wextra -Werror "-I${INCLUDE_SRC}" "-I${INCLUDE_GEN}"
                            "${WORK_DIR}/${name}.c" "-L${LIBDIR}" -lclgrad -lm -o "${WORK_DIR}/${name}"
                    RESULT_VARIABLE rc ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "program ${count} of ${GUIDE} does not compile (${WORK_DIR}/${name}.c):\n${err}")
    endif()
    execute_process(COMMAND ${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${LIBDIR}" "${WORK_DIR}/${name}"
                    WORKING_DIRECTORY "${WORK_DIR}" TIMEOUT 300
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "program ${count} of ${GUIDE} failed (${rc}):\n${out}\n${err}")
    endif()
    message(STATUS "${name}:\n${out}")
  endwhile()
  if(count LESS 3)
    message(FATAL_ERROR "expected at least 3 programs in ${GUIDE}, found ${count}")
  endif()
  return()
endif()

# The API reference: `cmake --build <build> --target docs` runs Doxygen (Debian
# package doxygen, installed by scripts/setup.sh) on the public headers and the
# guide (docs/getting-started.md, the front page, with the docs/*.md pages it
# links to) and writes HTML to <build>/docs/api/index.html.
# Optional: without Doxygen the target only says how to get it. Any Doxygen
# warning fails the target (WARN_AS_ERROR in docs/Doxyfile.in).
find_package(Doxygen QUIET)
set(CLGRAD_DOCS_OUTPUT ${PROJECT_BINARY_DIR}/docs)
if(DOXYGEN_FOUND)
  configure_file(${PROJECT_SOURCE_DIR}/docs/Doxyfile.in ${CLGRAD_DOCS_OUTPUT}/Doxyfile @ONLY)
  set(CLGRAD_DOXYFILE ${CLGRAD_DOCS_OUTPUT}/Doxyfile)
  add_custom_target(docs
    COMMAND Doxygen::doxygen ${CLGRAD_DOXYFILE}
    COMMAND ${CMAKE_COMMAND} -E echo "API reference: ${CLGRAD_DOCS_OUTPUT}/api/index.html"
    WORKING_DIRECTORY ${CLGRAD_DOCS_OUTPUT}
    COMMENT "Generating the API reference with Doxygen ${DOXYGEN_VERSION}"
    VERBATIM)
else()
  message(STATUS "Doxygen not found: the docs target will only say so (Debian: apt-get install doxygen)")
  add_custom_target(docs
    COMMAND ${CMAKE_COMMAND} -E echo
            "clgrad docs: Doxygen was not found; install the Debian package doxygen (scripts/setup.sh does) and re-run cmake"
    COMMAND ${CMAKE_COMMAND} -E false
    VERBATIM)
endif()
