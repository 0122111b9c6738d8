"""The priors catalog: questions, expert elicitations and model settings, read from ``priors/``.

The catalog is data, not code::

    priors/questions.yaml          the questions (id, title, resolution criteria, dates, group)
    priors/elicitations/*.yaml     one file per forecaster: probabilities or quantiles
    priors/model.yaml              hyperpriors and sampler settings (:class:`ModelConfig`)

Every file is validated on load against a pydantic schema that refuses unknown fields. Every
problem raises :class:`~models.exceptions.PriorConfigError` whose message names the file and
the field, e.g. ``priors/questions.yaml: questions[3].resolves_at: must be after opens_at
(2026-11-25) (line 48)``; all problems found are reported together, one per line.
"""

from __future__ import annotations

import hashlib
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from models.config import SCHEMA_VERSION, ModelConfig
from models.dataset import Forecast, ForecastData, Question, as_utc
from models.exceptions import PriorConfigError

QUESTIONS_FILE = "questions.yaml"
ELICITATIONS_DIR = "elicitations"
MODEL_FILE = "model.yaml"

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
#: The type of our own validation errors: their text already says what was given.
_OWN_ERROR = "prior_invalid"
#: A location inside a file, as pydantic gives it: ("questions", 3, "resolves_at").
Loc = tuple[int | str, ...]


# --- field types -------------------------------------------------------------------------


def _invalid(detail: str) -> PydanticCustomError:
    # Pydantic formats a template's {fields} itself; pass the finished text as one field.
    return PydanticCustomError(_OWN_ERROR, "{detail}", {"detail": detail})


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise _invalid(
            f"must be a non-empty slug of lowercase letters, digits and hyphens, got {value!r}"
        )
    return value


