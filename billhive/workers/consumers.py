"""Result consumers: a part above the workers takes a call's whole answer in the job.

Some calls are made for the platform itself (a change feed's page, for example): their
answer is not for a vendor to read later but for a part above the workers to turn into
its own rows. Such a call names its consumer (``"module:function"``) when it is queued;
when the call succeeds, the worker imports the consumer by that name and hands it the
session, the call, its opened parameters (call payloads are sealed: workers/payloads.py)
and the whole parsed answer (``BillbeeResponse``: data and paging)
before the call's final status is committed, so the consumer's rows and the call's
outcome commit together (a worker killed in between leaves neither, and the call runs
again). The value the consumer returns (a small summary) is stored as the call's result
instead of the answer.

The workers never import those parts: the name is data, like an RQ job's function name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from billhive.billbee.envelope import BillbeeResponse
from billhive.workers.models import Call

#: ``consumer(session, call, params, response) -> summary``; may add rows, must not commit.
Consumer = Callable[[Session, Call, Mapping[str, Any], BillbeeResponse], Any]
#: The longest consumer name a call may carry.
CONSUMER_MAX = 120
#: Only billhive's own modules may be named (a call row is data, not a plugin list).
_ALLOWED_PREFIX = "billhive."


class UnknownConsumer(LookupError):
    """The call names a consumer that is not a billhive function."""


@cache
def resolve(name: str) -> Consumer:
    """The consumer function named ``module:function``."""
    module_name, _, attribute = name.partition(":")
    if not module_name.startswith(_ALLOWED_PREFIX) or not attribute:
        raise UnknownConsumer(f"not a billhive consumer: {name!r}")
    try:
        consumer = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        raise UnknownConsumer(f"no such consumer: {name!r}") from None
    if not callable(consumer):
        raise UnknownConsumer(f"not callable: {name!r}")
    return consumer  # type: ignore[no-any-return]


def consume(
    session: Session, call: Call, params: Mapping[str, Any], response: BillbeeResponse
) -> Any:
    """Hand the answer to the call's consumer; returns what to store as the call's result."""
    assert call.consumer is not None
    return resolve(call.consumer)(session, call, params, response)
