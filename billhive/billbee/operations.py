"""Every operation of Billbee's current API (87 operations) as data.

The names (``orders.list``, ``products.update_stock`` ...) are the vocabulary the whole
platform speaks: the client dispatches on them, the scheduler and the sandbox look their
throttle buckets up by them, and jobs carry them instead of URLs. 76 operations come from
Billbee's published description of 2023 (``spec/openapi.json``); the 11 Billbee added since
are described in ``spec/supplement.json``, which also marks what Billbee deprecated. Each
operation says where its description comes from (``Operation.source``, see
:data:`SOURCES`); tests/billbee/test_operations.py walks the supplemented description and
checks the catalog against it, operation by operation.

Pure data: this module imports nothing but the standard library, so the sandbox may use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Prefix of every operation path; ``Operation.path`` is relative to it.
API_PREFIX = "/api/v1"

_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class QueryParam:
    """One query parameter of an operation, named exactly as the spec (and Billbee) name it.

    Array parameters (``shopId``, ``orderStateId``, ``tag``, ``typeId``) are declared in the
    spec with ``explode: true``, so they are sent as repeated keys: ``shopId=1&shopId=2``.
    ``type`` is the JSON-schema type of the value (of each item for arrays).
    """

    name: str
    type: str
    required: bool = False
    is_array: bool = False
    #: The Python name it is also accepted under, when the spec name is no identifier
    #: (``request.date`` -> ``date``); None: the snake_case of ``name``.
    python: str | None = None
    #: Non-empty when Billbee deprecated the parameter: what to use instead.
    deprecated: str = ""


#: Where the description of an operation comes from (``Operation.source``).
SOURCES: dict[str, str] = {
    "spec-2023": "Billbee's published API description of 2023 (spec/openapi.json, 76 operations)",
    "swagger-2024": "Billbee's Swagger 2.0 description of 2024 as copied by a community SDK "
    "(kruegge82/billbee-php-sdk-api, billbee.yaml; 80 operations with full schemas)",
    "oplist-2026": "Billbee's newest public operation list (a registry copy of Billbee's "
    "swagger, 2026; 87 operations, paths and summaries only); bodies and answers are "
    "billhive's reading, see docs/sandbox.md",
}


@dataclass(frozen=True)
class Operation:
    """One Billbee API operation: where it lives and how it may be called and retried.

    ``idempotent`` says whether sending the same request twice leaves the same state, so a
    worker may retry it after an unknown outcome: GET/PUT/DELETE/PATCH, absolute writes such
    as ``products.update_stock`` and read-only POSTs are; creating an order, an invoice, a
    shipment or sending a message are not.
    """

    name: str
    resource: str
    method: str
    path: str
    path_params: tuple[str, ...]
    #: The JSON-schema type of each path parameter (``integer`` or ``string``), in order.
    path_param_types: tuple[str, ...]
    query_params: tuple[QueryParam, ...]
    has_body: bool
    idempotent: bool
    operation_id: str
    #: Non-empty when Billbee deprecated the operation: why, and what to use instead.
    deprecated: str = ""
    #: Key of :data:`SOURCES`: where this operation's description comes from.
    source: str = "spec-2023"

    @property
    def reads_only(self) -> bool:
        """Whether the operation changes nothing in Billbee: a read (every GET, and the
        POSTs that only query, :data:`READ_ONLY_POSTS`). The scheduler lets reads of a
        tenant run side by side; writes are ordered (docs/scheduling.md)."""
        return self.method == "GET" or self.name in READ_ONLY_POSTS

    @property
    def action(self) -> str:
        """The part of the name after the resource (``list`` for ``orders.list``)."""
        return self.name.partition(".")[2]

    def path_param_type(self, name: str) -> str:
        """The type of path parameter ``name`` (``integer`` or ``string``)."""
        return self.path_param_types[self.path_params.index(name)]

    @property
    def url_path(self) -> str:
        """The path template including the ``/api/v1`` prefix, as the spec writes it."""
        return API_PREFIX + self.path


#: POSTs that change nothing in Billbee: they only take their query in a body.
READ_ONLY_POSTS = frozenset(
    {"search.search", "products.stock_multiple", "orders.parse_placeholders"}
)


class UnknownOperation(KeyError):
    """Raised for an operation name that is not in the catalog."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown Billbee operation {self.name!r} (see billhive.billbee.operations)"


