# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""ORD-4 end to end: the SMS outbox against a real Kannel on loopback.

A copy of the test database is served by a real `trytond` process (Kannel
must reach its delivery report route over HTTP, and the test database of
SQLite lives in this process's memory); bearerbox, smsbox and the fake
SMSC of kannel-extras run beside it.  The test drives the server through
XML-RPC as the administrator (an operator too), like the web client."""
import contextlib
import os
import pathlib
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from trytond import backend
from trytond import config as tconfig
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
from trytond.transaction import Transaction

from .kannel_tools import Kannel, free_port, listening, missing, wait_for

pytestmark = pytest.mark.skipif(bool(missing()), reason=missing() or '')

BIN = pathlib.Path(sys.executable).parent
PASSWORD = 'sms-kannel-test'
# Longer than one UCS-2 part (70 characters): Kannel splits and the phone
# joins it, every Cyrillic letter and the typographic signs intact.
TEXT = ("Здравствуйте! Заказ №17 подтверждён: «Клиника Здоровье», "
    "ул. Ленина, 5, 12.03 в 14:30. Ваша доплата — 0 ₽. Ёж, щука, ъ.")
RETRY_DELAY = 1


def _set_admin_password():
    with Transaction().start(DB_NAME, 0) as transaction:
        User = Pool().get('res.user')
        admin, = User.search([('login', '=', 'admin')])
        User.write([admin], {'password': PASSWORD})
        transaction.commit()


@contextlib.contextmanager
def database_copy(folder):
    "Yield the name of a copy of the activated test database"
    if backend.name == 'sqlite':
        name = 'sms_kannel'
        database = backend.Database(DB_NAME).connect()
        connection = database.get_connection()
        try:
            with contextlib.closing(sqlite3.connect(
                        os.path.join(folder, name + '.sqlite'))) as target:
                connection.backup(target)
        finally:
            database.put_connection(connection)
        yield name
    else:
        name = f'{DB_NAME}_sms'[:63]
        backend.Database(DB_NAME).close()
        with Transaction().start(
                None, 0, close=True, autocommit=True) as transaction:
            transaction.database.create(
                transaction.connection, name, DB_NAME)
        try:
            yield name
        finally:
            with Transaction().start(
                    None, 0, close=True, autocommit=True) as transaction:
                transaction.database.drop(transaction.connection, name)


@contextlib.contextmanager
def tryton_server(folder, database, kannel):
    "Serve the database with trytond, its SMS gateway set to the Kannel"
    port = free_port()
    url = f'http://127.0.0.1:{port}'
    conf = os.path.join(folder, 'trytond.conf')
    with open(conf, 'w') as file:
        file.write(
            f"[database]\nuri = {tconfig.get('database', 'uri')}\n"
            f"path = {folder}\n"
            f"[web]\nlisten = 127.0.0.1:{port}\n"
            "[queue]\nworker = False\n"
            "[assistance_sms]\n"
            f"url = {kannel.sendsms_url}\n"
            f"username = {kannel.username}\n"
            f"password = {kannel.password}\n"
            "sender = Assistance\n"
            f"dlr_url = {url}\n"
            "timeout = 5\n"
            f"retry_delay = {RETRY_DELAY}\n"
            "max_attempts = 3\n")
    env = {k: v for k, v in os.environ.items()
        if not k.startswith(('TRYTOND_', 'DB_'))}
    with open(os.path.join(folder, 'trytond.log'), 'wb') as log:
        process = subprocess.Popen(
            [str(BIN / 'trytond'), '-c', conf, '-d', database],
            env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: listening(port) or process.poll() is not None, 30)
        assert process.poll() is None, open(log.name).read()
        yield url
    finally:
        # The server keeps nothing to flush: do not wait long for it.
        process.terminate()
        try:
            process.wait(3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def get_status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def reload_until(record, predicate, timeout=15):
    def check():
        record.reload()
        return predicate(record)
    return wait_for(check, timeout, interval=0.1)


@pytest.fixture
def database():
    "The activated test database, dropped after it as ModuleTestCase does"
    activate_module('assistance_order')
    yield DB_NAME
    drop_db()


def test_sms_through_kannel(tmp_path, database):
    "ORD-4: Cyrillic SMS through Kannel, its DLR, a gateway down and a retry"
    from proteus import Model
    from proteus import config as pconfig

    folder = str(tmp_path)
    _set_admin_password()
    kannel = Kannel(folder)
    with database_copy(folder) as copy, \
            tryton_server(folder, copy, kannel) as url, kannel:
        config = pconfig.XmlrpcConfig(
            f'http://admin:{PASSWORD}@{url[len("http://"):]}/{copy}/rpc/')
        Sms = Model.get('assistance.sms', config=config)
        Cron = Model.get('ir.cron', config=config)

        # Queued by the operator with a national number: normalised, sent
        # by the task queue once the creation is committed.
        sms = Sms(phone='8 (916) 123-45-67', text=TEXT)
        sms.save()
        assert sms.phone == '+79161234567'
        # (its delivery report may already have come back)
        assert sms.state in {'sent', 'delivered'}
        assert sms.attempts == 1
        assert sms.sent_at

        # The phone gets the text intact, from our sender id.
        received = wait_for(kannel.received, 10)
        assert received == [('Assistance', '+79161234567', TEXT)]

        # Kannel reports the delivery through our route.
        reload_until(sms, lambda r: r.state == 'delivered')
        assert sms.delivered_at
        assert sms.delivery_report.split()[0] in {'1', '8'}

        # Only the gateway id opens the route: a guessed one changes nothing.
        dlr = f'{url}/{copy}/assistance_sms/dlr'
        assert get_status(f'{dlr}?id=0123456789abcdef&type=2') == 404
        assert get_status(f'{dlr}?id={sms.gateway_id}&type=x') == 400
        # A late report never takes back a delivery.
        assert get_status(f'{dlr}?id={sms.gateway_id}&type=16') == 200
        sms.reload()
        assert sms.state == 'delivered'

        # The gateway goes down: the message stays queued with the error.
        kannel.stop()
        down = Sms(phone='+7 916 765-43-21', text="Повторная отправка")
        down.save()
        assert (down.state, down.attempts) == ('queued', 1)
        assert down.last_error
        assert down.next_attempt
        assert down.sent_at is None

        # The gateway is back: the cron resends the due message.
        kannel.start()
        cron, = Cron.find([('method', '=', 'assistance.sms|send_due')])
        time.sleep(RETRY_DELAY + 0.2)
        cron.click('run_once')
        down.reload()
        assert down.state in {'sent', 'delivered'}
        assert down.attempts == 2
        assert down.last_error is None
        received = wait_for(lambda: kannel.received()[1:], 10)
        assert received == [('Assistance', '+79167654321',
                "Повторная отправка")]
        reload_until(down, lambda r: r.state == 'delivered')

        # The first message was not sent twice.
        sms.reload()
        assert sms.attempts == 1
