"""Subcommands of `harness`.

Each module here defines ``register(subparsers)``, which adds its subcommand(s) and sets
``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
`harness.cli` discovers the modules, so an area adds a command by adding a module.
"""
