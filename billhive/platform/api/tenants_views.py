"""``/api/v1/tenants``: list, get one, create a reconnect link, switch change feeds."""

from __future__ import annotations

from datetime import timedelta

from flask import jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from billhive.db import utcnow
from billhive.feeds import service as feeds
from billhive.platform import extensions
from billhive.platform.api.auth import check_tenant, current_scope, tenant_not_found
from billhive.platform.api.blueprint import bp
from billhive.platform.api.errors import ApiError
from billhive.platform.api.parsing import (
    MAX_ID,
    parse_body,
    query_choice,
    query_int,
    query_limit,
)
from billhive.platform.api.present import feed_json, tenant_json
from billhive.platform.api.schemas import FeedsRequest, TenantFeedsOut
from billhive.tenants.contact import contact_email, contact_emails
from billhive.tenants.lifecycle import may_reconnect
from billhive.tenants.links import LinkPurpose, make_leave_url, make_reconnect_url, max_age
from billhive.tenants.models import Tenant, TenantStatus

TENANT_STATUSES = frozenset(s.value for s in TenantStatus)
#: Tenants for which a reconnect link makes no sense.


def check_reachable(tenant_id: int) -> None:
    """404 unless the token may reach ``tenant_id`` and it could be an id (no query)."""
    check_tenant(tenant_id)
    if tenant_id > MAX_ID:
        raise tenant_not_found(tenant_id)


def load_tenant(tenant_id: int) -> Tenant:
    """The tenant, if it exists and the token may reach it; 404 otherwise."""
    check_reachable(tenant_id)
    tenant = extensions.db_session().get(Tenant, tenant_id)
    if tenant is None:
        raise tenant_not_found(tenant_id)
    return tenant


@bp.get("/tenants")
def list_tenants() -> ResponseReturnValue:
    """Tenants the token may reach, by id, ``limit`` per page after id ``after``."""
    limit = query_limit()
    after = query_int("after", default=0, low=0, high=MAX_ID)
    status = query_choice("status", TENANT_STATUSES)
    query = select(Tenant).where(Tenant.id > (after or 0)).order_by(Tenant.id).limit(limit + 1)
    if status:
        query = query.where(Tenant.status == TenantStatus(status))
    scope = current_scope()
    if scope.tenant_ids is not None:
        query = query.where(Tenant.id.in_(sorted(scope.tenant_ids)))
    rows = list(extensions.db_session().scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    emails = contact_emails(extensions.db_session(), extensions.vault(), rows)
    feeds_by_tenant = feeds.feeds_of(extensions.db_session(), [t.id for t in rows])
    return jsonify(
        {
            "items": [tenant_json(t, emails[t.id], feeds_by_tenant.get(t.id, [])) for t in rows],
            "next_after": rows[-1].id if more and rows else None,
        }
    )


@bp.get("/tenants/<int:tenant_id>")
def get_tenant(tenant_id: int) -> ResponseReturnValue:
    """One tenant (never a credential), with its change feeds."""
    tenant = load_tenant(tenant_id)
    email = contact_email(extensions.db_session(), extensions.vault(), tenant)
    found = feeds.feeds_of(extensions.db_session(), [tenant.id]).get(tenant.id, [])
    return jsonify(tenant_json(tenant, email, found))


@bp.put("/tenants/<int:tenant_id>/feeds")
def put_feeds(tenant_id: int) -> ResponseReturnValue:
    """Switch the tenant's change feeds named in ``on`` on and those in ``off`` off."""
    tenant = load_tenant(tenant_id)
    if tenant.status is TenantStatus.DELETED:
        raise ApiError(
            409, "conflict", f"Tenant {tenant_id} is deleted; it has no feeds.", field="tenant_id"
        )
    asked = parse_body(FeedsRequest)
    if not asked.on and not asked.off:
        raise ApiError(
            422, "validation_failed", "Name at least one resource in on or off.", field="on"
        )
    try:
        changed = feeds.change(
            extensions.db_session(),
            tenant.id,
            on=feeds.parse_resources(asked.on),
            off=feeds.parse_resources(asked.off),
        )
    except feeds.FeedError as exc:
        raise ApiError(422, "validation_failed", str(exc), field="off") from None
    body = {"tenant_id": tenant.id, "feeds": [feed_json(f) for f in changed]}
    return jsonify(TenantFeedsOut.model_validate(body).model_dump(mode="json"))


@bp.post("/tenants/<int:tenant_id>/reconnect-link")
def reconnect_link(tenant_id: int) -> ResponseReturnValue:
    """A signed link, valid for a week, where the merchant enters a new API password."""
    tenant = load_tenant(tenant_id)
    if not may_reconnect(tenant.status):
        raise ApiError(
            409,
            "tenant_cannot_reconnect",
            f"Tenant {tenant_id} is {tenant.status.value}; it cannot reconnect.",
            field="tenant_id",
        )
    url = make_reconnect_url(extensions.db_session(), extensions.settings(), tenant.id)
    expires_at = utcnow() + timedelta(seconds=max_age(extensions.settings(), LinkPurpose.RECONNECT))
    body = {
        "tenant_id": tenant.id,
        "url": url,
        "expires_at": expires_at.isoformat(),
        # Every reconnect link goes with a leave link: the consent text promises leaving.
        "leave_url": make_leave_url(extensions.settings(), tenant.id),
    }
    return jsonify(body), 201


@bp.post("/tenants/<int:tenant_id>/leave-link")
def leave_link(tenant_id: int) -> ResponseReturnValue:
    """A signed link, valid BILLHIVE_LEAVE_LINK_DAYS days and once, where the merchant
    confirms leaving (everything billhive holds about them is then deleted)."""
    tenant = load_tenant(tenant_id)
    if tenant.status is TenantStatus.DELETED:
        raise ApiError(
            409, "tenant_deleted", f"Tenant {tenant_id} is deleted already.", field="tenant_id"
        )
    settings = extensions.settings()
    expires_at = utcnow() + timedelta(seconds=max_age(settings, LinkPurpose.LEAVE))
    body = {
        "tenant_id": tenant.id,
        "url": make_leave_url(settings, tenant.id),
        "expires_at": expires_at.isoformat(),
    }
    return jsonify(body), 201
