# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Unit and property tests of the provider selection's geometry and of the
price list rows"""
import math
import unittest
from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trytond.modules.assistance_order.party import search_radii
from trytond.modules.assistance_order.price_list_import import (
    SYNONYMS, parse_price, parse_rows)
from trytond.modules.assistance_order.provider import (
    bounding_boxes, haversine_km, in_boxes)
from trytond.modules.assistance_policy import policy_import_rules as rules

MOSCOW = (55.755826, 37.617300)
ST_PETERSBURG = (59.938676, 30.314494)

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)
distances = st.floats(min_value=0.01, max_value=5000, allow_nan=False)


def destination(latitude, longitude, bearing, distance_km):
    "The point at distance_km from the point on the initial bearing (degrees)"
    angular = distance_km / 6371.0088
    phi1, lambda1 = math.radians(latitude), math.radians(longitude)
    theta = math.radians(bearing)
    phi2 = math.asin(math.sin(phi1) * math.cos(angular)
        + math.cos(phi1) * math.sin(angular) * math.cos(theta))
    lambda2 = lambda1 + math.atan2(
        math.sin(theta) * math.sin(angular) * math.cos(phi1),
        math.cos(angular) - math.sin(phi1) * math.sin(phi2))
    longitude2 = (math.degrees(lambda2) + 540) % 360 - 180
    return math.degrees(phi2), longitude2


class HaversineTestCase(unittest.TestCase):

    def test_moscow_st_petersburg(self):
        distance = haversine_km(*MOSCOW, *ST_PETERSBURG)
        self.assertAlmostEqual(distance, 634, delta=3)

    def test_quarter_meridian(self):
        "From the equator to the pole: a quarter of the circumference"
        self.assertAlmostEqual(
            haversine_km(0, 0, 90, 0), math.pi * 6371.0088 / 2, places=6)

    def test_across_antimeridian(self):
        "Two points of Chukotka on both sides of 180° are close"
        self.assertLess(haversine_km(65.0, 179.9, 65.0, -179.9), 10)

    @given(latitudes, longitudes)
    def test_same_point(self, latitude, longitude):
        self.assertEqual(haversine_km(latitude, longitude,
                latitude, longitude), 0)

    @given(latitudes, longitudes, latitudes, longitudes)
    def test_symmetric(self, lat1, lon1, lat2, lon2):
        self.assertAlmostEqual(
            haversine_km(lat1, lon1, lat2, lon2),
            haversine_km(lat2, lon2, lat1, lon1), places=6)

    @given(latitudes, longitudes, latitudes, longitudes)
    def test_bounded(self, lat1, lon1, lat2, lon2):
        distance = haversine_km(lat1, lon1, lat2, lon2)
        self.assertGreaterEqual(distance, 0)
        self.assertLessEqual(distance, math.pi * 6371.0088 + 1e-6)


class BoundingBoxTestCase(unittest.TestCase):

    @settings(max_examples=500)
    @given(latitudes, longitudes, distances,
        st.floats(min_value=0, max_value=360), st.floats(0, 1))
    def test_points_within_distance_in_box(
            self, latitude, longitude, distance, bearing, share):
        "Every point within distance of the centre lies in a box"
        point = destination(latitude, longitude, bearing, distance * share)
        assume(haversine_km(latitude, longitude, *point) <= distance)
        boxes = bounding_boxes(latitude, longitude, distance)
        self.assertTrue(in_boxes(boxes, *point),
            msg=f'{point} not in {boxes}')

    @given(st.floats(min_value=-80, max_value=80), longitudes,
        st.floats(min_value=0.1, max_value=500))
    def test_box_is_tight_in_latitude(self, latitude, longitude, distance):
        "Points just beyond distance north and south are outside the boxes"
        boxes = bounding_boxes(latitude, longitude, distance)
        north = destination(latitude, longitude, 0, distance * 1.01)
        south = destination(latitude, longitude, 180, distance * 1.01)
        self.assertFalse(in_boxes(boxes, *north))
        self.assertFalse(in_boxes(boxes, *south))

    def test_antimeridian_two_boxes(self):
        boxes = bounding_boxes(65.0, 179.5, 100)
        self.assertEqual(len(boxes), 2)
        self.assertTrue(in_boxes(boxes, 65.0, -179.5))

    def test_pole_full_band(self):
        (lat_min, lat_max, lon_min, lon_max), = bounding_boxes(89.5, 10, 100)
        self.assertEqual((lat_max, lon_min, lon_max), (90, -180, 180))


class SearchRadiiTestCase(unittest.TestCase):

    def test_anywhere(self):
        self.assertEqual(search_radii(), [3, 10, 30, 100, 300, 1000, None])

    def test_max_distance(self):
        self.assertEqual(search_radii(50), [3, 10, 30, 50])
        self.assertEqual(search_radii(2), [2])
        self.assertEqual(search_radii(10), [3, 10])


class PriceTestCase(unittest.TestCase):

    def test_numbers(self):
        self.assertEqual(parse_price(1500), Decimal(1500))
        self.assertEqual(parse_price(1500.5), Decimal('1500.5'))
        self.assertEqual(parse_price('1 234,50 руб.'), Decimal('1234.50'))
        self.assertEqual(parse_price('2\u00a0000 ₽'), Decimal(2000))
        self.assertIsNone(parse_price(None))
        self.assertIsNone(parse_price('  '))

    def test_bad(self):
        for value in ['договорная', '12,5,1', True, '1-2']:
            with self.subTest(value=value):
                with self.assertRaises(rules.RowError) as context:
                    parse_price(value)
                self.assertEqual(context.exception.reason, 'bad_price')
        with self.assertRaises(rules.RowError) as context:
            parse_price(-5)
        self.assertEqual(context.exception.reason, 'negative_price')

    def test_rows(self):
        "Code first, then name; unknown, duplicate and bad rows rejected"
        rows = [
            ["Прайс-лист клиники «Здоровье»", None, None],
            ["Код услуги", "Наименование услуги", "Цена, руб."],
            ["T-1", "Приём терапевта (первичный)", 1500],
            [None, "ПРИЁМ  НЕВРОЛОГА", "2 000"],
            ["X-9", "Массаж ног", 900],
            ["T-1", "Приём терапевта", 1600],
            [None, "Анализ крови", "бесплатно"],
            [None, None, None],
            ["Итого", None, None],
            ]
        position, mapping, labels = rules.find_header(rows, SYNONYMS)
        self.assertEqual(position, 1)
        codes = {'T-1': 1}
        names = {'прием невролога': 2, 'анализ крови': 3}
        parsed = parse_rows(rows, mapping, position, codes, names)
        self.assertEqual([p.row for p in parsed], [3, 4, 5, 6, 7])
        good = [p for p in parsed if not p.errors]
        self.assertEqual([(p.values['service'], p.values['price'])
                for p in good], [(1, Decimal(1500)), (2, Decimal(2000))])
        self.assertEqual(good[0].values['provider_code'], 'T-1')
        self.assertEqual([p.errors for p in parsed if p.errors], [
                [('service', 'unknown_service')],
                [('service', 'duplicate_in_file')],
                [('price', 'bad_price')],
                ])


class TranslationTestCase(unittest.TestCase):
    "Every message of the providers and price lists is in Russian"
    PREFIXES = ('msg_price_import_', 'msg_provider_', 'msg_head_office_',
        'msg_party_not_provider', 'msg_price_list_')

    def test_messages_translated(self):
        import pathlib
        import xml.etree.ElementTree as ET

        import polib
        folder = pathlib.Path(__file__).resolve().parent.parent
        ids = [r.get('id') for r in ET.parse(folder / 'message.xml').iter(
                'record') if r.get('id').startswith(self.PREFIXES)]
        self.assertGreaterEqual(len(ids), 13)
        russian = {e.msgctxt: e.msgstr
            for e in polib.pofile(str(folder / 'locale' / 'ru.po'))
            if not e.fuzzy}
        for id_ in ids:
            with self.subTest(message=id_):
                self.assertTrue(
                    russian.get(f'model:ir.message,text:{id_}'))
