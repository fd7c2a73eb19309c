"""The Panel dashboard: state classes (no Panel), pure plot-data functions, thin views.

Modules
-------
data
    Pure functions computing what each plot shows (polars frames, numpy arrays).
state
    ``param.Parameterized`` page states; they import neither Panel nor HoloViews.
plots
    Drawing functions (HoloViews) that take the data and convert polars to numpy.
views
    One module per page, laying out widgets bound to a state object.
app
    ``create_app(page)`` factories served by ``tradespace serve``.

The pages are components (``pn.viewable.Viewer`` over their state) a notebook can show and
drive: ``Roofline(targets=["h100-sxm"], workload="llama-2-7b")``, :class:`Compare`,
:class:`Targets`, :class:`Explore`; ``view.state`` is the page state. They are imported on first use, so that
importing :mod:`app.dashboard.state` alone never imports Panel.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Compare", "Explore", "Roofline", "Targets"]

_COMPONENTS = {"Roofline": "app.dashboard.views.roofline", "Compare": "app.dashboard.views.compare",
               "Targets": "app.dashboard.views.targets", "Explore": "app.dashboard.views.explore"}


def __getattr__(name: str) -> Any:
    if name in _COMPONENTS:
        import importlib

        return getattr(importlib.import_module(_COMPONENTS[name]), name)
    raise AttributeError(f"module 'app.dashboard' has no attribute {name!r}")
