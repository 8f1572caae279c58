"""``/hooks/billbee/<token>``: the public receiver of the webhooks billhive registers in
each merchant's Billbee (billhive/feeds/webhooks.py; the check of a post:
billhive/feeds/receiver.py).

Billbee's webhooks follow ASP.NET WebHooks: a GET with ``?echo=<value>`` when the URL is
registered (answered with the value), then POSTs signed ``ms-signature: sha256=<hex>``.
The body is never read for content, whatever its shape: a post with a valid signature
only brings the tenant's next poll forward, and only while the tenant's calls run (a
paused or credentials-invalid tenant's post is answered 200 and schedules nothing).
Posts carry no browser session, so the receiver is exempt from CSRF; it is rate limited
per URL.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter

from billhive.config import Settings
from billhive.feeds import receiver
from billhive.logs import get_logger
from billhive.platform import extensions

bp = Blueprint("feedhooks", __name__, url_prefix=receiver.RECEIVER_PATH.rstrip("/"))
log = get_logger(__name__)

#: The longest echo value answered (ASP.NET WebHooks sends a short random string).
ECHO_MAX = 256


def _refused(exc: receiver.WebhookRefused) -> ResponseReturnValue:
    return jsonify({"error": str(exc)}), exc.status


@bp.get("/<token>")
def echo(token: str) -> ResponseReturnValue:
    """The echo check of a new registration: answer the ``echo`` value as plain text."""
    try:
        receiver.find(extensions.db_session(), token)
    except receiver.WebhookRefused as exc:
        return _refused(exc)
    value = request.args.get("echo", "")
    if not value or len(value) > ECHO_MAX or not value.isprintable() or not value.isascii():
        return jsonify({"error": f"echo must be 1 to {ECHO_MAX} printable characters"}), 400
    return Response(value, mimetype="text/plain")


@bp.post("/<token>")
def receive(token: str) -> ResponseReturnValue:
    """A post of Billbee's: with a valid signature, the tenant's feeds read now."""
    session = extensions.db_session()
    try:
        webhook = receiver.find(session, token)
        body = request.get_data(cache=False)
        header = request.headers.get(receiver.SIGNATURE_HEADER)
        receiver.check_signature(extensions.vault(), webhook, body, header)
    except receiver.WebhookRefused as exc:
        log.info("feed_webhook_refused", status=exc.status, reason=str(exc))
        return _refused(exc)
    tenant_id = webhook.tenant_id
    polled = receiver.note_post(session, webhook)
    if polled is None:
        # 200 all the same: an error would make Billbee send the post again and again.
        log.info("feed_webhook_ignored", tenant_id=tenant_id, reason="tenant not running")
        return jsonify({"accepted": False})
    log.info("feed_webhook_received", tenant_id=tenant_id, feeds=polled)
    return jsonify({"accepted": True})


def _url_token() -> str:
    """Limit per webhook URL: Billbee posts every merchant's webhooks from few addresses."""
    return "feedhook:" + receiver.url_digest((request.view_args or {}).get("token", ""))


def init_app(app: Flask, settings: Settings, limiter: Limiter) -> None:
    """Register the receiver, exempt from CSRF, limited per URL."""
    app.extensions["csrf"].exempt(bp)
    limiter.limit(settings.feed_webhook_rate_limit, key_func=_url_token)(bp)
    app.register_blueprint(bp)
