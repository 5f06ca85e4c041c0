# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Pure rules of the policy list import and of the identification search.

Nothing here touches the ORM: reading a spreadsheet into rows of plain
values, finding the header row, mapping columns, parsing a row into the
values of a policy (or the reasons it is rejected), normalising names,
phones, numbers and documents into the keys that identify a person.
The ORM edges live in policy_import.py and identification.py."""
import datetime as dt
import functools
import io
import re
import unicodedata
from collections import namedtuple

# The columns a list may have, in the order of the error file.
FIELDS = [
    'number', 'full_name', 'last_name', 'first_name', 'middle_name',
    'birth_date', 'package', 'start_date', 'end_date', 'phone', 'document',
    ]
DATE_FIELDS = {'birth_date', 'start_date', 'end_date'}
NAME_PARTS = ('last_name', 'first_name', 'middle_name')

# Column titles insurers use; a template adds its own in front of these.
DEFAULT_SYNONYMS = {
    'number': [
        "№ полиса", "номер полиса", "полис", "полис №", "№ полиса дмс",
        "серия и номер полиса", "policy", "policy number", "policy no"],
    'full_name': [
        "фио", "ф.и.о.", "фио застрахованного", "застрахованный",
        "застрахованное лицо", "фамилия имя отчество", "full name", "name"],
    'last_name': ["фамилия", "last name", "surname"],
    'first_name': ["имя", "first name"],
    'middle_name': ["отчество", "middle name", "patronymic"],
    'birth_date': [
        "дата рождения", "д.р.", "др", "дата рожд.", "birth date",
        "date of birth"],
    'package': [
        "программа", "пакет", "код программы", "код пакета",
        "программа страхования", "пакет страхования", "вариант программы",
        "program", "package"],
    'start_date': [
        "дата начала", "начало", "дата прикрепления", "начало действия",
        "дата начала действия", "действует с", "с", "start date"],
    'end_date': [
        "дата окончания", "окончание", "дата открепления",
        "окончание действия", "дата окончания действия", "действует по",
        "по", "end date"],
    'phone': [
        "телефон", "тел.", "моб. телефон", "мобильный телефон",
        "контактный телефон", "phone", "mobile"],
    'document': [
        "документ", "паспорт", "серия и номер паспорта",
        "документ, удостоверяющий личность", "удостоверение личности",
        "document", "passport"],
    }

# Reason codes of a rejected row (translated by message.xml
# msg_import_<code>).
REASONS = {
    'bad_date', 'bad_period', 'bad_phone', 'missing_number', 'missing_name',
    'unknown_package', 'duplicate_in_file', 'conflicting_person',
    'unknown_policy', 'detach_before_start',
    }

# Latin letters that look like Cyrillic ones and slip into Russian names.
_LATIN_TO_CYRILLIC = str.maketrans({
        'a': 'а', 'b': 'в', 'c': 'с', 'e': 'е', 'h': 'н', 'k': 'к',
        'm': 'м', 'o': 'о', 'p': 'р', 't': 'т', 'x': 'х', 'y': 'у',
        })
_CYRILLIC = re.compile('[а-я]')
_LOOKALIKE = re.compile('[abcehkmoptxy]')
_SPACES = re.compile(r'\s+')
_NOT_NAME = re.compile(r"[^\w\s-]|[\d_]")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_TEXT_DATE_FORMATS = [
    '%d.%m.%Y', '%d.%m.%y', '%Y-%m-%d', '%d/%m/%Y', '%d-%m-%Y',
    '%d/%m/%y', '%Y.%m.%d', '%d %m %Y', '%d.%m.%Y %H:%M:%S',
    '%Y-%m-%d %H:%M:%S',
    ]

ParsedRow = namedtuple('ParsedRow', ['row', 'values', 'errors', 'cells'])


class RowError(ValueError):
    "A cell that can not be read, with its reason code"

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


# -- Normalisation -----------------------------------------------------------

def cell_text(value):
    "Return the text of a cell as the user sees it (None when blank)"
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.strftime('%d.%m.%Y')
    text = _SPACES.sub(' ', str(value)).strip()
    return text or None


def fold(text):
    "Lower case, ё → е, Latin look-alikes → Cyrillic in Cyrillic words"
    text = unicodedata.normalize('NFKC', text or '').lower()
    text = text.replace('ё', 'е').replace('\u0451', 'е')
    if not _LOOKALIKE.search(text):
        # Nothing to translate (most names): only the spaces to collapse.
        return ' '.join(text.split())
    words = []
    for word in text.split():
        if _CYRILLIC.search(word):
            word = word.translate(_LATIN_TO_CYRILLIC)
        words.append(word)
    return ' '.join(words)


def normalise_header(text):
    "The key of a column title: folded, without punctuation around words"
    text = fold(cell_text(text) or '')
    text = re.sub(r'[^\w№\s]', ' ', text)
    return _SPACES.sub(' ', text).strip()


@functools.lru_cache(maxsize=1 << 15)
def name_key(name):
    """The key of a full name: folded words of letters only (cached: an
    import computes it for the row, the person and the word dictionary)"""
    text = fold(name or '')
    text = _NOT_NAME.sub(' ', text).replace('-', ' ')
    text = unicodedata.normalize('NFKC', _SPACES.sub(' ', text).strip())
    return fold(text) if text else None


def name_words(name):
    "The distinct words of a full name's key"
    key = name_key(name)
    return sorted(set(key.split())) if key else []


def display_name(*parts):
    "A full name as it is shown: single spaces, capitalised if all one case"
    text = _SPACES.sub(' ', ' '.join(p for p in parts if p)).strip()
    if text and (text.isupper() or text.islower()):
        text = '-'.join(
            ' '.join(w.capitalize() for w in chunk.split(' '))
            for chunk in text.split('-'))
    return text or None


def phone_key(value):
    """Return the phone as international digits (79161234567) or None.

    A Russian number written nationally (8 916…, 916…) gets the country
    code 7; other numbers keep the digits they were written with."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if '@' in text:
        return None
    digits = re.sub(r'\D', '', text)
    if len(digits) == 11 and digits[0] == '8' and not text.lstrip(
            ).startswith('+'):
        digits = '7' + digits[1:]
    elif len(digits) == 10 and digits[0] == '9':
        digits = '7' + digits
    if not 10 <= len(digits) <= 15:
        return None
    return digits


