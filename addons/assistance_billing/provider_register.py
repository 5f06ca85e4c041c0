# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Registers of services rendered (реестры оказанных услуг, BIL-1, BIL-2,
BIL-3) sent by the providers with their invoices.

A register is imported from the provider's workbook, each row is checked
(медико-экономическая экспертиза: matched to an expense line, priced against
the price list, the programme and the limits through the coverage engine)
and ends accepted — its expense line actual and accrued —, accepted with a
difference, or removed with a coded reason; the accepted rows become a
draft supplier invoice whose lines are allocated to the expense lines."""
import datetime as dt
import json
from collections import defaultdict, namedtuple
from decimal import Decimal

from sql import Null
from sql.conditionals import Coalesce

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, Workflow, fields,
    sequence_ordered)
from trytond.modules.assistance_order.order_letter import GuaranteeLetter
from trytond.modules.assistance_policy import coverage_path
from trytond.modules.assistance_policy import coverage_rules
from trytond.modules.assistance_policy import policy_import_rules as rules
from trytond.modules.assistance_policy.policy_import import errors_xlsx
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.report import Report
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from . import register_rules
from .exceptions import RegisterAccessError, RegisterError

ZERO = Decimal(0)
STATES = [
    ('draft', "Draft"),
    ('checked', "Checked"),
    ('invoiced', "Invoiced"),
    ('cancelled', "Cancelled"),
    ]
OUTCOMES = [
    (None, ""),
    ('accepted', "Accepted"),
    ('difference', "Accepted with a Difference"),
    ('removed', "Removed"),
    ]
# The rows whose expense line the register pays.
PAID = ['accepted', 'difference']
# The rows checked together: their look-ups in a few queries, their
# records instantiated, saved and accrued a chunk at a time (memory, and
# the ORM's cost per record grows with the size of a batch).
CHECK_CHUNK = 500
# The engine's refusal → the removal reason.
ENGINE_REASONS = {
    coverage_rules.NO_POLICY: 'no_policy',
    coverage_rules.OUTSIDE_PROGRAM: 'outside_program',
    coverage_rules.EXCLUDED: 'excluded_diagnosis',
    coverage_rules.LIMIT: 'limit_exhausted',
    coverage_rules.LIMIT_PARTIAL: 'limit_exhausted',
    }
FIELD_SELECTION = [
    ('row_number', "Row Number"),
    ('patient', "Patient"),
    ('policy_number', "Policy Number"),
    ('order_number', "Guarantee Letter or Order Number"),
    ('service_date', "Service Date"),
    ('service_code', "Service Code"),
    ('service_name', "Service Name"),
    ('quantity', "Quantity"),
    ('unit_price', "Unit Price"),
    ('amount', "Amount"),
    ('diagnosis', "Diagnosis"),
    ]


class Configuration(metaclass=PoolMeta):
    __name__ = 'assistance.billing.configuration'

    register_amount_tolerance = Monetary(
        "Register Amount Tolerance", currency='register_currency',
        digits='register_currency',
        help="A row of a provider's register whose amount differs from the "
        "expense by no more than this is accepted as it is.")
    register_currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'get_register_currency')
    register_date_window = fields.Integer(
        "Register Date Window",
        domain=['OR', ('register_date_window', '=', None),
            ('register_date_window', '>=', 0)],
        help="A row without an order number is matched to the expenses of "
        "its policy and service within this many days of its date.")
    register_require_order = fields.Boolean(
        "Remove Services without a Guarantee Letter",
        help="Remove the rows of a register that match no order instead of "
        "declaring them through the coverage engine.")

    @classmethod
    def default_register_amount_tolerance(cls):
        return Decimal('1.00')

    @classmethod
    def default_register_date_window(cls):
        return 3

    @classmethod
    def default_register_require_order(cls):
        return False

    def get_register_currency(self, name):
        Company = Pool().get('company.company')
        company = Transaction().context.get('company')
        return Company(company).currency.id if company else None


class RemovalReason(DeactivableMixin, ModelSQL, ModelView):
    "Register Removal Reason"
    __string__ = "Register Removal Reason"
    __name__ = 'assistance.billing.removal_reason'
    code = fields.Char("Code", required=True)
    name = fields.Char("Name", required=True, translate=True)
    description = fields.Text("Description", translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'assistance_billing.msg_removal_reason_code_unique'),
            ]
        cls._order = [('code', 'ASC'), ('id', 'ASC')]

    def get_rec_name(self, name):
        return self.name

    @classmethod
    def search_rec_name(cls, name, clause):
        bool_op = 'AND' if clause[1].startswith('!') else 'OR'
        return [bool_op, ('code', *clause[1:]), ('name', *clause[1:])]

    @classmethod
    def by_code(cls):
        "Return the reasons by their code"
        return {r.code: r for r in cls.search([])}


class RegisterTemplate(ModelSQL, ModelView):
    "Provider Register Column Template"
    __string__ = "Provider Register Column Template"
    __name__ = 'assistance.billing.register.template'
    name = fields.Char("Name", required=True)
    provider = fields.Many2One(
        'party.party', "Provider", required=True, ondelete='CASCADE',
        domain=[('is_provider', '=', True)],
        help="The provider whose registers use these column titles.")
    lines = fields.One2Many(
        'assistance.billing.register.template.line', 'template', "Columns",
        help="The titles this provider gives to each column. Usual titles "
        "(«№ полиса», «Дата оказания», «Код услуги», «Сумма»…) are "
        "recognised without being listed here.")

    def get_synonyms(self):
        "Return field → column titles: the template's, then the usual ones"
        synonyms = {f: [] for f in register_rules.FIELDS}
        for line in self.lines:
            synonyms[line.field].extend(line.get_titles())
        for field, titles in register_rules.SYNONYMS.items():
            synonyms[field].extend(
                t for t in titles if t not in synonyms[field])
        return synonyms

    @classmethod
    def remember(cls, template, provider, mapping, labels):
        """Add the titles of the file's recognised columns to the template
        of the provider (created when missing) and return it"""
        Line = Pool().get('assistance.billing.register.template.line')
        if not template:
            template = cls(name=provider.rec_name, provider=provider)
            template.save()
        known = {(l.field, rules.normalise_header(t))
            for l in template.lines for t in l.get_titles()}
        Line.create([{
                    'template': template.id, 'field': field,
                    'titles': labels[column], 'sequence': column + 1}
                for field, column in sorted(
                    mapping.items(), key=lambda x: x[1])
                if column < len(labels) and labels[column]
                and (field, rules.normalise_header(labels[column]))
                not in known])
        return template


class RegisterTemplateLine(sequence_ordered(), ModelSQL, ModelView):
    "Provider Register Column Template Line"
    __string__ = "Provider Register Column Template Line"
    __name__ = 'assistance.billing.register.template.line'
    template = fields.Many2One(
        'assistance.billing.register.template', "Template", required=True,
        ondelete='CASCADE')
    field = fields.Selection(FIELD_SELECTION, "Field", required=True,
        help="What the column holds.")
    titles = fields.Char("Column Titles", required=True,
        help="The titles of the column in the provider's files, "
        "separated by «;».")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('template')

    def get_titles(self):
        return [t.strip() for t in (self.titles or '').split(';') if t.strip()]


class Register(Workflow, ModelSQL, ModelView):
    "Provider Register"
    __string__ = "Provider Register"
    __name__ = 'assistance.billing.register'
    _rec_name = 'number'
    _states = {'readonly': Eval('state') != 'draft'}

    company = fields.Many2One(
        'company.company', "Company", required=True, states=_states)
    provider = fields.Many2One(
        'party.party', "Provider", required=True, states=_states,
        domain=[('is_provider', '=', True)],
        context={'company': Eval('company', -1)}, depends={'company'})
    head_office = fields.Function(
        fields.Many2One('party.party', "Head Office",
            context={'company': Eval('company', -1)}, depends={'company'},
            help="The party paid for the provider's services."),
        'on_change_with_head_office')
    number = fields.Char("Number", required=True, states=_states,
        help="The number of the register given by the provider.")
    date = fields.Date("Date", required=True, states=_states)
    start_date = fields.Date("Period Start", states=_states,
        domain=[If(Bool(Eval('start_date')) & Bool(Eval('end_date')),
                ('start_date', '<=', Eval('end_date')), ())])
    end_date = fields.Date("Period End", states=_states)
    invoice_number = fields.Char("Invoice Number", states=_states,
        help="The number of the provider's invoice (счёт) sent with the "
        "register.")
    invoice_date = fields.Date("Invoice Date", states=_states)
    file = fields.Binary(
        "File", filename='file_name', states=_states,
        help="The provider's workbook (.xlsx or .xls), one row per service.")
    file_name = fields.Char("File Name", states=_states)
    template = fields.Many2One(
        'assistance.billing.register.template', "Column Template",
        states=_states,
        domain=[('provider', '=', Eval('provider', -1))],
        help="The column titles of the provider's files: when empty, the "
        "provider's template is used, or created from this file's columns.")
    lines = fields.One2Many(
        'assistance.billing.register.line', 'register', "Lines",
        states=_states)
    errors = fields.One2Many(
        'assistance.billing.register.error', 'register', "Rejected Rows",
        readonly=True)
    errors_file = fields.Function(fields.Binary(
            "Rejected Rows File", filename='errors_file_name'),
        'get_errors_file')
    errors_file_name = fields.Function(
        fields.Char("Rejected Rows File Name"), 'get_errors_file_name')
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    claimed_amount = fields.Function(Monetary(
            "Claimed", currency='currency', digits='currency'),
        'get_amounts')
    accepted_amount = fields.Function(Monetary(
            "Accepted", currency='currency', digits='currency'),
        'get_amounts')
    removed_amount = fields.Function(Monetary(
            "Removed", currency='currency', digits='currency'),
        'get_amounts')
    invoice = fields.Many2One(
        'account.invoice', "Invoice", readonly=True, ondelete='RESTRICT',
        domain=[('type', '=', 'in')],
        context={'company': Eval('company', -1)}, depends={'company'})
    state = fields.Selection(STATES, "State", readonly=True, required=True,
        sort=False)
    state_string = state.translated('state')
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.provider, Index.Equality()),
                (t.number, Index.Equality())))
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'checked'),
            ('checked', 'checked'),
            ('checked', 'draft'),
            ('checked', 'invoiced'),
            ('draft', 'cancelled'),
            ('cancelled', 'draft'),
            }
        cls._buttons.update({
                'import_file': {
                    'invisible': Eval('state') != 'draft',
                    'readonly': ~Eval('file'),
                    'icon': 'tryton-import',
                    'depends': ['state', 'file'],
                    },
                'check': {
                    'invisible': ~Eval('state').in_(['draft', 'checked']),
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'create_invoice': {
                    'invisible': Eval('state') != 'checked',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'draft': {
                    'invisible': ~Eval('state').in_(['checked', 'cancelled']),
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'print_removal_act': {
                    'invisible': Eval('state').in_(['draft', 'cancelled']),
                    'icon': 'tryton-print',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_state():
        return 'draft'

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    @fields.depends('provider')
    def on_change_with_head_office(self, name=None):
        if self.provider:
            payee = self.provider.provider_payee()
            if payee != self.provider:
                return payee

    @fields.depends('company')
    def on_change_with_currency(self, name=None):
        return self.company.currency if self.company else None

    @fields.depends('provider', 'template')
    def on_change_provider(self):
        Template = Pool().get('assistance.billing.register.template')
        if self.provider and (not self.template
                or self.template.provider != self.provider):
            templates = Template.search(
                [('provider', '=', self.provider.id)], limit=1)
            self.template = templates[0] if templates else None

    def get_rec_name(self, name):
        return f'{self.number} — {self.provider.rec_name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        bool_op = 'AND' if clause[1].startswith('!') else 'OR'
        return [bool_op,
            ('number', *clause[1:]),
            ('provider', *clause[1:]),
            ('invoice_number', *clause[1:]),
            ]

    @classmethod
    def get_amounts(cls, registers, names):
        result = {n: {r.id: ZERO for r in registers} for n in names}
        for register in registers:
            for line in register.lines:
                amounts = {
                    'claimed_amount': line.amount or ZERO,
                    'accepted_amount': (line.accepted_amount or ZERO)
                    if line.outcome in PAID else ZERO,
                    'removed_amount': line.removed_amount or ZERO,
                    }
                for name in names:
                    result[name][register.id] += amounts[name]
            for name in names:
                result[name][register.id] = register.currency.round(
                    result[name][register.id])
        return result

    def get_errors_file(self, name):
        "Return the workbook of the rejected rows, for the provider"
        Error = Pool().get('assistance.billing.register.error')
        if not self.errors:
            return None
        names = Error.fields_get(['row', 'column', 'reason'])
        labels = json.loads(self.errors[0].labels or '[]')
        return errors_xlsx(labels, self.errors,
            names['row']['string'], names['column']['string'],
            names['reason']['string'])

    def get_errors_file_name(self, name):
        base = (self.file_name or self.number or 'register').rsplit('.', 1)[0]
        return gettext('assistance_policy.msg_import_errors_file', name=base)

    @classmethod
    def copy(cls, registers, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('lines', None)
        default.setdefault('errors', None)
        default.setdefault('invoice', None)
        default.setdefault('state', 'draft')
        return super().copy(registers, default=default)

    @classmethod
    def check_modification(cls, mode, registers, values=None, external=False):
        super().check_modification(
            mode, registers, values=values, external=external)
        if mode == 'write' and external:
            for register in registers:
                if register.state != 'draft':
                    raise RegisterAccessError(gettext(
                            'assistance_billing.msg_register_modify',
                            register=register.rec_name,
                            state=register.state_string))
        elif mode == 'delete':
            for register in registers:
                if register.state not in {'draft', 'cancelled'} or any(
                        l.outcome in PAID for l in register.lines):
                    raise RegisterAccessError(gettext(
                            'assistance_billing.msg_register_delete',
                            register=register.rec_name))

    @classmethod
    @ModelView.button
    def import_file(cls, registers):
        "Load the rows of each register's workbook; the same rows only once"
        for register in registers:
            register._import()

    def _import(self):
        pool = Pool()
        Line = pool.get('assistance.billing.register.line')
        Error = pool.get('assistance.billing.register.error')
        Template = pool.get('assistance.billing.register.template')
        if self.state != 'draft' or not self.file:
            return
        rows = list(rules.iter_rows(bytes(self.file), self.file_name))
        template = self.template or self._provider_template()
        synonyms = (template.get_synonyms() if template
            else register_rules.SYNONYMS)
        position, mapping, labels = rules.find_header(
            rows, synonyms, scan=30)
        if position is None or not register_rules.mapping_is_usable(mapping):
            raise RegisterError(gettext(
                    'assistance_billing.msg_register_import_header',
                    file=self.file_name or self.number))
        parsed = register_rules.parse_rows(
            rows, mapping, position, self._service_finder())
        known = {l.source_key for l in self.lines if l.source_key}
        Line.create([{**p.values, 'register': self.id}
                for p in parsed if not p.errors
                and p.values['source_key'] not in known])
        Error.delete(list(self.errors))
        Error.create([Error.from_parsed(self, p, mapping, labels)
                for p in parsed if p.errors])
        self.template = Template.remember(
            template, self.provider, mapping, labels)
        self.save()

    def _provider_template(self):
        Template = Pool().get('assistance.billing.register.template')
        templates = Template.search(
            [('provider', '=', self.provider.id)], limit=1)
        return templates[0] if templates else None

    def _service_finder(self):
        "Return the service finder of the rows: our codes, the provider's, names"
        pool = Pool()
        Product = pool.get('product.product')
        PriceLine = pool.get('assistance.provider.price_list.line')
        codes, provider_codes, names = {}, {}, {}
        for product in Product.search([('type', '=', 'service')],
                order=[('id', 'ASC')]):
            if product.code:
                codes.setdefault(product.code.strip(), product.id)
            key = register_rules.service_key(product.name)
            if key:
                names.setdefault(key, product.id)
        for line in PriceLine.search([
                    ('price_list.provider', '=', self.provider.id),
                    ('provider_code', '!=', None),
                    ], order=[('price_list.start_date', 'DESC')]):
            provider_codes.setdefault(
                line.provider_code.strip(), line.service.id)
        return register_rules.service_finder(codes, provider_codes, names)

    @classmethod
    @ModelView.button
    @Workflow.transition('checked')
    def check(cls, registers):
        "Check the rows not checked yet (медико-экономическая экспертиза)"
        Line = Pool().get('assistance.billing.register.line')
        line = Line.__table__()
        cursor = Transaction().connection.cursor()
        for register in registers:
            cursor.execute(*line.select(line.id,
                    where=(line.register == register.id)
                    & (line.outcome == Null),
                    order_by=[Coalesce(line.row_number, 0), line.id]))
            ids = [i for i, in cursor]
            prices = {}
            for sub in grouped_slice(ids, CHECK_CHUNK):
                Line.check_rows(register, Line.browse(sub), prices=prices)
            for sub in grouped_slice(ids, CHECK_CHUNK):
                Line.settle_ledger(Line.browse(sub))

    @classmethod
    @ModelView.button
    @Workflow.transition('invoiced')
    def create_invoice(cls, registers):
        "Create the draft supplier invoice of the accepted rows"
        Invoice = Pool().get('account.invoice')
        invoices = [r._get_invoice() for r in registers]
        Invoice.save(invoices)
        Invoice.update_taxes(invoices)
        for register, invoice in zip(registers, invoices):
            register.invoice = invoice
        cls.save(registers)
        cls.attach_file(registers)

    @classmethod
    def attach_file(cls, registers):
        "Attach the provider's workbook to the invoice of each register"
        Attachment = Pool().get('ir.attachment')
        Attachment.save([Attachment(
                    resource=register.invoice,
                    name=register.file_name or f'{register.number}.xlsx',
                    type='data', data=register.file)
                for register in registers
                if register.invoice and register.file])

    def _get_invoice(self):
        "Return the unsaved supplier invoice of the accepted rows"
        pool = Pool()
        Invoice = pool.get('account.invoice')
        lines = [l for l in self.lines
            if l.outcome in PAID and l.accepted_amount]
        if not lines:
            raise RegisterError(gettext(
                    'assistance_billing.msg_register_nothing_to_invoice',
                    register=self.rec_name))
        payee = self.provider.provider_payee()
        for line in lines:
            if line.expense_line.accrual_payee != payee:
                raise RegisterError(gettext(
                        'assistance_billing.msg_register_payee',
                        line=line.rec_name, payee=payee.rec_name,
                        other=line.expense_line.accrual_payee.rec_name))
        with Transaction().set_context(company=self.company.id):
            invoice = Invoice(
                company=self.company, type='in', party=payee,
                currency=self.currency, reference=self.invoice_number,
                invoice_date=self.invoice_date,
                description=self.rec_name)
            invoice.on_change_type()
            invoice.lines = [l._get_invoice_line(invoice) for l in lines]
        return invoice

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, registers):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, registers):
        pass

    @classmethod
    @ModelView.button_action('assistance_billing.report_removal_act')
    def print_removal_act(cls, registers):
        pass


class RegisterLine(ModelSQL, ModelView):
    "Provider Register Line"
    __string__ = "Provider Register Line"
    __name__ = 'assistance.billing.register.line'
    _states = {'readonly': Eval('register_state') != 'draft'}

    register = fields.Many2One(
        'assistance.billing.register', "Register", required=True,
        ondelete='CASCADE', states=_states)
    register_state = fields.Function(
        fields.Selection(STATES, "Register State"),
        'on_change_with_register_state')
    row_number = fields.Integer("Row", states=_states,
        help="The number of the row in the provider's register.")
    patient = fields.Char("Patient", states=_states)
    policy_number = fields.Char("Policy Number", states=_states)
    order_number = fields.Char("Guarantee Letter", states=_states,
        help="The number of the guarantee letter or order of the service.")
    service_date = fields.Date("Service Date", required=True, states=_states)
    service_code = fields.Char("Service Code", states=_states)
    service_name = fields.Char("Service Name", states=_states)
    service = fields.Many2One(
        'product.product', "Service", required=True, states=_states,
        domain=[('type', '=', 'service')])
    quantity = fields.Numeric("Quantity", digits=(16, 2), required=True,
        states=_states, domain=[('quantity', '>', 0)])
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    unit_price = Monetary("Unit Price", currency='currency',
        digits='currency', required=True, states=_states)
    amount = Monetary("Amount", currency='currency', digits='currency',
        required=True, states=_states)
    diagnosis = fields.Char("Diagnosis", states=_states)
    expense_line = fields.Many2One(
        'assistance.expense.line', "Expense Line", readonly=True,
        ondelete='RESTRICT',
        help="The expense line of the ledger the row was matched to.")
    outcome = fields.Selection(OUTCOMES, "Outcome", readonly=True)
    removal_reason = fields.Many2One(
        'assistance.billing.removal_reason', "Removal Reason", readonly=True)
    accepted_amount = Monetary("Accepted Amount", currency='currency',
        digits='currency', readonly=True)
    removed_amount = fields.Function(Monetary("Removed Amount",
            currency='currency', digits='currency'),
        'get_removed_amount')
    message = fields.Char("Message", readonly=True)
    source_key = fields.Char("Source Key", readonly=True)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('register')
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.expense_line, Index.Equality()),
                    where=t.outcome.in_(PAID)),
                Index(t, (t.register, Index.Range()),
                    (t.source_key, Index.Equality())),
                })
        cls._order = [('register', 'ASC'), ('row_number', 'ASC'),
            ('id', 'ASC')]

    @classmethod
    def default_quantity(cls):
        return Decimal(1)

    @fields.depends('register', '_parent_register.state')
    def on_change_with_register_state(self, name=None):
        return self.register.state if self.register else None

    @fields.depends('register', '_parent_register.company')
    def on_change_with_currency(self, name=None):
        if self.register and self.register.company:
            return self.register.company.currency

    @fields.depends('quantity', 'unit_price')
    def on_change_with_amount(self):
        if self.quantity is not None and self.unit_price is not None:
            return (self.quantity * self.unit_price).quantize(
                Decimal('0.01'))

    def get_removed_amount(self, name):
        if not self.outcome:
            return None
        if self.outcome == 'removed':
            return self.amount
        return max(self.amount - (self.accepted_amount or ZERO), ZERO)

    def get_rec_name(self, name):
        return gettext('assistance_billing.msg_register_line_name',
            row=self.row_number or self.id, register=self.register.number,
            service=self.service.rec_name)

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        for name in ['expense_line', 'outcome', 'removal_reason',
                'accepted_amount', 'message', 'source_key']:
            default.setdefault(name, None)
        return super().copy(lines, default=default)

    @classmethod
    def check_modification(cls, mode, lines, values=None, external=False):
        super().check_modification(
            mode, lines, values=values, external=external)
        checked = {'expense_line', 'outcome', 'removal_reason',
            'accepted_amount', 'message', 'source_key'}
        if mode == 'create' and external:
            for line in lines:
                line._check_draft()
                if any(getattr(line, n) is not None for n in checked):
                    line._raise_modify()
        elif mode == 'write' and external:
            for line in lines:
                line._check_draft()
                if values.keys() & checked or line.outcome:
                    line._raise_modify()
        elif mode == 'delete':
            for line in lines:
                if line.outcome in PAID:
                    line._raise_modify()
                if external:
                    line._check_draft()

    def _check_draft(self):
        if self.register.state != 'draft':
            raise RegisterAccessError(gettext(
                    'assistance_billing.msg_register_modify',
                    register=self.register.rec_name,
                    state=self.register.state_string))

    def _raise_modify(self):
        raise RegisterAccessError(gettext(
                'assistance_billing.msg_register_line_modify',
                line=self.rec_name))

    @classmethod
    def settle_ledger(cls, lines):
        """Bring the ledger to the outcome of the checked lines: the part of
        a paid row's expense line not accepted is taken off its accrual, so
        that only the accepted amount stays owed on 76.05; the expense line
        of a row removed for an excluded diagnosis is cancelled, releasing
        what it consumed, as a refused declaration is"""
        ExpenseLine = Pool().get('assistance.expense.line')
        adjustments, released = [], []
        for line in lines:
            expense = line.expense_line
            if not expense or expense.state not in {'declared', 'actual'}:
                continue
            if line.outcome in PAID:
                difference = expense.owed_amount - line._expense_accepted()
                if difference > 0:
                    adjustments.append((expense, difference))
            elif (line.outcome == 'removed' and line.removal_reason
                    and line.removal_reason.code == 'excluded_diagnosis'):
                released.append(expense)
        ExpenseLine.adjust_accrual(adjustments)
        ExpenseLine.cancel(released)

    def _expense_accepted(self):
        "The accepted amount in the currency of the expense line"
        Currency = Pool().get('currency.currency')
        expense = self.expense_line
        amount = self.accepted_amount or ZERO
        if self.currency == expense.currency:
            return amount
        with Transaction().set_context(date=expense.date):
            return Currency.compute(self.currency, amount, expense.currency)

    def _get_invoice_line(self, invoice):
        "Return the invoice line that bills the accepted amount of the row"
        pool = Pool()
        InvoiceLine = pool.get('account.invoice.line')
        Configuration = pool.get('assistance.billing.configuration')
        account = Configuration(1).get_multivalue(
            'accrual_account', company=invoice.company.id)
        return InvoiceLine(
            invoice=invoice, company=invoice.company, type='line',
            currency=invoice.currency, account=account,
            quantity=1, unit_price=self.accepted_amount,
            origin=self.expense_line,
            description=self._invoice_description())

    def _invoice_description(self):
        return ' — '.join(filter(None, [
                    self.service.rec_name, self.patient,
                    self.service_date.strftime('%d.%m.%Y'),
                    self.order_number]))

    # -- The check (МЭЭ) -----------------------------------------------------

    @classmethod
    def check_rows(cls, register, lines, prices=None):
        """Check lines of register in bulk, in row order, a chunk at a time:
        a few queries for the rows of a chunk, then the engine for its
        services without an order; a row paid in a chunk is taken for the
        next ones.  prices caches the list prices between calls."""
        if not lines:
            return
        Policy = Pool().get('assistance.policy')
        if prices is None:
            prices = {}
        lines = sorted(lines, key=lambda l: (l.row_number or 0, l.id))
        # The engine locks what the services without an order consume and
        # a transaction takes its locks by starting again: lock them all
        # before the work, not once a chunk after it.
        requests = []
        for sub in grouped_slice(lines, CHECK_CHUNK):
            context = _CheckContext(register, list(sub), prices)
            for line in context.lines:
                context.candidates(line)
            requests.extend((p, l.service, l.service_date)
                for l, p in context.unordered)
        Policy.lock_coverage(requests)
        for sub in grouped_slice(lines, CHECK_CHUNK):
            sub = list(sub)
            context = _CheckContext(register, sub, prices)
            for line in sub:
                line._check_row(context)
            context.declare_unordered()
            context.finish()

    def _check_row(self, context):
        "Match the row to an expense line, or leave it to be declared"
        candidates = context.candidates(self)
        if candidates is None:
            return
        free = [c for c in candidates if c.id not in context.taken]
        if not free:
            self._remove(context, 'duplicate' if candidates else 'not_found')
            return
        best = min(free, key=lambda c: (
                abs((c.date - self.service_date).days), c.id))
        context.taken.add(best.id)
        self._decide(context, best)

    def _decide(self, context, expense):
        "Accept, accept with a difference or remove the row of expense"
        if context.excluded(self, expense):
            self.expense_line = expense.id
            self._remove(context, 'excluded_diagnosis')
            return
        outcome = register_rules.decide(
            self.amount, self.quantity, self.unit_price,
            expense.covered_amount or ZERO, expense.covered_quantity or ZERO,
            context.list_price(self), context.tolerance,
            expense.coverage_status == 'partial')
        self.expense_line = expense.id
        self.outcome = outcome.outcome
        self.accepted_amount = outcome.accepted
        self.removal_reason = (context.reason(outcome.reason)
            if outcome.reason else None)
        self.message = expense.coverage_reason or None
        context.done(self)

    def _remove(self, context, reason, message=None):
        self.outcome = 'removed'
        self.accepted_amount = ZERO
        self.removal_reason = context.reason(reason)
        self.message = message
        context.done(self)

    def _expense_line(self, policy):
        "Return the draft expense line declaring a service without an order"
        ExpenseLine = Pool().get('assistance.expense.line')
        return ExpenseLine(
            policy=policy, service=self.service, date=self.service_date,
            quantity=self.quantity, unit_price=self.unit_price,
            diagnosis=self.diagnosis, origin=self, state='draft')


class _CheckContext:
    """What the check of a register's rows reads in bulk: the expense lines
    of the provider's orders by order number and by policy, the policies by
    number, the expense lines already paid by another row, the prices"""

    def __init__(self, register, lines, prices=None):
        pool = Pool()
        Configuration = pool.get('assistance.billing.configuration')
        RemovalReason = pool.get('assistance.billing.removal_reason')
        config = Configuration(1)
        self.register = register
        self.lines = lines
        self.tolerance = config.register_amount_tolerance or ZERO
        self.window = dt.timedelta(days=config.register_date_window or 0)
        self.require_order = bool(config.register_require_order)
        self.reasons = RemovalReason.by_code()
        self.checked = []
        self.unordered = []
        self.prices = prices if prices is not None else {}
        self._load(lines)

    def _load(self, lines):
        pool = Pool()
        Policy = pool.get('assistance.policy')
        policy_numbers = {l.policy_number for l in lines if l.policy_number}
        self.policies = {}
        for sub in grouped_slice(sorted(policy_numbers)):
            for policy in Policy.search([('number', 'in', list(sub))],
                    order=[('start_date', 'DESC'), ('id', 'DESC')]):
                self.policies.setdefault(policy.number, []).append(policy)
        dates = [l.service_date for l in lines]
        self.by_order, self.by_policy = _provider_expenses(
            self.register.provider,
            {l.order_number for l in lines if l.order_number},
            [p.id for ps in self.policies.values() for p in ps],
            min(dates) - self.window, max(dates) + self.window)
        self.taken = _paid_expense_lines(
            [e.id for es in self.by_order.values() for e in es]
            + [e.id for es in self.by_policy.values() for e in es])

    def candidates(self, line):
        """Return the expense lines line may bill, or None when line has no
        order and waits to be declared through the engine"""
        if line.order_number:
            found = self.by_order.get((line.order_number, line.service.id))
            if found is not None:
                return found
            if not line.policy_number:
                line._remove(self, 'no_guarantee')
                return None
        policies = self._policies(line)
        if not policies:
            line._remove(self, 'no_policy' if line.policy_number
                else 'not_found')
            return None
        found = [e for p in policies
            for e in self.by_policy.get((p.id, line.service.id), [])
            if abs(e.date - line.service_date) <= self.window]
        if found:
            return found
        if line.order_number or self.require_order:
            line._remove(self, 'no_guarantee')
        else:
            self.unordered.append((line, policies[0]))
        return None

    def _policies(self, line):
        "Return the policies of the row's number covering its date first"
        policies = self.policies.get(line.policy_number, [])
        return sorted(policies, key=lambda p: (
                not p.covers_date(line.service_date), -p.id))

    def excluded(self, line, expense):
        "Tell whether the row's own diagnosis is excluded (the engine says)"
        if not line.diagnosis or line.diagnosis == expense.diagnosis:
            return False
        expense = Pool().get('assistance.expense.line')(expense.id)
        policy = expense.policy
        service = expense.service
        return bool(policy.find_exclusion(
                service.id, coverage_path.service_ancestors(service.id),
                policy._coverage_diagnoses(expense.case_key, line.diagnosis)))

    def list_price(self, line):
        "Return the provider's list price of the row's service on its date"
        PriceLine = Pool().get('assistance.provider.price_list.line')
        key = (line.service.id, line.service_date)
        if key not in self.prices:
            prices = PriceLine.valid_prices(
                [self.register.provider], line.service, line.service_date)
            found = prices.get(self.register.provider.id)
            self.prices[key] = found[1] if found else None
        return self.prices[key]

    def reason(self, code):
        return self.reasons.get(code)

    def done(self, line):
        self.checked.append(line)

    def declare_unordered(self):
        """Declare the services without an order through the engine's locked
        path (P5): covered, they are matched to their new expense line;
        refused, the row is removed with the engine's reason"""
        ExpenseLine = Pool().get('assistance.expense.line')
        if not self.unordered:
            return
        expenses = [l._expense_line(p) for l, p in self.unordered]
        ExpenseLine.save(expenses)
        ExpenseLine.declare(expenses)
        refused = []
        for (line, _), expense in zip(self.unordered, expenses):
            if expense.coverage_status == 'refused':
                refused.append(expense)
                line.expense_line = expense
                line._remove(self, ENGINE_REASONS.get(
                        _engine_reason(expense), 'outside_program'),
                    message=expense.coverage_reason)
            else:
                self.taken.add(expense.id)
                line._decide(self, expense)
        # A refused declaration consumes nothing: out of the ledger.
        ExpenseLine.cancel(refused)

    def finish(self):
        "Save the outcomes; the paid expense lines become actual (accrued)"
        pool = Pool()
        Line = pool.get('assistance.billing.register.line')
        ExpenseLine = pool.get('assistance.expense.line')
        Line.save(self.checked)
        paid = ExpenseLine.browse([l.expense_line.id for l in self.checked
                if l.outcome in PAID])
        ExpenseLine.confirm([e for e in paid if e.state == 'declared'])


