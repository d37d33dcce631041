"""Simulated nodes (like kwok): nodes that run no containers, for tests and scale
rehearsal. Every simulated node carries the label ``skiff.dev/simulated=true``."""
