# Stand-in: PythonQt's build tree (C++ wrapping); a scripted module only needs Slicer_USE_PYTHONQT.
