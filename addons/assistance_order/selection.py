# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Finding the provider for a case (ORD-1, ORD-5): the nearest active
providers with their price and the coverage decision, and one click to start
the order with the chosen one."""
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.wizard import (
    Button, StateAction, StateTransition, StateView, Wizard)

from .exceptions import ProviderSelectionError
from .party import PRICE_LEVELS

COVERAGE = [
    (None, ""),
    ('covered', "Covered"),
    ('partial', "Partially Covered"),
    ('refused', "Refused"),
    ]


class Case(metaclass=PoolMeta):
    __name__ = 'assistance.case'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'select_provider': {
                    'invisible': ~Eval('state').in_(['open', 'in_progress']),
                    'icon': 'tryton-search',
                    'depends': ['state'],
                    },
                })

    @classmethod
    @ModelView.button_action('assistance_order.wizard_provider_select')
    def select_provider(cls, cases):
        pass


class SelectStart(ModelView):
    "Find a Provider"
    __string__ = "Find a Provider"
    __name__ = 'assistance.provider.select.start'

    case = fields.Many2One('assistance.case', "Case", readonly=True)
    policy = fields.Many2One('assistance.policy', "Policy", readonly=True)
    date = fields.Date(
        "Service Date", required=True,
        help="The price lists and the limits are those of this day.")
    latitude = fields.Float(
        "Latitude", digits=(9, 6), required=True,
        domain=[('latitude', '>=', -90), ('latitude', '<=', 90)],
        help="Where the insured person is: the case's coordinates.")
    longitude = fields.Float(
        "Longitude", digits=(9, 6), required=True,
        domain=[('longitude', '>=', -180), ('longitude', '<=', 180)])
    service = fields.Many2One(
        'product.product', "Service", domain=[('type', '=', 'service')],
        help="Only the providers whose valid price list has the service.")
    specialty = fields.Many2One(
        'assistance.provider.specialty', "Specialty")
    price_level = fields.Selection(PRICE_LEVELS, "Price Level")
    max_distance_km = fields.Float(
        "Max Distance (km)", digits=(16, 1),
        domain=[If(Eval('max_distance_km'),
                ('max_distance_km', '>', 0), ())],
        help="Leave empty to search anywhere.")
    results = fields.One2Many(
        'assistance.provider.select.result', None, "Providers",
        help="The nearest first; tick the provider to order from.")


class SelectResult(ModelView):
    "Provider Found"
    __string__ = "Provider Found"
    __name__ = 'assistance.provider.select.result'

    selected = fields.Boolean("Choose")
    provider = fields.Many2One('party.party', "Provider", readonly=True)
    address = fields.Many2One('party.address', "Address", readonly=True)
    distance_km = fields.Float(
        "Distance (km)", digits=(16, 1), readonly=True)
    price_level = fields.Selection(
        PRICE_LEVELS, "Price Level", readonly=True)
    price_list_line = fields.Many2One(
        'assistance.provider.price_list.line', "Price List Line",
        readonly=True)
    currency = fields.Many2One('currency.currency', "Currency", readonly=True)
    price = Monetary(
        "Price", currency='currency', digits='currency', readonly=True)
    coverage_status = fields.Selection(
        COVERAGE, "Coverage", readonly=True)
    coverage_message = fields.Char("Coverage Decision", readonly=True)
    covered_amount = Monetary(
        "Covered by the Insurer", currency='currency', digits='currency',
        readonly=True)
    insured_amount = Monetary(
        "Paid by the Insured", currency='currency', digits='currency',
        readonly=True)

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('coverage_status') == 'refused',
                    'danger', If(Eval('coverage_status') == 'partial',
                        'warning', ''))),
            ]


class Select(Wizard):
    "The providers nearest to the insured, and an order to the chosen one"
    __name__ = 'assistance.provider.select'
    start = StateView(
        'assistance.provider.select.start',
        'assistance_order.provider_select_start_view_form', [
            Button("Close", 'end', 'tryton-close'),
            Button("Search", 'search', 'tryton-search', default=True),
            Button("Order", 'order', 'tryton-ok'),
            ])
    search = StateTransition()
    order = StateAction('assistance_order.act_order_form')

    # Fields of the search the operator may change; the rest come from the
    # case the first time.
    _criteria = ['date', 'latitude', 'longitude', 'service', 'specialty',
        'price_level', 'max_distance_km']

    def default_start(self, fields):
        case = self.record
        values = {
            'case': case.id,
            'date': case.event_date,
            'latitude': case.latitude,
            'longitude': case.longitude,
            }
        for name in self._criteria:
            value = getattr(self.start, name, None)
            if value is not None:
                values[name] = getattr(value, 'id', value)
        service = Pool().get('product.product')(values['service']) if (
            values.get('service')) else None
        policy = case.policy_for([service])
        values['policy'] = policy.id if policy else None
        values['results'] = self.find(case, values)
        return values

    def transition_search(self):
        return 'start'

    def find(self, case, values):
        "Return the rows of the providers found for the search values"
        pool = Pool()
        Party = pool.get('party.party')
        Product = pool.get('product.product')
        Specialty = pool.get('assistance.provider.specialty')
        if values.get('latitude') is None or values.get('longitude') is None:
            return []
        service = Product(values['service']) if values.get('service') else (
            None)
        rows = Party.select_providers(
            values['latitude'], values['longitude'], service=service,
            specialty=(Specialty(values['specialty'])
                if values.get('specialty') else None),
            price_level=values.get('price_level'),
            date=values['date'], max_distance_km=values.get('max_distance_km'))
        return [self._result(case, service, values['date'], row)
            for row in rows]

    def _result(self, case, service, date, row):
        "Return the values of a result row with the coverage decision"
        line = row['price_line']
        values = {
            'selected': False,
            'provider': row['provider'].id,
            'address': row['address'].id,
            'distance_km': row['distance_km'],
            'price_level': row['provider'].price_level,
            'price_list_line': line.id if line else None,
            'currency': line.currency.id if line else None,
            'price': row['price'],
            }
        policy = case.policy_for([service])
        if line and policy:
            decision = policy.check_coverage(
                service, date, Decimal(1), row['price'], case=case)
            values.update({
                    'coverage_status': decision.status,
                    'coverage_message': decision.message,
                    'covered_amount': decision.covered_amount,
                    'insured_amount': decision.insured_amount,
                    })
        return values

    def chosen(self):
        "Return the result row the operator ticked"
        rows = [r for r in self.start.results if r.selected]
        if len(rows) != 1:
            raise ProviderSelectionError(gettext(
                    'assistance_order.msg_provider_select_one'))
        return rows[0]

    def do_order(self, action):
        Party = Pool().get('party.party')
        row = self.chosen()
        Party.check_provider_active(row.provider)
        order = self.create_order(row)
        action['views'].reverse()
        return action, {'res_id': [order.id]}

    def create_order(self, row):
        """Create the draft order of the case to the chosen provider, with
        the line of the requested service at the provider's price"""
        pool = Pool()
        Order = pool.get('assistance.order')
        Line = pool.get('assistance.order.line')
        case = self.record
        order = Order(case=case, provider=row.provider, date=self.start.date)
        order.on_change_case()
        order.policy = case.policy_for([self.start.service]) or order.policy
        order.provider_address = row.address
        order.save()
        if self.start.service and row.price_list_line:
            # The order's own rules fill the price and the coverage.
            line = Line(order=order, service=self.start.service,
                quantity=Decimal(1))
            line.on_change_service()
            line.save()
        return order
