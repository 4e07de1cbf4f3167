"""(to be written: see the issue of this family)."""
