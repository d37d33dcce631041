"""The container engine: what ``docker run`` talks to.

Containers, images, exec, volumes and networks as services, one supervisor
for every container process (no helper process per container), logs and
events, and the Docker Engine API (``docker_api``) served by ``skiffd``.
``node_api`` is the narrow, CRI-shaped interface the kubelet uses.
"""
