# Load generators (not ctest tests: benchmarks never assert wall-clock limits). Included from
# tests/CMakeLists.txt with `include(bench/bench.cmake)`; run them through scripts/bench
# (bench_meross by default, bench_tuya with --tuya).
add_executable(bench_meross ${CMAKE_CURRENT_LIST_DIR}/bench_meross.c)
target_link_libraries(bench_meross PRIVATE fc_harness fc_core cjson ${MBED_LIBS})
add_executable(bench_tuya ${CMAKE_CURRENT_LIST_DIR}/bench_tuya.c)
target_link_libraries(bench_tuya PRIVATE fc_harness fc_core cjson ${MBED_LIBS})
