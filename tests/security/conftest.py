"""Fixtures of the dashboard security tests: the browser fixtures of tests/ui, and one
``tradespace serve`` per module whose user target folder holds planted files (a target whose
texts are script payloads, a broken target file)."""

from __future__ import annotations

from tests.ui.conftest import (  # noqa: F401 - fixtures and the skip hook, registered here too
    _chromium_required,
    browser_context_args,
    browser_type_launch_args,
    pytest_collection_modifyitems,
)
