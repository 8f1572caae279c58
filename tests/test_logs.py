"""Logging scrubs secret-named fields whatever the caller passes."""

import logging

import pytest

from billhive.logs import REDACTED, configure_logging, get_logger


def test_secret_named_fields_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    get_logger("t").info("signup", password="Sup3r!secret#", api_key="k-123456", tenant_id=7)
    err = capsys.readouterr().err
    assert "Sup3r!secret#" not in err and "k-123456" not in err
    assert REDACTED in err and '"tenant_id": 7' in err


def test_stdlib_records_go_through_the_same_scrubbing(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    logging.getLogger("plain").info("hello %s", "world")
    assert '"event": "hello world"' in capsys.readouterr().err
