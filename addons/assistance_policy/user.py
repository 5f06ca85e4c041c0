# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.pool import Pool, PoolMeta


class User(metaclass=PoolMeta):
    __name__ = 'res.user'

    @classmethod
    def default_language(cls):
        "New users work in Russian when it is loaded"
        Lang = Pool().get('ir.lang')
        langs = Lang.search([
                ('code', '=', 'ru'),
                ('translatable', '=', True),
                ], limit=1)
        return langs[0].id if langs else None
