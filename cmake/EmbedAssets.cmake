# tender_embed_assets(TARGET FUNCTION qualified::name FILES file...)
#
# Embeds web assets (HTML, CSS, JavaScript, SVG) in TARGET: a generated source defines
# `std::span<const tender::UiAsset> FUNCTION()` (core/webui.hpp) listing each file by its base
# name, with its content type and an ETag from its SHA-256. The files are read at build time;
# editing one rebuilds the generated source, nothing else. Every embedded file is recorded in
# the global property TENDER_UI_ASSETS, which the size check of tests/ui reads. A target may
# embed more than one set, each under a FUNCTION of its own (one library of two roles).
function(tender_embed_assets target)
  cmake_parse_arguments(E "" "FUNCTION" "FILES" ${ARGN})
  if(NOT E_FUNCTION OR NOT E_FILES)
    message(FATAL_ERROR "tender_embed_assets(${target}): FUNCTION and FILES are required")
  endif()
  set(files)
  foreach(f ${E_FILES})
    get_filename_component(abs ${f} ABSOLUTE)
    list(APPEND files ${abs})
  endforeach()
  # One generated source per FUNCTION: a target may embed two sets (a library of two roles).
  string(MAKE_C_IDENTIFIER "${E_FUNCTION}" function_id)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_${function_id}.cpp)
  string(REPLACE ";" "|" files_arg "${files}")
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DFUNCTION=${E_FUNCTION} -DFILES=${files_arg}
      -P ${PROJECT_SOURCE_DIR}/cmake/embed_assets.cmake
    DEPENDS ${files} ${PROJECT_SOURCE_DIR}/cmake/embed_assets.cmake
    COMMENT "Embedding the web view's assets of ${target}"
    VERBATIM)
  # The generated sources go into a small library of their own, ${target}_ui_assets, which
  # TARGET links. A library holding a generated source keeps every library that links it waiting
  # until it is built (CMake's OPTIMIZE_DEPENDENCIES); out of TARGET, the roles compile while
  # core does, and wait only for these few constants.
  set(lib ${target}_ui_assets)
  if(NOT TARGET ${lib})
    add_library(${lib} STATIC)
    target_include_directories(${lib} PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${lib} PRIVATE tender_warnings)
    target_link_libraries(${target} PRIVATE ${lib})
  endif()
  target_sources(${lib} PRIVATE ${out})
  set_property(GLOBAL APPEND PROPERTY TENDER_UI_ASSETS ${files})
endfunction()
