# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The debt analysis' ageing buckets, as the database computes them (REP-3)"
import datetime as dt
import sqlite3
import unittest

from hypothesis import given, strategies as st
from sql import Flavor, Literal, Select

from trytond.modules.assistance_billing.debt import BUCKETS, Debt


def expected_bucket(due, date, days):
    "The bucket of the days overdue: 0–days, days+1–2×days, …"
    overdue = (date - due).days
    if overdue < 0:
        return 'not_due'
    return BUCKETS[min((overdue - 1) // days + 1 if overdue else 1, 4)]


class BucketTestCase(unittest.TestCase):
    "The SQL bucket of a due date"

    def setUp(self):
        self.connection = sqlite3.connect(':memory:')
        self.flavor = Flavor.get()
        Flavor.set(Flavor(paramstyle='qmark'))

    def tearDown(self):
        Flavor.set(self.flavor)
        self.connection.close()

    def bucket(self, due, date, days):
        query = Select([Debt._bucket(Literal(due.isoformat()), date, days)])
        sql, params = tuple(query)
        params = [p.isoformat() if isinstance(p, dt.date) else p
            for p in params]
        return self.connection.execute(sql, params).fetchone()[0]

    def test_boundaries(self):
        "0–30, 31–60, 61–90 and more than 90 days with buckets of 30"
        date = dt.date(2025, 6, 30)
        for overdue, bucket in [
                (-1, 'not_due'), (0, 'term1'), (30, 'term1'), (31, 'term2'),
                (60, 'term2'), (61, 'term3'), (90, 'term3'), (91, 'term4'),
                (400, 'term4')]:
            with self.subTest(overdue=overdue):
                due = date - dt.timedelta(days=overdue)
                self.assertEqual(self.bucket(due, date, 30), bucket)

    @given(st.dates(dt.date(2000, 1, 1), dt.date(2099, 1, 1)),
        st.integers(-400, 400), st.integers(1, 120))
    def test_as_days_overdue(self, date, overdue, days):
        "The database's bucket is the one of the days overdue"
        due = date - dt.timedelta(days=overdue)
        self.assertEqual(
            self.bucket(due, date, days), expected_bucket(due, date, days))
