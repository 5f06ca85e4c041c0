# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Unit tests of the pending consumptions: the lines of a draft counted as
if declared when the next line is checked (ExpenseLine._add_pending)."""
import datetime as dt
import unittest
from decimal import Decimal
from types import SimpleNamespace
from unittest import mock

from trytond.modules.assistance_policy.expense import ExpenseLine

POLICY = SimpleNamespace(id=1, contract=SimpleNamespace(id=10))


def pending(**values):
    result = {
        'policy': 1, 'contract': 10, 'date': dt.date(2025, 3, 10),
        'case_key': 'assistance.case,1', 'option': 5, 'service': 7,
        'amount': Decimal('100'), 'quantity': Decimal('1'),
        'deductible': Decimal('10'),
        }
    result.update(values)
    return result


def spec(**values):
    result = {
        'measure': 'amount', 'scope': 'insured',
        'first': dt.date(2025, 1, 1), 'last': dt.date(2025, 12, 31),
        'date': dt.date(2025, 3, 12), 'case_key': None, 'options': None,
        'services': None,
        }
    result.update(values)
    return result


def add(spec, result, entries, ledger_days=()):
    with mock.patch.object(ExpenseLine, '_ledger_days',
            return_value=set(ledger_days)) as ledger:
        return ExpenseLine._add_pending(POLICY, spec, result, entries), ledger


class PendingConsumptionTest(unittest.TestCase):

    def test_amount_quantity_deductible_add(self):
        "Each measure adds its own value of the matching entries"
        entries = [pending(), pending(amount=Decimal('50'))]
        for measure, expected in [('amount', Decimal('160')),
                ('quantity', Decimal('12')), ('deductible', Decimal('30'))]:
            (consumed, counted), _ = add(
                spec(measure=measure), (Decimal('10'), False), entries)
            self.assertEqual(consumed, expected, measure)
            self.assertFalse(counted)

    def test_only_matching_entries(self):
        "Outside the window, another case, option, service or policy: none"
        base = (Decimal('0'), False)
        for rule, entry in [
                ({'first': dt.date(2025, 4, 1), 'last': dt.date(2025, 4, 30)},
                    {}),
                ({'case_key': 'assistance.case,2'}, {}),
                ({'options': [6]}, {}),
                ({'services': [8]}, {}),
                ({}, {'policy': 2}),
                ]:
            (consumed, _), _ = add(spec(**rule), base, [pending(**entry)])
            self.assertEqual(consumed, 0, (rule, entry))
        (consumed, _), _ = add(
            spec(options=[5], services=[7],
                case_key='assistance.case,1'), base, [pending()])
        self.assertEqual(consumed, Decimal('100'))

    def test_contract_scope(self):
        "An aggregate limit counts every insured person of the contract"
        (consumed, _), _ = add(spec(scope='contract'), (Decimal('0'), False),
            [pending(policy=2), pending(policy=3, contract=11)])
        self.assertEqual(consumed, Decimal('100'))

    def test_days_distinct_and_not_in_ledger(self):
        "Days count once each, not when the ledger has them already"
        entries = [pending(date=dt.date(2025, 3, d)) for d in [1, 1, 2, 3]]
        (consumed, counted), ledger = add(spec(measure='days'),
            (Decimal('4'), False), entries, ledger_days=[dt.date(2025, 3, 3)])
        self.assertEqual(consumed, Decimal('6'))
        self.assertFalse(counted)
        ledger.assert_called_once()

    def test_days_of_the_request_counted(self):
        """A pending line on the request's day: that day is counted, as the
        ledger counts a declared line's day"""
        (consumed, counted), _ = add(spec(measure='days'),
            (Decimal('1'), False), [pending(date=dt.date(2025, 3, 12))])
        self.assertEqual(consumed, Decimal('2'))
        self.assertTrue(counted)

    def test_days_of_refused_lines_not_counted(self):
        """A pending line that covered nothing uses no day, not even the
        request's day (issue #12)"""
        entries = [pending(date=dt.date(2025, 3, 1), quantity=Decimal(0)),
            pending(date=dt.date(2025, 3, 12), quantity=Decimal(0)),
            pending(date=dt.date(2025, 3, 2))]
        (consumed, counted), _ = add(spec(measure='days'),
            (Decimal('1'), False), entries)
        self.assertEqual(consumed, Decimal('2'))
        self.assertFalse(counted)
