# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""CASE-1, P3: a changed case or task reaches the open lists of the staff who
monitor it, through the bus (PostgreSQL NOTIFY at commit)."""
import datetime as dt
import json
import time
import unittest

from trytond import backend
from trytond.modules.assistance_case import live
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME, activate_module, with_transaction)
from trytond.transaction import Transaction


class MessageTestCase(unittest.TestCase):
    "The bus message of the changed records"

    def test_message(self):
        self.assertEqual(
            live.message({'assistance.task': {3, 1}, 'assistance.case': {2}}),
            {'type': 'assistance.reload', 'models': {
                    'assistance.case': [2], 'assistance.task': [1, 3]}})

    def test_many_ids_reload_the_whole_model(self):
        message = live.message(
            {'assistance.case': set(range(live.MAX_IDS + 1))})
        self.assertEqual(message['models'], {'assistance.case': None})

    def test_manager_groups_per_user(self):
        manager = live.LiveDataManager()
        manager.add({1, 2}, {'assistance.task': 5, 'assistance.case': 7})
        manager.add({2}, {'assistance.case': 8})
        self.assertEqual(
            {u: dict(m) for u, m in manager.changes.items()}, {
                1: {'assistance.task': {5}, 'assistance.case': {7}},
                2: {'assistance.task': {5}, 'assistance.case': {7, 8}}})
        manager.tpc_abort(None)
        self.assertFalse(manager.changes)


def create_staff():
    """Create two departments (North: head and member; South: member), an
    operator of North and a department head without a department"""
    pool = Pool()
    User = pool.get('res.user')
    Department = pool.get('assistance.department')
    ModelData = pool.get('ir.model.data')
    group = ModelData.get_id('assistance_policy', 'group_department_head')
    head, member, operator, south_member, chief = User.create([
            {'login': 'live_head', 'name': "Head"},
            {'login': 'live_member', 'name': "Member"},
            {'login': 'live_operator', 'name': "Operator"},
            {'login': 'live_south', 'name': "South"},
            {'login': 'live_chief', 'name': "Chief",
                'groups': [('add', [group])]},
            ])
    north, south = Department.create([
            {'name': "North", 'head': head.id},
            {'name': "South"},
            ])
    User.write([member, operator], {'assistance_department': north.id})
    User.write([south_member], {'assistance_department': south.id})
    return {
        'head': head.id, 'member': member.id, 'operator': operator.id,
        'south_member': south_member.id, 'chief': chief.id,
        'north': north.id, 'south': south.id,
        }


def create_case(staff, department):
    pool = Pool()
    Party = pool.get('party.party')
    Case = pool.get('assistance.case')
    CaseType = pool.get('assistance.case.type')
    insured, = Party.create([{'name': "Live Insured"}])
    medical, = CaseType.search([('code', '=', 'MED')])
    case, = Case.create([{
                'insured': insured.id, 'type': medical.id,
                'operator': staff['operator'], 'department': department,
                }])
    return case


def create_task(case, staff, department, responsible, control_date):
    Task = Pool().get('assistance.task')
    task, = Task.create([{
                'case': case.id, 'name': "Call back",
                'department': department, 'responsible': responsible,
                'control_date': control_date,
                }])
    return task


class LiveRecipientsTestCase(unittest.TestCase):
    "Who hears of a change (every backend)"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('assistance_case')

    @with_transaction()
    def test_case_recipients(self):
        "The staff of the case's department and its operator"
        staff = create_staff()
        case = create_case(staff, staff['north'])
        self.assertEqual(case.live_recipients(),
            {staff['head'], staff['member'], staff['operator']})
        self.assertEqual(case.live_records(), {'assistance.case': case.id})

    @with_transaction()
    def test_task_recipients(self):
        "A task of another department reaches both departments"
        staff = create_staff()
        case = create_case(staff, staff['north'])
        task = create_task(case, staff, staff['south'],
            staff['south_member'], dt.datetime(2025, 1, 1, 12))
        self.assertEqual(task.live_recipients(), {
                staff['head'], staff['member'], staff['operator'],
                staff['south_member']})
        self.assertEqual(task.live_records(),
            {'assistance.task': task.id, 'assistance.case': case.id})

    @with_transaction()
    def test_heads_monitor_every_department(self):
        staff = create_staff()
        self.assertIn(staff['chief'], live.department_heads())
        self.assertNotIn(staff['member'], live.department_heads())


@unittest.skipUnless(backend.name == 'postgresql',
    "the Tryton bus needs PostgreSQL's LISTEN/NOTIFY (SQLite has no bus: "
    "the lists are refreshed by hand there)")
class LiveBusTestCase(unittest.TestCase):
    "The bus messages, sent at commit (PostgreSQL)"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        activate_module('assistance_case')

    def setUp(self):
        self.database = backend.Database(DB_NAME).connect()
        self.listener = self.database.get_connection(autocommit=True)
        self.listener.cursor().execute('LISTEN "bus"')

    def tearDown(self):
        self.listener.cursor().execute('UNLISTEN "bus"')
        self.database.put_connection(self.listener)

    def received(self, wait=5):
        "Return {channel: message} of the assistance messages published"
        result = {}
        end = time.monotonic() + wait
        while time.monotonic() < end:
            notifications = self.database.get_notifications(self.listener)
            for notification in notifications:
                payload = json.loads(notification.payload)
                message = payload['message']
                if message.get('type') == live.MESSAGE_TYPE:
                    message.pop('message_id')
                    result[payload['channel']] = message
            if result and not notifications:
                break
            time.sleep(0.1)
        return result

    def test_changes_reach_the_staff(self):
        with Transaction().start(DB_NAME, 0) as transaction:
            try:
                self._test_changes_reach_the_staff(transaction)
            finally:
                transaction.rollback()
                self._clean_up(transaction)

    def _test_changes_reach_the_staff(self, transaction):
        pool = Pool()
        Case = pool.get('assistance.case')
        Task = pool.get('assistance.task')
        staff = create_staff()
        transaction.commit()
        self.received(wait=0.5)

        # A new case: its department's staff, its operator and every
        # department head; not the other department.
        case = create_case(staff, staff['north'])
        transaction.commit()
        received = self.received()
        north = {f'user:{staff[u]}'
            for u in ['head', 'member', 'operator', 'chief']}
        self.assertLessEqual(north, received.keys())
        self.assertNotIn(f'user:{staff["south_member"]}', received)
        self.assertEqual(received[f'user:{staff["member"]}'], {
                'type': 'assistance.reload',
                'models': {'assistance.case': [case.id]}})

        # Nothing leaves a transaction rolled back.
        Case.start([case])
        transaction.rollback()
        self.assertEqual(self.received(wait=1), {})

        # A state change.
        Case.start([case])
        transaction.commit()
        self.assertIn(f'user:{staff["operator"]}', self.received())

        # A task given to the South reaches the South too, and reloads
        # the cases (pending tasks) as well as the tasks.
        control = dt.datetime.now() - dt.timedelta(hours=1)
        task = create_task(case, staff, staff['south'],
            staff['south_member'], control)
        transaction.commit()
        received = self.received()
        self.assertEqual(received[f'user:{staff["south_member"]}'], {
                'type': 'assistance.reload',
                'models': {
                    'assistance.case': [case.id],
                    'assistance.task': [task.id]}})

        # The overdue escalation of the scheduled job.
        _, overdue = Task.check_control_times()
        self.assertEqual(overdue, [task])
        transaction.commit()
        received = self.received()
        self.assertIn(f'user:{staff["south_member"]}', received)
        self.assertIn(f'user:{staff["head"]}', received)

        # Re-addressed from the South to the North: both hear of it.
        Task.write([task], {
                'department': staff['north'],
                'responsible': staff['member']})
        transaction.commit()
        received = self.received()
        self.assertIn(f'user:{staff["south_member"]}', received)
        self.assertIn(f'user:{staff["member"]}', received)

    def _clean_up(self, transaction):
        "The test database is shared: remove what was committed"
        pool = Pool()
        Case = pool.get('assistance.case')
        User = pool.get('res.user')
        Department = pool.get('assistance.department')
        Party = pool.get('party.party')
        Notification = pool.get('res.notification')
        users = User.search([('login', 'like', 'live_%')])
        Notification.delete(Notification.search([('user', 'in', users)]))
        Case.delete(Case.search([('insured.name', '=', "Live Insured")]))
        Party.delete(Party.search([('name', '=', "Live Insured")]))
        # Users cannot be deleted: leave them without department, inactive.
        User.write(users, {'assistance_department': None, 'active': False})
        Department.delete(Department.search(
                [('name', 'in', ["North", "South"])]))
        transaction.commit()
