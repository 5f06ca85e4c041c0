# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Service orders to providers (ORD-2, ORD-5, P5): lines from the provider's
price list, each with the coverage engine's decision; confirming declares
the expense lines under the engine's locks, cancelling releases them."""
import datetime as dt
from decimal import Decimal
from itertools import groupby

from sql import Null

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.modules.assistance_policy.engine import decision_dict
from trytond.modules.assistance_policy.expense import CONSUMING
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

from . import sms_gateway
from .exceptions import (
    OrderAccessError, OrderCoverageError, OrderValidationError)

ZERO = Decimal(0)
STATES = [
    ('draft', "Draft"),
    ('confirmed', "Confirmed"),
    ('delivered', "Delivered"),
    ('done', "Done"),
    ('cancelled', "Cancelled"),
    ]
COVERAGE = [
    (None, ""),
    ('covered', "Covered"),
    ('partial', "Partially Covered"),
    ('refused', "Refused"),
    ]
# Orders that hold declared consumption.
RESERVING = ['confirmed', 'delivered', 'done']


class Order(Workflow, ModelSQL, ModelView):
    "Service Order"
    __string__ = "Service Order"
    __name__ = 'assistance.order'
    _rec_name = 'number'
    _states = {'readonly': Eval('state') != 'draft'}

    number = fields.Char("Number", readonly=True)
    company = fields.Many2One(
        'company.company', "Company", required=True, states=_states)
    case = fields.Many2One(
        'assistance.case', "Case", required=True, states=_states,
        domain=[
            If(Eval('state') == 'draft',
                ('state', 'in', ['open', 'in_progress']),
                ()),
            ])
    policy = fields.Many2One(
        'assistance.policy', "Policy", required=True, states=_states,
        domain=[('insured', '=', Eval('insured', -1))])
    insured = fields.Function(
        fields.Many2One('party.party', "Insured Person",
            context={'company': Eval('company', -1)}, depends={'company'}),
        'on_change_with_insured')
    provider = fields.Many2One(
        'party.party', "Provider", required=True, states=_states,
        context={'company': Eval('company', -1)}, depends={'company'},
        domain=[
            ('is_provider', '=', True),
            If(Eval('state') == 'draft',
                ('provider_state', '=', 'active'),
                ()),
            ])
    provider_address = fields.Many2One(
        'party.address', "Provider Address", states=_states,
        domain=[('party', '=', Eval('provider', -1))])
    date = fields.Date(
        "Service Date", required=True, states=_states,
        help="The day the service is given: "
        "it chooses the price list and the limits' windows.")
    agreed_date = fields.Date(
        "Agreed Date", states={
            'readonly': ~Eval('state').in_(['draft', 'confirmed']),
            },
        help="The date agreed with the provider.")
    agreed_time = fields.Time(
        "Agreed Time", states={
            'readonly': ~Eval('state').in_(['draft', 'confirmed']),
            })
    place = fields.Text(
        "Place", states={
            'readonly': ~Eval('state').in_(['draft', 'confirmed']),
            },
        help="Where the service is given: the provider's address, "
        "the insured person's home…")
    available_services = fields.Function(fields.Many2Many(
            'product.product', None, None, "Available Services",
            context={'company': Eval('company', -1)}, depends={'company'}),
        'on_change_with_available_services')
    lines = fields.One2Many(
        'assistance.order.line', 'order', "Lines", states=_states,
        depends={'available_services', 'date', 'policy', 'case'})
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    amount = fields.Function(
        Monetary("Amount", currency='currency', digits='currency'),
        'get_amounts')
    covered_amount = fields.Function(
        Monetary("Covered by the Insurer", currency='currency',
            digits='currency'),
        'get_amounts')
    deductible_amount = fields.Function(
        Monetary("Deductible", currency='currency', digits='currency'),
        'get_amounts')
    insured_amount = fields.Function(
        Monetary("Paid by the Insured", currency='currency',
            digits='currency'),
        'get_amounts')
    refused = fields.Function(
        fields.Boolean("Has Refused Lines"), 'get_refused')
    refusal_pending = fields.Function(
        fields.Boolean("Refusal Not Registered",
            help="A refused line has no refusal registered yet."),
        'get_refused')
    notes = fields.Text("Notes")
    sms_messages = fields.Function(fields.Many2Many(
            'assistance.sms', None, None, "SMS to the Insured"),
        'get_sms_messages')
    delivered_at = fields.DateTime("Delivered At", readonly=True)
    control_task = fields.Many2One(
        'assistance.task', "Control Task", readonly=True,
        help="The task created when the agreed time passed "
        "without the service being delivered.")
    state = fields.Selection(
        STATES, "State", readonly=True, required=True, sort=False)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.case, Index.Range())),
                Index(t, (t.provider, Index.Range())),
                # A provider's register names its guarantee letters.
                Index(t, (t.number, Index.Equality())),
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state == 'confirmed'),
                })
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        # What the server still writes once the order is confirmed: the
        # transitions, the delivery control and what the operator edits.
        cls._check_modify_exclude = {
            'state', 'delivered_at', 'control_task', 'notes', 'agreed_date',
            'agreed_time', 'place'}
        cls._transitions |= {
            ('draft', 'confirmed'),
            ('confirmed', 'delivered'),
            ('delivered', 'done'),
            ('draft', 'cancelled'),
            ('confirmed', 'cancelled'),
            ('delivered', 'cancelled'),
            ('cancelled', 'draft'),
            }
        cls._buttons.update({
                'check_coverage': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-refresh',
                    'depends': ['state'],
                    },
                'confirm': {
                    'invisible': Eval('state') != 'draft',
                    'readonly': ~Eval('lines', [0]),
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'deliver': {
                    'invisible': Eval('state') != 'confirmed',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'do': {
                    'invisible': Eval('state') != 'delivered',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(
                        ['draft', 'confirmed', 'delivered']),
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'draft': {
                    'invisible': Eval('state') != 'cancelled',
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'refuse': {
                    'invisible': ((Eval('state') != 'draft')
                        | ~Eval('refusal_pending', False)),
                    'icon': 'tryton-cancel',
                    'depends': ['state', 'refusal_pending'],
                    },
                })

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('refused', False), 'danger', '')),
            ]

    @staticmethod
    def default_state():
        return 'draft'

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_date(cls):
        return Pool().get('ir.date').today()

    @fields.depends('case', '_parent_case.address', 'place',
        methods=['_choose_policy'])
    def on_change_case(self):
        if self.case:
            self._choose_policy()
            if not self.place and self.case.address:
                self.place = self.case.address

    @fields.depends('case', '_parent_case.policy',
        '_parent_case.policy_reason', '_parent_case.insured',
        '_parent_case.event_date', 'lines', 'policy')
    def _choose_policy(self, keep=False):
        """Set the case's policy for the services of the lines; with keep,
        only when it covers more of them than the order's policy"""
        services = [l.service for l in self.lines or [] if l.service]
        policy = self.case.policy_for(services) if self.case else None
        if not policy:
            return
        if (keep and self.policy
                and policy.covered_services_count(services)
                <= self.policy.covered_services_count(services)):
            return
        self.policy = policy

    @fields.depends('case', '_parent_case.insured')
    def on_change_with_insured(self, name=None):
        return self.case.insured if self.case else None

    @fields.depends('provider', 'provider_address', 'place')
    def on_change_provider(self):
        if self.provider and (not self.provider_address
                or self.provider_address.party != self.provider):
            self.provider_address = self.provider.address_get()

    @fields.depends('policy', '_parent_policy.contract')
    def on_change_with_currency(self, name=None):
        return self.policy.contract.currency if self.policy else None

    @fields.depends('provider', 'date')
    def on_change_with_available_services(self, name=None):
        PriceList = Pool().get('assistance.provider.price_list')
        if not self.provider or not self.date:
            return []
        return sorted({l.service.id
                for p in PriceList.valid_on(self.provider, self.date)
                for l in p.lines})

    @fields.depends('lines', 'state', 'policy', 'date', 'case',
        '_parent_case.diagnosis',
        methods=['on_change_with_currency', '_choose_policy'])
    def on_change_lines(self):
        """Check the draft's lines again in turn, as saving will: a line
        added or removed on screen changes what the lines after it have
        left of a shared limit, before anything is saved"""
        if self.state != 'draft':
            return
        Line = Pool().get('assistance.order.line')
        # A service only another policy of the insured covers moves the
        # order to that policy.
        self._choose_policy(keep=True)
        Line.check_in_turn(self, self.lines)
        # The totals are shown in the policy's currency: the client does
        # not compute it again when on_change_case sets the policy.
        self.currency = currency = self.on_change_with_currency()
        for name in ['amount', 'covered_amount', 'deductible_amount',
                'insured_amount']:
            total = lines_total(self.lines, name)
            setattr(self, name, currency.round(total) if currency else total)

    @classmethod
    def get_amounts(cls, orders, names):
        result = {n: {} for n in names}
        for order in orders:
            for name in names:
                result[name][order.id] = lines_total(order.lines, name)
        return result

    def get_refused(self, name):
        lines = [l for l in self.lines if l.coverage_status == 'refused']
        if name == 'refusal_pending':
            return any(not l.refusals for l in lines)
        return bool(lines)

    def get_rec_name(self, name):
        return self.number or str(self.id)

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('number', operator, value),
            ('provider.rec_name', operator, value),
            ('case.rec_name', operator, value),
            ]

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('number'):
            values['number'] = cls._new_number()
        return values

    @classmethod
    def _new_number(cls):
        Configuration = Pool().get('assistance.case.configuration')
        return Configuration(1).order_sequence.get()

    @classmethod
    def copy(cls, orders, default=None):
        default = default.copy() if default is not None else {}
        for name in ['number', 'delivered_at', 'control_task']:
            default.setdefault(name, None)
        default.setdefault('state', 'draft')
        return super().copy(orders, default=default)

    @classmethod
    def check_modification(cls, mode, orders, values=None, external=False):
        # external: the call came through RPC, not from a button or the
        # cron (see ExpenseLine.check_modification).
        super().check_modification(
            mode, orders, values=values, external=external)
        if mode == 'create' and external:
            for order in orders:
                if order.state != 'draft':
                    order._raise_modify('state')
        elif mode == 'write':
            for order in orders:
                names = order._locked_fields(values, external)
                if names:
                    order._raise_modify(sorted(names)[0])
        elif mode == 'delete':
            for order in orders:
                if order.state not in {'draft', 'cancelled'}:
                    raise OrderValidationError(gettext(
                            'assistance_order.msg_order_delete',
                            order=order.rec_name))

    def _locked_fields(self, values, external):
        "Return the fields of values that may not change on the order now"
        if self.state == 'draft':
            # The state changes only through the buttons.
            return values.keys() & {'state'} if external else set()
        if external:
            return values.keys() - self.editable_fields()
        return values.keys() - self._check_modify_exclude

    def _check_lines_draft(self):
        "Refuse to add or change lines once the order is confirmed"
        if self.state != 'draft':
            raise OrderAccessError(gettext(
                    'assistance_order.msg_order_line_modify',
                    order=self.rec_name,
                    state=self.__names__('state', self)['value']))

    def editable_fields(self):
        """Return what the operator may still change on a confirmed order:
        the declared services, their policy and date stay as they are"""
        names = {'notes'}
        if self.state == 'confirmed':
            names |= {'agreed_date', 'agreed_time', 'place'}
        return names

    def _raise_modify(self, name):
        raise OrderAccessError(gettext(
                'assistance_order.msg_order_modify', order=self.rec_name,
                state=self.__names__('state', self)['value'],
                **self.__names__(name)))

    @classmethod
    def validate_fields(cls, orders, field_names):
        super().validate_fields(orders, field_names)
        cls.check_policy(orders, field_names)

    @classmethod
    def check_policy(cls, orders, field_names=None):
        if field_names and not (field_names & {'case', 'policy'}):
            return
        for order in orders:
            if order.policy.insured != order.case.insured:
                raise OrderValidationError(gettext(
                        'assistance_order.msg_order_policy_insured',
                        order=order.rec_name, policy=order.policy.rec_name))

    @classmethod
    def write(cls, *args):
        super().write(*args)
        actions = iter(args)
        changed = []
        for orders, values in zip(actions, actions):
            if values.keys() & {'provider', 'date', 'policy', 'case'}:
                changed.extend(orders)
        cls.check_coverage(changed)

    @classmethod
    @ModelView.button
    def check_coverage(cls, orders):
        "Price again and ask the engine again for the draft orders' lines"
        Line = Pool().get('assistance.order.line')
        Line.price_and_check([l for o in orders for l in o.lines])

    @classmethod
    @ModelView.button
    @Workflow.transition('confirmed')
    def confirm(cls, orders):
        pool = Pool()
        Line = pool.get('assistance.order.line')
        for order in orders:
            order.check_confirmable()
        Line.declare([l for o in orders for l in o.lines])
        cls._after_confirm(orders)

    @classmethod
    def _after_confirm(cls, orders):
        "Inform the insured of the confirmed orders (extend to do more)"
        for order in orders:
            order.notify_insured()

    def notify_insured(self):
        "Queue an SMS to the insured's mobile, if a valid one is known"
        Sms = Pool().get('assistance.sms')
        mobile = self.insured.contact_mechanism_get('mobile')
        phone = sms_gateway.e164(mobile.value) if mobile else None
        if phone:
            return Sms.queue_message(
                phone, self.sms_text(), party=self.insured, origin=self)

    def sms_text(self):
        "Return the text of the SMS that tells the insured of the order"
        place = self.place or (
            self.provider_address.full_address.replace('\n', ', ')
            if self.provider_address else '')
        values = {
            'order': self.rec_name,
            'provider': self.provider.rec_name,
            'place': place,
            }
        if self.agreed_date:
            when = self.agreed_date.strftime('%d.%m.%Y')
            if self.agreed_time:
                when += ' ' + self.agreed_time.strftime('%H:%M')
            return gettext('assistance_order.msg_order_sms_agreed',
                when=when, **values)
        return gettext('assistance_order.msg_order_sms', **values)

    def get_sms_messages(self, name):
        Sms = Pool().get('assistance.sms')
        return [m.id for m in Sms.search([('origin', '=', str(self))])]

    def check_confirmable(self):
        "Raise when the order may not be confirmed as it is"
        if not self.lines:
            raise OrderValidationError(gettext(
                    'assistance_order.msg_order_no_line',
                    order=self.rec_name))
        Pool().get('party.party').check_provider_active(self.provider)
        for line in self.lines:
            line.check_price_list()

    @classmethod
    @ModelView.button
    @Workflow.transition('delivered')
    def deliver(cls, orders):
        cls.write(orders, {
                'delivered_at': dt.datetime.now().replace(microsecond=0),
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def do(cls, orders):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, orders):
        Line = Pool().get('assistance.order.line')
        Line.release([l for o in orders for l in o.lines])

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, orders):
        pass

    @classmethod
    @ModelView.button_action('assistance_order.act_refusal_from_order')
    def refuse(cls, orders):
        "Register a refusal for each refused line, then show them"
        Refusal = Pool().get('assistance.refusal')
        lines = [l for o in orders for l in o.lines
            if l.coverage_status == 'refused' and not l.refusals]
        Refusal.save([Refusal.from_order_line(l) for l in lines])

    def agreed_datetime(self):
        "Return the agreed date and time, or None when no date is agreed"
        if not self.agreed_date:
            return None
        return dt.datetime.combine(
            self.agreed_date, self.agreed_time or dt.time(23, 59))

    @classmethod
    def check_delivery(cls, now=None):
        """Create a task on the case of every confirmed order whose agreed
        time has passed without the service being delivered (ORD-5, cron)"""
        pool = Pool()
        Task = pool.get('assistance.task')
        if now is None:
            now = dt.datetime.now()
        orders = [o for o in cls.search([
                    ('state', '=', 'confirmed'),
                    ('control_task', '=', None),
                    ('agreed_date', '<=', now.date()),
                    ])
            if o.agreed_datetime() < now]
        tasks = [o._control_task(now) for o in orders]
        Task.save(tasks)
        for order, task in zip(orders, tasks):
            order.control_task = task
        cls.save(orders)
        return orders

    def _control_task(self, now):
        Task = Pool().get('assistance.task')
        return Task(
            case=self.case,
            kind='task',
            name=gettext('assistance_order.msg_order_control_task',
                order=self.rec_name, provider=self.provider.rec_name),
            description=gettext(
                'assistance_order.msg_order_control_task_description',
                order=self.rec_name, provider=self.provider.rec_name,
                agreed=self.agreed_datetime().strftime('%d.%m.%Y %H:%M')),
            responsible=self.case.operator,
            department=self.case.department,
            control_date=now.replace(microsecond=0),
            urgency='urgent')


