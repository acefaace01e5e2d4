"""Preparation options: what a user may choose when ingesting or appending, with defaults.

A dataset's task decides what its two columns mean. `text-classification`: a text and its
label, stratified by label. `text-generation`: a prompt and its completion; duplicates are
found on the prompt alone (one prompt, one completion: a second completion for a prompt is a
duplicate, not a conflict) and the split is not stratified. Inside dataprep both are the
frame columns `text` and `label`; the stored files name them for what they are.
`image-classification`: an image and its label (`dataprep.images`): decoded once, deduplicated on
its pixels (and, optionally, a perceptual hash), stratified by label like text.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, Field, model_validator

from tuneloop.core.validation import build


class Task(str, Enum):
    CLASSIFICATION = "text-classification"  # text -> label
    GENERATION = "text-generation"  # prompt -> completion
    IMAGE_CLASSIFICATION = "image-classification"  # image -> label


class ConflictPolicy(str, Enum):
    MAJORITY = "majority"  # keep the label most rows agree on; a tie drops every row of the text
    DROP_ALL = "drop_all"  # drop every row of a text that carries more than one label


COLUMN_OPTIONS = ("text_column", "label_column", "prompt_column", "completion_column", "image_column")


class PrepareOptions(BaseModel):
    """How a file is read, cleaned, deduplicated and split."""

    model_config = {"frozen": True}

    task: Task = Field(default=Task.CLASSIFICATION, description="text-classification (text, label columns) or "
                       "text-generation (prompt, completion columns) or image-classification (an archive of <label>/<file>, "
                       "or image, label columns)")
    text_column: str = "text"
    label_column: str = "label"
    prompt_column: str = "prompt"
    completion_column: str = "completion"
    image_column: str = "image"
    format: str | None = Field(default=None, description="csv, jsonl, parquet or archive (zip, tar); None "
                               "guesses from the file name")
    filename: str = ""
    source: str = Field(default="", max_length=500, description="where this upload's rows came from, recorded "
                        "with the version it makes (default: the file name); never inherited by a later append")
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="seed of the split (and near-dedupe hashing)")
    casefold_labels: bool = False
    fill_label: str | None = Field(default=None, description="label given to rows missing one; None drops them")
    conflict_policy: ConflictPolicy = ConflictPolicy.MAJORITY
    near_dedupe: bool = False
    near_threshold: float = Field(default=0.9, gt=0.0, le=1.0)
    near_distance: int = Field(default=6, ge=0, le=32, description="images: most bits two perceptual hashes "
                               "(64 bits) may differ by and still be near duplicates")
    train_fraction: float = Field(default=0.70, gt=0.0, lt=1.0)
    validation_fraction: float = Field(default=0.15, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _fractions(self) -> PrepareOptions:
        if self.train_fraction + self.validation_fraction >= 1.0 + 1e-9:
            raise ValueError("train_fraction + validation_fraction must be below 1 (test gets the rest)")
        first, second = self.column_options()
        columns = getattr(self, first), getattr(self, second)
        if not all(columns):
            raise ValueError(f"{first} and {second} must not be empty")
        if columns[0] == columns[1]:
            raise ValueError(f"{first} and {second} must differ")
        return self

    @property
    def generation(self) -> bool:
        return self.task == Task.GENERATION

    @property
    def images(self) -> bool:
        return self.task == Task.IMAGE_CLASSIFICATION

    def column_options(self) -> tuple[str, str]:
        """The names of the two options naming the file's columns, for this task."""
        if self.images:
            return "image_column", "label_column"
        return ("prompt_column", "completion_column") if self.generation else ("text_column", "label_column")

    def source_columns(self) -> tuple[str, str]:
        """The file's two columns read: (text or prompt, label or completion)."""
        first, second = self.column_options()
        return getattr(self, first), getattr(self, second)

    @property
    def test_fraction(self) -> float:
        return 1.0 - self.train_fraction - self.validation_fraction

    def split_settings(self) -> dict:
        """The options that decide a version's content (hashed into its identity)."""
        # near_distance only means something for images (and text versions' ids predate it)
        return self.model_dump(mode="json", exclude={"filename", "source", "format", *COLUMN_OPTIONS,
                                                     *(() if self.images else ("near_distance",))})


def make_options(**values) -> PrepareOptions:
    """Build options, turning validation failures into InvalidArgument naming the field."""
    return build(PrepareOptions, "option", **values)
