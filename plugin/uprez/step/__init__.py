"""The ``upscale`` step: :func:`prepare` checks, plans, prices and places a batch; :func:`run`
carries the plan out (segments, verification, hand-off)."""
