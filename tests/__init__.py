"""Quarterdeck test suite."""
