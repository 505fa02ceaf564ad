"""The engine: options, model folders and the model store, prediction stages, results and file checks (imports
nothing above it)."""
