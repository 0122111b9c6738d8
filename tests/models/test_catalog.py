"""The priors catalog: the real one loads and fits the brief; every broken copy names file and field."""

from __future__ import annotations

import math
import re
import shutil
import sys
import types
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from models.catalog import Catalog, load_catalog, load_model_config
from models.config import ModelConfig
from models.exceptions import DataError, PriorConfigError

PRIORS = Path(__file__).resolve().parents[2] / "priors"
GROUPS = {"ukraine-settlement", "belarus", "european-security"}
QUESTION_IDS = [
    "ceasefire-holds-30-days-by-2027-06",
    "donbas-territorial-agreement-by-2027-12",
    "ukraine-renounces-nato-membership-by-2027-12",
    "ukraine-security-guarantees-signed-by-2027-12",
    "russia-ukraine-presidents-meet-by-2027-06",
    "belarus-releases-100-political-prisoners-by-2027-06",
    "belarus-takes-part-in-peace-talks-by-2027-12",
    "belarus-western-sanctions-relief-by-2027-06",
    "european-security-conference-convened-by-2027-12",
    "nato-russia-council-meets-by-2027-12",
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(PRIORS)


@pytest.fixture
def priors(tmp_path: Path) -> Path:
    """A copy of the real catalog, to break."""
    return Path(shutil.copytree(PRIORS, tmp_path / "priors"))


def edit(path: Path, old: str, new: str, *, after: str = "") -> None:
    """Replace the first ``old`` that follows ``after`` (which must be there, as must ``old``)."""
    text = path.read_text()
    start = text.index(after) if after else 0
    at = text.index(old, start)
    path.write_text(text[:at] + new + text[at + len(old) :])


def load_error(priors: Path) -> str:
    with pytest.raises(PriorConfigError) as info:
        load_catalog(priors)
    return str(info.value)


def line_of(path: Path, needle: str, *, after: str = "") -> int:
    text = path.read_text()
    return text[: text.index(needle, text.index(after) if after else 0)].count("\n") + 1


# --- the real catalog ----------------------------------------------------------------------


def test_real_catalog_has_the_questions_of_the_brief(catalog: Catalog) -> None:
    assert [q.id for q in catalog.questions] == QUESTION_IDS
    assert 8 <= len(catalog.questions) <= 10
    assert {q.group for q in catalog.questions} == GROUPS
    for q in catalog.questions:
        assert q.opens_at == date(2026, 11, 25)
        assert q.resolves_at in {date(2027, 6, 30), date(2027, 12, 31)}
        assert len(q.resolution_criteria) > 300, q.id
        assert "Otherwise NO" in q.resolution_criteria, q.id


def test_every_question_is_covered_by_at_least_two_experts(catalog: Catalog) -> None:
    experts: dict[str, set[str]] = {q.id: set() for q in catalog.questions}
    for e in catalog.elicitations:
        experts[e.question_id].add(e.forecaster_id)
    assert {qid: len(who) for qid, who in experts.items() if len(who) < 2} == {}
    assert len({e.forecaster_id for e in catalog.elicitations}) == 3


def test_example_experts_are_marked_illustrative(catalog: Catalog) -> None:
    files = sorted((PRIORS / "elicitations").glob("*.yaml"))
    assert [f.stem for f in files] == ["expert-a", "expert-b", "expert-c"]
    for f in files:
        assert f.read_text().startswith("illustrative: true\n"), f.name
        assert "not anyone's real views" in f.read_text(), f.name
    assert catalog.illustrative
    assert all(e.illustrative for e in catalog.elicitations)


def test_every_kind_of_statement_is_used(catalog: Catalog) -> None:
    kinds = {
        "quantiles" if e.quantiles else "confidence" if e.confidence else "probability"
        for e in catalog.elicitations
    }
    assert kinds == {"probability", "quantiles", "confidence"}


def test_elicitation_ids_are_file_stem_and_index(catalog: Catalog) -> None:
    ids = [e.id for e in catalog.elicitations]
    assert ids[:2] == ["expert-a:0", "expert-a:1"]
    assert "expert-b:0" in ids and "expert-c:5" in ids
    assert len(set(ids)) == len(ids)
    first = catalog.elicitations[0]
    assert first.created_at == datetime(2026, 11, 25, tzinfo=UTC)
    assert first.source == "elicitations/expert-a.yaml"


def test_model_yaml_equals_the_defaults(catalog: Catalog) -> None:
    loaded = load_model_config(PRIORS / "model.yaml")
    assert loaded == ModelConfig()
    assert loaded.content_hash() == ModelConfig().content_hash()
    assert catalog.model_config == ModelConfig()


def test_model_yaml_comments_every_field() -> None:
    for number, line in enumerate((PRIORS / "model.yaml").read_text().splitlines(), 1):
        if re.match(r"\s*[a-z_-]+:", line):
            assert "  # " in line, f"model.yaml line {number} has no comment: {line!r}"


# --- the hash ------------------------------------------------------------------------------


def test_catalog_hash_is_stable_and_follows_every_file(catalog: Catalog, priors: Path) -> None:
    digest = catalog.catalog_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert load_catalog(priors).catalog_hash() == digest

    edit(priors / "model.yaml", "seed: 0", "seed: 0 ")  # one byte, same meaning
    assert load_catalog(priors).catalog_hash() != digest
    edit(priors / "model.yaml", "seed: 0 ", "seed: 0")
    assert load_catalog(priors).catalog_hash() == digest

    # A renamed file renames its forecast ids, so the hash must change with the bytes unchanged.
    (priors / "elicitations" / "expert-c.yaml").rename(priors / "elicitations" / "expert-d.yaml")
    assert load_catalog(priors).catalog_hash() != digest


# --- to ForecastData -----------------------------------------------------------------------


def test_to_forecast_data_passes_the_fits_through(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wiring only, against a stand-in for models.elicitation that records its calls."""
    calls: list[tuple[str, object]] = []

    def fit_probability(probability: float, confidence: float | None = None) -> object:
        calls.append(("probability", (probability, confidence)))
        return types.SimpleNamespace(logit_mean=probability, logit_sd=confidence or 0.0)

    def fit_quantiles(quantiles: dict[float, float]) -> object:
        calls.append(("quantiles", dict(quantiles)))
        return types.SimpleNamespace(logit_mean=-0.5, logit_sd=0.25)

    fake = types.ModuleType("models.elicitation")
    fake.fit_probability = fit_probability  # type: ignore[attr-defined]
    fake.fit_quantiles = fit_quantiles  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "models.elicitation", fake)

    data = catalog.to_forecast_data()
    by_id = {f.id: f for f in data.forecasts}
    assert len(data.forecasts) == len(catalog.elicitations)
    assert (by_id["expert-a:0"].logit_center, by_id["expert-a:0"].logit_spread) == (0.18, 0.0)
    assert (by_id["expert-c:0"].logit_center, by_id["expert-c:0"].logit_spread) == (0.2, 0.6)
    assert (by_id["expert-b:0"].logit_center, by_id["expert-b:0"].logit_spread) == (-0.5, 0.25)
    assert by_id["expert-b:0"].forecaster_id == "expert-b"
    assert ("quantiles", {0.1: 0.06, 0.5: 0.15, 0.9: 0.32}) in calls
    assert ("probability", (0.2, 0.6)) in calls


def test_a_statement_that_cannot_be_fitted_names_file_and_entry(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> object:
        raise DataError("no fit")

    fake = types.ModuleType("models.elicitation")
    fake.fit_probability = refuse  # type: ignore[attr-defined]
    fake.fit_quantiles = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "models.elicitation", fake)
    with pytest.raises(PriorConfigError) as info:
        catalog.to_forecast_data()
    assert (
        str(info.value)
        == "priors/elicitations/expert-a.yaml: elicitations[0]: cannot be fitted: no fit"
    )


def test_to_forecast_data_with_the_real_fits(catalog: Catalog) -> None:
    pytest.importorskip("models.elicitation")
    data = catalog.to_forecast_data()
    assert data.question_ids == QUESTION_IDS
    assert set(data.group_ids) == GROUPS
    assert data.forecaster_ids == ["expert-a", "expert-b", "expert-c"]
    q = data.questions[0]
    assert q.group == "ukraine-settlement" and q.title.startswith("Will a general")
    assert q.opens_at == datetime(2026, 11, 25, tzinfo=UTC)
    assert q.resolves_at == datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)
    for e, f in zip(catalog.elicitations, data.forecasts, strict=True):
        assert (f.id, f.question_id, f.created_at) == (e.id, e.question_id, e.created_at)
        if e.probability is not None:  # the median is the stated probability
            assert f.logit_center == pytest.approx(math.log(e.probability / (1 - e.probability)))
        assert (f.logit_spread == 0.0) == (e.quantiles is None and e.confidence is None)


def test_to_forecast_data_clips_centres_to_eps(priors: Path) -> None:
    pytest.importorskip("models.elicitation")
    edit(priors / "elicitations" / "expert-a.yaml", "probability: 0.18", "probability: 0.001")
    catalog = load_catalog(priors)
    assert catalog.to_forecast_data().forecasts[0].logit_center == pytest.approx(
        math.log(0.01 / 0.99)
    )
    assert catalog.to_forecast_data(eps=0.0001).forecasts[0].logit_center == pytest.approx(
        math.log(0.001 / 0.999)
    )


# --- broken copies -------------------------------------------------------------------------

Q = "questions.yaml"
A = "elicitations/expert-a.yaml"
B = "elicitations/expert-b.yaml"
C = "elicitations/expert-c.yaml"
M = "model.yaml"

BROKEN = {
    # name: (file, after, old, new, expected part of the message)
    "resolves-before-opens": (
        Q,
        "id: ukraine-security-guarantees",
        "resolves_at: 2027-12-31",
        "resolves_at: 2026-11-01",
        "priors/questions.yaml: questions[3].resolves_at: must be after opens_at (2026-11-25)",
    ),
    "resolves-on-the-opening-day": (
        Q,
        "",
        "resolves_at: 2027-06-30",
        "resolves_at: 2026-11-25",
        "priors/questions.yaml: questions[0].resolves_at: must be after opens_at (2026-11-25)",
    ),
    "date-with-a-time": (
        Q,
        "",
        "opens_at: 2026-11-25",
        "opens_at: 2026-11-25T10:00:00",
        "priors/questions.yaml: questions[0].opens_at: must be a date (YYYY-MM-DD) without a time",
    ),
    "date-as-a-number": (
        Q,
        "",
        "resolves_at: 2027-06-30",
        "resolves_at: 2027",
        "priors/questions.yaml: questions[0].resolves_at: must be a date (YYYY-MM-DD), got 2027",
    ),
    "duplicate-question-id": (
        Q,
        "",
        "id: nato-russia-council-meets-by-2027-12",
        "id: ceasefire-holds-30-days-by-2027-06",
        "priors/questions.yaml: questions[9].id: 'ceasefire-holds-30-days-by-2027-06' is "
        "already the id of questions[0]",
    ),
    "unknown-question-field": (
        Q,
        "",
        "group: ukraine-settlement\n",
        "group: ukraine-settlement\n    grop: belarus\n",
        "priors/questions.yaml: questions[0].grop: unknown field (allowed: id, title, "
        "resolution_criteria, opens_at, resolves_at, group)",
    ),
    "empty-group": (
        Q,
        "",
        "group: belarus",
        "group: ''",
        "priors/questions.yaml: questions[5].group: must be a non-empty slug",
    ),
    "missing-group": (
        Q,
        "id: european-security-conference",
        "    group: european-security\n",
        "",
        "priors/questions.yaml: questions[8].group: required field is missing",
    ),
    "blank-title": (
        Q,
        "",
        "title: Will a general Russia–Ukraine ceasefire have held for 30 days by 30 June 2027?",
        "title: '  '",
        "priors/questions.yaml: questions[0].title: String should have at least 1 character",
    ),
    "missing-illustrative": (
        B,
        "",
        "illustrative: true\n",
        "",
        "priors/elicitations/expert-b.yaml: illustrative: required field is missing",
    ),
    "illustrative-not-a-boolean": (
        B,
        "",
        "illustrative: true",
        "illustrative: 'true'",
        "priors/elicitations/expert-b.yaml: illustrative: Input should be a valid boolean",
    ),
    "unknown-question-id": (
        C,
        "",
        "question_id: nato-russia-council-meets-by-2027-12",
        "question_id: nato-russia-council-meet",
        "priors/elicitations/expert-c.yaml: elicitations[5].question_id: unknown question "
        "'nato-russia-council-meet' (not in priors/questions.yaml)",
    ),
    "twice-the-same-question-and-time": (
        A,
        "",
        "question_id: donbas-territorial-agreement-by-2027-12",
        "question_id: ceasefire-holds-30-days-by-2027-06",
        "priors/elicitations/expert-a.yaml: elicitations[1].question_id: "
        "'ceasefire-holds-30-days-by-2027-06' was already elicited at the same created_at "
        "in elicitations[0]",
    ),
    "unknown-elicitation-field": (
        A,
        "",
        "probability: 0.18",
        "probabilty: 0.18",
        "priors/elicitations/expert-a.yaml: elicitations[0].probabilty: unknown field (allowed: "
        "question_id, created_at, probability, quantiles, confidence)",
    ),
    "unknown-top-level-field": (
        A,
        "",
        "forecaster_id: expert-a",
        "forecaster_id: expert-a\nforecaster: x",
        "priors/elicitations/expert-a.yaml: forecaster: unknown field",
    ),
    "probability-above-one": (
        A,
        "",
        "probability: 0.15",
        "probability: 1.5",
        "priors/elicitations/expert-a.yaml: elicitations[1].probability: must be strictly "
        "between 0 and 1, got 1.5",
    ),
    "probability-zero": (
        A,
        "",
        "probability: 0.15",
        "probability: 0",
        "priors/elicitations/expert-a.yaml: elicitations[1].probability: must be strictly "
        "between 0 and 1, got 0",
    ),
    "probability-quoted": (
        A,
        "",
        "probability: 0.15",
        "probability: '0.15'",
        "priors/elicitations/expert-a.yaml: elicitations[1].probability: Input should be a "
        "valid number (got '0.15')",
    ),
    "probability-and-quantiles": (
        B,
        "",
        'quantiles: {"0.1": 0.05,',
        'probability: 0.1\n    quantiles: {"0.1": 0.05,',
        "priors/elicitations/expert-b.yaml: elicitations[1].quantiles: give either probability "
        "or quantiles, not both",
    ),
    "neither-probability-nor-quantiles": (
        A,
        "",
        "    probability: 0.06\n",
        "",
        "priors/elicitations/expert-a.yaml: elicitations[2]: needs a probability or quantiles",
    ),
    "quantiles-not-increasing": (
        B,
        "",
        '"0.9": 0.32',
        '"0.9": 0.12',
        "priors/elicitations/expert-b.yaml: elicitations[0].quantiles: must increase strictly "
        "with level: 0.5 -> 0.15 but 0.9 -> 0.12",
    ),
    "quantile-level-not-allowed": (
        B,
        "",
        '"0.1": 0.05',
        '"0.2": 0.05',
        "priors/elicitations/expert-b.yaml: elicitations[1].quantiles: level '0.2' is not allowed",
    ),
    "too-few-quantiles": (
        B,
        "",
        '"0.1": 0.05, ',
        "",
        "priors/elicitations/expert-b.yaml: elicitations[1].quantiles: need at least 3 "
        "quantiles, got 2",
    ),
    "quantile-value-out-of-range": (
        B,
        "",
        '"0.9": 0.28',
        '"0.9": 1.0',
        'priors/elicitations/expert-b.yaml: elicitations[1].quantiles["0.9"]: must be strictly '
        "between 0 and 1, got 1.0",
    ),
    "confidence-without-probability": (
        B,
        "",
        '"0.9": 0.28}',
        '"0.9": 0.28}\n    confidence: 0.6',
        "priors/elicitations/expert-b.yaml: elicitations[1].confidence: goes with a probability",
    ),
    "confidence-one": (
        C,
        "",
        "confidence: 0.7",
        "confidence: 1.0",
        "priors/elicitations/expert-c.yaml: elicitations[1].confidence: must be strictly "
        "between 0 and 1, got 1.0",
    ),
    "bad-created-at": (
        C,
        "",
        "created_at: 2026-11-25",
        "created_at: yesterday",
        "priors/elicitations/expert-c.yaml: elicitations[0].created_at: must be a date",
    ),
    "no-elicitations": (
        C,
        "",
        "elicitations:",
        "elicitations: []\nrest:",
        "priors/elicitations/expert-c.yaml: elicitations: List should have at least 1 item",
    ),
    "same-forecaster-in-two-files": (
        C,
        "",
        "forecaster_id: expert-c",
        "forecaster_id: expert-a",
        "priors/elicitations/expert-c.yaml: forecaster_id: 'expert-a' is also the forecaster "
        "of priors/elicitations/expert-a.yaml",
    ),
    "model-unknown-field": (
        M,
        "",
        "chains: 4",
        "chainz: 4",
        "priors/model.yaml: sampler.chainz: unknown field (allowed: chains, tune, draws, seed, "
        "target_accept, retries, large_data_forecasts, large_data_target_accept, "
        "large_data_tune, large_data_draws)",
    ),
    "model-bad-value": (
        M,
        "",
        "target_accept: 0.95",
        "target_accept: 1.5",
        "priors/model.yaml: sampler.target_accept: Input should be less than 1 (got 1.5)",
    ),
    "model-reliability-class": (
        M,
        "",
        "    rumour:",
        "    gossip:",
        "priors/model.yaml: evidence: weights must name exactly official-statement",
    ),
    "model-without-schema-version": (
        M,
        "",
        "schema_version: 1  # format of this file; models.config.SCHEMA_VERSION\n",
        "",
        "priors/model.yaml: schema_version: required field is missing",
    ),
    "model-other-schema-version": (
        M,
        "",
        "schema_version: 1",
        "schema_version: 2",
        "priors/model.yaml: schema_version: Input should be 1",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_a_broken_copy_names_the_file_and_the_field(priors: Path, case: str) -> None:
    rel, after, old, new, expected = BROKEN[case]
    edit(priors / rel, old, new, after=after)
    assert expected in load_error(priors)


def test_a_field_error_gives_the_line(priors: Path) -> None:
    path = priors / Q
    edit(path, "resolves_at: 2027-12-31", "resolves_at: 2026-11-01", after="id: ukraine-security")
    line = line_of(path, "resolves_at: 2026-11-01")
    assert load_error(priors) == (
        "priors/questions.yaml: questions[3].resolves_at: must be after opens_at (2026-11-25)"
        f" (line {line})"
    )


def test_every_problem_is_reported_at_once(priors: Path) -> None:
    edit(priors / Q, "group: belarus", "group: ''")
    edit(priors / B, "illustrative: true\n", "")
    edit(priors / M, "chains: 4", "chains: 0")
    lines = load_error(priors).splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [
        "priors/questions.yaml",
        "priors/model.yaml",
        "priors/elicitations/expert-b.yaml",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("questions:\n  - id: a\n    title: b: c\n", "line 3, column 13: YAML syntax error"),
        ("questions: [\n", "line 2, column 1: YAML syntax error"),
        (
            "questions:\n  - id: a\n    id: b\n",
            "line 3, column 5: YAML syntax error: key 'id' is given twice (first on line 2)",
        ),
        ("", "the file is empty"),
        ("- id: a\n", "line 1: the file must be a mapping of fields, got a list"),
    ],
    ids=["mapping-in-scalar", "unclosed-list", "duplicate-key", "empty", "not-a-mapping"],
)
def test_a_file_that_is_not_valid_yaml_names_the_file_and_line(
    priors: Path, text: str, expected: str
) -> None:
    (priors / Q).write_text(text)
    assert f"priors/questions.yaml: {expected}" in load_error(priors)


def test_a_missing_file_is_named(priors: Path) -> None:
    (priors / M).unlink()
    assert load_error(priors) == "priors/model.yaml: file not found"


def test_a_yml_file_is_refused_rather_than_ignored(priors: Path) -> None:
    shutil.copy(priors / A, priors / "elicitations" / "expert-e.yml")
    assert "priors/elicitations/expert-e.yml: not a .yaml file" in load_error(priors)


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(PriorConfigError, match="the priors directory does not exist"):
        load_catalog(tmp_path / "nowhere")


def test_load_model_config_names_its_file(priors: Path) -> None:
    edit(priors / M, "draws: 1000", "draws: 10")
    with pytest.raises(PriorConfigError) as info:
        load_model_config(priors / M)
    assert str(info.value).startswith("priors/model.yaml: sampler.draws: Input should be greater")


def test_created_at_may_carry_a_time(priors: Path) -> None:
    edit(priors / A, "created_at: 2026-11-25", "created_at: 2026-11-25T10:30:00+02:00")
    first = load_catalog(priors).elicitations[0]
    assert first.created_at == datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
