# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Unit and property tests of the pure rules of the policy list import and
of the identification search (POL-1, REQ-2)."""
import datetime as dt
import io
import unittest
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trytond.modules.assistance_policy import policy_import_rules as rules

MAPPING = {f: i for i, f in enumerate(rules.FIELDS)}

cell = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.integers(min_value=-10 ** 12, max_value=10 ** 12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(),
    st.datetimes(),
    st.booleans(),
    st.sampled_from([
            "31.02.1980", "17.05.1980", "1980-05-17", "44000", "45292.0",
            "+7 (916) 123-45-67", "89161234567", "Б1", "Иванов Иван",
            "ИВАНОВ", "Фёдоров", "  ", "01.01.1899", "1.1.80"]),
    )


class PolicyImportRulesTestCase(unittest.TestCase):
    "Test the rules of the policy list import"

    @settings(max_examples=400, deadline=None,
        suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(cell, max_size=len(rules.FIELDS) + 2),
        st.sampled_from(['attach', 'detach']))
    def test_parse_row_never_crashes(self, cells, mode):
        "No row crashes the parser; every rejected row has a known reason"
        parsed = rules.parse_row(7, cells, MAPPING, mode)
        self.assertEqual(parsed.row, 7)
        for field, reason in parsed.errors:
            self.assertIn(reason, rules.REASONS)
            self.assertIn(field, rules.FIELDS)
        if not parsed.errors:
            self.assertTrue(parsed.values.get('number'))
            if mode == 'attach':
                self.assertTrue(parsed.values.get('name_key'))
        for field in rules.DATE_FIELDS:
            if field in parsed.values:
                self.assertIsInstance(parsed.values[field], dt.date)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.lists(cell, max_size=8), max_size=12))
    def test_find_header_never_crashes(self, rows):
        "Any sheet gives a header or none, never an exception"
        position, mapping, labels = rules.find_header(
            rows, rules.DEFAULT_SYNONYMS)
        if position is not None:
            self.assertGreaterEqual(len(mapping), 2)
            for column in mapping.values():
                self.assertLess(column, len(labels))

    @given(st.text(max_size=40))
    def test_parse_query_never_crashes(self, text):
        "Any search text is split without error"
        query = rules.parse_query(text)
        self.assertTrue(all(len(t) >= 2 for t in query.tokens))

    @given(st.text(max_size=40))
    def test_keys_are_idempotent(self, text):
        "Normalising a key again changes nothing"
        key = rules.name_key(text)
        if key:
            self.assertEqual(rules.name_key(key), key)
        number = rules.number_key(text)
        if number:
            self.assertEqual(rules.number_key(number), number)

    def test_parse_date(self):
        "Dates as Excel dates, Excel serial numbers and text"
        for value in [
                dt.date(1980, 5, 17), dt.datetime(1980, 5, 17, 0, 0),
                29358, 29358.0, "29358", "17.05.1980", "17.05.1980 г.",
                "1980-05-17", "17/05/1980", " 17.05.1980 "]:
            self.assertEqual(rules.parse_date(value), dt.date(1980, 5, 17),
                msg=repr(value))
        for value in ["31.02.1980", "завтра", True, -5]:
            with self.assertRaises(rules.RowError, msg=repr(value)):
                rules.parse_date(value)
        self.assertIsNone(rules.parse_date(None))
        self.assertIsNone(rules.parse_date(""))

    def test_phone_key(self):
        "A phone in any format becomes international digits"
        for value in ["+7 (916) 123-45-67", "89161234567", "8 916 123 45 67",
                "9161234567", "7-916-123-45-67", 89161234567.0]:
            self.assertEqual(rules.phone_key(value), '79161234567',
                msg=repr(value))
        self.assertEqual(rules.phone_key("+49 30 1234567"), '49301234567')
        for value in ["123", "ivanov@example.com", None, ""]:
            self.assertIsNone(rules.phone_key(value))

    def test_name_key(self):
        "ё/е, case, spaces and Latin look-alikes do not matter"
        key = rules.name_key("Фёдоров  Пётр Алексеевич")
        self.assertEqual(key, "федоров петр алексеевич")
        self.assertEqual(rules.name_key("ФЕДОРОВ петр алексеевич"), key)
        # Latin «e» and «o» typed inside Cyrillic words
        self.assertEqual(rules.name_key("Фeдоpов Петр Алексеевич"), key)
        self.assertEqual(rules.name_key("Smith John"), "smith john")
        self.assertEqual(
            rules.name_key("Римский-Корсаков Н."), "римский корсаков н")

    def test_display_name(self):
        self.assertEqual(rules.display_name("ИВАНОВ", "ИВАН"), "Иванов Иван")
        self.assertEqual(
            rules.display_name("иванова-петрова анна"),
            "Иванова-Петрова Анна")
        self.assertEqual(rules.display_name("Мак-Грегор"), "Мак-Грегор")

    def test_similarity(self):
        "The trigram similarity is pg_trgm's"
        self.assertEqual(rules.similarity("иванов", "иванов"), 1.0)
        self.assertAlmostEqual(rules.similarity("ивонов", "иванов"), 0.4)
        self.assertGreater(
            rules.word_score("иван", "иванов"),
            rules.word_score("ивонов", "иванов"))

    def test_find_header_merged(self):
        "A title row above and a header merged over two rows"
        rows = [
            ["Список застрахованных", None, None, None],
            [],
            ["№ полиса", "Застрахованный", None, "Период"],
            [None, "Фамилия", "Имя", "Дата начала"],
            ["П-1", "Иванов", "Иван", "01.01.2025"],
            ]
        position, mapping, labels = rules.find_header(
            rows, rules.DEFAULT_SYNONYMS)
        self.assertEqual(position, 3)
        self.assertEqual(mapping, {
                'number': 0, 'last_name': 1, 'first_name': 2,
                'start_date': 3})
        self.assertEqual(labels[0], "№ полиса")

    def test_parse_row_reasons(self):
        "Each mistake of a row is reported with its column"
        parsed = rules.parse_row(5, [
                None, None, "Иванов", "Иван", None, "31.02.1980", "Б1",
                "01.02.2025", "01.01.2025", "12", None], MAPPING)
        self.assertEqual(sorted(parsed.errors), [
                ('birth_date', 'bad_date'),
                ('end_date', 'bad_period'),
                ('number', 'missing_number'),
                ('phone', 'bad_phone'),
                ])
        parsed = rules.parse_row(6, [12345.0, "Иванов Иван"], MAPPING)
        self.assertEqual(parsed.values['number'], '12345')
        self.assertEqual(parsed.errors, [])

    def test_parse_query(self):
        "An operator's search text is split into what it may be"
        query = rules.parse_query("Иванов 17.05.1980")
        self.assertEqual(query.birth_date, dt.date(1980, 5, 17))
        self.assertEqual(query.tokens, ['иванов'])
        query = rules.parse_query("+7 (916) 123-45-67")
        self.assertEqual(query.phone, '79161234567')
        self.assertEqual(query.tokens, [])
        query = rules.parse_query("ДМС-0001")
        self.assertEqual(query.number, 'ДМС0001')
        self.assertEqual(query.tokens, [])

    def test_footer(self):
        mapping = {'number': 1, 'full_name': 2}
        self.assertTrue(rules.is_footer([None, "Итого: 300", None], mapping))
        self.assertFalse(rules.is_footer([None, "П-1", "Иванов"], mapping))

    def test_read_xlsx_and_xls(self):
        "Both Excel formats give the same plain rows"
        import openpyxl
        import xlwt
        workbook = openpyxl.Workbook()
        workbook.active.append(["№ полиса", "Дата рождения"])
        workbook.active.append(["П-1", dt.datetime(1980, 5, 17)])
        xlsx = io.BytesIO()
        workbook.save(xlsx)
        book = xlwt.Workbook()
        sheet = book.add_sheet("1")
        sheet.write(0, 0, "№ полиса")
        sheet.write(0, 1, "Дата рождения")
        sheet.write(1, 0, "П-1")
        sheet.write(1, 1, dt.date(1980, 5, 17),
            xlwt.easyxf(num_format_str='DD.MM.YYYY'))
        xls = io.BytesIO()
        book.save(xls)
        for data in [xlsx.getvalue(), xls.getvalue()]:
            rows = list(rules.iter_rows(data))
            self.assertEqual(rows[0], ["№ полиса", "Дата рождения"])
            self.assertEqual(rows[1][0], "П-1")
            self.assertEqual(rules.parse_date(rows[1][1]),
                dt.date(1980, 5, 17))

    def test_xlsx_rows_as_openpyxl(self):
        "The streamed .xlsx rows hold the values openpyxl reads"
        import openpyxl
        import xlsxwriter
        # xlsxwriter: shared strings, styles, gaps; constant memory: inline
        # strings, as insurers' tools write them.
        for options in [{}, {'constant_memory': True}]:
            output = io.BytesIO()
            workbook = xlsxwriter.Workbook(
                output, dict(options, in_memory=True))
            sheet = workbook.add_worksheet()
            dates = workbook.add_format({'num_format': 'dd.mm.yyyy'})
            sheet.write_row(0, 0, ["Список", None, "x"])
            sheet.write_row(2, 0, ["№ полиса", "ФИО", "Дата", "Сумма",
                    "Да", "Пусто", "Текст"])
            sheet.write_string(3, 0, "П-1")
            sheet.write_string(3, 1, "Иванов\tИван & <Ко>")
            sheet.write_datetime(3, 2, dt.datetime(1980, 5, 17), dates)
            sheet.write_number(3, 3, 12.5)
            sheet.write_boolean(3, 4, True)
            sheet.write_string(3, 6, "17.05.1980")
            sheet.write_number(5, 27, 44000)
            workbook.close()
            data = output.getvalue()
            book = openpyxl.load_workbook(
                io.BytesIO(data), read_only=True, data_only=True)
            expected = [list(r) for r in book.worksheets[0].iter_rows(
                    values_only=True)]
            book.close()
            self.assertEqual(list(rules.iter_rows(data)), expected)
            # Without the internals the fast reader needs, openpyxl's own
            with mock.patch.object(rules, '_SheetReader',
                    side_effect=AttributeError):
                self.assertEqual(list(rules.iter_rows(data)), expected)
            self.assertEqual(expected[3][:5], [
                    "П-1", "Иванов\tИван & <Ко>",
                    dt.datetime(1980, 5, 17), 12.5, True])

    def test_xlsx_refuses_entities(self):
        "A worksheet declaring entities (a billion laughs) is refused"
        reader = rules._SheetReader([], set(), set(), None, 0)
        source = io.BytesIO(
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
            b'<worksheet><sheetData><row r="1"><c t="inlineStr"><is><t>&a;'
            b'</t></is></c></row></sheetData></worksheet>')
        with self.assertRaises(ValueError):
            list(reader.rows(source))

    def test_errors_xlsx_writes_text(self):
        "The rejected rows' file keeps the user's text as text, never formulas"
        import json
        from types import SimpleNamespace

        import openpyxl

        from trytond.modules.assistance_policy.policy_import import (
            errors_xlsx)
        tricks = ['=HYPERLINK("http://x","y")', '+cmd', '-1+1', '@SUM(A1)',
            'http://example.com', '0012', '=1/0']
        lines = [SimpleNamespace(
                row=7, cells=json.dumps(tricks), column=tricks[0],
                reason=tricks[1])]
        content = errors_xlsx(tricks, lines, "Row", "Column", "Reason")
        sheet = openpyxl.load_workbook(io.BytesIO(content)).active
        header, row = sheet.iter_rows()
        self.assertEqual(
            [c.value for c in header], ["Row", *tricks, "Column", "Reason"])
        self.assertEqual(
            [c.value for c in row], [7, *tricks, tricks[0], tricks[1]])
        self.assertEqual(
            {c.data_type for c in header + row[1:]}, {'s'})
        self.assertEqual(row[0].data_type, 'n')
        self.assertFalse(any(c.hyperlink for c in header + row))

    def test_edit_distance(self):
        "Letters replaced, missing, doubled or swapped count one each"
        self.assertEqual(rules.edit_distance("иванов", "иванов"), 0)
        self.assertEqual(rules.edit_distance("ивонов", "иванов"), 1)
        self.assertEqual(rules.edit_distance("иванв", "иванов"), 1)
        self.assertEqual(rules.edit_distance("иваннов", "иванов"), 1)
        self.assertEqual(rules.edit_distance("ивнаов", "иванов"), 1)
        self.assertEqual(rules.edit_distance("федорив", "федоров"), 1)
        self.assertEqual(rules.edit_distance("федорив", "федор"), 2)
        self.assertEqual(rules.edit_distance("", "абв"), 3)

    @given(st.text(max_size=12), st.text(max_size=12))
    def test_edit_distance_properties(self, a, b):
        "The distance is symmetric and bounded by the longer word"
        distance = rules.edit_distance(a, b)
        self.assertEqual(distance, rules.edit_distance(b, a))
        self.assertLessEqual(distance, max(len(a), len(b)))
        self.assertEqual(distance == 0, a == b)
