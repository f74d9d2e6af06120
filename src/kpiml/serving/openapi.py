"""The OpenAPI document, with the request schema of the model version being served.

`/predict` reads its body by hand (see app.py), so FastAPI cannot infer the request schema;
it is added here from the row model built from the input contract, and rebuilt when a new
model version is swapped in. When an API key is required, the operations that need it say so
(`X-API-Key` header), which also lets generated clients and schema-based testers send it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from kpiml.serving.app import Service

GUARDED = (("/predict", "post"), ("/model", "get"), ("/metrics", "get"))


def request_body(max_rows: int) -> dict[str, Any]:
    row = {"$ref": "#/components/schemas/Row"}
    rows = {"type": "array", "items": row, "minItems": 1, "maxItems": max_rows}
    return {"required": True, "content": {"application/json": {"schema": {"oneOf": [row, rows]}}}}


def build_openapi(app: FastAPI, service: Service) -> dict[str, Any]:
    from fastapi.openapi.utils import get_openapi

    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    row = service.model.row_model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(row.pop("$defs", {}))
    row["description"] = f"One row to score: every feature of model {service.model.version}'s input contract (null only where training saw missing values); identifiers are optional unless a control group is held out."
    schemas["Row"] = row
    spec["paths"]["/predict"]["post"]["requestBody"] = request_body(service.config.max_rows)
    if service.api_key is not None:
        spec["components"]["securitySchemes"] = {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
        for path, method in GUARDED:
            spec["paths"][path][method]["security"] = [{"ApiKey": []}]
    return spec


def install_openapi(app: FastAPI, service: Service) -> None:
    """Replace the app's `openapi()` with one built (and cached) per served model version."""

    def openapi() -> dict[str, Any]:
        key = service.model.version
        if key not in service.openapi_cache:
            service.openapi_cache[key] = build_openapi(app, service)
        return service.openapi_cache[key]

    app.openapi = openapi  # type: ignore[method-assign]
