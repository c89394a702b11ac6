"""Subcommands of the `vsa-np` command line, one module each (listed in `vsa_np/cli.py`)."""
