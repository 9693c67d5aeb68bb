"""winnow's configuration as typed models, checked before any data is read.

A user config is merged over configs/default.yaml (free-form mappings such
as classifiers are replaced whole), then validated by the pydantic models
below (`extra="forbid"` everywhere): a typo fails at once with the key and
the closest known key, a wrong value with the key and what it must be.
Code reads typed attributes (`config.dedup.enabled`), never nested dicts.

Signals may bring their own section under `signals:`; the signal registry
(transforms.signals.registry) says which, so a new signal's switch is
validated like every other key.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from winnow.transforms.configfiles import ConfigError, packaged_text, parse_yaml, read_yaml
from winnow.transforms.signals import registry
from winnow.transforms.textviews import text_parts

FORMATS = ("auto", "alpaca", "sharegpt", "openai", "dolly", "completion", "selfinstruct", "text")
CANONICAL_ROLES = ("user", "assistant", "system", "tool", "tool_call")
SEVERITIES = ("info", "warn", "drop")
COMPONENT_TERMS = ("quality", "clarity", "originality", "relevance")  # signals.composite.MERIT
GATE_TERMS = (
    "fluency",
    "answer_relevance",
    "completeness",
    "uniqueness",
)  # signals.composite.GATES  # signals.composite.COMPONENTS
DATASET_TERMS = ("diversity", "relevance", "clarity", "quality")
# Keys whose values are free-form mappings: a user's value replaces the default whole.
OPEN_MAPPINGS = {("input", "roles"), ("classifiers",), ("safety", "lexicons"), ("safety", "demographics")}

_STRICT = ConfigDict(strict=True)
PositiveInt = Annotated[int, Field(gt=0, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, strict=True)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Flag = Annotated[bool, Field(strict=True)]


class Section(BaseModel):
    """A config mapping: unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class InputConfig(Section):
    format: Literal["auto", "alpaca", "sharegpt", "openai", "dolly", "completion", "selfinstruct", "text"]
    id_field: Annotated[str, Field(min_length=1)]
    fields: dict[str, str | list[str]]
    roles: dict[str, Literal["user", "assistant", "system", "tool", "tool_call"]]
    batch_size: Annotated[int, Field(gt=0, le=100_000, strict=True)]
    max_row_bytes: PositiveInt
    split_bytes: NonNegativeInt

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        known = list(default_config_data()["input"]["fields"])
        for name in fields:
            if name not in known:
                raise ValueError(_unknown_key_message(("input", "fields", name), known))
        return fields


class LangIdConfig(Section):
    enabled: Flag
    model: str
    max_chars: PositiveInt