def _engine_reason(expense):
    "Return the engine's reason code of a refused expense line"
    policy = expense.policy
    decision = policy.check_coverage(
        expense.service, expense.date, expense.quantity, expense.unit_price,
        case=expense.case_key, diagnosis=expense.diagnosis)
    return decision.reason


# What the check reads of a candidate expense line (in SQL, not browsed).
_Expense = namedtuple('_Expense', ['id', 'policy', 'service', 'date',
        'covered_amount', 'covered_quantity', 'coverage_status',
        'coverage_reason', 'diagnosis'])


def _provider_expenses(provider, order_numbers, policy_ids, start, end):
    """Return the consuming expense lines of provider's order lines
    by (order number, service) and by (policy, service) within dates, as
    _Expense tuples, in one query per slice"""
    pool = Pool()
    ExpenseLine = pool.get('assistance.expense.line')
    OrderLine = pool.get('assistance.order.line')
    Order = pool.get('assistance.order')
    expense = ExpenseLine.__table__()
    order_line = OrderLine.__table__()
    order = Order.__table__()
    cursor = Transaction().connection.cursor()
    from_ = expense.join(order_line,
        condition=order_line.expense_line == expense.id).join(order,
        condition=order.id == order_line.order)
    where = (order.provider == provider.id) & expense.state.in_(
        ['declared', 'actual'])
    columns = [expense.id, expense.policy, expense.service, expense.date,
        expense.covered_amount, expense.covered_quantity,
        expense.coverage_status, expense.coverage_reason, expense.diagnosis]
    by_order, by_policy = defaultdict(list), defaultdict(list)
    for sub in grouped_slice(sorted(order_numbers)):
        cursor.execute(*from_.select(order.number, *columns,
                where=where & order.number.in_(list(sub)),
                order_by=[expense.id]))
        for number, *values in cursor:
            record = _expense(values)
            by_order[(number, record.service)].append(record)
    for sub in grouped_slice(sorted(policy_ids)):
        cursor.execute(*from_.select(*columns,
                where=where & expense.policy.in_(list(sub))
                & (expense.date >= start) & (expense.date <= end),
                order_by=[expense.id]))
        for values in cursor:
            record = _expense(values)
            by_policy[(record.policy, record.service)].append(record)
    return dict(by_order), dict(by_policy)


