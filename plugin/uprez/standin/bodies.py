"""Reading request bodies the way a service facing key holders must: bounded in size and depth.

A JSON body over :data:`MAX_JSON_BYTES` or nested deeper than :data:`MAX_JSON_DEPTH` is refused
with a 400 before (or instead of) being parsed, never answered with a 500.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request

#: Largest JSON body accepted, in bytes.
MAX_JSON_BYTES = 1_000_000
#: Deepest nesting of arrays and objects accepted in a JSON body.
MAX_JSON_DEPTH = 32
# Room for a multipart body's boundaries and part headers beyond the file itself.
MULTIPART_OVERHEAD = 64 * 1024


class BadBody(ValueError):
    """A request body the server refuses; the message says why (answered as a 400)."""


def read_json(request: Request, what: str) -> Any:
    """The request's JSON body; :class:`BadBody` naming ``what`` was expected if it is not one."""
    if not request.is_json:
        raise BadBody(f"send {what} as JSON (Content-Type: application/json)")
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise BadBody(f"the JSON body is over {MAX_JSON_BYTES} bytes")
    raw = _read_at_most(request, MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise BadBody(f"the JSON body is over {MAX_JSON_BYTES} bytes")
    try:
        data = json.loads(raw)
    except RecursionError as exc:
        raise BadBody(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels") from exc
    except ValueError as exc:
        raise BadBody(f"the body is not valid JSON; send {what}") from exc
    if _depth(data) > MAX_JSON_DEPTH:
        raise BadBody(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
    return data


def _read_at_most(request: Request, limit: int) -> bytes:
    stream = request.stream
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = stream.read(min(64 * 1024, limit - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        if level > MAX_JSON_DEPTH:
            return level
        deepest = max(deepest, level)
        stack.extend((child, level) for child in children)
    return deepest
