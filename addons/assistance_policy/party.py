# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import Pool, PoolMeta

from . import policy_import_rules as rules
from .exceptions import PartyValidationError


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

    @classmethod
    def validate_fields(cls, parties, field_names):
        super().validate_fields(parties, field_names)
        cls.check_birth_date(parties, field_names)

    @classmethod
    def check_birth_date(cls, parties, field_names=None):
        "The rule of the policy list import: not in the future, not < 1900"
        if field_names and 'birth_date' not in field_names:
            return
        today = Pool().get('ir.date').today()
        for party in parties:
            if rules.birth_date_error(party.birth_date, today):
                raise PartyValidationError(gettext(
                        'assistance_policy.msg_party_birth_date',
                        party=party.rec_name))
