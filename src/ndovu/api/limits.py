"""A limit on request bodies, for the whole app: a larger one is a 413 before any route,
parser or authentication runs, so a client cannot make the server hold (or hash, or
parse) megabytes it will refuse anyway."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ndovu.api.errors import error_response


def _too_large(limit: int, size: int | None) -> Any:
    got = "more" if size is None else f"{size} bytes"
    return error_response(413, "payload_too_large",
                          f"the request body has {got}; at most {limit} bytes are accepted",
                          hint="send a smaller body (a cluster spec is a few kilobytes)")


class BodyLimit:
    """Pure ASGI middleware: checks Content-Length at once; a body without one (chunked)
    is read up to the limit first, then handed on unchanged."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await error_response(400, "bad_request", "Content-Length is not a number")(
                    scope, receive, send)
                return
            if size > self.max_bytes:
                await _too_large(self.max_bytes, size)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # no declared length: buffer what comes, up to the limit
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await _too_large(self.max_bytes, None)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
