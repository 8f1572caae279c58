"""Product images."""

from __future__ import annotations

from typing import Any

import httpx
from support.sandbox import data_of


def _product(api: httpx.Client) -> dict[str, Any]:
    product: dict[str, Any] = data_of(api.get("/products"))[0]
    return product


def test_seeded_products_have_one_default_image(api: httpx.Client) -> None:
    images = data_of(api.get(f"/products/{_product(api)['Id']}/images"))
    assert [i["IsDefault"] for i in images] == [True]


def test_put_images_adds_to_the_existing_ones(api: httpx.Client) -> None:
    product_id = _product(api)["Id"]
    api.put(f"/products/{product_id}/images", json=[{"Url": "https://e.com/2.jpg"}])
    assert len(data_of(api.get(f"/products/{product_id}/images"))) == 2


def test_put_images_with_replace_drops_the_old_ones(api: httpx.Client) -> None:
    product_id = _product(api)["Id"]
    api.put(
        f"/products/{product_id}/images",
        params={"replace": "true"},
        json=[{"Url": "https://e.com/n.jpg"}],
    )
    images = data_of(api.get(f"/products/{product_id}/images"))
    assert [(i["Url"], i["IsDefault"]) for i in images] == [("https://e.com/n.jpg", True)]


def test_an_image_without_url_is_invalid_data(api: httpx.Client) -> None:
    assert api.put(f"/products/{_product(api)['Id']}/images", json=[{}]).status_code == 400


def test_an_image_is_found_with_and_without_its_product(api: httpx.Client) -> None:
    product = _product(api)
    image = product["Images"][0]
    assert data_of(api.get(f"/products/{product['Id']}/images/{image['Id']}")) == image
    assert data_of(api.get(f"/products/images/{image['Id']}")) == image


def test_put_one_image_makes_it_the_default_when_asked(api: httpx.Client) -> None:
    product_id = _product(api)["Id"]
    data_of(
        api.put(
            f"/products/{product_id}/images/5",
            json={"Url": "https://e.com/5.jpg", "IsDefault": True},
        )
    )
    images = data_of(api.get(f"/products/{product_id}/images"))
    assert [i["Id"] for i in images if i["IsDefault"]] == [5]


def test_delete_one_image(api: httpx.Client) -> None:
    product = _product(api)
    image_id = product["Images"][0]["Id"]
    data_of(api.delete(f"/products/{product['Id']}/images/{image_id}"))
    assert api.get(f"/products/images/{image_id}").status_code == 404


def test_delete_images_reports_deleted_and_unknown_ids(api: httpx.Client) -> None:
    image_id = _product(api)["Images"][0]["Id"]
    result = data_of(api.post("/products/images/delete", json=[image_id, 42]))
    assert result == {"Deleted": [image_id], "NotFound": [42]}
