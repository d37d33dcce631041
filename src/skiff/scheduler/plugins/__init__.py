"""Scheduler plugins, one module each (upstream ``framework/plugins/*``)."""