class SignalsConfig(Section):
    """Switches of the signal families; registered signals may add their own keys (see model_extra)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    repetition: Flag
    code_checks: Flag
    langid: LangIdConfig

    @model_validator(mode="after")
    def _registered_sections(self) -> SignalsConfig:
        """Extra keys are allowed only for registered signals, and validated by their option model."""
        for key, value in list((self.model_extra or {}).items()):
            option = registry.option_model(key)
            if option is None:
                known = sorted(set(type(self).model_fields) | set(registry.option_names()))
                raise ValueError(_unknown_key_message(("signals", key), known))
            try:
                is_model = isinstance(option, type) and issubclass(option, BaseModel)
                adapter = TypeAdapter(option) if is_model else TypeAdapter(option, config=_STRICT)
                self.__dict__[key] = adapter.validate_python(value)
            except ValidationError as e:
                raise ValueError(f"signals.{key}: {_hint(e.errors()[0])}, got {value!r}") from None
        return self


class DedupConfig(Section):
    enabled: Flag
    text: Literal["prompt_answer", "input_answer", "conversation", "instruction", "response"]
    shingle: Literal["word", "char", "auto"]
    ngram: PositiveInt
    char_ngram: PositiveInt
    char_mode_share: Annotated[float, Field(gt=0, le=1)]
    num_perm: Annotated[int, Field(ge=2, strict=True)]
    seed: Annotated[int, Field(strict=True)]
    threshold: Annotated[float, Field(gt=0, le=1)]
    bands: NonNegativeInt
    rows: NonNegativeInt
    verify: Literal["estimate", "exact", "rouge_l", "none"]
    verify_threshold: Fraction | None
    part_threshold: Fraction
    row_threshold: Fraction
    short_shingles: NonNegativeInt
    short_answer_shingles: NonNegativeInt
    short_prompt_shingles: NonNegativeInt
    order_threshold: Fraction
    template_share: Fraction
    template_min_rows: NonNegativeInt
    partitions: PositiveInt
    max_rounds: PositiveInt
    keep: list[str]
    export_signatures: Flag
    reference: list[str]

    @field_validator("keep")
    @classmethod
    def _keep_attributes(cls, keep: list[str]) -> list[str]:
        allowed = ("quality", "response_chars", "instruction_chars", "n_turns", "id", "key")
        bad = [k for k in keep if k.lstrip("-+") not in allowed]
        if bad:
            raise ValueError(
                f"must be a list of attributes, each optionally prefixed with '-' (largest first): {', '.join(allowed)}; got {bad}"
            )
        return keep

    @model_validator(mode="after")
    def _bands_and_rows(self) -> DedupConfig:
        if (self.bands == 0) != (self.rows == 0):
            raise ValueError("dedup.bands: set both bands and rows, or neither (0 = from threshold)")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"dedup.bands: bands x rows = {self.bands * self.rows} must not exceed dedup.num_perm = {self.num_perm}"
            )
        return self


class DiversityConfig(Section):
    self_bleu_sample: NonNegativeInt
    self_bleu_sample_per_shard: NonNegativeInt
    instruction_types_max: NonNegativeInt


class TaxonomyConfig(Section):
    enabled: Flag
    path: Annotated[str, Field(min_length=1)]
    field: Literal["instruction", "response", "conversation"]
    min_rows: PositiveInt


class ClassifierConfig(Section):
    model: Annotated[str, Field(min_length=1)]
    positive: str = "good"
    text: Literal["conversation", "instruction", "response", "prompt_answer"] = "conversation"
    max_chars: PositiveInt = 4000


class OverlapConfig(Section):
    enabled: Flag
    bleu_sample: Fraction
    reference_field: str | None


class ContaminationConfig(Section):
    benchmarks: list[str]
    fields: list[str]
    ngram: Annotated[int, Field(ge=2, strict=True)]


class SafetyConfig(Section):
    pii: Flag
    redact: Flag
    lexicons: dict[str, list[str]]
    demographics: dict[str, list[str]]

    @field_validator("lexicons", "demographics")
    @classmethod
    def _term_lists(cls, lists: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, terms in lists.items():
            if not (name.isidentifier() and terms and all(t.strip() for t in terms)):
                raise ValueError(f"{name}: must be an identifier naming a non-empty list of terms")
        return lists


class CompositeConfig(Section):
    enabled: Flag
    weights: dict[str, Annotated[float, Field(ge=0)]]
    gates: dict[str, Fraction]
    warn_factor: Fraction
    dataset_weights: dict[str, Annotated[float, Field(ge=0)]]

    @field_validator("weights", "dataset_weights", "gates")
    @classmethod
    def _known_terms(cls, weights: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        allowed = {"weights": COMPONENT_TERMS, "gates": GATE_TERMS}.get(info.field_name or "", DATASET_TERMS)
        unknown = sorted(set(weights) - set(allowed))
        if unknown:
            raise ValueError(f"must map some of {', '.join(allowed)} to weights >= 0; unknown {unknown}")
        return weights


class CascadeConfig(Section):
    skip_severities: list[Literal["info", "warn", "drop"]]


class KeepConfig(Section):
    """The keep policy (transforms.keep_policy): which scored rows are kept, and why the others are not.

    `min` names columns of records/; they are checked against the scored
    schema with the plan (keep_policy.check_keep_policy), not here.
    """

    drop_severities: list[Literal["info", "warn", "drop"]]
    near_duplicates: Flag
    min: dict[str, Annotated[float, Field(strict=True, allow_inf_nan=False)]]
    on_missing: Literal["drop", "keep"]


class OutputConfig(Section):
    include_text: Flag
    raw_max_chars: PositiveInt
    kept: Flag
    report: Flag

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "num_shards" in data:
            raise ValueError(
                "output.num_shards: removed; records/ and rejected/ are written one file per input part "
                "(set input.split_bytes for larger or smaller files); delete the key"
            )
        return data


class ReviewConfig(Section):
    """`winnow review export`: rows per stratum of the review sample (transforms.review.sampling)."""

    near_duplicate_rows: NonNegativeInt
    rule_rows: NonNegativeInt
    language_rows: NonNegativeInt
    min_stratum_rows: PositiveInt
    strata: dict[Annotated[str, Field(min_length=1)], PositiveInt]


class DriftConfig(Section):
    """`summary/drift.json` of a nightly run and the report's drift section: when a statistic counts as moved."""

    rate_points: Annotated[float, Field(ge=0)]  # a rate moved by at least this (0.01 = one percentage point) ...
    rate_z: Annotated[float, Field(ge=0)]  # ... with a two-proportion z of at least this
    shift_spread: Annotated[float, Field(ge=0)]  # a mean or quantile moved by this share of last night's p90-p10
    js: Fraction  # a distribution's Jensen-Shannon distance
    w1: Annotated[float, Field(ge=0)]  # a distribution's Wasserstein-1 distance / spread
    new_duplicate_share: Fraction  # tonight's new rows that copy earlier nights' rows, as a share of the new rows


