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
from trytond.modules.currency.fields import Monetary
from trytond.modules.account.exceptions import PeriodNotFoundError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

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
    accrual_adjustment = Monetary(
        "Accrual Adjustment", currency='currency', digits='currency',
        readonly=True,
        help="The part of the covered amount the provider's register did "
        "not claim or the check did not accept: taken off the accrual, it "
        "is not owed to the payee.")
    accrual_adjustment_move = fields.Many2One(
        'account.move', "Accrual Adjustment Move", readonly=True,
        ondelete='RESTRICT',
        help="The posted move that took the adjustment off the accrual.")
    accrual_adjustment_cancel_move = fields.Many2One(
        'account.move', "Accrual Adjustment Storno", readonly=True,
        ondelete='RESTRICT',
        help="The posted move that reversed the adjustment when the line "
        "was cancelled.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # Written by the transitions on a line in the ledger, never by a
        # client: a client's accrual_move would stop the posting.
        accrual = {'accrual_move', 'accrual_cancel_move',
            'accrual_adjustment', 'accrual_adjustment_move',
            'accrual_adjustment_cancel_move'}
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
        default.setdefault('accrual_adjustment', None)
        default.setdefault('accrual_adjustment_move', None)
        default.setdefault('accrual_adjustment_cancel_move', None)
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

    @property
    def owed_amount(self):
        """The covered amount owed to the payee: the covered amount but the
        adjustment the provider's register did not claim"""
        return ((self.covered_amount or Decimal(0))
            - (self.accrual_adjustment or Decimal(0)))

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
        adjusted = [l for l in lines
            if l.accrual_adjustment_move
            and not l.accrual_adjustment_cancel_move]
        adjustment_stornos = [
            l.accrual_adjustment_move.cancel() for l in adjusted]
        Move.post(stornos + adjustment_stornos)
        cls.write(*[x for line, storno in zip(lines, stornos)
                for x in ([line], {'accrual_cancel_move': storno.id})])
        if adjusted:
            cls.write(*[x for line, storno in zip(
                        adjusted, adjustment_stornos)
                    for x in ([line], {
                            'accrual_adjustment_cancel_move': storno.id,
                            })])
        cls.reconcile_accrual(cls.browse([l.id for l in lines]))

    def _accrual_moves(self):
        "Return the posted moves of the line on the accrual account"
        return [m for m in [
                self.accrual_move, self.accrual_cancel_move,
                self.accrual_adjustment_move,
                self.accrual_adjustment_cancel_move] if m]

    @classmethod
    @without_check_access
    def reconcile_accrual(cls, lines):
        """Reconcile the open lines of each expense line on the accrual
        account that net to zero per payee: the accrual with its storno, its
        adjustment and the posted invoice lines billing it"""
        pool = Pool()
        MoveLine = pool.get('account.move.line')
        InvoiceLine = pool.get('account.invoice.line')
        groups = []
        for line in lines:
            move_lines = [ml for m in line._accrual_moves() for ml in m.lines]
            origins = [f'{InvoiceLine.__name__},{il.id}'
                for il in getattr(line, 'invoice_lines', ())]
            if origins:
                move_lines += MoveLine.search([
                        ('origin', 'in', origins),
                        ('move.state', '=', 'posted'),
                        ])
            by_key = {}
            for ml in move_lines:
                if ml.account.reconcile and not ml.reconciliation:
                    by_key.setdefault((ml.account, ml.party), []).append(ml)
            for group in by_key.values():
                if (len(group) > 1
                        and sum(ml.debit - ml.credit for ml in group) == 0):
                    groups.append(group)
        if groups:
            MoveLine.reconcile(*groups)

    @classmethod
    def adjust_accrual(cls, adjustments):
        """Take off the accrual of each actual line the part of its covered
        amount not owed (line, amount): a posted move debiting the accrual
        account and crediting the claims expense under the payee; the
        posted accrual is never changed"""
        Move = Pool().get('account.move')
        adjustments = [(l, a) for l, a in adjustments
            if a and a > 0 and l.accrued and not l.accrual_adjustment_move]
        if not adjustments:
            return
        moves = [l.get_accrual_move(amount=a, adjustment=True)
            for l, a in adjustments]
        Move.save(moves)
        Move.post(moves)
        cls.write(*[x for (line, amount), move in zip(adjustments, moves)
                for x in ([line], {
                        'accrual_adjustment': amount,
                        'accrual_adjustment_move': move.id,
                        'accrual_adjustment_cancel_move': None,
                        })])

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

    def get_accrual_move(self, amount=None, adjustment=False):
        """Return the unsaved accrual move of the line, of amount (in the
        line's currency) when given; the adjustment's move debits the
        accrual and credits the claims expense"""
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
        amount, second = self._accrual_amounts(company, amount)
        debit, credit = (
            (Decimal(0), amount) if adjustment else (amount, Decimal(0)))
        move.lines = [
            self._accrual_move_line(
                config['claims_expense_account'], debit, credit, second),
            self._accrual_move_line(
                config['accrual_account'], credit, debit, second,
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

    def _accrual_amounts(self, company, amount=None):
        """Return the covered amount (or amount) in the company's currency
        and, for a contract in another currency, the currency and amount of
        the line"""
        Currency = Pool().get('currency.currency')
        if amount is None:
            amount = self.covered_amount
        if self.currency == company.currency:
            return company.currency.round(amount), None
        with Transaction().set_context(date=self.date):
            company_amount = Currency.compute(
                self.currency, amount, company.currency)
        return company_amount, (self.currency, amount)

