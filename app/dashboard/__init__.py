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
"""
