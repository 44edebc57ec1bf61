# SPDX-License-Identifier: Apache-2.0
# bf_add_service(<svc> SOURCES <svc>_*.c ... [LIBS ...]): the one way a service is built.
# It makes the library <svc>_core (all the logic; tests link it), the daemon
# badgeflow-<svc> from <svc>_main.c, and a test that config/<svc>.conf.example is exactly
# what `badgeflow-<svc> --print-config` prints, so the example never drifts from the code.
function(bf_add_service svc)
  cmake_parse_arguments(S "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${svc}_core STATIC ${S_SOURCES})
  target_include_directories(${svc}_core PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${svc}_core PUBLIC badgeflow_common ${S_LIBS})
  add_executable(badgeflow-${svc} ${svc}_main.c)
  target_link_libraries(badgeflow-${svc} PRIVATE ${svc}_core)
  install(TARGETS badgeflow-${svc} RUNTIME DESTINATION bin)
  add_test(NAME ${svc}_config_example_is_current
           COMMAND sh -c "$<TARGET_FILE:badgeflow-${svc}> --print-config | diff -u ${CMAKE_SOURCE_DIR}/config/${svc}.conf.example -")
endfunction()
