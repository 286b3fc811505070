"""Adapters to the outside world and the typed tools agents call.

- `metrics`: the `MetricsSource` interface (PromQL) with `prometheus` and in-process `sim` adapters;
- `cluster`: the `ClusterClient` interface with `kube` and in-process `sim` adapters;
- `signals` + `signals.yaml`: the signal catalog (named PromQL templates, SLO ranges) as data;
- `registry`: the agent-facing tool registry (typed params, OpenAI specs, `ToolResult` envelopes);
- `reads` / `actions`: the read tools and the action-proposing tools registered in it.

Only this package imports the official Kubernetes and Prometheus clients.
"""
