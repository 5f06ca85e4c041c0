# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The coverage rules as pure functions over plain values.

Nothing here touches the database: the ORM loads the path of a policy (its
limits, deductibles and exclusions), sums the ledger, and passes plain values
to `decide`, which returns the decision and its explanation.
"""
import datetime as dt
import re
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta

ZERO = Decimal(0)
PERIODS = [
    'policy_year', 'calendar_year', 'quarter', 'month', 'week', 'day',
    'case', 'term']
MEASURES = ['amount', 'quantity', 'days']
# Reasons of a decision (the ORM translates them).
NO_POLICY = 'no_policy'
OUTSIDE_PROGRAM = 'outside_program'
EXCLUDED = 'excluded'
# A limit refuses the request (exhausted) or cuts it (partly covered).
LIMIT = 'limit'
LIMIT_PARTIAL = 'limit_partial'


def window(period, date, term_start, term_end):
    """Return the (first, last) days of the period that holds date.

    policy_year counts years from term_start (the policy's or the contract's
    start); term is the whole term; case has no dates (its window is the
    case itself) and returns (None, None)."""
    if period == 'term':
        return term_start, term_end
    if period == 'case':
        return None, None
    if period == 'policy_year':
        def anniversary(years):
            return term_start + relativedelta(years=years)
        years = relativedelta(date, term_start).years
        # A start on 29 February has its anniversary on the 28th.
        while anniversary(years + 1) <= date:
            years += 1
        while anniversary(years) > date:
            years -= 1
        last = anniversary(years + 1) - dt.timedelta(1)
        return anniversary(years), min(last, term_end)
    if period == 'calendar_year':
        return dt.date(date.year, 1, 1), dt.date(date.year, 12, 31)
    if period == 'quarter':
        first = dt.date(date.year, 3 * ((date.month - 1) // 3) + 1, 1)
        return first, first + relativedelta(months=3) - dt.timedelta(1)
    if period == 'month':
        first = date.replace(day=1)
        return first, first + relativedelta(months=1) - dt.timedelta(1)
    if period == 'week':
        first = date - dt.timedelta(date.weekday())
        return first, first + dt.timedelta(6)
    if period == 'day':
        return date, date
    raise ValueError(f"Unknown period {period!r}")


_ICD = re.compile(r'^([A-Z])(\d{2})(?:\.(\d{1,2}))?$')


def icd_key(code):
    "Return a sortable key of an ICD-10 code or None if it is not one"
    match = _ICD.match((code or '').strip().upper().replace(',', '.'))
    if not match:
        return None
    letter, category, sub = match.groups()
    return (letter, int(category), sub or '')


def _icd_parts(ranges):
    return [p.strip() for p in re.split(r'[;,]', ranges or '') if p.strip()]


def icd_matches(code, ranges):
    """Tell whether the ICD-10 code falls in ranges, a text such as
    "F00-F99, Z30.1": a range of categories covers their sub-codes, a single
    code covers itself and its sub-codes."""
    key = icd_key(code)
    if key is None:
        return False
    for part in _icd_parts(ranges):
        if '-' in part:
            low, high = (icd_key(p) for p in part.split('-', 1))
            if not (low and high):
                continue
            if not (low[2] or high[2]):
                key_, low, high = key[:2], low[:2], high[:2]
            else:
                key_ = key
            if low <= key_ <= high:
                return True
        else:
            single = icd_key(part)
            if (single and key[:2] == single[:2]
                    and key[2].startswith(single[2])):
                return True
    return False


def diagnoses_match(diagnoses, ranges):
    """Tell whether any of diagnoses (codes or None) falls in ranges: each
    diagnosis of a request can only add a refusal, never remove one"""
    return any(icd_matches(d, ranges) for d in diagnoses if d)


def icd_ranges_valid(ranges):
    "Tell whether every part of ranges is an ICD-10 code or range"
    parts = _icd_parts(ranges)
    return bool(parts) and all(
        all(icd_key(c) for c in p.split('-', 1)) for p in parts)


@dataclass(frozen=True)
class LimitState:
    "A limit on the path of the request, with what its window consumed"
    key: object
    label: str
    measure: str
    value: Decimal
    consumed: Decimal = ZERO
    window: tuple = (None, None)
    # For measure "days": the requested date is already counted.
    day_counted: bool = False

    @property
    def remaining(self):
        return max(self.value - self.consumed, ZERO)


@dataclass(frozen=True)
class DeductibleState:
    "A deductible on the path, with what its window or case already took"
    key: object
    label: str
    kind: str  # fixed or percentage
    value: Decimal
    application: str = 'line'  # line, case or period
    taken: Decimal = ZERO


@dataclass(frozen=True)
class LimitUse:
    key: object
    label: str
    measure: str
    value: Decimal
    window: tuple
    consumed: Decimal
    remaining_before: Decimal
    remaining_after: Decimal


@dataclass(frozen=True)
class Decision:
    status: str  # covered, partial or refused
    reason: str | None
    reason_args: dict
    quantity: Decimal
    requested_amount: Decimal
    covered_quantity: Decimal
    covered_amount: Decimal
    deductible: Decimal
    insured_amount: Decimal
    limits: tuple = field(default_factory=tuple)
    biting: object = None
    # Filled by the ORM: the option that covers the service, the reason
    # in words.
    option: object = None
    message: str = ''

    @property
    def refused(self):
        return self.status == 'refused'


def _round(value, digits):
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def refuse(quantity, unit_price, reason, digits=2, **reason_args):
    "Return the decision that refuses the whole request for reason"
    requested = _round(quantity * unit_price, digits)
    return Decision(
        'refused', reason, reason_args, quantity, requested, ZERO, ZERO,
        ZERO, requested)


def deductible_amount(gross, deductibles, digits=2):
    "Return the part of gross that the deductibles leave to the insured"
    total = ZERO
    for deductible in deductibles:
        left = gross - total
        if deductible.kind == 'percentage':
            amount = _round(left * deductible.value / 100, digits)
        elif deductible.application == 'line':
            amount = deductible.value
        else:
            amount = max(deductible.value - deductible.taken, ZERO)
        total += min(max(amount, ZERO), left)
    return total


def covered_quantity(quantity, limits):
    "Return the quantity the quantity and days limits let through"
    covered, biting = quantity, None
    for limit in limits:
        if limit.measure == 'quantity' and limit.remaining < covered:
            covered, biting = limit.remaining, limit
        elif (limit.measure == 'days' and not limit.day_counted
                and limit.remaining < 1 and covered > 0):
            covered, biting = ZERO, limit
    return covered, biting


def covered_amount(payable, limits):
    "Return the amount the amount limits let through"
    covered, biting = payable, None
    for limit in limits:
        if limit.measure == 'amount' and limit.remaining < covered:
            covered, biting = limit.remaining, limit
    return covered, biting


def limit_uses(limits, quantity, amount):
    "Return how each limit stands before and after consuming the decision"
    uses = []
    for limit in limits:
        if limit.measure == 'amount':
            spent = amount
        elif limit.measure == 'quantity':
            spent = quantity
        else:
            spent = Decimal(1 if quantity > 0 and not limit.day_counted else 0)
        uses.append(LimitUse(
                limit.key, limit.label, limit.measure, limit.value,
                limit.window, limit.consumed, limit.remaining,
                limit.remaining - spent))
    return tuple(uses)


def limit_reason(status, biting):
    """Return the reason and its arguments of a decision of status whose
    biting limit (or None) refused or cut it"""
    if biting is None or status == 'covered':
        return None, {}
    reason = LIMIT if status == 'refused' else LIMIT_PARTIAL
    return reason, {
        'limit': biting.label, 'measure': biting.measure,
        'remaining': biting.remaining, 'value': biting.value,
        }


def decide(quantity, unit_price, limits=(), deductibles=(), digits=2):
    """Return the decision on a covered service given the limits and
    deductibles of its path.

    The quantity and days limits cut the covered quantity; the deductibles
    take their part of the covered gross; the amount limits cut what the
    insurer pays. covered_amount + deductible + insured_amount always equals
    the requested amount."""
    quantity, unit_price = Decimal(quantity), Decimal(unit_price)
    requested = _round(quantity * unit_price, digits)
    qty, biting = covered_quantity(quantity, limits)
    gross = _round(qty * unit_price, digits)
    deductible = deductible_amount(gross, deductibles, digits)
    amount, amount_biting = covered_amount(gross - deductible, limits)
    biting = amount_biting or biting
    if amount <= 0 and gross - deductible > 0:
        # Nothing left to pay: nothing is delivered under the programme.
        qty, deductible, amount = ZERO, ZERO, ZERO
    if qty <= 0:
        status = 'refused'
    elif qty == quantity and amount + deductible == requested:
        status = 'covered'
    else:
        status = 'partial'
    reason, reason_args = limit_reason(status, biting)
    return Decision(
        status, reason, reason_args, quantity, requested, qty, amount,
        deductible, requested - amount - deductible,
        limit_uses(limits, qty, amount), biting.key if biting else None)


def consume(limits, decision, date=None):
    "Return the limits as they stand once decision is recorded"
    spent = {u.key: u.remaining_before - u.remaining_after
        for u in decision.limits}
    result = []
    for limit in limits:
        used = spent.get(limit.key, ZERO)
        if limit.measure == 'days':
            result.append(replace(
                    limit, consumed=limit.consumed + used,
                    day_counted=limit.day_counted or used > 0))
        else:
            result.append(replace(limit, consumed=limit.consumed + used))
    return result
