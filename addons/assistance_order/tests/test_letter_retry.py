# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Which refusals of the mail server the queue sends a guarantee letter
again after (order_letter.smtp_temporary), and the refusal in words."""
import smtplib
import socket
import unittest

from trytond.modules.assistance_order.order_letter import (
    smtp_reason, smtp_temporary)


class LetterRetryTestCase(unittest.TestCase):

    def test_unreachable_is_temporary(self):
        for exception in [ConnectionRefusedError(111, 'Connection refused'),
                socket.timeout('timed out'),
                smtplib.SMTPServerDisconnected('closed'),
                smtplib.SMTPConnectError(421, b'busy')]:
            self.assertTrue(smtp_temporary(exception), exception)

    def test_4xx_temporary_5xx_final(self):
        for code in [421, 450, 451, 452]:
            self.assertTrue(smtp_temporary(
                    smtplib.SMTPDataError(code, b'later')), code)
            self.assertTrue(smtp_temporary(
                    smtplib.SMTPSenderRefused(code, b'later', 'a@b')), code)
        for code in [500, 550, 552, 554]:
            self.assertFalse(smtp_temporary(
                    smtplib.SMTPDataError(code, b'no')), code)

    def test_recipients(self):
        self.assertTrue(smtp_temporary(smtplib.SMTPRecipientsRefused(
                    {'a@b': (450, b'later'), 'c@d': (451, b'later')})))
        self.assertFalse(smtp_temporary(smtplib.SMTPRecipientsRefused(
                    {'a@b': (450, b'later'), 'c@d': (550, b'unknown')})))
        self.assertFalse(smtp_temporary(smtplib.SMTPRecipientsRefused({})))

    def test_not_smtp(self):
        self.assertFalse(smtp_temporary(ValueError('bug')))

    def test_reason(self):
        self.assertEqual(smtp_reason(smtplib.SMTPDataError(
                    451, b'4.3.0 Mailbox busy')), '451 4.3.0 Mailbox busy')
        self.assertEqual(
            smtp_reason(ConnectionRefusedError(111, 'Connection refused')),
            '[Errno 111] Connection refused')
