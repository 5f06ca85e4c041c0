# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Property test of the accrual against the real ledger (ACC-1, ACC-2,
BIL-1, BIL-2): whatever sequence of accepting (in full or with a
difference), invoicing (in part, or beyond what is owed) and cancelling,
per payee the balance of 76.05 is the actual covered amounts owed less the
invoiced allocations, no expense line is allocated beyond what it owes, the
trial balance balances and the settled lines of 76.05 are reconciled."""
import datetime as dt
import unittest
from decimal import Decimal

from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from trytond.modules.account.tests import create_chart, get_fiscalyear
from trytond.modules.account_invoice.tests.test_module import (
    set_invoice_sequences)
from trytond.modules.assistance_billing.exceptions import AllocationError
from trytond.modules.company.tests import create_company, set_company
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction
from trytond.transaction import Transaction

DATE = dt.date(2025, 3, 10)
CHART = 'assistance_billing.account_template_ru_root'
PRICES = [Decimal(1000), Decimal('1500.50'), Decimal(4000)]
# The share of the covered amount a register accepts, of what is left an
# invoice bills, in percent (over 100: beyond what is owed, refused).
ACCEPTED = [100, 100, 80, 55]
INVOICED = [100, 100, 50, 30, 101]

steps = st.lists(st.one_of(
        st.tuples(st.just('accept'), st.integers(0, 1),
            st.sampled_from(PRICES), st.sampled_from(ACCEPTED)),
        st.tuples(st.just('invoice'), st.integers(0, 20),
            st.sampled_from(INVOICED)),
        st.tuples(st.just('cancel'), st.integers(0, 20)),
        ), min_size=1, max_size=7)


def percent(amount, share):
    return (amount * share / 100).quantize(Decimal('0.01'))


class AccrualPropertyTestCase(unittest.TestCase):
    "76.05 per payee holds what is owed and not invoiced"

    @classmethod
    def setUpClass(cls):
        activate_module('assistance_billing')

    # The company, its chart and the contract are built once; each example
    # runs in a savepoint rolled back at its end.  Shrinking would take
    # minutes, the failing steps are reported as found.
    @with_transaction()
    def test_accrual_balance(self):
        "After every step the ledger holds the invariants"
        company = create_company()
        with set_company(company):
            self.setup_ledger(company)

            @settings(max_examples=40, deadline=None,
                phases=[Phase.explicit, Phase.reuse, Phase.generate])
            @given(steps)
            def check(steps):
                self.run_steps(steps)
            check()

    def run_steps(self, steps):
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        cursor.execute('SAVEPOINT accrual_example')
        try:
            self.lines = []
            for step in steps:
                getattr(self, 'step_' + step[0])(*step[1:])
                self.check_ledger()
        finally:
            cursor.execute('ROLLBACK TO SAVEPOINT accrual_example')
            transaction.cache.clear()

    def setup_ledger(self, company):
        pool = Pool()
        Account = pool.get('account.account')
        Category = pool.get('product.category')
        Template = pool.get('product.template')
        Uom = pool.get('product.uom')
        Party = pool.get('party.party')
        Contract = pool.get('assistance.contract')
        Package = pool.get('assistance.package')
        Policy = pool.get('assistance.policy')
        FiscalYear = pool.get('account.fiscalyear')

        create_chart(company, chart=CHART)
        fiscalyear = set_invoice_sequences(get_fiscalyear(company, DATE))
        fiscalyear.save()
        FiscalYear.create_period([fiscalyear])
        self.company = company
        self.accrual, = Account.search([
                ('code', '=', '76.05'), ('company', '=', company.id)])

        category, = Category.create([{'name': "Outpatient"}])
        unit, = Uom.search([('symbol', '=', 'u')])
        template, = Template.create([{
                    'name': "Visit", 'type': 'service',
                    'default_uom': unit.id, 'list_price': Decimal(1000),
                    'categories': [('add', [category.id])],
                    'products': [('create', [{}])],
                    }])
        self.service, = template.products
        insurer, first, second = Party.create([{
                    'name': n, 'addresses': [('create', [{}])],
                    } for n in ["Insurer", "First", "Second"]])
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
                    }])
        Contract.activate([contract])
        package, = Package.create([{
                    'contract': contract.id, 'code': "A", 'name': "Package",
                    'programs': [('add', [contract.programs[0].id])],
                    }])
        # Without an order the payee is the insured person reimbursed.
        self.policies = Policy.create([{
                    'number': str(i), 'contract': contract.id,
                    'insured': p.id, 'package': package.id,
                    'start_date': contract.start_date,
                    'end_date': contract.end_date,
                    } for i, p in enumerate([first, second])])
        Policy.activate(self.policies)
        self.payees = [first, second]

    def pick(self, index):
        if self.lines:
            return self.lines[index % len(self.lines)]

    def reload(self, line):
        return Pool().get('assistance.expense.line')(line.id)

    def step_accept(self, policy, price, share):
        """A register row accepted: the line declared and actual (accrued),
        the part not accepted taken off its accrual"""
        Line = Pool().get('assistance.expense.line')
        line, = Line.create([{
                    'policy': self.policies[policy].id,
                    'service': self.service.id, 'date': DATE,
                    'quantity': Decimal(1), 'unit_price': price,
                    }])
        Line.declare([line])
        Line.confirm([line])
        line = self.reload(line)
        self.assertEqual(line.state, 'actual')
        self.assertTrue(line.accrued)
        accepted = percent(line.covered_amount, share)
        Line.adjust_accrual([(line, line.covered_amount - accepted)])
        line = self.reload(line)
        self.assertEqual(line.owed_amount, accepted)
        self.lines.append(line)

    def step_invoice(self, index, share):
        """A supplier invoice of the payee billing a share of what is left
        on a line, posted; beyond what is owed it is refused"""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        line = self.pick(index)
        if line is None:
            return
        line = self.reload(line)
        left = line.to_invoice_amount
        amount = percent(left, share) if share <= 100 else left + 1
        if amount <= 0:
            return
        invoice = Invoice(company=self.company, type='in',
            party=line.accrual_payee, currency=self.company.currency,
            invoice_date=DATE)
        invoice.on_change_type()
        invoice.lines = [InvoiceLine(invoice=invoice, company=self.company,
                type='line', currency=self.company.currency,
                account=self.accrual, quantity=1, unit_price=amount,
                origin=line, description="Visit")]
        invoice.save()
        if line.state != 'actual' or amount > left:
            with self.assertRaises(AllocationError):
                Invoice.validate_invoice([invoice])
            return
        Invoice.validate_invoice([invoice])
        Invoice.post([invoice])
        self.assertEqual(Invoice(invoice.id).state, 'posted')

    def step_cancel(self, index):
        "The line cancelled: its accrual and adjustment reversed"
        Line = Pool().get('assistance.expense.line')
        line = self.pick(index)
        if line is None:
            return
        Line.cancel([self.reload(line)])

    def check_ledger(self):
        pool = Pool()
        Line = pool.get('assistance.expense.line')
        MoveLine = pool.get('account.move.line')
        move_lines = MoveLine.search([])
        self.assertEqual(sum(l.debit for l in move_lines),
            sum(l.credit for l in move_lines))
        lines = Line.browse([l.id for l in self.lines])
        for payee in self.payees:
            mine = [l for l in lines if l.accrual_payee == payee]
            balance = sum((l.credit - l.debit for l in move_lines
                    if l.account == self.accrual and l.party == payee),
                Decimal(0))
            owed = sum((l.owed_amount for l in mine if l.state == 'actual'),
                Decimal(0))
            invoiced = sum((l.invoiced_amount for l in mine), Decimal(0))
            self.assertEqual(balance, owed - invoiced)
        for line in lines:
            if line.state == 'actual':
                self.assertLessEqual(line.invoiced_amount, line.owed_amount)
            interim = [ml for m in line._accrual_moves() for ml in m.lines
                if ml.account == self.accrual]
            interim += MoveLine.search([
                    ('origin', 'in', [str(il) for il in line.invoice_lines]),
                    ('account', '=', self.accrual.id),
                    ])
            settled = (
                (line.state == 'actual'
                    and line.invoiced_amount == line.owed_amount)
                or (line.state == 'cancelled' and not line.invoiced_amount))
            if settled:
                self.assertTrue(all(ml.reconciliation for ml in interim),
                    line.rec_name)
            for ml in interim:
                if ml.reconciliation:
                    self.assertEqual(sum(
                            l.debit - l.credit
                            for l in ml.reconciliation.lines), 0)
