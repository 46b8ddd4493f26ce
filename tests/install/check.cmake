# Installs the build into a scratch prefix, then builds and runs consumers with
# find_package(clgrad), with pkg-config, and (where a C++ compiler exists) as C++.
# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... [-DCC=...] -P check.cmake
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(f include/clgrad/clgrad.h include/clgrad/version.h bin/clgrad)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
file(GLOB libdirs "${prefix}/lib*")
file(GLOB_RECURSE sonames "${prefix}/lib*/libclgrad.so.0")
file(GLOB_RECURSE pcs "${prefix}/lib*/pkgconfig/clgrad.pc")
file(GLOB_RECURSE configs "${prefix}/lib*/cmake/clgrad/clgradConfigVersion.cmake")
if(NOT sonames OR NOT pcs OR NOT configs)
  message(FATAL_ERROR "missing libclgrad.so.0 (${sonames}), clgrad.pc (${pcs}) or the version file (${configs})")
endif()
get_filename_component(libdir "${sonames}" DIRECTORY)
get_filename_component(pcdir "${pcs}" DIRECTORY)

# 1. CMake package.
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}/cmake-build" "-DCMAKE_PREFIX_PATH=${prefix}")
run(${CMAKE_COMMAND} --build "${WORK_DIR}/cmake-build")
run(${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${libdir}" "${WORK_DIR}/cmake-build/consumer")

# 2. pkg-config.
find_program(PKG_CONFIG pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} "${pcdir}")
execute_process(COMMAND ${PKG_CONFIG} --cflags --libs clgrad OUTPUT_VARIABLE flags
                RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config does not know clgrad")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
if(NOT CC)
  set(CC cc)
endif()
run(${CC} -std=c11 -Wall -Wextra -Werror "${SOURCE_DIR}/consumer.c" ${flags} -o "${WORK_DIR}/consumer-pc")
run(${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${libdir}" "${WORK_DIR}/consumer-pc")

# 3. C++.
find_program(CXX_COMPILER NAMES c++ g++ clang++)
if(CXX_COMPILER)
  run(${CXX_COMPILER} -std=c++11 -Wall -Wextra -Werror "${SOURCE_DIR}/consumer.cpp" ${flags} -o "${WORK_DIR}/consumer-cxx")
  run(${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${libdir}" "${WORK_DIR}/consumer-cxx")
else()
  message(STATUS "no C++ compiler: C++ consumer not checked")
endif()
