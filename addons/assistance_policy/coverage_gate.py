# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The queue of the declarations on PostgreSQL (P5 under contention).

A declaration must read the ledger's sums in a snapshot taken after every
earlier declaration on the same limits committed.  Under REPEATABLE READ a
snapshot is taken by a transaction's first statement, so a lock waited for
inside the transaction leaves it reading stale sums; Tryton therefore takes
its row locks at the start of a retried transaction with NOWAIT, and under
contention its few short retries give up (HTTP 503).

When nobody holds the keys, the transaction takes them itself
(pg_try_advisory_xact_lock) and goes on: no second attempt.  Otherwise the
waiting happens between two attempts, where no snapshot exists: the first
attempt raises CoverageGateError; after the rollback, its fix()
waits — in PostgreSQL's own queue, first come first served — for advisory
locks held by a second connection of the same database (the gate), one per
policy and per aggregate limit, always taken in the same order (no
deadlock); the retried attempt then starts, with a fresh snapshot, while the
gate is held, and the gate is released after it commits or rolls back.

The gate orders the declarations; it is not what keeps them correct: the
gated transaction still updates the coverage_version of its rows before it
reads the sums (a waiting row lock), so a declaration that bypassed the gate
(the gate timed out, its connection was lost) makes one of the two fail with
a serialization error and retry, never overspend."""
import logging
import threading
import time
import zlib

import trytond.config as config
from trytond.transaction import Transaction, TransactionError

logger = logging.getLogger(__name__)

__all__ = ['gate_keys', 'claim', 'CoverageGateError']

# The first key of the advisory locks, one per locked table (int4).
_NAMESPACE = {}
# The gates acquired by fix() and not yet claimed by the retried attempt,
# by thread and database.
_pending = {}
_pending_lock = threading.Lock()
# An unclaimed gate (the retried attempt never came) is released after this.
UNCLAIMED = 30


def _namespace(table):
    if table not in _NAMESPACE:
        _NAMESPACE[table] = zlib.crc32(
            f'assistance.gate.{table}'.encode()) & 0x7fffffff
    return _NAMESPACE[table]


def gate_keys(items):
    """Return the advisory keys of items ((table, id) pairs) in the one
    order every declaration takes them"""
    return tuple(sorted({(_namespace(t), i) for t, i in items}))


def gate_keys_union(*key_sets):
    return tuple(sorted(set().union(*key_sets)))


def _settings():
    return (
        config.getint('assistance_policy', 'lock_timeout', default=60),
        config.getint('assistance_policy', 'gate_idle_timeout', default=300),
        )


class _Gate:
    "The advisory locks held by a connection of their own"

    def __init__(self, database, keys):
        self.database = database
        self.keys = keys
        self.connection = None
        self.acquired_at = None

    def acquire(self):
        "Wait for every key; return False when the wait timed out"
        lock_timeout, idle_timeout = _settings()
        started = time.monotonic()
        self.connection = self.database.get_connection()
        try:
            cursor = self.connection.cursor()
            # A gate left behind by a dead process is released by PostgreSQL.
            cursor.execute("SET LOCAL idle_in_transaction_session_timeout "
                f"= '{int(idle_timeout)}s'")
            cursor.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout)}s'")
            for key in self.keys:
                cursor.execute(
                    'SELECT pg_advisory_xact_lock(%s, %s)', key)
        except Exception as exception:
            logger.warning("coverage gate %s not acquired: %s", self.keys,
                exception)
            self.release()
            return False
        self.acquired_at = time.monotonic()
        logger.debug("coverage gate %s acquired in %.3f s", self.keys,
            self.acquired_at - started)
        return True

    def release(self):
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.rollback()
        except Exception:
            # Its session ended (PostgreSQL restarted): the locks went with it.
            logger.info("coverage gate connection lost", exc_info=True)
            try:
                connection.close()
            except Exception:
                pass
        try:
            self.database.put_connection(connection)
        except Exception:
            logger.info("coverage gate connection not returned",
                exc_info=True)

    # The datamanager interface: released when the gated transaction ends.
    def tpc_begin(self, transaction):
        pass

    def commit(self, transaction):
        pass

    def tpc_vote(self, transaction):
        pass

    def tpc_finish(self, transaction):
        self.release()

    def tpc_abort(self, transaction):
        self.release()


def _slot():
    transaction = Transaction()
    return (threading.get_ident(), transaction.database.name)


def _sweep(now=None):
    "Release the gates whose retried attempt never came"
    now = time.monotonic() if now is None else now
    with _pending_lock:
        stale = [k for k, g in _pending.items()
            if now - g.acquired_at > UNCLAIMED]
        gates = [_pending.pop(k) for k in stale]
    for gate in gates:
        logger.warning("coverage gate %s released unclaimed", gate.keys)
        gate.release()


class _Ungated:
    "The wait at the gate timed out: the next attempt goes on without it"

    def __init__(self, keys):
        self.keys = keys
        self.acquired_at = time.monotonic()

    def release(self):
        pass


def claim(keys):
    """Return True when this transaction may declare on keys: it runs under
    a gate holding them (released with the transaction), or its wait at the
    gate timed out; a gate of this thread for other keys is released"""
    _sweep()
    if set(keys) <= held_keys():
        # A second declaration in the same gated transaction.
        return True
    with _pending_lock:
        gate = _pending.pop(_slot(), None)
    if gate is None:
        return _try_keys(keys)
    if not set(keys) <= set(gate.keys):
        gate.release()
        return False
    if isinstance(gate, _Gate):
        Transaction().join(gate)
    return True


def _try_keys(keys):
    """Take the keys in the transaction itself when nobody holds them (no
    contention: no second attempt); return False at the first key held
    elsewhere (those taken go with the rollback).  A declaration whose
    snapshot predates a concurrent one on the same rows still fails on its
    coverage_version update and retries, as without the gate."""
    cursor = Transaction().connection.cursor()
    for key in keys:
        cursor.execute('SELECT pg_try_advisory_xact_lock(%s, %s)', key)
        taken, = cursor.fetchone()
        if not taken:
            return False
    Transaction().join(_Held(keys))
    return True


class _Held:
    """Keys taken by the transaction itself: released by PostgreSQL when it
    commits or rolls back (transaction-level advisory locks)"""

    def __init__(self, keys):
        self.keys = keys

    def tpc_begin(self, transaction):
        pass

    def commit(self, transaction):
        pass

    def tpc_vote(self, transaction):
        pass

    def tpc_finish(self, transaction):
        pass

    def tpc_abort(self, transaction):
        pass


def held_keys():
    "Return the keys the current transaction holds, at a gate or itself"
    return {k for d in Transaction()._datamanagers
        if isinstance(d, (_Gate, _Held)) for k in d.keys}


class CoverageGateError(TransactionError):
    """Restart the transaction after waiting at the gate of keys (the fix
    runs after the rollback, between the two attempts)"""

    def __init__(self, keys):
        super().__init__()
        # With those it already holds: they are released by the rollback.
        self.keys = gate_keys_union(keys, held_keys())
        self.slot = _slot()
        self.database = Transaction().database

    def fix(self, extras):
        super().fix(extras)
        with _pending_lock:
            previous = _pending.pop(self.slot, None)
        if previous:
            previous.release()
        gate = _Gate(self.database, self.keys)
        if not gate.acquire():
            # Not served in time: the attempt goes on without the gate (its
            # row updates still guard the limits).
            gate = _Ungated(self.keys)
        with _pending_lock:
            _pending[self.slot] = gate
