# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Reading the Russian ICD-10 reference (МКБ-10) as the health ministry's
reference service (НСИ Минздрава, OID 1.2.643.5.1.13.13.11.1005) publishes
it: a CSV (UTF-8 or Windows-1251, «;» or «,» separated) or a workbook with
one row per record and the columns ID, MKB_CODE, MKB_NAME, ID_PARENT,
ACTUAL (REC_CODE, ADDL_CODE, DATE… are ignored).  Pure functions: the
database side is assistance.diagnosis.import."""
import csv
import io
import re
from collections import namedtuple

from openpyxl.utils import get_column_letter

from trytond.modules.assistance_policy import policy_import_rules as rules

SYNONYMS = {
    'nsi_id': ['ID', 'Идентификатор', 'Уникальный идентификатор',
        'Код записи'],
    'code': ['MKB_CODE', 'Код МКБ', 'Код МКБ-10', 'Код по МКБ-10', 'Код'],
    'name': ['MKB_NAME', 'Наименование', 'Наименование диагноза',
        'Название', 'Диагноз'],
    'parent_nsi_id': ['ID_PARENT', 'PARENT_ID', 'Родитель',
        'Идентификатор родителя', 'Код родителя'],
    'actual': ['ACTUAL', 'Актуальность', 'Признак актуальности',
        'Актуален', 'Актуальна'],
    }
REQUIRED = ('code', 'name')
MAX_NAME = 1000

# The reasons a row is refused (msg_icd10_<reason> in message.xml)
REASONS = ('code_missing', 'code_invalid', 'name_missing', 'name_long',
    'id_invalid', 'actual_invalid', 'duplicate')

_CYRILLIC_TO_LATIN = str.maketrans({
        'А': 'A', 'В': 'B', 'С': 'C', 'Е': 'E', 'Н': 'H', 'К': 'K',
        'М': 'M', 'О': 'O', 'Р': 'P', 'Т': 'T', 'Х': 'X', 'У': 'Y',
        })
_CATEGORY = re.compile(r'^[A-Z]\d\d$')
_SUBCATEGORY = re.compile(r'^[A-Z]\d\d\.\d{1,2}$')
_BLOCK = re.compile(r'^([A-Z]\d\d)-([A-Z]\d\d)$')
_TRUE = {'1', 'true', 'да', 'истина', 'y', 'yes', 't'}
_FALSE = {'0', 'false', 'нет', 'ложь', 'n', 'no', 'f'}

Record = namedtuple('Record', ['row', 'code', 'name', 'level', 'nsi_id',
        'parent_nsi_id', 'actual'])
RowProblem = namedtuple('RowProblem', ['row', 'column', 'reason', 'value'])


def normalise_code(value):
    """Return the ICD-10 code of a cell: upper case, Cyrillic look-alike
    letters («А00» typed in Cyrillic) in Latin, without the dagger and
    asterisk marks («A17.0+», «G01*») nor spaces; a range keeps its dash"""
    text = rules.cell_text(value)
    if not text:
        return None
    text = text.upper().translate(_CYRILLIC_TO_LATIN)
    text = re.sub(r'[\s+*†]', '', text).replace('–', '-').replace('—', '-')
    return text.rstrip('.')


def code_level(code):
    """Return the level of a normalised code: 'range' (a chapter or a block,
    told by its parent), 'category', 'subcategory', or None if it is not an
    ICD-10 code"""
    if _SUBCATEGORY.match(code):
        return 'subcategory'
    if _CATEGORY.match(code):
        return 'category'
    match = _BLOCK.match(code)
    if match and match.group(1) <= match.group(2):
        return 'range'
    return None


def parse_int(value):
    "Return the whole number of a cell, or raise RowError"
    text = rules.cell_text(value)
    if text is None:
        return None
    try:
        number = float(text.replace(' ', '').replace(',', '.'))
    except ValueError:
        raise rules.RowError('id_invalid')
    if not number.is_integer():
        raise rules.RowError('id_invalid')
    return int(number)


def parse_actual(value):
    "Return the actuality flag of a cell (blank is actual) or raise RowError"
    text = rules.cell_text(value)
    if text is None:
        return True
    text = text.lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise rules.RowError('actual_invalid')


def iter_file_rows(data, filename=None):
    """Yield each row of the file as a list of values: a workbook through
    the policy import's reader (its limits included), a CSV otherwise"""
    if data[:4] == b'PK\x03\x04' or data[:8] == b'\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1':
        yield from rules.iter_rows(data, filename)
        return
    yield from iter_csv(data)


