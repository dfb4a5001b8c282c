"""`/docs` works with no internet: Swagger UI's files come from the package itself."""

from __future__ import annotations

import re

from tests.api import TestClient


def test_docs_page_loads_nothing_from_another_host(client: TestClient) -> None:
    page = client.get("/docs")

    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert sorted(urls) == [
        "/docs-assets/favicon-32x32.png",
        "/docs-assets/swagger-ui-bundle.js",
        "/docs-assets/swagger-ui.css",
        "/openapi.json",
    ]
    assert "cdn" not in page.text


def test_docs_page_turns_off_the_online_validator(client: TestClient) -> None:
    page = client.get("/docs")

    assert '"validatorUrl": null' in page.text


def test_docs_assets_are_served_from_the_package(client: TestClient) -> None:
    script = client.get("/docs-assets/swagger-ui-bundle.js")
    style = client.get("/docs-assets/swagger-ui.css")

    assert script.status_code == 200
    assert script.headers["content-type"].split(";")[0] in {
        "text/javascript",
        "application/javascript",
    }
    assert "SwaggerUIBundle" in script.text
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")


def test_the_swagger_ui_licence_is_shipped_with_it(client: TestClient) -> None:
    assert "Apache License" in client.get("/docs-assets/LICENSE").text


def test_redoc_is_off(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404
