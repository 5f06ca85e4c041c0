# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""Server-side cubes (REP-1): dimensions and measures declared in Python,
answered by one GROUPING SETS query (a UNION ALL of GROUP BYs on SQLite)
over the records the user may read."""
import calendar
import datetime as dt
from decimal import Decimal

from sql import Cast, Column, Literal, Null, Union
from sql.aggregate import Count, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import DateTrunc, Function, Substring
from sql.operators import Concat
from sql import Grouping

from trytond import backend
from trytond.i18n import gettext
from trytond.pool import Pool
from trytond.transaction import Transaction

from .exceptions import CubeKeyError

GRAINS = ['day', 'week', 'month', 'quarter', 'year']

# The chapters of ICD-10 by the range of their three-character codes.
CHAPTER_RANGES = [
    ('I', 'A00', 'B99'), ('II', 'C00', 'D48'), ('III', 'D50', 'D89'),
    ('IV', 'E00', 'E90'), ('V', 'F00', 'F99'), ('VI', 'G00', 'G99'),
    ('VII', 'H00', 'H59'), ('VIII', 'H60', 'H95'), ('IX', 'I00', 'I99'),
    ('X', 'J00', 'J99'), ('XI', 'K00', 'K93'), ('XII', 'L00', 'L99'),
    ('XIII', 'M00', 'M99'), ('XIV', 'N00', 'N99'), ('XV', 'O00', 'O99'),
    ('XVI', 'P00', 'P96'), ('XVII', 'Q00', 'Q99'), ('XVIII', 'R00', 'R99'),
    ('XIX', 'S00', 'T98'), ('XX', 'V01', 'Y98'), ('XXI', 'Z00', 'Z99'),
    ('XXII', 'U00', 'U85'),
    ]


class GroupingId(Function):
    "GROUPING(a, b, …): the bit of each argument is 1 when rolled up"
    __slots__ = ()
    _function = 'GROUPING'


class StrfTime(Function):
    __slots__ = ()
    _function = 'STRFTIME'


class SQLiteDate(Function):
    __slots__ = ()
    _function = 'DATE'


def shift_column(date, shift):
    """Return the SQL of the date moved forward by shift (days, months) as
    shift_forward does: a month shift ends on the month's last day when
    the day does not exist (31 January + 1 month is 28 February)"""
    days, months = shift
    if backend.name == 'sqlite':
        if months is None:
            return SQLiteDate(date, Literal(f'+{days} days'))
        moved = SQLiteDate(date, Literal(f'+{months} months'))
        # SQLite overflows into the next month (31 January + 1 month is
        # 3 March): go back to the last day of the month aimed at.
        return Case((StrfTime('%d', moved) != StrfTime('%d', date),
                SQLiteDate(moved, Literal('start of month'),
                    Literal('-1 day'))),
            else_=moved)
    if months is None:
        return date + Cast(Literal(f'{days} days'), 'INTERVAL')
    return date + Cast(Literal(f'{months} months'), 'INTERVAL')


def chapter_of(code):
    "Return the ICD-10 chapter of a diagnosis code, or None"
    if not code:
        return None
    prefix = code[:3].upper()
    for chapter, first, last in CHAPTER_RANGES:
        if first <= prefix <= last:
            return chapter
    return None


def truncate(date, grain):
    "Return the first day of the grain's bucket holding date"
    if grain == 'day':
        return date
    if grain == 'week':
        return date - dt.timedelta(days=date.weekday())
    if grain == 'month':
        return date.replace(day=1)
    if grain == 'quarter':
        return date.replace(month=(date.month - 1) // 3 * 3 + 1, day=1)
    return date.replace(month=1, day=1)


def bucket_end(start, grain):
    "Return the first day after the bucket starting on start"
    if grain == 'day':
        return start + dt.timedelta(days=1)
    if grain == 'week':
        return start + dt.timedelta(days=7)
    months = {'month': 1, 'quarter': 3, 'year': 12}[grain]
    return add_months(start, months)


def add_months(date, months):
    month = date.month - 1 + months
    year, month = date.year + month // 12, month % 12 + 1
    day = min(date.day, calendar.monthrange(year, month)[1])
    return date.replace(year=year, month=month, day=day)


def _month_aligned(start, end):
    return (start.day == 1
        and (end + dt.timedelta(days=1)).day == 1)


def previous_period(start, end):
    """Return the period of the same length just before (start, end):
    the same number of whole months when the period is whole months"""
    if _month_aligned(start, end):
        months = ((end.year - start.year) * 12 + end.month - start.month
            + 1)
        return (add_months(start, -months),
            add_months(start, 0) - dt.timedelta(days=1)), months
    days = (end - start).days + 1
    return (start - dt.timedelta(days=days),
        start - dt.timedelta(days=1)), None


def shift_forward(date, start, previous_start, months):
    "Move a date of the previous period to its place in the current one"
    if months is not None:
        return add_months(date, months)
    return date + (start - previous_start)


def period_shift(period):
    """Return how a date of the previous period of period moves to its
    place in the current one: (days, None) or (None, months)"""
    (previous_start, _), months = previous_period(*period)
    if months is not None:
        return None, months
    return (period[0] - previous_start).days, None


class Joiner:
    "Left-join the tables of Many2One paths from a model's table, once each"

    def __init__(self, Model):
        self.table = Model.__table__()
        self.from_ = self.table
        self.joins = {(): (self.table, Model)}

    def get(self, path):
        "Return the table and model reached by path (a tuple of steps)"
        if path not in self.joins:
            table, Model = self.get(path[:-1])
            step = path[-1]
            if isinstance(step, tuple):
                # A reverse step: the rows of step[0] whose step[1] is us.
                Target = Pool().get(step[0])
                target = Target.__table__()
                condition = getattr(target, step[1]) == table.id
            else:
                Target = Pool().get(Model._fields[step].model_name)
                target = Target.__table__()
                condition = target.id == getattr(table, step)
            self.from_ = self.from_.join(
                target, 'LEFT', condition=condition)
            self.joins[path] = (target, Target)
        return self.joins[path]

    def column(self, path):
        "Return the column at the end of path (its last step is a field)"
        table, _ = self.get(tuple(path[:-1]))
        return getattr(table, path[-1])


def _dotted(path):
    return '.'.join(s for s in path if not isinstance(s, tuple))


class Dimension:
    "A whitelisted axis of a cube: a key, a label and an SQL expression"
    message = None

    def __init__(self, key, path, message=None):
        self.key = key
        self.path = tuple(path)
        self.message = message or f'assistance_reports.msg_dim_{key}'

    @property
    def string(self):
        return gettext(self.message)

    def fields(self, Model):
        "Yield the (model name, field name) read along the path"
        pool = Pool()
        for step in self.path:
            if isinstance(step, tuple):
                Model = pool.get(step[0])
                continue
            yield Model.__name__, step
            field = Model._fields[step]
            if getattr(field, 'model_name', None):
                Model = pool.get(field.model_name)

    def column(self, joiner):
        return joiner.column(self.path)

    def normalise(self, value):
        "Return the value as the client sees it"
        return value

    def check_value(self, value):
        "Return value if it may be a value of the dimension, else raise"
        return value

    def domain(self, value):
        "Return the domain of the base model's records of the value"
        return [(_dotted(self.path), '=', value)]

    def labels(self, Model, values):
        return {v: str(v) for v in values}

    def sort_key(self, value, label):
        "Return the key that orders the values by name, none last"
        return (value is None, str(label))


class Many2OneDimension(Dimension):

    def target(self, Model):
        for model_name, field_name in self.fields(Model):
            pass
        return Pool().get(Pool().get(model_name)._fields[field_name]
            .model_name)

    def check_value(self, value):
        if value is not None and (
                not isinstance(value, int) or isinstance(value, bool)):
            raise CubeKeyError(gettext(
                    'assistance_reports.msg_cube_value',
                    dimension=self.string, value=value))
        return value

    def domain(self, value):
        if any(isinstance(s, tuple) for s in self.path):
            return self.reverse_domain(value)
        return super().domain(value)

    def reverse_domain(self, value):
        "Return the domain of a path through an origin (reverse step)"
        steps = self.path
        index = max(i for i, s in enumerate(steps) if isinstance(s, tuple))
        model_name = steps[index][0]
        rest = '.'.join(steps[index + 1:])
        if value is None:
            return ['OR', ('origin', '=', None),
                ('origin', 'not like', f'{model_name},%'),
                (f'origin.{rest}', '=', None, model_name)]
        return [(f'origin.{rest}', '=', value, model_name)]

    def labels(self, Model, values):
        Target = self.target(Model)
        ids = [v for v in values if v is not None]
        with Transaction().set_context(_check_access=False):
            records = Target.browse(ids)
            labels = {r.id: r.rec_name for r in records}
        labels[None] = gettext('assistance_reports.msg_cube_none')
        return labels


class HeadOfficeDimension(Many2OneDimension):
    "The provider's head office, the provider itself when it has none"

    def fields(self, Model):
        yield from super().fields(Model)
        yield 'party.party', 'head_office'

    def target(self, Model):
        return Pool().get('party.party')

    def column(self, joiner):
        provider, _ = joiner.get(self.path)
        return Coalesce(provider.head_office, provider.id)

    def domain(self, value):
        index = max(i for i, s in enumerate(self.path) if isinstance(s, tuple))
        model_name = self.path[index][0]
        rest = '.'.join(self.path[index + 1:])
        if value is None:
            return Many2OneDimension(self.key, self.path + ('id',)).domain(
                None)
        return ['OR',
            (f'origin.{rest}.head_office', '=', value, model_name),
            [(f'origin.{rest}.head_office', '=', None, model_name),
                (f'origin.{rest}', '=', value, model_name)]]


class CategoryDimension(Many2OneDimension):
    "The first category of a service (a product may have several)"

    def fields(self, Model):
        yield from super().fields(Model)
        yield 'product.template', 'categories'

    def target(self, Model):
        return Pool().get('product.category')

    def column(self, joiner):
        pool = Pool()
        relation = pool.get('product.template-product.category').__table__()
        product, _ = joiner.get(self.path)
        from sql.aggregate import Min
        return relation.select(Min(relation.category),
            where=relation.template == product.template)

    def domain(self, value):
        return [(_dotted(self.path) + '.template.categories', '=', value)]


class SelectionDimension(Dimension):

    def selection(self, Model):
        model_name, field_name = list(self.fields(Model))[-1]
        Target = Pool().get(model_name)
        return dict(Target.fields_get([field_name])[field_name]['selection'])

    def check_value(self, value):
        if value is not None and not isinstance(value, str):
            raise CubeKeyError(gettext(
                    'assistance_reports.msg_cube_value',
                    dimension=self.string, value=value))
        return value

    def labels(self, Model, values):
        selection = self.selection(Model)
        return {v: selection.get(v, v) or gettext(
                'assistance_reports.msg_cube_none') for v in values}


class ChapterDimension(Dimension):
    "The ICD-10 chapter of a diagnosis code (a Char at the end of path)"

    def column(self, joiner):
        code = joiner.column(self.path)
        prefix = Substring(code, 1, 3)
        return Case(*(((prefix >= first) & (prefix <= last), chapter)
                for chapter, first, last in CHAPTER_RANGES),
            else_=Null)

    def check_value(self, value):
        if value is not None and value not in {
                c for c, _, _ in CHAPTER_RANGES}:
            raise CubeKeyError(gettext(
                    'assistance_reports.msg_cube_value',
                    dimension=self.string, value=value))
        return value

    def domain(self, value):
        name = _dotted(self.path)
        if value is None:
            return [(name, '=', None)]
        (first, last), = [(f, l) for c, f, l in CHAPTER_RANGES if c == value]
        # Codes sort as text: every code of the chapter is between the
        # first code and the last code followed by anything.
        return [(name, '>=', first), (name, '<=', last + '\uffff')]

    def labels(self, Model, values):
        from trytond.modules.assistance_case.diagnosis import CHAPTERS_RU
        language = Transaction().language or ''
        labels = {}
        for value in values:
            if value is None:
                labels[value] = gettext('assistance_reports.msg_cube_none')
            elif language.startswith('ru'):
                labels[value] = f'{value}. {CHAPTERS_RU[value]}'
            else:
                labels[value] = value
        return labels


class DateDimension(Dimension):
    "A date field truncated to a grain (day, week, month, quarter, year)"

    def __init__(self, key, path, grain):
        super().__init__(key, path)
        self.grain = grain

    def column(self, joiner, shift=None):
        """Return the bucket of the date; with shift (days, months), the
        bucket of the date moved to its place in the current period"""
        date = joiner.column(self.path)
        if shift is not None:
            date = shift_column(date, shift)
        if backend.name == 'sqlite':
            return self._sqlite_column(date)
        return DateTrunc(self.grain, date)

    def _sqlite_column(self, date):
        if self.grain == 'day':
            return SQLiteDate(date)
        if self.grain == 'week':
            # Back to the Monday: %w is 0 on Sunday.
            weekday = (StrfTime('%w', date) + 6) % 7
            return SQLiteDate(date,
                Concat(Concat(Literal('-'), weekday), Literal(' days')))
        if self.grain == 'month':
            return StrfTime('%Y-%m-01', date)
        if self.grain == 'year':
            return StrfTime('%Y-01-01', date)
        month = StrfTime('%m', date)
        return Concat(Concat(StrfTime('%Y-', date), Case(
                    (month <= '03', '01'), (month <= '06', '04'),
                    (month <= '09', '07'), else_='10')), Literal('-01'))

    def normalise(self, value):
        if isinstance(value, str):
            value = dt.date.fromisoformat(value[:10])
        elif isinstance(value, dt.datetime):
            value = value.date()
        return value.isoformat() if value else None

    def check_value(self, value):
        try:
            start = dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            raise CubeKeyError(gettext(
                    'assistance_reports.msg_cube_value',
                    dimension=self.string, value=value))
        return start.isoformat()

    def domain(self, value):
        start = dt.date.fromisoformat(value)
        name = _dotted(self.path)
        return [(name, '>=', start),
            (name, '<', bucket_end(start, self.grain))]

    def labels(self, Model, values):
        return {v: self.label(v) for v in values}

    def sort_key(self, value, label):
        return (value is None, value or '')

    def label(self, value):
        if value is None:
            return gettext('assistance_reports.msg_cube_none')
        date = dt.date.fromisoformat(value)
        if self.grain in {'day', 'week'}:
            text = date.strftime('%d.%m.%Y')
            return (text if self.grain == 'day' else gettext(
                    'assistance_reports.msg_cube_week', date=text))
        if self.grain == 'month':
            return date.strftime('%m.%Y')
        if self.grain == 'quarter':
            return gettext('assistance_reports.msg_cube_quarter',
                quarter=(date.month - 1) // 3 + 1, year=date.year)
        return str(date.year)


AGES = [('0_30', 0, 30), ('31_60', 31, 60), ('61_90', 61, 90),
    ('over_90', 91, None)]


def age_of(date, reference):
    "Return the key of the age bucket of date on reference (None if later)"
    days = (reference - date).days
    for key, first, last in AGES:
        if days >= first and (last is None or days <= last):
            return key
    return None


class AgeDimension(Dimension):
    """The age in days of a date field on the reference day, in buckets
    0–30, 31–60, 61–90, over 90: the period's last day, today without one"""
    reference = None

    def set_period(self, period):
        self.reference = (period[1] if period
            else Pool().get('ir.date').today())

    def _bounds(self, key):
        "Return the (oldest, newest) dates of the bucket (oldest None: any)"
        (first, last), = [(f, l) for k, f, l in AGES if k == key]
        return (self.reference - dt.timedelta(days=last)
            if last is not None else None,
            self.reference - dt.timedelta(days=first))

    def column(self, joiner):
        date = joiner.column(self.path)
        whens = []
        for key, _, _ in AGES:
            oldest, newest = self._bounds(key)
            condition = date <= newest
            if oldest is not None:
                condition &= date >= oldest
            whens.append((condition, key))
        return Case(*whens, else_=Null)

    def check_value(self, value):
        if value is not None and value not in {k for k, _, _ in AGES}:
            raise CubeKeyError(gettext(
                    'assistance_reports.msg_cube_value',
                    dimension=self.string, value=value))
        return value

    def domain(self, value):
        name = _dotted(self.path)
        if value is None:
            return [(name, '>', self.reference)]
        oldest, newest = self._bounds(value)
        domain = [(name, '<=', newest)]
        if oldest is not None:
            domain.append((name, '>=', oldest))
        return domain

    def labels(self, Model, values):
        return {v: gettext(f'assistance_reports.msg_cube_age_{v}')
            if v else gettext('assistance_reports.msg_cube_none')
            for v in values}

    def sort_key(self, value, label):
        keys = [k for k, _, _ in AGES]
        return (value is None, keys.index(value) if value in keys else 0)


