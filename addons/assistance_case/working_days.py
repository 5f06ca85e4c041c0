# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"Working days of the Russian production calendar (CASE-3)"
import datetime as dt
from functools import lru_cache

import holidays


@lru_cache(maxsize=32)
def _russian_calendar(year):
    "Return the days off and the working Saturdays/Sundays of year"
    calendar = holidays.RU(years=year)
    return (frozenset(calendar),
        frozenset(getattr(calendar, 'weekend_workdays', ())))


def is_working_day(date, calendar=None):
    """Return whether date is a working day: a weekday that is not a public
    holiday or transferred day off of calendar (default: the Russian
    production calendar, where some Saturdays are working days)"""
    if calendar is None:
        days_off, weekend_workdays = _russian_calendar(date.year)
        if date in weekend_workdays:
            return True
    else:
        days_off = calendar
    return date.weekday() < 5 and date not in days_off


def add_working_days(start, days, calendar=None):
    """Return the date that is days working days after start (a date or a
    datetime, whose time is kept); 0 gives the first working day from start"""
    is_datetime = isinstance(start, dt.datetime)
    date = start.date() if is_datetime else start
    while not is_working_day(date, calendar):
        date += dt.timedelta(days=1)
    remaining = days
    while remaining > 0:
        date += dt.timedelta(days=1)
        if is_working_day(date, calendar):
            remaining -= 1
    if is_datetime:
        return dt.datetime.combine(date, start.time(), start.tzinfo)
    return date
