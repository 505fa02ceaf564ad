"""The Slicer module's logic without Qt: background runner, MRML scene, dependencies, self-test steps."""
