"""One module per ``structhw`` subcommand; see :mod:`structhw.cli`."""
