"""Shared vocabulary of Quarterdeck: the action proposal, the guard's verdict, the tool result
envelope, durations and clocks. Everything else imports these; this package imports nothing of
Quarterdeck."""
