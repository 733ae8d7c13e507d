"""collect: source files and hub datasets in, a prompts stage directory out."""
