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
    'unknown_policy', 'detach_before_start', 'future_birth', 'old_birth',
    'outside_contract',
    }
# The earliest birth date a person may have.
BIRTH_MIN = dt.date(1900, 1, 1)

# What a file may demand of the reader: the last row Excel itself can hold,
# far more columns than any list has, the texts of a big list.
MAX_ROWS = 1_048_576
MAX_COLUMNS = 512
MAX_STRINGS = 2_000_000
MAX_STRINGS_BYTES = 256 << 20

# Latin letters that look like Cyrillic ones and slip into Russian names.
_LATIN_TO_CYRILLIC = str.maketrans({
        'a': 'а', 'b': 'в', 'c': 'с', 'e': 'е', 'h': 'н', 'k': 'к',
        'm': 'м', 'o': 'о', 'p': 'р', 't': 'т', 'x': 'х', 'y': 'у',
        })
# The same for the display of a name, case kept: only the letters that
# look the same in both cases (a Latin «m» or «t» is no «м» or «т»).
_LATIN_LOOKALIKES = str.maketrans({
        'a': 'а', 'c': 'с', 'e': 'е', 'o': 'о', 'p': 'р', 'x': 'х', 'y': 'у',
        'A': 'А', 'B': 'В', 'C': 'С', 'E': 'Е', 'H': 'Н', 'K': 'К', 'M': 'М',
        'O': 'О', 'P': 'Р', 'T': 'Т', 'X': 'Х', 'Y': 'У',
        })
_CYRILLIC_WORD = re.compile('[а-яёА-ЯЁ]')
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


class FileLimitError(ValueError):
    """A file that demands more than the reader gives (limit_rows,
    limit_columns, limit_strings) or refers to what it does not hold
    (bad_string, bad_reference); values names the cell, count, limit"""

    def __init__(self, reason, **values):
        super().__init__(reason, values)
        self.reason = reason
        self.values = values


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


def fold_lookalikes(text):
    """Return text with the Latin look-alike letters of its Cyrillic words
    written in Cyrillic («Вoлков» with a Latin «o» → «Волков»); the words
    without a Cyrillic letter (a Latin name) are kept"""
    if not text:
        return text

    def word(match):
        part = match.group(0)
        if _CYRILLIC_WORD.search(part):
            return part.translate(_LATIN_LOOKALIKES)
        return part
    return re.sub(r'[^\W\d_]+', word, text)


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


# -- Checks (the ORM's validation and the import's bulk path share them) -----

def birth_date_error(birth_date, today):
    "The reason a birth date is not plausible, or None"
    if birth_date is None:
        return None
    if birth_date > today:
        return 'future_birth'
    if birth_date < BIRTH_MIN:
        return 'old_birth'
    return None


