"""distill: build reasoning-trace distillation datasets from staged Parquet directories."""

__version__ = "0.1.0"