def date_dimensions(prefix, path):
    "Return a date dimension for every grain"
    return [DateDimension(f'{prefix}_{grain}', path, grain)
        for grain in GRAINS]


class Measure:
    "A figure of a cell: an aggregate over the records of the cell"
    digits = 0

    def __init__(self, key, message=None):
        self.key = key
        self.message = message or f'assistance_reports.msg_measure_{key}'

    @property
    def string(self):
        return gettext(self.message)

    def fields(self, Model):
        return []

    def inputs(self, joiner):
        "Return the columns the aggregate reads"
        return []

    def aggregate(self, columns):
        raise NotImplementedError

    def value(self, row):
        return row[self.key]

    def components(self):
        return [self]


class CountMeasure(Measure):

    def aggregate(self, columns):
        return Count(Literal(1))


class DistinctCountMeasure(Measure):

    def __init__(self, key, path, message=None):
        super().__init__(key, message)
        self.path = tuple(path)

    def fields(self, Model):
        return Dimension(self.key, self.path).fields(Model)

    def inputs(self, joiner):
        return [joiner.column(self.path)]

    def aggregate(self, columns):
        column, = columns
        return Count(column, distinct=True)


class SumMeasure(Measure):
    "The sum of a field, optionally of the records meeting a condition"

    def __init__(self, key, path, condition=None, digits=2, message=None):
        super().__init__(key, message)
        self.path = tuple(path)
        self.condition = condition
        self.digits = digits

    def fields(self, Model):
        return Dimension(self.key, self.path).fields(Model)

    def inputs(self, joiner):
        column = joiner.column(self.path)
        if self.condition:
            column = Case((self.condition(joiner), column), else_=0)
        return [column]

    def aggregate(self, columns):
        column, = columns
        return Sum(column)

    def value(self, row):
        value = row[self.key]
        if value is None:
            value = 0
        return round(Decimal(str(value)), self.digits)


