# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Supplier invoice lines allocated to expense lines (BIL-2, BIL-3, ACC-2).

A line of a provider's invoice is allocated to the expense line it bills by
its origin, as a purchase line is the origin of the invoice line that bills
it; the accrual account (76.05) is the line's account, so posting the
invoice moves the debt from the accrual to the payable (60)."""
from trytond.model import fields
from trytond.pool import PoolMeta


class InvoiceLine(metaclass=PoolMeta):
    __name__ = 'account.invoice.line'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['assistance.expense.line']


class ExpenseLine(metaclass=PoolMeta):
    __name__ = 'assistance.expense.line'
    invoice_lines = fields.One2Many(
        'account.invoice.line', 'origin', "Invoice Lines", readonly=True,
        help="The lines of the provider's invoices that bill this expense.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._server_fields |= {'invoice_lines'}

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('invoice_lines', None)
        return super().copy(lines, default=default)
