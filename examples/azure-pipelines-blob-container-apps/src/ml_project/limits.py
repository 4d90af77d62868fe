"""The request body limit, enforced while the body is read: a client cannot make the
service hold more than MAX_BODY_BYTES of it, whatever it declares or leaves undeclared."""

import json


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answers 413 to a body larger than `max_bytes`: at once when Content-Length says so,
    or as soon as the bytes received pass the limit (chunked bodies, a lying header)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and not (value.isdigit() and int(value) <= self.max_bytes):
                await self.refuse(send)
                return
        received = 0
        responded = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def send_noting_start(message) -> None:
            nonlocal responded
            responded = responded or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, send_noting_start)
        except BodyTooLarge:
            if not responded:
                await self.refuse(send)

    async def refuse(self, send) -> None:
        body = json.dumps({"detail": f"the body is larger than {self.max_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body is not read: the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