class ConditionCountMeasure(SumMeasure):
    "The number of records meeting a condition"

    def __init__(self, key, condition, message=None):
        super().__init__(key, ('id',), condition=condition, digits=0,
            message=message)

    def fields(self, Model):
        return []

    def inputs(self, joiner):
        return [Case((self.condition(joiner), 1), else_=0)]

    def value(self, row):
        return int(row[self.key] or 0)


class RatioMeasure(Measure):
    "The ratio of the sums of two measures of the cell (None on zero)"
    digits = 4

    def __init__(self, key, numerator, denominator, message=None):
        super().__init__(key, message)
        self.numerator = numerator
        self.denominator = denominator

    def fields(self, Model):
        return [*self.numerator.fields(Model),
            *self.denominator.fields(Model)]

    def components(self):
        return [self.numerator, self.denominator]

    def value(self, row):
        numerator = self.numerator.value(row)
        denominator = self.denominator.value(row)
        if not denominator:
            return None
        return round(Decimal(numerator) / Decimal(denominator), self.digits)


class Cube:
    """A declared cube: the base model, its date field (for the period),
    a domain every request adds, the whitelisted dimensions and measures"""

    def __init__(self, key, model, date, dimensions, measures, domain=None):
        self.key = key
        self.model = model
        self.date = date
        self.dimensions = {d.key: d for d in dimensions}
        self.measures = {m.key: m for m in measures}
        self.domain = domain or []

    @property
    def string(self):
        return gettext(f'assistance_reports.msg_cube_{self.key}')

    def describe(self):
        "Return the keys and labels the client may offer"
        return {
            'key': self.key,
            'string': self.string,
            'model': self.model,
            'dated': bool(self.date),
            'dimensions': [[d.key, d.string]
                for d in self.dimensions.values()],
            'measures': [[m.key, m.string, m.digits]
                for m in self.measures.values()],
            }


