"""Private numeric helpers of the modelling core; not part of the public API."""
