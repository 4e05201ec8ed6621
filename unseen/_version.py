"""The package version, a leaf: what provenance records without importing the package root."""

__version__ = "0.1.0"
