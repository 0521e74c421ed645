"""The API port's three upload routes: the ticket (then a signed PUT to the storage port), the
multipart ``upload/binary``, and the older multipart ``/api/v3/upload``.

Every route refuses a file over ``max_upload_bytes`` (100 MB by default, the documented limit)
with a 413 envelope: the ticket when the declared size is over, the multipart routes as soon as
the stream goes over. The older route also keeps its documented per-kind limits.
"""

from __future__ import annotations

from datetime import UTC, datetime

from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from uprez.standin.bodies import MULTIPART_OVERHEAD, read_json
from uprez.standin.envelopes import envelope, failure
from uprez.standin.settings import ServerSettings
from uprez.standin.uploads import UploadError, UploadStore, content_type_for, media_kind

# Limits of the older ``/api/v3/upload`` route, by media kind, as documented (in MB).
LEGACY_LIMITS = {"video": 100_000_000, "image": 20_000_000, "audio": 50_000_000}


class UploadRoutes:
    """The upload endpoints of the API face (mixed into :class:`uprez.standin.app.ServiceApp`)."""

    settings: ServerSettings
    uploads: UploadStore

    def storage_base(self, request: Request) -> str:  # provided by the API face
        raise NotImplementedError

    def on_upload_ticket(self, request: Request) -> Response:
        body = read_json(request, "{filename, size, content_type}")
        if not isinstance(body, dict):
            return failure(400, "the body must be a JSON object {filename, size, content_type}")
        filename, size = body.get("filename"), body.get("size")
        declared = body.get("content_type")
        if not isinstance(filename, str) or not filename:
            return failure(400, "'filename' must be a non-empty string")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return failure(400, "'size' must be a non-negative integer (bytes)")
        if declared is not None and (not isinstance(declared, str) or "\n" in declared):
            return failure(400, "'content_type' must be a MIME type such as video/mp4")
        limit = self.settings.max_upload_bytes
        if size > limit:
            return failure(413, f"file too large: the limit is {limit} bytes")
        ctype = content_type_for(filename, declared or None)
        now = self.settings.clock()
        ticket = self.uploads.open_ticket(
            filename, size, ctype, now, self.settings.upload_ticket_seconds
        )
        storage = self.storage_base(request)
        media = ticket.media
        expires = datetime.fromtimestamp(ticket.expires, UTC).isoformat().replace("+00:00", "Z")
        return envelope(
            {
                "download_url": f"{storage}/media/{media.id}/{media.filename}",
                "filename": media.filename,
                "size": size,
                "type": media_kind(ctype),
                "upload": {
                    "method": "PUT",
                    "url": f"{storage}/put/{ticket.token}",
                    "headers": ticket.headers,
                    "expires_at": expires,
                },
            }
        )

    def on_upload_binary(self, request: Request) -> Response:
        limit = self.settings.max_upload_bytes
        upload, problem = _multipart_file(request, limit)
        if problem is not None:
            return problem
        assert upload is not None
        ctype = content_type_for(upload.filename or "", upload.mimetype or None)
        try:
            media = self.uploads.store_stream(
                upload.filename or "", ctype, upload.stream, limit, self.settings.clock()
            )
        except UploadError as exc:
            return failure(exc.status, str(exc))
        return envelope(
            {
                "download_url": f"{self.storage_base(request)}/media/{media.id}/{media.filename}",
                "filename": media.filename,
                "size": media.size,
                "type": media_kind(ctype),
            }
        )

    def on_upload_legacy(self, request: Request) -> Response:
        most = min(self.settings.max_upload_bytes, max(LEGACY_LIMITS.values()))
        upload, problem = _multipart_file(request, most)
        if problem is not None:
            return problem
        assert upload is not None
        ctype = content_type_for(upload.filename or "", upload.mimetype or None)
        kind = ctype.split("/", 1)[0]
        if kind not in LEGACY_LIMITS:
            return failure(400, f"unsupported file type {ctype}: send a video, image or audio file")
        limit = min(self.settings.max_upload_bytes, LEGACY_LIMITS[kind])
        try:
            media = self.uploads.store_stream(
                upload.filename or "", ctype, upload.stream, limit, self.settings.clock()
            )
        except UploadError as exc:
            return failure(exc.status, str(exc))
        return envelope({"url": f"{self.storage_base(request)}/media/{media.id}/{media.filename}"})


def _multipart_file(request: Request, limit: int) -> tuple[FileStorage | None, Response | None]:
    """The ``file`` field of a multipart body of at most ``limit`` bytes of file (werkzeug
    answers 413 as soon as the body goes over), or the 400 to answer."""
    request.max_content_length = limit + MULTIPART_OVERHEAD
    try:
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        return None, failure(413, f"file too large: the limit is {limit} bytes")
    if upload is None or not upload.filename:
        return None, failure(400, "send the file as multipart/form-data in the field 'file'")
    return upload, None
