"""Subcommands of the `vsa-np` command line, one module each (see `vsa_np/cli.py`)."""
