"""Subcommands of the ``tradespace`` CLI, one module each (see ``app.cli``)."""
