# Stand-in for the CMake package of a Slicer build (Slicer_DIR), for Testing/test_cmake_extension.py.
# It defines what an extension's CMakeLists.txt uses, with the signatures of Slicer's own macros
# (CMake/SlicerMacroBuildScriptedModule.cmake, CMake/SlicerMacroPythonTesting.cmake), and fails as they do
# on a file that does not exist; a folder given as a file fails here at configure (in Slicer, at build time).
set(Slicer_FOUND TRUE)
set(Slicer_VERSION_MAJOR 5)
set(Slicer_VERSION_MINOR 10)
set(Slicer_USE_PYTHONQT ON)
set(Slicer_QTSCRIPTEDMODULES_LIB_DIR "lib/Slicer-5.10/qt-scripted-modules")
set(Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR "${Slicer_QTSCRIPTEDMODULES_LIB_DIR}")
set(Slicer_LAUNCHER_EXECUTABLE "${CMAKE_CURRENT_LIST_DIR}/Slicer")
set(Slicer_PYTHON_MODULE_TEST_TEMPLATES_DIR "${CMAKE_CURRENT_LIST_DIR}/templates")
set(Slicer_ExternalData_DATA_MANAGEMENT_TARGET SlicerData)
set(Slicer_USE_FILE "${CMAKE_CURRENT_LIST_DIR}/UseSlicer.cmake")
set(Slicer_EXTENSION_GENERATE_CONFIG "${CMAKE_CURRENT_LIST_DIR}/SlicerExtensionGenerateConfig.cmake")
set(Slicer_EXTENSION_CPACK "${CMAKE_CURRENT_LIST_DIR}/SlicerExtensionCPack.cmake")
