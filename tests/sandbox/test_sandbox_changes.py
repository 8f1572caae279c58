"""The sandbox's change log notes each order change at the moment written on the order."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from billhive.sandbox.changes import ChangeGenerator, ChangeLog
from billhive.sandbox.seed import seed_account
from billhive.sandbox.state import AccountState, parse_date
from billhive.sandbox.webhook_delivery import WebhookSender

#: The last microsecond of a second: any pause before the log is written crosses into the
#: next one.
END_OF_A_SECOND = datetime(2026, 12, 2, 12, 0, 0, 999_999, tzinfo=UTC)


def test_a_change_at_the_end_of_a_second_is_logged_in_the_second_written_on_the_order() -> None:
    state = AccountState(account_id=1, account_name="Shop", next_id=1_000)
    seed_account(state)
    log = ChangeLog()
    generator = ChangeGenerator(
        lambda: [state], log, WebhookSender(), clock=lambda: END_OF_A_SECOND
    )

    assert generator.change_one(state) == 1

    [change] = log.after(0, 10)
    order = state.orders[change["order_id"]]
    stamped = parse_date(order["LastModifiedAt"])
    # A benchmark matches a change to the event whose modification time (whole seconds,
    # as Billbee stamps) is not older than the change: both must name the same second.
    assert math.floor(change["at"]) == stamped.timestamp()
    assert change["at"] == END_OF_A_SECOND.timestamp()
