"""quarterdeck demo, end to end."""
