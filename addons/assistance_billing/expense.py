# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The accrual of actual expense lines in the ledger and its storno (ACC-1,
ACC-2, BIL-1).

One move per expense line: the move's origin is the line, and cancelling a
line reverses exactly its own move with Tryton's Move.cancel, which reverses
whole moves; a move per batch or per payee would need partial reversals."""
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.modules.account.exceptions import PeriodNotFoundError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction

from .exceptions import AccrualError


class ExpenseLine(metaclass=PoolMeta):
    __name__ = 'assistance.expense.line'
    accrual_move = fields.Many2One(
        'account.move', "Accrual Move", readonly=True, ondelete='RESTRICT',
        help="The posted move that records the covered amount as owed to "
        "the payee when the line became actual.")
    accrual_cancel_move = fields.Many2One(
        'account.move', "Accrual Storno", readonly=True, ondelete='RESTRICT',
        help="The posted move that reversed the accrual when the line was "
        "cancelled.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # Written by the transitions on a line in the ledger, never by a
        # client: a client's accrual_move would stop the posting.
        accrual = {'accrual_move', 'accrual_cancel_move'}
        cls._check_modify_exclude |= accrual
        cls._server_fields |= accrual
        cls._buttons.update({
                'mark_actual': {
                    'invisible': Eval('state') != 'declared',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('accrual_move', None)
        default.setdefault('accrual_cancel_move', None)
        return super().copy(lines, default=default)

    @classmethod
    @ModelView.button
    def mark_actual(cls, lines):
        "Confirm the service was rendered until provider registers do it"
        cls.confirm(lines)

    @classmethod
    def confirm(cls, lines):
        super().confirm(lines)
        cls.accrue(cls.browse([l.id for l in lines]))

    @classmethod
    def cancel(cls, lines):
        super().cancel(lines)
        cls.reverse_accrual(cls.browse([l.id for l in lines]))

    @property
    def accrued(self):
        "Tell whether the covered amount stands in the accrual account"
        return bool(self.accrual_move and not self.accrual_cancel_move)

    @classmethod
    def accrue(cls, lines):
        "Post the accrual of the actual lines that are not accrued yet"
        Move = Pool().get('account.move')
        lines = [l for l in lines
            if l.state == 'actual' and not l.accrued and l.covered_amount]
        if not lines:
            return
        moves = [l.get_accrual_move() for l in lines]
        Move.save(moves)
        Move.post(moves)
        cls.write(*[x for line, move in zip(lines, moves)
                for x in ([line], {
                        'accrual_move': move.id,
                        'accrual_cancel_move': None,
                        })])

    @classmethod
    def reverse_accrual(cls, lines):
        "Post the storno of the accrual of the cancelled lines"
        Move = Pool().get('account.move')
        lines = [l for l in lines if l.state == 'cancelled' and l.accrued]
        if not lines:
            return
        stornos = [l.accrual_move.cancel() for l in lines]
        Move.post(stornos)
        for line, storno in zip(lines, stornos):
            line._reconcile_accrual(storno)
        cls.write(*[x for line, storno in zip(lines, stornos)
                for x in ([line], {'accrual_cancel_move': storno.id})])

    def _reconcile_accrual(self, storno):
        "Reconcile the accrual with its storno: nothing is owed any more"
        MoveLine = Pool().get('account.move.line')
        groups = {}
        for line in self.accrual_move.lines + storno.lines:
            if line.account.reconcile and not line.reconciliation:
                groups.setdefault((line.account, line.party), []).append(line)
        for group in groups.values():
            if len(group) > 1:
                MoveLine.reconcile(group)

    @property
    def accrual_company(self):
        return self.policy.contract.company

    @property
    def accrual_payee(self):
        """Return the party the covered amount is owed to: the provider of
        the order or the head office paid for it, else the insured person
        reimbursed; override for origins with their own payee"""
        OrderLine = Pool().get('assistance.order.line')
        if isinstance(self.origin, OrderLine):
            return self.origin.order.provider.provider_payee()
        return self.policy.insured

    def get_accrual_move(self):
        "Return the unsaved accrual move of the line"
        pool = Pool()
        Move = pool.get('account.move')
        company = self.accrual_company
        config = self._accrual_configuration(company)
        move = Move(
            company=company,
            journal=config['accrual_journal'],
            period=self._accrual_period(company),
            date=self.date,
            origin=self,
            description=self.rec_name)
        amount, second = self._accrual_amounts(company)
        move.lines = [
            self._accrual_move_line(
                config['claims_expense_account'], amount, Decimal(0), second),
            self._accrual_move_line(
                config['accrual_account'], Decimal(0), amount, second,
                party=self.accrual_payee),
            ]
        return move

    def _accrual_move_line(self, account, debit, credit, second, party=None):
        MoveLine = Pool().get('account.move.line')
        line = MoveLine(
            account=account, debit=debit, credit=credit, party=party,
            description=self.rec_name)
        if second:
            currency, amount = second
            line.second_currency = currency
            line.amount_second_currency = amount if debit else -amount
        return line

    def _accrual_configuration(self, company):
        "Return the configured accounts and journal or raise"
        Configuration = Pool().get('assistance.billing.configuration')
        config = Configuration(1)
        values = {}
        for name in [
                'claims_expense_account', 'accrual_account',
                'accrual_journal']:
            values[name] = config.get_multivalue(name, company=company.id)
            if not values[name]:
                raise AccrualError(gettext(
                        'assistance_billing.msg_accrual_not_configured',
                        line=self.rec_name, company=company.rec_name,
                        field=Configuration.__names__(field=name)['field']))
        return values

    def _accrual_period(self, company):
        "Return the open period of the line's date or raise"
        pool = Pool()
        Lang = pool.get('ir.lang')
        Period = pool.get('account.period')
        try:
            return Period.find(company, date=self.date)
        except PeriodNotFoundError:
            raise AccrualError(gettext(
                    'assistance_billing.msg_accrual_no_period',
                    line=self.rec_name, company=company.rec_name,
                    date=Lang.get().strftime(self.date)))

    def _accrual_amounts(self, company):
        """Return the covered amount in the company's currency and, for a
        contract in another currency, the currency and amount of the line"""
        Currency = Pool().get('currency.currency')
        if self.currency == company.currency:
            return company.currency.round(self.covered_amount), None
        with Transaction().set_context(date=self.date):
            amount = Currency.compute(
                self.currency, self.covered_amount, company.currency)
        return amount, (self.currency, self.covered_amount)

