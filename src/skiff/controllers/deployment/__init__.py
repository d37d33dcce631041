"""Deployment controller: ReplicaSets per template, rolling and recreate rollouts,
rollback by template match, history, pause/resume, progress deadline."""

from skiff.controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]
