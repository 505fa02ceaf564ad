# Stand-in: the use file of SlicerExecutionModel (GenerateCLP for C++ command-line modules); nothing to use.