class OrderLine(ModelSQL, ModelView):
    "Service Order Line"
    __string__ = "Service Order Line"
    __name__ = 'assistance.order.line'
    _states = {
        'readonly': Eval('order_state', 'draft') != 'draft',
        }

    order = fields.Many2One(
        'assistance.order', "Order", required=True, ondelete='CASCADE',
        states=_states)
    order_state = fields.Function(
        fields.Selection(STATES, "Order State"), 'on_change_with_order_state')
    service = fields.Many2One(
        'product.product', "Service", required=True, states=_states,
        domain=[
            ('id', 'in', Eval('available_services', [])),
            ],
        help="Only the services of the provider's price list "
        "valid on the service date.")
    available_services = fields.Function(fields.Many2Many(
            'product.product', None, None, "Available Services"),
        'on_change_with_available_services')
    price_list_line = fields.Many2One(
        'assistance.provider.price_list.line', "Price List Line",
        readonly=True, ondelete='RESTRICT')
    quantity = fields.Numeric(
        "Quantity", digits=(16, 2), required=True, states=_states,
        domain=[('quantity', '>', 0)])
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    unit_price = Monetary(
        "Unit Price", currency='currency', digits='currency', readonly=True,
        help="The provider's price, from the price list.")
    amount = fields.Function(
        Monetary("Amount", currency='currency', digits='currency'),
        'on_change_with_amount')
    coverage_status = fields.Selection(
        COVERAGE, "Coverage", readonly=True)
    coverage_reason = fields.Char("Reason Code", readonly=True)
    coverage_message = fields.Char("Reason", readonly=True)
    covered_quantity = fields.Numeric(
        "Covered Quantity", digits=(16, 2), readonly=True)
    covered_amount = Monetary(
        "Covered by the Insurer", currency='currency', digits='currency',
        readonly=True)
    deductible_amount = Monetary(
        "Deductible", currency='currency', digits='currency', readonly=True)
    insured_amount = Monetary(
        "Paid by the Insured", currency='currency', digits='currency',
        readonly=True,
        help="What the insured person pays beyond the deductible.")
    limit_info = fields.Text(
        "Limits", readonly=True,
        help="Every limit on the service's path: "
        "remaining before and after this line.")
    expense_line = fields.Many2One(
        'assistance.expense.line', "Expense Line", readonly=True,
        ondelete='RESTRICT')
    refusals = fields.One2Many(
        'assistance.refusal', 'order_line', "Refusals", readonly=True)
    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('order')
        t = cls.__table__()
        # The order line of an expense line: a register's check joins
        # them, the debt analysis and the pivot's provider dimension look
        # the provider up through it.
        cls._sql_indexes.add(
            Index(t, (t.expense_line, Index.Equality()),
                where=t.expense_line != Null))

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('coverage_status') == 'refused',
                    'danger', If(Eval('coverage_status') == 'partial',
                        'warning', ''))),
            ]

    @staticmethod
    def default_quantity():
        return Decimal(1)

    @classmethod
    def default_order_state(cls):
        return 'draft'

    @fields.depends('order', '_parent_order.state')
    def on_change_with_order_state(self, name=None):
        return self.order.state if self.order else 'draft'

    @fields.depends('order', '_parent_order.provider', '_parent_order.date')
    def on_change_with_available_services(self, name=None):
        if self.order:
            return self.order.on_change_with_available_services()
        return []

    @fields.depends('order', '_parent_order.policy')
    def on_change_with_currency(self, name=None):
        if self.order:
            return self.order.on_change_with_currency()

    @fields.depends('quantity', 'unit_price', 'currency')
    def on_change_with_amount(self, name=None):
        if self.quantity is None or self.unit_price is None:
            return None
        amount = self.quantity * self.unit_price
        if self.currency:
            amount = self.currency.round(amount)
        return amount

    @fields.depends(methods=['set_price', 'on_change_with_amount',
            'set_coverage'])
    def on_change_service(self):
        self.set_price()
        # The client computes no on_change_with after an on_change.
        self.amount = self.on_change_with_amount()
        self.set_coverage()

    @fields.depends('service', 'order', '_parent_order.provider',
        '_parent_order.date', 'currency')
    def set_price(self):
        "Take the price of the service from the provider's price list"
        PriceListLine = Pool().get('assistance.provider.price_list.line')
        self.price_list_line = None
        self.unit_price = None
        if self.service and self.order and self.order.provider:
            self.price_list_line = PriceListLine.find_valid(
                self.order.provider, self.service, self.order.date)
            if self.price_list_line:
                self.unit_price = self.price_list_line.price

    @fields.depends(methods=['set_coverage'])
    def on_change_quantity(self):
        self.set_coverage()

    @fields.depends('service', 'quantity', 'unit_price', 'order',
        '_parent_order.policy', '_parent_order.date', '_parent_order.case')
    def set_coverage(self, pending=None):
        """Ask the engine what the policy covers of the line, after pending
        (the consumptions of the draft's lines before it); return the
        decision, or None when the line is incomplete"""
        self._clear_coverage()
        order = self.order
        if (not order or not order.policy or not order.date
                or not self.service or not self.quantity
                or self.unit_price is None):
            return
        decision = order.policy.check_coverage(
            self.service, order.date, self.quantity, self.unit_price,
            case=order.case, pending=pending)
        self._set_decision(decision)
        return decision

    def _clear_coverage(self):
        for name in ['coverage_status', 'coverage_reason', 'coverage_message',
                'covered_quantity', 'covered_amount', 'deductible_amount',
                'insured_amount', 'limit_info']:
            setattr(self, name, None)

    def _set_decision(self, decision):
        self.coverage_status = decision.status
        self.coverage_reason = decision.reason
        self.coverage_message = decision.message
        self.covered_quantity = decision.covered_quantity
        self.covered_amount = decision.covered_amount
        self.deductible_amount = decision.deductible
        self.insured_amount = decision.insured_amount
        self.limit_info = limit_info(decision_dict(decision)['limits'])

    def get_rec_name(self, name):
        return f'{self.order.rec_name} — {self.service.rec_name}'

    def check_price_list(self):
        "Raise unless the line's price comes from a valid price list"
        PriceListLine = Pool().get('assistance.provider.price_list.line')
        valid = PriceListLine.find_valid(
            self.order.provider, self.service, self.order.date)
        if (not valid or valid != self.price_list_line
                or valid.price != self.unit_price):
            raise OrderValidationError(gettext(
                    'assistance_order.msg_order_line_price_list',
                    line=self.rec_name, provider=self.order.provider.rec_name,
                    date=self.order.date.strftime('%d.%m.%Y')))

    def _expense_line(self):
        ExpenseLine = Pool().get('assistance.expense.line')
        return ExpenseLine(
            policy=self.order.policy,
            service=self.service,
            date=self.order.date,
            quantity=self.quantity,
            unit_price=self.unit_price,
            case=self.order.case,
            origin=self,
            state='draft')

    @classmethod
    def declare(cls, lines):
        """Record the lines as declared expenses through the engine's locked
        path (P5); refuse the whole confirmation when a line is refused."""
        ExpenseLine = Pool().get('assistance.expense.line')
        expenses = [l._expense_line() for l in lines]
        ExpenseLine.save(expenses)
        ExpenseLine.declare(expenses)
        for line, expense in zip(lines, expenses):
            if expense.coverage_status == 'refused':
                raise OrderCoverageError(gettext(
                        'assistance_order.msg_order_line_refused',
                        line=line.rec_name, reason=expense.coverage_reason))
            line.expense_line = expense
            line._copy_decision(expense)
        cls.save(lines)

    def _copy_decision(self, expense):
        "Keep on the line what the engine decided under the locks"
        self.coverage_status = expense.coverage_status
        self.coverage_message = expense.coverage_reason
        self.covered_quantity = expense.covered_quantity
        self.covered_amount = expense.covered_amount
        self.deductible_amount = expense.deductible_amount
        self.insured_amount = expense.insured_amount

    @classmethod
    def release(cls, lines):
        "Cancel the expense lines of lines: their limits are free again"
        ExpenseLine = Pool().get('assistance.expense.line')
        ExpenseLine.cancel([l.expense_line for l in lines if l.expense_line])

    @classmethod
    def check_modification(cls, mode, lines, values=None, external=False):
        super().check_modification(
            mode, lines, values=values, external=external)
        if mode in {'create', 'write'}:
            for line in lines:
                line.order._check_lines_draft()
            if mode == 'write' and values.get('order') is not None:
                Pool().get('assistance.order')(
                    values['order'])._check_lines_draft()
        elif mode == 'delete':
            for line in lines:
                line._check_delete()

    def _check_delete(self):
        "Refuse to delete a line whose service is declared in the ledger"
        if (self.order.state in RESERVING
                or (self.expense_line
                    and self.expense_line.state in CONSUMING)):
            raise OrderAccessError(gettext(
                    'assistance_order.msg_order_line_delete',
                    line=self.rec_name, order=self.order.rec_name))

    @classmethod
    def create(cls, vlist):
        lines = super().create(vlist)
        cls.price_and_check(lines)
        return lines

    @classmethod
    def write(cls, *args):
        super().write(*args)
        actions = iter(args)
        changed = []
        for lines, values in zip(actions, actions):
            if values.keys() & {'service', 'quantity', 'order'}:
                changed.extend(lines)
        cls.price_and_check(changed)

    @classmethod
    def delete(cls, lines):
        orders = list({l.order.id for l in lines})
        super().delete(lines)
        # The lines after a deleted one have more left of their limits.
        cls.price_and_check(cls.search([('order', 'in', orders)]))

    @classmethod
    def price_and_check(cls, lines):
        """Price the draft lines from the provider's price list and record
        the engine's decision: the client sends no read-only field, so the
        server decides.

        Every draft line of their orders is checked again, in the order in
        which confirming declares them (ExpenseLine.declare), each after
        the lines before it: two lines on one limit show what the second
        will have once the first is declared."""
        orders = sorted({l.order.id for l in lines
                if l.order.state == 'draft'})
        if not orders:
            return
        lines = cls.search([('order', 'in', orders)],
            order=[('order', 'ASC'), ('id', 'ASC')])
        for order, order_lines in groupby(lines, key=lambda l: l.order):
            order_lines = list(order_lines)
            for line in order_lines:
                line.set_price()
            cls.check_in_turn(order, order_lines)
        cls.save(lines)

    @classmethod
    def check_in_turn(cls, order, lines):
        """Ask the engine about each line of the draft order, counting the
        consumptions of the lines before it as pending"""
        pending = []
        for line in lines:
            decision = line.set_coverage(pending)
            if decision and not decision.refused:
                pending.append(order.policy.pending_consumption(
                        line.service, order.date, decision, case=order.case))

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('expense_line', None)
        default.setdefault('refusals', None)
        return super().copy(lines, default=default)


def lines_total(lines, name):
    "Return the sum of the amount name of the order lines"
    return sum((getattr(l, name) or ZERO for l in lines), ZERO)


def limit_info(limits):
    "Return one line per limit: its name, remaining before and after"
    lang = Pool().get('ir.lang').get()

    def number(value):
        return lang.format_number(value, 2) if value is not None else '—'
    return '\n'.join(gettext('assistance_order.msg_order_line_limit',
            limit=l['label'], before=number(l['remaining_before']),
            after=number(l['remaining_after']))
        for l in limits)
