# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Debt to providers by head office and provider, from the ledger (REP-3).

Like Tryton's account.aged_balance, a table_query over the move lines not
reconciled on the date: the accrual account (76.05) gives what is accrued but
not invoiced, the payable accounts (60) what is invoiced, bucketed by the
maturity date of the invoice's line.  The ledger's party is the payee (the
head office that settles); the provider comes from the line's origin: the
expense line of an accrual, the expense line billed by an invoice line, the
invoice whose lines all bill one provider, the invoice line a payment
pays."""
import datetime as dt

from sql import Literal, Null, Union, With
from sql.aggregate import Max, Min, Sum
from sql.conditionals import Case, Coalesce

from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

BUCKETS = ['not_due', 'term1', 'term2', 'term3', 'term4']


class DebtContext(ModelView):
    "Debt Analysis Context"
    __string__ = "Debt Analysis Context"
    __name__ = 'assistance.billing.debt.context'
    company = fields.Many2One('company.company', "Company", required=True)
    date = fields.Date("Date", required=True,
        help="The debt as it stands at the end of this day.")
    bucket = fields.Integer("Bucket Size", required=True,
        domain=[('bucket', '>', 0)],
        help="The days of each overdue bucket: 30 gives "
        "0–30, 31–60, 61–90 and more than 90 days.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_bucket(cls):
        return 30


class Debt(ModelSQL, ModelView):
    "Debt Analysis"
    __string__ = "Debt Analysis"
    __name__ = 'assistance.billing.debt'
    parent = fields.Many2One('assistance.billing.debt', "Head Office Row")
    children = fields.One2Many(
        'assistance.billing.debt', 'parent', "Providers")
    payee = fields.Many2One('party.party', "Payee",
        context={'company': Eval('company', -1)}, depends={'company'},
        help="The party paid in the ledger: the head office that settles "
        "for its subsidiaries, or the provider itself.")
    party = fields.Many2One('party.party', "Party",
        context={'company': Eval('company', -1)}, depends={'company'},
        help="The payee on a head office row, the provider on its rows.")
    company = fields.Many2One('company.company', "Company")
    currency = fields.Function(fields.Many2One(
            'currency.currency', "Currency"), 'get_currency')
    accrued = Monetary("Accrued Not Invoiced", currency='currency',
        digits='currency',
        help="Services received and not invoiced yet (76.05).")
    not_due = Monetary("Invoiced Not Due", currency='currency',
        digits='currency')
    term1 = Monetary("Overdue First Term", currency='currency',
        digits='currency')
    term2 = Monetary("Overdue Second Term", currency='currency',
        digits='currency')
    term3 = Monetary("Overdue Third Term", currency='currency',
        digits='currency')
    term4 = Monetary("Overdue Beyond", currency='currency',
        digits='currency')
    total = Monetary("Total", currency='currency', digits='currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('payee', 'ASC'), ('parent', 'DESC'), ('party', 'ASC'),
            ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        # The open lines, then their providers, once each (WITH): the
        # provider is looked up for the open lines only, not for the whole
        # ledger (bench/reports.py: 1M expense lines accrued).
        open_ = With(query=cls._open_lines_query())
        lines = With(query=cls._lines_query(open_))
        sums = [Sum(lines.accrued).as_('accrued')]
        sums += [Sum(Case((lines.bucket == b, lines.payable), else_=0)
                ).as_(b) for b in BUCKETS]
        sums.append(Sum(lines.accrued + lines.payable).as_('total'))
        heads = lines.select(
            (lines.payee * 2).as_('id'), Literal(None).as_('parent'),
            lines.payee, lines.payee.as_('party'), lines.company, *sums,
            group_by=[lines.payee, lines.company])
        # A provider row under its head office; the payee's own services
        # get a row only beside its subsidiaries'.
        several = lines.select(lines.payee,
            group_by=[lines.payee],
            having=Min(lines.provider) != Max(lines.provider))
        providers = lines.select(
            (Min(lines.line) * 2 + 1).as_('id'),
            (lines.payee * 2).as_('parent'),
            lines.payee, lines.provider.as_('party'), lines.company, *sums,
            where=(lines.provider != lines.payee)
            | lines.payee.in_(several),
            group_by=[lines.payee, lines.provider, lines.company])
        return Union(heads, providers, all_=True, with_=[open_, lines])

    @classmethod
    def _lines_query(cls, open_):
        """Return the query of the open lines with payee, provider and
        bucket: the provider looked up line by line (through the indexes)"""
        provider = cls._line_provider_query()
        paid_provider = cls._line_provider_query()
        return open_.select(
            open_.line, open_.payee,
            Coalesce(
                provider.select(provider.provider,
                    where=provider.line == open_.line, limit=1),
                paid_provider.select(paid_provider.provider,
                    where=paid_provider.line == open_.paid, limit=1),
                open_.payee).as_('provider'),
            open_.company, open_.accrued, open_.payable, open_.bucket)

    @classmethod
    def _open_lines_query(cls):
        """Return the query of the lines open on the date: the line, its
        payee, the line its payment pays (paid), accrued, payable and
        bucket"""
        pool = Pool()
        MoveLine = pool.get('account.move.line')
        Move = pool.get('account.move')
        Reconciliation = pool.get('account.move.reconciliation')
        Account = pool.get('account.account')
        Type = pool.get('account.account.type')
        Payment = pool.get('account.payment')
        context = Transaction().context
        company_id = context.get('company')
        date = context.get('date') or pool.get('ir.date').today()

        line = MoveLine.__table__()
        move = Move.__table__()
        reconciliation = Reconciliation.__table__()
        account = Account.__table__()
        type_ = Type.__table__()
        payment = Payment.__table__()
        paid = MoveLine.__table__()
        paid_move = Move.__table__()

        accrual_id = cls._accrual_account_id(company_id)
        accrual = line.account == (accrual_id or -1)
        # A payment's clearing line counts where the line it pays is due.
        due = Coalesce(paid.maturity_date, paid_move.date,
            line.maturity_date, move.date)
        amount = line.credit - line.debit
        query = (line
            .join(move, condition=line.move == move.id)
            .join(account, condition=line.account == account.id)
            .join(type_, 'LEFT', condition=account.type == type_.id)
            .join(reconciliation, 'LEFT',
                condition=reconciliation.id == line.reconciliation)
            .join(payment, 'LEFT',
                condition=cls._points_to(move.origin, Payment, payment.id))
            .join(paid, 'LEFT', condition=paid.id == payment.line)
            .join(paid_move, 'LEFT', condition=paid.move == paid_move.id))
        return query.select(
            line.id.as_('line'),
            line.party.as_('payee'),
            paid.id.as_('paid'),
            account.company.as_('company'),
            Case((accrual, amount), else_=0).as_('accrued'),
            Case((accrual, 0), else_=amount).as_('payable'),
            cls._bucket(due, date, context.get('bucket') or 30
                ).as_('bucket'),
            where=(line.party != Null)
            & (accrual | type_.payable)
            & ((line.reconciliation == Null)
                | (reconciliation.date > date))
            & (move.date <= date)
            & (account.company == company_id))

    @classmethod
    def _bucket(cls, due, date, days):
        """Return the SQL naming the bucket of the due date on date with
        buckets of days: not due, overdue 0–days, days+1–2×days…"""
        size = dt.timedelta(days=days)
        whens = [(due > date, 'not_due')]
        for index, name in enumerate(BUCKETS[1:-1]):
            whens.append((due >= date - size * (index + 1), name))
        return Case(*whens, else_=BUCKETS[-1])

    @classmethod
    def _line_provider_query(cls, lines=None, column='line'):
        """Return the query of the move lines whose provider the ledger
        knows: an accrual's, an invoice line's, a one-provider invoice's;
        of the lines whose ids are the column of lines when given"""
        pool = Pool()
        MoveLine = pool.get('account.move.line')
        Move = pool.get('account.move')
        Invoice = pool.get('account.invoice')
        InvoiceLine = pool.get('account.invoice.line')
        ExpenseLine = pool.get('assistance.expense.line')

        def start(line):
            "The move lines, or only those of lines"
            if lines is None:
                return line
            return lines.join(line,
                condition=line.id == getattr(lines, column))

        expense = cls._expense_provider_query()
        line = MoveLine.__table__()
        move = Move.__table__()
        invoice_line = InvoiceLine.__table__()
        invoice = cls._invoice_provider_query()

        accrued = start(line).join(move, condition=line.move == move.id
            ).join(expense, condition=cls._points_to(
                    move.origin, ExpenseLine, expense.expense)
            ).select(line.id.as_('line'), expense.provider)
        billed_line = MoveLine.__table__()
        billed = start(billed_line).join(invoice_line,
            condition=cls._points_to(
                billed_line.origin, InvoiceLine, invoice_line.id)
            ).join(expense, condition=cls._points_to(
                    invoice_line.origin, ExpenseLine, expense.expense)
            ).select(billed_line.id.as_('line'), expense.provider)
        invoiced_line = MoveLine.__table__()
        invoiced_move = Move.__table__()
        invoiced = start(invoiced_line).join(invoiced_move,
            condition=invoiced_line.move == invoiced_move.id
            ).join(invoice, condition=cls._points_to(
                invoiced_move.origin, Invoice, invoice.invoice)
            ).select(invoiced_line.id.as_('line'), invoice.provider,
                where=invoiced_line.origin == Null)
        return Union(accrued, billed, invoiced, all_=True)

    @classmethod
    def _expense_provider_query(cls):
        "Return the query of the provider of each ordered expense line"
        pool = Pool()
        Order = pool.get('assistance.order')
        OrderLine = pool.get('assistance.order.line')
        order = Order.__table__()
        order_line = OrderLine.__table__()
        return order_line.join(order, condition=order_line.order == order.id
            ).select(order_line.expense_line.as_('expense'), order.provider,
                where=order_line.expense_line != Null)

    @classmethod
    def _invoice_provider_query(cls):
        "Return the query of the invoices whose lines bill one provider"
        pool = Pool()
        InvoiceLine = pool.get('account.invoice.line')
        ExpenseLine = pool.get('assistance.expense.line')
        invoice_line = InvoiceLine.__table__()
        expense = cls._expense_provider_query()
        return invoice_line.join(expense, condition=cls._points_to(
                invoice_line.origin, ExpenseLine, expense.expense)
            ).select(invoice_line.invoice.as_('invoice'),
                Min(expense.provider).as_('provider'),
                group_by=[invoice_line.invoice],
                having=Min(expense.provider) == Max(expense.provider))

    @classmethod
    @without_check_access
    def _accrual_account_id(cls, company_id):
        # Department heads read the debt, not the billing configuration.
        Configuration = Pool().get('assistance.billing.configuration')
        if not company_id:
            return None
        account = Configuration(1).get_multivalue(
            'accrual_account', company=company_id)
        return account.id if account else None

    @classmethod
    def _points_to(cls, column, Target, id_):
        "Return the SQL condition: the reference column is Target's id_"
        Reference = Pool().get('account.move')._fields['origin']
        return (column.like(Target.__name__ + ',%')
            & (Reference.sql_id(column, Target) == id_))

    def get_rec_name(self, name):
        return self.party.rec_name if self.party else ''

    def get_currency(self, name):
        return self.company.currency.id if self.company else None
