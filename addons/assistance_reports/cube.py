# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"The report configurator (REP-1): the declared cubes, their RPC and variants"
import json

from sql import Cast, Literal, Null
from sql.aggregate import Count, Sum
from sql.conditionals import Case
from sql.operators import Concat

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.assistance_policy.rpc_access import (
    _checking, check_rpc_access)
from trytond.pool import Pool, PoolMeta
from trytond.rpc import RPC
from trytond.transaction import Transaction

from . import cube_engine as engine
from .cube_engine import (
    AgeDimension, CategoryDimension, ChapterDimension, ConditionCountMeasure, CountMeasure,
    Cube, DistinctCountMeasure, HeadOfficeDimension, Many2OneDimension,
    RatioMeasure, Request, SelectionDimension, SumMeasure, date_dimensions)
from .exceptions import CubeKeyError

ORDER_LINE = ('assistance.order.line', 'expense_line')


class RecordDimension(Many2OneDimension):
    "The base record itself (a limit, not a person)"

    def __init__(self, key, model_name):
        super().__init__(key, ('id',))
        self.model_name = model_name

    def fields(self, Model):
        return []

    def target(self, Model):
        return Pool().get(self.model_name)

    def domain(self, value):
        return [('id', '=', value)]


class LimitCapacityMeasure(SumMeasure):
    """The value of the limit for all its insured: once for a limit of the
    contract, once per active policy of the contract for each insured's"""

    def __init__(self, key):
        super().__init__(key, ('value',))

    def fields(self, Model):
        return [('assistance.limit', 'value'), ('assistance.limit', 'scope')]

    def inputs(self, joiner):
        policy = Pool().get('assistance.policy').__table__()
        limit = joiner.table
        policies = policy.select(Count(Literal(1)),
            where=(policy.contract == limit.contract)
            & (policy.state == 'active'))
        return [Case((limit.scope == 'contract', limit.value),
                else_=limit.value * policies)]


class LimitConsumedMeasure(SumMeasure):
    """What the ledger (declared and actual lines) consumed of the limit
    over the whole term, in its measure: the covered amount, the covered
    quantity or the distinct days (per insured) with a covered service;
    the lines of the limit's node (option, programme, package) and of its
    categories (a service of one of them or of a child category)"""

    def __init__(self, key):
        super().__init__(key, ('value',))

    def fields(self, Model):
        return [('assistance.limit', 'measure'),
            ('assistance.expense.line', 'covered_amount'),
            ('assistance.expense.line', 'covered_quantity')]

    def inputs(self, joiner):
        pool = Pool()
        ExpenseLine = pool.get('assistance.expense.line')
        line = ExpenseLine.__table__()
        option = pool.get('assistance.option').__table__()
        package = pool.get('assistance.package-assistance.program').__table__()
        limit_category = pool.get(
            'assistance.limit-product.category').__table__()
        category = pool.get('product.category').__table__()
        template_category = pool.get(
            'product.template-product.category').__table__()
        product = pool.get('product.product').__table__()
        limit = joiner.table
        node = ((limit.option == Null) | (line.option == limit.option))
        node &= (limit.program == Null) | line.option.in_(option.select(
                option.id, where=option.program == limit.program))
        node &= (limit.package == Null) | line.option.in_(
            option.join(package, condition=package.program == option.program
                ).select(option.id, where=package.package == limit.package))
        # The categories of the limit and their children (by the parent
        # chain, three levels deep as the seed's trees are).
        child = category.select(category.id,
            where=category.parent.in_(limit_category.select(
                    limit_category.category,
                    where=limit_category.limit == limit.id)))
        grandchild = category.select(category.id,
            where=category.parent.in_(child))
        categories = (limit_category.select(limit_category.category,
                where=limit_category.limit == limit.id)
            | child | grandchild)
        services = product.join(template_category,
            condition=template_category.template == product.template
            ).select(product.id,
                where=template_category.category.in_(categories))
        narrowed = ~limit.id.in_(limit_category.select(
                limit_category.limit)) | line.service.in_(services)
        where = (line.contract == limit.contract) & line.state.in_(
            ['declared', 'actual']) & node & narrowed
        measured = Case(
            (limit.measure == 'amount', line.covered_amount),
            else_=line.covered_quantity)
        total = line.select(Sum(measured), where=where)
        # A day of each insured (a day of the contract for its aggregate
        # limits) with a covered service.
        day = Case((limit.scope == 'contract', Cast(line.date, 'VARCHAR')),
            else_=Concat(Concat(Cast(line.policy, 'VARCHAR'), '/'),
                Cast(line.date, 'VARCHAR')))
        days = line.select(Count(day, distinct=True),
            where=where & ExpenseLine._covered_condition(line))
        return [Case((limit.measure == 'days', days), else_=total)]


