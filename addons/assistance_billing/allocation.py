# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The allocation of a provider's invoice typed by hand to the expense lines
it bills, and the allocation control report (BIL-2, BIL-3).

The decision is a pure function of the invoice line's amount and the
candidates' amounts left to invoice (`classify`); the wizard finds the
candidates and writes the allocations, the invoice's validation guards
them (invoice.py)."""
import datetime as dt
from collections import namedtuple
from decimal import Decimal

from sql import Cast, Literal, Null, Union
from sql.aggregate import Sum
from sql.conditionals import Case, Coalesce
from sql.functions import CurrentTimestamp

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import AllocationError
from .invoice import ALLOCATED_STATES

STATUSES = [
    ('exact', "Exact"),
    ('tolerance', "Within Tolerance"),
    ('ambiguous', "Ambiguous"),
    ('over', "Over-invoiced"),
    ('unmatched', "No Expense"),
    ]


class Tolerance(namedtuple('Tolerance', ['amount', 'percent'])):
    "The difference accepted between an invoice line and its expense line"
    __slots__ = ()

    def allows(self, difference, base):
        """Tell whether the difference is accepted: within the amount and
        within the percentage of base, each when set"""
        if self.amount is None and self.percent is None:
            return difference == 0
        if self.amount is not None and difference > self.amount:
            return False
        if (self.percent is not None
                and difference * 100 > self.percent * abs(base)):
            return False
        return True


# The candidates listed for a line no amount matches
MAX_CANDIDATES = 20
Allocation = namedtuple('Allocation', ['status', 'key', 'difference', 'keys'])


def classify(amount, candidates, tolerance):
    """Return the Allocation of an invoice line of amount to one of the
    candidates, pairs of (key, amount left to invoice > 0).

    The provider may bill less than left within the tolerance, never more:
    more is over-invoiced, refused with the difference to the closest
    candidate.  A line allocated has a key; the difference is what is left
    to invoice on it (or what is billed too much)."""
    candidates = [(k, r) for k, r in candidates if r > 0]
    exact = [k for k, r in candidates if r == amount]
    if len(exact) == 1:
        return Allocation('exact', exact[0], Decimal(0), exact)
    elif exact:
        return Allocation('ambiguous', None, Decimal(0), exact)
    near = [(k, r) for k, r in candidates
        if r > amount and tolerance.allows(r - amount, r)]
    if len(near) == 1:
        key, left = near[0]
        return Allocation('tolerance', key, left - amount, [key])
    elif near:
        return Allocation('ambiguous', None, None, [k for k, _ in near])
    if candidates and all(r < amount for _, r in candidates):
        key, left = max(candidates, key=lambda c: c[1])
        return Allocation('over', None, amount - left, [key])
    # No amount matches: the accountant may still choose one of the
    # closest.
    closest = sorted(candidates, key=lambda c: abs(c[1] - amount))
    return Allocation('unmatched', None, None,
        [k for k, _ in closest[:MAX_CANDIDATES]])


def allocate(items, candidates, tolerance, services=None):
    """Classify the invoice lines' items (amount, product or None) in turn
    against the candidates {key: amount left}, of services {key: product}:
    a line with a product is matched to the candidates of that service
    only; an allocated line lessens what is left of its candidate.  Return
    the Allocations"""
    left = dict(candidates)
    services = services or {}
    allocations = []
    for amount, product in items:
        allocation = classify(amount, [(k, r) for k, r in left.items()
                if product is None or services.get(k) == product],
            tolerance)
        if allocation.key is not None:
            left[allocation.key] -= amount
        allocations.append(allocation)
    return allocations


class Configuration(metaclass=PoolMeta):
    __name__ = 'assistance.billing.configuration'
    allocation_tolerance = fields.Numeric(
        "Allocation Tolerance", digits=(16, 2),
        domain=['OR',
            ('allocation_tolerance', '=', None),
            ('allocation_tolerance', '>=', 0),
            ],
        help="The amount a provider's invoice line may be below its expense "
        "line and still be allocated to it.")
    allocation_tolerance_percent = fields.Numeric(
        "Allocation Tolerance %", digits=(5, 2),
        domain=['OR',
            ('allocation_tolerance_percent', '=', None),
            [('allocation_tolerance_percent', '>=', 0),
                ('allocation_tolerance_percent', '<=', 100)],
            ],
        help="The same, as a percentage of the expense line's amount left to "
        "invoice; with both set, both must hold.")

    @property
    def allocation(self):
        return Tolerance(
            self.allocation_tolerance, self.allocation_tolerance_percent)


class AllocateStart(ModelView):
    "Allocate Invoice to Expenses"
    __string__ = "Allocate Invoice to Expenses"
    __name__ = 'assistance.billing.allocate.start'
    invoice = fields.Many2One('account.invoice', "Invoice", readonly=True)
    lines = fields.One2Many(
        'assistance.billing.allocate.line', None, "Lines",
        help="Choose the expense line of each ambiguous invoice line.")


class AllocateLine(ModelView):
    "Allocate Invoice Line to Expense"
    __string__ = "Allocate Invoice Line to Expense"
    __name__ = 'assistance.billing.allocate.line'
    invoice_line = fields.Many2One(
        'account.invoice.line', "Invoice Line", readonly=True)
    description = fields.Char("Description", readonly=True)
    currency = fields.Many2One('currency.currency', "Currency", readonly=True)
    amount = Monetary(
        "Amount", currency='currency', digits='currency', readonly=True)
    status = fields.Selection(STATUSES, "Status", readonly=True)
    candidates = fields.Many2Many(
        'assistance.expense.line', None, None, "Candidates", readonly=True)
    expense_line = fields.Many2One(
        'assistance.expense.line', "Expense Line",
        domain=[('id', 'in', Eval('candidates', []))],
        states={
            'readonly': ~Eval('status').in_(['ambiguous', 'unmatched']),
            })
    difference = Monetary(
        "Difference", currency='currency', digits='currency', readonly=True,
        help="Left to invoice on the expense line, or billed beyond it.")


class Allocate(Wizard):
    "Allocate Invoice to Expenses"
    __name__ = 'assistance.billing.allocate'
    start = StateView('assistance.billing.allocate.start',
        'assistance_billing.allocate_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Allocate", 'allocate', 'tryton-ok', default=True),
            ])
    allocate = StateTransition()

    def default_start(self, fields):
        invoice = self.record
        self.check_invoice(invoice)
        lines = [l for l in invoice.lines
            if l.type == 'line' and not l.origin]
        left, services = self.candidates(invoice)
        allocations = allocate(
            [(l.amount, l.product.id if l.product else None) for l in lines],
            left, self.tolerance(invoice), services)
        return {
            'invoice': invoice.id,
            'lines': [self.line_values(l, a) for l, a in zip(
                    lines, allocations)],
            }

    def check_invoice(self, invoice):
        if invoice.type != 'in' or invoice.state != 'draft':
            raise AllocationError(gettext(
                    'assistance_billing.msg_allocation_invoice_draft',
                    invoice=invoice.rec_name))

    def tolerance(self, invoice):
        Configuration = Pool().get('assistance.billing.configuration')
        with Transaction().set_context(company=invoice.company.id):
            return Configuration(1).allocation

    def candidates(self, invoice):
        """Return {expense line id: amount left to invoice} for the actual
        lines owed to the invoice's party, less what the invoice already
        allocates to them, and {expense line id: service id}"""
        ExpenseLine = Pool().get('assistance.expense.line')
        domain = [
            ('state', '=', 'actual'),
            ('accrual_move', '!=', None),
            ('accrual_cancel_move', '=', None),
            ('accrual_move.company', '=', invoice.company.id),
            ('accrual_move.lines.party', '=', invoice.party.id),
            ]
        if invoice.invoice_date:
            domain.append(('date', '<=', invoice.invoice_date))
        expenses = [e for e in ExpenseLine.search(
                domain, order=[('date', 'ASC'), ('id', 'ASC')])
            if e.accrual_payee == invoice.party]
        left = {e.id: e.to_invoice_amount for e in expenses}
        for line in invoice.lines:
            if line.expense_line and line.expense_line.id in left:
                left[line.expense_line.id] -= line.expense_amount
        return ({k: v for k, v in left.items() if v > 0},
            {e.id: e.service.id for e in expenses})

    def line_values(self, line, allocation):
        return {
            'invoice_line': line.id,
            'description': line.description or (
                line.product.rec_name if line.product else ''),
            'currency': line.invoice.currency.id,
            'amount': line.amount,
            'status': allocation.status,
            'candidates': allocation.keys,
            'expense_line': allocation.key,
            'difference': allocation.difference,
            }

    def transition_allocate(self):
        InvoiceLine = Pool().get('account.invoice.line')
        self.check_invoice(self.record)
        lines = []
        for line in self.start.lines:
            if (line.status != 'over'
                    and line.expense_line
                    and line.invoice_line.invoice == self.record
                    and not line.invoice_line.origin):
                invoice_line = line.invoice_line
                invoice_line.origin = line.expense_line
                invoice_line.set_expense_account()
                lines.append(invoice_line)
        InvoiceLine.save(lines)
        # The guard of validation, at once: an allocation chosen beyond
        # what is left is refused here rather than at posting.
        self.record.__class__.check_expense_allocation([self.record])
        return 'end'


class AllocationControlContext(ModelView):
    "Allocation Control Context"
    __string__ = "Allocation Control Context"
    __name__ = 'assistance.billing.allocation.control.context'
    company = fields.Many2One('company.company', "Company", required=True)
    from_date = fields.Date("From Date",
        domain=[If(Eval('to_date') & Eval('from_date'),
                ('from_date', '<=', Eval('to_date')), ())])
    to_date = fields.Date("To Date",
        domain=[If(Eval('from_date') & Eval('to_date'),
                ('to_date', '>=', Eval('from_date')), ())])
    party = fields.Many2One('party.party', "Provider",
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="The provider or head office paid.")
    days = fields.Integer("Days", required=True,
        domain=[('days', '>=', 0)],
        help="Actual expenses not invoiced for more days are listed.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_days(cls):
        return 30


class AllocationControl(ModelSQL, ModelView):
    "Allocation Control"
    __string__ = "Allocation Control"
    __name__ = 'assistance.billing.allocation.control'
    company = fields.Many2One('company.company', "Company")
    kind = fields.Selection([
            ('allocated', "Allocated"),
            ('difference', "Difference"),
            ('no_expense', "Invoice Line without Expense"),
            ('not_invoiced', "Not Invoiced"),
            ('removed', "Removed from a Register"),
            ], "Kind", sort=False)
    party = fields.Many2One('party.party', "Provider",
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    date = fields.Date("Date")
    invoice = fields.Many2One('account.invoice', "Invoice")
    invoice_line = fields.Many2One('account.invoice.line', "Invoice Line")
    expense_line = fields.Many2One('assistance.expense.line', "Expense Line")
    currency = fields.Many2One('currency.currency', "Currency")
    covered_amount = Monetary(
        "Covered Amount", currency='currency', digits='currency')
    invoiced_amount = Monetary(
        "Invoiced", currency='currency', digits='currency')
    difference = Monetary(
        "Left to Invoice", currency='currency', digits='currency',
        help="The covered amount of the expense line no invoice bills yet.")
    register_line = fields.Many2One(
        'assistance.billing.register.line', "Register Line")
    removal_reason = fields.Many2One(
        'assistance.billing.removal_reason', "Removal Reason")
    removed_amount = Monetary(
        "Removed Amount", currency='currency', digits='currency',
        help="The part of the provider's claim the check of its register "
        "removed.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('kind', 'ASC'), ('date', 'ASC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        invoiced = cls._invoiced_lines_query()
        not_invoiced = cls._not_invoiced_query()
        without = cls._no_expense_query()
        removed = cls._removed_query()
        return Union(invoiced, not_invoiced, without, removed, all_=True)

    @classmethod
    def _columns(cls, id_, company, kind, party, date, invoice, invoice_line,
            expense_line, currency, covered, invoiced, difference,
            register_line=Literal(Null), removal_reason=Literal(Null),
            removed=Literal(Null)):
        return [
            id_.as_('id'),
            Literal(0).as_('create_uid'),
            CurrentTimestamp().as_('create_date'),
            Literal(Null).as_('write_uid'),
            Literal(Null).as_('write_date'),
            company.as_('company'),
            kind.as_('kind'),
            party.as_('party'),
            date.as_('date'),
            invoice.as_('invoice'),
            invoice_line.as_('invoice_line'),
            expense_line.as_('expense_line'),
            currency.as_('currency'),
            cls.covered_amount.sql_cast(covered).as_('covered_amount'),
            cls.invoiced_amount.sql_cast(invoiced).as_('invoiced_amount'),
            cls.difference.sql_cast(difference).as_('difference'),
            # PostgreSQL types the NULL of the other branches as text.
            cls.register_line.sql_cast(register_line).as_('register_line'),
            cls.removal_reason.sql_cast(removal_reason).as_(
                'removal_reason'),
            cls.removed_amount.sql_cast(removed).as_('removed_amount'),
            ]

    @classmethod
    def _allocated_query(cls):
        "Return the query of the amount allocated per expense line id"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        ExpenseLine = pool.get('assistance.expense.line')
        invoice = Invoice.__table__()
        line = InvoiceLine.__table__()
        # PostgreSQL groups by a column, not by an expression whose
        # parameters it sees twice: the id is cast out of the group.
        grouped = line.join(invoice, condition=line.invoice == invoice.id
            ).select(
                line.origin.as_('origin'),
                Sum(cls._line_amount(line)).as_('amount'),
                where=cls._allocation_where(line, invoice)
                & invoice.state.in_(ALLOCATED_STATES),
                group_by=[line.origin])
        return grouped.select(
            InvoiceLine.origin.sql_id(grouped.origin, ExpenseLine).as_(
                'expense'),
            grouped.amount)

    @classmethod
    def _line_amount(cls, line):
        "The amount of an invoice line (its quantity is a float)"
        numeric = cls.invoiced_amount.sql_type().base
        return Cast(line.quantity, numeric) * line.unit_price

    @classmethod
    def _allocation_where(cls, line, invoice):
        return ((invoice.type == 'in')
            & (line.type == 'line')
            & line.origin.like('assistance.expense.line,%'))

    @classmethod
    def _company_where(cls, column):
        return column == Transaction().context.get('company', -1)

    @classmethod
    def _date_where(cls, column):
        context = Transaction().context
        where = Literal(True)
        if context.get('from_date'):
            where &= column >= context['from_date']
        if context.get('to_date'):
            where &= column <= context['to_date']
        return where

    @classmethod
    def _party_where(cls, column):
        party = Transaction().context.get('party')
        return column == party if party else Literal(True)

    @classmethod
    def _invoiced_lines_query(cls):
        """The supplier invoice lines allocated to expense lines: allocated
        when nothing is left to invoice on the expense line, else a
        difference"""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        ExpenseLine = pool.get('assistance.expense.line')
        invoice = Invoice.__table__()
        line = InvoiceLine.__table__()
        expense = ExpenseLine.__table__()
        allocated = cls._allocated_query()
        expense_id = InvoiceLine.origin.sql_id(line.origin, ExpenseLine)
        covered = cls._owed(expense)
        left = covered - Coalesce(allocated.amount, 0)
        kind = Case((left == 0, 'allocated'), else_='difference')
        query = (line
            .join(invoice, condition=line.invoice == invoice.id)
            .join(expense, condition=expense.id == expense_id)
            .join(allocated, 'LEFT',
                condition=allocated.expense == expense.id))
        return query.select(*cls._columns(
                line.id * 3, invoice.company, kind, invoice.party,
                invoice.invoice_date, invoice.id, line.id, expense.id,
                invoice.currency, covered, cls._line_amount(line),
                left),
            where=cls._allocation_where(line, invoice)
            & invoice.state.in_(ALLOCATED_STATES)
            & cls._company_where(invoice.company)
            & cls._date_where(invoice.invoice_date)
            & cls._party_where(invoice.party))

    @staticmethod
    def _owed(expense):
        "The covered amount of the expense line owed (ExpenseLine.owed_amount)"
        return (Coalesce(expense.covered_amount, 0)
            - Coalesce(expense.accrual_adjustment, 0))

    @classmethod
    def _removed_query(cls):
        """The rows of the checked providers' registers removed in whole or
        in part, with their reason and the removed amount"""
        pool = Pool()
        Register = pool.get('assistance.billing.register')
        RegisterLine = pool.get('assistance.billing.register.line')
        Company = pool.get('company.company')
        Party = pool.get('party.party')
        register = Register.__table__()
        line = RegisterLine.__table__()
        company = Company.__table__()
        accepted = Coalesce(line.accepted_amount, 0)
        removed = Case((line.outcome == 'removed', line.amount),
            else_=line.amount - accepted)
        where = ((line.outcome != Null)
            & (((line.outcome == 'removed') & (line.amount > 0))
                | (line.amount > accepted))
            & register.state.in_(['checked', 'invoiced'])
            & cls._company_where(register.company)
            & cls._date_where(register.date))
        party = Transaction().context.get('party')
        if party:
            # The provider or a branch (at any depth) of the head office.
            providers, frontier = {party}, [party]
            while frontier:
                frontier = [p.id for p in Party.search([
                            ('head_office', 'in', frontier),
                            ('id', 'not in', list(providers)),
                            ])]
                providers.update(frontier)
            where &= register.provider.in_(sorted(providers))
        query = (line
            .join(register, condition=line.register == register.id)
            .join(company, condition=register.company == company.id))
        return query.select(*cls._columns(
                line.id * 3 + 2, register.company, Literal('removed'),
                register.provider, register.date, register.invoice,
                Literal(Null), line.expense_line, company.currency,
                Literal(Null), Literal(Null), Literal(Null),
                line.id, line.removal_reason, removed),
            where=where)

    @classmethod
    def _no_expense_query(cls):
        """The lines of the providers' invoices, not cancelled, that bill no
        expense line"""
        pool = Pool()
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        Party = pool.get('party.party')
        invoice = Invoice.__table__()
        line = InvoiceLine.__table__()
        party = Party.__table__()
        subsidiary = Party.__table__()
        is_provider = (party.is_provider == Literal(True)) | party.id.in_(
            subsidiary.select(subsidiary.head_office,
                where=subsidiary.head_office != Null))
        amount = cls._line_amount(line)
        query = (line
            .join(invoice, condition=line.invoice == invoice.id)
            .join(party, condition=invoice.party == party.id))
        return query.select(*cls._columns(
                line.id * 3, invoice.company, Literal('no_expense'),
                invoice.party, invoice.invoice_date, invoice.id, line.id,
                Literal(Null), invoice.currency, Literal(Null), amount,
                Literal(Null)),
            where=(invoice.type == 'in') & (line.type == 'line')
            & (invoice.state != 'cancelled')
            & ~Coalesce(line.origin, '').like('assistance.expense.line,%')
            & is_provider
            & cls._company_where(invoice.company)
            # a draft has no date yet: always listed
            & ((invoice.invoice_date == Null)
                | cls._date_where(invoice.invoice_date))
            & cls._party_where(invoice.party))

    @classmethod
    def _not_invoiced_query(cls):
        """The actual expense lines with covered amount left to invoice,
        older than the context's days"""
        pool = Pool()
        Date = pool.get('ir.date')
        ExpenseLine = pool.get('assistance.expense.line')
        Move = pool.get('account.move')
        MoveLine = pool.get('account.move.line')
        Company = pool.get('company.company')
        expense = ExpenseLine.__table__()
        move = Move.__table__()
        move_line = MoveLine.__table__()
        company = Company.__table__()
        allocated = cls._allocated_query()
        context = Transaction().context
        day = (context.get('to_date') or Date.today()) - dt.timedelta(
            days=context.get('days') or 0)
        covered = cls._owed(expense)
        left = covered - Coalesce(allocated.amount, 0)
        # The payee is the party of the accrual's credit on 76.05.
        query = (expense
            .join(move, condition=expense.accrual_move == move.id)
            .join(move_line, condition=(move_line.move == move.id)
                & (move_line.party != Null) & (move_line.credit > 0))
            .join(company, condition=move.company == company.id)
            .join(allocated, 'LEFT',
                condition=allocated.expense == expense.id))
        # A line partly invoiced is a difference of its invoice line.
        where = ((expense.state == 'actual')
            & (expense.accrual_cancel_move == Null)
            & (allocated.expense == Null)
            & (covered > 0)
            & (expense.date <= day)
            & cls._company_where(move.company)
            & cls._party_where(move_line.party))
        if context.get('from_date'):
            where &= expense.date >= context['from_date']
        return query.select(*cls._columns(
                expense.id * 3 + 1, move.company, Literal('not_invoiced'),
                move_line.party, expense.date, Literal(Null), Literal(Null),
                expense.id, company.currency, covered,
                Coalesce(allocated.amount, 0), left),
            where=where)
