"""Design points: every setting declared once, and the one builder of a point's operator table."""

from models.point.builder import BuiltPoint, build_point, error_proxy_of_formats, format_of_dtype
from models.point.knobs import (
    ALGORITHM_KNOBS,
    ATTENTION_TILINGS,
    FORMAT_CHOICES,
    SCOPES,
    SettingError,
    applicable_knobs,
    engine_param,
    knob,
    setting,
    split_settings,
)

__all__ = [
    "ALGORITHM_KNOBS",
    "ATTENTION_TILINGS",
    "FORMAT_CHOICES",
    "SCOPES",
    "BuiltPoint",
    "SettingError",
    "applicable_knobs",
    "build_point",
    "engine_param",
    "error_proxy_of_formats",
    "format_of_dtype",
    "knob",
    "setting",
    "split_settings",
]
