"""flink package."""
