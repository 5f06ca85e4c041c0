# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""ORD-4: the outbox calls the gateway outside the transactions that record
it, and never sends a message twice by itself.

The tests commit as a request does and run the queue's tasks the way
trytond runs them after a request (trytond.worker.run_task), with a
stand-in for Kannel (gateway_stub.py)."""
import datetime as dt

import pytest

from trytond import backend
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME
from trytond.transaction import Transaction
from trytond.worker import run_task

from .gateway_stub import GatewayStub, ProcessStopped, Seen
from .test_sms_kannel import database  # noqa: F401 (the fixture)


def request(func, *args):
    """Return func(*args) run as a request: committed, then the tasks it
    queued run each in its own transaction"""
    with Transaction().start(DB_NAME, 0) as transaction:
        result = func(*args)
        transaction.commit()
        tasks = list(transaction.tasks)
        transaction.tasks.clear()
    for task_id in tasks:
        run_task(DB_NAME, task_id)
    return result


def queue_message():
    Sms = Pool().get('assistance.sms')
    return Sms.queue_message('+79161234567', "Ваш заказ подтверждён").id


def read(message_id, *names):
    def get():
        message = Pool().get('assistance.sms')(message_id)
        return tuple(getattr(message, n) for n in names)
    with Transaction().start(DB_NAME, 0, readonly=True):
        return get()


def hours_pass(message_id):
    "Move the message's attempt an hour back instead of waiting"
    def age():
        Sms = Pool().get('assistance.sms')
        message = Sms(message_id)
        Sms.write([message], {
                'attempted_at': message.attempted_at - dt.timedelta(hours=1),
                })
    request(age)


def send_due():
    request(lambda: Pool().get('assistance.sms').send_due())


def test_sent_after_commit_outside_locks(database):
    "The gateway is called after the commit, the message marked sending"
    with GatewayStub() as gateway:
        message_id = request(queue_message)
    call, = gateway.calls
    assert call.seen['assistance.sms'] == Seen('sending', False)
    assert read(message_id, 'state', 'attempts', 'last_error') == (
        'sent', 1, None)


@pytest.mark.parametrize('failure', [
        ProcessStopped("stopped after the gateway took it"),
        backend.DatabaseOperationalError("could not serialize access"),
        ], ids=['process stopped', 'transaction retried'])
def test_accepted_then_rolled_back_not_sent_again(database, failure):
    """The transaction around the call rolls back after the gateway took
    the message (trytond retries it, or the process stops): the message
    is not sent again, neither by the retry nor by the cron; it is set
    aside as not confirmed and its delivery report settles it"""
    with GatewayStub(then=failure) as gateway:
        message_id = request(queue_message)
        assert len(gateway.calls) == 1
        assert read(message_id, 'state') == ('sending',)

        send_due()  # too early to give up on the answer
        assert read(message_id, 'state') == ('sending',)
        hours_pass(message_id)
        send_due()
        send_due()
    assert len(gateway.calls) == 1
    state, last_error, gateway_id = read(
        message_id, 'state', 'last_error', 'gateway_id')
    assert state == 'unconfirmed'
    assert 'may have been sent' in last_error

    def report():
        Sms = Pool().get('assistance.sms')
        Sms.receive_delivery_report(gateway_id, 8, 'ACK/')
    request(report)
    assert read(message_id, 'state') == ('sent',)


def test_answer_lost_not_sent_again(database):
    "A gateway whose answer is lost may have taken the message: set aside"
    from trytond.modules.assistance_order import sms_gateway
    with GatewayStub(then=sms_gateway.GatewayAnswerLost("timed out")) \
            as gateway:
        message_id = request(queue_message)
        hours_pass(message_id)
        send_due()
        assert len(gateway.calls) == 1
        assert read(message_id, 'state', 'attempts', 'last_error') == (
            'unconfirmed', 1, "timed out")

        # The operator found it did not arrive and sends it again.
        gateway.then = None
        request(lambda: Pool().get('assistance.sms').retry(
                [Pool().get('assistance.sms')(message_id)]))
    assert len(gateway.calls) == 2
    assert read(message_id, 'state', 'attempts') == ('sent', 1)


def test_gateway_down_retried(database):
    "A gateway that refused the connection gets the message again later"
    from trytond.modules.assistance_order import sms_gateway
    with GatewayStub(then=sms_gateway.GatewayError("refused")) as gateway:
        message_id = request(queue_message)
        assert read(message_id, 'state', 'attempts', 'last_error') == (
            'queued', 1, "refused")
        gateway.then = None

        def due():
            Sms = Pool().get('assistance.sms')
            Sms.write([Sms(message_id)], {
                    'next_attempt': dt.datetime.now() - dt.timedelta(
                        seconds=1)})
        request(due)
        send_due()
    assert len(gateway.calls) == 2
    assert read(message_id, 'state', 'attempts', 'last_error') == (
        'sent', 2, None)
