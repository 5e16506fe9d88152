# tender_add_role(NAME SOURCES file... [TESTS file...] [TEST_DEFINITIONS def...]
#                 [LIBRARIES target...])
#
# Declares a role: the library tender_NAME (alias tender::NAME) from SOURCES, on tender::core
# (and LIBRARIES, privately); its unit tests NAME_test from TESTS, discovered by ctest; and its
# place in the `tender` binary (src/CMakeLists.txt links every declared role). The role's public
# header is src/NAME/NAME.hpp, which declares its add_command; tools/check-layering.sh fails the
# build's checks when another folder includes anything else of it, or when it includes another
# role.
function(tender_add_role name)
  cmake_parse_arguments(ROLE "" "" "SOURCES;TESTS;TEST_DEFINITIONS;LIBRARIES" ${ARGN})
  if(NOT ROLE_SOURCES)
    message(FATAL_ERROR "tender_add_role(${name}): SOURCES is required")
  endif()
  add_library(tender_${name} ${ROLE_SOURCES})
  add_library(tender::${name} ALIAS tender_${name})
  tender_unity(tender_${name})
  target_link_libraries(tender_${name} PUBLIC tender::core PRIVATE tender_warnings ${ROLE_LIBRARIES})
  set_property(GLOBAL APPEND PROPERTY TENDER_ROLES tender_${name})
  if(TENDER_BUILD_TESTS AND ROLE_TESTS)
    add_executable(${name}_test ${ROLE_TESTS})
    if(ROLE_TEST_DEFINITIONS)
      target_compile_definitions(${name}_test PRIVATE ${ROLE_TEST_DEFINITIONS})
    endif()
    target_link_libraries(${name}_test PRIVATE tender_${name} tender_warnings GTest::gtest_main)
    include(GoogleTest)
    gtest_discover_tests(${name}_test DISCOVERY_TIMEOUT 30)
  endif()
endfunction()
