"""The package version (one place: the package, the cache keys and pyproject read it)."""

__version__ = "0.1.0"
