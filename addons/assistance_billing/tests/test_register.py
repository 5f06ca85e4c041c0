# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The pure rules of the provider registers: reading a row, deciding a row"
import datetime as dt
import unittest
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trytond.modules.assistance_billing import register_rules as rules

MAPPING = {f: i for i, f in enumerate([
            'row_number', 'patient', 'policy_number', 'order_number',
            'service_date', 'service_code', 'service_name', 'quantity',
            'unit_price', 'amount', 'diagnosis'])}
SERVICES = rules.service_finder({'A01': 1}, {'T-1': 2}, {
        rules.service_key("Анализ крови"): 3})


def row(**values):
    cells = [None] * len(MAPPING)
    for name, value in values.items():
        cells[MAPPING[name]] = value
    return cells


class ParseRowTestCase(unittest.TestCase):
    "A row of the provider's workbook"

    def parse(self, **values):
        return rules.parse_row(5, row(**values), MAPPING, SERVICES)

    def test_good_row(self):
        "A full row gives its values and no error"
        parsed = self.parse(row_number=3, patient="Иванов", policy_number="1",
            service_date=dt.date(2025, 3, 1), service_code='A01',
            quantity=2, unit_price=100, amount="200,00 руб.")
        self.assertEqual(parsed.errors, [])
        self.assertEqual(parsed.values['service'], 1)
        self.assertEqual(parsed.values['row_number'], 3)
        self.assertEqual(parsed.values['amount'], Decimal('200.00'))
        self.assertEqual(parsed.values['quantity'], Decimal(2))

    def test_services(self):
        "Our code, the provider's code, then the name"
        for values, service in [
                ({'service_code': 'T-1'}, 2),
                ({'service_code': 'zz', 'service_name': "анализ  КРОВИ"}, 3),
                ]:
            parsed = self.parse(order_number="Г1", amount=1,
                service_date="01.03.2025", **values)
            self.assertEqual(parsed.values.get('service'), service)

    def test_amounts_completed(self):
        "The amount from the price and the price from the amount"
        parsed = self.parse(order_number="Г1", service_code='A01',
            service_date="01.03.2025", quantity=3, unit_price=10)
        self.assertEqual(parsed.values['amount'], Decimal('30.00'))
        parsed = self.parse(order_number="Г1", service_code='A01',
            service_date="01.03.2025", quantity=4, amount=10)
        self.assertEqual(parsed.values['unit_price'], Decimal('2.50'))

    def test_errors(self):
        "Each unreadable cell is named with its reason"
        for values, error in [
                ({'service_code': 'A01', 'amount': 1}, ('service_date',
                        'missing_date')),
                ({'service_code': 'A01', 'amount': 1,
                        'service_date': "32.01.2025"}, ('service_date',
                        'bad_date')),
                ({'service_date': "01.03.2025", 'amount': 1},
                    ('service_name', 'missing_service')),
                ({'service_code': 'Q', 'service_date': "01.03.2025",
                        'amount': 1}, ('service_name', 'unknown_service')),
                ({'service_code': 'A01', 'service_date': "01.03.2025"},
                    ('amount', 'missing_amount')),
                ({'service_code': 'A01', 'service_date': "01.03.2025",
                        'amount': "много"}, ('amount', 'bad_price')),
                ({'service_code': 'A01', 'service_date': "01.03.2025",
                        'amount': 1, 'quantity': 0},
                    ('quantity', 'bad_quantity')),
                ]:
            with self.subTest(values=values):
                parsed = rules.parse_row(5, row(policy_number="1", **values),
                    MAPPING, SERVICES)
                self.assertIn(error, parsed.errors)
        parsed = self.parse(service_code='A01', service_date="01.03.2025",
            amount=1)
        self.assertIn(('order_number', 'missing_reference'), parsed.errors)

    def test_keys(self):
        "The same content twice gives two keys, the same file the same keys"
        cells = row(policy_number="1", service_code='A01',
            service_date="01.03.2025", amount=5)
        rows = [row(patient="header")] + [cells, cells, row(
                policy_number="2", service_code='A01',
                service_date="01.03.2025", amount=5)]
        keys = [p.values['source_key'] for p in rules.parse_rows(
                rows, MAPPING, 0, SERVICES)]
        self.assertEqual(len(set(keys)), 3)
        self.assertEqual(keys, [p.values['source_key']
                for p in rules.parse_rows(rows, MAPPING, 0, SERVICES)])


money = st.decimals(min_value=0, max_value=100000, places=2,
    allow_nan=False, allow_infinity=False)
quantities = st.integers(min_value=1, max_value=10).map(Decimal)


class DecideTestCase(unittest.TestCase):
    "The outcome of a row matched to an expense line"

    def decide(self, amount, covered, list_price=None, quantity=1,
            covered_quantity=1, partial=False, tolerance=Decimal(1)):
        return rules.decide(Decimal(amount), Decimal(quantity),
            Decimal(amount) / quantity, Decimal(covered),
            Decimal(covered_quantity),
            None if list_price is None else Decimal(list_price),
            tolerance, partial)

    def test_cases(self):
        for args, expected in [
                ((1000, 1000), ('accepted', 1000, None)),
                (('1000.50', 1000), ('accepted', 1000, None)),
                ((900, 1000), ('accepted', 900, None)),
                ((1200, 1000, 1000), ('difference', 1000,
                        'price_above_list')),
                ((1200, 1000), ('difference', 1000, 'amount_above_order')),
                ((3000, 2000, None, 3, 2, True), ('difference', 2000,
                        'limit_exhausted')),
                ((1000, 0, None, 1, 0, True), ('removed', 0,
                        'limit_exhausted')),
                ]:
            with self.subTest(args=args):
                outcome = self.decide(*args)
                self.assertEqual(
                    (outcome.outcome, outcome.accepted, outcome.reason),
                    (expected[0], Decimal(expected[1]), expected[2]))

    @settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(money, money, st.one_of(st.none(), money), quantities, quantities,
        st.booleans(), money)
    def test_never_above(self, amount, covered, list_price, quantity,
            covered_quantity, partial, tolerance):
        "Never more than claimed, covered or listed; a reason for any cut"
        outcome = rules.decide(amount, quantity, amount / quantity, covered,
            covered_quantity, list_price, tolerance, partial)
        self.assertLessEqual(outcome.accepted, amount)
        self.assertLessEqual(outcome.accepted, covered)
        self.assertGreaterEqual(outcome.accepted, 0)
        if list_price is not None and amount / quantity > list_price + (
                tolerance):
            self.assertLessEqual(outcome.accepted,
                (list_price * quantity).quantize(Decimal('0.01')))
        if outcome.outcome == 'accepted':
            self.assertIsNone(outcome.reason)
            self.assertLessEqual(amount - outcome.accepted, tolerance)
        else:
            self.assertIsNotNone(outcome.reason)
        self.assertEqual(outcome.outcome == 'removed',
            outcome.accepted == 0 and outcome.outcome != 'accepted')
