"""Pipeline files (`distill run`): parse a YAML file into stage commands (core.py) and run them in order."""
