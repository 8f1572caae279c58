"""The overview page and the JSON its polling script reads."""

from __future__ import annotations

from flask import jsonify, render_template
from flask.typing import ResponseReturnValue

from billhive.db import utcnow
from billhive.feeds import backlog as feed_backlog
from billhive.platform.admin import costs, feed_figures, figures
from billhive.platform.admin.blueprint import bp
from billhive.platform.admin.charts import stacked_bars
from billhive.platform.extensions import db_session, redis, settings

MINUTE_SERIES = ("succeeded", "failed", "throttled")


@bp.route("/")
def overview() -> ResponseReturnValue:
    """Tenants per status, calls per minute, key budget, queues, workers, failures, bill,
    the change feeds' share of the key and their newest events."""
    session = db_session()
    month_calls = figures.calls_in_month(session, utcnow().date())
    return render_template(
        "admin/overview.html",
        statuses=figures.tenants_per_status(session),
        failed_24h=figures.failed_calls_since(session, figures.last_day_start()),
        month_calls=month_calls,
        free_calls=figures.FREE_CALLS_PER_MONTH,
        bill=figures.estimated_bill(month_calls),
        live=figures.live_figures(redis()),
        chart=stacked_bars(figures.calls_per_minute(redis()), MINUTE_SERIES),
        reconciler=figures.reconciler_state(session),
        reconcile_seconds=settings().reconcile_interval_seconds,
        costs=costs.overview(session, settings().usage_diff_threshold_percent),
        feeds=feed_figures.feed_share(session, settings().feed_key_share),
        feed_backlog=feed_backlog.read(redis()),
        feed_events=feed_figures.recent_events(session),
    )


@bp.route("/live/overview")
def live_overview() -> ResponseReturnValue:
    """The overview's live figures as JSON (polled every few seconds)."""
    return jsonify(figures.live_figures(redis()).as_dict())
