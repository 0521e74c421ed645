"""The journal: a SQLite record of every job's uploads, submits and results (:mod:`.store`),
one job's view of it (:mod:`.jobs`) and one segment's (:mod:`.tasks`)."""
