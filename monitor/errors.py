"""The one exception hierarchy of driftd: everything raised on purpose derives from DriftdError."""

from __future__ import annotations


class DriftdError(Exception):
    """Root of every error driftd raises on purpose."""


class ConfigError(DriftdError):
    """The configuration is unusable; ``problems`` lists every ``(key_path, message)`` found."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}: {key}: {msg}" if key else f"{source}: {msg}" for key, msg in self.problems]
        super().__init__("\n".join(lines))


class DecodeError(DriftdError):
    """A record or a file cannot be decoded; the message names the column or field."""


class ProfileError(DriftdError):
    """A reference profile cannot be built or read (bad file, unknown column, empty data)."""


class StoreError(DriftdError):
    """The store cannot be reached, migrated or written."""


class StaleOwnerError(StoreError):
    """An offset compare-and-set failed: another owner moved the partition's offset first."""


class SignatureError(DriftdError):
    """A webhook's ``X-Driftd-Signature`` is malformed, does not match its body, or is too old or too new."""
