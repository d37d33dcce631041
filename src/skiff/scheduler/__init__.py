"""The scheduler: assigns pending pods to nodes through a plugin framework (kube-scheduler)."""
