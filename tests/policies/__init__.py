"""Tests of the policy guardrail layer (quarterdeck.policies) and `quarterdeck policy test`."""