def _key(mapping, key, message, **kwargs):
    if not isinstance(key, str) or key not in mapping:
        raise CubeKeyError(gettext(message, key=key, **kwargs))
    return mapping[key]


class Request:
    "A validated request on a cube (keys only, checked on the whitelist)"

    def __init__(self, cubes, params):
        if not isinstance(params, dict):
            params = {}
        self.cube = _key(cubes, params.get('cube'),
            'assistance_reports.msg_cube_unknown')
        self.rows = self._dimensions(params.get('rows'))
        self.columns = self._dimensions(params.get('columns'))
        if len({d.key for d in self.rows + self.columns}) < len(
                self.rows + self.columns):
            raise CubeKeyError(gettext('assistance_reports.msg_cube_twice'))
        measures = params.get('measures') or ['count']
        self.measures = [_key(self.cube.measures, m,
                'assistance_reports.msg_cube_measure', cube=self.cube.string)
            for m in self._list(measures)]
        self.filters = []
        filters = params.get('filters') or {}
        if not isinstance(filters, dict):
            filters = {}
        for key, values in filters.items():
            dimension = self._dimension(key)
            values = values if isinstance(values, list) else [values]
            self.filters.append((dimension,
                    [dimension.check_value(v) for v in values]))
        # A cube without a date (the limits) has no period.
        self.period = (self._period(params.get('period'))
            if self.cube.date else None)
        for dimension in self.cube.dimensions.values():
            if hasattr(dimension, 'set_period'):
                dimension.set_period(self.period)
        self.compare = bool(params.get('compare')) and bool(self.period)
        self.sort = params.get('sort')
        if self.sort is not None and self.sort not in self.cube.measures:
            raise CubeKeyError(gettext(
                    'assistance_reports.msg_cube_measure', key=self.sort,
                    cube=self.cube.string))
        self.cell = []
        cell = params.get('cell') or {}
        for key, value in (cell.items() if isinstance(cell, dict) else []):
            dimension = self._dimension(key)
            self.cell.append((dimension, dimension.check_value(value)))

    @staticmethod
    def _list(value):
        if not isinstance(value, (list, tuple)):
            return [value]
        return list(value)

    def _dimension(self, key):
        return _key(self.cube.dimensions, key,
            'assistance_reports.msg_cube_dimension', cube=self.cube.string)

    def _dimensions(self, keys):
        return [self._dimension(k) for k in self._list(keys or [])]

    def _period(self, period):
        if not period:
            return None
        try:
            start, end = (dt.date.fromisoformat(d) for d in period)
        except (TypeError, ValueError):
            raise CubeKeyError(gettext('assistance_reports.msg_cube_period'))
        if start > end:
            raise CubeKeyError(gettext('assistance_reports.msg_cube_period'))
        return start, end

    def components(self):
        "Return the measures to aggregate (the parts of the ratios)"
        measures = []
        for measure in self.measures:
            for component in measure.components():
                if component not in measures:
                    measures.append(component)
        return measures

    def fields(self):
        "Yield the (model, field) the request reads"
        Model = Pool().get(self.cube.model)
        for dimension in (*self.rows, *self.columns,
                *(d for d, _ in self.filters), *(d for d, _ in self.cell)):
            yield from dimension.fields(Model)
        for measure in self.measures:
            yield from measure.fields(Model)
        if self.cube.date:
            yield Model.__name__, self.cube.date

    def domain(self, with_previous=True):
        "Return the domain of the records the request reads"
        domain = list(self.cube.domain)
        for dimension, values in self.filters:
            domain.append(['OR', *(dimension.domain(v) for v in values)])
        for dimension, value in self.cell:
            domain.append(dimension.domain(value))
        if self.period:
            start, end = self.period
            if self.compare and with_previous:
                (start, _), _ = previous_period(*self.period)
            domain.append([(self.cube.date, '>=', start),
                    (self.cube.date, '<=', end)])
        return domain


