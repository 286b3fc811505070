"""The `quarterdeck` command line. Each command group lives in its own module and registers itself
on the root app; heavy imports happen inside commands so `--help` stays fast."""
