# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The pure rules of the loss level: months, windows, levels, schedules"
import datetime as dt
import unittest
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from trytond.modules.assistance_reports.loss_level import (
    level, month_end, month_index, month_start, months, ratio, report_due,
    window)

dates = st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2100, 12, 1))


class MonthTestCase(unittest.TestCase):

    @given(dates)
    def test_month_bounds(self, date):
        "A date lies between the first and last days of its month"
        index = month_index(date)
        self.assertLessEqual(month_start(index), date)
        self.assertLessEqual(date, month_end(index))
        self.assertEqual(month_end(index) + dt.timedelta(days=1),
            month_start(index + 1))

    @given(dates, st.integers(min_value=1, max_value=36))
    def test_window(self, date, size):
        "The window holds size months and ends with date's month"
        first, last = window(date, size)
        self.assertEqual(len(months(first, last)), size)
        self.assertEqual(month_index(last), month_index(date))
        self.assertEqual(first.day, 1)

    def test_window_across_the_year(self):
        self.assertEqual(window(dt.date(2025, 2, 10), 3),
            (dt.date(2024, 12, 1), dt.date(2025, 2, 28)))


class LevelTestCase(unittest.TestCase):

    def test_levels(self):
        warning, critical = Decimal(60), Decimal(80)
        self.assertIsNone(level(None, warning, critical))
        self.assertIsNone(level(Decimal('59.99'), warning, critical))
        self.assertEqual(level(Decimal(60), warning, critical), 'warning')
        self.assertEqual(level(Decimal('79.99'), warning, critical),
            'warning')
        self.assertEqual(level(Decimal(80), warning, critical), 'critical')

    @given(st.decimals(min_value=0, max_value=1000, places=2),
        st.decimals(min_value=1, max_value=200, places=2),
        st.decimals(min_value=0, max_value=200, places=2))
    def test_level_grows_with_the_ratio(self, value, warning, extra):
        "A higher loss ratio never reaches a lower level"
        critical = warning + extra
        order = [None, 'warning', 'critical']
        self.assertLessEqual(
            order.index(level(value, warning, critical)),
            order.index(level(value + 1, warning, critical)))

    def test_ratio(self):
        self.assertEqual(ratio(Decimal(14000), Decimal(28000)), Decimal(50))
        self.assertEqual(ratio(2, 3, 1000), Decimal('666.67'))
        self.assertIsNone(ratio(1, 0))


class ScheduleTestCase(unittest.TestCase):

    def test_never_sent(self):
        self.assertTrue(report_due(None, 'weekly', dt.date(2025, 1, 1)))
        self.assertFalse(report_due(None, None, dt.date(2025, 1, 1)))

    def test_weekly(self):
        last = dt.date(2025, 1, 1)
        self.assertFalse(report_due(last, 'weekly', dt.date(2025, 1, 7)))
        self.assertTrue(report_due(last, 'weekly', dt.date(2025, 1, 8)))

    def test_monthly_at_the_end_of_a_month(self):
        last = dt.date(2025, 1, 31)
        self.assertFalse(report_due(last, 'monthly', dt.date(2025, 2, 27)))
        self.assertTrue(report_due(last, 'monthly', dt.date(2025, 2, 28)))

    @given(dates, st.sampled_from(['weekly', 'monthly']))
    def test_not_twice_a_day(self, last, frequency):
        "A report sent today is not due again today"
        self.assertFalse(report_due(last, frequency, last))