def _grouping_sets(rows, columns):
    "Every prefix of the rows with every prefix of the columns"
    return [tuple(range(i)) + tuple(len(rows) + j for j in range(k))
        for i in range(len(rows) + 1) for k in range(len(columns) + 1)]


def build_query(request):
    """Return the query of the request: the dimension values (d0…), the
    grouping bits (gid), the current-period flag and the aggregates"""
    Model = Pool().get(request.cube.model)
    joiner = Joiner(Model)
    where = _readable(Model, joiner.table, request.domain())
    dimensions = [*request.rows, *request.columns]
    if request.compare:
        # Each record of the previous period is moved to its place in the
        # current period before it is put in its date bucket, so that the
        # previous figures of a bucket are those of the same days (moving
        # the buckets instead mixes them up when the grain and the window
        # do not align).
        start, _ = request.period
        current = joiner.column((request.cube.date,)) >= start
        shift = period_shift(request.period)
        columns = [(Case((current, d.column(joiner)),
                    else_=d.column(joiner, shift))
                if isinstance(d, DateDimension) else d.column(joiner)
                ).as_(f'd{i}')
            for i, d in enumerate(dimensions)]
        columns.append(Case((current, 1), else_=0).as_('current'))
    else:
        columns = [d.column(joiner).as_(f'd{i}')
            for i, d in enumerate(dimensions)]
    inputs = {}
    for measure in request.components():
        inputs[measure.key] = [c.as_(f'{measure.key}_{i}')
            for i, c in enumerate(measure.inputs(joiner))]
    sub = joiner.from_.select(*columns,
        *(c for cs in inputs.values() for c in cs),
        where=where)
    axes = [Column(sub, f'd{i}') for i in range(len(dimensions))]
    extra = [Column(sub, 'current')] if request.compare else []
    aggregates = [m.aggregate([Column(sub, c.output_name)
                for c in inputs[m.key]]).as_(m.key)
        for m in request.components()]
    sets = _grouping_sets(request.rows, request.columns)
    if backend.name == 'sqlite':
        return Union(*(_grouping_select(sub, axes, extra, aggregates, s)
                for s in sets), all_=True)
    gid = GroupingId(*axes) if axes else Literal(0)
    return sub.select(*axes, gid.as_('gid'), *extra, *aggregates,
        group_by=[Grouping(*(tuple(axes[i] for i in s) + tuple(extra)
                    for s in sets))])


