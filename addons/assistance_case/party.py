# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.model import fields
from trytond.pool import PoolMeta


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    assistance_cases = fields.One2Many(
        'assistance.case', 'insured', "Assistance Cases", readonly=True,
        order=[('request_time', 'DESC'), ('id', 'DESC')],
        help="Every case of the insured person, in all policy periods (P6).")
