"""Finding the configured user on the server (by name or id), for API keys and checks."""

from __future__ import annotations

from typing import Any

from crosswatch.errors import ProviderError
from crosswatch_jellyfin.client import MediaServerClient


def same_id(a: str, b: str) -> bool:
    """Two user ids are the same (the servers accept them with or without dashes, in any case)."""
    return a.replace("-", "").lower() == b.replace("-", "").lower()


def wanted(settings: Any) -> str:
    """The configured user as a person wrote it (name or id), or ""."""
    return str(settings.user or settings.user_id or "")


async def find_user(client: MediaServerClient, name: str, user_id: str) -> dict[str, Any]:
    """The server's ``UserDto`` of the user named ``name`` or with id ``user_id`` (needs an administrator's token)."""
    kind = client.kind
    if not name and not user_id:
        raise ProviderError(f'[{kind.section}] names no user: with an api_key, set user = "<name>" or user_id = "<id>"')
    body = await client.get("/Users")
    users = [u for u in body if isinstance(u, dict)] if isinstance(body, list) else []
    for user in users:
        if not isinstance(user.get("Id"), str):
            continue
        if user_id and same_id(user["Id"], user_id):
            return user
        if not user_id and str(user.get("Name", "")).strip().lower() == name.strip().lower():
            return user
    names = ", ".join(sorted(str(u.get("Name")) for u in users)) or "none"
    raise ProviderError(f"{kind.title} at {client.url} has no user {user_id or name!r} (its users: {names})")