def _expense(values):
    "Return the _Expense of a row of the query (SQLite gives text dates)"
    values = list(values)
    for index in [4, 5]:
        if values[index] is not None and not isinstance(
                values[index], Decimal):
            values[index] = Decimal(str(values[index]))
    if isinstance(values[3], str):
        values[3] = dt.date.fromisoformat(values[3])
    elif isinstance(values[3], dt.datetime):
        values[3] = values[3].date()
    return _Expense(*values)


def _paid_expense_lines(expense_ids):
    "Return the ids of the expense lines already paid by a register's row"
    pool = Pool()
    Line = pool.get('assistance.billing.register.line')
    Register = pool.get('assistance.billing.register')
    line = Line.__table__()
    register = Register.__table__()
    cursor = Transaction().connection.cursor()
    taken = set()
    for sub in grouped_slice(sorted(set(expense_ids))):
        cursor.execute(*line.join(register,
                condition=register.id == line.register).select(
                line.expense_line,
                where=line.expense_line.in_(list(sub))
                & line.outcome.in_(PAID)
                & (register.state != 'cancelled')))
        taken.update(i for i, in cursor)
    return taken


class RegisterError_(ModelSQL, ModelView):
    "Provider Register Rejected Row"
    __string__ = "Provider Register Rejected Row"
    __name__ = 'assistance.billing.register.error'
    register = fields.Many2One(
        'assistance.billing.register', "Register", required=True,
        ondelete='CASCADE', readonly=True)
    row = fields.Integer("Row", readonly=True,
        help="The row number in the file.")
    column = fields.Char("Column", readonly=True)
    reason = fields.Char("Reason", readonly=True)
    cells = fields.Text("Row Values", readonly=True)
    labels = fields.Text("Column Titles", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('register')
        cls._order = [('register', 'ASC'), ('row', 'ASC'), ('id', 'ASC')]

    @classmethod
    def from_parsed(cls, register, parsed, mapping, labels):
        "Return the values of the rejected row parsed"
        def label(field):
            column = mapping.get(field)
            if column is not None and column < len(labels) and labels[column]:
                return labels[column]
            return field
        return {
            'register': register.id,
            'row': parsed.row,
            'column': ', '.join(
                dict.fromkeys(label(f) for f, _ in parsed.errors)),
            'reason': '; '.join(dict.fromkeys(
                    gettext(f'assistance_billing.msg_register_import_{r}',
                        column=label(f))
                    for f, r in parsed.errors)),
            'cells': json.dumps([rules.cell_text(c) for c in parsed.cells],
                ensure_ascii=False),
            'labels': json.dumps(labels, ensure_ascii=False),
            }


class ExpenseLine(metaclass=PoolMeta):
    __name__ = 'assistance.expense.line'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['assistance.billing.register.line']

    @property
    def accrual_payee(self):
        Line = Pool().get('assistance.billing.register.line')
        if isinstance(self.origin, Line):
            return self.origin.register.provider.provider_payee()
        return super().accrual_payee


class RemovalAct(Report):
    "Removal act (акт снятий, протокол разногласий) of a provider register"
    __name__ = 'assistance.billing.register.removal_act'

    @classmethod
    def get_context(cls, records, header, data):
        context = super().get_context(records, header, data)
        context['removed_lines'] = cls.removed_lines
        context['address_lines'] = GuaranteeLetter.address_lines
        context['act_date'] = Pool().get('ir.date').today()
        return context

    @staticmethod
    def removed_lines(register):
        "Return the rows removed in whole or in part"
        return [l for l in register.lines
            if l.outcome and (l.removed_amount or ZERO) > 0]
