# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The provider's own price list: services, prices and validity (ORD-2)"
from decimal import Decimal

from sql import Null

from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction


class PriceList(ModelSQL, ModelView):
    "Provider Price List"
    __string__ = "Provider Price List"
    __name__ = 'assistance.provider.price_list'

    provider = fields.Many2One(
        'party.party', "Provider", required=True, ondelete='CASCADE',
        domain=[('is_provider', '=', True)],
        context={'company': Eval('company', -1)}, depends={'company'})
    name = fields.Char("Name", required=True)
    company = fields.Many2One('company.company', "Company", required=True)
    start_date = fields.Date(
        "Start Date", required=True,
        domain=[If(Eval('end_date'),
                ('start_date', '<=', Eval('end_date')),
                ())])
    end_date = fields.Date(
        "End Date",
        domain=[If(Eval('end_date') & Eval('start_date'),
                ('end_date', '>=', Eval('start_date')),
                ())],
        help="Leave empty while the prices hold.")
    currency = fields.Many2One(
        'currency.currency', "Currency", required=True)
    lines = fields.One2Many(
        'assistance.provider.price_list.line', 'price_list', "Lines")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.provider, Index.Range()),
                (t.start_date, Index.Range())))
        cls._order = [('start_date', 'DESC'), ('id', 'DESC')]
        cls._buttons.update({
                'import_lines': {
                    'icon': 'tryton-import',
                    'readonly': Eval('id', -1) < 0,
                    'depends': ['id'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_currency(cls):
        Company = Pool().get('company.company')
        company_id = Transaction().context.get('company')
        if company_id is not None and company_id >= 0:
            return Company(company_id).currency.id

    @classmethod
    def default_start_date(cls):
        return Pool().get('ir.date').today()

    def get_rec_name(self, name):
        return f'{self.name} ({self.provider.rec_name})'

    @classmethod
    def search_rec_name(cls, name, clause):
        bool_op = 'AND' if clause[1].startswith('!') else 'OR'
        return [bool_op,
            ('name', *clause[1:]),
            ('provider', *clause[1:]),
            ]

    @classmethod
    def copy(cls, price_lists, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('end_date', None)
        return super().copy(price_lists, default=default)

    @classmethod
    @ModelView.button_action('assistance_order.wizard_price_list_import')
    def import_lines(cls, price_lists):
        pass

    @classmethod
    def valid_domain(cls, date):
        "Return the domain of the price lists valid on date"
        return [
            ('start_date', '<=', date),
            ['OR', ('end_date', '=', None), ('end_date', '>=', date)],
            ]

    @classmethod
    def valid_on(cls, provider, date):
        "Return the price lists of provider valid on date, the latest first"
        return cls.search([
                ('provider', '=', provider.id),
                *cls.valid_domain(date),
                ], order=[('start_date', 'DESC'), ('id', 'DESC')])

    @classmethod
    def providers_query(cls, service, date):
        """Return the SQL query of the providers whose price lists valid on
        date have service"""
        Line = Pool().get('assistance.provider.price_list.line')
        price_list = cls.__table__()
        line = Line.__table__()
        where = ((line.service == service.id)
            & (price_list.start_date <= date)
            & ((price_list.end_date == Null) | (price_list.end_date >= date)))
        company = Transaction().context.get('company')
        if company:
            where &= price_list.company == company
        return price_list.join(line,
            condition=line.price_list == price_list.id).select(
                price_list.provider, where=where)


class PriceListLine(ModelSQL, ModelView):
    "Provider Price List Line"
    __string__ = "Provider Price List Line"
    __name__ = 'assistance.provider.price_list.line'

    price_list = fields.Many2One(
        'assistance.provider.price_list', "Price List", required=True,
        ondelete='CASCADE')
    service = fields.Many2One(
        'product.product', "Service", required=True,
        domain=[('type', '=', 'service')])
    provider_code = fields.Char(
        "Provider's Code",
        help="The code of the service in the provider's own price list.")
    price = Monetary(
        "Price", currency='currency', digits='currency', required=True,
        domain=[('price', '>=', 0)])
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('price_list')
        t = cls.__table__()
        cls._sql_constraints += [
            ('service_unique', Unique(t, t.price_list, t.service),
                'assistance_order.msg_price_list_line_service_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.service, Index.Range()),
                (t.price_list, Index.Range())))
        cls._order = [('price_list', 'ASC'), ('id', 'ASC')]

    @fields.depends('price_list', '_parent_price_list.currency')
    def on_change_with_currency(self, name=None):
        return self.price_list.currency if self.price_list else None

    def get_rec_name(self, name):
        return f'{self.service.rec_name} ({self.price_list.rec_name})'

    @classmethod
    def search_rec_name(cls, name, clause):
        bool_op = 'AND' if clause[1].startswith('!') else 'OR'
        return [bool_op,
            ('service', *clause[1:]),
            ('provider_code', *clause[1:]),
            ]

    @classmethod
    def _valid_domain(cls, service, date):
        PriceList = Pool().get('assistance.provider.price_list')
        return [('service', '=', service.id)] + [
            ('price_list.' + c[0], *c[1:]) if isinstance(c, tuple)
            else ['OR'] + [('price_list.' + d[0], *d[1:]) for d in c[1:]]
            for c in PriceList.valid_domain(date)]

    @classmethod
    def find_valid(cls, provider, service, date):
        """Return the line of service in the price list of provider valid on
        date (of the latest start), or None"""
        lines = cls.search([
                ('price_list.provider', '=', provider.id),
                *cls._valid_domain(service, date),
                ], order=[('price_list.start_date', 'DESC'),
                ('price_list.id', 'DESC')], limit=1)
        return lines[0] if lines else None

    @classmethod
    def find_valid_many(cls, providers, service, date):
        "Return provider id → the line find_valid returns, in one query"
        return {provider: cls(line_id) for provider, (line_id, _) in
            cls.valid_prices(providers, service, date).items()}

    @classmethod
    def valid_prices(cls, providers, service, date):
        """Return provider id → (line id, price) of the lines find_valid
        returns, in one query: the selection asks it for fifty providers at
        once and needs no more of the line than its price"""
        PriceList = Pool().get('assistance.provider.price_list')
        line = cls.__table__()
        price_list = PriceList.__table__()
        cursor = Transaction().connection.cursor()
        best = {}
        if not providers:
            return best
        where = (price_list.provider.in_([p.id for p in providers])
            & (line.service == service.id)
            & (price_list.start_date <= date)
            & ((price_list.end_date == Null) | (price_list.end_date >= date)))
        company = Transaction().context.get('company')
        if company:
            where &= price_list.company == company
        cursor.execute(*line.join(price_list,
                condition=line.price_list == price_list.id).select(
                price_list.provider, line.id, line.price,
                where=where,
                order_by=[price_list.start_date.desc, price_list.id.desc]))
        for provider_id, line_id, price in cursor:
            if not isinstance(price, Decimal):
                price = Decimal(str(price))
            best.setdefault(provider_id, (line_id, price))
        return best
