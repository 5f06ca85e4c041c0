# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The insurer's customer invoices: actual losses and the assistance fee of
a contract, month by month, and the register of losses in Excel (issue 13
step 6).

A line of an insurer invoice bills one expense line (its origin) or the fee
of one month (origin the contract, insurer_month the month); the sum of the
lines of an expense line over the invoices not cancelled is what is billed
of it, which the next run compares with what is owed (contract.py)."""
import calendar
import datetime as dt
import io
from decimal import Decimal

import xlsxwriter

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, PYSONEncoder
from trytond.report import Report
from trytond.transaction import Transaction
from trytond.wizard import Button, StateAction, StateView, Wizard

from .exceptions import InsurerBillingAccessError, InsurerBillingError

# The billing configuration's insurer accounts in the Russian chart.
DEFAULT_ACCOUNTS = {
    'insurer_losses_account': 'assistance_billing.account_template_ru_90_01',
    'insurer_fee_account': 'assistance_billing.account_template_ru_90_01',
    }


def month_start(date):
    "Return the first day of the month of date"
    return date.replace(day=1)


def month_end(date):
    "Return the last day of the month of date"
    return date.replace(day=calendar.monthrange(date.year, date.month)[1])


def corrections(owed, billed):
    """Return the (key, amount) to bill so that what is billed of each key
    becomes what is owed of it, sorted by key; a key missing from owed is
    owed nothing"""
    result = []
    for key in sorted(owed.keys() | billed.keys()):
        difference = owed.get(key, Decimal(0)) - billed.get(key, Decimal(0))
        if difference:
            result.append((key, difference))
    return result


class Invoice(metaclass=PoolMeta):
    __name__ = 'account.invoice'
    insurer_contract = fields.Many2One(
        'assistance.contract', "Insurer Contract", readonly=True,
        ondelete='RESTRICT',
        states={
            'invisible': ~Bool(Eval('insurer_contract')),
            },
        help="The contract whose losses and fee the invoice bills to the "
        "insurer.")
    insurer_month = fields.Date(
        "Billing Month", readonly=True,
        states={
            'invisible': ~Bool(Eval('insurer_contract')),
            },
        help="The first day of the month the invoice was created for.")

    @classmethod
    def copy(cls, invoices, default=None):
        # A copy bills nothing of a contract: its lines lose their origin.
        default = default.copy() if default is not None else {}
        default.setdefault('insurer_contract', None)
        default.setdefault('insurer_month', None)
        return super().copy(invoices, default=default)

    @classmethod
    def check_modification(cls, mode, invoices, values=None, external=False):
        super().check_modification(
            mode, invoices, values=values, external=external)
        if external and mode == 'write' and (
                values.keys() & {'insurer_contract', 'insurer_month'}):
            raise InsurerBillingAccessError(gettext(
                    'assistance_billing.msg_insurer_invoice_fields',
                    invoice=invoices[0].rec_name))
        if external and mode == 'create':
            for invoice in invoices:
                if invoice.insurer_contract or invoice.insurer_month:
                    raise InsurerBillingAccessError(gettext(
                            'assistance_billing.msg_insurer_invoice_fields',
                            invoice=invoice.rec_name))

    def _credit(self, **values):
        # A credit note of an insurer invoice unbills what it credits.
        credit = super()._credit(**values)
        credit.insurer_contract = self.insurer_contract
        credit.insurer_month = self.insurer_month
        return credit


class InvoiceLine(metaclass=PoolMeta):
    __name__ = 'account.invoice.line'
    insurer_month = fields.Date(
        "Billing Month", readonly=True,
        states={
            'invisible': ~Bool(Eval('insurer_month')),
            },
        help="The month of the loss or of the fee billed to the insurer.")

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['assistance.contract']

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('insurer_month', None)
        return super().copy(lines, default=default)

    def _credit(self):
        line = super()._credit()
        ExpenseLine = Pool().get('assistance.expense.line')
        Contract = Pool().get('assistance.contract')
        # Keep what the line billed as origin so that the credit note
        # cancels it in what is billed of the contract.
        if (self.invoice_type == 'out'
                and isinstance(self.origin, (ExpenseLine, Contract))):
            line.origin = self.origin
            line.insurer_month = self.insurer_month
        return line

    @property
    def insurer_loss(self):
        "Tell whether the line bills an expense line to an insurer"
        ExpenseLine = Pool().get('assistance.expense.line')
        return (self.invoice_type == 'out'
            and isinstance(self.origin, ExpenseLine))


class ExpenseLine(metaclass=PoolMeta):
    __name__ = 'assistance.expense.line'
    insurer_invoice_lines = fields.One2Many(
        'account.invoice.line', 'origin', "Insurer Invoice Lines",
        readonly=True, filter=[('invoice_type', '=', 'out')],
        help="The lines of the insurer's invoices that bill this loss, "
        "and its reversal if it was cancelled after being billed.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._server_fields |= {'insurer_invoice_lines'}

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('insurer_invoice_lines', None)
        return super().copy(lines, default=default)


class CreateChart(metaclass=PoolMeta):
    __name__ = 'account.create_chart'

    def set_billing_defaults(self):
        super().set_billing_defaults()
        Configuration = Pool().get('assistance.billing.configuration')
        company = self.account.company
        with Transaction().set_context(company=company.id):
            config = Configuration(1)
            for name, template in DEFAULT_ACCOUNTS.items():
                if not getattr(config, name):
                    setattr(config, name, self.get_account(template))
            config.save()


class BillInsurerStart(ModelView):
    "Bill Insurers"
    __name__ = 'assistance.contract.bill_insurer.start'
    month = fields.Date(
        "Month", required=True,
        help="Any day of the month to bill: its actual losses and fee, and "
        "what changed since of the months before.")
    contracts = fields.Many2Many(
        'assistance.contract', None, None, "Contracts", required=True,
        domain=[
            ('state', 'in', ['active', 'closed']),
            ('company', '=', Eval('context', {}).get('company', -1)),
            ])


class BillInsurer(Wizard):
    "Bill Insurers"
    __name__ = 'assistance.contract.bill_insurer'
    start = StateView(
        'assistance.contract.bill_insurer.start',
        'assistance_billing.contract_bill_insurer_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Bill", 'bill', 'tryton-ok', default=True),
            ])
    bill = StateAction('assistance_billing.act_insurer_invoice_form')

    def default_start(self, fields):
        Date = Pool().get('ir.date')
        values = {
            # The month just closed.
            'month': month_start(
                month_start(Date.today()) - dt.timedelta(days=1)),
            }
        if self.model and self.model.__name__ == 'assistance.contract':
            values['contracts'] = [
                r.id for r in self.records if r.state in {'active', 'closed'}]
        return values

    def do_bill(self, action):
        Contract = Pool().get('assistance.contract')
        invoices = Contract.bill_insurer(
            self.start.contracts, self.start.month)
        if not invoices:
            raise InsurerBillingError(gettext(
                    'assistance_billing.msg_insurer_nothing_to_bill',
                    month=month_start(self.start.month).strftime('%m.%Y')))
        action['domains'] = []
        action['pyson_domain'] = PYSONEncoder().encode(
            [('id', 'in', [i.id for i in invoices])])
        return action, {}


# The register's columns: message of the header, width.
REGISTER_COLUMNS = [
    ('msg_insurer_register_number', 6),
    ('msg_insurer_register_policy', 16),
    ('msg_insurer_register_insured', 34),
    ('msg_insurer_register_date', 12),
    ('msg_insurer_register_service', 34),
    ('msg_insurer_register_quantity', 10),
    ('msg_insurer_register_amount', 16),
    ('msg_insurer_register_note', 20),
    ]


class LossRegister(Report):
    "Register of Losses"
    __name__ = 'assistance_billing.insurer_loss_register'

    @classmethod
    def _execute(cls, records, header, data, action):
        # The action is single: one workbook per invoice, zipped by execute.
        invoice, = records
        if not invoice.insurer_contract:
            raise InsurerBillingError(gettext(
                    'assistance_billing.msg_insurer_register_not_insurer',
                    invoice=invoice.rec_name))
        return 'xlsx', cls.workbook(invoice)

    @classmethod
    def workbook(cls, invoice):
        "Return the register of losses of the insurer invoice as XLSX"
        Lang = Pool().get('ir.lang')
        lang = Lang.get()
        contract = invoice.insurer_contract
        output = io.BytesIO()
        book = xlsxwriter.Workbook(output, {'in_memory': True})
        sheet = book.add_worksheet(gettext(
                'assistance_billing.msg_insurer_register_sheet'))
        bold = book.add_format({'bold': True})
        head = book.add_format({
                'bold': True, 'border': 1, 'text_wrap': True,
                'valign': 'top'})
        date_format = book.add_format({
                'num_format': 'dd.mm.yyyy', 'border': 1})
        money = book.add_format({'num_format': '#,##0.00', 'border': 1})
        money_bold = book.add_format({
                'num_format': '#,##0.00', 'bold': True, 'border': 1})
        cell = book.add_format({'border': 1})

        sheet.write(0, 0, gettext(
                'assistance_billing.msg_insurer_register_title',
                contract=contract.number,
                month=invoice.insurer_month.strftime('%m.%Y')), bold)
        sheet.write(1, 0, gettext(
                'assistance_billing.msg_insurer_register_parties',
                insurer=invoice.party.rec_name,
                company=invoice.company.rec_name,
                invoice=invoice.number or ''))
        row = 3
        for column, (message, width) in enumerate(REGISTER_COLUMNS):
            sheet.write(row, column, gettext(
                    'assistance_billing.' + message), head)
            sheet.set_column(column, column, width)
        sheet.freeze_panes(row + 1, 0)
        total = Decimal(0)
        number = 0
        for line in invoice.lines:
            if not line.insurer_loss:
                continue
            expense = line.origin
            number += 1
            row += 1
            amount = line.amount
            total += amount
            sheet.write_number(row, 0, number, cell)
            sheet.write_string(row, 1, expense.policy.number, cell)
            sheet.write_string(row, 2, expense.policy.insured.rec_name, cell)
            sheet.write_datetime(row, 3, dt.datetime.combine(
                    expense.date, dt.time()), date_format)
            sheet.write_string(row, 4, expense.service.rec_name, cell)
            sheet.write_number(
                row, 5, float(expense.covered_quantity
                    or expense.quantity), cell)
            sheet.write_number(row, 6, float(amount), money)
            if amount < 0:
                sheet.write_string(row, 7, gettext(
                        'assistance_billing.msg_insurer_register_cancelled'),
                    cell)
            else:
                sheet.write_blank(row, 7, None, cell)
        row += 1
        sheet.write_string(row, 4, gettext(
                'assistance_billing.msg_insurer_register_total_losses'), bold)
        sheet.write_number(row, 6, float(total), money_bold)
        for line in invoice.lines:
            if line.insurer_loss or line.type != 'line':
                continue
            row += 1
            sheet.write_string(row, 4, line.description or '', cell)
            sheet.write_number(row, 6, float(line.amount), money)
        row += 1
        sheet.write_string(row, 4, gettext(
                'assistance_billing.msg_insurer_register_total'), bold)
        sheet.write_number(
            row, 6, float(invoice.total_amount), money_bold)
        sheet.write_string(row + 2, 0, gettext(
                'assistance_billing.msg_insurer_register_currency',
                currency=invoice.currency.rec_name,
                date=lang.strftime(Pool().get('ir.date').today())))
        book.close()
        return output.getvalue()
