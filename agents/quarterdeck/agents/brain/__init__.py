"""The agents' decision logic as pure functions on values: no I/O, no clock, no randomness.

- `observation`: what one service looks like at one instant (`ServiceObservation`), however it
  was read (the simulator, the read tools, Prometheus + Kubernetes);
- `burn`: SLO-breach detection by multi-window burn rate;
- `diagnosis`: the cause of trouble, with evidence (load, bad version, lost capacity, slow
  dependency, overprovisioned, or nothing);
- `planner`: candidate actions for a diagnosis, deduplicated against pending ones, ranked;
- `incidents`: incident identity (service + cause + start time) across decisions;
- `stabilise`: the replicas each service needed over a window and the load per replica that
  ran hot, so scale-downs do not flap;
- `intents`: a request in words → what to do about which service.

The embedded reasoner and the `agent` controller decide with these; tests call them directly.
"""
