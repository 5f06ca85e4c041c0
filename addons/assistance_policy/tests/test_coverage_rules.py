# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"Unit and property tests of the pure coverage rules (POL-2, POL-3, P5)"
import datetime as dt
import unittest
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from trytond.modules.assistance_policy import coverage_rules as rules
from trytond.modules.assistance_policy.coverage_rules import (
    DeductibleState, LimitState, decide, icd_matches, icd_ranges_valid,
    window)

D = Decimal
d = dt.date


def limit(measure, value, consumed=0, key='L', counted=False):
    return LimitState(key, key, measure, D(value), D(consumed),
        day_counted=counted)


class WindowTest(unittest.TestCase):
    "Every period's window, at its boundaries"

    def test_calendar_periods(self):
        day = d(2024, 11, 30)
        self.assertEqual(window('calendar_year', day, None, None),
            (d(2024, 1, 1), d(2024, 12, 31)))
        self.assertEqual(window('quarter', day, None, None),
            (d(2024, 10, 1), d(2024, 12, 31)))
        self.assertEqual(window('quarter', d(2024, 1, 1), None, None),
            (d(2024, 1, 1), d(2024, 3, 31)))
        self.assertEqual(window('month', day, None, None),
            (d(2024, 11, 1), d(2024, 11, 30)))
        self.assertEqual(window('month', d(2024, 2, 29), None, None),
            (d(2024, 2, 1), d(2024, 2, 29)))
        self.assertEqual(window('week', d(2024, 12, 1), None, None),
            (d(2024, 11, 25), d(2024, 12, 1)))
        self.assertEqual(window('day', day, None, None), (day, day))

    def test_term_and_case(self):
        term = (d(2024, 3, 1), d(2025, 2, 28))
        self.assertEqual(window('term', d(2024, 7, 1), *term), term)
        self.assertEqual(window('case', d(2024, 7, 1), *term), (None, None))

    def test_policy_year_crosses_calendar_year(self):
        term = (d(2024, 7, 1), d(2026, 6, 30))
        self.assertEqual(window('policy_year', d(2025, 1, 15), *term),
            (d(2024, 7, 1), d(2025, 6, 30)))
        self.assertEqual(window('policy_year', d(2025, 7, 1), *term),
            (d(2025, 7, 1), d(2026, 6, 30)))

    def test_policy_year_from_leap_day(self):
        term = (d(2024, 2, 29), d(2027, 2, 27))
        self.assertEqual(window('policy_year', d(2025, 2, 27), *term),
            (d(2024, 2, 29), d(2025, 2, 27)))
        self.assertEqual(window('policy_year', d(2025, 2, 28), *term),
            (d(2025, 2, 28), d(2026, 2, 27)))

    def test_policy_ending_mid_window(self):
        term = (d(2024, 1, 1), d(2024, 8, 15))
        self.assertEqual(window('policy_year', d(2024, 8, 1), *term),
            (d(2024, 1, 1), d(2024, 8, 15)))

    @given(st.sampled_from(rules.PERIODS[:6] + ['term']),
        st.dates(d(2000, 1, 1), d(2040, 12, 31)),
        st.dates(d(2000, 1, 1), d(2030, 12, 31)))
    def test_window_holds_date(self, period, date, start):
        end = start + dt.timedelta(days=3650)
        if not start <= date <= end:
            return
        first, last = window(period, date, start, end)
        self.assertLessEqual(first, date)
        self.assertLessEqual(date, last)


