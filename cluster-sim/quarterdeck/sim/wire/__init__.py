"""The simulator's wire-compatible HTTP facades: a Kubernetes REST API subset (`kube`), the
Prometheus HTTP API and `/metrics`, and the `sim serve` server that runs them in real time.

These modules speak the wire protocols with plain JSON; they never import the official clients
(the adapters in `quarterdeck.tools` do, and are tested against these facades over HTTP).
"""
