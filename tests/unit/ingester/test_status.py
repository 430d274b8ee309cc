"""The ingester's /status document: contracts, limits, dependencies, never a secret."""

from __future__ import annotations

import json

from adstack_ingester.settings import IngesterSettings
from adstack_ingester.status import ingester_status, secrets_of

TOKEN = "observer-token-for-status-test"
REDIS_PASSWORD = "redis-pass-Ab3"
CONTRACT = "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7.promo-manager"


def settings(**env: str) -> IngesterSettings:
    return IngesterSettings.from_env({
        "OBSERVER_TOKEN": TOKEN,
        "REDIS_URL": f"redis://default:{REDIS_PASSWORD}@10.0.0.5:6379/0",
        "STACKS_CONTRACTS": CONTRACT,
        "EVENT_HISTORY_LIMIT": "250",
        **env,
    })


def test_status_reports_contracts_limits_and_dependencies() -> None:
    body = ingester_status(settings(), version="1.0", pid=7, started=100.0, now=160.0,
                           redis_up=False, leader=None,
                           last_block={"height": 16, "indexBlockHash": "0xab"},
                           memory={"rss": 1}, multiprocess=True)
    assert body["contracts"] == {"all": False, "configured": [CONTRACT], "campaigns": None,
                                 "auctions": None, "bridge": None, "payments": None,
                                 "governance": None}
    assert body["limits"]["eventHistoryLimit"] == 250
    assert body["limits"]["bodyTimeoutSeconds"] == 30.0
    assert body["dependencies"]["redis"] == {"url": "redis://***:***@10.0.0.5:6379/0",
                                             "state": "down"}
    assert body["dependencies"]["stacks"]["lastBlock"]["height"] == 16
    assert body["auth"] == {"observerToken": "set", "observerTokenRequired": False}
    assert body["uptime"] == {"seconds": 60.0, "formatted": "0h 1m 0s"}
    assert body["uptimeSeconds"] == 60.0 and body["metrics"] == {"multiprocess": True}
    assert body["timestamp"] == "1970-01-01T00:02:40.000Z" and body["timestampMs"] == 160_000
    assert body["services"]["redis"] == {"connected": False,
                                         "url": "redis://***:***@10.0.0.5:6379/0"}
    assert body["services"]["stacksWebSocket"] == {"connected": False, "url": None}
    assert set(body["system"]["memory"]) == {"rss", "heapTotal", "heapUsed"}
    text = json.dumps(body)
    assert TOKEN not in text and REDIS_PASSWORD not in text


def test_a_secret_that_leaks_into_data_is_scrubbed() -> None:
    """Last line of defence: a secret that shows up elsewhere (here in a block field) is
    still masked."""
    body = ingester_status(settings(), version="1.0", pid=7, started=0.0, now=1.0,
                           redis_up=True, leader=True, last_block={"note": f"x{TOKEN}y"},
                           memory={}, multiprocess=False)
    assert TOKEN not in json.dumps(body)
    assert body["dependencies"]["stacks"]["lastBlock"]["note"] == "x***y"


def test_unset_token_and_all_contracts() -> None:
    cfg = settings(OBSERVER_TOKEN="", STACKS_CONTRACTS="*", REDIS_URL="redis://r:6379/0")
    assert secrets_of(cfg) == []
    body = ingester_status(cfg, version="1.0", pid=7, started=0.0, now=1.0, redis_up=True,
                           leader=True, last_block=None, memory={}, multiprocess=False)
    assert body["auth"] == {"observerToken": "unset", "observerTokenRequired": False}
    assert body["contracts"]["all"] is True
    assert body["leader"] is True
