"""Feature preprocessing: the ColumnTransformer builder and kpiml's own sklearn transformers."""

from kpiml.features._builder import FLAVOURS, build_preprocessor, column_kind, feature_kinds
from kpiml.features._transformers import (
    DateParts,
    FeaturePruner,
    FrameCoercer,
    HingeBasis,
    OutlierClipper,
    TextEmbedder,
    coerce_column,
)

__all__ = [
    "FLAVOURS",
    "DateParts",
    "FeaturePruner",
    "FrameCoercer",
    "HingeBasis",
    "OutlierClipper",
    "TextEmbedder",
    "build_preprocessor",
    "coerce_column",
    "column_kind",
    "feature_kinds",
]
