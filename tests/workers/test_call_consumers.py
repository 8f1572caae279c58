"""A call's consumer is named by data: only billhive's own functions resolve."""

from __future__ import annotations

import pytest

from billhive.feeds.fetch import CONSUMER, consume_page
from billhive.workers.consumers import UnknownConsumer, resolve


def test_a_feed_consumer_name_resolves_to_its_function() -> None:
    assert resolve(CONSUMER) is consume_page


@pytest.mark.parametrize(
    "name",
    ["os:system", "billhive.feeds.fetch", "billhive.feeds.fetch:no_such_thing", "billhive.nope:x"],
)
def test_a_name_outside_billhive_or_unknown_is_refused(name: str) -> None:
    with pytest.raises(UnknownConsumer):
        resolve(name)
