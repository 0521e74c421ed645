"""The service's JSON envelope ``{code, message, data}``, for every answer of the local server."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response


def envelope(
    data: Any, *, status: int = 200, code: int | None = None, message: str = "success"
) -> Response:
    """A JSON answer in the service's envelope ``{code, message, data}``."""
    body = {"code": status if code is None else code, "message": message, "data": data}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def failure(status: int, message: str) -> Response:
    """An error answer: the envelope with the HTTP status as its code and no data."""
    return envelope(None, status=status, message=message)
