"""End-to-end tests: the four uses through a real `quarterdeck serve` over HTTP."""
