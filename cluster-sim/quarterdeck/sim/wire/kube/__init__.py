"""A Kubernetes REST API subset over a `Simulator`: discovery, Deployments (+ scale) and their
ReplicaSets, Pods, Events, Nodes, Namespaces and Gateway API HTTPRoutes.

Reads render the simulator's views as Kubernetes objects; writes are translated into simulator
actions (`Simulator.apply`). Entry point: `routes.kube_routes(get_sim)`.
"""
