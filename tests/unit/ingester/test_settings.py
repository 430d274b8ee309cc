"""Ingester settings from the environment."""

from __future__ import annotations

import pytest

from adstack_config import ConfigError
from adstack_ingester.settings import IngesterSettings


def test_body_timeout_from_env() -> None:
    assert IngesterSettings.from_env({}).body_timeout == 30.0
    assert IngesterSettings.from_env({"BODY_TIMEOUT": "4"}).body_timeout == 4.0
    for raw in ("0", "-1", "soon"):
        with pytest.raises(ConfigError, match="BODY_TIMEOUT"):
            IngesterSettings.from_env({"BODY_TIMEOUT": raw})