def period_errors(start, end, contract_start=None, contract_end=None):
    """Return the (field, reason) of a policy period that ends before it
    starts or is not inside its contract's period"""
    errors = []
    if start and contract_start and start < contract_start:
        errors.append(('start_date', 'outside_contract'))
    elif start and contract_end and start > contract_end:
        errors.append(('start_date', 'outside_contract'))
    if end and contract_end and end > contract_end:
        errors.append(('end_date', 'outside_contract'))
    elif start and end and end < start:
        errors.append(('end_date', 'bad_period'))
    return errors


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
    with the same values as openpyxl's iter_rows(values_only=True).

    What the file may demand is bounded (MAX_ROWS, MAX_COLUMNS,
    MAX_STRINGS): a file beyond raises FileLimitError before it costs the
    memory it asks for."""
    import zipfile

    import openpyxl
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        strings_size = sum(i.file_size for i in archive.infolist()
            if i.filename.lower().endswith('sharedstrings.xml'))
    except zipfile.BadZipFile:
        strings_size = 0
    if strings_size > MAX_STRINGS_BYTES:
        raise FileLimitError('limit_strings',
            count=strings_size, limit=MAX_STRINGS_BYTES)
    workbook = openpyxl.load_workbook(
        io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        try:
            strings = sheet._shared_strings
            if len(strings) > MAX_STRINGS:
                raise FileLimitError('limit_strings',
                    count=len(strings), limit=MAX_STRINGS)
            reader = _SheetReader(strings,
                workbook._date_formats, workbook._timedelta_formats,
                workbook.epoch, min(sheet.max_column or 0, MAX_COLUMNS))
            source = sheet._get_source()
        except AttributeError:
            # An openpyxl whose internals differ: its own streaming reader,
            # three times slower, the same values.
            for number, row in enumerate(sheet.iter_rows(values_only=True),
                    1):
                if number > MAX_ROWS:
                    raise FileLimitError('limit_rows',
                        row=number, limit=MAX_ROWS)
                if len(row) > MAX_COLUMNS:
                    row = row[:MAX_COLUMNS]
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
    defusedxml does.  The empty rows a row number skips are yielded one
    by one (not built at once), up to MAX_ROWS; a cell with a value beyond
    MAX_COLUMNS is refused, a blank one ignored."""

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
        self.reference = None
        self.text = None
        self.inline = False

    @classmethod
    def column_index(cls, reference):
        "0-based column of a cell reference such as «AB12»"
        letters = reference.rstrip('0123456789')
        index = cls._columns.get(letters)
        if index is None:
            if len(letters) > 3 or not letters.isascii() or (
                    not letters.isalpha()):
                raise FileLimitError('bad_reference', cell=reference[:20])
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
                for row in self.done:
                    if type(row) is int:
                        # A count of empty rows.
                        for _ in range(row):
                            yield [None] * self.width
                    else:
                        yield row
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
            try:
                number = int(number) if number else self.expected
            except ValueError:
                raise FileLimitError('bad_reference', cell=number[:20])
            if number > MAX_ROWS:
                raise FileLimitError('limit_rows', row=number, limit=MAX_ROWS)
            if self.expected < number:
                self.done.append(number - self.expected)
            self.expected = max(self.expected, number) + 1
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
        self.reference = reference
        try:
            value = self._value(attributes.get('t', 'n'), attributes.get('s'))
        except FileLimitError:
            raise
        except (ValueError, TypeError, OverflowError):
            raise FileLimitError('bad_value', cell=reference or '')
        if column >= MAX_COLUMNS:
            if value is None or value == '':
                return
            raise FileLimitError('limit_columns',
                cell=reference or '', limit=MAX_COLUMNS)
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
            try:
                index = int(value)
                if index < 0:
                    raise IndexError(index)
                return self.strings[index]
            except (IndexError, ValueError):
                raise FileLimitError('bad_string',
                    cell=self.reference or '')
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


def find_header(rows, synonyms, scan=30):
    """Find the header among the first rows.

    Return (position, mapping, labels): the position of the header's last
    row in rows, field → column index, and the column titles.  A header
    may be written over two or three rows with merged cells: «Дата» over
    «рождения» is the title «Дата рождения», a group title («Застрахованный»)
    over sub-titles («Фамилия», «Имя») gives way to them, a title merged
    down over the rows is read from its top row (see header_labels).
    Return (None, {}, []) when no row names at least two known columns."""
    index = synonym_index(synonyms)
    best, best_mapping, best_labels = None, {}, []
    for position in range(min(scan, len(rows))):
        labels, mapping, own = _header_reading(rows, position, index)
        # A row under the best one that names as many columns, some by its
        # own titles, is the lower row of the same header («№» under
        # «Полис»): the list starts below it.
        if len(mapping) > len(best_mapping) or (
                best is not None and own and len(mapping) == len(best_mapping)
                and position - best < HEADER_DEPTH):
            best, best_mapping, best_labels = position, mapping, labels
    if best is None or len(best_mapping) < 2:
        return None, {}, []
    return best, best_mapping, best_labels


HEADER_DEPTH = 3


