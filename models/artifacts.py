"""Save and load posteriors as self-describing NetCDF files.

A saved posterior carries, in its root attributes: the model type and version, the hash
of the model config, the hash of the input data, a combined model hash, the sampler
settings, the diagnostics, and the inputs themselves (JSON), so that it can be reloaded
and asked for predictions without anything else. Loading with an expected config or data
refuses a mismatch with :class:`~models.exceptions.DifferentModelError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import xarray as xr

from models import MODEL_VERSION
from models.config import ModelConfig, SamplerSettings
from models.constants import QUESTION_DIM
from models.dataset import (
    Evidence,
    EvidenceEffect,
    Forecast,
    ForecastData,
    Question,
    Resolution,
)
from models.exceptions import DifferentModelError
from models.forecast_model import MODEL_TYPE, Diagnostics, Posterior, flatten_draws

#: Version of the on-disk layout; bump it when the layout changes (and keep a golden file).
ARTIFACT_FORMAT = 1


def model_hash(config: ModelConfig, data: ForecastData) -> str:
    """Identity of a fit: model type and version, config and data."""
    parts = [MODEL_TYPE, MODEL_VERSION, config.content_hash(), data.content_hash()]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def data_to_json(data: ForecastData) -> str:
    def enc(o: object) -> object:
        if isinstance(o, datetime):
            return o.isoformat()
        raise TypeError(type(o))

    payload = {
        "questions": [dataclasses.asdict(q) for q in data.questions],
        "forecasts": [dataclasses.asdict(f) for f in data.forecasts],
        "evidence": [dataclasses.asdict(e) for e in data.evidence],
        "resolutions": [dataclasses.asdict(r) for r in data.resolutions],
    }
    return json.dumps(payload, default=enc, separators=(",", ":"))


def data_from_json(text: str) -> ForecastData:
    raw = json.loads(text)
    return ForecastData(
        questions=tuple(
            Question(**{**q, "opens_at": _dt(q["opens_at"]), "resolves_at": _dt(q["resolves_at"])})
            for q in raw["questions"]
        ),
        forecasts=tuple(
            Forecast(**{**f, "created_at": _dt(f["created_at"])}) for f in raw["forecasts"]
        ),
        evidence=tuple(
            Evidence(
                id=e["id"],
                observed_at=_dt(e["observed_at"]),  # type: ignore[arg-type]
                reliability=e["reliability"],
                effects=tuple(EvidenceEffect(**x) for x in e["effects"]),
                title=e.get("title", ""),
            )
            for e in raw["evidence"]
        ),
        resolutions=tuple(
            Resolution(**{**r, "resolved_at": _dt(r["resolved_at"])}) for r in raw["resolutions"]
        ),
    )


def with_probability(posterior: Posterior) -> xr.DataTree:
    """The fit's DataTree with ``posterior/probability``: draws of P(yes) per question at fit
    time (after all evidence in the inputs), the number the API serves as the fit's forecast.

    Derived (from ``theta``, ``w`` and the evidence), so loading ignores it; it is there for
    analysts who open the file with ArviZ.
    """
    tree = posterior.posterior.copy()
    post = tree["posterior"].to_dataset()
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    probs = posterior.probability_draws().reshape(chains, draws, len(posterior.question_ids))
    post["probability"] = xr.DataArray(
        probs,
        dims=("chain", "draw", QUESTION_DIM),
        coords={QUESTION_DIM: posterior.question_ids},
        attrs={"long_name": "P(yes) at fit time, after all evidence in the fit's inputs"},
    )
    tree["posterior"] = xr.DataTree(post)
    return tree


def save(posterior: Posterior, path: str | Path) -> Path:
    """Write a fitted posterior to ``path`` (NetCDF, opens with ``arviz``).

    Parameters
    ----------
    posterior : Posterior
        A fit (instant updates are not saved: they are derived from a fit and its inputs).
    path : str or Path

    Returns
    -------
    Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = with_probability(posterior)
    tree.attrs = {
        **{k: v for k, v in tree.attrs.items() if isinstance(v, str | int | float)},
        "model_type": MODEL_TYPE,
        "model_version": MODEL_VERSION,
        "artifact_format": ARTIFACT_FORMAT,
        "model_hash": model_hash(posterior.config, posterior.data),
        "config_hash": posterior.config.content_hash(),
        "data_hash": posterior.data.content_hash(),
        "config": posterior.config.model_dump_json(),
        "sampler": (posterior.sampler or posterior.config.sampler).model_dump_json(),
        "inputs": data_to_json(posterior.data),
        "fit_id": posterior.fit_id,
        "created_at": posterior.created_at.isoformat(),
        "diagnostics": json.dumps(posterior.diagnostics.to_dict()),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    tree.to_netcdf(tmp, engine="h5netcdf")
    tmp.replace(path)
    return path


def load(
    path: str | Path,
    *,
    config: ModelConfig | None = None,
    data: ForecastData | None = None,
) -> Posterior:
    """Read a posterior written by :func:`save`.

    Parameters
    ----------
    path : str or Path
    config, data : optional
        What the caller expects the posterior to come from. A mismatch in model type,
        version, config or data raises :class:`DifferentModelError`.

    Returns
    -------
    Posterior
    """
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    attrs: dict[str, Any] = {str(k): v for k, v in tree.attrs.items()}
    if attrs.get("model_type") != MODEL_TYPE:
        raise DifferentModelError(
            f"{path}: model type {attrs.get('model_type')!r}, expected {MODEL_TYPE!r}"
        )
    if attrs.get("model_version") != MODEL_VERSION:
        raise DifferentModelError(
            f"{path}: saved by model version {attrs.get('model_version')!r}, this is "
            f"{MODEL_VERSION!r}; refit to get a posterior of the current model"
        )
    saved_config = ModelConfig.model_validate_json(attrs["config"])
    saved_data = data_from_json(attrs["inputs"])
    if config is not None and config.content_hash() != attrs["config_hash"]:
        raise DifferentModelError(
            f"{path}: fitted with a different model config (priors or sampler settings)"
        )
    if data is not None and data.content_hash() != attrs["data_hash"]:
        raise DifferentModelError(f"{path}: fitted on different data than expected")
    if saved_data.content_hash() != attrs["data_hash"]:
        raise DifferentModelError(f"{path}: stored inputs do not match their hash (corrupt?)")
    post = tree["posterior"]
    diag = json.loads(attrs["diagnostics"])
    diag["reasons"] = tuple(diag["reasons"])
    return Posterior(
        fit_id=attrs["fit_id"],
        created_at=datetime.fromisoformat(attrs["created_at"]),
        config=saved_config,
        data=saved_data,
        question_ids=[str(q) for q in post["question"].to_numpy()],
        forecaster_ids=[str(f) for f in post["forecaster"].to_numpy()],
        group_ids=[str(g) for g in post["group"].to_numpy()],
        posterior=tree,
        diagnostics=Diagnostics(**diag),
        draws=flatten_draws(tree),
        sampler=SamplerSettings.model_validate_json(attrs["sampler"]),
    )
