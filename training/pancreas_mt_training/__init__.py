"""Training, evaluation and export for PancreasMultiTask on nnU-Net v2."""
