"""Environment-variable configuration shared by every service.

Every setting is declared once in :mod:`adstack_config.catalog`; :func:`load` reads and
validates a service's settings, collecting every problem before failing; :func:`help_text`
writes its ``--help``; :mod:`adstack_config.generate` the configuration table
(docs/configuration.md) and ``.env.example``.
Only a service's ``__main__`` reads the environment; libraries take settings objects.
:func:`presence` and :func:`scrub` keep secrets out of what the services show.
"""

from adstack_config.errors import ConfigError
from adstack_config.redact import REDACTED, presence, redact_url, scrub, url_secrets
from adstack_config.spec import Loaded, Setting, export_env_file, help_text, load

__all__ = ["REDACTED", "ConfigError", "Loaded", "Setting", "export_env_file", "help_text",
           "load", "presence", "redact_url", "scrub", "url_secrets"]