def number_key(value):
    "The key of a policy number: upper case, without spaces and dashes"
    text = cell_text(value)
    if not text:
        return None
    text = unicodedata.normalize('NFKC', text).upper().replace('Ё', 'Е')
    text = re.sub(r'[\s\-‐–—_]', '', text)
    return unicodedata.normalize('NFKC', text) or None


def document_key(value):
    "The key of an identity document: its letters and digits, upper case"
    text = cell_text(value)
    if not text:
        return None
    text = unicodedata.normalize('NFKC', text).upper().replace('Ё', 'Е')
    text = re.sub(r'[\W_]', '', text)
    return unicodedata.normalize('NFKC', text) or None


def trigrams(word):
    "The trigrams of a word the way pg_trgm counts them"
    padded = f'  {word} '
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


def similarity(a, b):
    "pg_trgm's similarity of two words (0 to 1)"
    ta, tb = trigrams(a), trigrams(b)
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


def edit_distance(a, b):
    """The number of letters to insert, delete, replace or swap with the
    next one to make b of a (optimal string alignment distance)"""
    if a == b:
        return 0
    previous2, previous = None, list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1,
                previous[j - 1] + (x != y))
            if (i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y):
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def word_score(token, word):
    "How well a typed token matches a word of a name (1 is exact)"
    if token == word:
        return 1.0
    if len(token) >= 2 and word.startswith(token):
        return 0.9
    return similarity(token, word) * 0.8


# -- Cells -------------------------------------------------------------------

def parse_date(value):
    "Return a date from an Excel date, an Excel serial number or a text"
    if value is None or value == '':
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool):
        raise RowError('bad_date')
    if isinstance(value, (int, float)):
        if not 1 <= value < 2958466:
            raise RowError('bad_date')
        return _EXCEL_EPOCH + dt.timedelta(days=int(value))
    return _parse_text_date(str(value))


@functools.lru_cache(maxsize=4096)
def _parse_text_date(text):
    "A date written as text (the same few dates recur on every row)"
    text = _SPACES.sub(' ', text).strip()
    text = re.sub(r'\s*(г\.?|года?)$', '', text)
    if not text:
        return None
    if re.fullmatch(r'\d{5}(\.0+)?', text):
        return parse_date(float(text))
    for format_ in _TEXT_DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, format_).date()
        except ValueError:
            continue
    raise RowError('bad_date')


# -- Files -------------------------------------------------------------------