def _calendar_date(value: object) -> object:
    # A YAML date arrives as ``date``; a quoted one as ``str``. An int would otherwise be taken
    # by pydantic as a Unix timestamp, and a datetime silently lose its time.
    if isinstance(value, datetime):
        raise _invalid(f"must be a date (YYYY-MM-DD) without a time, got {value.isoformat()}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _invalid(f"must be a date (YYYY-MM-DD), got {value!r}")


def _timestamp(value: object) -> object:
    """A date (midnight UTC) or a datetime (naive taken as UTC), as an aware UTC datetime."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    raise _invalid(
        f"must be a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM:SSZ), got {value!r}"
    )


def _open_unit(value: float) -> float:
    if not 0.0 < value < 1.0:  # NaN fails too
        raise _invalid(f"must be strictly between 0 and 1, got {value!r}")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
Text = Annotated[str, Field(min_length=1)]
CalendarDate = Annotated[date, BeforeValidator(_calendar_date)]
Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]
#: Strict: a quoted "0.2" or a YAML ``yes`` is refused rather than converted.
OpenUnit = Annotated[float, Field(strict=True), AfterValidator(_open_unit)]


# --- schemas of the files ----------------------------------------------------------------


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CatalogQuestion(_Schema):
    """One entry of ``questions.yaml``: a binary question and how it resolves.

    ``opens_at`` and ``resolves_at`` are UTC calendar dates; the question resolves on
    ``resolves_at`` inclusive.
    """

    id: Slug
    title: Text
    resolution_criteria: Text
    opens_at: CalendarDate
    resolves_at: CalendarDate
    group: Slug

    @field_validator("resolves_at")
    @classmethod
    def _after_opening(cls, value: date, info: ValidationInfo) -> date:
        opens_at = info.data.get("opens_at")
        if opens_at is not None and value <= opens_at:
            raise _invalid(f"must be after opens_at ({opens_at.isoformat()})")
        return value

    def opens_at_utc(self) -> datetime:
        """Start of the opening day, 00:00:00 UTC."""
        return datetime.combine(self.opens_at, time(0), tzinfo=UTC)

    def resolves_at_utc(self) -> datetime:
        """End of the resolution day, 23:59:59 UTC (the day counts)."""
        return datetime.combine(self.resolves_at, time(23, 59, 59), tzinfo=UTC)


class QuestionFile(_Schema):
    """The schema of ``questions.yaml``."""

    questions: list[CatalogQuestion] = Field(min_length=1)


class ElicitationEntry(_Schema):
    """One statement: a probability (optionally with a confidence) or quantiles of it.

    The rules match :mod:`models.elicitation`: values in the open interval (0, 1), at least
    three quantiles at its allowed levels, strictly increasing with level.
    """

    question_id: Slug
    created_at: Timestamp
    probability: OpenUnit | None = None
    quantiles: dict[float, OpenUnit] | None = None
    confidence: OpenUnit | None = None

    @field_validator("quantiles", mode="before")
    @classmethod
    def _levels(cls, value: object) -> object:
        if not isinstance(value, Mapping):
            return value  # pydantic reports the type
        from models.elicitation import ALLOWED_LEVELS

        allowed = ", ".join(f"{level:g}" for level in ALLOWED_LEVELS)
        levels: dict[float, object] = {}
        for key, v in value.items():
            level: float | None = None
            if isinstance(key, str):
                try:
                    level = float(key)
                except ValueError:
                    level = None
            elif isinstance(key, int | float) and not isinstance(key, bool):
                level = float(key)
            match = [a for a in ALLOWED_LEVELS if level is not None and abs(level - a) < 1e-9]
            if not match:
                raise _invalid(f"level {key!r} is not allowed: use three or more of {allowed}")
            if match[0] in levels:
                raise _invalid(f"level {key!r} is given twice")
            levels[match[0]] = v
        return levels

    @field_validator("quantiles")
    @classmethod
    def _increasing(
        cls, value: dict[float, float] | None, info: ValidationInfo
    ) -> dict[float, float] | None:
        if value is None:
            return None
        from models.elicitation import MIN_QUANTILES

        if info.data.get("probability") is not None:
            raise _invalid("give either probability or quantiles, not both")
        if len(value) < MIN_QUANTILES:
            raise _invalid(f"need at least {MIN_QUANTILES} quantiles, got {len(value)}")
        ordered = sorted(value.items())
        for (lo_level, lo), (hi_level, hi) in pairwise(ordered):
            if not hi > lo:
                raise _invalid(
                    f"must increase strictly with level: {lo_level:g} -> {lo:g} but "
                    f"{hi_level:g} -> {hi:g}"
                )
        return dict(ordered)

    @field_validator("confidence")
    @classmethod
    def _with_probability(cls, value: float | None, info: ValidationInfo) -> float | None:
        # Only when probability is known to be absent (a failed probability is not in data).
        if value is not None and "probability" in info.data and info.data["probability"] is None:
            raise _invalid("goes with a probability (quantiles carry their own spread)")
        return value

    @model_validator(mode="after")
    def _one_statement(self) -> ElicitationEntry:
        if self.probability is None and self.quantiles is None:
            raise _invalid("needs a probability or quantiles (neither is given)")
        return self


class ElicitationFile(_Schema):
    """The schema of one ``elicitations/*.yaml`` file: one forecaster's statements.

    ``illustrative`` is required so that made-up inputs can never pass for real ones;
    ``note`` says where the numbers come from.
    """

    illustrative: bool = Field(strict=True)
    note: Text
    forecaster_id: Slug
    elicitations: list[ElicitationEntry] = Field(min_length=1)


# --- the catalog -------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogElicitation:
    """One elicitation of the catalog, with the forecaster and file it comes from.

    ``id`` is ``"{file stem}:{index}"``, ``index`` counting from 0 in the file's list;
    ``quantiles`` is ``((level, value), ...)`` in increasing level.
    """

    id: str
    forecaster_id: str
    question_id: str
    created_at: datetime
    index: int = 0
    probability: float | None = None
    quantiles: tuple[tuple[float, float], ...] | None = None
    confidence: float | None = None
    source: str = ""
    illustrative: bool = False


@dataclass(frozen=True)
class Catalog:
    """Everything read from a priors directory.

    ``raw_files`` holds the bytes that were validated, by path relative to ``source_dir``,
    so that :meth:`catalog_hash` describes exactly what was loaded.
    """

    questions: tuple[CatalogQuestion, ...]
    elicitations: tuple[CatalogElicitation, ...]
    model_config: ModelConfig
    source_dir: Path
    raw_files: tuple[tuple[str, bytes], ...] = field(default=(), repr=False, compare=False)

    @property
    def illustrative(self) -> bool:
        """True if any elicitation comes from a file marked ``illustrative: true``."""
        return any(e.illustrative for e in self.elicitations)

    def catalog_hash(self) -> str:
        """SHA-256 of the files read, in order of relative path.

        Each file contributes its relative path, its length and its raw bytes, so renaming a
        file (which renames its forecast ids) changes the hash too.

        Returns
        -------
        str
            64 hexadecimal digits.
        """
        digest = hashlib.sha256()
        for rel, raw in sorted(self.raw_files):
            digest.update(rel.encode() + b"\0" + len(raw).to_bytes(8, "big"))
            digest.update(raw)
        return digest.hexdigest()

    def to_forecast_data(self, eps: float | None = None) -> ForecastData:
        """The catalog as the inputs of a fit.

        Each elicitation becomes a :class:`~models.dataset.Forecast` whose ``logit_center``
        and ``logit_spread`` are the ``logit_mean`` and ``logit_sd`` fitted by
        :mod:`models.elicitation`; its id is ``"{file stem}:{index}"``.

        Parameters
        ----------
        eps : float, optional
            Centres are clipped to ``[logit(eps), logit(1 - eps)]``, as the model clips
            probabilities. Defaults to ``model_config.probability_eps``.

        Returns
        -------
        ForecastData
            Questions (with group, title and dates: opening at 00:00 UTC, resolving at the
            end of the day, UTC) and one forecast per elicitation.

        Raises
        ------
        PriorConfigError
            If a statement cannot be fitted; the message names the file and entry.
        """
        from models.elicitation import fit_probability, fit_quantiles

        eps = self.model_config.probability_eps if eps is None else eps
        if not 0.0 < eps < 0.5:
            raise PriorConfigError(f"eps must be in (0, 0.5), got {eps!r}")
        bound = math.log((1.0 - eps) / eps)
        questions = tuple(
            Question(
                id=q.id,
                group=q.group,
                title=q.title,
                opens_at=q.opens_at_utc(),
                resolves_at=q.resolves_at_utc(),
            )
            for q in self.questions
        )
        forecasts = []
        for e in self.elicitations:
            where = f"{_display(self.source_dir, e.source)}: elicitations[{e.index}]"
            try:
                if e.quantiles is not None:
                    fit = fit_quantiles(dict(e.quantiles))
                else:
                    assert e.probability is not None
                    fit = fit_probability(e.probability, e.confidence)
            except (ValueError, ArithmeticError) as exc:
                raise PriorConfigError(f"{where}: cannot be fitted: {exc}") from exc
            center, spread = float(fit.logit_mean), float(fit.logit_sd)
            if not (math.isfinite(center) and math.isfinite(spread) and spread >= 0.0):
                raise PriorConfigError(
                    f"{where}: the fit gave logit mean {center!r} and sd {spread!r}"
                )
            forecasts.append(
                Forecast(
                    question_id=e.question_id,
                    forecaster_id=e.forecaster_id,
                    created_at=e.created_at,
                    logit_center=min(max(center, -bound), bound),
                    logit_spread=spread,
                    id=e.id,
                )
            )
        return ForecastData(questions=questions, forecasts=tuple(forecasts))


# --- loading -----------------------------------------------------------------------------


def load_catalog(priors_dir: Path | str) -> Catalog:
    """Read and validate a priors directory.

    Parameters
    ----------
    priors_dir : Path or str
        A directory holding ``questions.yaml``, ``model.yaml`` and ``elicitations/*.yaml``
        (the directory may be absent: no elicitations).

    Returns
    -------
    Catalog
        Questions in file order; elicitations by file name, then in file order.

    Raises
    ------
    PriorConfigError
        With every problem found, one per line, each naming the file and the field.
    """
    root = Path(priors_dir)
    if not root.is_dir():
        raise PriorConfigError(f"{root}: the priors directory does not exist")
    problems: list[str] = []
    raw_files: list[tuple[str, bytes]] = []

    questions: tuple[CatalogQuestion, ...] | None = None
    try:
        raw, data, node = _read_yaml(root / QUESTIONS_FILE, _display(root, QUESTIONS_FILE))
        raw_files.append((QUESTIONS_FILE, raw))
        parsed = _validate(QuestionFile, data, node, _display(root, QUESTIONS_FILE))
        questions = tuple(parsed.questions)
        problems += _duplicate_question_ids(questions, node, _display(root, QUESTIONS_FILE))
    except PriorConfigError as exc:
        problems.append(str(exc))

    model_config: ModelConfig | None = None
    try:
        raw, data, node = _read_yaml(root / MODEL_FILE, _display(root, MODEL_FILE))
        raw_files.append((MODEL_FILE, raw))
        model_config = _model_config(data, node, _display(root, MODEL_FILE))
    except PriorConfigError as exc:
        problems.append(str(exc))

    elicitations: list[CatalogElicitation] = []
    forecaster_files: dict[str, str] = {}
    known = {q.id for q in questions} if questions is not None else None
    for path in _elicitation_paths(root, problems):
        rel = path.relative_to(root).as_posix()
        shown = _display(root, rel)
        try:
            raw, data, node = _read_yaml(path, shown)
            raw_files.append((rel, raw))
            parsed_file = _validate(ElicitationFile, data, node, shown)
        except PriorConfigError as exc:
            problems.append(str(exc))
            continue
        if parsed_file.forecaster_id in forecaster_files:
            problems.append(
                _located(
                    shown,
                    node,
                    ("forecaster_id",),
                    f"{parsed_file.forecaster_id!r} is also the forecaster of "
                    f"{forecaster_files[parsed_file.forecaster_id]}",
                )
            )
        forecaster_files.setdefault(parsed_file.forecaster_id, shown)
        problems += _entry_problems(parsed_file, known, node, shown, _display(root, QUESTIONS_FILE))
        elicitations += [
            CatalogElicitation(
                id=f"{path.stem}:{i}",
                forecaster_id=parsed_file.forecaster_id,
                question_id=entry.question_id,
                created_at=entry.created_at,
                index=i,
                probability=entry.probability,
                quantiles=None if entry.quantiles is None else tuple(entry.quantiles.items()),
                confidence=entry.confidence,
                source=rel,
                illustrative=parsed_file.illustrative,
            )
            for i, entry in enumerate(parsed_file.elicitations)
        ]

    if problems:
        raise PriorConfigError("\n".join(problems))
    assert questions is not None and model_config is not None
    return Catalog(
        questions=questions,
        elicitations=tuple(elicitations),
        model_config=model_config,
        source_dir=root,
        raw_files=tuple(sorted(raw_files)),
    )


def load_model_config(path: Path | str) -> ModelConfig:
    """Read and validate a ``model.yaml``.

    Parameters
    ----------
    path : Path or str
        The file; it must state ``schema_version``.

    Returns
    -------
    ModelConfig

    Raises
    ------
    PriorConfigError
        Naming the file and the field.
    """
    path = Path(path)
    shown = _display(path.resolve().parent, path.name)
    _, data, node = _read_yaml(path, shown)
    return _model_config(data, node, shown)


def _model_config(data: Any, node: yaml.Node, shown: str) -> ModelConfig:
    # ModelConfig defaults schema_version; the file must say which format it is written in.
    if isinstance(data, dict) and "schema_version" not in data:
        raise PriorConfigError(
            f"{shown}: schema_version: required field is missing "
            f"(this version reads schema_version: {SCHEMA_VERSION})"
        )
    return _validate(ModelConfig, data, node, shown)


def _elicitation_paths(root: Path, problems: list[str]) -> list[Path]:
    folder = root / ELICITATIONS_DIR
    if not folder.is_dir():
        return []
    paths = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix == ".yaml":
            paths.append(path)
        else:
            rel = path.relative_to(root).as_posix()
            problems.append(
                f"{_display(root, rel)}: not a .yaml file; elicitation files are "
                f"{ELICITATIONS_DIR}/*.yaml (rename or remove it)"
            )
    return paths


def _duplicate_question_ids(
    questions: Sequence[CatalogQuestion], node: yaml.Node, shown: str
) -> list[str]:
    problems = []
    first: dict[str, int] = {}
    for i, q in enumerate(questions):
        if q.id in first:
            problems.append(
                _located(
                    shown,
                    node,
                    ("questions", i, "id"),
                    f"{q.id!r} is already the id of questions[{first[q.id]}]",
                )
            )
        first.setdefault(q.id, i)
    return problems


def _entry_problems(
    parsed: ElicitationFile,
    known: set[str] | None,
    node: yaml.Node,
    shown: str,
    questions_shown: str,
) -> list[str]:
    problems = []
    first: dict[tuple[str, datetime], int] = {}
    for i, entry in enumerate(parsed.elicitations):
        loc: Loc = ("elicitations", i, "question_id")
        if known is not None and entry.question_id not in known:
            problems.append(
                _located(
                    shown,
                    node,
                    loc,
                    f"unknown question {entry.question_id!r} (not in {questions_shown})",
                )
            )
        key = (entry.question_id, entry.created_at)
        if key in first:
            problems.append(
                _located(
                    shown,
                    node,
                    loc,
                    f"{entry.question_id!r} was already elicited at the same created_at in "
                    f"elicitations[{first[key]}]",
                )
            )
        first.setdefault(key, i)
    return problems


# --- YAML and error messages -------------------------------------------------------------


class _CatalogLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice (PyYAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} is given twice (first on line {seen[key]})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line + 1
            except TypeError:
                pass  # an unhashable key: the base class reports it
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, shown: str) -> tuple[bytes, Any, yaml.Node]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PriorConfigError(f"{shown}: file not found") from None
    except OSError as exc:
        raise PriorConfigError(f"{shown}: cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PriorConfigError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    loader = _CatalogLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = "; ".join(part for part in (exc.context, exc.problem) if part)
        raise PriorConfigError(f"{shown}: {where}YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise PriorConfigError(f"{shown}: YAML syntax error: {exc}") from None
    finally:
        loader.dispose()
    if node is None:
        raise PriorConfigError(f"{shown}: the file is empty")
    if not isinstance(data, dict):
        raise PriorConfigError(
            f"{shown}: line {node.start_mark.line + 1}: the file must be a mapping of fields, "
            f"got a {type(data).__name__}"
        )
    return raw, data, node


def _validate[M: BaseModel](schema: type[M], data: Any, node: yaml.Node, shown: str) -> M:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(schema, err, node, shown) for err in exc.errors()]
        raise PriorConfigError("\n".join(problems)) from None


def _describe(schema: type[BaseModel], err: Any, node: yaml.Node, shown: str) -> str:
    loc: Loc = tuple(err["loc"])
    kind: str = err["type"]
    if kind == "missing":
        message = "required field is missing"
    elif kind == "extra_forbidden":
        fields = _fields_at(schema, loc[:-1])
        message = "unknown field" + (f" (allowed: {', '.join(fields)})" if fields else "")
    else:
        message = str(err["msg"]).removeprefix("Value error, ")
        value = err.get("input")
        if kind != _OWN_ERROR and isinstance(value, str | int | float | date):
            message += f" (got {value!r})"
    return _located(shown, node, loc, message)


def _located(shown: str, node: yaml.Node, loc: Loc, message: str) -> str:
    line = _line_of(node, loc)
    return f"{shown}: {_path(loc) or '(top level)'}: {message}" + (
        f" (line {line})" if line else ""
    )


def _path(loc: Iterable[int | str]) -> str:
    """``("questions", 3, "resolves_at")`` -> ``questions[3].resolves_at``; keys such as
    ``"0.9"`` that are not names are written ``quantiles["0.9"]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def _line_of(node: yaml.Node, loc: Loc) -> int | None:
    """1-based line of the deepest YAML node on ``loc`` (the entry, if the field is missing)."""
    line = None
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    child = value_node
                    line = key_node.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                child = node.value[part]
                line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line if line is not None else node.start_mark.line + 1


def _fields_at(schema: type[BaseModel], loc: Loc) -> list[str]:
    """The field names of the model found at ``loc`` inside ``schema``, if it is one."""
    tp: Any = schema
    for part in loc:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return []
            tp = info.annotation
        elif typing.get_origin(tp) in (list, tuple):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
        if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = members[0] if len(members) == 1 else None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _display(root: Path, rel: str) -> str:
    """How a file is named in messages: the priors directory's name and the relative path."""
    return f"{root.resolve().name}/{rel}"
