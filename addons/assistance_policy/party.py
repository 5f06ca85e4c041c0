# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.model import fields
from trytond.pool import PoolMeta


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    birth_date = fields.Date("Birth Date")
    gender = fields.Selection([
            (None, ""),
            ('male', "Male"),
            ('female', "Female"),
            ], "Gender")
    id_document = fields.Char(
        "Identity Document",
        help="Series and number of the passport or another identity "
        "document of the insured person.")
    insured_policies = fields.One2Many(
        'assistance.policy', 'insured', "Policies", readonly=True)