class IcdTest(unittest.TestCase):
    "Diagnosis exclusions by ICD-10 code and range"

    def test_range_of_categories(self):
        self.assertTrue(icd_matches('F32.1', 'F00-F99'))
        self.assertTrue(icd_matches('F00', 'F00-F99'))
        self.assertFalse(icd_matches('G00', 'F00-F99'))
        self.assertFalse(icd_matches('E99.9', 'F00-F99'))

    def test_single_code_covers_sub_codes(self):
        self.assertTrue(icd_matches('Z30.1', 'Z30.1'))
        self.assertTrue(icd_matches('Z30.1', 'A00; Z30'))
        self.assertFalse(icd_matches('Z30.2', 'Z30.1'))
        self.assertTrue(icd_matches('z30,1', 'F00-F99, Z30.1'))

    def test_not_a_code(self):
        self.assertFalse(icd_matches('', 'F00-F99'))
        self.assertFalse(icd_matches('депрессия', 'F00-F99'))

    def test_ranges_valid(self):
        self.assertTrue(icd_ranges_valid('F00-F99, Z30.1'))
        self.assertFalse(icd_ranges_valid('F00-'))
        self.assertFalse(icd_ranges_valid(''))
        self.assertFalse(icd_ranges_valid('psychiatry'))

    def test_diagnoses_only_add_refusals(self):
        "A second diagnosis of a request adds a refusal, never lifts one"
        self.assertTrue(rules.diagnoses_match(['F32.0', 'J06.9'], 'F00-F99'))
        self.assertTrue(rules.diagnoses_match(['J10.1', 'F32.0'], 'F00-F99'))
        self.assertTrue(rules.diagnoses_match(['F32.0', None], 'F00-F99'))
        self.assertFalse(rules.diagnoses_match(['J10.1', 'J06.9'], 'F00-F99'))
        self.assertFalse(rules.diagnoses_match([], 'F00-F99'))

    @given(st.lists(st.sampled_from(
                ['F32.0', 'J06.9', 'J10.1', 'F99', 'Z30.1', None, 'текст'])),
        st.sampled_from(['F32.0', 'J06.9', None, 'текст']))
    def test_diagnosis_added_keeps_refusal(self, diagnoses, extra):
        for ranges in ['F00-F99', 'J00-J99, Z30.1']:
            if rules.diagnoses_match(diagnoses, ranges):
                self.assertTrue(
                    rules.diagnoses_match(diagnoses + [extra], ranges))


class DecideTest(unittest.TestCase):
    "The decision for each measure, deductible kind and partial coverage"

    def test_fully_covered(self):
        decision = decide(2, 1500, [limit('quantity', 10)])
        self.assertEqual(decision.status, 'covered')
        self.assertEqual(decision.covered_amount, D('3000.00'))
        self.assertEqual(decision.insured_amount, 0)
        use, = decision.limits
        self.assertEqual((use.remaining_before, use.remaining_after),
            (D(10), D(8)))

    def test_quantity_limit_partial(self):
        "10 massage sessions per year, 8 used: 2 of 3 covered"
        decision = decide(3, 2000, [limit('quantity', 10, 8)])
        self.assertEqual(decision.status, 'partial')
        self.assertEqual(decision.covered_quantity, 2)
        self.assertEqual(decision.covered_amount, D('4000.00'))
        self.assertEqual(decision.insured_amount, D('2000.00'))
        self.assertEqual(decision.reason, rules.LIMIT_PARTIAL)
        self.assertEqual(decision.reason_args, {
                'limit': 'L', 'measure': 'quantity', 'remaining': D(2),
                'value': D(10)})
        self.assertEqual(decision.biting, 'L')

    def test_quantity_limit_exhausted(self):
        decision = decide(1, 2000, [limit('quantity', 2, 2)])
        self.assertTrue(decision.refused)
        self.assertEqual(decision.insured_amount, D('2000.00'))
        self.assertEqual(decision.reason, rules.LIMIT)
        self.assertEqual(decision.reason_args, {
                'limit': 'L', 'measure': 'quantity', 'remaining': D(0),
                'value': D(2)})

    def test_amount_limit(self):
        "100 000 per case, 95 000 used"
        decision = decide(1, 8000, [limit('amount', 100000, 95000)])
        self.assertEqual(decision.status, 'partial')
        self.assertEqual(decision.covered_amount, D(5000))
        self.assertEqual(decision.insured_amount, D('3000.00'))
        self.assertEqual(decision.limits[0].remaining_after, 0)
        self.assertEqual(decision.reason, rules.LIMIT_PARTIAL)
        self.assertEqual(decision.reason_args['remaining'], D(5000))

    def test_days_limit(self):
        "3 days per month: a new day needs a free day, a counted day not"
        full = limit('days', 3, 3)
        self.assertTrue(decide(1, 100, [full]).refused)
        counted = limit('days', 3, 3, counted=True)
        self.assertEqual(decide(1, 100, [counted]).status, 'covered')
        decision = decide(1, 100, [limit('days', 3, 2)])
        self.assertEqual(decision.limits[0].remaining_after, 0)

    def test_fixed_deductible_per_line(self):
        decision = decide(1, 3000, [],
            [DeductibleState('F', 'F', 'fixed', D(500))])
        self.assertEqual(decision.status, 'covered')
        self.assertEqual(decision.deductible, D(500))
        self.assertEqual(decision.covered_amount, D(2500))

    def test_fixed_deductible_larger_than_line(self):
        decision = decide(1, 300, [],
            [DeductibleState('F', 'F', 'fixed', D(500))])
        self.assertEqual(decision.deductible, D(300))
        self.assertEqual(decision.covered_amount, 0)

    def test_percentage_deductible(self):
        decision = decide(3, 1000, [],
            [DeductibleState('P', 'P', 'percentage', D(10))])
        self.assertEqual(decision.deductible, D('300.00'))
        self.assertEqual(decision.covered_amount, D('2700.00'))

    def test_deductible_per_period_already_taken(self):
        taken = DeductibleState('Y', 'Y', 'fixed', D(5000), 'period',
            D(4000))
        decision = decide(1, 3000, [], [taken])
        self.assertEqual(decision.deductible, D(1000))
        self.assertEqual(decision.covered_amount, D(2000))

    def test_amount_limit_exhausted_takes_no_deductible(self):
        decision = decide(1, 3000, [limit('amount', 1000, 1000)],
            [DeductibleState('F', 'F', 'fixed', D(500))])
        self.assertTrue(decision.refused)
        self.assertEqual(decision.deductible, 0)
        self.assertEqual(decision.insured_amount, D('3000.00'))

    def test_tightest_limit_bites(self):
        decision = decide(5, 100, [
                limit('quantity', 10, 7, key='year'),
                limit('quantity', 4, 3, key='month')])
        self.assertEqual(decision.covered_quantity, 1)
        self.assertEqual(decision.biting, 'month')

    def test_refuse(self):
        decision = rules.refuse(D(2), D(100), rules.EXCLUDED, exclusion='X')
        self.assertTrue(decision.refused)
        self.assertEqual(decision.insured_amount, D('200.00'))
        self.assertEqual(decision.reason_args, {'exclusion': 'X'})


