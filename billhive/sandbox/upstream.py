"""What an HTTP client sees when the way to Billbee fails, not Billbee itself.

Billbee runs behind a reverse proxy and a load balancer like any hosted API: when the
backend is unreachable, slow or drops a connection, the answer is the proxy's HTML page
(nginx's 502/503/504 pages are the model here), or a response that stops mid-body. The
sandbox's fault knobs produce these so the client's handling of each is tested over real
HTTP.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from flask import Response

#: Seconds a proxy's 503 page asks the client to wait.
UNAVAILABLE_RETRY_AFTER = 5

_TITLES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def proxy_page(status: int) -> Response:
    """The HTML error page a proxy answers with (``status`` 502, 503 or 504)."""
    title = _TITLES[status]
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    response = Response(page, status=status, content_type="text/html")
    if status == 503:
        response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    return response


def cut_mid_body(response: Response) -> Response:
    """``response`` with its full Content-Length announced but only half its body sent,
    then the connection reset (as when a connection drops mid-answer).

    The reset is an OSError with ECONNRESET raised from the body iterator: the WSGI
    servers the sandbox runs on (werkzeug's, gunicorn's gthread) take it as a dropped
    connection and close the socket without writing anything more.
    """
    body = response.get_data()
    half = body[: max(1, len(body) // 2)]

    def chunks() -> Iterator[bytes]:
        yield half
        raise ConnectionResetError(errno.ECONNRESET, "injected: connection reset mid-body")

    cut = Response(chunks(), status=response.status_code, headers=dict(response.headers))
    cut.headers["Content-Length"] = str(len(body))
    return cut
