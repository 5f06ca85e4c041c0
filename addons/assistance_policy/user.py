# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.model import ModelSQL, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval


class User(metaclass=PoolMeta):
    __name__ = 'res.user'

    assistance_insurers = fields.Many2Many(
        'res.user-assistance.insurer', 'user', 'insurer', "Insurers",
        context={'company': Eval('company', -1)}, depends={'company'},
        help="The insurers whose contracts, policies and cases the user "
        "sees as a contract manager (insurer staff).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._context_fields.insert(0, 'assistance_insurers')

    @classmethod
    def default_language(cls):
        "New users work in Russian when it is loaded"
        Lang = Pool().get('ir.lang')
        langs = Lang.search([
                ('code', '=', 'ru'),
                ('translatable', '=', True),
                ], limit=1)
        return langs[0].id if langs else None


class UserInsurer(ModelSQL):
    __name__ = 'res.user-assistance.insurer'
    __string__ = "User - Insurer"

    user = fields.Many2One(
        'res.user', "User", required=True, ondelete='CASCADE')
    insurer = fields.Many2One(
        'party.party', "Insurer", required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # Who may change the user may change the insurers he serves.
        cls.__access__.add('user')
