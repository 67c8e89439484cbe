"""The plan parser moved to :mod:`runbooks.plans`; this name stays for existing callers."""

from .plans import (  # noqa: F401
    MAX_BYTES,
    Command,
    ParsedPhase,
    ParsedPlan,
    ParsedStep,
    PlanParseError,
    Section,
    decode,
    parse,
    parse_bytes,
)
