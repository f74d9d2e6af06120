"""`kpiml serve`: a FastAPI service that scores rows with a model bundle and logs every decision.

Modules: `config` (settings), `schema` (request/response models from the input contract),
`decisions` (operating point and reasons adapters), `scorer` and `fastpath` (scoring),
`batcher` (micro-batches with group commit), `decision_log` (durable log and its reader),
`metrics` (Prometheus text), `source` (bundle or MLflow registry, hot swap), `openapi`, `app`
(the factory). Only light modules are imported here, so `import kpiml.serving` stays cheap.
"""

from kpiml.serving.config import ServeConfig
from kpiml.serving.decision_log import compact_decision_log, read_decision_log

__all__ = ["ServeConfig", "compact_decision_log", "create_app", "read_decision_log"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from kpiml.serving.app import create_app

        return create_app
    raise AttributeError(name)
