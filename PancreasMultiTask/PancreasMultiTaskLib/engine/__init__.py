"""The engine: model folders, options, prediction stages, results and file checks (imports nothing above it)."""
