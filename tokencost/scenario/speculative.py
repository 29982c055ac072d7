"""Speculative decoding: :class:`SpeculativeSpec` (the drafter, tokens drafted a round, acceptance).

Methods:

* ``draft`` — a separate small model of the same tokenizer (Leviathan et al. 2023); ``draft`` is
  its model (a preset or explicit parameters). Its acceptance rate depends on the pair and the
  task, so it must be given.
* ``eagle`` — an EAGLE head (Li et al. 2024, arXiv 2401.15077): one decoder layer of the served
  model's shape plus a 2d → d fusing layer, reading the served model's output head each step.
* ``mtp`` — a multi-token-prediction module trained with the model (DeepSeek-V3 technical report,
  arXiv 2412.19437, section 2.2): one more layer of the model's own kind (its experts included)
  plus a 2d → d projection, sharing the embedding and output head.
* ``ngram`` — prompt lookup: drafts copied from earlier text by a table search on the host, with
  no forward pass (a cost of ≈ 0); its acceptance depends on how repetitive the task is, so it
  must be given.

For ``eagle`` and ``mtp`` the default head is derived from the served model (one layer of it);
``draft`` may give another shape. Defaults of the acceptance rate (per drafted token, the ``a``
of :func:`tokencost.model.speculative.expected_tokens_per_pass`) and of the tokens drafted:

* eagle: a = 0.8 — EAGLE (Li et al., 2024-01-26, arXiv 2401.15077, section 1): the feature-level
  draft reaches about 0.8 accuracy (Medusa and Lookahead about 0.6). No default k: give ``tokens``.
* mtp: a = 0.85, k = 1 — DeepSeek-V3 technical report (2024-12-27, arXiv 2412.19437, section
  5.4.3): MTP predicts one extra token, "the acceptance rate of the second token prediction ranges
  between 85% and 90%"; we take the low end.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from tokencost.scenario.fields import _FROZEN, Integer
from tokencost.scenario.model import ModelSpec

SpeculativeMethod = Literal["draft", "eagle", "mtp", "ngram"]

MAX_DRAFT_TOKENS = 16
DEFAULT_ACCEPTANCE_RATE: dict[str, float] = {"eagle": 0.8, "mtp": 0.85}  # sources in the module docstring
DEFAULT_DRAFT_TOKENS: dict[str, int] = {"mtp": 1}


class SpeculativeSpec(BaseModel):
    """A drafter proposes ``tokens`` tokens a round; the served model verifies them in one pass."""

    model_config = _FROZEN

    method: SpeculativeMethod = Field(
        ...,
        description="draft (a small model), eagle (a one-layer head), mtp (multi-token prediction), ngram.",
    )
    draft: ModelSpec | None = Field(
        None,
        description="The drafter's model (preset or parameters): needed for method draft; for eagle and "
        "mtp, default one decoder layer of the served model; none for ngram.",
    )
    tokens: Integer | None = Field(
        None,
        gt=0,
        le=MAX_DRAFT_TOKENS,
        description="Tokens drafted per round, k (count); default 1 for mtp, else required.",
    )
    acceptance_rate: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Probability each drafted token is accepted, a (fraction); default 0.8 for eagle "
        "(EAGLE paper), 0.85 for mtp (DeepSeek-V3 report), required for draft and ngram.",
    )

    @model_validator(mode="after")
    def _complete(self) -> SpeculativeSpec:
        if self.method == "draft" and self.draft is None:
            raise ValueError("method draft needs the draft model: speculative.draft (a preset or parameters)")
        if self.method == "ngram" and self.draft is not None:
            raise ValueError("method ngram drafts by lookup, with no model: remove speculative.draft")
        if self.tokens is None and self.method not in DEFAULT_DRAFT_TOKENS:
            raise ValueError(f"method {self.method} has no sourced default: give speculative.tokens (1-16)")
        if self.acceptance_rate is None and self.method not in DEFAULT_ACCEPTANCE_RATE:
            raise ValueError(
                f"method {self.method} has no sourced default acceptance: give speculative.acceptance_rate "
                "(0-1, per drafted token; measure it, e.g. vLLM's spec-decode acceptance metrics)"
            )
        return self

    @property
    def draft_tokens(self) -> int:
        return self.tokens if self.tokens is not None else DEFAULT_DRAFT_TOKENS[self.method]

    @property
    def acceptance(self) -> float:
        if self.acceptance_rate is not None:
            return self.acceptance_rate
        return DEFAULT_ACCEPTANCE_RATE[self.method]
