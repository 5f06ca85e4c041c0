# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""What an operator's search text may mean (REQ-2): pure functions.

The text is read the way operators type it: a birth date in any of the
usual forms (1.2.1980, 01.02.80, 01021980, 1980-02-01, «1 февраля 1980»),
a phone with any punctuation, a policy number with or without «№» or
«полис», a full name with initials («Иванов И. И.»), with Latin look-alike
letters or typed with the Latin keyboard layout on."""
import datetime as dt
import re
import unicodedata
from collections import namedtuple

from . import policy_import_rules as rules

Query = namedtuple('Query', [
        'birth_date', 'phone', 'number', 'tokens', 'initials', 'numbers',
        'layout_tokens', 'layout_initials'])
Query.__new__.__defaults__ = ((), (), (), ())

ALPHABET = 'абвгдежзийклмнопрстуфхцчшщъыьэюя'

_SPACES = re.compile(r'\s+')
_MONTHS = {
    'янв': 1, 'фев': 2, 'мар': 3, 'апр': 4, 'мая': 5, 'май': 5, 'июн': 6,
    'июл': 7, 'авг': 8, 'сен': 9, 'окт': 10, 'ноя': 11, 'дек': 12,
    }
_DATES = [
    # 1.2.1980, 01.02.80, 01/02/1980, 01-02-1980, 01 02 1980
    re.compile(r'(?<![\d.\-/])(?P<d>\d{1,2})(?P<s>[./\-]|\s)(?P<m>\d{1,2})'
        r'(?P=s)(?P<y>\d{4}|\d{2})(?![\d.\-/])'),
    # 1980-02-01, 1980.02.01
    re.compile(r'(?<![\d.\-/])(?P<y>\d{4})(?P<s>[.\-/])(?P<m>\d{1,2})'
        r'(?P=s)(?P<d>\d{1,2})(?![\d.\-/])'),
    # 1 февраля 1980, 1 фев. 1980 г.
    re.compile(r'(?<!\d)(?P<d>\d{1,2})\s*(?P<mn>[а-яё]{3,8})\.?\s*'
        r'(?P<y>\d{4}|\d{2})(?!\d)(\s*(г\.?|года?)(?![а-яё]))?',
        re.IGNORECASE),
    ]
# 01021980 alone: a date when it is one (else a number).
_DATE_DIGITS = re.compile(r'(?<!\d)(\d{2})(\d{2})(\d{4})(?!\d)')
# The words said before a policy number.
# (NFKC writes «№» as «No».)
_NUMBER_WORDS = re.compile(
    r'^(полиса?|пол\.|номер|ном\.|no\.?|n|#)(\s+|(?=\d))', re.IGNORECASE)
_INITIALS = re.compile(
    r'(?<![^\W\d_])([^\W\d_])\.\s*(?:([^\W\d_])\.?)?(?![^\W\d_])')
# The Latin keyboard layout's keys for the Russian letters.
_LAYOUT = str.maketrans(
    "qwertyuiop[]asdfghjkl;'zxcvbnm,.`" 'QWERTYUIOP{}ASDFGHJKL:"ZXCVBNM<>~',
    'йцукенгшщзхъфывапролджэячсмитьбюё' 'ЙЦУКЕНГШЩЗХЪФЫВАПРОЛДЖЭЯЧСМИТЬБЮЁ')
_LAYOUT_WORD = re.compile(r"^[a-zA-Z\[\]{};:'\",.<>`~]+$")


def _year(year, today):
    "A year of a birth date: two digits are the latest century not ahead"
    if len(year) == 4:
        return int(year)
    year = 2000 + int(year)
    return year if year <= today.year else year - 100


def _date(day, month, year, today):
    "The birth date, or None when it is no date or not plausible"
    try:
        date = dt.date(year, month, int(day))
    except ValueError:
        return None
    if rules.birth_date_error(date, today):
        return None
    return date


def find_birth_date(text, today):
    """Return (birth date, text without it): the first birth date of text
    in any of the usual forms, or (None, text)"""
    for pattern in _DATES:
        for match in pattern.finditer(text):
            values = match.groupdict()
            if values.get('mn') is not None:
                month = _MONTHS.get(values['mn'].lower().replace('ё', 'е')[:3])
                if month is None:
                    continue
            else:
                month = int(values['m'])
            date = _date(values['d'], month, _year(values['y'], today), today)
            if date:
                return date, _cut(text, match)
    return None, text


def _cut(text, match):
    return _SPACES.sub(' ', text[:match.start()] + ' '
        + text[match.end():]).strip()


def number_keys(text):
    """The keys the text may be a policy number or a document of: as typed
    and without the words said before a number («№», «полис»)"""
    keys = []
    bare = text
    while _NUMBER_WORDS.match(bare):
        bare = _NUMBER_WORDS.sub('', bare, count=1)
    for candidate in (text, bare):
        key = rules.number_key(candidate)
        if key and key not in keys:
            keys.append(key)
    return keys


def _name_words(text):
    "The words of a name text (name_key's), initials kept apart"
    initials = []

    def initial(match):
        initials.extend(g for g in match.groups() if g)
        return ' '
    text = _INITIALS.sub(initial, text)
    words = []
    for word in text.split():
        # «ИИ» after a surname: the initials written without dots.
        if (len(word) == 2 and word.isupper() and word.isalpha()
                and words and not initials):
            initials.extend(word)
            continue
        words.append(word)
    tokens = [t for t in (rules.name_key(' '.join(words)) or '').split()]
    initials = [rules.name_key(i) for i in initials]
    # A lone letter is an initial too («Иванов И И»).
    initials += [t for t in tokens if len(t) == 1]
    tokens = [t for t in tokens if len(t) >= 2]
    # (A letter whose lower case is two, «İ», is no initial.)
    return tokens, [i for i in initials if i and len(i) == 1]


def layout_text(text):
    """The text as it would read with the Russian layout on, when every
    word of it is typed on the Latin one; else None"""
    words = text.split()
    if not words or not all(_LAYOUT_WORD.match(w) for w in words):
        return None
    return text.translate(_LAYOUT)


def parse_query(text, today):
    """Split an operator's search text into what it may be.

    A date is a birth date (not after today); a run of digits and phone
    punctuation may be a phone; the whole text may be a policy number;
    words are name tokens, single letters initials."""
    text = _SPACES.sub(' ', unicodedata.normalize('NFKC', text or '')).strip()
    birth_date, rest = find_birth_date(text, today)
    numbers = []
    if rest and re.search(r'\d', rest):
        numbers = number_keys(rest)
    if birth_date is None:
        # 01021980: a birth date if it is one, and a number all the same.
        match = _DATE_DIGITS.search(rest)
        if match and not re.search(r'\d', _cut(rest, match)):
            day, month, year = match.groups()
            birth_date = _date(day, int(month), int(year), today)
            if birth_date:
                rest = _cut(rest, match)
                if rest:
                    # A name and a date: no number.
                    numbers = []
    phone = None
    if rest and re.fullmatch(r'[\d\s()+\-.]+', rest):
        phone = rules.phone_key(rest)
    tokens, initials, layout_tokens, layout_initials = [], [], [], []
    if not re.search(r'\d', rest):
        tokens, initials = _name_words(rest)
        converted = layout_text(rest)
        if converted:
            layout_tokens, layout_initials = _name_words(converted)
    return Query(birth_date, phone, numbers[0] if numbers else None,
        tokens, initials, numbers, layout_tokens, layout_initials)


def neighbours(token):
    """The words one letter away from token: a letter missing, doubled or
    other, replaced or two neighbours swapped (the first letter kept: it is
    the one operators get right)"""
    result = set()
    head, body = token[:1], token[1:]
    for i in range(len(body) + 1):
        left, right = body[:i], body[i:]
        if right:
            result.add(head + left + right[1:])
            if len(right) > 1:
                result.add(head + left + right[1] + right[0] + right[2:])
        for letter in ALPHABET:
            result.add(head + left + letter + right)
            if right:
                result.add(head + left + letter + right[1:])
    result.discard(token)
    return sorted(w for w in result if len(w) >= 2)
