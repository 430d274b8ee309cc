"""Environment-variable configuration shared by every service.

Only a service's ``__main__`` reads the environment, through :class:`Env`; libraries take
settings objects. Errors are collected and reported together, naming every bad key.
:func:`presence` and :func:`scrub` keep secrets out of what the services show.
"""

from adstack_config.env import Env
from adstack_config.errors import ConfigError
from adstack_config.redact import REDACTED, presence, redact_url, scrub, url_secrets

__all__ = ["REDACTED", "ConfigError", "Env", "presence", "redact_url", "scrub", "url_secrets"]
