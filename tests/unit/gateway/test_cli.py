"""``adstack-gateway`` command line: ``--workers`` goes through the same validation as the
environment (nothing is started for a bad value)."""

from __future__ import annotations

import pytest

from adstack_gateway.__main__ import main


@pytest.mark.parametrize("value", ["0", "65"])
def test_bad_worker_count_exits_2(value: str, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("JWT_SECRET", "s" * 32)
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    with pytest.raises(SystemExit) as exit_info:
        main(["--workers", value])
    assert exit_info.value.code == 2
    assert f"GATEWAY_WORKERS={value}" in capsys.readouterr().err


def test_help_documents_workers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "--workers N" in out and "WEB_CONCURRENCY" in out
