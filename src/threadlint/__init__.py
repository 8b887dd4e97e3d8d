"""threadlint: a static checker for Python threading misuse."""

__version__ = "2.0.0"
