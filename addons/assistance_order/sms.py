# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The SMS outbox (ORD-4): messages to the insured sent through Kannel.

A message is created *queued* and handed to the task queue, which runs
after the commit of the transaction that queued it (an order's confirmation
and its locks are over by then).  The task sends it through Kannel's
smsbox, see Sms.send: the call to Kannel is made outside any transaction
that writes or locks, between two short transactions of its own.  A gateway
that is down leaves the message queued with the next attempt later (the
cron job resends it), so the outbox never loses a message; after the last
attempt it is *failed* and can be queued again by hand.  Kannel calls our
dlr-url (routes.py) with the delivery reports, which mark the message
*delivered* or *rejected*.

A message is never sent twice by itself: a message whose acceptance by
Kannel is unknown (its answer lost, or not recorded because the process
stopped) is *not confirmed* and is not retried; its delivery report, keyed
by the gateway id, still settles it, and the operator decides to send it
again.  (We prefer a message the operator must check to a message the
insured gets twice: Kannel has no idempotency key to ask it.)"""
import datetime as dt
import uuid

import trytond.config as config
from trytond import backend
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, TransactionError

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
            ('sending', "Sending"),
            ('unconfirmed', "Not Confirmed"),
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
    attempted_at = fields.DateTime(
        "Attempted at", readonly=True,
        help="When the outbox last handed the message to the gateway.")
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
            ('queued', 'sending'),
            ('sending', 'sent'),
            ('sending', 'queued'),
            ('sending', 'failed'),
            ('sending', 'unconfirmed'),
            ('unconfirmed', 'sent'),
            ('queued', 'sent'),
            ('failed', 'queued'),
            ('rejected', 'queued'),
            ('unconfirmed', 'queued'),
            # Delivery reports: a message whose send we never heard of
            # (timed out, failed) may still reach the phone.
            ('queued', 'delivered'),
            ('sending', 'delivered'),
            ('unconfirmed', 'delivered'),
            ('sent', 'delivered'),
            ('failed', 'delivered'),
            ('rejected', 'delivered'),
            ('queued', 'rejected'),
            ('sending', 'rejected'),
            ('unconfirmed', 'rejected'),
            ('sent', 'rejected'),
            ('failed', 'rejected'),
            }
        cls._buttons.update({
                'retry': {
                    'invisible': ~Eval('state').in_(
                        ['failed', 'rejected', 'unconfirmed']),
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
        default.setdefault('attempted_at', None)
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
        """Hand the queued messages to the gateway (a task of the queue).

        For each message: a short transaction of its own marks it *sending*
        with the number of the attempt and commits; the gateway is called
        with nothing locked nor written; another short transaction records
        the outcome of that attempt.  A task that runs again (trytond
        retries a transaction that failed to serialise, the cron takes over
        a lost task) finds the message no longer queued and leaves it."""
        settings = gateway_settings()
        for message_id in list(map(int, messages)):
            started = in_own_transaction(
                cls._start_attempt, message_id, settings)
            if started is None:
                continue
            attempt, url = started
            try:
                sms_gateway.send(url, settings.timeout)
            except sms_gateway.GatewayError as error:
                outcome = error
            else:
                outcome = None
            in_own_transaction(
                cls._record_attempt, message_id, attempt, outcome, settings)

    @classmethod
    def _start_attempt(cls, message_id, settings):
        """Mark the message sending; return the attempt (its number and
        time) and the URL to call, or None when it is not queued any more"""
        message = cls(message_id)
        # Locked: a concurrent task or the cron waits for us, then sees it.
        cls.lock([message])
        if message.state != 'queued':
            return None
        # Its number and time tell this attempt from one made after a retry
        # by hand (which starts counting again); stored to the second.
        attempt = (
            message.attempts + 1, dt.datetime.now().replace(microsecond=0))
        cls.start_sending([message])
        cls.write([message], {
                'attempts': attempt[0],
                'attempted_at': attempt[1],
                'next_attempt': None,
                })
        database = Transaction().database.name
        url = sms_gateway.sendsms_url(
            settings, message.phone, message.text,
            dlr_url=sms_gateway.dlr_callback(
                settings.dlr_url, database, message.gateway_id))
        return attempt, url

    @classmethod
    def _record_attempt(cls, message_id, attempt, error, settings):
        "Record the outcome of the attempt (error None: the gateway took it)"
        message = cls(message_id)
        cls.lock([message])
        if (message.attempts, message.attempted_at) != attempt:
            return  # sent again by hand since: that attempt owns it
        now = dt.datetime.now()
        if error is None:
            cls.write([message], {'last_error': None, 'sent_at': now})
            # Its delivery report may have come first: it knows more.
            cls.sent([cls(message_id)])
        elif message.state != 'sending':
            return
        elif error.maybe_accepted:
            cls.unconfirm([message], str(error))
        else:
            next_attempt = sms_gateway.next_attempt(
                now, message.attempts, settings)
            if next_attempt is None:
                cls.fail([message], str(error))
            else:
                cls.requeue([message], next_attempt, str(error))

    @classmethod
    @Workflow.transition('sending')
    def start_sending(cls, messages):
        pass

    @classmethod
    @Workflow.transition('queued')
    def requeue(cls, messages, next_attempt, error):
        cls.write(messages, {
                'next_attempt': next_attempt,
                'last_error': error,
                })

    @classmethod
    @Workflow.transition('sent')
    def sent(cls, messages):
        cls.write(messages, {'next_attempt': None})

    @classmethod
    @Workflow.transition('failed')
    def fail(cls, messages, error):
        cls.write(messages, {'next_attempt': None, 'last_error': error})

    @classmethod
    @Workflow.transition('unconfirmed')
    def unconfirm(cls, messages, error):
        """Set aside the messages the gateway may have taken, never to be
        sent again by themselves: the insured must not get one twice"""
        cls.write(messages, {'next_attempt': None, 'last_error': error})

    @classmethod
    def _sending_timeout(cls):
        "Return after how long a message still sending has lost its outcome"
        settings = gateway_settings()
        return dt.timedelta(
            seconds=settings.timeout + settings.retry_delay)

    @classmethod
    def send_due(cls):
        """Queue again the messages whose next attempt has come and set
        aside those whose sending never recorded its outcome (cron)"""
        now = dt.datetime.now()
        lost = cls.search([
                ('state', '=', 'sending'),
                ('attempted_at', '<=', now - cls._sending_timeout()),
                ])
        if lost:
            cls.unconfirm(lost, gettext(
                    'assistance_order.msg_sms_outcome_lost'))
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
        # No lock: a message is locked only by the short transactions
        # around its sending (never during the call to the gateway); the
        # write waits for them and the route's transaction is retried on
        # the serialization error.
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


def in_own_transaction(func, *args):
    """Return func(*args) run in a new transaction committed at once,
    retried as trytond retries a request: with the locks it asked for taken
    first, and again when it fails to serialise"""
    transaction = Transaction()
    retry = config.getint('database', 'retry')
    count, extras = 0, {}
    while True:
        try:
            with transaction.new_transaction(**extras):
                return func(*args)
        except TransactionError as error:
            error.fix(extras)
        except backend.DatabaseOperationalError:
            if count >= retry:
                raise
            count += 1


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('assistance.sms|send_due', "Resend Queued SMS"))