def _q(
    name: str,
    type_: str,
    *,
    required: bool = False,
    array: bool = False,
    python: str | None = None,
    deprecated: str = "",
) -> QueryParam:
    return QueryParam(
        name=name,
        type=type_,
        required=required,
        is_array=array,
        python=python,
        deprecated=deprecated,
    )


def _op(
    name: str,
    method: str,
    path: str,
    operation_id: str,
    *,
    query: tuple[QueryParam, ...] = (),
    body: bool = False,
    idempotent: bool = True,
    deprecated: str = "",
    source: str = "spec-2023",
    text: tuple[str, ...] = (),
) -> Operation:
    # Path parameters are integers (int64) in the spec, but for the few named in ``text``.
    path_params = tuple(_PATH_PARAM.findall(path))
    return Operation(
        name=name,
        resource=name.partition(".")[0],
        method=method,
        path=path,
        path_params=path_params,
        path_param_types=tuple("string" if p in text else "integer" for p in path_params),
        query_params=query,
        has_body=body,
        idempotent=idempotent,
        operation_id=operation_id,
        deprecated=deprecated,
        source=source,
    )


#: ``page`` and ``pageSize``, which every paged list operation takes first.
_PAGING = (_q("page", "integer"), _q("pageSize", "integer"))

_CATALOG: tuple[Operation, ...] = (
    # -- api_usage -----------------------------------------------------------------------
    _op(
        "api_usage.detail",
        "GET",
        "/apiusage/detail",
        "ApiUsage_GetDetail",
        query=(_q("request.date", "string", python="date"),),
        source="oplist-2026",
    ),
    _op(
        "api_usage.summary",
        "GET",
        "/apiusage",
        "ApiUsage_GetSummary",
        query=(_q("request.date", "string", python="date"),),
        source="oplist-2026",
    ),
    # -- cloud_storages ------------------------------------------------------------------
    _op("cloud_storages.list", "GET", "/cloudstorages", "CloudStorageApi_GetList"),
    # -- customer_addresses --------------------------------------------------------------
    _op(
        "customer_addresses.create",
        "POST",
        "/customer-addresses",
        "CustomerAddresses_Create",
        body=True,
        idempotent=False,
    ),
    _op("customer_addresses.get", "GET", "/customer-addresses/{id}", "CustomerAddresses_GetOne"),
    _op(
        "customer_addresses.list",
        "GET",
        "/customer-addresses",
        "CustomerAddresses_GetAll",
        query=(*_PAGING,),
    ),
    _op(
        "customer_addresses.update",
        "PUT",
        "/customer-addresses/{id}",
        "CustomerAddresses_Update",
        body=True,
    ),
    # -- customers -----------------------------------------------------------------------
    _op(
        "customers.add_address",
        "POST",
        "/customers/{id}/addresses",
        "Customer_AddCustomerAddress",
        body=True,
        idempotent=False,
    ),
    _op("customers.create", "POST", "/customers", "Customer_Create", body=True, idempotent=False),
    _op("customers.get", "GET", "/customers/{id}", "Customer_GetOne"),
    _op("customers.get_address", "GET", "/customers/addresses/{id}", "Customer_GetCustomerAddress"),
    _op("customers.list", "GET", "/customers", "Customer_GetAll", query=(*_PAGING,)),
    _op(
        "customers.list_addresses",
        "GET",
        "/customers/{id}/addresses",
        "Customer_GetCustomerAddresses",
        query=(*_PAGING,),
    ),
    _op(
        "customers.list_orders",
        "GET",
        "/customers/{id}/orders",
        "Customer_GetCustomerOrders",
        query=(*_PAGING,),
    ),
    _op(
        "customers.patch_address",
        "PATCH",
        "/customers/addresses/{id}",
        "Customer_PatchAddress",
        body=True,
        deprecated="often times out at Billbee; use customer_addresses.update "
        "(PUT /customer-addresses/{id}), which does the same job",
    ),
    _op("customers.update", "PUT", "/customers/{id}", "Customer_Update", body=True),
    _op(
        "customers.update_address",
        "PUT",
        "/customers/addresses/{id}",
        "Customer_UpdateAddress",
        body=True,
    ),
    # -- enums ---------------------------------------------------------------------------
    _op(
        "enums.account_sync_states",
        "GET",
        "/enums/accountsyncstate",
        "EnumApi_GetAccountSyncState",
        source="swagger-2024",
    ),
    _op("enums.order_states", "GET", "/enums/orderstates", "EnumApi_GetOrderStates"),
    _op("enums.payment_types", "GET", "/enums/paymenttypes", "EnumApi_GetPaymentTypes"),
    _op("enums.shipment_types", "GET", "/enums/shipmenttypes", "EnumApi_GetShipmentTypes"),
    _op("enums.shipping_carriers", "GET", "/enums/shippingcarriers", "EnumApi_GetShippingCarriers"),
    _op(
        "enums.shop_account_types",
        "GET",
        "/enums/shopaccounttype",
        "EnumApi_GetShopAccountType",
        source="swagger-2024",
    ),
    # -- events --------------------------------------------------------------------------
    _op(
        "events.list",
        "GET",
        "/events",
        "EventApi_GetList",
        query=(
            *_PAGING,
            _q("minDate", "string"),
            _q("maxDate", "string"),
            _q("typeId", "integer", array=True),
            _q("orderId", "integer"),
        ),
    ),
    # -- layouts -------------------------------------------------------------------------
    _op("layouts.list", "GET", "/layouts", "LayoutApi_GetList"),
    # -- orders --------------------------------------------------------------------------
    _op(
        "orders.add_shipment",
        "POST",
        "/orders/{id}/shipment",
        "OrderApi_AddShipment",
        body=True,
        idempotent=False,
    ),
    _op(
        "orders.add_message",
        "POST",
        "/orders/{id}/message",
        "OrderApi_Message",
        body=True,
        idempotent=False,
        source="swagger-2024",
    ),
    _op(
        "orders.add_tags",
        "POST",
        "/orders/{id}/tags",
        "OrderApi_TagsCreate",
        body=True,
        idempotent=False,
    ),
    _op(
        "orders.add_tags_multiple",
        "POST",
        "/orders/tags",
        "OrderApi_TagsCreateMultiple",
        body=True,
        idempotent=False,
        source="oplist-2026",
    ),
    _op(
        "orders.create",
        "POST",
        "/orders",
        "OrderApi_PostNewOrder",
        query=(_q("shopId", "integer", deprecated="set ApiAccountId in the order instead"),),
        body=True,
        idempotent=False,
    ),
    _op(
        "orders.create_delivery_note",
        "POST",
        "/orders/CreateDeliveryNote/{id}",
        "OrderApi_CreateDeliveryNote",
        query=(_q("includePdf", "boolean"), _q("sendToCloudId", "integer")),
        idempotent=False,
    ),
    _op(
        "orders.create_multiple",
        "POST",
        "/orders/createmultiple",
        "OrderApi_CreateMultiple",
        body=True,
        idempotent=False,
        source="oplist-2026",
    ),
    _op(
        "orders.create_invoice",
        "POST",
        "/orders/CreateInvoice/{id}",
        "OrderApi_CreateInvoice",
        query=(
            _q("includeInvoicePdf", "boolean"),
            _q("templateId", "integer"),
            _q("sendToCloudId", "integer"),
        ),
        idempotent=False,
    ),
    _op(
        "orders.find_by_ext_ref",
        "GET",
        "/orders/findbyextref/{extRef}",
        "OrderApi_GetByExtRef",
        text=("extRef",),
    ),
    _op(
        "orders.find_by_partner",
        "GET",
        "/orders/find/{id}/{partner}",
        "OrderApi_Find",
        deprecated="use orders.find_by_ext_ref (GET /orders/findbyextref/{extRef})",
        text=("id", "partner"),
    ),
    _op(
        "orders.get",
        "GET",
        "/orders/{id}",
        "OrderApi_Get",
        query=(_q("articleTitleSource", "integer"),),
    ),
    _op(
        "orders.list",
        "GET",
        "/orders",
        "OrderApi_GetList",
        query=(
            *_PAGING,
            _q("minOrderDate", "string"),
            _q("maxOrderDate", "string"),
            _q("shopId", "integer", array=True),
            _q("orderStateId", "integer", array=True),
            _q("tag", "string", array=True),
            _q("minimumBillBeeOrderId", "integer"),
            _q("modifiedAtMin", "string"),
            _q("modifiedAtMax", "string"),
            _q("articleTitleSource", "integer"),
            _q("excludeTags", "boolean"),
        ),
    ),
    _op(
        "orders.list_invoices",
        "GET",
        "/orders/invoices",
        "OrderApi_GetInvoiceList",
        query=(
            *_PAGING,
            _q("minInvoiceDate", "string"),
            _q("maxInvoiceDate", "string"),
            _q("shopId", "integer", array=True),
            _q("orderStateId", "integer", array=True),
            _q("tag", "string", array=True),
            _q("minPayDate", "string"),
            _q("maxPayDate", "string"),
            _q("includePositions", "boolean"),
            _q("excludeTags", "boolean"),
        ),
    ),
    _op(
        "orders.parse_placeholders",
        "POST",
        "/orders/{id}/parse-placeholders",
        "OrderApi_ParsePlaceholders",
        body=True,
    ),
    _op("orders.patch", "PATCH", "/orders/{id}", "OrderApi_PatchOrder", body=True),
    _op("orders.patchable_fields", "GET", "/orders/PatchableFields", "OrderApi_GetPatchableFields"),
    _op(
        "orders.send_message",
        "POST",
        "/orders/{id}/send-message",
        "OrderApi_SendMessage",
        body=True,
        idempotent=False,
    ),
    _op("orders.set_tags", "PUT", "/orders/{id}/tags", "OrderApi_TagsUpdate", body=True),
    _op(
        "orders.trigger_event",
        "POST",
        "/orders/{id}/trigger-event",
        "OrderApi_TriggerEvent",
        body=True,
        idempotent=False,
    ),
    _op("orders.update_state", "PUT", "/orders/{id}/orderstate", "OrderApi_UpdateState", body=True),
    # -- products ------------------------------------------------------------------------
    _op("products.categories", "GET", "/products/category", "Article_GetCategory"),
    _op(
        "products.create", "POST", "/products", "Article_CreateArticle", body=True, idempotent=False
    ),
    _op("products.delete", "DELETE", "/products/{id}", "Article_DeleteArticle"),
    _op("products.delete_image", "DELETE", "/products/images/{imageId}", "Article_DeleteImage"),
    _op(
        "products.delete_images",
        "POST",
        "/products/images/delete",
        "Article_DeleteImages",
        body=True,
    ),
    _op(
        "products.delete_product_image",
        "DELETE",
        "/products/{productId}/images/{imageId}",
        "Article_DeleteImageFromProduct",
    ),
    _op(
        "products.get",
        "GET",
        "/products/{id}",
        "Article_GetArticle",
        query=(_q("lookupBy", "string"),),
        text=("id",),
    ),
    _op(
        "products.get_custom_field", "GET", "/products/custom-fields/{id}", "Article_GetCustomField"
    ),
    _op("products.get_image", "GET", "/products/images/{imageId}", "Article_GetImage"),
    _op(
        "products.get_product_image",
        "GET",
        "/products/{productId}/images/{imageId}",
        "Article_GetImageFromProduct",
    ),
    _op(
        "products.list",
        "GET",
        "/products",
        "Article_GetList",
        query=(
            *_PAGING,
            _q("minCreatedAt", "string"),
            _q("minimumBillBeeArticleId", "integer"),
            _q("maximumBillBeeArticleId", "integer"),
        ),
    ),
    _op(
        "products.list_custom_fields",
        "GET",
        "/products/custom-fields",
        "Article_GetCustomFields",
        query=(*_PAGING,),
    ),
    _op("products.list_images", "GET", "/products/{productId}/images", "Article_GetImages"),
    _op("products.patch", "PATCH", "/products/{id}", "Article_PatchArticle", body=True),
    _op(
        "products.patchable_fields",
        "GET",
        "/products/PatchableFields",
        "Article_GetPatchableFields",
    ),
    _op(
        "products.put_images",
        "PUT",
        "/products/{productId}/images",
        "Article_PutImages",
        query=(_q("replace", "boolean"),),
        body=True,
    ),
    _op(
        "products.put_product_image",
        "PUT",
        "/products/{productId}/images/{imageId}",
        "Article_PutImage",
        body=True,
    ),
    _op(
        "products.reserved_amount",
        "GET",
        "/products/reservedamount",
        "Article_GetReservedAmount",
        query=(
            _q("id", "string", required=True),
            _q("lookupBy", "string"),
            _q("stockId", "integer"),
        ),
    ),
    _op(
        "products.stock_multiple",
        "POST",
        "/products/stockmultiple",
        "Article_GetStockMultiple",
        query=(*_PAGING, _q("modifiedSince", "string")),
        body=True,
        source="oplist-2026",
    ),
    _op("products.stocks", "GET", "/products/stocks", "Article_GetStocks"),
    _op("products.update_stock", "POST", "/products/updatestock", "Article_UpdateStock", body=True),
    _op(
        "products.update_stock_code",
        "POST",
        "/products/updatestockcode",
        "Article_UpdateStockCode",
        body=True,
    ),
    _op(
        "products.update_stock_multiple",
        "POST",
        "/products/updatestockmultiple",
        "Article_UpdateStockMultiple",
        body=True,
    ),
    # -- provisioning --------------------------------------------------------------------
    _op(
        "provisioning.create_account",
        "POST",
        "/automaticprovision/createaccount",
        "AutomaticProvisioning_CreateAccount",
        body=True,
        idempotent=False,
    ),
    _op(
        "provisioning.terms_info",
        "GET",
        "/automaticprovision/termsinfo",
        "AutomaticProvisioning_TermsInfo",
    ),
    # -- search --------------------------------------------------------------------------
    _op("search.search", "POST", "/search", "Search_Search", body=True),
    # -- shipments -----------------------------------------------------------------------
    _op(
        "shipments.create",
        "POST",
        "/shipment/shipment",
        "Shipment_PostShipment",
        body=True,
        idempotent=False,
    ),
    _op(
        "shipments.create_multiple",
        "POST",
        "/shipment/shipmentmultiple",
        "Shipment_PostShipmentMultiple",
        body=True,
        idempotent=False,
        source="oplist-2026",
    ),
    _op(
        "shipments.list",
        "GET",
        "/shipment/shipments",
        "Shipment_GetList",
        query=(
            *_PAGING,
            _q("createdAtMin", "string"),
            _q("createdAtMax", "string"),
            _q("orderId", "integer"),
            _q("minimumShipmentId", "integer"),
            _q("shippingProviderId", "integer"),
        ),
    ),
    _op(
        "shipments.ping",
        "GET",
        "/shipment/ping",
        "Shipment_GetPing",
        deprecated="no replacement: a cheap read such as shipments.shipping_carriers tests "
        "the connection",
    ),
    _op(
        "shipments.ship_with_label",
        "POST",
        "/shipment/shipwithlabel",
        "Shipment_ShipWithLabel",
        body=True,
        idempotent=False,
    ),
    _op(
        "shipments.ship_with_label_multiple",
        "POST",
        "/shipment/shipwithlabelmultiple",
        "Shipment_ShipWithLabelMultiple",
        body=True,
        idempotent=False,
        source="oplist-2026",
    ),
    _op(
        "shipments.shipping_carriers",
        "GET",
        "/shipment/shippingcarriers",
        "Shipment_GetShippingCarrier",
    ),
    _op(
        "shipments.shipping_providers",
        "GET",
        "/shipment/shippingproviders",
        "Shipment_GetShippingproviders",
    ),
    # -- shop_accounts -------------------------------------------------------------------
    _op(
        "shop_accounts.list",
        "GET",
        "/shopaccounts",
        "ShopAccount_QueryShopAccounts",
        query=(*_PAGING,),
        source="swagger-2024",
    ),
    # -- webhooks ------------------------------------------------------------------------
    _op(
        "webhooks.create",
        "POST",
        "/webhooks",
        "WebHookManagement_Post",
        body=True,
        idempotent=False,
    ),
    _op("webhooks.delete", "DELETE", "/webhooks/{id}", "WebHookManagement_Delete", text=("id",)),
    _op("webhooks.delete_all", "DELETE", "/webhooks", "WebHookManagement_DeleteAll"),
    _op("webhooks.filters", "GET", "/webhooks/filters", "WebHookManagement_GetFilters"),
    _op("webhooks.get", "GET", "/webhooks/{id}", "WebHookManagement_Lookup", text=("id",)),
    _op("webhooks.list", "GET", "/webhooks", "WebHookManagement_Get"),
    _op(
        "webhooks.update",
        "PUT",
        "/webhooks/{id}",
        "WebHookManagement_Put",
        body=True,
        text=("id",),
    ),
)

#: Every operation by name.
OPERATIONS: dict[str, Operation] = {op.name: op for op in _CATALOG}

#: Operations Billbee deprecated, by name (the value says what to use instead).
DEPRECATED: dict[str, str] = {op.name: op.deprecated for op in _CATALOG if op.deprecated}

#: Every resource name (``orders``, ``products`` ...), sorted.
RESOURCES: tuple[str, ...] = tuple(sorted({op.resource for op in _CATALOG}))


def get_operation(name: str) -> Operation:
    """The operation called ``name``; raises UnknownOperation for a name not in the catalog."""
    try:
        return OPERATIONS[name]
    except KeyError:
        raise UnknownOperation(name) from None
