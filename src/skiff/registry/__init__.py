"""OCI distribution client: pull and push images over HTTP(S) (containerd's ``core/remotes/docker``).

``skiff.registry.http`` is a minimal asyncio HTTP/1.1 client,
``auth`` handles challenges and credentials, ``client.Registry`` speaks the
``/v2/`` API for one host, and ``puller``/``pusher`` orchestrate whole
images against an ``ImageService``.
"""
