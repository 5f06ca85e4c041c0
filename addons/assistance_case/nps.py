# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The Net Promoter Score (CASE-4, P4)"

PROMOTER = 9
DETRACTOR = 6


def category(score):
    "Return promoter, passive or detractor for a 0–10 answer"
    if score >= PROMOTER:
        return 'promoter'
    if score <= DETRACTOR:
        return 'detractor'
    return 'passive'


def nps(scores):
    """Return % promoters (9–10) − % detractors (0–6) of the answers, rounded
    to one decimal, or None without answers"""
    scores = [s for s in scores if s is not None]
    if not scores:
        return None
    promoters = sum(1 for s in scores if category(s) == 'promoter')
    detractors = sum(1 for s in scores if category(s) == 'detractor')
    return nps_from_counts(len(scores), promoters, detractors)


def nps_from_counts(answers, promoters, detractors):
    if not answers:
        return None
    return round(100.0 * (promoters - detractors) / answers, 1)


PERIOD_MONTHS = {'month': 1, 'quarter': 3, 'year': 12}


def period_start(date, period):
    "Return the first day of the month, quarter or year holding date"
    months = PERIOD_MONTHS[period]
    return date.replace(
        month=(date.month - 1) // months * months + 1, day=1)


def periods(start, end, period):
    """Return [(first day, first day of the next)] of the months, quarters or
    years from start's to end's, both included"""
    months = PERIOD_MONTHS[period]
    result = []
    first = period_start(start, period)
    while first <= end:
        month = first.month - 1 + months
        following = first.replace(
            year=first.year + month // 12, month=month % 12 + 1)
        result.append((first, following))
        first = following
    return result
