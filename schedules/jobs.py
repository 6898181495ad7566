"""Every schedule the bot runs on its ticks, in the order a tick runs them."""

from __future__ import annotations

from schedules import DueJob
from schedules.monthly import MonthlyNotice
from schedules.overdue import OverdueChaser
from schedules.receptions import reception_jobs
from schedules.resident_notices import ResidentOverdueNotice


def all_jobs() -> list[DueJob]:
    return [OverdueChaser(), ResidentOverdueNotice(), *reception_jobs(), MonthlyNotice()]
