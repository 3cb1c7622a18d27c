"""The floor under the ingress: a bare FastAPI endpoint that reads and parses a webhook's body
(JSON or a form) and answers 200, nothing else. Served by uvicorn as pbxhub's API is:
python -m uvicorn bench.bare_endpoint:app --port PORT
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/hooks/{provider}/{key}/{endpoint}")
async def hook(provider: str, key: str, endpoint: str, request: Request) -> Response:
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        json.loads(body)
    else:
        parse_qsl(body.decode())
    return Response(status_code=200)
