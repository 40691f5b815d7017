"""Divergence localization: from "storage mismatch" to the exact diverging keys (issue 10)."""
