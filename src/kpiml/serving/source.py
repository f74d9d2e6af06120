"""Where the served model comes from, and swapping in a new version without dropping requests.

A source is a bundle folder (DIR/model) or an MLflow model URI: `models:/NAME@ALIAS`,
`models:/NAME/VERSION` or `models:/NAME/latest`. Its *version key* is cheap to read (the
SHA-256 of a bundle's manifest, or the registry version an alias points to), so a background
thread can poll it; when it changes the new bundle is loaded (hashes verified), its scorer and
request schema built, and only then the service's reference is replaced in one assignment.
Requests already validated against the old version finish on the old version; a new version
that fails to load is reported and the old one keeps serving.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kpiml.errors import KpimlError
from kpiml.serving.config import ServeConfig

log = logging.getLogger("kpiml.serve")
_REGISTRY = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))$")


@dataclass
class LoadedModel:
    """One model version with everything built from it; immutable once serving."""

    version: str
    source: str
    bundle: Any
    rule: Any
    scorer: Any
    row_model: Any
    rows_adapter: Any
    loaded_at: str
    fast_path: str
    column_check: Any = None  # columnar.ColumnCheck: big requests checked without pydantic


def _manifest_key(path: Path) -> str:
    manifest = Path(path) / "manifest.json"
    if not manifest.is_file():
        raise KpimlError(f"Model folder {path} is not a kpiml bundle (no manifest.json)", expected="the model/ folder written by `kpiml train`", fix="pass DIR/model of a training run, or models:/NAME@ALIAS")
    return "bundle-" + hashlib.sha256(manifest.read_bytes()).hexdigest()[:12]


class ModelSource:
    """Resolves the configured source to (version, local bundle folder) and loads it."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.uri = config.model
        self.match = _REGISTRY.match(config.model)
        self._downloads = Path(tempfile.mkdtemp(prefix="kpiml-serve-")) if self.match else None

    @property
    def is_registry(self) -> bool:
        return self.match is not None

    def version_key(self) -> str:
        """The current version of the source, without loading it."""
        if self.match is None:
            return _manifest_key(Path(self.uri))
        return f"{self.match['name']}/{self._registry_version()}"

    def _client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.config.tracking_uri) if self.config.tracking_uri else MlflowClient()

    def _registry_version(self) -> str:
        assert self.match is not None
        name, alias, version = self.match["name"], self.match["alias"], self.match["version"]
        try:
            client = self._client()
            if alias:
                return str(client.get_model_version_by_alias(name, alias).version)
            if version == "latest":
                return str(max(int(v.version) for v in client.search_model_versions(f"name='{name}'")))
            return str(int(version))
        except KpimlError:
            raise
        except Exception as exc:
            raise KpimlError(f"Cannot resolve {self.uri} in the MLflow registry ({type(exc).__name__})", expected="a registered model name with that alias or version", got=str(exc)[:200], fix="check the name and alias (mlflow ui), and --tracking-uri or MLFLOW_TRACKING_URI") from None

    def local_bundle(self, key: str) -> Path:
        """The bundle folder of version `key` (downloaded from the registry when needed)."""
        if self.match is None:
            return Path(self.uri)
        import os

        import mlflow

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars in the service log
        assert self._downloads is not None
        target = self._downloads / key.replace("/", "-")
        if not target.exists():
            tmp = Path(tempfile.mkdtemp(dir=self._downloads))
            if self.config.tracking_uri:
                mlflow.set_tracking_uri(self.config.tracking_uri)
            mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{key}", dst_path=str(tmp))
            tmp.rename(target)
        found = [p.parent for p in sorted(target.rglob("manifest.json")) if (p.parent / "contract.json").is_file()]
        if not found:
            raise KpimlError(f"Model version {key} in the registry holds no kpiml bundle", fix="register models with `kpiml train` (it logs the bundle as an MLflow model)")
        return found[0]

    def cleanup(self) -> None:
        if self._downloads is not None:
            shutil.rmtree(self._downloads, ignore_errors=True)


def build_loaded(config: ServeConfig, version: str, path: Path) -> LoadedModel:
    """Load and verify a bundle, then build its decision rule, scorer and request schema."""
    from pydantic import TypeAdapter

    from kpiml.artifact import load_bundle
    from kpiml.serving.columnar import ColumnCheck
    from kpiml.serving.decisions import rule_for
    from kpiml.serving.fastpath import compile_model
    from kpiml.serving.schema import row_model
    from kpiml.serving.scorer import Scorer

    bundle = load_bundle(path)
    rule = rule_for(bundle)
    if config.holdout > 0:
        _check_holdout(bundle, rule)
    fast, how = compile_model(bundle) if config.fast_path else (None, "off (--no-fast-path)")
    scorer = Scorer(bundle, rule, holdout=config.holdout, salt=config.holdout_salt, reasons=config.reasons, fast=fast, check_unseen=config.unseen_categories == "accept")
    model = row_model(bundle.contract, tolerance=config.range_tolerance, unseen=config.unseen_categories, ids_required=config.holdout > 0, value_column=rule.value_column)
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    check = ColumnCheck(bundle.contract, tolerance=config.range_tolerance, unseen=config.unseen_categories, ids_required=config.holdout > 0, value_column=rule.value_column)
    return LoadedModel(version, config.model, bundle, rule, scorer, model, TypeAdapter(list[model]), stamp, how, check if check.usable else None)  # type: ignore[valid-type]


def _check_holdout(bundle: Any, rule: Any) -> None:
    if not rule.acts:
        raise KpimlError(f"--holdout needs a binary model whose decisions are act / do not act; this one is {rule.problem}", fix="drop --holdout for this model")
    if not bundle.contract.get("identifiers"):
        raise KpimlError("--holdout needs an identifier column to assign the control group by its hash, and this model's contract has none", expected="a column with use: identifier in kpiml.yaml", fix="mark the customer id column as an identifier and retrain, or drop --holdout")


class Reloader:
    """Background thread: polls the source's version key and swaps in new versions."""

    def __init__(self, source: ModelSource, current: LoadedModel, swap: Callable[[LoadedModel], None], on_result: Callable[[str], None], interval: float) -> None:
        self.source, self.current, self.swap, self.on_result, self.interval = source, current, swap, on_result, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kpiml-model-reloader", daemon=True)

    def start(self) -> None:
        if self.interval > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def check_once(self) -> bool:
        """Load and swap in the source's version if it changed; True when a swap happened."""
        try:
            key = self.source.version_key()
            if key == self.current.version:
                return False
            loaded = build_loaded(self.source.config, key, self.source.local_bundle(key))
        except Exception as exc:  # the old version keeps serving; the failure is counted and logged
            log.error("model reload from %s failed: %s", self.source.uri, exc)
            self.on_result("failed")
            return False
        self.swap(loaded)
        self.current = loaded
        self.on_result("swapped")
        log.info("now serving model version %s", key)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_once()
