# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The outbox's API for other modules and its handling of delivery reports
(ORD-4), inside a transaction; the gateway is tested against a real Kannel
in test_sms_kannel.py."""
import datetime as dt
import unittest

from trytond.modules.assistance_order.exceptions import SmsValidationError
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction


class SmsTestCase(unittest.TestCase):
    "The SMS outbox"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('assistance_order')

    @classmethod
    def tearDownClass(cls):
        # As ModuleTestCase does: the next test (a scenario) restores its
        # own database under the same name.
        drop_db()
        super().tearDownClass()

    def queue(self, phone='8 916 123-45-67', text="Ваш заказ подтверждён"):
        pool = Pool()
        Sms = pool.get('assistance.sms')
        Party = pool.get('party.party')
        party = Party(name="Иванов Иван")
        party.save()
        return Sms.queue_message(phone, text, party=party)

    @with_transaction()
    def test_queue_message(self):
        "queue_message normalises the phone and queues the sending"
        pool = Pool()
        Queue = pool.get('ir.queue')
        sms = self.queue()
        self.assertEqual(sms.phone, '+79161234567')
        self.assertEqual(sms.party.name, "Иванов Иван")
        self.assertEqual((sms.state, sms.attempts), ('queued', 0))
        self.assertEqual(len(sms.gateway_id), 32)
        task, = Queue.search([('id', 'in', Transaction().tasks)])
        self.assertEqual(
            (task.data['model'], task.data['method'],
                list(task.data['instances'])),
            ('assistance.sms', 'send', [sms.id]))

    @with_transaction()
    def test_gateway_ids_differ(self):
        "Each message has its own secret gateway id, copies too"
        Sms = Pool().get('assistance.sms')
        first, second = self.queue(), self.queue()
        copy, = Sms.copy([first])
        self.assertEqual(
            len({first.gateway_id, second.gateway_id, copy.gateway_id}), 3)
        self.assertEqual((copy.state, copy.attempts), ('queued', 0))

    @with_transaction()
    def test_invalid_phone(self):
        "A number that is no phone is refused with its value"
        with self.assertRaises(SmsValidationError) as cm:
            self.queue(phone="12-34")
        self.assertIn("12-34", cm.exception.message)

    @with_transaction()
    def test_orders_are_origins(self):
        "A message may tell the insured of a service order"
        Sms = Pool().get('assistance.sms')
        self.assertEqual(
            [m for m, _ in Sms.get_origin()], [None, 'assistance.order'])

    @with_transaction()
    def test_delivery_reports_unordered(self):
        "Reports in any order end delivered; a late failure changes nothing"
        Sms = Pool().get('assistance.sms')
        sms = self.queue()
        Sms.sent([sms])
        self.assertEqual(
            Sms.receive_delivery_report(sms.gateway_id, 1, ''), sms)
        self.assertEqual(sms.state, 'delivered')
        self.assertTrue(sms.delivered_at)
        Sms.receive_delivery_report(sms.gateway_id, 8, 'ACK/')
        Sms.receive_delivery_report(sms.gateway_id, 16, 'NACK')
        self.assertEqual(sms.state, 'delivered')
        self.assertEqual(sms.delivery_report, '1')

    @with_transaction()
    def test_delivery_failure(self):
        "A report of non-delivery shows the SMSC's answer; retry re-queues"
        Sms = Pool().get('assistance.sms')
        sms = self.queue()
        Sms.sent([sms])
        Sms.receive_delivery_report(sms.gateway_id, 8, 'ACK/')
        self.assertEqual(sms.state, 'sent')
        Sms.receive_delivery_report(sms.gateway_id, 2, 'NACK/0x0000000b')
        self.assertEqual(sms.state, 'rejected')
        self.assertEqual(sms.last_error, 'NACK/0x0000000b')
        Sms.retry([sms])
        self.assertEqual((sms.state, sms.attempts), ('queued', 0))

    @with_transaction()
    def test_report_of_unanswered_send(self):
        "A message the gateway took without our hearing it becomes sent"
        Sms = Pool().get('assistance.sms')
        sms = self.queue()
        Sms.receive_delivery_report(sms.gateway_id, 8, 'ACK/')
        self.assertEqual(sms.state, 'sent')

    @with_transaction()
    def test_unknown_gateway_id(self):
        "A report for an unknown id is ignored"
        Sms = Pool().get('assistance.sms')
        sms = self.queue()
        self.assertIsNone(Sms.receive_delivery_report('f' * 32, 1, ''))
        self.assertIsNone(Sms.receive_delivery_report('', 1, ''))
        self.assertEqual(sms.state, 'queued')

    @with_transaction()
    def test_lost_task_resent_by_cron(self):
        "A message whose task never ran is handed again to the queue"
        pool = Pool()
        Sms = pool.get('assistance.sms')
        Queue = pool.get('ir.queue')
        transaction = Transaction()
        sms = self.queue()
        self.assertGreater(sms.next_attempt, sms.create_date)
        transaction.tasks.clear()  # the process stopped before running it

        Sms.send_due()
        self.assertEqual(transaction.tasks, [])  # not due yet

        Sms.write([sms], {
                'next_attempt': sms.create_date - dt.timedelta(seconds=1)})
        Sms.send_due()
        task, = Queue.browse(transaction.tasks)
        self.assertEqual(
            (task.data['method'], list(task.data['instances'])),
            ('send', [sms.id]))
