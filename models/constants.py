"""Names and defaults shared across the modelling core (one place, as CausalPy does)."""

#: Probability mass of every interval Helsinki publishes.
INTERVAL_PROB = 0.9

#: Dimension names used in posteriors.
QUESTION_DIM = "question"
FORECASTER_DIM = "forecaster"
GROUP_DIM = "group"
RELIABILITY_DIM = "reliability"
OBS_DIM = "forecast"

#: Reliability classes of evidence, most to least trustworthy.
RELIABILITY_CLASSES = ("official-statement", "verified-report", "media-report", "rumour")

#: Above this Pareto k-hat an importance-sampling update is not trusted; only a refit will do.
KHAT_THRESHOLD = 0.7

#: Publishability thresholds of a fit.
MAX_RHAT = 1.01
MIN_ESS_BULK = 400

#: Probabilities are clipped to [PROB_EPS, 1 - PROB_EPS] before taking log-odds (0 and 1 occur).
PROB_EPS = 0.01