def iter_csv(data):
    "Yield the rows of a CSV in UTF-8 (with or without BOM) or Windows-1251"
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError:
        text = data.decode('cp1251')
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=';,\t|')
    except csv.Error:
        dialect = csv.excel
        dialect.delimiter = ';' if sample.count(';') >= sample.count(',') \
            else ','
    reader = csv.reader(io.StringIO(text, newline=''), dialect)
    for count, row in enumerate(reader, 1):
        if count > rules.MAX_ROWS:
            raise rules.FileLimitError('limit_rows', row=count,
                limit=rules.MAX_ROWS)
        if len(row) > rules.MAX_COLUMNS:
            raise rules.FileLimitError('limit_columns',
                cell=f'{get_column_letter(len(row))}{count}',
                limit=rules.MAX_COLUMNS)
        yield row


def find_header(rows):
    """Return (position, mapping, labels) of the header among the first
    rows, or (None, {}, []) when no row names the code and the name"""
    position, mapping, labels = rules.find_header(rows, SYNONYMS)
    if position is None or any(f not in mapping for f in REQUIRED):
        return None, {}, []
    return position, mapping, labels


def parse_rows(numbered_rows, mapping, labels):
    """Return (records, problems) of the rows after the header.

    numbered_rows yields (row number, cells).  A row whose code or name
    can not be read is a RowProblem (row, column title, reason code,
    value); a blank row is skipped; a code met again in a later row is a
    duplicate problem (the first one is kept)."""
    records, problems, seen = [], [], {}

    def cell(cells, field):
        column = mapping.get(field)
        if column is None or column >= len(cells):
            return None
        return cells[column]

    def problem(row, field, reason, value):
        column = mapping[field]
        title = labels[column] if column < len(labels) else str(column + 1)
        problems.append(RowProblem(row, title, reason,
                rules.cell_text(value) or ''))

    for row, cells in numbered_rows:
        cells = list(cells)
        if rules.is_blank(cells):
            continue
        raw_code = cell(cells, 'code')
        code = normalise_code(raw_code)
        if not code:
            problem(row, 'code', 'code_missing', raw_code)
            continue
        level = code_level(code)
        if not level:
            problem(row, 'code', 'code_invalid', raw_code)
            continue
        raw_name = cell(cells, 'name')
        name = rules.cell_text(raw_name)
        if not name:
            problem(row, 'name', 'name_missing', raw_name)
            continue
        if len(name) > MAX_NAME:
            problem(row, 'name', 'name_long', name[:40] + '…')
            continue
        values = {}
        failed = False
        for field, parse in [
                ('nsi_id', parse_int),
                ('parent_nsi_id', parse_int),
                ('actual', parse_actual)]:
            raw = cell(cells, field)
            try:
                values[field] = parse(raw)
            except rules.RowError as error:
                problem(row, field, error.reason, raw)
                failed = True
                break
        if failed:
            continue
        if code in seen:
            problem(row, 'code', 'duplicate', raw_code)
            continue
        seen[code] = row
        records.append(Record(row, code, name, level, values['nsi_id'],
                values['parent_nsi_id'], values['actual']))
    return records, problems


def resolve(records, known):
    """Return {code: (level, parent code)} for the records.

    known maps the codes already stored to (level, parent code, nsi id).
    A record's parent is the record whose ID its ID_PARENT names, in the
    file or among the stored codes; failing that, what is stored, or for a
    subcategory its category.  A range is a block under a parent that is
    a range, or with no parent a chapter: the chapter stored under the
    roman numeral whose first block starts the range (chapter_starts maps
    a block start «A00» to «I»)."""
    by_nsi = {r.nsi_id: r.code for r in records if r.nsi_id is not None}
    stored_nsi = {nsi: code for code, (_, _, nsi) in known.items()
        if nsi is not None}
    result = {}
    for record in records:
        parent = None
        if record.parent_nsi_id is not None:
            parent = (by_nsi.get(record.parent_nsi_id)
                or stored_nsi.get(record.parent_nsi_id))
        stored = known.get(record.code)
        if parent is None and stored:
            parent = stored[1]
        if parent is None and record.level == 'subcategory':
            parent = record.code.split('.')[0]
        level = record.level
        if level == 'range':
            level = 'block' if parent else 'chapter'
        result[record.code] = (level, parent)
    return result


def chapter_codes(records, resolved, chapter_starts):
    """Map the code of each chapter record («A00-B99») to the code the
    table stores it under («I»), when a stored chapter starts there"""
    mapping = {}
    for record in records:
        if resolved[record.code][0] == 'chapter':
            start = record.code.split('-')[0]
            if start in chapter_starts:
                mapping[record.code] = chapter_starts[start]
    return mapping
