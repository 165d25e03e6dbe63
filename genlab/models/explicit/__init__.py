"""Explicit distributions written out in full: the joint probability table over k x k binary cells
(`table`, docs/LIKELIHOOD.md)."""

from genlab.models.explicit.table import Table, TableConfig

__all__ = ["Table", "TableConfig"]
