"""Hardware targets: the schema, the strict TOML loader, the preset registry and overrides."""

from models.hardware.dtypes import DTYPE_BITS, DTYPE_INDEX, DTYPES, FALLBACK, check_dtype, fallback_chain
from models.hardware.loader import TargetFileError, check_target, load_target_file, parse_target, target_to_toml
from models.hardware.registry import (
    DATA_DIR,
    TARGETS_DIR,
    available_targets,
    get_target,
    load_all_targets,
    scan_targets,
    target_dirs,
    with_overrides,
)
from models.hardware.schema import (
    ENGINE_KINDS,
    FIELD_SPECS,
    MEMORY_KINDS,
    OP_KINDS,
    TARGET_CLASSES,
    Engine,
    MemoryLevel,
    Target,
    field_spec,
)

__all__ = [
    "DATA_DIR",
    "DTYPES",
    "DTYPE_BITS",
    "DTYPE_INDEX",
    "ENGINE_KINDS",
    "FALLBACK",
    "FIELD_SPECS",
    "MEMORY_KINDS",
    "OP_KINDS",
    "TARGETS_DIR",
    "TARGET_CLASSES",
    "Engine",

    "MemoryLevel",
    "Target",
    "TargetFileError",
    "available_targets",
    "check_dtype",
    "check_target",
    "fallback_chain",
    "field_spec",
    "get_target",
    "load_all_targets",
    "load_target_file",
    "parse_target",
    "scan_targets",
    "target_dirs",
    "target_to_toml",
    "with_overrides",
]
