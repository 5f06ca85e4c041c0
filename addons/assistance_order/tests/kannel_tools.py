# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""A real Kannel on loopback for the tests: bearerbox, smsbox and the fake
SMSC of kannel-extras (Debian packages `kannel`, `kannel-extras`), on free
ports, with their configuration and logs in a folder of the test.

The fake SMSC prints every message it receives as
`Got message N: <sender receiver type data>`; `received()` decodes them."""
import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse

BEARERBOX = shutil.which('bearerbox') or '/usr/sbin/bearerbox'
SMSBOX = shutil.which('smsbox') or '/usr/sbin/smsbox'
FAKESMSC = os.environ.get('FAKESMSC', '/usr/lib/kannel/test/fakesmsc')

GOT_MESSAGE = re.compile(
    r'Got message \d+: <(?P<sender>\S*) (?P<receiver>\S+) (?P<type>\S+) '
    r'(?P<data>.*)>$')


def missing():
    "Return why Kannel cannot run here, or None"
    for binary in (BEARERBOX, SMSBOX, FAKESMSC):
        if not os.access(binary, os.X_OK):
            return f"{binary} is missing (make kannel)"


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout=10, interval=0.05):
    "Return predicate()'s first true value, or raise TimeoutError"
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f'{predicate} still false after {timeout} s')
        time.sleep(interval)


def listening(port):
    with contextlib.suppress(OSError), socket.create_connection(
            ('127.0.0.1', port), timeout=0.2):
        return True
    return False


def _unquote(data):
    # Kannel url-encodes the bytes, a space as "+"
    return urllib.parse.unquote_to_bytes(data.replace('+', ' '))


def decode(type_, data):
    "Return the text of a one-part message as the fake SMSC printed it"
    if type_ == 'text':
        return data
    if type_ == 'ucs-2':
        return _unquote(data).decode('utf-16-be')
    return _unquote(data).decode('latin-1')


def concatenation(data):
    """Return (reference, parts, number, body bytes) of a part printed as
    `udh <udh> data <body>`: the UDH's concatenation element (IEI 0, 8-bit
    reference, as Kannel splits long texts)."""
    udh, _, body = data.split(' ', 2)
    udh = _unquote(udh)
    assert udh[:3] == bytes([5, 0, 3]), udh
    return udh[3], udh[4], udh[5], _unquote(body)


class Kannel:
    "bearerbox + smsbox + fakesmsc, started and stopped together"
    username = 'tryton'
    password = 'kannel-test'

    def __init__(self, folder):
        self.folder = folder
        self.admin_port = free_port()
        self.smsbox_port = free_port()
        self.smsc_port = free_port()
        self.sendsms_port = free_port()
        self.sendsms_url = (
            f'http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms')
        self.config = os.path.join(folder, 'kannel.conf')
        self.smsc_log = os.path.join(folder, 'fakesmsc.log')
        self.processes = []
        self.starts = 0
        with open(self.config, 'w') as file:
            file.write(self.configuration())

    def configuration(self):
        log = os.path.join(self.folder, '%s.log')
        return f"""\
group = core
admin-port = {self.admin_port}
admin-interface = 127.0.0.1
admin-password = {self.password}
admin-allow-ip = 127.0.0.1
smsbox-port = {self.smsbox_port}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = {log % 'bearerbox'}
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
our-host = 127.0.0.1
port = {self.smsc_port}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.smsbox_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
log-file = {log % 'smsbox'}
log-level = 1

group = sendsms-user
username = {self.username}
password = {self.password}
concatenation = true
max-messages = 5

group = sms-service
keyword = default
text = "No service"
"""

    def _spawn(self, name, *args):
        out = open(os.path.join(self.folder, f'{name}.out'), 'ab')
        process = subprocess.Popen(
            args, cwd=self.folder, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        out.close()
        self.processes.append(process)
        return process

    def start(self, timeout=15):
        "Start the three boxes; return once the fake SMSC is connected"
        self.starts += 1
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout):
        self._spawn('bearerbox', BEARERBOX, self.config)
        wait_for(lambda: listening(self.smsbox_port), timeout)
        self._spawn('smsbox', SMSBOX, self.config)
        wait_for(lambda: listening(self.smsc_port), timeout)
        with open(self.smsc_log, 'ab') as log:
            # -m 0: send no message of its own, only receive ours
            self.processes.append(subprocess.Popen(
                    [FAKESMSC, '-H', '127.0.0.1', '-r', str(self.smsc_port),
                        '-m', '0', '0 0 text nop'],
                    cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL))
        wait_for(lambda: listening(self.sendsms_port), timeout)
        wait_for(lambda: self._connections() >= self.starts, timeout)

    def _connections(self):
        path = os.path.join(self.folder, 'bearerbox.log')
        if not os.path.exists(path):
            return 0
        with open(path, errors='replace') as file:
            return file.read().count('Fakesmsc client connected')

    def stop(self):
        "Stop the boxes (smsbox and the SMSC first, bearerbox last)"
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.processes.clear()
        for port in (self.sendsms_port, self.smsbox_port):
            wait_for(lambda: not listening(port), 10)

    def received(self):
        """Return [(sender, receiver, text)] the fake SMSC has received,
        long texts joined from their parts (sent as UCS-2 by our gateway:
        a part carries no coding of its own in the fake SMSC's output)"""
        if not os.path.exists(self.smsc_log):
            return []
        messages, parts = [], {}
        with open(self.smsc_log, errors='replace') as file:
            for line in file:
                match = GOT_MESSAGE.search(line.rstrip('\n'))
                if not match:
                    continue
                sender, receiver = match['sender'], match['receiver']
                if match['type'] != 'udh':
                    messages.append((sender, receiver,
                            decode(match['type'], match['data'])))
                    continue
                reference, count, number, body = concatenation(
                    match['data'])
                key = (sender, receiver, reference)
                parts.setdefault(key, {})[number] = body
                if len(parts[key]) == count:
                    text = b''.join(
                        body for _, body in sorted(parts.pop(key).items()))
                    messages.append(
                        (sender, receiver, text.decode('utf-16-be')))
        return messages

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
