# Load generator (not a ctest test: benchmarks never assert wall-clock limits). Included from
# tests/CMakeLists.txt with `include(bench/bench.cmake)`; run it through scripts/bench.
add_executable(bench_meross ${CMAKE_CURRENT_LIST_DIR}/bench_meross.c)
target_link_libraries(bench_meross PRIVATE fc_harness fc_core cjson ${MBED_LIBS})
