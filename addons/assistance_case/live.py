# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Live monitoring (CASE-1, P3): tell the open web clients of the staff that
cases or tasks changed, so their lists reload without the user asking.

The changes of a transaction are collected and published on the Tryton bus
(PostgreSQL NOTIFY, sent by the same transaction: nothing leaves on rollback)
on each recipient's own `user:<id>` channel, which the bus gives every logged
in client.  webclient/live.js reloads the open lists of those models."""
import collections

from trytond.bus import Bus
from trytond.pool import Pool
from trytond.transaction import Transaction

MESSAGE_TYPE = 'assistance.reload'
# Beyond this many ids per model the message says only "reload the model".
MAX_IDS = 100


def message(models):
    "Return the bus message for the changed {model: ids}"
    return {
        'type': MESSAGE_TYPE,
        'models': {
            model: sorted(ids) if len(ids) <= MAX_IDS else None
            for model, ids in sorted(models.items())},
        }


class LiveDataManager:
    "Collect who must hear of which changed records, publish on commit"

    def __init__(self):
        self.changes = collections.defaultdict(
            lambda: collections.defaultdict(set))

    def __eq__(self, other):
        if not isinstance(other, LiveDataManager):
            return NotImplemented
        return True

    def add(self, users, records):
        "Tell users that records ({model: id}) changed"
        for user in users:
            for model, record_id in records.items():
                self.changes[user][model].add(record_id)

    def tpc_begin(self, transaction):
        pass

    def commit(self, transaction):
        # NOTIFY inside the transaction: PostgreSQL delivers it at commit.
        with Transaction().set_current_transaction(transaction):
            for user, models in sorted(self.changes.items()):
                Bus.publish(f'user:{user}', message(models))
        self.changes.clear()

    def tpc_vote(self, transaction):
        pass

    def tpc_finish(self, transaction):
        pass

    def tpc_abort(self, transaction):
        self.changes.clear()


def department_heads():
    "Return the ids of the department heads: they monitor every department"
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    group = ModelData.get_id('assistance_policy', 'group_department_head')
    return {u.id for u in User.search([('groups', '=', group)])}


def department_staff(department):
    "Return the ids of the members and the head of department"
    if not department:
        return set()
    users = {u.id for u in department.members}
    if department.head:
        users.add(department.head.id)
    return users


class LiveMixin:
    "Publish the changes of the records to the staff who monitor them"
    __slots__ = ()

    @classmethod
    def create(cls, vlist):
        records = super().create(vlist)
        cls._live_publish(records)
        return records

    @classmethod
    def write(cls, *args):
        actions = iter(args)
        ids = [r.id for records, _ in zip(actions, actions) for r in records]
        # Before and after: a re-addressed record leaves one department's
        # list and enters another's.
        cls._live_publish(cls.browse(ids))
        super().write(*args)
        cls._live_publish(cls.browse(ids))

    @classmethod
    def delete(cls, records):
        cls._live_publish(records)
        super().delete(records)

    @classmethod
    def _live_publish(cls, records):
        transaction = Transaction()
        if not records or not transaction.database.has_channel():
            return
        manager = transaction.join(LiveDataManager())
        heads = department_heads()
        for record in records:
            manager.add(
                record.live_recipients() | heads, record.live_records())

    def live_recipients(self):
        "Return the ids of the users whose lists show the record"
        raise NotImplementedError

    def live_records(self):
        "Return {model: id} of the records whose lines change with this one"
        return {self.__name__: self.id}
