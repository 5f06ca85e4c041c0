# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The arithmetic of the insurer billing: months and what a run bills"
import datetime as dt
import unittest
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from trytond.modules.assistance_billing.insurer_billing import (
    corrections, month_end, month_start)

amounts = st.decimals(
    min_value=Decimal('-100000'), max_value=Decimal('100000'), places=2)
ledgers = st.dictionaries(st.integers(1, 30), amounts, max_size=15)


class InsurerBillingArithmeticTestCase(unittest.TestCase):

    def test_month_bounds(self):
        "The first and last day of a month, leap February included"
        self.assertEqual(month_start(dt.date(2025, 3, 17)), dt.date(2025, 3, 1))
        self.assertEqual(month_end(dt.date(2024, 2, 3)), dt.date(2024, 2, 29))
        self.assertEqual(month_end(dt.date(2025, 2, 28)), dt.date(2025, 2, 28))
        self.assertEqual(month_end(dt.date(2025, 12, 1)), dt.date(2025, 12, 31))
        self.assertEqual(month_end(dt.date.max), dt.date.max)

    @given(st.dates())
    def test_month_contains(self, date):
        "A date lies in its month, whose end is followed by the next month"
        self.assertLessEqual(month_start(date), date)
        self.assertLessEqual(date, month_end(date))
        if month_end(date) < dt.date.max:
            self.assertEqual(
                (month_end(date) + dt.timedelta(days=1)).day, 1)

    @given(ledgers, ledgers)
    def test_corrections_settle(self, owed, billed):
        "After a run, what is billed of each key is what is owed of it"
        after = dict(billed)
        for key, amount in corrections(owed, billed):
            self.assertTrue(amount)
            after[key] = after.get(key, Decimal(0)) + amount
        for key in owed.keys() | billed.keys():
            self.assertEqual(
                after.get(key, Decimal(0)), owed.get(key, Decimal(0)))

    @given(ledgers)
    def test_corrections_rerun(self, owed):
        "A rerun over what was just billed bills nothing"
        billed = {}
        for key, amount in corrections(owed, {}):
            billed[key] = amount
        self.assertEqual(corrections(owed, billed), [])

    def test_cancelled_comes_back_negative(self):
        "A key billed and no longer owed comes back as its negative"
        self.assertEqual(
            corrections({1: Decimal(5)}, {1: Decimal(5), 2: Decimal(3)}),
            [(2, Decimal(-3))])
