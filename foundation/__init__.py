"""The bottom layer: what every other package needs and nothing of ours.

* :mod:`foundation.repo`: the repository root (``REPO_ROOT``);
* :mod:`foundation.settings`: the stack's settings (``HARNESS_*``): where the state folder is and
  how the stack's services are reached;
* :mod:`foundation.layout`: the state folder's layout, every path the stack uses.

The layers above, from the bottom: ``pipeline``; ``flink`` (the scoring job and its controller);
``experiments`` (it drives the scoring job); ``harness`` (the CLI and stack manager); the DAGs,
tests and benchmarks may import anything. Imports only point down; ``lint-imports`` (``make
lint``, the contract in pyproject.toml) enforces it. This package imports only the standard
library and pydantic.
"""
