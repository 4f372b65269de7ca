"""The harness: local stack management and the `harness` command line."""
