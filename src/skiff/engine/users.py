"""``--user`` (``uid``, ``uid:gid``, ``name``, ``name:group``) to numeric ids.

Names are looked up in the container's own /etc/passwd and /etc/group (read
from its image layers by the caller), never the host's. A numeric uid with
no passwd entry is fine (gid 0, as Docker does); an unknown *name* is an
error that names it.
"""

from __future__ import annotations

from skiff.engine.ocispec import UserIds
from skiff.errors import Invalid


def _table(text: str | None) -> list[list[str]]:
    return [line.split(":") for line in (text or "").splitlines() if line and not line.startswith("#")]


def resolve_user(spec: str, passwd: str | None, group: str | None) -> UserIds:
    user, _, grp = (spec or "").partition(":")
    users = _table(passwd)
    groups = _table(group)
    uid, gid = 0, 0
    name = None
    if not user:
        user = "0"
    if user.isdigit():
        uid = int(user)
        for row in users:
            if len(row) >= 4 and row[2] == user:
                gid, name = int(row[3]), row[0]
                break
    else:
        for row in users:
            if len(row) >= 4 and row[0] == user:
                uid, gid, name = int(row[2]), int(row[3]), user
                break
        else:
            raise Invalid.field("Config.User", f"unable to find user {user}: no matching entries in passwd file")
    if grp:
        if grp.isdigit():
            gid = int(grp)
        else:
            for row in groups:
                if len(row) >= 3 and row[0] == grp:
                    gid = int(row[2])
                    break
            else:
                raise Invalid.field("Config.User", f"unable to find group {grp}: no matching entries in group file")
    extra = []
    if name:
        for row in groups:
            if len(row) >= 4 and name in row[3].split(",") and row[2].isdigit():
                extra.append(int(row[2]))
    return UserIds(uid, gid, tuple(sorted(set(extra) - {gid})))
