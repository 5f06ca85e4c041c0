# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Unit and property tests of the pure part of the SMS outbox (ORD-4):
E.164 numbers, Kannel's sendsms URL, the retry schedule, delivery reports."""
import datetime as dt
import http.server
import socket
import threading
import unittest
import urllib.parse

from hypothesis import given
from hypothesis import strategies as st

from trytond.modules.assistance_order import sms_gateway as gw

SETTINGS = gw.DEFAULTS._replace(
    url='http://127.0.0.1:13013/cgi-bin/sendsms', username='tryton',
    password='p&ss word', sender='Assistance', retry_delay=60,
    retry_factor=2.0, retry_max_delay=3600, max_attempts=8)


class E164TestCase(unittest.TestCase):
    "Phone numbers in the international format"

    def test_russian_numbers(self):
        for written in [
                '+7 (916) 123-45-67', '8 916 123 45 67', '89161234567',
                '9161234567', '7-916-123-45-67', 79161234567,
                79161234567.0]:
            with self.subTest(written=written):
                self.assertEqual(gw.e164(written), '+79161234567')

    def test_foreign_number_kept(self):
        self.assertEqual(gw.e164('+44 20 7946 0958'), '+442079460958')
        self.assertEqual(gw.e164('+375 29 123-45-67'), '+375291234567')

    def test_not_a_phone(self):
        for written in [None, '', 'нет', '12345', 'ivanov@example.com',
                '+7 916 123 45 67 89 01 23', '0161 496 0000']:
            with self.subTest(written=written):
                self.assertIsNone(gw.e164(written))

    @given(st.text(alphabet='0123456789 +-()', max_size=25))
    def test_result_is_e164(self, written):
        "Whatever is written, the result is E.164 or nothing"
        phone = gw.e164(written)
        if phone is not None:
            self.assertTrue(gw.is_e164(phone), phone)

    @given(st.from_regex(r'\+[1-9][0-9]{9,14}', fullmatch=True))
    def test_idempotent(self, phone):
        "An E.164 number is its own normal form"
        if gw.e164(phone) is not None:
            self.assertEqual(gw.e164(gw.e164(phone)), gw.e164(phone))

    @given(st.from_regex(r'9[0-9]{9}', fullmatch=True),
        st.sampled_from(['+7 {}', '8{}', '8 ({}', '7{}', '{}']))
    def test_national_forms_agree(self, mobile, form):
        "Every way of writing a Russian mobile gives the same number"
        self.assertEqual(gw.e164(form.format(mobile)), '+7' + mobile)


class SendsmsTestCase(unittest.TestCase):
    "The URL of Kannel's sendsms"

    def params(self, url):
        base, query = url.split('?', 1)
        self.assertEqual(base, SETTINGS.url)
        return dict(urllib.parse.parse_qsl(query, strict_parsing=True))

    def test_cyrillic_as_ucs2(self):
        "Our UTF-8 text, converted to UCS-2 by Kannel (coding 2)"
        params = self.params(gw.sendsms_url(
                SETTINGS, '+79161234567', "Заказ №5 подтверждён — «Ёж»"))
        self.assertEqual(params['text'], "Заказ №5 подтверждён — «Ёж»")
        self.assertEqual(params['charset'], 'UTF-8')
        self.assertEqual(params['coding'], '2')
        self.assertEqual(params['to'], '+79161234567')
        self.assertEqual(params['from'], 'Assistance')
        self.assertEqual(params['password'], 'p&ss word')
        self.assertNotIn('dlr-url', params)

    def test_no_sender(self):
        "Kannel's global-sender is used when we give none"
        params = self.params(gw.sendsms_url(
                SETTINGS._replace(sender=''), '+79161234567', "x"))
        self.assertNotIn('from', params)

    def test_delivery_report_url(self):
        "The dlr-url keeps Kannel's escapes for Kannel to fill"
        dlr = gw.dlr_callback('http://127.0.0.1:8000/', 'assistance', 'abc')
        self.assertEqual(dlr, 'http://127.0.0.1:8000/assistance/'
            'assistance_sms/dlr?id=abc&type=%d&answer=%A')
        params = self.params(gw.sendsms_url(
                SETTINGS, '+79161234567', "x", dlr_url=dlr))
        self.assertEqual(params['dlr-url'], dlr)
        self.assertEqual(params['dlr-mask'], '31')

    def test_database_name_quoted(self):
        dlr = gw.dlr_callback('http://h', 'my db/x', 'abc')
        self.assertTrue(dlr.startswith('http://h/my%20db%2Fx/'), dlr)

    @given(st.text(min_size=1, max_size=200))
    def test_any_text_survives(self, text):
        "Any text comes back unchanged from the URL Kannel reads"
        params = self.params(gw.sendsms_url(SETTINGS, '+79161234567', text))
        self.assertEqual(params['text'], text)


