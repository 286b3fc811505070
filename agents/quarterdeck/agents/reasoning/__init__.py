"""Reasoning backends: the `Reasoner` protocol and its implementations.

- `protocol`: what a reasoner is given (`ReasonerRequest`) and what it answers (`ReasonerReply`);
- `embedded`: the deterministic default (no key, no network), deciding with the brain
  (`quarterdeck.agents.brain`);
- `openai_compat`: any OpenAI-compatible chat-completions server (OpenAI, vLLM, Ollama, LiteLLM).

Both drive the same graph (`quarterdeck.agents.graph.run_agent`) with the same tools.
"""
