# Same signature and checks as Slicer's slicerMacroBuildScriptedModule; scripts and resources are copied into
# the build tree at build time and the build tree's module folder is installed, as CTK's
# ctkMacroCompilePythonScript does.
macro(slicerMacroBuildScriptedModule)
  set(options WITH_GENERIC_TESTS WITH_SUBDIR VERBOSE)
  set(oneValueArgs NAME)
  set(multiValueArgs SCRIPTS RESOURCES)
  cmake_parse_arguments(MY_SLICER "${options}" "${oneValueArgs}" "${multiValueArgs}" ${ARGN})
  if(MY_SLICER_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "Unknown keywords given to slicerMacroBuildScriptedModule(): \"${MY_SLICER_UNPARSED_ARGUMENTS}\"")
  endif()
  if(NOT DEFINED MY_SLICER_NAME)
    message(FATAL_ERROR "NAME is mandatory")
  endif()
  foreach(var SCRIPTS RESOURCES)
    foreach(value ${MY_SLICER_${var}})
      if(IS_ABSOLUTE ${value})
        set(value_absolute ${value})
      else()
        set(value_absolute ${CMAKE_CURRENT_SOURCE_DIR}/${value})
      endif()
      if(NOT EXISTS ${value_absolute} AND NOT EXISTS ${value_absolute}.py)
        message(FATAL_ERROR "slicerMacroBuildScriptedModule(${var}) given nonexistent file or directory '${value}'")
      endif()
      if(IS_DIRECTORY ${value_absolute})
        message(FATAL_ERROR "slicerMacroBuildScriptedModule(${var}) given directory '${value}': list its files")
      endif()
    endforeach()
  endforeach()
  set(_destination ${CMAKE_BINARY_DIR}/${Slicer_QTSCRIPTEDMODULES_LIB_DIR})
  set(_copied)
  foreach(file ${MY_SLICER_SCRIPTS} ${MY_SLICER_RESOURCES})
    get_filename_component(_ext ${file} EXT)
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${file} AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${file}.py)
      set(file ${file}.py)
    endif()
    add_custom_command(DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${file}
      COMMAND ${CMAKE_COMMAND} -E copy ${CMAKE_CURRENT_SOURCE_DIR}/${file} ${_destination}/${file}
      OUTPUT ${_destination}/${file}
      COMMENT "Copying python file: ${file}")
    list(APPEND _copied ${_destination}/${file})
  endforeach()
  add_custom_target(Copy${MY_SLICER_NAME}PythonFiles ALL DEPENDS ${_copied})
  install(DIRECTORY "${_destination}/" DESTINATION "${Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR}"
    COMPONENT RuntimeLibraries USE_SOURCE_PERMISSIONS)
  if(BUILD_TESTING AND MY_SLICER_WITH_GENERIC_TESTS)
    set(MODULENAME ${MY_SLICER_NAME})
    configure_file(${Slicer_PYTHON_MODULE_TEST_TEMPLATES_DIR}/qSlicerModuleGenericTest.py.in
      ${CMAKE_CURRENT_BINARY_DIR}/qSlicer${MY_SLICER_NAME}ModuleGenericTest.py @ONLY)
    slicer_add_python_unittest(SCRIPT qSlicer${MY_SLICER_NAME}ModuleGenericTest.py
      SLICER_ARGS --no-main-window --disable-cli-modules
      TESTNAME_PREFIX nomainwindow_)
  endif()
endmacro()
