"""Quarterdeck's agents: four LangGraph agents that talk A2A, and the loop that drives them.

- `a2a/`: each agent as an A2A server (cards, server-side executors, a SQLite task store), the
  client every agent uses to reach another, and the in-process transport;
- `runtime`: wiring — builds the four agents from injected dependencies; the API the REST layer,
  the CLI and the demo call (`chat`, `approvals`, `decide`, `loop_once`);
- `executor` + `approvals` + `verify` + `guard_context`: guard → approval → act → verify, durable
  across restarts, each proposal applied at most once;
- `loop`: the autonomous loop (observe | suggest | approve | auto);
- `reasoning/`, `brain/`, `graph`: the reasoner protocol and backends, the pure decision logic,
  and the tool-calling graph the observer, planner and coordinator think with;
- `brains`, `interim`, `embedded`: adapters from those to the agents' callables, and the
  one-process setup on the simulator.
"""
