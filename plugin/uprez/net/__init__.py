"""HTTP plumbing any part of uprez may use: strict URL parsing (:mod:`.urls`), keeping
secrets out of logs (:mod:`.redact`), retries (:mod:`.retry`), and resumable, atomic
transfers (:mod:`.transfers`, :mod:`.upload_bodies`). It knows no service."""