def header_labels(rows, position, index):
    """Return (labels, mapping) of a header whose last row is at position.

    The rows above it that hold at least two titles (not a title block of
    one merged cell) are the upper rows of the header, up to HEADER_DEPTH
    rows in all.  A merged cell holds its text in its first column only:
    an upper row's title covers the blank cells on its right that have a
    title under them, up to the next title of its row or of a row above.
    Each column is named by the shortest run of its titles, from the lowest
    row up, that is a known title; a column matching none is named by all
    its titles."""
    labels, mapping, _ = _header_reading(rows, position, index)
    return labels, mapping


def _header_reading(rows, position, index):
    "header_labels and the number of known titles using the row's own text"
    stack = [position]
    while len(stack) < HEADER_DEPTH and stack[0] > 0:
        above = rows[stack[0] - 1]
        if sum(1 for v in above if cell_text(v)) < 2:
            break
        stack.insert(0, stack[0] - 1)
    texts = [[cell_text(v) for v in rows[p]] for p in stack]
    width = max(len(t) for t in texts)
    for text in texts:
        text.extend([None] * (width - len(text)))
    filled = []
    for level, text in enumerate(texts[:-1]):
        row, current = [], None
        for column, value in enumerate(text):
            if value:
                current = value
            elif any(texts[u][column] for u in range(level)):
                current = None
            if not value and not any(t[column] for t in texts[level + 1:]):
                # No title under it: not a column of the merged cell.
                row.append(None)
            else:
                row.append(value or current)
        filled.append(row)
    filled.append(texts[-1])
    labels, mapping, own = [], {}, 0
    for column in range(width):
        parts = []
        for row in filled:
            value = row[column]
            if value and (not parts or parts[-1] != value):
                parts.append(value)
        label, field = None, None
        for size in range(1, len(parts) + 1):
            candidate = ' '.join(parts[-size:])
            field = index.get(normalise_header(candidate))
            if field:
                label = candidate
                own += bool(texts[-1][column])
                break
        if not label and parts:
            label = ' '.join(parts)
        labels.append(label)
        if field and field not in mapping:
            mapping[field] = column
    return labels, mapping, own


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
    """Tell whether a row is a total line below the list («Итого: 300»):
    a cell in any column starts with «Итого» or «Всего», and the mapped
    columns hold nothing else than it and numbers (the totals)"""
    footer = None
    for value in cells:
        if isinstance(value, str) and _FOOTER.match(value.strip()):
            footer = value
            break
    if footer is None:
        return False
    for column in mapping.values():
        if column < len(cells):
            value = cells[column]
            if value is None or value is footer or isinstance(
                    value, (int, float)) and not isinstance(value, bool):
                continue
            if cell_text(value):
                return False
    return True


def parse_row(row, cells, mapping, mode='add', today=None):
    """Parse the cells of one row into a ParsedRow.

    values holds the policy's and person's values read from the row;
    errors is a list of (field, reason) — a row with errors is rejected;
    values['corrections'] lists the (field, text of the file, text kept)
    of the names whose Latin look-alike letters were folded to Cyrillic.
    A birth date after today (when given) or before 1900 is an error.
    Never raises: whatever the cells hold, the outcome is a ParsedRow."""
    values, errors, corrections = {}, [], []

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

    def name_cell(field):
        text = cell_text(cell(field))
        folded = fold_lookalikes(text)
        if folded != text:
            corrections.append((field, text, folded))
        return folded

    full_name = display_name(name_cell('full_name'))
    if not full_name:
        full_name = display_name(*(name_cell(p) for p in NAME_PARTS))
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
            if field != 'birth_date' and not (
                    dt.date(1900, 1, 1) <= date <= dt.date(2200, 12, 31)):
                errors.append((field, 'bad_date'))
                continue
            values[field] = date
    reason = birth_date_error(values.get('birth_date'), today or dt.date.max)
    if reason:
        errors.append(('birth_date', reason))
        del values['birth_date']
    errors.extend(period_errors(
            values.get('start_date'), values.get('end_date')))

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
    if corrections:
        values['corrections'] = corrections
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
