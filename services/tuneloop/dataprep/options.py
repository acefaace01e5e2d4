"""Preparation options: what a user may choose when ingesting or appending, with defaults."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, Field, model_validator

from tuneloop.core.validation import build


class ConflictPolicy(str, Enum):
    MAJORITY = "majority"  # keep the label most rows agree on; a tie drops every row of the text
    DROP_ALL = "drop_all"  # drop every row of a text that carries more than one label


class PrepareOptions(BaseModel):
    """How a file is read, cleaned, deduplicated and split."""

    model_config = {"frozen": True}

    text_column: str = "text"
    label_column: str = "label"
    format: str | None = Field(default=None, description="csv, jsonl or parquet; None guesses from filename")
    filename: str = ""
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="seed of the split (and near-dedupe hashing)")
    casefold_labels: bool = False
    fill_label: str | None = Field(default=None, description="label given to rows missing one; None drops them")
    conflict_policy: ConflictPolicy = ConflictPolicy.MAJORITY
    near_dedupe: bool = False
    near_threshold: float = Field(default=0.9, gt=0.0, le=1.0)
    train_fraction: float = Field(default=0.70, gt=0.0, lt=1.0)
    validation_fraction: float = Field(default=0.15, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _fractions(self) -> PrepareOptions:
        if self.train_fraction + self.validation_fraction >= 1.0 + 1e-9:
            raise ValueError("train_fraction + validation_fraction must be below 1 (test gets the rest)")
        if not self.text_column or not self.label_column:
            raise ValueError("text_column and label_column must not be empty")
        if self.text_column == self.label_column:
            raise ValueError("text_column and label_column must differ")
        return self

    @property
    def test_fraction(self) -> float:
        return 1.0 - self.train_fraction - self.validation_fraction

    def split_settings(self) -> dict:
        """The options that decide a version's content (hashed into its identity)."""
        return self.model_dump(mode="json", exclude={"filename", "format", "text_column", "label_column"})


def make_options(**values) -> PrepareOptions:
    """Build options, turning validation failures into InvalidArgument naming the field."""
    return build(PrepareOptions, "option", **values)
