# Stand-in for the build tree of the PyTorch extension (EXTENSION_DEPENDS): what its generated PyTorchConfig.cmake
# (Slicer's CMake/SlicerExtensionConfig.cmake.in) gives SlicerBlockAdditionalLauncherSettings: no extra paths.
set(PyTorch_LIBRARY_PATHS_LAUNCHER_BUILD "")
set(PyTorch_PATHS_LAUNCHER_BUILD "")
set(PyTorch_ENVVARS_LAUNCHER_BUILD "")
set(PyTorch_PYTHONPATH_LAUNCHER_BUILD "")
