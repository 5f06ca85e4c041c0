# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""A stand-in for Kannel's sendsms in sms_gateway.send that records, at the
moment of each call, what the rest of the database sees: whether the
records are committed and locked.

On PostgreSQL it looks from a connection of its own: it reads the state
committed by others and tries to lock the rows (NOWAIT).  SQLite has a
single connection and locks the whole database while a transaction
writes: there the stub reads the state through that connection and
counts a row as locked while that connection has a transaction open with
uncommitted writes."""
import urllib.parse
from collections import namedtuple
from unittest import mock

from trytond import backend
from trytond.modules.assistance_order import sms_gateway
from trytond.pool import Pool
from trytond.transaction import Transaction

__all__ = ['GatewayStub', 'Seen', 'ProcessStopped']

ACCEPTED = '0: Accepted for delivery'

# What another connection saw of a record: its state and whether it could
# not lock it.
Seen = namedtuple('Seen', ['state', 'locked'])
Call = namedtuple('Call', ['phone', 'text', 'seen'])


class ProcessStopped(Exception):
    "The process stopped right after the gateway took the message"


class GatewayStub:
    """Patch sms_gateway.send while the stub is entered; each call is kept
    in `calls` with what was seen of the watched records (model, id) and of
    the message being sent (found by the gateway id of its dlr-url).
    `then` is an exception raised after the gateway took the message."""

    def __init__(self, watch=(), then=None):
        self.watch = list(watch)
        self.then = then
        self.calls = []
        self._patch = mock.patch.object(sms_gateway, 'send', self)

    def __enter__(self):
        self._patch.start()
        return self

    def __exit__(self, *exc):
        self._patch.stop()

    def __call__(self, url, timeout):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        dlr = urllib.parse.parse_qs(
            urllib.parse.urlsplit(query['dlr-url'][0]).query)
        Sms = Pool().get('assistance.sms')
        message, = Sms.search([('gateway_id', '=', dlr['id'][0])])
        records = self.watch + [('assistance.sms', message.id)]
        seen = {model: look(Pool().get(model)._table, id_)
            for model, id_ in records}
        self.calls.append(Call(query['to'][0], query['text'][0], seen))
        if self.then:
            raise self.then
        return ACCEPTED


def look(table, id_):
    "Return what the rest of the database sees of the row"
    transaction = Transaction()
    if backend.name == 'sqlite':
        cursor = transaction.connection.cursor()
        cursor.execute(f'SELECT state FROM "{table}" WHERE id = ?', (id_,))
        state, = cursor.fetchone()
        return Seen(state, transaction.connection.in_transaction)
    database = transaction.database
    connection = database.get_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(f'SELECT state FROM "{table}" WHERE id = %s', (id_,))
        state, = cursor.fetchone()
        try:
            cursor.execute(
                f'SELECT 1 FROM "{table}" WHERE id = %s FOR UPDATE NOWAIT',
                (id_,))
        except backend.DatabaseOperationalError:
            locked = True
        else:
            locked = False
    finally:
        connection.rollback()
        database.put_connection(connection)
    return Seen(state, locked)
