"""The floor of a Python web answer on this machine: a bare ASGI app (no framework) that
reads a contribution body as exact decimals and answers a SPEC 2.5 body. Run under uvicorn
like the portal (`uvicorn bench.asgi_floor:app --workers 2`) and load it with the same wrk
script: what no Python gateway can beat here."""

import time
import uuid
from decimal import Decimal

import simplejson


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    request = simplejson.loads(body, use_decimal=True)
    answer = simplejson.dumps({
        "contribution_amount": request["base_wager"] * Decimal("0.025"),
        "contribution_currency": request["currency"], "gameround_id": request["gameround_id"],
        "instance_id": request.get("instance_id"), "metadata": None, "tickets_awarded": None,
        "timestamp": int(time.time() * 1000), "win_amount": 0, "win_pot_id": None, "win_withheld": False,
        "trace_id": str(uuid.uuid4()),
    }, use_decimal=True).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})