def file_kind(data, filename=None):
    "Tell 'xlsx' or 'xls' from the content (names lie)"
    if data[:4] == b'PK\x03\x04':
        return 'xlsx'
    if data[:8] == b'\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1':
        return 'xls'
    name = (filename or '').lower()
    if name.endswith('.xls'):
        return 'xls'
    return 'xlsx'


def iter_rows(data, filename=None):
    "Yield each row of the first sheet as a list of plain values"
    if file_kind(data, filename) == 'xls':
        yield from _iter_xls(data)
    else:
        yield from _iter_xlsx(data)


def _iter_xlsx(data):
    """openpyxl (read-only) opens the workbook: the first sheet, the shared
    strings, the date styles; the sheet's cells are streamed by _SheetReader
    with the same values as openpyxl's iter_rows(values_only=True)."""
    import openpyxl
    workbook = openpyxl.load_workbook(
        io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        try:
            reader = _SheetReader(sheet._shared_strings,
                workbook._date_formats, workbook._timedelta_formats,
                workbook.epoch, sheet.max_column or 0)
            source = sheet._get_source()
        except AttributeError:
            # An openpyxl whose internals differ: its own streaming reader,
            # three times slower, the same values.
            for row in sheet.iter_rows(values_only=True):
                yield list(row)
            return
        with source:
            yield from reader.rows(source)
    finally:
        workbook.close()


class _SheetReader:
    """Stream the rows of a worksheet's XML with expat.

    openpyxl's own read-only parser goes through defusedxml's pure Python
    iterparse and builds a dict per cell: 90 % of the time of reading a
    100,000-row list.  The handlers here keep only a row's values; a
    document type declaration (the vector of entity attacks) is refused as
    defusedxml does."""

    _columns = {}

    def __init__(self, strings, date_styles, timedelta_styles, epoch, width):
        self.strings = strings
        self.date_styles = {str(s) for s in date_styles}
        self.timedelta_styles = {str(s) for s in timedelta_styles}
        self.epoch = epoch
        self.width = width
        self.done = []
        self.row = None
        self.expected = 1
        self.cell = None
        self.text = None
        self.inline = False

    @classmethod
    def column_index(cls, reference):
        "0-based column of a cell reference such as «AB12»"
        letters = reference.rstrip('0123456789')
        index = cls._columns.get(letters)
        if index is None:
            index = 0
            for letter in letters.upper():
                index = index * 26 + ord(letter) - 64
            index = cls._columns[letters] = index - 1
        return index

    def rows(self, source, size=1 << 16):
        import pyexpat
        parser = pyexpat.ParserCreate()
        parser.buffer_text = True
        parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._forbid
        parser.EntityDeclHandler = self._forbid
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._data
        while True:
            chunk = source.read(size)
            parser.Parse(chunk, not chunk)
            if self.done:
                yield from self.done
                self.done = []
            if not chunk:
                break

    @staticmethod
    def _forbid(*args):
        raise ValueError("DTD and entities are forbidden in a worksheet")

    _local_names = {}

    @classmethod
    def _local(cls, name):
        "The element's name without its namespace prefix («x:row» → «row»)"
        local = cls._local_names.get(name)
        if local is None:
            local = cls._local_names[name] = name.rpartition(':')[2]
        return local

    def _start(self, name, attributes):
        name = self._local(name)
        if name == 'c':
            self.cell = attributes
            self.text = None
            self.parts = []
        elif name == 'v' or (name == 't' and self.inline):
            self.text = []
        elif name == 'is':
            self.inline = True
        elif name == 'row':
            number = attributes.get('r')
            number = int(float(number)) if number else self.expected
            while self.expected < number:
                self.done.append([None] * self.width)
                self.expected += 1
            self.expected = number + 1
            self.row = [None] * self.width
            self.position = 0

    def _data(self, text):
        if self.text is not None:
            self.text.append(text)

    def _end(self, name):
        name = self._local(name)
        if name == 'v' or (name == 't' and self.inline):
            if self.text is not None:
                self.parts.append(''.join(self.text))
            self.text = None
        elif name == 'is':
            self.inline = False
        elif name == 'c':
            self._store_cell()
        elif name == 'row':
            self.done.append(self.row)
            self.row = None

    def _store_cell(self):
        attributes, row = self.cell, self.row
        self.cell = None
        if row is None:
            return
        reference = attributes.get('r')
        column = (self.column_index(reference) if reference
            else self.position)
        self.position = column + 1
        value = self._value(attributes.get('t', 'n'), attributes.get('s'))
        if column >= len(row):
            row.extend([None] * (column + 1 - len(row)))
        row[column] = value

    def _value(self, kind, style):
        "The cell's value as openpyxl gives it in data only mode"
        if kind == 'inlineStr':
            return ''.join(self.parts) if self.parts else None
        value = self.parts[0] if self.parts else None
        if not value:
            return None
        if kind == 'n':
            if '.' in value or 'E' in value or 'e' in value:
                value = float(value)
            else:
                value = int(value)
            if style in self.date_styles:
                from openpyxl.utils.datetime import from_excel
                try:
                    return from_excel(value, self.epoch,
                        timedelta=style in self.timedelta_styles)
                except (OverflowError, ValueError):
                    return '#VALUE!'
            return value
        if kind == 's':
            return self.strings[int(value)]
        if kind == 'b':
            return bool(int(value))
        if kind == 'd':
            from openpyxl.utils.datetime import from_ISO8601
            return from_ISO8601(value)
        return value


def _iter_xls(data):
    import xlrd
    book = xlrd.open_workbook(file_contents=data, on_demand=True)
    try:
        sheet = book.sheet_by_index(0)
        for index in range(sheet.nrows):
            yield [_xls_value(cell, book.datemode)
                for cell in sheet.row(index)]
    finally:
        book.release_resources()


def _xls_value(cell, datemode):
    import xlrd
    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            return xlrd.xldate_as_datetime(cell.value, datemode)
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return cell.value
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return None
    return cell.value


def cells_to_json(cells):
    "Make the cells of a row JSON-serialisable (dates tagged)"
    result = []
    for value in cells:
        if isinstance(value, dt.datetime):
            value = {'$t': value.isoformat()}
        elif isinstance(value, dt.date):
            value = {'$d': value.isoformat()}
        result.append(value)
    return result


def cells_from_json(cells):
    "The cells of cells_to_json back"
    result = []
    for value in cells:
        if isinstance(value, dict):
            if '$t' in value:
                value = dt.datetime.fromisoformat(value['$t'])
            else:
                value = dt.date.fromisoformat(value['$d'])
        result.append(value)
    return result


# -- Header and mapping ------------------------------------------------------

def synonym_index(synonyms):
    "Map each normalised column title to its field"
    index = {}
    for field, titles in synonyms.items():
        for title in titles:
            index.setdefault(normalise_header(title), field)
    return index


def merge_synonyms(*sources):
    "Merge field → titles dicts, earlier sources first"
    merged = {f: [] for f in FIELDS}
    for source in sources:
        for field, titles in source.items():
            merged.setdefault(field, [])
            for title in titles:
                if title not in merged[field]:
                    merged[field].append(title)
    return merged


def _row_mapping(labels, index):
    mapping = {}
    for column, label in enumerate(labels):
        field = index.get(normalise_header(label)) if label else None
        if field and field not in mapping:
            mapping[field] = column
    return mapping


def find_header(rows, synonyms, scan=30):
    """Find the header among the first rows.

    Return (position, mapping, labels): the position of the header row in
    rows, field → column index, and the column titles.  A title merged over
    two rows, or a group title above sub-titles, is read from the row above.
    Return (None, {}, []) when no row names at least two known columns."""
    index = synonym_index(synonyms)
    best, best_mapping = None, {}
    for position, row in enumerate(rows[:scan]):
        labels = _merged_labels(rows, position)
        mapping = _row_mapping(labels, index)
        if len(mapping) > len(best_mapping):
            best, best_mapping = position, mapping
    if best is None or len(best_mapping) < 2:
        return None, {}, []
    labels = _merged_labels(rows, best)
    return best, best_mapping, labels


def _merged_labels(rows, position):
    "The titles of a header row, blanks filled from the row above"
    labels = [cell_text(v) for v in rows[position]]
    if position:
        above = [cell_text(v) for v in rows[position - 1]]
        index_known = len(labels)
        for column in range(max(index_known, len(above))):
            if column >= len(labels):
                labels.append(None)
            if not labels[column] and column < len(above):
                labels[column] = above[column]
    return labels


def mapping_is_usable(mapping, mode='add'):
    "Tell whether the mapping names the columns a mode needs"
    if 'number' not in mapping:
        return False
    if mode == 'detach':
        return True
    return 'full_name' in mapping or 'last_name' in mapping


# -- Rows --------------------------------------------------------------------

def is_blank(cells):
    "Tell whether no cell of a row holds anything (cell_text would be None)"
    for value in cells:
        if value is None:
            continue
        if isinstance(value, str):
            if value.strip():
                return False
        elif cell_text(value) is not None:
            return False
    return True


_FOOTER = re.compile(r'^(итого|всего|total)', re.IGNORECASE)


def is_footer(cells, mapping):
    "Tell whether a row is a total line below the list («Итого: 300»)"
    text = None
    for column in mapping.values():
        if column < len(cells) and cells[column] is not None:
            value = cell_text(cells[column])
            if value:
                if text is not None:
                    return False
                text = value
    return text is not None and bool(_FOOTER.match(text))


def parse_row(row, cells, mapping, mode='add'):
    """Parse the cells of one row into a ParsedRow.

    values holds the policy's and person's values read from the row;
    errors is a list of (field, reason) — a row with errors is rejected.
    Never raises: whatever the cells hold, the outcome is a ParsedRow."""
    values, errors = {}, []

    def cell(field):
        column = mapping.get(field)
        if column is None or column >= len(cells):
            return None
        return cells[column]

    number = cell_text(cell('number'))
    if number:
        values['number'] = number
    else:
        errors.append(('number', 'missing_number'))

    full_name = display_name(cell_text(cell('full_name')))
    if not full_name:
        full_name = display_name(
            *(cell_text(cell(p)) for p in NAME_PARTS))
    key = name_key(full_name) if full_name else None
    if key:
        values['full_name'] = full_name
        values['name_key'] = key
    elif mode != 'detach':
        errors.append((
                'full_name' if 'full_name' in mapping else 'last_name',
                'missing_name'))

    for field in sorted(DATE_FIELDS):
        try:
            date = parse_date(cell(field))
        except RowError as error:
            errors.append((field, error.reason))
            continue
        if date is not None:
            if not dt.date(1900, 1, 1) <= date <= dt.date(2200, 12, 31):
                errors.append((field, 'bad_date'))
                continue
            values[field] = date
    if (values.get('start_date') and values.get('end_date')
            and values['end_date'] < values['start_date']):
        errors.append(('end_date', 'bad_period'))

    package = cell_text(cell('package'))
    if package:
        values['package'] = package

    phone = cell_text(cell('phone'))
    if phone:
        key = phone_key(cell('phone'))
        if key:
            values['phone'] = key
        else:
            errors.append(('phone', 'bad_phone'))

    document_text = cell_text(cell('document'))
    document = document_key(document_text)
    if document:
        values['document'] = document
        values['document_text'] = document_text
    return ParsedRow(row, values, errors, cells)


def person_key(values):
    "The key of the person of a row: (name key, birth date) or None"
    if values.get('name_key') and values.get('birth_date'):
        return (values['name_key'], values['birth_date'])
    return None


def policy_difference(current, values, fields=('package', 'start_date',
            'end_date')):
    "Return field → (old, new) for the fields the row changes"
    return {f: (current.get(f), values[f])
        for f in fields
        if f in values and values[f] is not None
        and current.get(f) != values[f]}


def package_index(packages):
    "Map normalised codes and names to package ids: [(id, code, name)]"
    index = {}
    for id_, code, name in packages:
        for text in (code, name):
            if text:
                index.setdefault(normalise_header(text), id_)
    return index


def chunks(iterable, size):
    "Yield lists of at most size items"
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- Identification query ----------------------------------------------------

Query = namedtuple('Query', ['birth_date', 'phone', 'number', 'tokens'])

_DATE_IN_TEXT = re.compile(
    r'(?<!\d)(\d{1,2}[./-]\d{1,2}[./-]\d{4}|\d{4}-\d{2}-\d{2})(?!\d)')


def parse_query(text):
    """Split an operator's search text into what it may be.

    A date is a birth date; a run of digits and phone punctuation may be a
    phone; the whole text may be a policy number; words are name tokens."""
    text = _SPACES.sub(' ', text or '').strip()
    birth_date = None
    match = _DATE_IN_TEXT.search(text)
    if match:
        try:
            birth_date = parse_date(match.group(1).replace('/', '.'))
        except RowError:
            birth_date = None
        else:
            text = (text[:match.start()] + ' ' + text[match.end():]).strip()
    phone = None
    if text and re.fullmatch(r'[\d\s()+\-.]+', text):
        phone = phone_key(text)
    number = number_key(text) if text and re.search(r'\d', text) else None
    tokens = []
    if not re.search(r'\d', text):
        tokens = [t for t in (name_key(text) or '').split() if len(t) >= 2]
    return Query(birth_date, phone, number, tokens)
