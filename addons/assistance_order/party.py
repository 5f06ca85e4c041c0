# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Providers on the party (CASE-5), coordinates of their addresses and the
selection of the nearest providers (ORD-1, ORD-5)."""
import math

from sql import Asc, Literal, Null, Window
from sql.conditionals import Least
from sql.functions import Asin, Cos, Power, RowNumber, Sin, Sqrt

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction

from .exceptions import (
    ProviderAccessError, ProviderSuspendedError, ProviderValidationError)
from .provider import EARTH_RADIUS_KM, bounding_boxes

PRICE_LEVELS = [
    (None, ''),
    ('economy', "Economy"),
    ('standard', "Standard"),
    ('premium', "Premium"),
    ]
# The fields only contract managers and department heads may change.
PROVIDER_FIELDS = {
    'is_provider', 'provider_specialties', 'price_level', 'head_office',
    'provider_state', 'suspension_reason',
    }
# The radii (km) tried one after the other when the nearest providers are
# asked for: the bounding box of a small radius reads few index entries, and
# a larger one is tried only when the smaller did not find enough.
SEARCH_RADII = (3, 10, 30, 100, 300, 1000)


def search_radii(max_distance_km=None):
    "Return the radii to try in turn; None is the whole Earth"
    if max_distance_km is None:
        return list(SEARCH_RADII) + [None]
    return [r for r in SEARCH_RADII if r < max_distance_km] + [
        max_distance_km]


def is_provider_manager():
    "Return whether the user may change the providers"
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    if Transaction().user == 0:
        return True
    groups = {ModelData.get_id('assistance_policy', name) for name in [
            'group_contract_manager', 'group_department_head']}
    return bool(groups & set(User.get_groups()))


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'
    _provider_states = {
        'invisible': ~Eval('is_provider'),
        }

    is_provider = fields.Boolean(
        "Provider",
        help="A clinic, doctor, pharmacy, tow truck… that the assistance "
        "company orders services from.")
    provider_specialties = fields.Many2Many(
        'assistance.provider.specialty-party.party', 'party', 'specialty',
        "Specialties", states=_provider_states)
    price_level = fields.Selection(
        PRICE_LEVELS, "Price Level", states=_provider_states)
    head_office = fields.Many2One(
        'party.party', "Head Office", ondelete='RESTRICT',
        domain=[('id', '!=', Eval('id', -1))],
        states=_provider_states,
        help="The party that pays or is paid for this subsidiary.")
    subsidiaries = fields.One2Many(
        'party.party', 'head_office', "Subsidiaries", readonly=True,
        states=_provider_states)
    provider_state = fields.Selection([
            ('active', "Active"),
            ('suspended', "Suspended"),
            ], "Provider State",
        states={
            'invisible': ~Eval('is_provider'),
            'required': Bool(Eval('is_provider')),
            },
        help="A suspended provider is not offered and cannot get orders.")
    suspension_reason = fields.Text(
        "Suspension Reason",
        states={
            'invisible': Eval('provider_state') != 'suspended',
            'required': Eval('provider_state') == 'suspended',
            })
    working_hours = fields.Char(
        "Working Hours", states=_provider_states,
        help="When the provider takes orders, e.g. «пн-пт 8:00-20:00».")
    price_lists = fields.One2Many(
        'assistance.provider.price_list', 'provider', "Price Lists",
        states=_provider_states)
    provider_events = fields.One2Many(
        'assistance.case.event', 'party', "Communications", readonly=True,
        order=[('date', 'DESC'), ('id', 'DESC')], states=_provider_states,
        help="The calls, e-mails and faxes with the provider on every case "
        "(CASE-5).")
    del _provider_states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.head_office, Index.Range())),
                Index(t, (t.is_provider, Index.Equality(cardinality='low')),
                    where=t.is_provider == Literal(True)),
                })

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('//page[@id="provider"]', 'states', {
                    'invisible': ~Eval('is_provider'),
                    }),
            ]

    @staticmethod
    def default_is_provider():
        return False

    @staticmethod
    def default_provider_state():
        return 'active'

    @fields.depends('provider_state', 'suspension_reason')
    def on_change_provider_state(self):
        if self.provider_state != 'suspended':
            self.suspension_reason = None

    @classmethod
    def validate_fields(cls, parties, field_names):
        super().validate_fields(parties, field_names)
        cls.check_head_office(parties, field_names)

    @classmethod
    def check_head_office(cls, parties, field_names=None):
        "A head office may not be, through its own head offices, the party"
        if field_names and 'head_office' not in field_names:
            return
        for party in parties:
            seen = {party.id}
            office = party.head_office
            while office:
                if office.id in seen:
                    raise ProviderValidationError(gettext(
                            'assistance_order.msg_head_office_cycle',
                            party=party.rec_name))
                seen.add(office.id)
                office = office.head_office

    @classmethod
    def check_modification(cls, mode, parties, values=None, external=False):
        "Providers are managed by contract managers and department heads"
        super().check_modification(
            mode, parties, values=values, external=external)
        if not external or is_provider_manager():
            return
        if mode == 'create':
            changed = [p for p in parties if p.is_provider]
        elif mode == 'write':
            changed = [p for p in parties
                if cls._provider_fields_changed(p, values)]
        else:
            changed = [p for p in parties if p.is_provider]
        if changed:
            raise ProviderAccessError(gettext(
                    'assistance_order.msg_provider_manage',
                    party=changed[0].rec_name))

    @classmethod
    def _provider_fields_changed(cls, party, values):
        for name in values.keys() & PROVIDER_FIELDS:
            value, current = values[name], getattr(party, name)
            if isinstance(cls._fields[name], fields.Many2Many):
                if value:
                    return True
                continue
            if isinstance(current, ModelSQL):
                current = current.id
            if current != value:
                return True
        return False

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('price_lists', None)
        default.setdefault('subsidiaries', None)
        default.setdefault('provider_events', None)
        return super().copy(parties, default=default)

    def provider_payee(self):
        "Return the party paid for the provider's services"
        party = self
        while party.head_office:
            party = party.head_office
        return party

    @classmethod
    def check_provider_active(cls, provider):
        """Raise when orders may not go to provider: it is not a provider or
        it is suspended"""
        if not provider.is_provider:
            raise ProviderSuspendedError(gettext(
                    'assistance_order.msg_party_not_provider',
                    party=provider.rec_name))
        if provider.provider_state == 'suspended':
            raise ProviderSuspendedError(gettext(
                    'assistance_order.msg_provider_suspended',
                    provider=provider.rec_name,
                    reason=provider.suspension_reason or ''))

    @classmethod
    def select_providers(cls, latitude, longitude, service=None,
            specialty=None, price_level=None, date=None,
            max_distance_km=None, limit=50):
        """Return the active providers nearest to the point, nearest first.

        Each row is a dict: provider, address (its nearest address),
        distance_km, price_line (of the price list valid on date, when a
        service is asked) and price.  With a service, only the providers
        whose price list valid on date has it."""
        pool = Pool()
        Address = pool.get('party.address')
        Line = pool.get('assistance.provider.price_list.line')
        if date is None:
            date = pool.get('ir.date').today()
        rows = []
        for radius in search_radii(max_distance_km):
            rows = cls._nearest_providers(latitude, longitude, radius,
                service, specialty, price_level, date, limit)
            if len(rows) >= limit:
                break
        providers = cls.browse([r[0] for r in rows])
        addresses = Address.browse([r[1] for r in rows])
        prices = Line.valid_prices(providers, service, date) if (
            service and providers) else {}
        result = []
        for provider, address, (_, _, distance) in zip(
                providers, addresses, rows):
            line_id, price = prices.get(provider.id, (None, None))
            result.append({
                    'provider': provider,
                    'address': address,
                    'distance_km': round(float(distance), 3),
                    'price_line': Line(line_id) if line_id else None,
                    'price': price,
                    })
        return result

    @classmethod
    def _nearest_providers(cls, latitude, longitude, radius, service,
            specialty, price_level, date, limit):
        """Return [(party id, address id, distance km)] of the providers
        within radius (None: anywhere), their nearest address each"""
        pool = Pool()
        Address = pool.get('party.address')
        party = cls.__table__()
        address = Address.__table__()
        distance = haversine_sql(address, latitude, longitude)
        where = cls._provider_where(party, service, specialty, price_level,
            date)
        where &= (address.active == Literal(True))
        where &= (address.latitude != Null) & (address.longitude != Null)
        if radius is not None:
            where &= boxes_sql(address, latitude, longitude, radius)
        ranked = party.join(address, condition=address.party == party.id
            ).select(
                party.id.as_('party'), address.id.as_('address'),
                distance.as_('distance'),
                RowNumber(window=Window([party.id],
                        order_by=[Asc(distance), Asc(address.id)])
                    ).as_('rank'),
                where=where)
        outer = ranked.rank == 1
        if radius is not None:
            outer &= ranked.distance <= radius
        query = ranked.select(
            ranked.party, ranked.address, ranked.distance,
            where=outer,
            order_by=[Asc(ranked.distance), Asc(ranked.party)],
            limit=limit)
        cursor = Transaction().connection.cursor()
        cursor.execute(*query)
        return cursor.fetchall()

    @classmethod
    def _provider_where(cls, party, service, specialty, price_level, date):
        "Return the SQL condition on party of the providers to offer"
        pool = Pool()
        Relation = pool.get('assistance.provider.specialty-party.party')
        PriceList = pool.get('assistance.provider.price_list')
        where = ((party.active == Literal(True))
            & (party.is_provider == Literal(True))
            & (party.provider_state == 'active'))
        if price_level:
            where &= party.price_level == price_level
        if specialty:
            relation = Relation.__table__()
            where &= party.id.in_(relation.select(relation.party,
                    where=relation.specialty == specialty.id))
        if service:
            where &= party.id.in_(PriceList.providers_query(service, date))
        return where


def haversine_sql(table, latitude, longitude):
    """Return the SQL great-circle distance in km from the point to the
    coordinates of table (the formula of provider.haversine_km)"""
    to_radians = math.pi / 180
    phi0, lambda0 = math.radians(latitude), math.radians(longitude)
    phi = table.latitude * to_radians
    lambda_ = table.longitude * to_radians
    # python-sql has no reflected operators: expressions come first.
    a = (Power(Sin((phi - phi0) / 2), 2)
        + Cos(phi) * math.cos(phi0) * Power(Sin((lambda_ - lambda0) / 2), 2))
    return Asin(Sqrt(Least(a, 1.0))) * (2 * EARTH_RADIUS_KM)


def boxes_sql(table, latitude, longitude, radius):
    "Return the SQL condition that the coordinates lie in the bounding boxes"
    condition = None
    for lat_min, lat_max, lon_min, lon_max in bounding_boxes(
            latitude, longitude, radius):
        box = ((table.latitude >= lat_min) & (table.latitude <= lat_max)
            & (table.longitude >= lon_min) & (table.longitude <= lon_max))
        condition = box if condition is None else (condition | box)
    return condition


class Address(metaclass=PoolMeta):
    __name__ = 'party.address'

    latitude = fields.Float(
        "Latitude", digits=(9, 6),
        domain=['OR', ('latitude', '=', None),
            [('latitude', '>=', -90), ('latitude', '<=', 90)]],
        states={
            'required': Eval('longitude', None) != None,  # noqa: E711
            },
        help="In decimal degrees, north positive (Moscow: 55.755826).")
    longitude = fields.Float(
        "Longitude", digits=(9, 6),
        domain=['OR', ('longitude', '=', None),
            [('longitude', '>=', -180), ('longitude', '<=', 180)]],
        states={
            'required': Eval('latitude', None) != None,  # noqa: E711
            },
        help="In decimal degrees, east positive (Moscow: 37.617300).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        # The bounding box of the provider selection reads this index.
        cls._sql_indexes.add(
            Index(t, (t.latitude, Index.Range()),
                (t.longitude, Index.Range()),
                where=t.latitude != Null))
