"""Controllers: level-based reconcilers that keep the cluster in its declared state.

Each controller watches through informers, turns every event into a key on
its work queue, and ``reconcile(key)`` compares the observed state with the
declared one. Decisions are pure functions beside each controller; the
``manager`` runs them all (``skiff controller-manager``).
"""
