"""Evaluation: feature networks (genlab classifiers, Inception-v3), metrics (FID, KID, IS, precision/recall,
density/coverage, reconstruction, likelihood), mode coverage of a generator's classes (coverage.py), the
protocol saved with every number, and `genlab bench`.

Nothing heavy at import; see docs/EVALUATION.md.
"""
