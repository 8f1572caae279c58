"""Product images: list, get, put (one or many), delete (one or many)."""

from __future__ import annotations

from typing import Any

from flask import Response

from billhive.sandbox.envelope import invalid, not_found, ok
from billhive.sandbox.routes.common import Call, Handler
from billhive.sandbox.state import JSON, AccountState


def _product(call: Call) -> JSON:
    product = call.state.products.get(call.path_int("productId"))
    if product is None:
        raise not_found("Product")
    return product


def _locate(state: AccountState, image_id: int) -> tuple[JSON, JSON] | None:
    """The product holding image ``image_id`` and the image, if any."""
    for product in state.products.values():
        for image in product.get("Images", []):
            if image["Id"] == image_id:
                return product, image
    return None


def _stored(call: Call, product: JSON, data: Any, image_id: int | None = None) -> JSON:
    """An ArticleImageRelationApiModel for ``product`` from request data."""
    if not isinstance(data, dict) or not isinstance(data.get("Url"), str) or not data["Url"]:
        raise invalid("Each image needs a Url.")
    return {
        "Id": image_id or call.state.new_id(),
        "Url": data["Url"],
        "ThumbUrl": str(data.get("ThumbUrl") or data["Url"]),
        "Position": int(data.get("Position") or len(product.get("Images", [])) + 1),
        "IsDefault": bool(data.get("IsDefault", False)),
        "ArticleId": product["Id"],
    }


def _normalise_default(product: JSON, default: JSON | None) -> None:
    """Keep exactly one default image (the given one, else the first)."""
    images = product.get("Images", [])
    chosen = default or next((i for i in images if i["IsDefault"]), images[0] if images else None)
    for image in images:
        image["IsDefault"] = image is chosen


def list_images(call: Call) -> Response:
    """GET /products/{productId}/images."""
    return ok(_product(call).get("Images", []))


def put_images(call: Call) -> Response:
    """PUT /products/{productId}/images?replace=...: adds (or replaces) the images."""
    product = _product(call)
    items = call.body()
    if not isinstance(items, list) or not items:
        raise invalid("The body must be a non-empty JSON array of images.")
    if call.query_bool("replace"):
        product["Images"] = []
    added = [_stored(call, product, item) for item in items]
    product.setdefault("Images", []).extend(added)
    _normalise_default(product, next((i for i in added if i["IsDefault"]), None))
    # The spec answers one model: the article's default image after the change.
    return ok(next(i for i in product["Images"] if i["IsDefault"]))


def get_product_image(call: Call) -> Response:
    """GET /products/{productId}/images/{imageId}."""
    product = _product(call)
    image_id = call.path_int("imageId")
    image = next((i for i in product.get("Images", []) if i["Id"] == image_id), None)
    if image is None:
        raise not_found("Image")
    return ok(image)


def put_product_image(call: Call) -> Response:
    """PUT /products/{productId}/images/{imageId}: creates or replaces one image."""
    product = _product(call)
    image_id = call.path_int("imageId")
    image = _stored(call, product, call.body_object(), image_id)
    images = [i for i in product.get("Images", []) if i["Id"] != image_id]
    product["Images"] = [*images, image]
    _normalise_default(product, image if image["IsDefault"] else None)
    return ok(image)


def delete_product_image(call: Call) -> Response:
    """DELETE /products/{productId}/images/{imageId}."""
    product = _product(call)
    image_id = call.path_int("imageId")
    if not any(i["Id"] == image_id for i in product.get("Images", [])):
        raise not_found("Image")
    product["Images"] = [i for i in product["Images"] if i["Id"] != image_id]
    _normalise_default(product, None)
    return ok(None)


def get_image(call: Call) -> Response:
    """GET /products/images/{imageId}."""
    found = _locate(call.state, call.path_int("imageId"))
    if found is None:
        raise not_found("Image")
    return ok(found[1])


def delete_image(call: Call) -> Response:
    """DELETE /products/images/{imageId}."""
    image_id = call.path_int("imageId")
    found = _locate(call.state, image_id)
    if found is None:
        raise not_found("Image")
    product = found[0]
    product["Images"] = [i for i in product["Images"] if i["Id"] != image_id]
    _normalise_default(product, None)
    return ok(None)


def delete_images(call: Call) -> Response:
    """POST /products/images/delete with a list of image ids."""
    ids = call.body()
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise invalid("The body must be a JSON array of image ids.")
    deleted, missing = [], []
    for image_id in ids:
        found = _locate(call.state, image_id)
        if found is None:
            missing.append(image_id)
            continue
        product = found[0]
        product["Images"] = [i for i in product["Images"] if i["Id"] != image_id]
        _normalise_default(product, None)
        deleted.append(image_id)
    return ok({"Deleted": deleted, "NotFound": missing})


def handlers() -> dict[str, Handler]:
    """The image operations this module implements."""
    return {
        "products.list_images": list_images,
        "products.put_images": put_images,
        "products.get_product_image": get_product_image,
        "products.put_product_image": put_product_image,
        "products.delete_product_image": delete_product_image,
        "products.get_image": get_image,
        "products.delete_image": delete_image,
        "products.delete_images": delete_images,
    }
