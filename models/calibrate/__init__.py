"""Calibration on this machine: micro-benchmarks that write a target file, and live validation.

``tradespace calibrate`` (:func:`calibrate`) measures the host's bandwidths, GEMM rates, exp
throughput and call overhead and writes a target of provenance ``calibrated-microbenchmark``;
``tradespace validate --host`` (:func:`run_host_validation`) times real workloads the
calibration did not use and compares them with the model's prediction for that target.
PyTorch is an optional extra: ``pip install -e ".[measure]"``.
"""

from models.calibrate.calibration import (
    DEVICES,
    MEASURE_EXTRA,
    CalibrationError,
    CalibrationResult,
    build_target,
    calibrate,
    default_out_path,
    fit_size_curve,
    half_m_from_curve,
    kind_efficiencies,
    measure,
    measurements_path,
    require_torch,
    write_calibration,
)
from models.calibrate.host import CacheLevel, HostInfo, host_info, parse_cache_size, parse_cpuinfo
from models.calibrate.workloads import (
    HostCase,
    HostCaseResult,
    HostValidation,
    host_cases,
    run_host_validation,
    scaled_llm_config,
)

__all__ = [
    "DEVICES",
    "MEASURE_EXTRA",
    "CacheLevel",
    "CalibrationError",
    "CalibrationResult",
    "HostCase",
    "HostCaseResult",
    "HostInfo",
    "HostValidation",
    "build_target",
    "calibrate",
    "default_out_path",
    "fit_size_curve",
    "half_m_from_curve",
    "kind_efficiencies",
    "host_cases",
    "host_info",
    "measure",
    "measurements_path",
    "parse_cache_size",
    "parse_cpuinfo",
    "require_torch",
    "run_host_validation",
    "scaled_llm_config",
    "write_calibration",
]
