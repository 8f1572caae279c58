"""Reading a query string the way Billbee's ASP.NET model binding does.

The official SDKs send array parameters as indexed keys: billbee-csharp-sdk builds
``shopId[0]=1&shopId[1]=2`` (OrderEndPoint.GetOrderList), billbee-php-sdk hands arrays to
Guzzle, whose ``http_build_query`` writes ``shopId%5B0%5D=1`` (the same after decoding).
The 2023 description says repeated keys (``explode: true``), and PHP-style ``shopId[]=1``
is common elsewhere; ASP.NET binds all three, and matches names case-insensitively. The
handlers read one canonical form: every key renamed to the operation's spec name, array
items in index order.
"""

from __future__ import annotations

import re
from functools import cache

from werkzeug.datastructures import MultiDict

from billhive.billbee.operations import Operation

#: ``name``, ``name[]`` or ``name[3]``.
_KEY = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<index>\d*)\])?$")


@cache
def _names(op: Operation) -> dict[str, str]:
    """The operation's query parameter names, by their case-folded form."""
    return {q.name.casefold(): q.name for q in op.query_params}


def normalize_query(args: MultiDict[str, str], op: Operation) -> MultiDict[str, str]:
    """``args`` with each key of ``op``'s parameters under its spec name and the items of
    indexed keys (``tag[1]``, ``tag[0]``) in index order; unknown keys stay as sent."""
    names = _names(op)
    plain: list[tuple[str, str]] = []
    indexed: dict[str, list[tuple[int, int, str]]] = {}
    for position, (key, value) in enumerate(args.items(multi=True)):
        match = _KEY.match(key)
        if match is None:
            plain.append((key, value))
            continue
        name = names.get(match["name"].casefold(), match["name"])
        index = match["index"]
        if index:  # name[3]: ordered by index, then by arrival
            indexed.setdefault(name, []).append((int(index), position, value))
        else:
            plain.append((name, value))
    for name, items in indexed.items():
        plain.extend((name, value) for _, _, value in sorted(items))
    return MultiDict(plain)
