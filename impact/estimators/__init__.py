"""Estimators: matching, difference-in-differences, synthetic control, heterogeneity.

Submodules are imported on use (``from impact.estimators import matching``) so that the
command line stays fast; econml and dowhy are imported only inside the functions that need them.
"""
