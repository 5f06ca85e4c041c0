# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"Orders and refusals on the case, the order sequence, the expense origin"
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, Id


class Configuration(metaclass=PoolMeta):
    __name__ = 'assistance.case.configuration'

    order_sequence = fields.Many2One(
        'ir.sequence', "Order Sequence", required=True,
        domain=[
            ('sequence_type', '=',
                Id('assistance_order', 'sequence_type_order')),
            ],
        help="The numbers of new service orders, e.g. ЗУ-000123.")

    @classmethod
    def default_order_sequence(cls):
        ModelData = Pool().get('ir.model.data')
        return ModelData.get_id('assistance_order', 'sequence_order')


class Case(metaclass=PoolMeta):
    __name__ = 'assistance.case'

    orders = fields.One2Many(
        'assistance.order', 'case', "Service Orders",
        states={'readonly': ~Eval('state').in_(['open', 'in_progress'])})
    refusals = fields.One2Many(
        'assistance.refusal', 'case', "Refusals",
        states={'readonly': ~Eval('state').in_(['open', 'in_progress'])})


class ExpenseLine(metaclass=PoolMeta):
    __name__ = 'assistance.expense.line'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['assistance.order.line']


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('assistance.order|check_delivery',
                "Control the Delivery of Service Orders"))
        cls.method.selection.append(
            ('assistance.order|resume_letters',
                "Resume the Guarantee Letters Left Pending"))

