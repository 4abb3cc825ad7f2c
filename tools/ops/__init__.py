"""Operations' commands against one tenant's stack: `python -m tools.ops --help`."""
