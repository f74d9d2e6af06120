"""The FastAPI app factory of `kpiml serve`: endpoints, safety checks, metrics, lifecycle.

Everything lives in one `Service` object made by `create_app(config)` (no module globals), so
tests build as many apps as they like and uvicorn workers build their own with
`app_from_env`. The request body of `/predict` is read and checked by hand rather than by a
FastAPI body parameter: the size cap applies while reading (413 before a huge body is held in
memory), the row count is checked before validation (413), and validation uses the schema of
the model version being served *now*, which changes when a new version is swapped in. The
OpenAPI document is generated from the same schema.

Module-level imports of FastAPI are deliberate: FastAPI resolves endpoint annotations from this
module's globals. Only `kpiml serve` imports this module, so `kpiml --help` stays fast.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import itertools
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response

from kpiml.serving.config import ServeConfig
from kpiml.serving.metrics import Metrics

if TYPE_CHECKING:
    from kpiml.serving.source import LoadedModel

log = logging.getLogger("kpiml.serve")
ENDPOINTS = ("/predict", "/health", "/model", "/metrics")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_COLUMNAR_ROWS = 32  # below this pydantic is as fast
SWITCH_INTERVAL = 0.001  # seconds; see Service.lifespan
_LANE_HEADERS = frozenset((b"content-length", b"x-request-id", b"x-api-key", b"authorization"))  # all the lane reads
_ERROR_KIND = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type", 422: "invalid"}


class ApiError(Exception):
    """A refusal with its status; rendered as an ErrorResponse body."""

    def __init__(self, status: int, detail: str | list[dict[str, Any]], headers: dict[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.status, self.detail, self.headers = status, detail, headers


class Service:
    """The state one app serves from: model (swappable), decision log, batcher and metrics."""

    def __init__(self, config: ServeConfig) -> None:
        from kpiml.serving.source import ModelSource, build_loaded

        self.config = config
        self.started = time.monotonic()
        self.metrics = Metrics(config.metrics_dir)
        self.source = ModelSource(config)
        key = self.source.version_key()
        self.model: LoadedModel = build_loaded(config, key, self.source.local_bundle(key))
        self.api_key = config.api_key()
        self.openapi_cache: dict[str, Any] = {}
        self.batcher: Any = None
        self.reloader: Any = None
        self._id_prefix = secrets.token_hex(6)
        self._ids = itertools.count(1)
        self._set_model_gauge()

    def swap(self, model: LoadedModel) -> None:
        """Serve `model` from now on (one reference assignment; in-flight rows keep theirs)."""
        self.model = model
        self.openapi_cache.clear()
        self._set_model_gauge()

    def _set_model_gauge(self) -> None:
        self.metrics.set_gauge("kpiml_model_info", 1.0, {"version": self.model.version}, only=True)

    def check_key(self, headers: Mapping[str, str]) -> None:
        """401 unless the request carries the API key (X-API-Key or Authorization: Bearer)."""
        if self.api_key is None:
            return
        given = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if given is None and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not given or not hmac.compare_digest(given.encode(), self.api_key.encode()):
            raise ApiError(401, "Missing or wrong API key: send it in the X-API-Key header", {"WWW-Authenticate": "ApiKey"})

    def request_id(self, headers: Mapping[str, str]) -> str:
        """The caller's X-Request-ID when it is a sane token, else a new unique one (a random
        per-process prefix and a counter: no system call per request)."""
        given = headers.get("x-request-id", "")
        return given if _REQUEST_ID.match(given) else f"{self._id_prefix}-{next(self._ids):x}"

    async def predict(self, headers: Mapping[str, str], body: bytes) -> tuple[str, bytes]:
        """The request id and response body of a /predict call; ApiError for a refusal."""
        from pydantic import ValidationError

        self.check_key(headers)
        rid = self.request_id(headers)
        rows, single = parse_rows(body, self.config.max_rows)
        model = self.model
        # many rows: a columnar check of what is certainly valid first (pydantic per row is a
        # tenth of a second for 10,000); pydantic for the rest, and for every refusal
        validated = model.column_check(rows) if len(rows) >= _COLUMNAR_ROWS and model.column_check is not None else None
        if validated is None:
            try:
                validated = model.rows_adapter.validate_python(rows)
            except ValidationError as exc:
                raise ApiError(422, validation_errors(exc, single)) from None
        return rid, await self.batcher.submit(model, validated, rid)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        from kpiml.serving.batcher import MicroBatcher
        from kpiml.serving.decision_log import DecisionLogWriter
        from kpiml.serving.source import Reloader

        writer = DecisionLogWriter(self.config.decision_log)
        self.batcher = MicroBatcher(writer, self.metrics, self.config.batch_rows, window=self.config.batch_window_ms / 1000)
        self.batcher.start()
        self.reloader = Reloader(self.source, self.model, self.swap, lambda r: self.metrics.inc("kpiml_model_reloads_total", {"result": r}), self.config.poll_seconds)
        self.reloader.start()
        publisher = asyncio.get_running_loop().create_task(self._publish_metrics())
        gc.freeze()  # the model's objects never become garbage: keep them out of GC passes
        # The log-commit thread retakes the interpreter lock after its write to hand the answers
        # back; while the loop scores a batch that waits for the switch interval (5 ms by
        # default), which every answer of the batch would wait too.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, SWITCH_INTERVAL))
        log.info("event loop %s, HTTP parser %s", _loop_kind(), _http_kind())
        try:
            yield
        finally:
            sys.setswitchinterval(switch)
            publisher.cancel()
            self.reloader.stop()
            await self.batcher.stop()
            writer.close()
            self.metrics.publish()
            self.source.cleanup()

    async def _publish_metrics(self) -> None:
        while self.config.metrics_dir is not None:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(self.metrics.publish)


def _loop_kind() -> str:
    """uvloop or asyncio: uvicorn picks uvloop by itself when it is installed."""
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def _http_kind() -> str:
    """httptools or h11: the HTTP protocol module uvicorn imported (before the app's startup)."""
    loaded = [name for name in ("httptools", "h11") if f"uvicorn.protocols.http.{name}_impl" in sys.modules]
    return "/".join(loaded) or "not uvicorn's"


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body exceeds the limit of {limit:,} bytes; send fewer rows per request")


async def read_body(headers: Mapping[str, str], receive: Callable[[], Awaitable[Any]], limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes (from
    Content-Length before reading, or while reading a chunked body)."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "The client closed the connection before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _no_constants(name: str) -> Any:
    """NaN and Infinity are not JSON; Python's parser would accept them."""
    raise ValueError(f"{name} is not a JSON value; send null for a missing value")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)  # json.loads builds one per call


def parse_rows(body: bytes, max_rows: int) -> tuple[list[Any], bool]:
    """The rows of a JSON body (an object is one row, an array a list of rows) and whether it
    was a single object; 422 for non-JSON or other shapes, 413 above `max_rows`."""
    try:
        # what json.loads does with bytes: UTF-8, -16 or -32 told by the first bytes
        data = _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, [{"loc": ["body"], "msg": f"Body is not valid JSON: {exc}"[:300], "type": "json_invalid"}]) from None
    if isinstance(data, dict):
        return [data], True
    if not isinstance(data, list):
        raise ApiError(422, [{"loc": ["body"], "msg": "Body must be one row (a JSON object) or a list of rows (a JSON array)", "type": "model_type"}])
    if not data:
        raise ApiError(422, [{"loc": ["body"], "msg": "The list of rows is empty", "type": "too_short"}])
    if len(data) > max_rows:
        raise ApiError(413, f"{len(data):,} rows exceed the limit of {max_rows:,} rows per request; split the request")
    return data, False


