# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Claims budget of an insurance contract (ACC-4), with Tryton's
account_budget when it is activated.

A budget may name a contract: its lines then count as actual only the moves
whose origin is an expense line of that contract — the accruals of its
claims on 20 and their storno —, per fiscal year and per period as
account_budget computes them.  account_budget passes the keys of
_get_amount_group_key as the context of account.move.line's query_get; the
contract is one more key, and query_get restricts the moves to it."""
from sql import Union

from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

CONTEXT = 'assistance_budget_contract'


class Budget(metaclass=PoolMeta):
    __name__ = 'account.budget'
    contract = fields.Many2One(
        'assistance.contract', "Contract", ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))],
        help="Only the claims of this contract count as actual: the "
        "accruals of its expense lines and their storno.")


class _ContractAmountMixin:
    __slots__ = ()

    @classmethod
    def _budget_of(cls, record):
        raise NotImplementedError

    @classmethod
    def _get_amount_group_key(cls, record):
        contract = cls._budget_of(record).contract
        return super()._get_amount_group_key(record) + (
            (CONTEXT, contract.id if contract else None),)


class BudgetLine(_ContractAmountMixin, metaclass=PoolMeta):
    __name__ = 'account.budget.line'

    @classmethod
    def _budget_of(cls, record):
        return record.budget


class BudgetLinePeriod(_ContractAmountMixin, metaclass=PoolMeta):
    __name__ = 'account.budget.line.period'

    @classmethod
    def _budget_of(cls, record):
        return record.budget_line.budget


class MoveLine(metaclass=PoolMeta):
    __name__ = 'account.move.line'

    @classmethod
    def query_get(cls, table):
        """Add to the lines of the ledger's query the restriction to the
        moves of a contract's expense lines when the context names it"""
        where, fiscalyear_ids = super().query_get(table)
        contract = Transaction().context.get(CONTEXT)
        if contract:
            where &= table.move.in_(cls._contract_moves_query(contract))
        return where, fiscalyear_ids

    @classmethod
    def _contract_moves_query(cls, contract_id):
        """Return the query of the moves of contract's claims: the accruals
        whose origin is its expense line, and their storno (account.move's
        cancel gives the storno the accrual as origin)"""
        pool = Pool()
        Move = pool.get('account.move')
        ExpenseLine = pool.get('assistance.expense.line')
        move = Move.__table__()
        storno = Move.__table__()
        expense = ExpenseLine.__table__()
        origin = Move._fields['origin']

        def points_to(column, Target, id_):
            return (column.like(Target.__name__ + ',%')
                & (origin.sql_id(column, Target) == id_))
        accruals = move.join(expense,
            condition=points_to(move.origin, ExpenseLine, expense.id)
            ).select(move.id, where=expense.contract == contract_id)
        return Union(accruals, storno.select(storno.id,
                where=storno.origin.like(Move.__name__ + ',%')
                & origin.sql_id(storno.origin, Move).in_(accruals)),
            all_=True)
