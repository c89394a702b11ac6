"""Subcommands of the `vsa-np` command line, one module each (listed in `vsa_np/cli.py`).

These are the only modules of the package that import inside functions, on purpose: building
the parser (every `vsa-np` call, `--help` included) imports every command module, so each keeps
its models, data readers and plotting out of its top level and imports them in `run`.
"""
