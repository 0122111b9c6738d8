"""Helsinki's modelling core: pure PyMC / ArviZ / xarray, no HTTP and no SQL."""

MODEL_VERSION = "1.0.0"
