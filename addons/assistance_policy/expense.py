# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The ledger of consumption: expense records and their lines (BIL-1)"
import datetime as dt
from decimal import Decimal

from sql import Cast, Literal
from sql.aggregate import Count, Max, Sum
from sql.conditionals import Case, Coalesce

from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import coverage_rules as rules
from .exceptions import ExpenseAccessError, ExpenseValidationError

CONSUMING = ['declared', 'actual']
# The coverage engine's decision, written by ExpenseLine.declare only.
ENGINE_FIELDS = {
    'contract', 'option', 'amount', 'covered_quantity', 'covered_amount',
    'deductible_amount', 'insured_amount', 'coverage_status',
    'coverage_reason',
    }
# What a client never sets: the decision, the state (changed by the
# transitions) and the origin (set by the document that declares the line).
SERVER_FIELDS = ENGINE_FIELDS | {'state', 'origin'}
LINE_TRANSITIONS = {
    ('draft', 'declared'),
    ('declared', 'actual'),
    ('declared', 'cancelled'),
    ('actual', 'cancelled'),
    ('cancelled', 'draft'),
    }
STATES = [
    ('draft', "Draft"),
    ('declared', "Declared"),
    ('actual', "Actual"),
    ('cancelled', "Cancelled"),
    ]


class Expense(Workflow, ModelSQL, ModelView):
    "A document that records consumed services, e.g. a reimbursement"
    __name__ = 'assistance.expense'
    _states = {'readonly': Eval('state') != 'draft'}

    policy = fields.Many2One(
        'assistance.policy', "Policy", required=True, states=_states,
        domain=[('state', '=', 'active')])
    date = fields.Date("Date", required=True, states=_states)
    description = fields.Char("Description", states=_states)
    origin = fields.Reference(
        "Origin", selection='get_origin', states=_states)
    lines = fields.One2Many(
        'assistance.expense.line', 'expense', "Lines",
        states=_states,
        domain=[('policy', '=', Eval('policy', -1))])
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    amount = fields.Function(
        Monetary("Amount", currency='currency', digits='currency'),
        'get_total')
    covered_amount = fields.Function(
        Monetary("Covered Amount", currency='currency', digits='currency'),
        'get_total')
    insured_amount = fields.Function(
        Monetary("Paid by the Insured", currency='currency',
            digits='currency'),
        'get_total')
    state = fields.Selection(
        STATES, "State", readonly=True, required=True, sort=False)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # No access through the policy: a contract manager who may change
        # policies must not change the ledger (expense.xml has its rules).
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'declared'),
            ('declared', 'actual'),
            ('declared', 'cancelled'),
            ('actual', 'cancelled'),
            ('cancelled', 'draft'),
            }
        cls._buttons.update({
                'declare': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'confirm': {
                    'invisible': Eval('state') != 'declared',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(CONSUMING),
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'draft': {
                    'invisible': Eval('state') != 'cancelled',
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_state():
        return 'draft'

    @staticmethod
    def default_date():
        return Pool().get('ir.date').today()

    @classmethod
    def _get_origin(cls):
        "Return the models that may cause an expense record"
        return []

    @classmethod
    def get_origin(cls):
        IrModel = Pool().get('ir.model')
        models = cls._get_origin()
        return [(None, '')] + [
            (m, IrModel.get_name(m)) for m in models]

    @fields.depends('policy', '_parent_policy.contract')
    def on_change_with_currency(self, name=None):
        return self.policy.contract.currency if self.policy else None

    @classmethod
    def get_total(cls, expenses, names):
        "Sum the lines' field of the same name"
        result = {n: {} for n in names}
        for expense in expenses:
            for name in names:
                result[name][expense.id] = sum(
                    (getattr(l, name) or 0 for l in expense.lines),
                    rules.ZERO)
        return result

    def get_rec_name(self, name):
        return f'{self.policy.rec_name} ({self.date.strftime("%d.%m.%Y")})'

    @classmethod
    def copy(cls, expenses, default=None):
        "A copy is a new draft: its lines consume nothing until declared"
        default = default.copy() if default is not None else {}
        default.setdefault('state', 'draft')
        default.setdefault('origin', None)
        return super().copy(expenses, default=default)

    @classmethod
    def check_modification(cls, mode, expenses, values=None, external=False):
        super().check_modification(
            mode, expenses, values=values, external=external)
        if mode == 'create' and external:
            for expense in expenses:
                if expense.state != 'draft':
                    expense._raise_server_field('state')
        elif mode == 'write':
            for expense in expenses:
                if external and 'state' in values:
                    expense._raise_server_field('state')
                if values.keys() - {'state'} and expense.state != 'draft':
                    raise ExpenseAccessError(gettext(
                            'assistance_policy.msg_expense_modify',
                            expense=expense.rec_name))
        elif mode == 'delete':
            for expense in expenses:
                if expense.state not in {'draft', 'cancelled'}:
                    raise ExpenseAccessError(gettext(
                            'assistance_policy.msg_expense_delete',
                            expense=expense.rec_name))

    def _raise_server_field(self, name):
        raise ExpenseAccessError(gettext(
                'assistance_policy.msg_expense_server_field',
                expense=self.rec_name, **self.__names__(name)))

    @classmethod
    @ModelView.button
    @Workflow.transition('declared')
    def declare(cls, expenses):
        pool = Pool()
        Line = pool.get('assistance.expense.line')
        Line.declare([l for e in expenses for l in e.lines])

    @classmethod
    @ModelView.button
    @Workflow.transition('actual')
    def confirm(cls, expenses):
        pool = Pool()
        Line = pool.get('assistance.expense.line')
        Line.confirm([l for e in expenses for l in e.lines])

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, expenses):
        pool = Pool()
        Line = pool.get('assistance.expense.line')
        Line.cancel([l for e in expenses for l in e.lines])

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, expenses):
        pool = Pool()
        Line = pool.get('assistance.expense.line')
        Line.draft([l for e in expenses for l in e.lines])


class ExpenseLine(ModelSQL, ModelView):
    "One consumed service in the ledger: the engine reads only these"
    __name__ = 'assistance.expense.line'
    _states = {'readonly': Eval('state') != 'draft'}

    expense = fields.Many2One(
        'assistance.expense', "Expense Record", ondelete='CASCADE',
        states=_states)
    policy = fields.Many2One(
        'assistance.policy', "Policy", required=True, states=_states)
    contract = fields.Many2One(
        'assistance.contract', "Contract", readonly=True,
        help="The policy's contract, kept on the line "
        "to sum aggregate limits fast.")
    service = fields.Many2One(
        'product.product', "Service", required=True, states=_states,
        domain=[('type', '=', 'service')])
    option = fields.Many2One(
        'assistance.option', "Option", readonly=True,
        help="The option of the programme that covers the service.")
    date = fields.Date("Date", required=True, states=_states)
    quantity = fields.Numeric(
        "Quantity", digits=(16, 2), required=True, states=_states,
        domain=[('quantity', '>', 0)])
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    unit_price = Monetary(
        "Unit Price", currency='currency', digits='currency', required=True,
        states=_states)
    amount = Monetary(
        "Amount", currency='currency', digits='currency', readonly=True)
    covered_quantity = fields.Numeric(
        "Covered Quantity", digits=(16, 2), readonly=True)
    covered_amount = Monetary(
        "Covered Amount", currency='currency', digits='currency',
        readonly=True, help="What the insurer pays.")
    deductible_amount = Monetary(
        "Deductible", currency='currency', digits='currency', readonly=True)
    insured_amount = Monetary(
        "Paid by the Insured", currency='currency', digits='currency',
        readonly=True,
        help="What the insured person pays beyond the deductible.")
    coverage_status = fields.Selection([
            (None, ""),
            ('covered', "Covered"),
            ('partial', "Partially Covered"),
            ('refused', "Refused"),
            ], "Coverage", readonly=True)
    coverage_reason = fields.Char("Reason", readonly=True)
    case_key = fields.Char(
        "Case", states=_states,
        help="The assistance case the line belongs to, "
        "for per-case limits and deductibles.")
    diagnosis = fields.Char("Diagnosis", states=_states)
    origin = fields.Reference(
        "Origin", selection='get_origin', readonly=True)
    state = fields.Selection(
        STATES, "State", readonly=True, required=True, sort=False)
    state_string = state.translated('state')
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # No access through the policy: a contract manager who may change
        # policies must not change the ledger (expense.xml has its rules).
        t = cls.__table__()
        consuming = t.state.in_(CONSUMING)
        cls._sql_indexes.update({
                Index(t, (t.policy, Index.Range()), (t.date, Index.Range()),
                    where=consuming),
                Index(t, (t.contract, Index.Range()), (t.date, Index.Range()),
                    where=consuming),
                Index(t, (t.case_key, Index.Equality()), where=consuming),
                })
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        # Fields the server may still write on a line in the ledger.
        cls._check_modify_exclude = set()
        # Fields only the server sets; a module adds the ones it writes.
        cls._server_fields = set(SERVER_FIELDS)

    @staticmethod
    def default_state():
        return 'draft'

    @staticmethod
    def default_quantity():
        return 1

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    @fields.depends('expense', '_parent_expense.policy',
        '_parent_expense.date')
    def on_change_expense(self):
        if self.expense:
            self.policy = self.expense.policy
            self.date = self.expense.date

    @fields.depends('policy', '_parent_policy.contract')
    def on_change_with_currency(self, name=None):
        return self.policy.contract.currency if self.policy else None

    @fields.depends('service', 'unit_price')
    def on_change_service(self):
        if self.service and self.unit_price is None:
            self.unit_price = self.service.list_price_used

    @classmethod
    def _get_origin(cls):
        "Return the models that may cause an expense line"
        return ['assistance.expense']

    @classmethod
    def get_origin(cls):
        IrModel = Pool().get('ir.model')
        return [(None, '')] + [
            (m, IrModel.get_name(m)) for m in cls._get_origin()]

    def get_rec_name(self, name):
        return f'{self.service.rec_name} — {self.policy.rec_name}'

    @classmethod
    def copy(cls, lines, default=None):
        """A copy is a new draft without the engine's decision: it consumes
        nothing until it is declared; a correction is a cancel and a new
        declaration.  Out of its expense record, which may not be a draft,
        unless the record itself is copied."""
        default = default.copy() if default is not None else {}
        for name in ENGINE_FIELDS | {'origin', 'expense'}:
            default.setdefault(name, None)
        default.setdefault('state', 'draft')
        return super().copy(lines, default=default)

    @classmethod
    def check_modification(cls, mode, lines, values=None, external=False):
        # external: the call came through RPC (the dispatcher's private
        # _check_access, which a client cannot put in its context) and not
        # from server code such as a button or a transition.
        super().check_modification(
            mode, lines, values=values, external=external)
        if mode == 'create':
            for line in lines:
                if external:
                    line._check_client_create()
                line._check_expense_draft()
        elif mode == 'write':
            if external:
                cls._check_client_write(lines, values)
            cls._check_ledger_write(lines, values)
            if values.get('expense') is not None:
                for line in lines:
                    line._check_expense_draft(values['expense'])
        elif mode == 'delete':
            for line in lines:
                if line.state in CONSUMING:
                    raise ExpenseAccessError(gettext(
                            'assistance_policy.msg_expense_line_delete',
                            line=line.rec_name))

    def _check_client_create(self):
        "Refuse a line created by a client with what only the server sets"
        for name in sorted(self._server_fields):
            value = getattr(self, name)
            if name == 'state':
                given = value != 'draft'
            else:
                # A One2Many of the server (invoice_lines) reads as ().
                given = value is not None and value != ()
            if given:
                self._raise_server_field(name)

    @classmethod
    def _check_client_write(cls, lines, values):
        "Refuse a client's write of what only the server sets, or in the ledger"
        names = sorted(values.keys() & cls._server_fields)
        for line in lines:
            if names:
                line._raise_server_field(names[0])
            if values and line.state != 'draft':
                line._raise_modify()

    @classmethod
    def _check_ledger_write(cls, lines, values):
        """Refuse any change but the state of a line in the ledger, and any
        change of state but the transitions (declare, confirm, cancel,
        draft)"""
        changed = values.keys() - {'state'} - cls._check_modify_exclude
        state = values.get('state')
        for line in lines:
            if line.state != 'draft' and changed:
                line._raise_modify()
            if (state and state != line.state
                    and (line.state, state) not in LINE_TRANSITIONS):
                line._raise_modify()

    def _check_expense_draft(self, expense=None):
        "Refuse a line added to an expense record that is not a draft"
        if expense is not None:
            expense = Pool().get('assistance.expense')(expense)
        else:
            expense = self.expense
        if expense and expense.state != 'draft':
            raise ExpenseAccessError(gettext(
                    'assistance_policy.msg_expense_modify',
                    expense=expense.rec_name))

    def _raise_server_field(self, name):
        raise ExpenseAccessError(gettext(
                'assistance_policy.msg_expense_line_server_field',
                line=self.rec_name, **self.__names__(name)))

    def _raise_modify(self):
        raise ExpenseAccessError(gettext(
                'assistance_policy.msg_expense_line_modify',
                line=self.rec_name, state=self.state_string))

    @classmethod
    def validate_fields(cls, lines, field_names):
        super().validate_fields(lines, field_names)
        cls.check_quantity_price(lines, field_names)

    @classmethod
    def check_quantity_price(cls, lines, field_names=None):
        "Refuse what would give a negative consumption and free the limits"
        if field_names and not (field_names & {'quantity', 'unit_price'}):
            return
        for line in lines:
            if line.quantity is not None and line.quantity <= 0:
                raise ExpenseValidationError(gettext(
                        'assistance_policy.msg_expense_line_quantity',
                        line=line.rec_name))
            if line.unit_price is not None and line.unit_price < 0:
                raise ExpenseValidationError(gettext(
                        'assistance_policy.msg_expense_line_unit_price',
                        line=line.rec_name))

    @classmethod
    def consumptions(cls, policy, specs, pending=None):
        """Return for each spec what the ledger consumed and, for measure
        days, whether spec's date is already counted.

        A spec is a dict: measure (amount, quantity, days, or deductible for
        what deductibles took), scope (insured or contract), first and last
        days of the window (or None), case_key, options and services (ids,
        or None for all) and date.  The specs of the insured person are
        summed in one query over their lines; each aggregate spec of the
        contract in one indexed query.

        pending lists consumptions not in the ledger yet (the lines of a
        draft before the one checked, see Policy.pending_consumption): they
        count as if declared."""
        results = cls._ledger_consumptions(policy, specs)
        if pending:
            results = [cls._add_pending(policy, spec, result, pending)
                for spec, result in zip(specs, results)]
        return results

    @classmethod
    def _ledger_consumptions(cls, policy, specs):
        results = [None] * len(specs)
        insured = [(i, s) for i, s in enumerate(specs)
            if s['scope'] != 'contract']
        if insured:
            rows = cls._sum_specs(
                cls.__table__(), 'policy', policy.id, [s for _, s in insured])
            for (index, _), row in zip(insured, rows):
                results[index] = row
        for index, spec in enumerate(specs):
            if spec['scope'] == 'contract':
                results[index], = cls._sum_specs(
                    cls.__table__(), 'contract', policy.contract.id, [spec])
        return results

    @classmethod
    def _sum_specs(cls, line, column, value, specs):
        cursor = Transaction().connection.cursor()
        columns = []
        for spec in specs:
            condition = cls._spec_condition(line, spec)
            if spec['measure'] == 'days':
                # A refused line (nothing covered) uses no day.
                condition &= cls._covered_condition(line)
                columns.append(Count(
                        Case((condition, line.date)), distinct=True))
                columns.append(Max(Case(
                            (condition & (line.date == spec['date']),
                                Literal(1)), else_=Literal(0))))
            else:
                measured = {
                    'amount': line.covered_amount,
                    'quantity': line.covered_quantity,
                    'deductible': line.deductible_amount,
                    }[spec['measure']]
                columns.append(Coalesce(Sum(
                            Case((condition, measured), else_=Literal(0))),
                        Literal(0)))
                columns.append(Literal(0))
        where = line.state.in_(CONSUMING) & (getattr(line, column) == value)
        if len(specs) == 1:
            # Let the index on (contract, date) narrow the window.
            where &= cls._spec_condition(line, specs[0])
        cursor.execute(*line.select(*columns, where=where))
        row = cursor.fetchone()
        return [(Decimal(str(row[i] or 0)), bool(row[i + 1]))
            for i in range(0, len(row), 2)]

    @classmethod
    def _add_pending(cls, policy, spec, result, pending):
        "Return result (consumed, date counted) with the pending of spec"
        consumed, counted = result
        if spec['scope'] == 'contract':
            pending = [p for p in pending
                if p['contract'] == policy.contract.id]
        else:
            pending = [p for p in pending if p['policy'] == policy.id]
        pending = [p for p in pending if _pending_matches(spec, p)]
        if spec['measure'] != 'days':
            return consumed + sum(
                (p[spec['measure']] for p in pending), Decimal(0)), counted
        days = {p['date'] for p in pending if p['quantity'] > 0}
        if spec['date'] in days:
            counted = True
        days -= cls._ledger_days(policy, spec, days)
        return consumed + len(days), counted

    @classmethod
    def _ledger_days(cls, policy, spec, days):
        """Return the days among days that the ledger counts for spec: those
        of a line that covered some quantity"""
        if not days:
            return set()
        line = cls.__table__()
        column, value = (('contract', policy.contract.id)
            if spec['scope'] == 'contract' else ('policy', policy.id))
        cursor = Transaction().connection.cursor()
        cursor.execute(*line.select(line.date,
                where=line.state.in_(CONSUMING)
                & (getattr(line, column) == value)
                & cls._spec_condition(line, spec)
                & cls._covered_condition(line)
                & line.date.in_(sorted(days)),
                group_by=[line.date]))
        return {d if isinstance(d, dt.date) else dt.date.fromisoformat(d)
            for d, in cursor}

    @classmethod
    def _covered_condition(cls, line):
        "The condition of the lines that covered some quantity"
        column = line.covered_quantity
        if backend.name == 'sqlite':
            # Decimal is stored as bytes: compare it as a number.
            column = Cast(column, cls.covered_quantity.sql_type().base)
        return column > 0

    @staticmethod
    def _spec_condition(line, spec):
        condition = Literal(True)
        if spec.get('first') is not None:
            condition &= ((line.date >= spec['first'])
                & (line.date <= spec['last']))
        if spec.get('case_key') is not None:
            condition &= line.case_key == spec['case_key']
        if spec.get('options') is not None:
            condition &= line.option.in_(spec['options'] or [-1])
        if spec.get('services') is not None:
            condition &= line.service.in_(spec['services'] or [-1])
        return condition

    def _decision_values(self, decision):
        return {
            'contract': self.policy.contract.id,
            'option': decision.option,
            'amount': decision.requested_amount,
            'covered_quantity': decision.covered_quantity,
            'covered_amount': decision.covered_amount,
            'deductible_amount': decision.deductible,
            'insured_amount': decision.insured_amount,
            'coverage_status': decision.status,
            'coverage_reason': decision.message,
            }

    @classmethod
    def declare(cls, lines):
        """Record the lines as declared consumption, each with the engine's
        decision, under row locks so that concurrent declarations can never
        overspend a remaining limit (P5).  Only drafts are declared: a line
        in the ledger is never decided again."""
        pool = Pool()
        Policy = pool.get('assistance.policy')
        lines = sorted(
            (l for l in lines if l.state == 'draft'), key=lambda l: l.id)
        Policy.lock_coverage([(l.policy, l.service, l.date) for l in lines])
        for line in lines:
            decision = line.policy.check_coverage(
                line.service, line.date, line.quantity, line.unit_price,
                case=line.case_key, diagnosis=line.diagnosis)
            values = line._decision_values(decision)
            values['state'] = 'declared'
            cls.write([line], values)
        return lines

    @classmethod
    def confirm(cls, lines):
        "Turn declared lines into actual ones"
        cls.write([l for l in lines if l.state == 'declared'], {
                'state': 'actual',
                })

    @classmethod
    def cancel(cls, lines):
        "Release what the lines consumed"
        cls.write([l for l in lines if l.state in CONSUMING], {
                'state': 'cancelled',
                })

    @classmethod
    def draft(cls, lines):
        "Reset cancelled lines to draft, to be declared again"
        cls.write([l for l in lines if l.state == 'cancelled'], {
                'state': 'draft',
                })


def _pending_matches(spec, pending):
    "Tell whether a pending consumption counts for spec (_spec_condition)"
    if spec.get('first') is not None and not (
            spec['first'] <= pending['date'] <= spec['last']):
        return False
    if (spec.get('case_key') is not None
            and pending['case_key'] != spec['case_key']):
        return False
    if (spec.get('options') is not None
            and pending['option'] not in spec['options']):
        return False
    if (spec.get('services') is not None
            and pending['service'] not in spec['services']):
        return False
    return True
