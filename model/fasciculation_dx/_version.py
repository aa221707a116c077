"""The package version, in one place (the package root and written provenance read it)."""

__version__ = "0.1.0"
