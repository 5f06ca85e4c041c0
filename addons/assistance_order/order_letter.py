# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The printed order / guarantee letter (гарантийное письмо, ORD-2) and its
sending to the provider by e-mail through ir.email."""
import datetime as dt
import logging
import smtplib
from decimal import Decimal
from html import escape

import trytond.config as config
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.report import Report
from trytond.sendmail import SMTPDataManager, get_smtp_server, send_message
from trytond.transaction import Transaction

from .exceptions import OrderLetterError

logger = logging.getLogger(__name__)

# The letter is a promise to pay: only orders in these states are sent.
SENDABLE = ['confirmed', 'delivered']
# A letter whose sending task is this late (seconds, [assistance_order]
# letter_stale) lost its task with a killed queue worker: the cron queues it
# again.
LETTER_STALE = 600


def retry_settings():
    """Read the [assistance_order] letter_* options: how the queue sends a
    letter again while the mail server refuses it for now"""
    def get(name, getter, default):
        return getter('assistance_order', name, default=default)
    return {
        'delay': get('letter_retry_delay', config.getint, 60),
        'factor': get('letter_retry_factor', config.getfloat, 2.0),
        'max_delay': get('letter_retry_max_delay', config.getint, 3600),
        'max_attempts': get('letter_max_attempts', config.getint, 8),
        }


def smtp_temporary(exception):
    """Tell whether the mail server may take the letter later: it could not
    be reached or answered 4xx (421, 450, 451, 452…); 5xx is final"""
    if isinstance(exception, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exception.recipients.values()]
        return bool(codes) and all(400 <= c < 500 for c in codes)
    if isinstance(exception, smtplib.SMTPResponseException):
        return 400 <= exception.smtp_code < 500
    return isinstance(exception, (smtplib.SMTPException, OSError))


def smtp_reason(exception):
    "Return the mail server's refusal in words"
    if isinstance(exception, smtplib.SMTPResponseException):
        message = exception.smtp_error
        if isinstance(message, bytes):
            message = message.decode('utf-8', 'replace')
        return f'{exception.smtp_code} {message}'
    return str(exception) or exception.__class__.__name__


class SendBeforeCommit(SMTPDataManager):
    """ir.email's data manager that hands the e-mails to the mail server
    before the database commits, strictly: a refusal rolls the sending back
    (nothing recorded as sent) instead of being logged after the commit"""

    def __init__(self):
        super().__init__(strict=True)

    def tpc_vote(self, transaction):
        self._server = get_smtp_server(self.uri, strict=True)
        for from_addr, to_addrs, msg in self.queue:
            new_server = send_message(
                msg, from_addr, to_addrs, server=self._server, strict=True)
            if new_server:
                self._server = new_server

    def tpc_finish(self, transaction):
        if self._server is not None:
            try:
                self._server.quit()
            except smtplib.SMTPException:
                pass
        self._finish()


class Configuration(metaclass=PoolMeta):
    __name__ = 'assistance.case.configuration'

    order_letter_on_confirm = fields.Boolean(
        "Send Guarantee Letter on Confirmation",
        help="Send the guarantee letter to the provider by e-mail as soon as "
        "an order is confirmed (in the background: a mail server that is "
        "down never blocks the confirmation).")

    @classmethod
    def default_order_letter_on_confirm(cls):
        return False


class Order(metaclass=PoolMeta):
    __name__ = 'assistance.order'

    letter_sent_at = fields.DateTime(
        "Letter Sent At", readonly=True,
        help="When the guarantee letter was last sent to the provider.")
    letter_sent_to = fields.Char(
        "Letter Sent To", readonly=True,
        help="The e-mail address the guarantee letter was last sent to.")
    letter_pending_since = fields.DateTime(
        "Letter Pending Since", readonly=True,
        help="When the order was confirmed with its guarantee letter still "
        "to be sent by the task queue.")
    letter_due_at = fields.DateTime(
        "Letter Due At", readonly=True,
        help="When the task queue is to try sending the letter next.")
    letter_attempt = fields.Integer("Letter Attempt", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._check_modify_exclude |= {'letter_sent_at', 'letter_sent_to',
            'letter_pending_since', 'letter_due_at', 'letter_attempt'}
        cls._buttons.update({
                'send_to_provider': {
                    'invisible': ~Eval('state').in_(SENDABLE),
                    'icon': 'tryton-email',
                    'depends': ['state'],
                    },
                'print_letter': {
                    'invisible': Eval('state') == 'cancelled',
                    'icon': 'tryton-print',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def copy(cls, orders, default=None):
        default = default.copy() if default is not None else {}
        for name in ['letter_sent_at', 'letter_sent_to',
                'letter_pending_since', 'letter_due_at', 'letter_attempt']:
            default.setdefault(name, None)
        return super().copy(orders, default=default)

    @classmethod
    @ModelView.button_action('assistance_order.report_guarantee_letter')
    def print_letter(cls, orders):
        pass

    @classmethod
    @ModelView.button
    def send_to_provider(cls, orders):
        "Send the guarantee letter of each order to its provider by e-mail"
        for order in orders:
            order.check_letter_sendable()
        check_mail_server()
        cls.send_letters(orders)

    @classmethod
    def send_letters(cls, orders):
        """Send the letters of the sendable orders; the e-mails leave when the
        transaction commits and the orders record it"""
        orders = [o for o in orders
            if o.state in SENDABLE and o.letter_email()]
        if not orders:
            return
        # Written first: the letter is dated the day it is sent, and a failed
        # sending rolls the date back with the rest of the transaction.
        cls.write(orders, {
                'letter_sent_at': dt.datetime.now().replace(microsecond=0),
                'letter_pending_since': None,
                'letter_due_at': None,
                'letter_attempt': None,
                })
        for order in orders:
            order.letter_sent_to = order._send_letter()
        cls.save(orders)

    @classmethod
    def _after_confirm(cls, orders):
        pool = Pool()
        Configuration = pool.get('assistance.case.configuration')
        super()._after_confirm(orders)
        if Configuration(1).order_letter_on_confirm:
            # Through the queue: it runs after the confirmation is committed,
            # so an unreachable mail server cannot undo the confirmation.
            orders = [o for o in orders if o.letter_email()]
            if orders:
                since = dt.datetime.now().replace(microsecond=0)
                # Pending until sent or given up: a task lost with a killed
                # queue worker is queued again by resume_letters (cron).
                cls.write(orders, {
                        'letter_pending_since': since,
                        'letter_due_at': since,
                        'letter_attempt': 1,
                        })
                for order in orders:
                    # One task a letter: a refusal delays only its own.
                    cls.__queue__.send_letters_on_confirm([order], since)

    @classmethod
    def resume_letters(cls):
        """Queue again the letters whose sending task is overdue by
        letter_stale seconds (cron): its queue worker was killed while
        running it, and Tryton's queue never hands a taken task out again.
        A letter sent meanwhile is not sent twice (since)."""
        now = dt.datetime.now().replace(microsecond=0)
        stale = now - dt.timedelta(seconds=config.getint(
                'assistance_order', 'letter_stale', default=LETTER_STALE))
        orders = cls.search([
                ('letter_pending_since', '!=', None),
                ('letter_due_at', '<', stale),
                ], order=[('id', 'ASC')])
        for order in orders:
            logger.warning("guarantee letter of %s still pending since %s, "
                "queued again", order.rec_name, order.letter_pending_since)
            cls.write([order], {'letter_due_at': now})
            cls.__queue__.send_letters_on_confirm([order],
                order.letter_pending_since, order.letter_attempt or 1)

    @classmethod
    def send_letters_on_confirm(cls, orders, since=None, attempt=1):
        """Send the letters of just confirmed orders (task queue), each in a
        transaction of its own that commits only once the mail server took
        it: a letter already sent since the confirmation (since) is not sent
        again.  While the mail server refuses for now (not reachable, 4xx)
        the task is queued again later; when it refuses for good, or after
        the last attempt, an urgent task on each order's case asks the
        operator to send the letter again"""
        User = Pool().get('res.user')
        transaction = Transaction()
        user = User(transaction.user)
        sendable = [o for o in orders if o.state in SENDABLE
            and (since is None or o.letter_sent_at is None
                or o.letter_sent_at < since)]
        done = [o for o in orders
            if o not in sendable and o.letter_pending_since]
        if done:
            # Sent since, or no longer to be sent (cancelled): not pending.
            cls.write(done, {'letter_pending_since': None,
                    'letter_due_at': None, 'letter_attempt': None})
        orders = sendable
        if not orders:
            return
        # The queue runs without the language of the request that queued it:
        # the reason and the tasks in the language of who confirmed.
        language = user.language.code if user.language else None
        try:
            with transaction.new_transaction() as sending, \
                    sending.set_context(language=language):
                sending.join(SendBeforeCommit())
                cls.send_letters(cls.browse([o.id for o in orders]))
        except Exception as exception:
            if not smtp_temporary(exception) and not isinstance(
                    exception, smtplib.SMTPException):
                raise
            with transaction.set_context(language=language):
                reason = gettext('assistance_order.msg_order_letter_smtp',
                    error=smtp_reason(exception))
            settings = retry_settings()
            if (smtp_temporary(exception)
                    and attempt < settings['max_attempts']
                    and config.getboolean('queue', 'worker', default=False)):
                delay = min(settings['max_delay'], settings['delay']
                    * settings['factor'] ** (attempt - 1))
                logger.info("guarantee letters of %s not sent (%s), "
                    "attempt %s, again in %s s", orders, reason, attempt,
                    delay)
                cls.write(orders, {
                        'letter_due_at': dt.datetime.now().replace(
                            microsecond=0) + dt.timedelta(seconds=delay),
                        'letter_attempt': attempt + 1,
                        })
                with transaction.set_context(
                        queue_scheduled_at=dt.timedelta(seconds=delay)):
                    cls.__queue__.send_letters_on_confirm(
                        orders, since, attempt + 1)
                return
            logger.warning("guarantee letters of %s not sent: %s", orders,
                reason)
            with transaction.set_context(language=language):
                cls._letter_not_sent(orders, reason)

    @classmethod
    def _letter_not_sent(cls, orders, reason):
        Task = Pool().get('assistance.task')
        now = dt.datetime.now().replace(microsecond=0)
        cls.write(orders, {'letter_pending_since': None,
                'letter_due_at': None, 'letter_attempt': None})
        Task.save([Task(
                    case=o.case,
                    kind='task',
                    name=gettext('assistance_order.msg_order_letter_task',
                        order=o.rec_name, provider=o.provider.rec_name),
                    description=reason,
                    responsible=o.case.operator,
                    department=o.case.department,
                    control_date=now,
                    urgency='urgent')
                for o in orders])

    def check_letter_sendable(self):
        "Raise unless the guarantee letter of the order can be sent"
        if self.state not in SENDABLE:
            raise OrderLetterError(gettext(
                    'assistance_order.msg_order_letter_state',
                    order=self.rec_name))
        if not self.letter_email():
            raise OrderLetterError(gettext(
                    'assistance_order.msg_order_letter_no_email',
                    order=self.rec_name, provider=self.provider.rec_name))

    def letter_email(self):
        "Return the provider's e-mail address for the letter or None"
        mechanism = self.provider.contact_mechanism_get('email')
        return mechanism.value if mechanism else None

    def letter_language(self):
        "Return the language code of the letter: the provider's if it has one"
        if self.provider.lang:
            return self.provider.lang.code
        return Transaction().language

    def letter_pdf(self):
        "Return the file name and content of the guarantee letter"
        GuaranteeLetter = Pool().get(
            'assistance.order.guarantee_letter', type='report')
        _, content, _, _ = GuaranteeLetter.execute([self.id], {})
        name = gettext(
            'assistance_order.msg_order_letter_filename', order=self.rec_name)
        return f'{name}.pdf', bytes(content)

    def _send_letter(self):
        "Send the letter through ir.email and return the recipient"
        Email = Pool().get('ir.email')
        to = self.letter_email()
        with Transaction().set_context(language=self.letter_language()):
            subject = gettext('assistance_order.msg_order_letter_subject',
                order=self.rec_name, company=self.company.rec_name)
            body = gettext('assistance_order.msg_order_letter_body',
                order=self.rec_name, company=self.company.rec_name,
                insured=self.case.insured.rec_name,
                date=Report.format_date(self.date))
            file_ = self.letter_pdf()
        Email.send(
            to=to, subject=subject, body=html_paragraphs(body),
            files=[file_], record=(self.__name__, self.id))
        return to


def check_mail_server():
    """Raise a readable error when the mail server cannot be reached: the
    e-mail only leaves on commit, where a failure would be a bare trace"""
    try:
        server = get_smtp_server(strict=True)
    except Exception as exception:
        raise OrderLetterError(gettext(
                'assistance_order.msg_order_letter_smtp',
                error=str(exception) or exception.__class__.__name__)
            ) from exception
    server.quit()


def html_paragraphs(text):
    "Return the plain text as HTML paragraphs for the e-mail body"
    return ''.join(
        f'<p>{escape(p).replace(chr(10), "<br/>")}</p>'
        for p in text.split('\n\n') if p.strip())


class GuaranteeLetter(Report):
    "Guarantee letter (гарантийное письмо) of a service order"
    __name__ = 'assistance.order.guarantee_letter'

    @classmethod
    def get_context(cls, records, header, data):
        context = super().get_context(records, header, data)
        context['letter_date'] = cls.letter_date
        context['address_lines'] = cls.address_lines
        context['format_quantity'] = cls.format_quantity
        context['insured_share'] = cls.insured_share
        return context

    @staticmethod
    def letter_date(order):
        "Return the date of the letter: when it was sent, else today"
        if order.letter_sent_at:
            return order.letter_sent_at.date()
        return Pool().get('ir.date').today()

    @staticmethod
    def address_lines(address):
        "Return the non-empty lines of the address"
        if not address:
            return []
        return [l.strip() for l in (address.full_address or '').splitlines()
            if l.strip()]

    @classmethod
    def format_quantity(cls, quantity):
        "Format the quantity with no useless decimals: 1, 2,5"
        if quantity is None:
            return ''
        digits = max(0, -quantity.normalize().as_tuple().exponent)
        return cls.format_number(quantity, None, digits=digits)

    @staticmethod
    def insured_share(record):
        "Return what the insured person pays the provider: beyond the cover"
        return ((record.deductible_amount or Decimal(0))
            + (record.insured_amount or Decimal(0)))
