"""The package version, in a module of its own so that any unit can read it without importing the package's
`__init__` (which names the whole API)."""

__version__ = "0.1.0"
