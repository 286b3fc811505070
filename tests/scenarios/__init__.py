"""Tests of the public scenario suite and the bench."""