money = st.decimals(min_value=0, max_value=50000, places=2)
counts = st.integers(min_value=1, max_value=6).map(D)
limit_kinds = st.lists(st.tuples(
        st.sampled_from(['amount', 'quantity', 'days']),
        st.integers(min_value=0, max_value=20000).map(D)),
    min_size=0, max_size=4)
deductible_kinds = st.lists(st.tuples(
        st.sampled_from(['fixed', 'percentage']),
        st.sampled_from(['line', 'case', 'period']),
        st.integers(min_value=0, max_value=100).map(D)),
    max_size=2)


class DecidePropertyTest(unittest.TestCase):
    "For any sequence of requests, the invariants of the ledger hold"

    @settings(max_examples=300, deadline=None)
    @given(limit_kinds, deductible_kinds,
        st.lists(st.tuples(counts, money, st.integers(0, 3)), max_size=12))
    def test_sequence(self, limit_specs, deductible_specs, requests):
        limits = [LimitState(i, str(i), m, v)
            for i, (m, v) in enumerate(limit_specs)]
        deductibles = [DeductibleState(i, str(i), k, v, a)
            for i, (k, a, v) in enumerate(deductible_specs)]
        days = set()
        history = []
        for quantity, price, day in requests:
            before = limits
            limits = [l if l.measure != 'days'
                else LimitState(l.key, l.label, l.measure, l.value,
                    l.consumed, day_counted=day in days)
                for l in limits]
            decision = decide(quantity, price, limits, deductibles)
            # covered + deductible + insured = requested
            self.assertEqual(
                decision.covered_amount + decision.deductible
                + decision.insured_amount, decision.requested_amount)
            self.assertGreaterEqual(decision.insured_amount, 0)
            self.assertLessEqual(decision.covered_quantity, quantity)
            for limit, use in zip(limits, decision.limits):
                # covered ≤ remaining at each step
                self.assertGreaterEqual(use.remaining_after, 0)
                if limit.measure == 'amount':
                    self.assertLessEqual(
                        decision.covered_amount, limit.remaining)
                elif limit.measure == 'quantity':
                    self.assertLessEqual(
                        decision.covered_quantity, limit.remaining)
            # A limit that cuts the request is partial, not exhausted.
            self.assertEqual(decision.reason, {
                    'covered': None, 'partial': rules.LIMIT_PARTIAL,
                    'refused': rules.LIMIT}[decision.status]
                if decision.biting is not None else None)
            limits = rules.consume(limits, decision)
            if decision.covered_quantity > 0:
                days.add(day)
            history.append((before, decision))
        # total covered never exceeds any limit
        for limit in limits:
            self.assertLessEqual(limit.consumed, limit.value)
        # cancelling a line restores exactly what it consumed
        for before, decision in history[-1:]:
            restored = [
                LimitState(l.key, l.label, l.measure, l.value,
                    l.consumed - (u.remaining_before - u.remaining_after))
                for l, u in zip(limits, decision.limits)]
            self.assertEqual(
                [r.consumed for r in restored],
                [b.consumed for b in before])
