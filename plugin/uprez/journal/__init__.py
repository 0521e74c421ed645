"""The journal: a SQLite record of every job's uploads, submits and results (:mod:`.store`,
built of :mod:`.database`, :mod:`.schema`, :mod:`.jobs_table`, :mod:`.segments_table` and
:mod:`.learned`; jobs are keyed by :mod:`.keys`), one job's view of it (:mod:`.jobs`) and one
segment's (:mod:`.tasks`)."""
