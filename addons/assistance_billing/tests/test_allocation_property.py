# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Unit and property tests of the allocation of provider's invoice lines to
expense lines (BIL-2): no expense line is allocated beyond its amount, and
per payee the interim account 76.05 holds Σ actual covered − Σ allocated"""
import unittest
from collections import defaultdict
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from trytond.modules.assistance_billing.allocation import (
    Tolerance, allocate, classify)

amounts = st.decimals(
    min_value=Decimal('0.01'), max_value=Decimal('20000'), places=2)
tolerances = st.builds(Tolerance,
    st.one_of(st.none(), st.decimals(
            min_value=0, max_value=Decimal('100'), places=2)),
    st.one_of(st.none(), st.decimals(
            min_value=0, max_value=Decimal('10'), places=2)))
PAYEES = ['clinic', 'lab', 'head office']
SERVICES = [1, 2, 3]
expense_lines = st.lists(
    st.tuples(st.sampled_from(PAYEES), st.sampled_from(SERVICES), amounts),
    max_size=12)
invoice_lines = st.lists(
    st.tuples(st.sampled_from(PAYEES),
        st.one_of(st.none(), st.sampled_from(SERVICES)), amounts),
    max_size=12)


class ClassifyTestCase(unittest.TestCase):
    "The five outcomes on the examples of the scenario"
    tolerance = Tolerance(Decimal(50), None)

    def test_exact(self):
        self.assertEqual(
            classify(Decimal(800), [('a', Decimal(800)),
                    ('b', Decimal(1500))], self.tolerance)[:2],
            ('exact', 'a'))

    def test_within_tolerance(self):
        allocation = classify(
            Decimal(2970), [('a', Decimal(3000))], self.tolerance)
        self.assertEqual(allocation.status, 'tolerance')
        self.assertEqual(allocation.difference, Decimal(30))

    def test_beyond_tolerance(self):
        allocation = classify(
            Decimal(2900), [('a', Decimal(3000))], self.tolerance)
        self.assertEqual(allocation.status, 'unmatched')
        self.assertEqual(allocation.keys, ['a'])

    def test_percent(self):
        tolerance = Tolerance(None, Decimal(1))
        self.assertEqual(classify(
                Decimal(2970), [('a', Decimal(3000))], tolerance).status,
            'tolerance')
        self.assertEqual(classify(
                Decimal(2969), [('a', Decimal(3000))], tolerance).status,
            'unmatched')

    def test_ambiguous(self):
        allocation = classify(Decimal(1500), [
                ('a', Decimal(1500)), ('b', Decimal(1500))], self.tolerance)
        self.assertEqual(allocation.status, 'ambiguous')
        self.assertIsNone(allocation.key)
        self.assertEqual(allocation.keys, ['a', 'b'])

    def test_over(self):
        allocation = classify(Decimal(6500), [
                ('a', Decimal(6000)), ('b', Decimal(30))], self.tolerance)
        self.assertEqual(allocation[:3], ('over', None, Decimal(500)))

    def test_no_candidate(self):
        self.assertEqual(
            classify(Decimal(700), [], self.tolerance).status, 'unmatched')

    def test_allocated_once(self):
        "Two lines of the same amount take the one expense line once"
        first, second = allocate(
            [(Decimal(800), None), (Decimal(800), None)],
            {'a': Decimal(800)}, self.tolerance)
        self.assertEqual(first.status, 'exact')
        self.assertEqual(second.status, 'unmatched')

    def test_service(self):
        "A line with a product is matched to that service only"
        allocation, = allocate([(Decimal(800), 2)],
            {'a': Decimal(800), 'b': Decimal(800)}, self.tolerance,
            {'a': 1, 'b': 2})
        self.assertEqual(allocation[:2], ('exact', 'b'))


class AllocationPropertyTestCase(unittest.TestCase):

    @given(amounts, st.lists(st.tuples(st.integers(0, 20), amounts),
            unique_by=lambda c: c[0], max_size=8), tolerances)
    def test_classify(self, amount, candidates, tolerance):
        "Each outcome holds what its name says"
        left = dict(candidates)
        allocation = classify(amount, candidates, tolerance)
        if allocation.status == 'exact':
            self.assertEqual(left[allocation.key], amount)
        elif allocation.status == 'tolerance':
            self.assertGreater(left[allocation.key], amount)
            self.assertEqual(
                allocation.difference, left[allocation.key] - amount)
            self.assertTrue(tolerance.allows(
                    allocation.difference, left[allocation.key]))
        elif allocation.status == 'over':
            self.assertTrue(all(r < amount for r in left.values()))
            self.assertEqual(
                allocation.difference, amount - max(left.values()))
        if allocation.key is None:
            self.assertIn(allocation.status, {'ambiguous', 'over',
                    'unmatched'})
        else:
            self.assertIn(allocation.status, {'exact', 'tolerance'})
            self.assertLessEqual(amount, left[allocation.key])
        if allocation.status == 'ambiguous':
            self.assertGreater(len(allocation.keys), 1)
        self.assertLessEqual(set(allocation.keys), set(left))

    @settings(max_examples=300)
    @given(expense_lines, invoice_lines, tolerances)
    def test_ledger(self, expenses, lines, tolerance):
        """Per payee: the invoices allocated per payee leave on 76.05 the
        covered amounts less the allocations, none beyond its line"""
        ledger = defaultdict(Decimal)  # 76.05 credit balance per payee
        covered = {}
        services = {}
        payees = {}
        for key, (payee, service, amount) in enumerate(expenses):
            covered[key], services[key], payees[key] = amount, service, payee
            ledger[payee] += amount  # the accrual: Ct 76.05
        allocated = defaultdict(Decimal)
        for payee in PAYEES:
            mine = [(a, s) for p, s, a in lines if p == payee]
            left = {k: covered[k] for k in covered if payees[k] == payee}
            for (amount, _), allocation in zip(
                    mine, allocate(mine, left, tolerance, services)):
                if allocation.key is not None:
                    self.assertEqual(payees[allocation.key], payee)
                    allocated[allocation.key] += amount
                    ledger[payee] -= amount  # the invoice: Dt 76.05
        for key, amount in allocated.items():
            self.assertLessEqual(amount, covered[key])
        for payee in PAYEES:
            self.assertEqual(ledger[payee],
                sum(covered[k] for k in covered if payees[k] == payee)
                - sum(allocated[k] for k in allocated
                    if payees[k] == payee))
            self.assertGreaterEqual(ledger[payee], 0)
