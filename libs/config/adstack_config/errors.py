"""Configuration errors."""


class ConfigError(ValueError):
    """One or more environment variables are missing or invalid.

    The message lists every problem found, one per line, so an operator fixes them all at once.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
