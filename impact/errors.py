"""Error types raised by the toolkit.

Every error a user can trigger with bad input is one of these, with a message that names
the file, column, key, unit or rows at fault and what was expected.
"""

from __future__ import annotations


class ImpactError(Exception):
    """Base class of all errors the toolkit raises on purpose."""


class RegisterValidationError(ImpactError):
    """A register folder does not meet the data contracts.

    ``problems`` holds every problem found (not only the first), each a
    :class:`impact.registers.validate.Problem`.
    """

    def __init__(self, message: str, problems: list | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class ConfigError(ImpactError):
    """A study config or scenario file is invalid (names the key and the allowed values)."""


class DesignError(ImpactError):
    """The data handed to a design or an estimator cannot support it.

    Examples: a constant covariate, no controls in a stratum, no overlap, a unit whose
    treatment switches off, duplicate unit-time rows.
    """


class EstimationError(ImpactError):
    """A numerical procedure failed (e.g. the propensity-score logit did not converge)."""


class BackendError(ImpactError):
    """An execution backend is missing or cannot be reached (names the extra to install)."""


class DisclosureError(ImpactError):
    """A table cannot be published: it holds person identifiers or cannot be protected."""
