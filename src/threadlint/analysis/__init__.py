"""Shared analysis: name resolution, scopes and the facts rules ask about."""

from threadlint.analysis.model import ModuleAnalysis, ThreadConstructor

__all__ = ["ModuleAnalysis", "ThreadConstructor"]
