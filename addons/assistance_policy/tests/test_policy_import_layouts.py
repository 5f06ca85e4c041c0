# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Property tests of the policy list reader on the layouts insurers send
(POL-1): headers over one, two or three rows with merged cells, title
blocks above, totals below, extra columns, crafted worksheets."""
import datetime as dt
import io
import unittest
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trytond.modules.assistance_policy import policy_import_rules as rules

SYNONYMS = rules.merge_synonyms(rules.DEFAULT_SYNONYMS)
INDEX = rules.synonym_index(SYNONYMS)
TODAY = dt.date(2026, 6, 1)

# How a column's title may be written: (upper row, lower row) pieces; the
# upper piece of a split title is merged over the columns that share it.
TITLES = {
    'number': [("№ полиса",), ("Полис", "№")],
    'full_name': [("ФИО",), ("Застрахованный",), ("Ф.И.О.",)],
    'birth_date': [("Дата рождения",), ("Дата", "рождения"), ("Д.р.",)],
    'start_date': [("Дата начала",), ("Дата", "начала"),
        ("Дата", "прикрепления")],
    'end_date': [("Дата окончания",), ("Дата", "окончания"),
        ("Дата", "открепления")],
    'package': [("Программа",), ("Код программы",)],
    'phone': [("Телефон",), ("Моб. телефон",)],
    }
OPTIONAL = ['birth_date', 'start_date', 'end_date', 'package', 'phone']
EXTRA = ["№ п/п", "Примечание", "Место работы", "Отдел", "Категория"]
SURNAMES = ["Иванов", "Петрова", "Сидоров", "Вoлков", "Кузнецова", "Орлов"]


def _known(title):
    return rules.normalise_header(title) in INDEX


@st.composite
def layouts(draw):
    "A list of (field or None, title pieces), the header's depth"
    fields = ['number', 'full_name'] + draw(
        st.lists(st.sampled_from(OPTIONAL), unique=True))
    columns = [(f, draw(st.sampled_from(TITLES[f]))) for f in fields]
    for title in draw(st.lists(st.sampled_from(EXTRA), unique=True,
                max_size=3)):
        columns.append((None, (title,)))
    columns = draw(st.permutations(columns))
    two_rows = draw(st.booleans()) or any(
        len(t) == 2 for _, t in columns)
    return columns, two_rows


def header_rows(columns, two_rows, group):
    "The header rows of the columns (merged cells hold their first value)"
    if not two_rows:
        return [[t[0] if len(t) == 1 else ' '.join(t) for _, t in columns]]
    upper, lower = [], []
    previous = None
    for field, title in columns:
        if len(title) == 2:
            upper.append(None if previous == title[0] else title[0])
            lower.append(title[1])
            previous = title[0]
        elif group and field == 'full_name':
            upper.append("Сведения о застрахованном")
            lower.append(title[0])
            previous = None
        else:
            # Merged down over both rows: the value is in the upper cell.
            upper.append(title[0])
            lower.append(None)
            previous = None
    return [upper, lower]


@st.composite
def good_rows(draw, count):
    rows = []
    for i in range(count):
        start = draw(st.dates(dt.date(2026, 1, 1), dt.date(2026, 6, 30)))
        rows.append({
                'number': f"ДМС-{i:04d}",
                'full_name': f"{draw(st.sampled_from(SURNAMES))} Иван "
                "Петрович",
                'birth_date': draw(
                    st.dates(dt.date(1930, 1, 1), dt.date(2010, 12, 31))),
                'start_date': start,
                'end_date': start + dt.timedelta(
                    days=draw(st.integers(0, 180))),
                'package': draw(st.sampled_from(["Б1", "Р2"])),
                'phone': f"+7 916 {draw(st.integers(0, 9999999)):07d}",
                })
    return rows


def date_cell(draw, date):
    "A date as an Excel date, a text or an Excel serial number"
    kind = draw(st.sampled_from(['date', 'text', 'serial']))
    if kind == 'date':
        return dt.datetime.combine(date, dt.time())
    if kind == 'text':
        return date.strftime(draw(st.sampled_from(['%d.%m.%Y', '%Y-%m-%d'])))
    return (date - dt.date(1899, 12, 30)).days


class PolicyImportLayoutTestCase(unittest.TestCase):
    "Test the reader on the layouts of real lists"

    @settings(max_examples=150, deadline=None,
        suppress_health_check=[HealthCheck.too_slow])
    @given(st.data(), layouts(), st.booleans(), st.integers(0, 3),
        st.integers(1, 6))
    def test_layout_good_rows_kept(self, data, layout, group, titles, count):
        "Whatever the header's layout, every good row is read whole"
        columns, two_rows = layout
        rows = [[f"Список застрахованных {i}"] for i in range(titles)]
        if titles:
            rows.append([])
        rows.extend(header_rows(columns, two_rows, group))
        header_end = len(rows) - 1
        expected = data.draw(good_rows(count))
        for values in expected:
            cells = []
            for field, _ in columns:
                if field is None:
                    cells.append(data.draw(st.sampled_from(
                                [None, "x", 12, "Бухгалтерия"])))
                elif field in rules.DATE_FIELDS:
                    cells.append(date_cell(data.draw, values[field]))
                else:
                    cells.append(values[field])
            rows.append(cells)
        rows.append([None, f"Итого: {count}"])

        position, mapping, labels = rules.find_header(rows, SYNONYMS)
        if not any(rows[header_end]):
            # A lower row all merged up is a blank row under the header.
            header_end -= 1
        self.assertEqual(position, header_end)
        self.assertEqual(mapping, {
                f: i for i, (f, _) in enumerate(columns) if f})
        for column, (field, title) in enumerate(columns):
            if field:
                self.assertTrue(_known(labels[column]), labels[column])
        body = rows[position + 1:]
        parsed = [rules.parse_row(n, c, mapping, today=TODAY)
            for n, c in enumerate(body)
            if not rules.is_blank(c) and not rules.is_footer(c, mapping)]
        self.assertEqual(len(parsed), count)
        for row, values in zip(parsed, expected):
            self.assertEqual(row.errors, [])
            for field in mapping:
                value = values[field]
                if field == 'full_name':
                    value = rules.fold_lookalikes(value)
                elif field == 'phone':
                    value = rules.phone_key(value)
                self.assertEqual(row.values[field], value, field)
            if "Вoлков" in values['full_name']:
                self.assertTrue(row.values['corrections'])

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.lists(st.one_of(st.none(), st.text(max_size=12),
                        st.integers(-5, 10 ** 6)), max_size=12),
            max_size=8))
    def test_random_header_never_crashes(self, rows):
        "Random cells above a list never crash the header search"
        position, mapping, labels = rules.find_header(rows, SYNONYMS)
        if position is None:
            self.assertEqual((mapping, labels), ({}, []))
        else:
            self.assertGreaterEqual(len(mapping), 2)
            self.assertTrue(all(c < len(labels) for c in mapping.values()))

    @settings(max_examples=120, deadline=None,
        suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(
                st.integers(1, 2 * 10 ** 8),
                st.one_of(
                    st.sampled_from(['A', 'B', 'Z', 'AA', 'XFD', 'ZZZZ']),
                    st.text('ABCXYZ', min_size=1, max_size=6)),
                st.sampled_from(['n', 's', 'inlineStr', 'b', 'str']),
                st.one_of(st.integers(-3, 10 ** 9).map(str),
                    st.sampled_from(['1.5', 'x', '', '1e3']))),
            max_size=6))
    def test_crafted_sheet_never_crashes(self, cells):
        "A crafted worksheet gives rows or a FileLimitError, nothing else"
        import openpyxl
        book = openpyxl.Workbook()
        book.active.append(["№ полиса", "ФИО"])
        book.active.append(["П-1", "Иванов Иван"])
        output = io.BytesIO()
        book.save(output)
        xml = ''.join(
            f'<row r="{r}"><c r="{c}{r}" t="{t}">'
            + (f'<is><t>{v}</t></is>' if t == 'inlineStr' else f'<v>{v}</v>')
            + '</c></row>'
            for r, c, t, v in sorted(cells, key=lambda x: x[0]))
        source = zipfile.ZipFile(io.BytesIO(output.getvalue()))
        crafted = io.BytesIO()
        with zipfile.ZipFile(crafted, 'w') as target:
            for item in source.infolist():
                content = source.read(item.filename)
                if item.filename == 'xl/worksheets/sheet1.xml':
                    content = content.replace(
                        b'</sheetData>', xml.encode() + b'</sheetData>')
                target.writestr(item, content)
        count = 0
        try:
            for row in rules.iter_rows(crafted.getvalue()):
                count += 1
                self.assertLessEqual(len(row), rules.MAX_COLUMNS)
                if count > 50:
                    # The empty rows of a row far below are yielded one by
                    # one: no need to read them all.
                    break
        except rules.FileLimitError as error:
            self.assertIn(error.reason, {'limit_rows', 'limit_columns',
                    'bad_string', 'bad_reference', 'bad_value'})

    def test_birth_date_rule(self):
        "The birth date rule of the import and of the party"
        self.assertIsNone(rules.birth_date_error(dt.date(1980, 1, 1), TODAY))
        self.assertEqual(rules.birth_date_error(
                dt.date(2027, 1, 1), TODAY), 'future_birth')
        self.assertEqual(rules.birth_date_error(
                dt.date(1899, 12, 31), TODAY), 'old_birth')
        self.assertIsNone(rules.birth_date_error(None, TODAY))

    def test_period_errors(self):
        "A period is inside its contract and does not end before it starts"
        start, end = dt.date(2026, 1, 1), dt.date(2026, 12, 31)
        self.assertEqual(rules.period_errors(
                dt.date(2026, 2, 1), dt.date(2026, 3, 1), start, end), [])
        self.assertEqual(rules.period_errors(
                dt.date(2025, 12, 31), None, start, end),
            [('start_date', 'outside_contract')])
        self.assertEqual(rules.period_errors(
                None, dt.date(2027, 1, 1), start, end),
            [('end_date', 'outside_contract')])
        self.assertEqual(rules.period_errors(
                dt.date(2026, 3, 1), dt.date(2026, 2, 1), start, end),
            [('end_date', 'bad_period')])

    def test_number_key(self):
        "A policy number written otherwise is the same key"
        self.assertEqual(
            {rules.number_key(n) for n in ["ДМС 001", "ДМС-001", "дмс001"]},
            {"ДМС001"})

    def test_fold_lookalikes(self):
        "Latin look-alikes are folded in Cyrillic words only"
        self.assertEqual(rules.fold_lookalikes("Вoлков"), "Волков")
        self.assertEqual(rules.fold_lookalikes("ПЕТPOВ Ivan"), "ПЕТРОВ Ivan")
        self.assertEqual(rules.fold_lookalikes("Smith"), "Smith")