class RemainingMeasure(SumMeasure):
    "The capacity less what was consumed (summed over the cell's limits)"

    def __init__(self, key, capacity, consumed):
        super().__init__(key, ('value',))
        self.capacity = capacity
        self.consumed = consumed

    def fields(self, Model):
        return [*self.capacity.fields(Model), *self.consumed.fields(Model)]

    def components(self):
        return [self.capacity, self.consumed]

    def value(self, row):
        return self.capacity.value(row) - self.consumed.value(row)


def _state(*states):
    "A condition on the base table's state"
    return lambda joiner: joiner.table.state.in_(list(states))


def expense_line_cube():
    amount = SumMeasure('amount', ('amount',))
    covered = SumMeasure('covered_amount', ('covered_amount',))
    declared = SumMeasure('declared_amount', ('amount',),
        condition=_state('declared'))
    actual = SumMeasure('actual_amount', ('amount',),
        condition=_state('actual'))
    cases = DistinctCountMeasure('cases', ('case',))
    return Cube('expense_line', 'assistance.expense.line', 'date', [
            Many2OneDimension('contract', ('contract',)),
            Many2OneDimension('insurer', ('contract', 'insurer')),
            Many2OneDimension('program', ('option', 'program')),
            Many2OneDimension('option', ('option',)),
            Many2OneDimension('service', ('service',)),
            CategoryDimension('category', ('service',)),
            Many2OneDimension('provider', (ORDER_LINE, 'order', 'provider')),
            HeadOfficeDimension(
                'head_office', (ORDER_LINE, 'order', 'provider')),
            Many2OneDimension('operator', ('case', 'operator')),
            Many2OneDimension('department', ('case', 'department')),
            Many2OneDimension('case_type', ('case', 'type')),
            ChapterDimension(
                'diagnosis_chapter', ('case', 'diagnosis', 'code')),
            SelectionDimension('expense_state', ('state',)),
            AgeDimension('age', ('date',)),
            *date_dimensions('date', ('date',)),
            ], [
            CountMeasure('count'),
            cases,
            SumMeasure('quantity', ('quantity',)),
            SumMeasure('covered_quantity', ('covered_quantity',)),
            amount, declared, actual, covered,
            SumMeasure('insured_amount', ('insured_amount',)),
            RatioMeasure('covered_ratio', covered, amount),
            RatioMeasure('actual_ratio', actual, amount),
            RatioMeasure('amount_per_case', amount, cases),
            ], domain=[('state', 'in', ['declared', 'actual'])])


