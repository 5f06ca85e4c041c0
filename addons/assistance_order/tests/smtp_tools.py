# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""A real SMTP server on loopback for the tests (aiosmtpd), and trytond's
[email] uri pointed at it for the time of a test."""
import email
import email.policy
import socket

from aiosmtpd.controller import Controller

import trytond.config as config

__all__ = ['SMTPServer', 'free_port']


def free_port():
    "Return a TCP port of the loopback that nothing listens on now"
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class _Handler:

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return '250 Message accepted for delivery'


class SMTPServer:
    """An SMTP server on a free loopback port that keeps what it receives.

    Creating it points trytond's [email] uri (and from, if given) at it,
    `start()` starts it, `stop()` stops it (its port then refuses
    connections, as a mail server that is down) and `close()` also restores
    the previous settings."""

    def __init__(self, from_=None):
        self.port = free_port()
        self.uri = f'smtp://127.0.0.1:{self.port}'
        self._handler = _Handler()
        self._controller = None
        self._previous = {
            o: config.get('email', o) for o in ['uri', 'from']}
        config.set('email', 'uri', self.uri)
        if from_:
            config.set('email', 'from', from_)

    @property
    def messages(self):
        "The (recipients, email.message.EmailMessage) received so far"
        return self._handler.messages

    def start(self):
        self._controller = Controller(
            self._handler, hostname='127.0.0.1', port=self.port)
        self._controller.start()
        return self

    def stop(self):
        if self._controller:
            self._controller.stop()
            self._controller = None

    def close(self):
        self.stop()
        for option, value in self._previous.items():
            config.set('email', option, value)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
