"""Property-based API testing: Schemathesis generates requests from the live /openapi.json.

Valid and invalid bodies, headers and methods are generated from the OpenAPI document of the
running server (whose request schema comes from the model's input contract); every response
must be documented, match its schema, and never be a server error. Invalid data must be
refused and valid data accepted, which holds the generated request schema to what the
service actually does.

Schemathesis's own pytest loader (`schemathesis.pytest.from_fixture`) does not run under
pytest 9, so the test drives its Hypothesis strategies directly.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from .conftest import Server

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_api_keeps_its_contract(server: Server, api_key: str, mode: GenerationMode) -> None:
    """Check that generated requests never get a 5xx or an undocumented / off-schema answer."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")

    @given(case=schema.as_strategy(generation_mode=mode))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def call(case: Any) -> None:
        case.call_and_validate(headers={"X-API-Key": api_key}, timeout=30)

    call()
