"""Image archives: ``docker save``/``docker load`` tars and OCI image layouts.

``save`` writes the format Docker 25+ writes, which is an OCI image layout
(``oci-layout``, ``index.json``, ``blobs/sha256/…``) that *also* carries
Docker's ``manifest.json`` and ``repositories``, with uncompressed layer
tars named by their diff IDs: every Docker version and podman load it. It
can also write a plain OCI layout (blobs as stored, manifests byte-exact)
as a tar or a directory. ``load`` reads all of these plus the classic
Docker/podman form (``<diffid>.tar`` or ``<id>/layer.tar`` files), gzip'd
or not, and verifies every blob it keeps.
"""
