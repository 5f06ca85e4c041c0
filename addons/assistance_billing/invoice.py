# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Supplier invoice lines allocated to expense lines (BIL-2, BIL-3, ACC-2).

A line of a provider's invoice is allocated to the expense line it bills by
its origin, as a purchase line is the origin of the invoice line that bills
it; the accrual account (76.05) is the line's account, so posting the
invoice moves the debt from the accrual to the payable (60).

Customer invoices to insurers bill expense lines by their origin too: only
the lines of supplier invoices (type «in») are allocations."""
from collections import defaultdict
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from .exceptions import AllocationError

# The states of a supplier invoice whose lines are allocations.
ALLOCATED_STATES = ['validated', 'posted', 'paid']


def accrual_account(company):
    "Return the accrual account of the company's billing configuration"
    Configuration = Pool().get('assistance.billing.configuration')
    if not company:
        return None
    return Configuration(1).get_multivalue(
        'accrual_account', company=company.id)


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'allocate_expenses': {
                    'invisible': ((Eval('type') != 'in')
                        | (Eval('state') != 'draft')),
                    'depends': ['type', 'state'],
                    },
                })

    @classmethod
    @ModelView.button_action('assistance_billing.wizard_allocate')
    def allocate_expenses(cls, invoices):
        pass

    @classmethod
    def validate_invoice(cls, invoices):
        cls.check_expense_allocation(invoices)
        super().validate_invoice(invoices)

    @classmethod
    def _post(cls, invoices):
        ExpenseLine = Pool().get('assistance.expense.line')
        cls.check_expense_allocation(invoices)
        super()._post(invoices)
        # The accrual of an expense line fully billed is settled on 76.05.
        expenses = {l.expense_line.id for i in invoices if i.type == 'in'
            for l in i.lines if l.expense_line}
        if expenses:
            ExpenseLine.reconcile_accrual(ExpenseLine.browse(sorted(expenses)))

    @classmethod
    def check_expense_allocation(cls, invoices):
        """Refuse supplier invoices billing an expense line that is not
        actual, owed to another payee or billed beyond its covered amount"""
        ExpenseLine = Pool().get('assistance.expense.line')
        lines = [l for i in invoices if i.type == 'in'
            for l in i.lines if l.expense_line]
        if not lines:
            return
        expenses = ExpenseLine.browse(
            sorted({l.expense_line.id for l in lines}))
        # Two invoices billing the same expense line are checked one after
        # the other: the second sees the first's allocation.
        ExpenseLine.lock(expenses)
        allocated = ExpenseLine.get_invoiced_amounts(
            expenses, exclude=invoices)
        for line in lines:
            line.check_expense_line()
            allocated[line.expense_line.id] += line.expense_amount
        for expense in expenses:
            expense.check_allocated(allocated[expense.id])


class InvoiceLine(metaclass=PoolMeta):
    __name__ = 'account.invoice.line'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['assistance.expense.line']

    @property
    def expense_line(self):
        "The expense line a supplier invoice line bills, if any"
        ExpenseLine = Pool().get('assistance.expense.line')
        if (self.type == 'line' and self._invoice_type == 'in'
                and isinstance(self.origin, ExpenseLine)):
            return self.origin

    @property
    def _invoice_type(self):
        return self.invoice.type if self.invoice else self.invoice_type

    @property
    def expense_amount(self):
        "The amount of the line in the currency of its expense line"
        Currency = Pool().get('currency.currency')
        expense = self.expense_line
        currency = self.invoice.currency if self.invoice else self.currency
        amount = self.amount or Decimal(0)
        if currency == expense.currency:
            return amount
        date = self.invoice.invoice_date if self.invoice else None
        with Transaction().set_context(date=date or expense.date):
            return Currency.compute(currency, amount, expense.currency)

    def check_expense_line(self):
        "Refuse an expense line not actual or owed to another payee"
        expense = self.expense_line
        party = self.invoice.party if self.invoice else self.party
        if expense.state == 'cancelled':
            raise AllocationError(gettext(
                    'assistance_billing.msg_allocation_cancelled',
                    line=self.rec_name, expense=expense.rec_name))
        if expense.state != 'actual':
            raise AllocationError(gettext(
                    'assistance_billing.msg_allocation_not_actual',
                    line=self.rec_name, expense=expense.rec_name,
                    state=expense.state_string))
        payee = expense.accrual_payee
        if payee != party:
            raise AllocationError(gettext(
                    'assistance_billing.msg_allocation_other_payee',
                    line=self.rec_name, expense=expense.rec_name,
                    payee=payee.rec_name, party=party.rec_name))

    def compute_fields(self, field_names=None):
        values = super().compute_fields(field_names=field_names)
        # Lines created on the server by an invoice (registers, the
        # allocation) get no invoice type from on_change_invoice; the
        # expense line's allocations are found by it.
        if ((field_names is None or 'invoice' in field_names)
                and self.invoice and self.invoice_type != self.invoice.type):
            values['invoice_type'] = self.invoice.type
        return values

    @fields.depends('origin', 'invoice', '_parent_invoice.type',
        'invoice_type', 'quantity', 'unit_price', 'description',
        methods=['set_expense_account'])
    def on_change_origin(self):
        ExpenseLine = Pool().get('assistance.expense.line')
        if (not isinstance(self.origin, ExpenseLine)
                or self._invoice_type != 'in'):
            return
        expense = self.origin
        self.set_expense_account()
        if not self.description:
            self.description = expense.rec_name
        if self.unit_price is None and expense.to_invoice_amount:
            self.quantity = 1
            self.unit_price = expense.to_invoice_amount

    @fields.depends('origin', methods=['set_expense_account'])
    def on_change_product(self):
        super().on_change_product()
        ExpenseLine = Pool().get('assistance.expense.line')
        if isinstance(self.origin, ExpenseLine):
            self.set_expense_account()

    @fields.depends('invoice', '_parent_invoice.company', 'company')
    def set_expense_account(self):
        "Book an allocated line on the accrual account of the company"
        company = self.invoice.company if self.invoice else self.company
        account = accrual_account(company)
        if account:
            self.account = account


class ExpenseLine(metaclass=PoolMeta):
    __name__ = 'assistance.expense.line'
    invoice_lines = fields.One2Many(
        'account.invoice.line', 'origin', "Invoice Lines", readonly=True,
        filter=[('invoice_type', '=', 'in')],
        help="The lines of the provider's invoices that bill this expense.")
    invoiced_amount = fields.Function(Monetary(
            "Invoiced", currency='currency', digits='currency',
            help="The amount of the validated and posted provider's invoice "
            "lines that bill this expense."),
        'get_invoiced')
    to_invoice_amount = fields.Function(Monetary(
            "Left to Invoice", currency='currency', digits='currency',
            help="The covered amount of the actual line that no provider's "
            "invoice bills yet."),
        'get_invoiced')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._server_fields |= {'invoice_lines'}

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('invoice_lines', None)
        return super().copy(lines, default=default)

    @classmethod
    def get_invoiced(cls, lines, names):
        invoiced = cls.get_invoiced_amounts(lines)
        result = {}
        if 'invoiced_amount' in names:
            result['invoiced_amount'] = dict(invoiced)
        if 'to_invoice_amount' in names:
            result['to_invoice_amount'] = {
                l.id: l.left_to_invoice(invoiced[l.id]) for l in lines}
        return result

    def left_to_invoice(self, invoiced):
        "Return the covered amount of an actual line not invoiced yet"
        if self.state != 'actual':
            return Decimal(0)
        return self.owed_amount - invoiced

    @classmethod
    @without_check_access
    def get_invoiced_amounts(cls, lines, exclude=None):
        """Return the amounts allocated to the lines by the supplier
        invoices validated or posted, those of exclude left out"""
        InvoiceLine = Pool().get('account.invoice.line')
        amounts = defaultdict(Decimal, {l.id: Decimal(0) for l in lines})
        domain = [
            ('origin.id', 'in', [l.id for l in lines],
                'assistance.expense.line'),
            ('type', '=', 'line'),
            ('invoice.type', '=', 'in'),
            ('invoice.state', 'in', ALLOCATED_STATES),
            ]
        if exclude:
            domain.append(('invoice', 'not in', [i.id for i in exclude]))
        for line in InvoiceLine.search(domain):
            amounts[line.origin.id] += line.expense_amount
        return amounts

    def check_allocated(self, allocated):
        "Refuse an allocation beyond the covered amount owed"
        Lang = Pool().get('ir.lang')
        covered = self.owed_amount
        if allocated > covered:
            lang = Lang.get()
            raise AllocationError(gettext(
                    'assistance_billing.msg_allocation_over',
                    expense=self.rec_name,
                    allocated=lang.currency(allocated, self.currency),
                    covered=lang.currency(covered, self.currency),
                    difference=lang.currency(
                        allocated - covered, self.currency)))
