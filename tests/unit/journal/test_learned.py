"""What the service taught (uprez.journal.learned): task rates and upload limits."""

from __future__ import annotations

from uprez.journal.store import Journal


def test_task_rates_come_back_oldest_first_per_service_and_kind(journal: Journal) -> None:
    for rate in (1.0, 2.0, 3.0):
        journal.add_task_rate("svc", "upscale", rate)
    journal.add_task_rate("svc", "other", 9.0)
    journal.add_task_rate("elsewhere", "upscale", 8.0)

    assert journal.task_rates("svc", "upscale", 10) == [1.0, 2.0, 3.0]
    assert journal.task_rates("svc", "upscale", 2) == [2.0, 3.0]  # the latest two
    assert journal.task_rates("svc", "other", 10) == [9.0]
    assert journal.task_rates("nobody", "upscale", 10) == []


def test_only_the_latest_hundred_task_rates_are_kept(journal: Journal) -> None:
    for rate in range(105):
        journal.add_task_rate("svc", "upscale", float(rate))

    assert journal.task_rates("svc", "upscale", 1000) == [float(r) for r in range(5, 105)]


def test_an_upload_limit_is_unknown_until_learned_then_only_ever_lowered(
    journal: Journal,
) -> None:
    assert journal.upload_limit("svc") is None

    journal.learn_upload_limit("svc", 500)
    journal.learn_upload_limit("svc", 800)  # a larger refusal does not raise what was learned
    assert journal.upload_limit("svc") == 500

    journal.learn_upload_limit("svc", 300)
    assert journal.upload_limit("svc") == 300
    assert journal.upload_limit("another") is None