# Sections a sources entry may override, and which of their keys (None: all). Only dedup.text
# may differ per source: the other dedup keys shape the signatures that rows of all sources share.
SOURCE_SECTIONS: dict[str, tuple[str, ...] | None] = {"keep": None, "dedup": ("text",)}


class SourceConfig(Section):
    """One `sources` entry: overrides for the shards whose path or name matches one of its globs."""

    name: Annotated[str, Field(min_length=1)] | None = None
    match: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    disable_rules: list[str] = []
    rule_severity: dict[str, Literal["info", "warn", "drop"]] = {}
    # Partial sections, merged over the top-level ones and validated as they are (Config._source_overrides).
    keep: dict[str, Any] | None = None
    dedup: dict[str, Any] | None = None

    @field_validator("match", mode="before")
    @classmethod
    def _one_or_more(cls, match: Any) -> Any:
        if isinstance(match, str):
            return [match]
        if isinstance(match, list) and not match:
            raise ValueError("must be a glob or a non-empty list of globs")
        return match


class Config(Section):
    """The effective configuration of a run."""

    input: InputConfig
    signals: SignalsConfig
    dedup: DedupConfig
    diversity: DiversityConfig
    taxonomy: TaxonomyConfig
    classifiers: dict[str, ClassifierConfig]
    overlap: OverlapConfig
    contamination: ContaminationConfig
    safety: SafetyConfig
    composite: CompositeConfig
    cascade: CascadeConfig
    keep: KeepConfig
    disable_rules: list[str]
    rule_severity: dict[str, Literal["info", "warn", "drop"]]
    rules: list[str]
    output: OutputConfig
    sources: list[SourceConfig]
    review: ReviewConfig
    drift: DriftConfig

    @field_validator("classifiers")
    @classmethod
    def _classifier_names(cls, classifiers: dict[str, ClassifierConfig]) -> dict[str, ClassifierConfig]:
        reserved = registry.reserved_columns()
        for name in classifiers:
            if not name.isidentifier() or name in reserved:
                raise ValueError(f"classifiers.{name}: the name must be an identifier and not a column winnow already writes")
        return classifiers

    @model_validator(mode="after")
    def _source_overrides(self) -> Config:
        """Each sources entry's partial sections must validate once merged over the top-level ones."""
        named = [s.name for s in self.sources if s.name]
        twice = sorted({n for n in named if named.count(n) > 1})
        if twice:
            raise ValueError(f"sources: each entry needs its own name; {', '.join(twice)} is used twice")
        for i, source in enumerate(self.sources):
            for section, allowed in SOURCE_SECTIONS.items():
                override = getattr(source, section)
                if override is not None:
                    _check_section_override(self, ("sources", str(i), section), override, allowed)
            text = (source.dedup or {}).get("text")
            if text is not None and text_parts(text) != text_parts(self.dedup.text):
                same = [t for t in _literal_values(DedupConfig, "text") if text_parts(t) == text_parts(self.dedup.text)]
                raise ValueError(
                    f"sources[{i}].dedup.text: {text} compares {text_parts(text)} text(s) per row and dedup.text "
                    f"{self.dedup.text} {text_parts(self.dedup.text)}; the signatures of all rows must have the same "
                    f"parts to be compared, so a source may only use {' or '.join(same)} here"
                )
        return self

    def signal_options(self, name: str) -> Any:
        """The `signals.<name>` section of a registered signal (None when it has none)."""
        return getattr(self.signals, name, None)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for run.json, the config hash and Beam pickling)."""
        return self.model_dump(mode="json")


def _check_section_override(
    config: Config, where: tuple[str, ...], override: dict[str, Any], allowed: tuple[str, ...] | None
) -> None:
    """`override` (part of section `where[-1]`) merged over the config's section must validate as that section."""
    section = where[-1]
    base = getattr(config, section, None)
    if not isinstance(base, BaseModel):
        raise ValueError(f"{_dotted(where)}: there is no top-level {section} section to override")
    model = type(base)
    for key in override:
        if key not in model.model_fields:
            raise ValueError(_unknown_key_message([*where, str(key)], list(model.model_fields)))
        if allowed is not None and key not in allowed:
            raise ValueError(
                f"{_dotted(where)}.{key}: only {', '.join(section + '.' + k for k in allowed)} can be set per source; "
                f"the other {section} keys must be the same for every row (they shape the signatures and clusters "
                f"that rows of all sources share); set them at the top level"
            )
    try:
        model.model_validate(merge(base.model_dump(mode="json"), override, (section,)))
    except ValidationError as e:
        error = e.errors()[0]
        raise ValueError(_message({**error, "loc": (*where, *error["loc"])}, {})) from None


