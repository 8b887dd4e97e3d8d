"""threadlint: a static checker for Python threading misuse."""

__version__ = "1.0.0"
