"""PancreasMultiTask engine: pancreas and lesion segmentation with lesion subtype classification.

Pure Python (no Qt): used by the CLI, by the Slicer module and by the training package.
"""

__version__ = "0.1.0"
