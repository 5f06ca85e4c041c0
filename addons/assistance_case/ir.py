# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

# The models whose record rules may read the user's department.
DEPARTMENT_MODELS = {'assistance.task'}


def _user_department():
    User = Pool().get('res.user')
    user = Transaction().user
    department = User(user).assistance_department if user else None
    return department.id if department else -1


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _get_context(cls, model_name):
        context = super()._get_context(model_name)
        if model_name in DEPARTMENT_MODELS:
            context['assistance_department'] = _user_department()
        return context

    @classmethod
    def _get_cache_key(cls, model_names):
        key = super()._get_cache_key(model_names)
        if DEPARTMENT_MODELS & set(model_names):
            key = (*key, _user_department())
        return key
