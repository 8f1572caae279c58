"""Billbee's response envelope: every SDK fixture parses, paging and error fields are read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from billhive.billbee.envelope import Paging, is_envelope, parse_envelope, parse_paging

FIXTURES = Path(__file__).parents[1] / "fixtures" / "billbee" / "Response"
FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))


def test_the_sdk_response_fixtures_are_there() -> None:
    assert len(FIXTURE_FILES) >= 25


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_every_sdk_response_fixture_parses(path: Path) -> None:
    body = json.loads(path.read_text(encoding="utf-8"))
    answer = parse_envelope(body)
    assert answer.raw == body
    if is_envelope(body):
        assert answer.data == body.get("Data")
        assert answer.error_code == body.get("ErrorCode", 0)
    else:
        assert answer.data == body
        assert answer.ok


@pytest.mark.parametrize(
    "path",
    [p for p in FIXTURE_FILES if p.name != "base_response.json"],
    ids=lambda p: p.name,
)
def test_every_sdk_success_fixture_counts_as_success(path: Path) -> None:
    assert parse_envelope(json.loads(path.read_text(encoding="utf-8"))).ok


def test_the_base_fixture_reads_paging_and_its_error() -> None:
    answer = parse_envelope(json.loads((FIXTURES / "base_response.json").read_text()))
    assert answer.paging == Paging(page=1, page_size=1, total_pages=467, total_rows=467)
    assert (answer.error_code, answer.error_message) == (1, "ErrorMessage")
    assert not answer.ok


def test_a_null_error_message_counts_as_empty() -> None:
    answer = parse_envelope({"ErrorCode": 0, "ErrorMessage": None, "Data": []})
    assert answer.error_message == ""
    assert answer.ok


def test_a_bare_list_is_data_without_paging() -> None:
    answer = parse_envelope([{"Id": "w1"}])
    assert answer.data == [{"Id": "w1"}]
    assert answer.paging is None


def test_an_empty_body_is_no_data() -> None:
    answer = parse_envelope(None, 204)
    assert (answer.status_code, answer.data, answer.ok) == (204, None, True)


def test_paging_knows_whether_a_next_page_exists() -> None:
    assert parse_paging({"Page": 1, "TotalPages": 2}) is not None
    assert parse_paging({"Page": 1, "TotalPages": 2}).has_next  # type: ignore[union-attr]
    assert not Paging(page=2, page_size=50, total_pages=2, total_rows=60).has_next


def test_odd_paging_values_do_not_raise() -> None:
    assert parse_paging("nonsense") is None
    paging = parse_paging({"Page": None, "PageSize": "x"})
    assert paging == Paging(page=1, page_size=0, total_pages=0, total_rows=0)
