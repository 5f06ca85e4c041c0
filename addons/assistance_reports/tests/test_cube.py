# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The pure logic of the cubes: date grains, periods, grouping sets, chapters"
import datetime as dt
import pathlib
import unittest
import xml.etree.ElementTree as ET

import polib
from hypothesis import given
from hypothesis import strategies as st

from trytond.modules.assistance_case.diagnosis import CHAPTERS_RU
from trytond.modules.assistance_reports import cube_engine as engine

FOLDER = pathlib.Path(__file__).resolve().parent.parent
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1))


class DateGrainTestCase(unittest.TestCase):
    "Date buckets and periods"

    def test_truncate_known(self):
        "Known buckets of a Wednesday"
        date = dt.date(2025, 5, 14)
        self.assertEqual(
            [engine.truncate(date, g) for g in engine.GRAINS], [
                date, dt.date(2025, 5, 12), dt.date(2025, 5, 1),
                dt.date(2025, 4, 1), dt.date(2025, 1, 1)])

    @given(dates, st.sampled_from(engine.GRAINS))
    def test_bucket_holds_date(self, date, grain):
        "The date is in its bucket, and the bucket is the next one's start"
        start = engine.truncate(date, grain)
        end = engine.bucket_end(start, grain)
        self.assertLessEqual(start, date)
        self.assertLess(date, end)
        self.assertEqual(engine.truncate(end, grain), end)
        self.assertEqual(engine.truncate(end - dt.timedelta(days=1), grain),
            start)

    def test_previous_month(self):
        "The previous period of whole months is the same number of months"
        self.assertEqual(engine.previous_period(
                dt.date(2025, 3, 1), dt.date(2025, 3, 31)),
            ((dt.date(2025, 2, 1), dt.date(2025, 2, 28)), 1))
        self.assertEqual(engine.previous_period(
                dt.date(2025, 1, 1), dt.date(2025, 6, 30)),
            ((dt.date(2024, 7, 1), dt.date(2024, 12, 31)), 6))

    @given(dates, st.integers(min_value=0, max_value=400))
    def test_previous_period_adjacent(self, start, days):
        "The previous period ends the day before and is not longer"
        end = start + dt.timedelta(days=days)
        (previous_start, previous_end), months = engine.previous_period(
            start, end)
        self.assertEqual(previous_end, start - dt.timedelta(days=1))
        if months is None:
            self.assertEqual(previous_end - previous_start, end - start)
        else:
            self.assertEqual(previous_start.day, 1)
            self.assertEqual(engine.add_months(previous_start, months),
                start)

    @given(dates, st.integers(min_value=0, max_value=400),
        st.integers(min_value=0, max_value=400))
    def test_previous_dates_land_in_period(self, start, days, offset):
        "Every date of the previous period moves into the current period"
        end = start + dt.timedelta(days=days)
        (previous_start, previous_end), months = engine.previous_period(
            start, end)
        date = min(previous_start + dt.timedelta(days=offset), previous_end)
        shift_days, shift_months = engine.period_shift((start, end))
        self.assertEqual(shift_months, months)
        moved = engine.shift_forward(date, start, previous_start, months)
        if months is None:
            self.assertEqual(moved, date + dt.timedelta(days=shift_days))
        self.assertLessEqual(start, moved)
        self.assertLessEqual(moved, end)

    def test_previous_dates_known(self):
        "A window of 50 days: 15 January stands beside 6 March"
        period = (dt.date(2025, 2, 16), dt.date(2025, 4, 6))
        self.assertEqual(engine.period_shift(period), (50, None))
        self.assertEqual(engine.period_shift(
                (dt.date(2025, 3, 1), dt.date(2025, 3, 31))), (None, 1))


class GroupingSetsTestCase(unittest.TestCase):
    "The sets the pivot needs: each prefix of rows with each of columns"

    def test_known(self):
        self.assertEqual(engine._grouping_sets(['a', 'b'], ['c']), [
                (), (2,), (0,), (0, 2), (0, 1), (0, 1, 2)])

    @given(st.integers(0, 4), st.integers(0, 4))
    def test_every_prefix_once(self, rows, columns):
        sets = engine._grouping_sets(list(range(rows)), list(range(columns)))
        self.assertEqual(len(sets), (rows + 1) * (columns + 1))
        self.assertEqual(len(set(sets)), len(sets))
        self.assertIn((), sets)


class ChapterTestCase(unittest.TestCase):
    "ICD-10 chapters by code range"

    def test_known(self):
        self.assertEqual(engine.chapter_of('J02.9'), 'X')
        self.assertEqual(engine.chapter_of('T14'), 'XIX')
        self.assertEqual(engine.chapter_of('S00'), 'XIX')
        self.assertEqual(engine.chapter_of('A00.1'), 'I')
        self.assertIsNone(engine.chapter_of(''))
        self.assertIsNone(engine.chapter_of('I'))
        self.assertIsNone(engine.chapter_of('123'))

    def test_every_chapter_named(self):
        self.assertEqual({c for c, _, _ in engine.CHAPTER_RANGES},
            set(CHAPTERS_RU))


class CubeMessagesTestCase(unittest.TestCase):
    "Each message of the report configurator has its Russian"

    def test_messages_translated(self):
        russian = {e.msgctxt: e.msgstr
            for e in polib.pofile(str(FOLDER / 'locale' / 'ru.po'))
            if not e.fuzzy}
        for record in ET.parse(FOLDER / 'cube.xml').iter('record'):
            if record.get('model') != 'ir.message':
                continue
            with self.subTest(message=record.get('id')):
                self.assertTrue(russian.get(
                        f"model:ir.message,text:{record.get('id')}"))


class PdfLayoutTestCase(unittest.TestCase):
    "The PDF's table has the pivot's layout"

    def test_html_known(self):
        from trytond.modules.assistance_reports.cube_pdf import html
        answer = {
            'rows': [['operator', "Operator"], ['date_year', "Year"]],
            'columns': [],
            'measures': [['amount', "Amount", 2]],
            'labels': {'operator': [[1, "Анна <Смирнова>"]],
                'date_year': [['2025-01-01', "2025"]]},
            'compare': True,
            'row_keys': [[], [1], [1, '2025-01-01']],
            'column_keys': [[]],
            'cells': [
                [[], [], {'amount': 10}, {'amount': 4}],
                [[1], [], {'amount': 10}, {}],
                [[1, '2025-01-01'], [], {'amount': 10}, {'amount': 4}],
                ],
            }
        text = html(answer, "Title", "Total", "previous",
            lambda value, digits: f'{value:.{digits}f}')
        # A header per measure and its previous figure.
        self.assertIn('<th>Total: Amount</th>', text)
        self.assertIn('<th>Total: Amount (previous)</th>', text)
        # Labels are escaped, the subtotal line is bold, the leaf indented.
        self.assertIn('Анна &lt;Смирнова&gt;', text)
        self.assertEqual(text.count('<tr class="subtotal">'), 2)
        self.assertIn('padding-left: 1.8em">2025</td>', text)
        # Every line has its current figure; an absent figure is empty.
        self.assertEqual(text.count('>10.00</td>'), 3)
        self.assertEqual(text.count('>4.00</td>'), 2)
        self.assertIn('<td class="number previous"></td>', text)
