"""The OpenAPI document, the docs page, and what answers outside the document."""

import pytest

from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db


def test_an_unknown_operation_is_a_json_404(api):
    assert error_of(api.get("/nothing/here"), 404)["code"] == "not_found"


def test_the_document_and_the_docs_are_served(client, db):
    document = client.get("/api/v1/openapi.json").json()
    assert document["info"]["title"] == "Gauntlet API" and "/api/v1/runs" in document["paths"]
    assert document["components"]["securitySchemes"]["TokenOrSession"]["scheme"] == "bearer"
    assert client.get("/api/v1/docs").status_code == 200