def case_cube():
    count = CountMeasure('count')
    closed = ConditionCountMeasure('closed', _state('closed'))
    insured = DistinctCountMeasure('insured', ('insured',))
    return Cube('case', 'assistance.case', 'event_date', [
            Many2OneDimension('contract', ('policy', 'contract')),
            Many2OneDimension('insurer', ('policy', 'contract', 'insurer')),
            Many2OneDimension('operator', ('operator',)),
            Many2OneDimension('department', ('department',)),
            Many2OneDimension('case_type', ('type',)),
            ChapterDimension('diagnosis_chapter', ('diagnosis', 'code')),
            SelectionDimension('case_state', ('state',)),
            *date_dimensions('date', ('event_date',)),
            ], [
            count, closed, insured,
            RatioMeasure('closed_ratio', closed, count),
            RatioMeasure('cases_per_insured', count, insured),
            ], domain=[('state', '!=', 'cancelled')])


def policy_cube():
    "The portfolio (P7): the policies, attached and detached by date"
    def detached(joiner):
        contract, _ = joiner.get(('contract',))
        return joiner.table.end_date < contract.end_date

    def attached_later(joiner):
        contract, _ = joiner.get(('contract',))
        return joiner.table.start_date > contract.start_date
    return Cube('policy', 'assistance.policy', 'start_date', [
            Many2OneDimension('contract', ('contract',)),
            Many2OneDimension('insurer', ('contract', 'insurer')),
            Many2OneDimension('package', ('package',)),
            SelectionDimension('policy_state', ('state',)),
            *date_dimensions('start', ('start_date',)),
            *date_dimensions('end', ('end_date',)),
            ], [
            CountMeasure('count'),
            DistinctCountMeasure('insured', ('insured',)),
            ConditionCountMeasure('attached_later', attached_later),
            ConditionCountMeasure('detached', detached),
            ], domain=[('state', '!=', 'draft')])


def limit_cube():
    """The coverage of the policies: each limit, its capacity and what the
    ledger consumed of it over the contract's whole term"""
    capacity = LimitCapacityMeasure('capacity')
    consumed = LimitConsumedMeasure('consumed')
    return Cube('limit', 'assistance.limit', None, [
            Many2OneDimension('contract', ('contract',)),
            Many2OneDimension('insurer', ('contract', 'insurer')),
            Many2OneDimension('program', ('program',)),
            Many2OneDimension('option', ('option',)),
            RecordDimension('limit', 'assistance.limit'),
            SelectionDimension('limit_measure', ('measure',)),
            SelectionDimension('limit_period', ('period',)),
            SelectionDimension('limit_scope', ('scope',)),
            ], [
            CountMeasure('count'),
            SumMeasure('limit_value', ('value',)),
            capacity, consumed,
            RemainingMeasure('remaining', capacity, consumed),
            RatioMeasure('consumed_ratio', consumed, capacity),
            ])


def order_cube():
    return Cube('order', 'assistance.order', 'date', [
            Many2OneDimension('contract', ('policy', 'contract')),
            Many2OneDimension('insurer', ('policy', 'contract', 'insurer')),
            Many2OneDimension('provider', ('provider',)),
            Many2OneDimension('head_office', ('provider', 'head_office')),
            Many2OneDimension('operator', ('case', 'operator')),
            Many2OneDimension('department', ('case', 'department')),
            Many2OneDimension('case_type', ('case', 'type')),
            SelectionDimension('order_state', ('state',)),
            *date_dimensions('date', ('date',)),
            ], [
            CountMeasure('count'),
            DistinctCountMeasure('cases', ('case',)),
            DistinctCountMeasure('providers', ('provider',)),
            ])


def refusal_cube():
    return Cube('refusal', 'assistance.refusal', 'date', [
            Many2OneDimension('contract', ('contract',)),
            Many2OneDimension('insurer', ('insurer',)),
            Many2OneDimension('service', ('service',)),
            SelectionDimension('refusal_ground', ('ground',)),
            Many2OneDimension('operator', ('operator',)),
            *date_dimensions('date', ('date',)),
            ], [
            CountMeasure('count'),
            DistinctCountMeasure('cases', ('case',)),
            ])


