# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Property test of the ledger (BIL-1, P5): whatever a client tries on the
expense lines, the limits consume exactly what went through declare."""
import datetime as dt
import unittest
from contextlib import contextmanager
from decimal import Decimal

from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis import given

from trytond.model.exceptions import DomainValidationError
from trytond.modules.assistance_policy.exceptions import (
    ExpenseAccessError, ExpenseValidationError)
from trytond.modules.assistance_policy.expense import CONSUMING
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction, check_access

DATE = dt.date(2025, 3, 10)
AMOUNT_LIMIT = Decimal(10000)
QUANTITY_LIMIT = Decimal(3)
AGGREGATE_LIMIT = Decimal(15000)

# (field, value, error on a draft line); any write of a line in the ledger
# is refused with ExpenseAccessError.
WRITES = [
    ('quantity', Decimal(2), None),
    ('quantity', Decimal(-1), DomainValidationError),
    ('unit_price', Decimal(-500), ExpenseValidationError),
    ('unit_price', Decimal(700), None),
    ('date', dt.date(2025, 4, 1), None),
    ('covered_amount', Decimal(1), ExpenseAccessError),
    ('covered_quantity', Decimal(0), ExpenseAccessError),
    ('state', 'declared', ExpenseAccessError),
    ('state', 'draft', ExpenseAccessError),
    ]

steps = st.lists(st.one_of(
        st.tuples(st.just('declare'), st.integers(0, 1),
            st.sampled_from([Decimal(1), Decimal(2)]),
            st.sampled_from([Decimal(1500), Decimal(4000), Decimal(6000)])),
        st.tuples(st.just('redeclare'), st.integers(0, 20)),
        st.tuples(st.just('cancel'), st.integers(0, 20)),
        st.tuples(st.just('confirm'), st.integers(0, 20)),
        st.tuples(st.just('copy'), st.integers(0, 20)),
        st.tuples(st.just('write'), st.integers(0, 20),
            st.integers(0, len(WRITES) - 1)),
        st.tuples(st.just('delete'), st.integers(0, 20)),
        ), min_size=1, max_size=8)


class LedgerPropertyTestCase(unittest.TestCase):
    "The ledger consumes only through declare"

    @classmethod
    def setUpClass(cls):
        activate_module('assistance_policy')

    # Each example builds its contract in a new transaction: shrinking a
    # failure would take minutes, the failing steps are reported as found.
    @settings(max_examples=25, deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate])
    @given(steps)
    def test_limits_consume_what_was_declared(self, steps):
        "After every step each limit consumed the declared lines' covered"
        self.run_steps(steps)

    @with_transaction()
    def run_steps(self, steps):
        company = create_company()
        with set_company(company):
            self.setup_contract()
            self.declared = {}  # line id: (policy id, amount, quantity)
            self.lines = []
            for step in steps:
                getattr(self, 'step_' + step[0])(*step[1:])
                self.check_ledger()

    def setup_contract(self):
        pool = Pool()
        Category = pool.get('product.category')
        Template = pool.get('product.template')
        Uom = pool.get('product.uom')
        Party = pool.get('party.party')
        Contract = pool.get('assistance.contract')
        Package = pool.get('assistance.package')
        Policy = pool.get('assistance.policy')

        category, = Category.create([{'name': "Outpatient"}])
        unit, = Uom.search([('symbol', '=', 'u')])
        template, = Template.create([{
                    'name': "Visit", 'type': 'service',
                    'default_uom': unit.id, 'list_price': Decimal(1000),
                    'categories': [('add', [category.id])],
                    'products': [('create', [{}])],
                    }])
        self.service, = template.products
        insurer, first, second = Party.create(
            [{'name': n} for n in ["Insurer", "First", "Second"]])
        limit = {'period': 'policy_year', 'scope': 'insured'}
        contract, = Contract.create([{
                    'number': "N-1", 'insurer': insurer.id,
                    'policyholder': insurer.id,
                    'start_date': dt.date(2025, 1, 1),
                    'end_date': dt.date(2025, 12, 31),
                    'programs': [('create', [{
                                    'code': "P", 'name': "Programme",
                                    'options': [('create', [{
                                                    'code': "O",
                                                    'name': "Option",
                                                    'categories': [('add', [
                                                                category.id])],
                                                    }])],
                                    }])],
                    'limits': [('create', [
                                dict(limit, name="Amount", measure='amount',
                                    value=AMOUNT_LIMIT),
                                dict(limit, name="Visits",
                                    measure='quantity',
                                    value=QUANTITY_LIMIT),
                                dict(limit, name="Aggregate",
                                    measure='amount', scope='contract',
                                    value=AGGREGATE_LIMIT),
                                ])],
                    }])
        Contract.activate([contract])
        package, = Package.create([{
                    'contract': contract.id, 'code': "A", 'name': "Package",
                    'programs': [('add', [contract.programs[0].id])],
                    }])
        self.policies = Policy.create([{
                    'number': str(i), 'contract': contract.id,
                    'insured': p.id, 'package': package.id,
                    'start_date': contract.start_date,
                    'end_date': contract.end_date,
                    } for i, p in enumerate([first, second])])
        Policy.activate(self.policies)

    def pick(self, index):
        "Return a line of the test, or None when there is none"
        if self.lines:
            return self.lines[index % len(self.lines)]

    def step_declare(self, policy, quantity, unit_price):
        "Declare a new line"
        Line = Pool().get('assistance.expense.line')
        line, = Line.create([{
                    'policy': self.policies[policy].id,
                    'service': self.service.id, 'date': DATE,
                    'quantity': quantity, 'unit_price': unit_price,
                    }])
        self.lines.append(line.id)
        self.declare(line)

    def step_redeclare(self, index):
        "Declare a line again, e.g. a copy: only a draft is declared"
        Line = Pool().get('assistance.expense.line')
        if (line := self.pick(index)) is not None:
            line = Line(line)
            if line.state == 'cancelled':
                Line.draft([line])
            self.declare(line)

    def declare(self, line):
        Line = Pool().get('assistance.expense.line')
        draft = line.state == 'draft'
        declared = Line.declare([line])
        self.assertEqual(len(declared), int(draft))
        if declared:
            self.declared[line.id] = (
                line.policy.id, line.covered_amount, line.covered_quantity)

    def step_cancel(self, index):
        Line = Pool().get('assistance.expense.line')
        if (line := self.pick(index)) is not None:
            Line.cancel([Line(line)])
            self.declared.pop(line, None)

    def step_confirm(self, index):
        Line = Pool().get('assistance.expense.line')
        if (line := self.pick(index)) is not None:
            Line.confirm([Line(line)])

    def step_copy(self, index):
        Line = Pool().get('assistance.expense.line')
        if (line := self.pick(index)) is None:
            return
        with check_access():
            copy, = Line.copy([Line(line)])
        self.assertEqual(copy.state, 'draft')
        self.assertIsNone(copy.covered_amount)
        self.lines.append(copy.id)

    def step_write(self, index, write):
        Line = Pool().get('assistance.expense.line')
        if (line := self.pick(index)) is None:
            return
        line = Line(line)
        name, value, error = WRITES[write]
        if line.state != 'draft':
            error = ExpenseAccessError
        with check_access():
            if error:
                with self.assertRaises(error), self.savepoint():
                    Line.write([line], {name: value})
            else:
                Line.write([line], {name: value})

    def step_delete(self, index):
        Line = Pool().get('assistance.expense.line')
        if (line := self.pick(index)) is None:
            return
        consuming = Line(line).state in CONSUMING
        with check_access():
            if consuming:
                with self.assertRaises(ExpenseAccessError):
                    Line.delete([Line(line)])
            else:
                Line.delete([Line(line)])
                self.lines.remove(line)

    @contextmanager
    def savepoint(self):
        """Undo a refused write as the dispatcher's rollback would: its
        validation fails after the update"""
        cursor = Transaction().connection.cursor()
        cursor.execute('SAVEPOINT ledger_attempt')
        try:
            yield
        except Exception:
            cursor.execute('ROLLBACK TO SAVEPOINT ledger_attempt')
            for cache in Transaction().cache.values():
                cache.clear()
            raise
        finally:
            cursor.execute('RELEASE SAVEPOINT ledger_attempt')

    def check_ledger(self):
        Line = Pool().get('assistance.expense.line')
        consuming = Line.search([('state', 'in', CONSUMING)])
        self.assertEqual({l.id for l in consuming}, set(self.declared))
        for policy in self.policies:
            decision = policy.check_coverage(
                self.service, DATE, Decimal(1), Decimal(1))
            consumed = {u.label: u.consumed for u in decision.limits}
            self.assertEqual(consumed["Amount"], self.declared_sum(
                    1, policy.id))
            self.assertEqual(consumed["Visits"], self.declared_sum(
                    2, policy.id))
            self.assertEqual(consumed["Aggregate"], self.declared_sum(1))
            self.assertLessEqual(consumed["Amount"], AMOUNT_LIMIT)
            self.assertLessEqual(consumed["Visits"], QUANTITY_LIMIT)
            self.assertLessEqual(consumed["Aggregate"], AGGREGATE_LIMIT)

    def declared_sum(self, index, policy=None):
        return sum((v[index] for v in self.declared.values()
                if policy is None or v[0] == policy), Decimal(0))
