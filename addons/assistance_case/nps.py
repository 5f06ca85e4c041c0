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