def _readable(Model, table, domain):
    """Return the condition on table of the records of domain the user may
    read: the search's own expression on the base table when neither the
    domain nor the record rules need a join (no self-join of the base table
    on id IN (search), half of a pivot's time on a million lines), else
    id IN (search)"""
    Rule = Pool().get('ir.rule')

    def simple(domain):
        if isinstance(domain, str):
            return True
        if domain and isinstance(domain[0], str) and domain[0] not in {
                'AND', 'OR'}:
            name = domain[0]
            field = Model._fields.get(name)
            return (field is not None and '.' not in name
                and not hasattr(field, 'get') and len(domain) == 3)
        return all(simple(d) for d in domain)

    rule_domain = Rule.domain_get(Model.__name__, mode='read')
    if simple(domain) and simple(rule_domain or []):
        tables = {None: (table, None)}
        tables, expression = Model.search_domain(domain, tables=tables)
        if rule_domain:
            tables, rule_expression = Model.search_domain(
                rule_domain, active_test=False, tables=tables)
            expression &= rule_expression
        if len(tables) == 1:
            return expression
    return table.id.in_(Model.search(domain, order=[], query=True))


def _grouping_select(sub, axes, extra, aggregates, grouping_set):
    "The arm of the UNION ALL that emulates one grouping set (SQLite)"
    n = len(axes)
    gid = sum(1 << (n - 1 - i) for i in range(n) if i not in grouping_set)
    return sub.select(
        *(a if i in grouping_set else Literal(None).as_(f'd{i}')
            for i, a in enumerate(axes)),
        Literal(gid).as_('gid'), *extra, *aggregates,
        group_by=[axes[i] for i in grouping_set] + extra or None)


def compute(request):
    """Run the request: return its cells keyed by (row values, column
    values) as {'values': {measure: value}, 'previous': {…}}"""
    cursor = Transaction().connection.cursor()
    query = build_query(request)
    cursor.execute(*query)
    names = [d[0] for d in cursor.description]
    n_rows, n = len(request.rows), len(request.rows) + len(request.columns)
    dimensions = [*request.rows, *request.columns]
    cells = {}
    for record in cursor:
        row = dict(zip(names, record))
        kept = [i for i in range(n) if not (row['gid'] >> (n - 1 - i)) & 1]
        values = [dimensions[i].normalise(row[f'd{i}']) for i in kept]
        key = (tuple(values[:len([i for i in kept if i < n_rows])]),
            tuple(values[len([i for i in kept if i < n_rows]):]))
        cell = cells.setdefault(key, {'values': {}, 'previous': {}})
        part = ('values' if not request.compare or row['current']
            else 'previous')
        cell[part] = {m.key: m.value(row) for m in request.measures}
    return cells

