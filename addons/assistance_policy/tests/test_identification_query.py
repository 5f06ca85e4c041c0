# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Unit and property tests of the reading of an operator's search text
(REQ-2, issue 15): the ways operators type a birth date, a phone, a policy
number, initials, look-alike letters and the wrong keyboard layout."""
import datetime as dt
import unittest

from hypothesis import given, settings
from hypothesis import strategies as st

from trytond.modules.assistance_policy import identification_query as iq
from trytond.modules.assistance_policy import policy_import_rules as rules

TODAY = dt.date(2025, 6, 15)
MONTHS = ('января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля',
    'августа', 'сентября', 'октября', 'ноября', 'декабря')
names = st.text(alphabet=iq.ALPHABET + 'ё', min_size=2, max_size=12)


def date_forms(date):
    "The forms operators type a birth date in"
    return [
        date.strftime('%d.%m.%Y'), f'{date.day}.{date.month}.{date.year}',
        date.strftime('%d.%m.%y'), date.strftime('%d%m%Y'),
        date.isoformat(), date.strftime('%d/%m/%Y'),
        date.strftime('%d-%m-%Y'), date.strftime('%d %m %Y'),
        f'{date.day} {MONTHS[date.month - 1]} {date.year}',
        f'{date.day} {MONTHS[date.month - 1]} {date.year} г.',
        ]


class IdentificationQueryTestCase(unittest.TestCase):
    "Test the reading of the identification search text"

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=60))
    def test_never_crashes(self, text):
        "No text crashes the reading; the tokens are words, initials letters"
        query = iq.parse_query(text, TODAY)
        self.assertTrue(all(len(t) >= 2 for t in query.tokens))
        self.assertTrue(all(len(i) == 1 for i in query.initials))
        if query.birth_date:
            self.assertLessEqual(query.birth_date, TODAY)
            self.assertGreaterEqual(query.birth_date, rules.BIRTH_MIN)

    @settings(max_examples=200, deadline=None)
    @given(st.dates(min_value=dt.date(1926, 1, 1), max_value=TODAY), names)
    def test_birth_date_forms(self, date, surname):
        "Every usual form of a birth date is read, alone and after a name"
        for form in date_forms(date):
            query = iq.parse_query(form, TODAY)
            self.assertEqual(query.birth_date, date, form)
            query = iq.parse_query(f'{surname} {form}', TODAY)
            self.assertEqual(query.birth_date, date, form)
            self.assertEqual(query.tokens, [rules.name_key(surname)], form)
            self.assertFalse(query.numbers, form)

    def test_two_digit_year(self):
        "A two-digit year is the latest one not ahead of today"
        self.assertEqual(iq.parse_query("23.04.48", TODAY).birth_date,
            dt.date(1948, 4, 23))
        self.assertEqual(iq.parse_query("03.03.03", TODAY).birth_date,
            dt.date(2003, 3, 3))

    def test_impossible_date(self):
        "An impossible or future date is no birth date"
        self.assertIsNone(iq.parse_query("31.02.1980", TODAY).birth_date)
        self.assertIsNone(iq.parse_query("01.01.2030", TODAY).birth_date)
        # Eight digits that are no date are a number only.
        query = iq.parse_query("12345678", TODAY)
        self.assertIsNone(query.birth_date)
        self.assertEqual(query.numbers, ['12345678'])

    def test_eight_digits_date_and_number(self):
        "Eight digits alone may be a birth date and a number"
        query = iq.parse_query("17051980", TODAY)
        self.assertEqual(query.birth_date, dt.date(1980, 5, 17))
        self.assertEqual(query.numbers, ['17051980'])

    def test_number_words(self):
        "«№», «N» and «полис» before a policy number are not part of it"
        for text in ["№ 123-0000001", "№123-0000001", "N 123 0000001",
                "полис 123-0000001", "Полис №1230000001", "1230000001",
                "123 0000001"]:
            with self.subTest(text=text):
                self.assertIn('1230000001',
                    iq.parse_query(text, TODAY).numbers)
        self.assertIn('ДМС001', iq.parse_query("полис ДМС-001", TODAY).numbers)

    def test_phones(self):
        "A phone in any of the usual forms"
        for text in ["+7 (916) 123-45-67", "89161234567", "9161234567",
                "8 916 123 45 67", "8(916)1234567", "+7-916-123-45-67",
                "916 123-45-67"]:
            with self.subTest(text=text):
                query = iq.parse_query(text, TODAY)
                self.assertEqual(query.phone, '79161234567')
                self.assertIsNone(query.birth_date)

    def test_initials(self):
        "Initials with dots, with spaces or without dots after the surname"
        for text in ["Иванов И.П.", "Иванов И. П.", "Иванов ИП",
                "Иванов И П", "И.П. Иванов"]:
            with self.subTest(text=text):
                query = iq.parse_query(text, TODAY)
                self.assertEqual(query.tokens, ['иванов'])
                self.assertEqual(query.initials, ['и', 'п'])
        self.assertEqual(iq.parse_query("ИВАНОВ ИВАН", TODAY).initials, [])

    def test_lookalikes(self):
        "Latin look-alike letters in a Cyrillic name are Cyrillic ones"
        query = iq.parse_query("Пeтpoва Анна", TODAY)
        self.assertEqual(query.tokens, ['петрова', 'анна'])

    def test_layout(self):
        "A name typed with the Latin layout on is read with the Russian one"
        query = iq.parse_query("Gtnhjdf Fyyf", TODAY)
        self.assertEqual(query.layout_tokens, ['петрова', 'анна'])
        query = iq.parse_query("[fhbnjyjdf", TODAY)
        self.assertEqual(query.layout_tokens, ['харитонова'])
        # «,» is «б», «`» is «ё»: no initial «a» in «A`ljhjdbx».
        query = iq.parse_query("<j,hjd Gfyrhfn A`ljhjdbx", TODAY)
        self.assertEqual(query.layout_tokens,
            ['бобров', 'панкрат', 'федорович'])
        self.assertEqual(query.layout_initials, [])
        self.assertEqual(iq.parse_query("Петрова", TODAY).layout_tokens, [])

    @settings(max_examples=200, deadline=None)
    @given(names, st.data())
    def test_neighbours(self, word, data):
        "A letter replaced, missing, doubled or two swapped is a neighbour"
        word = rules.name_key(word)
        neighbours = set(iq.neighbours(word))
        self.assertNotIn(word, neighbours)
        for other in list(neighbours)[:50]:
            self.assertEqual(rules.edit_distance(word, other), 1)
            self.assertEqual(other[0], word[0])
        if len(word) >= 3:
            i = data.draw(st.integers(1, len(word) - 2))
            swapped = word[:i] + word[i + 1] + word[i] + word[i + 2:]
            if swapped != word:
                self.assertIn(swapped, neighbours)
            self.assertIn(word[:i] + word[i + 1:], neighbours)
            self.assertIn(word[:i] + word[i] + word[i:], neighbours)
