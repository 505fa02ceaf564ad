# Stand-in: SlicerExecutionModel builds C++ command-line modules; a scripted module uses none of it.
set(SlicerExecutionModel_USE_FILE "${CMAKE_CURRENT_LIST_DIR}/UseSlicerExecutionModel.cmake")