def _literal_values(model: type[BaseModel], field: str) -> tuple[str, ...]:
    return tuple(getattr(model.model_fields[field].annotation, "__args__", ()))


def default_config_data() -> dict[str, Any]:
    """configs/default.yaml as data (a fresh copy)."""
    return copy.deepcopy(_default_data())


@functools.lru_cache(maxsize=1)
def _default_data() -> dict[str, Any]:
    return parse_yaml(packaged_text("default.yaml"), "configs/default.yaml")


def merge(base: Any, override: Any, path: tuple[str, ...] = ()) -> Any:
    """`override` merged over `base`: mappings key by key, free-form mappings, lists and scalars replaced."""
    if isinstance(base, dict) and isinstance(override, dict) and path not in OPEN_MAPPINGS:
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base[key], value, (*path, str(key))) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(override)


def from_data(data: dict[str, Any]) -> Config:
    """Validate merged config data; the first problem becomes a ConfigError naming the key."""
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_message(e.errors()[0], data)) from None


def load_config(path: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """The effective config: defaults, then the user's file, then overrides."""
    data = default_config_data()
    if path:
        data = merge(data, read_yaml(path))
    if overrides:
        data = merge(data, overrides)
    return from_data(data)


def config_hash(config: Config) -> str:
    """A stable digest of the effective config, recorded in run.json."""
    blob = json.dumps(config.as_dict(), sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# ---- messages that name the key and the fix ------------------------------------------------

_TYPE_HINTS = {
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


def _dotted(where: Sequence[str]) -> str:
    """A key path as users write it: sources[0].dedup.text (list positions in brackets)."""
    out = ""
    for part in where:
        out += f"[{part}]" if part.isdigit() else ("." if out else "") + part
    return out


def _unknown_key_message(where: Sequence[str], known: Sequence[str]) -> str:
    *parent, key = where
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {_dotted([*parent, close[0]])}?" if close else ""
    return f"unknown config key {_dotted(where)}{hint} (known keys here: {', '.join(sorted(known))})"


def _section_model(path: Sequence[str | int]) -> type[BaseModel] | None:
    model: Any = Config
    for part in path:
        if str(part).isdigit() and getattr(model, "__origin__", None) is list:
            model = model.__args__[0]  # an entry of a list of sections (sources)
            continue
        field = model.model_fields.get(str(part)) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        model = field.annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _message(error: Any, data: dict[str, Any]) -> str:
    loc = [str(p) for p in error["loc"]]
    where = _dotted(loc) or "<top>"
    if error["type"] == "extra_forbidden":
        model = _section_model(loc[:-1])
        known = list(model.model_fields) if model else []
        return _unknown_key_message(loc, known)
    if error["type"] == "missing":
        if any(p.isdigit() for p in loc):  # in a list entry (sources), which default.yaml cannot show
            return f"config key {where} is missing"
        return f"config key {where} is missing (configs/default.yaml lists every key)"
    got = error.get("input")
    if error["type"] in ("literal_error", "enum"):
        return f"config key {where}: must be one of {error['ctx']['expected']}, got {got!r}"
    if error["type"] == "value_error":
        text = str(error["ctx"]["error"])
        if text.startswith(("unknown config key", "config key ")):
            return text
        if not loc:  # a check across sections (Config's own validators) names its keys itself
            return f"config key {text}"
        return f"config key {text}" if text.startswith(where + ".") else f"config key {where}: {text}"
    return f"config key {where}: {_hint(error)}, got {got!r}"


def _hint(error: Any) -> str:
    return _TYPE_HINTS.get(error["type"], error["msg"].lower().replace("input should be", "must be"))
