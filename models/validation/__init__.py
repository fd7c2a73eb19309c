"""Validation suite: published numbers, registered predictors and the runner."""

from models.validation.suite import (
    GROUPS,
    KINDS,
    ROLES,
    VALIDATION_DIR,
    CaseResult,
    SuiteResult,
    ValidationCase,
    ValidationFileError,
    evaluate_case,
    get_predictor,
    load_case_file,
    load_cases,
    predictor,
    registered_predictors,
    relative_error,
    run_suite,
)

__all__ = [
    "GROUPS",
    "KINDS",
    "ROLES",
    "VALIDATION_DIR",
    "CaseResult",
    "SuiteResult",
    "ValidationCase",
    "ValidationFileError",
    "evaluate_case",
    "get_predictor",
    "load_case_file",
    "load_cases",
    "predictor",
    "registered_predictors",
    "relative_error",
    "run_suite",
]
