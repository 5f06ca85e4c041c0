# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The assistance fee on the contract and the monthly billing of its insurer
(issue 13 step 6).

Each run of a month bills the difference between what the insurer owes and
what its invoices already bill: per expense line its covered amount while it
is actual (else nothing), per month the fee.  What is billed is read from the
invoice lines themselves (their origin is the expense line, or the contract
for the fee), so a rerun bills nothing twice and a line cancelled after being
billed comes back as a negative line."""
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sql import Null

from trytond.i18n import gettext
from trytond.model import fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .exceptions import InsurerBillingError
from .insurer_billing import corrections, month_end, month_start

FEE_METHODS = [
    (None, ""),
    ('insured', "Per Insured per Month"),
    ('case', "Per Case"),
    ('losses', "Percentage of Losses"),
    ]


class Contract(metaclass=PoolMeta):
    __name__ = 'assistance.contract'
    _fee_states = {
        'readonly': Eval('state').in_(['closed', 'cancelled']),
        }
    fee_method = fields.Selection(
        FEE_METHODS, "Fee Method", states=_fee_states,
        help="How the assistance fee billed to the insurer each month is "
        "counted, on top of the losses.")
    fee_amount = Monetary(
        "Fee Amount", currency='currency', digits='currency',
        states={
            'readonly': _fee_states['readonly'],
            'invisible': ~Eval('fee_method').in_(['insured', 'case']),
            'required': Eval('fee_method').in_(['insured', 'case']),
            },
        domain=['OR',
            ('fee_amount', '=', None),
            ('fee_amount', '>=', 0),
            ],
        help="The fee per insured person per month or per case.")
    fee_rate = fields.Numeric(
        "Fee Rate", digits=(16, 4),
        states={
            'readonly': _fee_states['readonly'],
            'invisible': Eval('fee_method') != 'losses',
            'required': Eval('fee_method') == 'losses',
            },
        domain=['OR',
            ('fee_rate', '=', None),
            ('fee_rate', '>=', 0),
            ],
        help="The fee as a share of the month's losses.")
    insurer_invoices = fields.One2Many(
        'account.invoice', 'insurer_contract', "Insurer Invoices",
        readonly=True,
        help="The customer invoices that bill the losses and the fee of this "
        "contract to the insurer.")
    del _fee_states

    @classmethod
    def copy(cls, contracts, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('insurer_invoices', None)
        return super().copy(contracts, default=default)

    @classmethod
    def bill_insurer(cls, contracts, date):
        """Create the draft customer invoices that bill the insurers what is
        not billed yet of the month of date and before; return them"""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        month = month_start(date)
        # The invoices of a contract are computed from what is billed:
        # concurrent runs of one contract wait for each other.
        cls.lock(contracts)
        invoices = []
        for contract in cls.browse(sorted(contracts, key=lambda c: c.id)):
            invoice = contract.get_insurer_invoice(month)
            if invoice:
                invoices.append(invoice)
        Invoice.save(invoices)
        Invoice.update_taxes(invoices)
        return invoices

    def get_insurer_invoice(self, month):
        """Return the unsaved invoice of what is not billed yet of the month
        and before, or None if everything is billed"""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        lines = self._insurer_loss_lines(month)
        months = {month} | {l.insurer_month for l in lines}
        for fee_month in sorted(months):
            fee = self._insurer_fee_line(fee_month)
            if fee:
                lines.append(fee)
        if not lines:
            return None
        self._check_insurer_billing()
        invoice = Invoice(
            company=self.company,
            type='out',
            party=self.insurer,
            invoice_address=self.insurer.address_get(type='invoice'),
            currency=self.currency,
            account=self.insurer.account_receivable_used,
            payment_term=self.insurer.customer_payment_term,
            insurer_contract=self,
            insurer_month=month,
            description=gettext(
                'assistance_billing.msg_insurer_invoice_description',
                contract=self.number, month=_format_month(month)))
        invoice.set_journal()
        invoice.lines = lines
        return invoice

    def _check_insurer_billing(self):
        "Raise if the insurer or the configuration lacks what an invoice needs"
        pool = Pool()
        Configuration = pool.get('assistance.billing.configuration')
        if not self.insurer.address_get(type='invoice'):
            raise InsurerBillingError(gettext(
                    'assistance_billing.msg_insurer_no_address',
                    contract=self.rec_name, insurer=self.insurer.rec_name))
        if not self.insurer.account_receivable_used:
            raise InsurerBillingError(gettext(
                    'assistance_billing.msg_insurer_no_receivable',
                    contract=self.rec_name, insurer=self.insurer.rec_name))
        config = Configuration(1)
        for name in ['insurer_losses_account', 'insurer_fee_account']:
            if not config.get_multivalue(name, company=self.company.id):
                raise InsurerBillingError(gettext(
                        'assistance_billing.msg_insurer_not_configured',
                        contract=self.rec_name,
                        company=self.company.rec_name,
                        field=Configuration.__names__(field=name)['field']))

    def _insurer_account(self, name):
        Configuration = Pool().get('assistance.billing.configuration')
        account = Configuration(1).get_multivalue(
            name, company=self.company.id)
        if not account:
            self._check_insurer_billing()
        return account

    def _billed_invoice_lines(self, domain):
        """Return the lines of this contract's invoices that bill: neither
        cancelled nor the credit note that refunded a cancelled one"""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        refunded = Invoice.search([
                ('insurer_contract', '=', self.id),
                ('state', '=', 'cancelled'),
                ('cancel_move', '!=', None),
                ])
        refunds = Invoice.search([
                ('insurer_contract', '=', self.id),
                ('move', 'in', [i.cancel_move.id for i in refunded]),
                ]) if refunded else []
        return InvoiceLine.search([
                ('invoice.insurer_contract', '=', self.id),
                ('invoice.state', '!=', 'cancelled'),
                ('invoice.type', '=', 'out'),
                ('invoice', 'not in', [i.id for i in refunds]),
                ] + domain)

    def _insurer_loss_lines(self, month):
        """Return the unsaved invoice lines of the losses not billed yet: the
        actual expense lines of the month and before not fully billed, and
        the billed lines that are no longer owed"""
        pool = Pool()
        ExpenseLine = pool.get('assistance.expense.line')
        end = month_end(month)
        billed = defaultdict(Decimal)
        for line in self._billed_invoice_lines([
                    ('origin', 'like', 'assistance.expense.line,%'),
                    ]):
            billed[line.origin.id] += _line_amount(line)
        owed = {}
        actual = ExpenseLine.search([
                ('contract', '=', self.id),
                ('state', '=', 'actual'),
                ('date', '<=', end),
                ('covered_amount', '!=', 0),
                ])
        for expense in actual:
            # The part a provider's register did not accept is no loss.
            owed[expense.id] = self.currency.round(expense.owed_amount)
        # A line of a later month is left to the run of its month.
        for expense in ExpenseLine.browse(list(billed.keys() - owed.keys())):
            if expense.date > end:
                del billed[expense.id]
        lines = []
        for expense_id, amount in corrections(owed, billed):
            lines.append(self._insurer_loss_line(
                    ExpenseLine(expense_id), amount))
        lines.sort(key=lambda l: (l.origin.date, l.origin.id))
        return lines

    def _insurer_loss_line(self, expense, amount):
        InvoiceLine = Pool().get('account.invoice.line')
        line = InvoiceLine(
            type='line',
            invoice_type='out',
            company=self.company,
            currency=self.currency,
            account=self._insurer_account('insurer_losses_account'),
            quantity=1 if amount > 0 else -1,
            unit_price=abs(amount),
            origin=expense,
            insurer_month=month_start(expense.date),
            taxes=[],
            description=gettext(
                'assistance_billing.msg_insurer_loss_line'
                if amount > 0 else
                'assistance_billing.msg_insurer_loss_line_cancelled',
                line=expense.rec_name, date=_format_date(expense.date)))
        return line

    def insurer_fee(self, month):
        """Return the fee owed for the month, the quantity and unit price
        it is counted with"""
        if self.fee_method == 'insured':
            quantity = self._insured_count(month)
            unit_price = self.fee_amount or Decimal(0)
        elif self.fee_method == 'case':
            quantity = self._case_count(month)
            unit_price = self.fee_amount or Decimal(0)
        elif self.fee_method == 'losses':
            quantity = 1
            unit_price = self.currency.round(
                self._month_losses(month) * (self.fee_rate or Decimal(0)))
        else:
            return Decimal(0), 0, Decimal(0)
        return (self.currency.round(quantity * unit_price),
            quantity, unit_price)

    def _insurer_fee_line(self, month):
        "Return the unsaved fee line for the month if the fee billed differs"
        pool = Pool()
        InvoiceLine = pool.get('account.invoice.line')
        billed = sum((_line_amount(l) for l in self._billed_invoice_lines([
                        ('origin', '=', str(self)),
                        ('insurer_month', '=', month),
                        ])), Decimal(0))
        owed, quantity, unit_price = self.insurer_fee(month)
        difference = owed - billed
        if not difference:
            return None
        if (billed or not quantity
                or self.currency.round(quantity * unit_price) != difference):
            # A correction: the difference as one unit.
            quantity = 1 if difference > 0 else -1
            unit_price = abs(difference)
        return InvoiceLine(
            type='line',
            invoice_type='out',
            company=self.company,
            currency=self.currency,
            account=self._insurer_account('insurer_fee_account'),
            quantity=quantity,
            unit_price=unit_price,
            origin=self,
            insurer_month=month,
            taxes=[],
            description=gettext(
                'assistance_billing.msg_insurer_fee_line_%s' % self.fee_method,
                month=_format_month(month),
                rate=_format_rate(self.fee_rate)))

    def _insured_count(self, month):
        "Return the number of insured with an active policy in the month"
        Policy = Pool().get('assistance.policy')
        policies = Policy.search([
                ('contract', '=', self.id),
                ('state', '=', 'active'),
                ('start_date', '<=', month_end(month)),
                ('end_date', '>=', month),
                ])
        return len({p.insured.id for p in policies})

    def _case_count(self, month):
        """Return the number of cases whose first actual expense line is in
        the month: a case is billed once, in the month it starts"""
        ExpenseLine = Pool().get('assistance.expense.line')
        line = ExpenseLine.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*line.select(line.id, line.case_key, line.date,
                where=(line.contract == self.id) & (line.state == 'actual')
                & (line.covered_amount != Null) & (line.covered_amount != 0)))
        first = {}
        for id_, case_key, date in cursor:
            if isinstance(date, str):
                date = dt.date.fromisoformat(date)
            # A line without a case is a case of its own.
            key = case_key if case_key is not None else id_
            first[key] = min(first.get(key, date), date)
        return sum(1 for d in first.values() if month <= d <= month_end(month))

    def _month_losses(self, month):
        "Return the covered amount owed of the actual lines of the month"
        ExpenseLine = Pool().get('assistance.expense.line')
        lines = ExpenseLine.search([
                ('contract', '=', self.id),
                ('state', '=', 'actual'),
                ('date', '>=', month),
                ('date', '<=', month_end(month)),
                ])
        return sum((l.owed_amount for l in lines), Decimal(0))


def _line_amount(line):
    "The amount an invoice line bills, signed"
    return line.currency.round(
        Decimal(str(line.quantity)) * line.unit_price)


def _format_date(date):
    Lang = Pool().get('ir.lang')
    return Lang.get().strftime(date)


def _format_month(month):
    return month.strftime('%m.%Y')


def _format_rate(rate):
    if rate is None:
        return ''
    Lang = Pool().get('ir.lang')
    return Lang.get().format('%.2f', rate * 100)
