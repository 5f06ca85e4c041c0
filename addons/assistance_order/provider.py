# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Provider specialties and the pure geometry of the provider selection.

haversine_km and bounding_boxes are plain functions over floats: the SQL of
Party.select_providers computes the same great-circle distance, and the
boxes are the pre-filter its index serves."""
import math

from trytond.model import DeactivableMixin, Index, ModelSQL, ModelView, fields

# The mean radius of the Earth (IUGG), in kilometres.
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180


def haversine_km(lat1, lon1, lat2, lon2):
    "Return the great-circle distance in km between two points in degrees"
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = (math.sin(dphi / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def bounding_boxes(latitude, longitude, distance_km):
    """Return the boxes (lat_min, lat_max, lon_min, lon_max) that hold every
    point within distance_km of the point.

    One box in general; two when the circle crosses the antimeridian
    (Chukotka); a full band of longitudes when it reaches a pole.  The
    longitude span is the exact one of the circle's tangent meridians
    (J. P. Matuschek, "Finding points within a distance of a
    latitude/longitude"), widened by a hair against rounding."""
    angular = distance_km / EARTH_RADIUS_KM
    margin = 1e-9
    lat_min = latitude - math.degrees(angular) - margin
    lat_max = latitude + math.degrees(angular) + margin
    if lat_min <= -90 or lat_max >= 90 or angular >= math.pi / 2:
        return [(max(lat_min, -90.0), min(lat_max, 90.0), -180.0, 180.0)]
    ratio = math.sin(angular) / math.cos(math.radians(latitude))
    if ratio >= 1:
        return [(lat_min, lat_max, -180.0, 180.0)]
    delta = math.degrees(math.asin(ratio)) + margin
    lon_min, lon_max = longitude - delta, longitude + delta
    if lon_min < -180:
        return [(lat_min, lat_max, lon_min + 360, 180.0),
            (lat_min, lat_max, -180.0, lon_max)]
    if lon_max > 180:
        return [(lat_min, lat_max, lon_min, 180.0),
            (lat_min, lat_max, -180.0, lon_max - 360)]
    return [(lat_min, lat_max, lon_min, lon_max)]


def in_boxes(boxes, latitude, longitude):
    "Tell whether the point lies in one of the boxes"
    return any(lat_min <= latitude <= lat_max
        and lon_min <= longitude <= lon_max
        for lat_min, lat_max, lon_min, lon_max in boxes)


class Specialty(DeactivableMixin, ModelSQL, ModelView):
    "Provider Specialty"
    __string__ = "Provider Specialty"
    __name__ = 'assistance.provider.specialty'

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))


class SpecialtyParty(ModelSQL):
    "Provider Specialty - Party"
    __string__ = "Provider Specialty - Party"
    __name__ = 'assistance.provider.specialty-party.party'

    specialty = fields.Many2One(
        'assistance.provider.specialty', "Specialty", required=True,
        ondelete='CASCADE')
    party = fields.Many2One(
        'party.party', "Party", required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # The selection filters providers by specialty.
        cls._sql_indexes.update({
                Index(t, (t.specialty, Index.Equality()),
                    (t.party, Index.Equality())),
                Index(t, (t.party, Index.Equality())),
                })
