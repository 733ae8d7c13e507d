"""export: rows to SFT/DPO training files (JSONL, Parquet, a directory, the hub) with a dataset card."""
