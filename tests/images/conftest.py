"""Shared fixtures: see ``tests.imagekit``."""

from tests.imagekit import *  # noqa: F403