class ReportCube(ModelView):
    "Report Configurator"
    __name__ = 'assistance.report.cube'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__rpc__.update({
                'cubes': RPC(),
                'compute': RPC(),
                'drill': RPC(),
                'export_xlsx': RPC(),
                'export_pdf': RPC(),
                })

    @classmethod
    def _get_cubes(cls):
        "Return the declared cubes; override to add one"
        return [expense_line_cube(), case_cube(), order_cube(),
            refusal_cube(), policy_cube(), limit_cube()]

    @classmethod
    def get_cubes(cls):
        return {c.key: c for c in cls._get_cubes()}

    @classmethod
    def cubes(cls):
        "RPC: the cubes the user may query, with their keys and labels"
        pool = Pool()
        ModelAccess = pool.get('ir.model.access')
        if _checking():
            check_rpc_access(cls, 'compute')
        return [c.describe() for c in cls.get_cubes().values()
            if ModelAccess.check(c.model, 'read', raise_exception=False)]

    @classmethod
    def request(cls, params, name):
        "Validate the keys of params and check the user's access"
        request = Request(cls.get_cubes(), params)
        if _checking():
            check_rpc_access(cls, name, [request.cube.model])
            cls._check_fields(request)
        return request

    @classmethod
    def _check_fields(cls, request):
        FieldAccess = Pool().get('ir.model.field.access')
        by_model = {}
        for model_name, field_name in request.fields():
            by_model.setdefault(model_name, set()).add(field_name)
        for model_name, field_names in by_model.items():
            FieldAccess.check(model_name, field_names, 'read')

    @classmethod
    def compute(cls, params):
        "RPC: the pivot of params (keys only) over the readable records"
        request = cls.request(params, 'compute')
        return cls.answer(request, engine.compute(request))

    @classmethod
    def answer(cls, request, cells):
        "Return the cells with their labels and the display order"
        Model = Pool().get(request.cube.model)
        dimensions = [*request.rows, *request.columns]
        values = [set() for _ in dimensions]
        for row, column in cells:
            for i, value in enumerate(row):
                values[i].add(value)
            for i, value in enumerate(column):
                values[len(request.rows) + i].add(value)
        labels = {d.key: sorted(([v, l]
                    for v, l in d.labels(Model, vs).items() if v in vs),
                key=lambda p, d=d: d.sort_key(*p))
            for d, vs in zip(dimensions, values)}
        lookup = {d.key: dict(map(tuple, labels[d.key])) for d in dimensions}
        result = {
            'cube': request.cube.key,
            'model': request.cube.model,
            'rows': [[d.key, d.string] for d in request.rows],
            'columns': [[d.key, d.string] for d in request.columns],
            'measures': [[m.key, m.string, m.digits]
                for m in request.measures],
            'labels': labels,
            'compare': request.compare,
            'cells': [[list(r), list(c), cell['values'], cell['previous']]
                for (r, c), cell in cells.items()],
            'row_keys': cls._axis_order(cells, 0, request.rows, lookup,
                request.sort),
            'column_keys': cls._axis_order(cells, 1, request.columns, lookup,
                None),
            }
        if request.period:
            (start, end), _ = engine.previous_period(*request.period)
            result['period'] = [d.isoformat() for d in request.period]
            result['previous_period'] = [start.isoformat(), end.isoformat()]
        return result

    @classmethod
    def _axis_order(cls, cells, axis, dimensions, labels, sort):
        """Return the keys of an axis depth first, each parent before its
        children, siblings by label or by the sort measure (descending)"""
        keys = {k[axis] for k in cells}
        totals = {k[axis]: c['values'].get(sort) for k, c in cells.items()
            if not k[1 - axis]} if sort else {}

        def sort_key(key):
            dimension = dimensions[len(key) - 1]
            name = dimension.sort_key(
                key[-1], labels[dimension.key].get(key[-1]) or '')
            if sort:
                total = totals.get(key)
                return (total is None, -(total or 0), name)
            return name

        def children(parent):
            found = sorted((k for k in keys if len(k) == len(parent) + 1
                    and k[:len(parent)] == parent), key=sort_key)
            for key in found:
                yield list(key)
                yield from children(key)
        return [[]] + list(children(()))

    @classmethod
    def drill(cls, params):
        """RPC: the action of the records of a cell (an ordinary list, the
        record rules apply again)"""
        request = cls.request(params, 'drill')
        Model = Pool().get(request.cube.model)
        return {
            'model': request.cube.model,
            'domain': request.domain(with_previous=False),
            'name': Model.__names__()['model'],
            }

    @classmethod
    def export_xlsx(cls, params):
        "RPC: the pivot of params as an XLSX workbook with a native chart"
        from .cube_xlsx import workbook
        request = cls.request(params, 'export_xlsx')
        return workbook(cls.answer(request, engine.compute(request)),
            gettext('assistance_reports.msg_cube_total'))

    @classmethod
    def export_pdf(cls, params):
        "RPC: the pivot of params as a PDF with the layout of the XLSX"
        from .cube_pdf import pdf
        request = cls.request(params, 'export_pdf')
        answer = cls.answer(request, engine.compute(request))
        lang = Pool().get('ir.lang').get()
        title = request.cube.string
        if request.period:
            title += ' ' + gettext('assistance_reports.msg_cube_pdf_period',
                start=lang.strftime(request.period[0]),
                end=lang.strftime(request.period[1]))
        return pdf(answer, title,
            gettext('assistance_reports.msg_cube_total'),
            gettext('assistance_reports.msg_cube_previous'),
            lambda value, digits: lang.format_number(value, digits))


