class PlanParseError(ValueError):
    """The file cannot be read as a plan; the message says why (and where, when it can)."""
