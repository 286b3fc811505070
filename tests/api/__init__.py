"""Tests of the REST API, its access control, and the dry-run command."""
