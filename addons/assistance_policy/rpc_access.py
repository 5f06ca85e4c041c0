# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Access to our RPC methods (issue #12): checked as ModelView.button checks
a button.

A method is given to groups by an ir.model.button record named after it
(with its ir.model.button-res.group records); the caller needs the read
access of the models whose data it returns; the ids it returns are those
the caller's record rules let him read.  Nothing is checked for root and
for internal calls (no access checking in the transaction)."""
from functools import wraps

from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .exceptions import RPCAccessError


def rpc_access(*model_names):
    """Decorate a classmethod called by RPC: check the groups of its
    ir.model.button record and the read access of its model and of
    model_names (the other models whose data it returns)"""
    def decorator(func):
        @wraps(func)
        def wrapper(cls, *args, **kwargs):
            if _checking():
                check_rpc_access(cls, func.__name__, model_names)
            return func(cls, *args, **kwargs)
        return wrapper
    return decorator


def _checking():
    transaction = Transaction()
    return bool(transaction.user and transaction.check_access)


def check_rpc_access(Model, name, model_names=()):
    "Raise RPCAccessError unless the user may call the method name of Model"
    pool = Pool()
    Button = pool.get('ir.model.button')
    ModelAccess = pool.get('ir.model.access')
    User = pool.get('res.user')
    groups = Button.get_groups(Model.__name__, name)
    if groups and not groups & set(User.get_groups()):
        label = Button.get_view_attributes(
            Model.__name__, name).get('string') or name
        raise RPCAccessError(gettext('assistance_policy.msg_rpc_access',
                method=label, **Model.__names__()))
    for model_name in (Model.__name__, *model_names):
        ModelAccess.check(model_name, 'read')


def rule_query(model_name):
    """Return the sub-query of the ids of model_name that the record rules
    let the user read, or None when no rule restricts him"""
    Rule = Pool().get('ir.rule')
    if not _checking() or not Rule.domain_get(model_name, mode='read'):
        return None
    return Rule.query_get(model_name, mode='read')


def readable_ids(model_name, ids):
    "Return the set of ids among ids that the user may read (record rules)"
    ids = set(ids)
    query = rule_query(model_name) if ids else None
    if query is None:
        return ids
    table = Pool().get(model_name).__table__()
    cursor = Transaction().connection.cursor()
    readable = set()
    for sub in grouped_slice(sorted(ids)):
        cursor.execute(*table.select(table.id,
                where=reduce_ids(table.id, sub) & table.id.in_(query)))
        readable.update(i for i, in cursor)
    return readable
