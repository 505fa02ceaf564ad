# Stand-in for the SlicerConfig.cmake of a Slicer 5.10 build tree (Slicer's CMake/SlicerConfig.cmake.in, configured
# by its build): the same variables with the values a Linux build of Slicer 5.10.0 (commit 66f3d122) gives them, and
# the macro files of Slicer, CTK, vtkAddon and the CTK application launcher vendored beside this folder, unchanged.
# What a real build tree has and this one fakes: the build-tree variables below, an empty package for each external
# project UseSlicer.cmake looks up (SlicerExecutionModel, PythonQt; none is used by a scripted module), the CTK
# package reduced to the one CTK function a scripted module's build uses, the PyTorch extension's build tree, and
# two executables (the Slicer launcher and CTKAppLauncher) as shell scripts. See ../README.md.
cmake_minimum_required(VERSION 3.20.6...3.22.6 FATAL_ERROR)

get_filename_component(_vendored "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(_build_tree "${CMAKE_CURRENT_LIST_DIR}")

set(Slicer_DONT_USE_EXTENSION FALSE)
set(Slicer_CMAKE_DIR "${_vendored}/Slicer/CMake")
set(Slicer_EXTENSIONS_CMAKE_DIR "${_vendored}/Slicer/Extensions/CMake")
set(vtkAddon_CMAKE_DIR "${_vendored}/vtkAddon/CMake")
set(CTK_CMAKE_DIR "${_vendored}/CTK/CMake")
set(CMAKE_MODULE_PATH ${Slicer_CMAKE_DIR} ${Slicer_EXTENSIONS_CMAKE_DIR} ${vtkAddon_CMAKE_DIR} ${CTK_CMAKE_DIR}
  ${CMAKE_MODULE_PATH})

set(Slicer_VERSION_MAJOR "5")
set(Slicer_VERSION_MINOR "10")
set(Slicer_VERSION_PATCH "0")
set(Slicer_USE_PYTHONQT "ON")
set(Slicer_USE_CTKAPPLAUNCHER "ON")
set(Slicer_BUILD_CLI_SUPPORT ON)
set(Slicer_BUILD_QTSCRIPTEDMODULES "ON")
set(Slicer_BUILD_SHARED "ON")
set(Slicer_REVISION "30209")
set(Slicer_WC_REVISION "66f3d12281dec5af0984c366fa01a17ebcf395cb")
set(Slicer_WC_REVISION_HASH "66f3d122")
set(Slicer_WC_URL "https://github.com/Slicer/Slicer.git")
set(Slicer_WC_ROOT "https://github.com/Slicer/Slicer.git")
set(Slicer_OS "linux")
set(Slicer_ARCHITECTURE "amd64")
set(Slicer_MAIN_PROJECT "SlicerApp")
set(Slicer_MAIN_PROJECT_APPLICATION_NAME "Slicer")
set(Slicer_ORGANIZATION_NAME "slicer.org")
set(Slicer_LICENSE_FILE "${_vendored}/Slicer/License.txt")
set(Slicer_README_FILE "${_vendored}/README.md")
set(Slicer_LAUNCHER_EXECUTABLE "${_build_tree}/bin/Slicer")
set(Slicer_LAUNCH_COMMAND "${Slicer_LAUNCHER_EXECUTABLE};--launch")
set(SEM_LAUNCH_COMMAND "${Slicer_LAUNCH_COMMAND}")
set(Slicer_PYTHON_MODULE_TEST_TEMPLATES_DIR "${_vendored}/Slicer/Base/QTCore/Testing/Python")
set(Slicer_EXTENSION_GENERATE_CONFIG "${Slicer_CMAKE_DIR}/SlicerExtensionGenerateConfig.cmake")
set(Slicer_EXTENSION_CPACK "${Slicer_CMAKE_DIR}/SlicerExtensionCPack.cmake")
set(Slicer_EXTENSION_CPACK_BUNDLE_FIXUP "${Slicer_CMAKE_DIR}/SlicerExtensionCPackBundleFixup.cmake.in")
set(Slicer_EXTENSIONS_DIRBASENAME "Extensions")
set(Slicer_USE_FILE "${Slicer_CMAKE_DIR}/UseSlicer.cmake.in")  # Slicer's build copies it as is (COPYONLY)
set(Slicer_HOME "${_build_tree}")
set(Slicer_BINARY_DIR "${_build_tree}")

set(Slicer_BIN_DIR "bin")
set(Slicer_LIB_DIR "lib/Slicer-5.10")
set(Slicer_INCLUDE_DIR "include/Slicer-5.10")
set(Slicer_SHARE_DIR "share/Slicer-5.10")
foreach(_kind CLIMODULES QTLOADABLEMODULES QTSCRIPTEDMODULES)
  string(TOLOWER "${_kind}" _lower)
  string(REPLACE "climodules" "cli-modules" _subdir "${_lower}")
  string(REPLACE "qtloadablemodules" "qt-loadable-modules" _subdir "${_subdir}")
  string(REPLACE "qtscriptedmodules" "qt-scripted-modules" _subdir "${_subdir}")
  set(Slicer_${_kind}_SUBDIR "${_subdir}")
  set(Slicer_${_kind}_BIN_DIR "${Slicer_LIB_DIR}/${_subdir}")
  set(Slicer_${_kind}_LIB_DIR "${Slicer_LIB_DIR}/${_subdir}")
  set(Slicer_${_kind}_INCLUDE_DIR "${Slicer_INCLUDE_DIR}/${_subdir}")
  set(Slicer_${_kind}_SHARE_DIR "${Slicer_SHARE_DIR}/${_subdir}")
endforeach()
set(Slicer_QTLOADABLEMODULES_PYTHON_LIB_DIR "${Slicer_LIB_DIR}/qt-loadable-modules/Python")
set(Slicer_THIRDPARTY_BIN_DIR "${Slicer_BIN_DIR}")
set(Slicer_THIRDPARTY_LIB_DIR "${Slicer_LIB_DIR}")
set(Slicer_THIRDPARTY_SHARE_DIR "${Slicer_SHARE_DIR}")
set(Slicer_INSTALL_ROOT "./")
set(Slicer_REQUIRED_PYTHON_VERSION "3.12.10")
set(Slicer_REQUIRED_PYTHON_VERSION_DOT "3.12")
set(Slicer_ExternalData_DATA_MANAGEMENT_TARGET "SlicerData")
set(Slicer_EXTERNAL_PROJECTS "")
set(Slicer_CMAKE_SIZEOF_VOID_P "${CMAKE_SIZEOF_VOID_P}")
# A Slicer build's C/C++ flags come with its ITK and compilers; a scripted module compiles nothing.
set(Slicer_SKIP_SET_CMAKE_C_CXX_FLAGS TRUE)

# Slicer's Python: the interpreter that byte-compiles the module's scripts (here the one running the build).
find_program(PYTHON_EXECUTABLE NAMES python3 python REQUIRED)
set(PYTHON_INCLUDE_DIR "${_build_tree}/python-include" CACHE PATH "Slicer's Python headers (none: nothing is compiled)")
set(PYTHON_LIBRARY "${_build_tree}/python-lib/libpython3.12.so" CACHE FILEPATH "Slicer's Python library (not linked)")

# External projects of a Slicer build, found through their build trees.
set(SlicerExecutionModel_DIR "${_build_tree}/SlicerExecutionModel" CACHE PATH "")
set(PythonQt_DIR "${_build_tree}/PythonQt" CACHE PATH "")
set(PyTorch_DIR "${_build_tree}/PyTorch" CACHE PATH "The PyTorch extension's build tree")
# CTKConfig.cmake loads 24 CTK macro files and CTK's C++ targets; the scripted-module build calls one of them.
include("${CTK_CMAKE_DIR}/ctkFunctionExtractOptimizedLibrary.cmake")

# The CTK application launcher's build tree, with its package file configured as the launcher's own build does.
set(_launcher "${CMAKE_BINARY_DIR}/CTKAppLauncher-build")
file(COPY "${_vendored}/AppLauncher/CMake/ctkAppLauncher.cmake" "${_vendored}/AppLauncher/CMake/ctkAppLauncher-configure.cmake"
  DESTINATION "${_launcher}/CMake")
file(COPY "${_vendored}/AppLauncher/CTKAppLauncherSettings.ini.in" "${_build_tree}/bin/CTKAppLauncher"
  DESTINATION "${_launcher}/bin")
set(CTK_INSTALL_BIN_DIR "bin")
set(CTK_INSTALL_CMAKE_DIR "CMake")
set(BIN_DIR_CONFIG "${_launcher}/bin")
set(CMAKE_DIR_CONFIG "${_launcher}/CMake")
set(CONFIG_DIR_CONFIG "${_launcher}")
set(SETTINGS_TEMPLATE_CONFIG "${_launcher}/bin/CTKAppLauncherSettings.ini.in")
set(CTKAppLauncher_CONFIG_CODE "")
include(CMakePackageConfigHelpers)
configure_package_config_file("${_vendored}/AppLauncher/CMake/CTKAppLauncherConfig.cmake.in"
  "${_launcher}/CTKAppLauncherConfig.cmake" INSTALL_DESTINATION "${_launcher}"
  PATH_VARS BIN_DIR_CONFIG CMAKE_DIR_CONFIG CONFIG_DIR_CONFIG SETTINGS_TEMPLATE_CONFIG NO_CHECK_REQUIRED_COMPONENTS_MACRO)
set(CTKAppLauncher_DIR "${_launcher}" CACHE PATH "" FORCE)
