# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The SMS outbox (ORD-4): messages to the insured sent through Kannel.

A message is created *queued* and handed to the task queue; the task sends
it through Kannel's smsbox.  A gateway that is down leaves the message
queued with the next attempt later (the cron job resends it), so the outbox
never loses a message; after the last attempt it is *failed* and can be
queued again by hand.  Kannel calls our dlr-url (routes.py) with the
delivery reports, which mark the message *delivered* or *rejected*."""
import datetime as dt
import uuid

import trytond.config as config
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from . import sms_gateway
from .exceptions import SmsValidationError

SECTION = 'assistance_sms'


def gateway_settings():
    "Read the [assistance_sms] section of the configuration"
    defaults = sms_gateway.DEFAULTS

    def get(name, type_=None):
        getter = {int: config.getint, float: config.getfloat}.get(
            type_, config.get)
        return getter(SECTION, name, default=getattr(defaults, name))
    return sms_gateway.Settings(
        url=get('url'), username=get('username'), password=get('password'),
        sender=get('sender'), dlr_url=get('dlr_url'),
        dlr_mask=get('dlr_mask', int), timeout=get('timeout', float),
        retry_delay=get('retry_delay', int),
        retry_factor=get('retry_factor', float),
        retry_max_delay=get('retry_max_delay', int),
        max_attempts=get('max_attempts', int))


def _new_gateway_id():
    # Secret: it is the only key of the delivery report route.
    return uuid.uuid4().hex


class Sms(Workflow, ModelSQL, ModelView):
    __string__ = "SMS"
    __name__ = 'assistance.sms'

    # Written once: the outbox is the record of what the insured was told.
    _states = {
        'readonly': Eval('id', -1) >= 0,
        }

    phone = fields.Char(
        "Phone", required=True, states=_states,
        help="The recipient's mobile number in international format "
        "(E.164), e.g. +79161234567.")
    party = fields.Many2One(
        'party.party', "Party", ondelete='RESTRICT', states=_states)
    text = fields.Text("Text", required=True, states=_states)
    origin = fields.Reference(
        "Origin", selection='get_origin', readonly=True,
        help="The document the message informs about.")
    state = fields.Selection([
            ('queued', "Queued"),
            ('sent', "Sent"),
            ('delivered', "Delivered"),
            ('rejected', "Not Delivered"),
            ('failed', "Failed"),
            ], "State", readonly=True, required=True, sort=False)
    attempts = fields.Integer("Attempts", readonly=True, required=True)
    next_attempt = fields.DateTime(
        "Next Attempt", readonly=True,
        help="When the outbox tries again to hand the message to the "
        "gateway.")
    last_error = fields.Text("Last Error", readonly=True)
    gateway_id = fields.Char(
        "Gateway ID", readonly=True, required=True, strip=False,
        help="The key by which the gateway's delivery reports find the "
        "message.")
    delivery_report = fields.Char("Delivery Report", readonly=True)
    sent_at = fields.DateTime("Sent at", readonly=True)
    delivered_at = fields.DateTime("Delivered at", readonly=True)

    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        table = cls.__table__()
        cls._sql_indexes.update({
                Index(table, (table.gateway_id, Index.Equality(
                            cardinality='high'))),
                Index(
                    table,
                    (table.state, Index.Equality(cardinality='low')),
                    (table.next_attempt, Index.Range()),
                    where=table.state == 'queued'),
                })
        cls._order = [
            ('create_date', 'DESC'),
            ('id', 'DESC'),
            ]
        cls._transitions |= {
            ('queued', 'sent'),
            ('queued', 'failed'),
            ('failed', 'queued'),
            ('rejected', 'queued'),
            # Delivery reports: a message whose send we never heard of
            # (timed out, failed) may still reach the phone.
            ('queued', 'delivered'),
            ('sent', 'delivered'),
            ('failed', 'delivered'),
            ('rejected', 'delivered'),
            ('queued', 'rejected'),
            ('sent', 'rejected'),
            ('failed', 'rejected'),
            }
        cls._buttons.update({
                'retry': {
                    'invisible': ~Eval('state').in_(['failed', 'rejected']),
                    'depends': ['state'],
                    'icon': 'tryton-refresh',
                    },
                })

    @classmethod
    def default_state(cls):
        return 'queued'

    @classmethod
    def default_attempts(cls):
        return 0

    @classmethod
    def default_gateway_id(cls):
        return _new_gateway_id()

    @classmethod
    def _get_origin(cls):
        "Return the model names a message may inform about (extend it)"
        return ['assistance.order']

    @classmethod
    def get_origin(cls):
        Model = Pool().get('ir.model')
        get_name = Model.get_name
        return [(None, '')] + [(m, get_name(m)) for m in cls._get_origin()]

    def get_rec_name(self, name):
        return '%s: %s' % (self.phone, (self.text or '')[:40])

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause
        bool_op = 'AND' if operator.startswith('!') else 'OR'
        return [bool_op,
            ('phone', operator, value),
            ('text', operator, value),
            ]

    @fields.depends('phone')
    def on_change_phone(self):
        self.phone = sms_gateway.e164(self.phone) or self.phone

    @fields.depends('party', 'phone')
    def on_change_party(self):
        if self.party and not self.phone:
            phone = self.party.contact_mechanism_get('mobile')
            if phone:
                self.phone = sms_gateway.e164(phone.value) or phone.value

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if values.get('phone'):
            values['phone'] = (
                sms_gateway.e164(values['phone']) or values['phone'])
        return values

    @classmethod
    def validate_fields(cls, messages, field_names):
        super().validate_fields(messages, field_names)
        cls.check_phone(messages, field_names)

    @classmethod
    def check_phone(cls, messages, field_names=None):
        if field_names and 'phone' not in field_names:
            return
        for message in messages:
            if not sms_gateway.is_e164(message.phone):
                raise SmsValidationError(gettext(
                        'assistance_order.msg_sms_phone_invalid',
                        phone=message.phone))

    @classmethod
    def copy(cls, messages, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('attempts', 0)
        default.setdefault('next_attempt', None)
        default.setdefault('last_error', None)
        default.setdefault('gateway_id', lambda data: _new_gateway_id())
        default.setdefault('delivery_report', None)
        default.setdefault('sent_at', None)
        default.setdefault('delivered_at', None)
        return super().copy(messages, default=default)

    @classmethod
    def _task_due(cls):
        """Return when the cron takes over a queued message whose task has
        not sent it (a process stopped before running its tasks)"""
        return dt.datetime.now() + dt.timedelta(
            seconds=gateway_settings().retry_delay)

    @classmethod
    def create(cls, vlist):
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            if (values.get('state', 'queued') == 'queued'
                    and not values.get('next_attempt')):
                values['next_attempt'] = cls._task_due()
        messages = super().create(vlist)
        # Sent after the commit, by the worker or by this process.
        cls.__queue__.send(messages)
        return messages

    @classmethod
    def queue_message(cls, phone, text, party=None, origin=None):
        """Queue a text to the phone and return the message; the task queue
        sends it once the current transaction is committed."""
        message, = cls.create([{
                    'phone': phone,
                    'text': text,
                    'party': party.id if party else None,
                    'origin': str(origin) if origin else None,
                    }])
        return message

    @classmethod
    @ModelView.button
    @Workflow.transition('queued')
    def retry(cls, messages):
        cls.write(messages, {
                'attempts': 0,
                'next_attempt': cls._task_due(),
                })
        cls.__queue__.send(messages)

    @classmethod
    def send(cls, messages):
        "Hand the queued messages to the gateway (a task of the queue)"
        # Locked first: a concurrent task or delivery report waits for us.
        cls.lock(messages)
        messages = [m for m in cls.browse(messages) if m.state == 'queued']
        settings = gateway_settings()
        for message in messages:
            message._send(settings)

    def _send(self, settings):
        cls = self.__class__
        database = Transaction().database.name
        url = sms_gateway.sendsms_url(
            settings, self.phone, self.text,
            dlr_url=sms_gateway.dlr_callback(
                settings.dlr_url, database, self.gateway_id))
        now = dt.datetime.now()
        try:
            sms_gateway.send(url, settings.timeout)
        except sms_gateway.GatewayError as error:
            attempts = self.attempts + 1
            next_attempt = sms_gateway.next_attempt(now, attempts, settings)
            cls.write([self], {
                    'attempts': attempts,
                    'next_attempt': next_attempt,
                    'last_error': str(error),
                    })
            if next_attempt is None:
                cls.fail([cls(self.id)])
        else:
            cls.write([self], {
                    'attempts': self.attempts + 1,
                    'last_error': None,
                    'sent_at': now,
                    })
            # Read the state again: on SQLite a delivery report may have
            # been written while we waited for the gateway's answer.
            cls.sent([cls(self.id)])

    @classmethod
    @Workflow.transition('sent')
    def sent(cls, messages):
        cls.write(messages, {'next_attempt': None})

    @classmethod
    @Workflow.transition('failed')
    def fail(cls, messages):
        cls.write(messages, {'next_attempt': None})

    @classmethod
    def send_due(cls):
        "Queue again the messages whose next attempt has come (cron)"
        now = dt.datetime.now()
        messages = cls.search([
                ('state', '=', 'queued'),
                ['OR',
                    ('next_attempt', '=', None),
                    ('next_attempt', '<=', now),
                    ],
                ], order=[('next_attempt', 'ASC NULLS FIRST'), ('id', 'ASC')])
        # One task each: a slow or failing message does not hold the others.
        for message in messages:
            cls.__queue__.send([message])

    @classmethod
    def receive_delivery_report(cls, gateway_id, dlr_type, answer=''):
        """Apply Kannel's delivery report to the message of the gateway id;
        return the message or None when no message has that id."""
        # No lock: on PostgreSQL the write waits for a send in progress and
        # the route's transaction is retried on the serialization error.
        messages = cls.search([('gateway_id', '=', gateway_id)], limit=1)
        if not messages:
            return None
        message, = messages
        message._apply_delivery_report(dlr_type, answer)
        return message

    def _apply_delivery_report(self, dlr_type, answer):
        cls = self.__class__
        if self.state == 'delivered':
            return
        report = '%s %s' % (dlr_type, answer or '')
        cls.write([self], {'delivery_report': report.strip()})
        state = sms_gateway.report_state(self.state, dlr_type)
        if state == 'delivered':
            cls.deliver([self])
        elif state == 'rejected':
            cls.reject([self], answer or str(dlr_type))
        elif state == 'sent':
            cls.sent([self])

    @classmethod
    @Workflow.transition('delivered')
    def deliver(cls, messages):
        cls.write(messages, {
                'delivered_at': dt.datetime.now(),
                'next_attempt': None,
                })

    @classmethod
    @Workflow.transition('rejected')
    def reject(cls, messages, reason):
        cls.write(messages, {
                'last_error': reason,
                'next_attempt': None,
                })


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('assistance.sms|send_due', "Resend Queued SMS"))
