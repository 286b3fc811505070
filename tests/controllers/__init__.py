"""Tests of the comparison controllers: hpa, baseline, oracle."""
