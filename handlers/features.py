"""The features the bot is made of, in dispatch order, and the schedules that run on ticks."""

from __future__ import annotations

from handlers.router import Command, Feature
from schedules import DueJob


def all_features() -> list[Feature]:
    from handlers import help as help_feature
    from handlers import items, people, stations

    features = [stations.FEATURE, people.FEATURE, help_feature.FEATURE, items.FEATURE]
    from handlers import attendance, receptions

    features += [receptions.FEATURE, attendance.FEATURE]
    return features


def all_commands() -> list[Command]:
    return [command for feature in all_features() for command in feature.commands]


def all_jobs() -> list[DueJob]:
    from schedules.overdue import OverdueChaser

    jobs: list[DueJob] = [OverdueChaser()]
    from schedules.receptions import reception_jobs

    jobs += reception_jobs()
    return jobs