class RetryTestCase(unittest.TestCase):
    "The back-off of failed attempts"

    def test_schedule(self):
        delays = [gw.retry_delay(n, SETTINGS) for n in range(1, 9)]
        self.assertEqual(delays, [60, 120, 240, 480, 960, 1920, 3600, 3600])

    def test_gives_up(self):
        now = dt.datetime(2026, 3, 12, 14, 30)
        self.assertEqual(gw.next_attempt(now, 1, SETTINGS),
            now + dt.timedelta(seconds=60))
        self.assertIsNotNone(gw.next_attempt(now, 7, SETTINGS))
        self.assertIsNone(gw.next_attempt(now, 8, SETTINGS))

    @given(st.integers(min_value=1, max_value=10 ** 6),
        st.integers(min_value=1, max_value=3600),
        st.floats(min_value=1, max_value=10),
        st.integers(min_value=1, max_value=10 ** 6))
    def test_monotonic_and_capped(self, attempts, delay, factor, cap):
        settings = SETTINGS._replace(
            retry_delay=delay, retry_factor=factor, retry_max_delay=cap)
        first = gw.retry_delay(attempts, settings)
        second = gw.retry_delay(attempts + 1, settings)
        self.assertLessEqual(first, second)
        self.assertLessEqual(second, cap)
        self.assertGreaterEqual(first, min(delay, cap))


class DeliveryReportTestCase(unittest.TestCase):
    "The meaning of Kannel's DLR types"

    def test_outcomes(self):
        self.assertEqual(gw.dlr_outcome(gw.DLR_DELIVERED), 'delivered')
        self.assertEqual(gw.dlr_outcome(gw.DLR_UNDELIVERED), 'rejected')
        self.assertEqual(gw.dlr_outcome(gw.DLR_SMSC_REJECTED), 'rejected')
        self.assertIsNone(gw.dlr_outcome(gw.DLR_SMSC_ACCEPTED))
        self.assertIsNone(gw.dlr_outcome(gw.DLR_QUEUED))


STATES = ['queued', 'sending', 'unconfirmed', 'sent', 'delivered',
    'rejected', 'failed']
DLR_TYPES = st.sampled_from([
        gw.DLR_DELIVERED, gw.DLR_UNDELIVERED, gw.DLR_QUEUED,
        gw.DLR_SMSC_ACCEPTED, gw.DLR_SMSC_REJECTED])


def fold(state, reports):
    "Return the states a message goes through under the reports"
    states = [state]
    for dlr_type in reports:
        state = gw.report_state(state, dlr_type) or state
        states.append(state)
    return states


class ReportStateTestCase(unittest.TestCase):
    "A message under a stream of delivery reports in any order"

    def test_examples(self):
        self.assertEqual(fold('sent', [8, 1]), ['sent', 'sent', 'delivered'])
        self.assertEqual(
            fold('sent', [1, 8, 16]), ['sent'] + ['delivered'] * 3)
        self.assertEqual(fold('queued', [8]), ['queued', 'sent'])
        self.assertEqual(
            fold('sent', [8, 2, 1]),
            ['sent', 'sent', 'rejected', 'delivered'])
        self.assertEqual(fold('failed', [4]), ['failed', 'failed'])

    @given(st.sampled_from(STATES), st.lists(DLR_TYPES, max_size=8))
    def test_delivery_is_final(self, state, reports):
        "Once delivered, always delivered; delivered iff reported so"
        states = fold(state, reports)
        if 'delivered' in states:
            first = states.index('delivered')
            self.assertEqual(set(states[first:]), {'delivered'})
        self.assertEqual(
            states[-1] == 'delivered',
            state == 'delivered' or gw.DLR_DELIVERED in reports)

    @given(st.sampled_from(sorted(gw.UNANSWERED)),
        st.lists(DLR_TYPES, min_size=1, max_size=8))
    def test_reported_message_leaves_the_queue(self, state, reports):
        "A message the gateway reports on is never sent again"
        self.assertFalse(gw.UNANSWERED & set(fold(state, reports)[1:]))


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 202
    body = b'0: Accepted for delivery'

    def do_GET(self):
        self.server.paths.append(self.path)
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


class SendTestCase(unittest.TestCase):
    "The answers of the gateway (a local HTTP server standing for smsbox)"

    def serve(self, status, body):
        handler = type('Handler', (_Handler,), {
                'status': status, 'body': body})
        server = http.server.HTTPServer(('127.0.0.1', 0), handler)
        server.paths = []
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return server, f'http://127.0.0.1:{server.server_port}/cgi-bin/sendsms'

    def test_accepted(self):
        server, url = self.serve(202, b'0: Accepted for delivery')
        self.assertEqual(gw.send(url + '?to=1', 5), '0: Accepted for delivery')
        self.assertEqual(server.paths, ['/cgi-bin/sendsms?to=1'])

    def test_refused(self):
        server, url = self.serve(403, b'Authorization failed for sendsms')
        with self.assertRaisesRegex(gw.GatewayError, 'HTTP 403'):
            gw.send(url, 5)

    def test_down(self):
        server, url = self.serve(202, b'')
        server.shutdown()
        server.server_close()
        with self.assertRaises(gw.GatewayError) as cm:
            gw.send(url, 2)
        # Nothing reached the gateway: sending again is safe.
        self.assertFalse(cm.exception.maybe_accepted)

    def test_answer_lost(self):
        "A request the gateway got but did not answer in time may be sent"
        with socket.create_server(('127.0.0.1', 0)) as listener:
            url = 'http://127.0.0.1:%s/cgi-bin/sendsms' % (
                listener.getsockname()[1])
            with self.assertRaises(gw.GatewayAnswerLost) as cm:
                gw.send(url, 0.5)
        self.assertTrue(cm.exception.maybe_accepted)
