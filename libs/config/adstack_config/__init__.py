"""Environment-variable configuration shared by every service.

Only a service's ``__main__`` reads the environment, through :class:`Env`; libraries take
settings objects. Errors are collected and reported together, naming every bad key.
"""

from adstack_config.env import Env
from adstack_config.errors import ConfigError

__all__ = ["ConfigError", "Env"]