def validation_errors(exc: Any, single: bool) -> list[dict[str, Any]]:
    """pydantic errors as FastAPI-style items whose `loc` ends at the column name."""
    out = []
    for err in exc.errors(include_url=False)[:100]:
        loc = list(err["loc"])
        if single and loc and isinstance(loc[0], int):
            loc = loc[1:]
        cut = next((i for i, part in enumerate(loc) if isinstance(part, str)), None)
        loc = loc if cut is None else loc[: cut + 1]
        out.append({"loc": ["body", *loc], "msg": err["msg"], "type": err["type"]})
    return out


def create_app(config: ServeConfig) -> FastAPI:
    """Build the service: load the model (verified), then wire endpoints, errors and metrics."""
    from kpiml.serving.openapi import install_openapi

    service = Service(config)
    app = ServiceApp(title="kpiml model service", version="1", lifespan=service.lifespan, description=_DESCRIPTION)
    app.state.service = service
    _install_errors(app, service)
    _install_routes(app, service)
    install_openapi(app, service)
    app.add_middleware(ObserveMiddleware, service=service)
    app.lane = ObserveMiddleware(app.router, service)
    return app


class ServiceApp(FastAPI):
    """FastAPI with the prediction lane in front: `POST /predict` goes straight to it,
    skipping Starlette's middleware stack (error, telemetry and body-limit wrappers of every
    `send`), which costs a tenth of a one-row request's CPU; the lane catches its own errors."""

    lane: ObserveMiddleware | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.lane is not None and scope["type"] == "http" and scope["path"] == "/predict" and scope["method"] == "POST":
            await self.lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def app_from_env() -> FastAPI:
    """uvicorn worker factory (`--workers N`): settings come from the parent via the environment."""
    configure_logging()
    return create_app(ServeConfig.from_env())


