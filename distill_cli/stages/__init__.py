"""Pure stage cores: functions over polars frames, with no file I/O, printing or CLI."""