class ReportVariant(ModelSQL, ModelView):
    "Report Variant"
    __name__ = 'assistance.report.variant'

    name = fields.Char("Name", required=True, translate=True)
    cube = fields.Selection('get_cube_selection', "Cube", required=True)
    layout = fields.Text("Layout", required=True,
        help="The keys of the report as JSON: rows, columns, measures, "
        "filters, period, comparison.")
    user = fields.Many2One('res.user', "User", required=True,
        ondelete='CASCADE', readonly=True)
    shared = fields.Boolean("Shared",
        help="Shown to every user who may use the report configurator.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('name', 'ASC'), ('id', 'ASC')]

    @staticmethod
    def default_user():
        return Transaction().user

    @staticmethod
    def default_shared():
        return False

    @classmethod
    def get_cube_selection(cls):
        Cube = Pool().get('assistance.report.cube')
        return [(k, c.string) for k, c in Cube.get_cubes().items()]

    @classmethod
    def validate_fields(cls, variants, field_names):
        super().validate_fields(variants, field_names)
        cls.check_layout(variants, field_names)

    @classmethod
    def check_layout(cls, variants, field_names=None):
        "The layout holds only keys of the cube's whitelist"
        if field_names and not field_names & {'layout', 'cube'}:
            return
        Cube = Pool().get('assistance.report.cube')
        for variant in variants:
            try:
                layout = json.loads(variant.layout)
            except ValueError:
                layout = None
            if not isinstance(layout, dict):
                raise CubeKeyError(gettext(
                        'assistance_reports.msg_variant_layout',
                        variant=variant.rec_name))
            Request(Cube.get_cubes(), {**layout, 'cube': variant.cube})


# The models whose record rules name the user (Eval('user_id')): the
# variants of the pivot, the manager performance report's rows.
USER_RULE_MODELS = {
    'assistance.report.variant', 'assistance.reporting.performance'}


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _get_context(cls, model_name):
        context = super()._get_context(model_name)
        if model_name in USER_RULE_MODELS:
            context['user_id'] = Transaction().user
        return context

    @classmethod
    def _get_cache_key(cls, model_names):
        key = super()._get_cache_key(model_names)
        if USER_RULE_MODELS.intersection(model_names):
            key = (*key, Transaction().user)
        return key
