
set(Slicer_OS_LINUX_NAME "linux")
set(Slicer_OS_MAC_NAME "macosx")
set(Slicer_OS_WIN_NAME "win")
