"""What every provider's webhook route checks before it reads a payload (``[scrobble.webhook]``).

A route calls :meth:`WebhookGate.admit` first: webhooks must be on (else 404), the URL's
secret must match ``scrobble.webhook.secret`` (compared in constant time; else 403, logged
once per source address), and the body may not exceed ``max_body_kb`` (413, read no further).
A sender that goes away mid-body gets one info line. What comes back is the body, or the
answer to send instead.
"""

from __future__ import annotations

import hmac

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from crosswatch.config import Config


class WebhookGate:
    """The checks of one provider's webhook route; ``name`` prefixes its log lines (``plex``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.refused: set[str] = set()  # source addresses told once about a wrong secret
        self.log = structlog.get_logger(f"crosswatch.{name}")

    async def admit(self, request: Request, config: Config) -> bytes | Response:
        """The request's body, or the response that refuses it."""
        settings = config.scrobble.webhook
        if not settings.enabled:
            return JSONResponse({"error": "webhooks are off (scrobble.webhook.enabled)"}, status_code=404)
        source = request.client.host if request.client else "?"
        if not hmac.compare_digest(request.path_params["secret"].encode(), settings.secret.encode()):
            if source not in self.refused:
                self.refused.add(source)
                hint = "the URL's secret is not scrobble.webhook.secret"
                self.log.warning(f"{self.name}.webhook_forbidden", source=source, hint=hint)
            return Response(status_code=403)
        limit = settings.max_body_kb * 1024
        too_big = JSONResponse({"error": f"body over {settings.max_body_kb} KB"}, status_code=413)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return too_big
        body = b""
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    return too_big
        except ClientDisconnect:
            # not the daemon's fault, and not worth more than a line: the answer has no reader
            expected = int(declared) if declared.isdigit() else None
            self.log.info(f"{self.name}.webhook_incomplete", source=source, received=len(body), expected=expected)
            return Response(status_code=400)
        return body
