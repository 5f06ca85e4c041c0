# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
import os

import polib

from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access

# Types whose translation is found by its source text too
# (as in ir.translation's override_translation).
BY_SOURCE = {'report', 'view', 'wizard_button', 'selection'}


class Translation(metaclass=PoolMeta):
    __name__ = 'ir.translation'

    @classmethod
    def translation_import(cls, lang, module, po_path):
        count = super().translation_import(lang, module, po_path)
        if isinstance(po_path, str):
            po_path = [po_path]
        overrides = [p for p in po_path
            if os.sep + 'override' + os.sep in p]
        if overrides:
            cls._accept_overrides(lang, module, overrides)
        return count

    @classmethod
    def _accept_overrides(cls, lang, module, paths):
        """Unmark fuzzy the translations our overrides confirm

        An override whose text equals the overridden module's fuzzy
        translation changes nothing, so the string stays fuzzy and the user
        reads English (trytond 8.0 compares the values only)."""
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        entries = []
        for path in paths:
            for entry in polib.pofile(path):
                if entry.obsolete or 'fuzzy' in entry.flags:
                    continue
                translation, res_id = cls.from_poentry(entry)
                if '.' in res_id:
                    entries.append((translation, *res_id.split('.')))
        modules = {m for _, m, _ in entries}
        fuzzy = {}
        for translation in cls.search([
                    ('lang', '=', lang),
                    ('module', 'in', list(modules)),
                    ('fuzzy', '=', True),
                    ]):
            fuzzy[cls._override_key(translation, translation.module,
                    translation.res_id)] = translation
        if not fuzzy:
            return
        db_ids = {(d.module, d.fs_id): d.db_id for d in ModelData.search([
                    ('module', 'in', list(modules)),
                    ])}
        to_save = []
        for new, res_module, fs_id in entries:
            res_id = db_ids.get((res_module, fs_id)) if fs_id else -1
            old = fuzzy.get(cls._override_key(new, res_module, res_id))
            if old and (old.value, old.value_1, old.value_2, old.value_3) == (
                    new.value, new.value_1, new.value_2, new.value_3):
                old.fuzzy = False
                old.overriding_module = module
                to_save.append(old)
        cls.save(to_save)

    @staticmethod
    def _override_key(translation, module, res_id):
        key = (module, translation.type, translation.name, res_id)
        if translation.type in BY_SOURCE:
            key += (translation.src, translation.src_plural or None)
        return key


def _user_insurers():
    "The insurers the user serves as a contract manager, as a sorted tuple"
    User = Pool().get('res.user')
    user = Transaction().user
    if not user:
        return ()
    # The rule reads the user's own setting, whatever his access to users
    with without_check_access():
        return tuple(sorted(i.id for i in User(user).assistance_insurers))


def _insurer_models(model_names):
    "Whether the record rules of these models may read the user's insurers"
    return any(m.startswith('assistance.') for m in model_names)


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _get_context(cls, model_name):
        context = super()._get_context(model_name)
        if _insurer_models([model_name]):
            context['assistance_insurers'] = list(_user_insurers())
        return context

    @classmethod
    def _get_cache_key(cls, model_names):
        key = super()._get_cache_key(model_names)
        if _insurer_models(model_names):
            key = (*key, _user_insurers())
        return key
