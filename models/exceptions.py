"""Errors raised by the modelling core. The service maps each to an HTTP status."""


class HelsinkiModelError(Exception):
    """Base of every error the modelling core raises on purpose."""


class DataError(HelsinkiModelError, ValueError):
    """Input data is malformed or inconsistent (bad probability, unknown question, ...)."""


class PriorConfigError(HelsinkiModelError, ValueError):
    """The priors catalog or model configuration is invalid; the message names file and field."""


class NotFittedError(HelsinkiModelError, RuntimeError):
    """An operation needs a fitted posterior and there is none."""


class DifferentModelError(HelsinkiModelError, ValueError):
    """A saved posterior was produced by a different model, priors or data than expected."""
