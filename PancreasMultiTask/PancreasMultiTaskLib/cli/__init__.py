"""``pancreas-mt``: the command line over the engine (predict, demo, models), previews and ``summary.csv``."""