def configure_logging() -> None:
    """Service messages (model swaps, failed reloads, internal errors) on stderr, like uvicorn's."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def _install_routes(app: FastAPI, service: Service) -> None:
    from kpiml.serving import schema

    errors: dict[int | str, dict[str, Any]] = {code: {"model": schema.ErrorResponse, "description": text} for code, text in ((401, "Missing or wrong API key"), (413, "Body or row count above the limit"), (422, "A field is missing, of the wrong type, or out of range"))}
    guarded: dict[int | str, dict[str, Any]] = {k: v for k, v in errors.items() if k == 401}

    @app.post("/predict", response_model=schema.PredictResponse, responses=errors, summary="Score one row (a JSON object) or a list of rows (a JSON array)")
    async def predict(request: Request) -> Response:
        # Normally answered by PredictLane before routing; kept for the OpenAPI document and
        # for apps mounted without the lane.
        headers = request.headers
        service.check_key(headers)
        body = await read_body(headers, request.receive, service.config.max_body_bytes)
        rid, answer = await service.predict(headers, body)
        return Response(content=answer, media_type="application/json", headers={"X-Request-ID": rid})

    @app.get("/health", response_model=schema.Health, summary="Liveness and the model version served")
    async def health() -> Response:
        payload = {"status": "ok", "model_version": service.model.version, "uptime_seconds": round(time.monotonic() - service.started, 3)}
        return Response(content=json.dumps(payload), media_type="application/json")

    @app.get("/model", response_model=schema.ModelInfo, responses=guarded, summary="Version, KPI, operating point, training metrics and input contract")
    async def model_info(request: Request) -> Response:
        service.check_key(request.headers)
        return Response(content=json.dumps(model_payload(service), default=str), media_type="application/json")

    @app.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"}, **guarded}, summary="Prometheus metrics: requests, latencies, decisions, errors")
    async def metrics(request: Request) -> Response:
        service.check_key(request.headers)
        return Response(content=service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


def model_payload(service: Service) -> dict[str, Any]:
    m = service.model
    meta = m.bundle.metadata
    kpi = (meta.get("spec") or {}).get("kpi")
    return {"version": m.version, "source": m.source, "problem": m.rule.problem, "kpi": kpi, "operating_point": m.rule.point_dict(), "decision_rule": m.rule.describe(), "training_metrics": meta.get("metrics", {}), "input_contract": m.bundle.contract, "loaded_at": m.loaded_at, "holdout": service.config.holdout}


def _install_errors(app: FastAPI, service: Service) -> None:
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    def body(detail: Any, request: Request) -> dict[str, Any]:
        return {"detail": detail, "request_id": request.headers.get("x-request-id") if _REQUEST_ID.match(request.headers.get("x-request-id", "")) else None}

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse(body(exc.detail, request), status_code=exc.status, headers=exc.headers)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse(body(str(exc.detail), request), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        items = [{"loc": list(e.get("loc", [])), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in exc.errors()]
        return JSONResponse(body(items, request), status_code=422)

    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
        return JSONResponse(body("Internal error while handling the request; the server log has the details", request), status_code=500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, crash)


def _error_body(detail: Any, rid: str | None) -> bytes:
    return json.dumps({"detail": detail, "request_id": rid}).encode("utf-8")


class ObserveMiddleware:
    """Pure ASGI middleware (no per-request task): counts and times every HTTP response, and
    answers POST /predict itself.

    The prediction lane skips Starlette's routing and FastAPI's request machinery, about half
    of the per-request CPU of a one-row prediction under h11, which on two cores is what bounds
    throughput and tail latency. It runs the same checks as the documented route.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], service: Service) -> None:
        self.app, self.service, self.metrics = app, service, service.metrics

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]
        if scope["path"] == "/predict" and scope["method"] == "POST":  # the lane knows its status: no wrapper
            try:
                status[0] = await self.predict_lane(scope, receive, send)
            finally:
                self._count("/predict", status[0], time.perf_counter() - start)
            return

        async def observe(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self._count(scope["path"], status[0], time.perf_counter() - start)

    def _count(self, path: str, status: int, seconds: float) -> None:
        endpoint = path if path in ENDPOINTS else "other"
        self.metrics.inc("kpiml_http_requests_total", {"endpoint": endpoint, "status": str(status)})
        self.metrics.observe("kpiml_http_request_duration_seconds", seconds, {"endpoint": endpoint})
        if status >= 400:
            self.metrics.inc("kpiml_errors_total", {"kind": _ERROR_KIND.get(status, "internal" if status >= 500 else "other")})

    async def predict_lane(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> int:
        """Answer POST /predict; the status sent."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"] if k.lower() in _LANE_HEADERS}
        extra: dict[str, str] = {}
        rid: str | None = headers.get("x-request-id") if _REQUEST_ID.match(headers.get("x-request-id", "")) else None
        try:
            self.service.check_key(headers)
            body = await read_body(headers, receive, self.service.config.max_body_bytes)
            rid, answer = await self.service.predict(headers, body)
            status = 200
        except ApiError as exc:
            status, answer, extra = exc.status, _error_body(exc.detail, rid), exc.headers or {}
        except Exception as exc:
            log.error("internal error on POST /predict: %s", type(exc).__name__, exc_info=exc)
            status, answer = 500, _error_body("Internal error while handling the request; the server log has the details", rid)
        out = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        out += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
        if rid is not None:
            out.append((b"x-request-id", rid.encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": answer})
        return status


_DESCRIPTION = """Scores rows with a kpiml model bundle.

`POST /predict` takes one row (a JSON object) or a list of rows (a JSON array) with every
feature of the model's input contract; the answer gives, per row, the score, the decision
(KPI operating point), its expected value, the top reasons and the model version. Every
prediction is appended to the decision log before it is answered.
"""
