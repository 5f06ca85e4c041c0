# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"Definitions of the coverage: limits, deductibles and exclusions"
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.transaction import Transaction

from . import coverage_rules as rules
from .exceptions import CoverageValidationError

PERIODS = [
    ('policy_year', "Policy Year"),
    ('calendar_year', "Calendar Year"),
    ('quarter', "Quarter"),
    ('month', "Month"),
    ('week', "Week"),
    ('day', "Day"),
    ('case', "Assistance Case"),
    ('term', "Whole Term"),
    ]


class CoverageNodeMixin:
    """A rule attached to a node of a contract's coverage structure: the
    contract itself, or one of its packages, programmes or options."""
    __slots__ = ()
    contract = fields.Many2One(
        'assistance.contract', "Contract", required=True, ondelete='CASCADE')
    package = fields.Many2One(
        'assistance.package', "Package", ondelete='CASCADE',
        domain=[('contract', '=', Eval('contract', -1))],
        states={'invisible': Bool(Eval('program')) | Bool(Eval('option'))},
        help="Leave empty to apply to the whole contract.")
    program = fields.Many2One(
        'assistance.program', "Programme", ondelete='CASCADE',
        domain=[('contract', '=', Eval('contract', -1))],
        states={'invisible': Bool(Eval('package'))})
    option = fields.Many2One(
        'assistance.option', "Option", ondelete='CASCADE',
        domain=[
            ('program.contract', '=', Eval('contract', -1)),
            If(Bool(Eval('program')),
                ('program', '=', Eval('program', -1)), ()),
            ],
        states={'invisible': Bool(Eval('package'))})

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('contract')
        cls._order = [('contract', 'ASC'), ('id', 'ASC')]

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('name',) + tuple(clause[1:])]

    @fields.depends('option', 'program')
    def on_change_option(self):
        if self.option:
            self.program = self.option.program

    def node_label(self):
        node = self.option or self.program or self.package or self.contract
        return node.rec_name

    def node_options(self):
        "Return the ids of the options under the node, None for all"
        if self.option:
            return [self.option.id]
        if self.program:
            return [o.id for o in self.program.options]
        if self.package:
            return [o.id for p in self.package.programs for o in p.options]
        return None


class ServiceFilterMixin:
    "A rule that may be narrowed to categories of services"
    __slots__ = ()

    def category_ids(self):
        return {c.id for c in self.categories}

    def service_ids(self):
        "Return the ids of the services the rule is narrowed to, or None"
        if not self.categories:
            return None
        Product = Pool().get('product.product')
        return [p.id for p in Product.search([
                    ('categories_all', 'child_of',
                        list(self.category_ids()), 'parent'),
                    ], order=[])] or [-1]


class Limit(CoverageNodeMixin, ServiceFilterMixin, ModelSQL, ModelView):
    __name__ = 'assistance.limit'
    name = fields.Char(
        "Name", help="Leave empty to name the limit after its rule.")
    measure = fields.Selection([
            ('amount', "Amount"),
            ('quantity', "Quantity"),
            ('days', "Distinct Days"),
            ], "Measure", required=True,
        help="Amount: money paid; quantity: services (sessions, visits, "
        "courses); distinct days: days with at least one service.")
    value = fields.Numeric(
        "Value", digits=(16, 2), required=True,
        domain=[('value', '>=', 0)])
    measure_string = measure.translated('measure')
    period = fields.Selection(PERIODS, "Period", required=True)
    period_string = period.translated('period')
    scope = fields.Selection([
            ('insured', "Each Insured Person"),
            ('contract', "All Insured of the Contract"),
            ], "Whose Consumption", required=True,
        help="Each insured person has the limit, or all the insured "
        "persons of the contract share it (aggregate limit).")
    categories = fields.Many2Many(
        'assistance.limit-product.category', 'limit', 'category',
        "Service Categories",
        help="Count only the services of these categories "
        "(leave empty for every service of the node).")

    @staticmethod
    def default_measure():
        return 'quantity'

    @staticmethod
    def default_period():
        return 'policy_year'

    @staticmethod
    def default_scope():
        return 'insured'

    def get_rec_name(self, name):
        if self.name:
            return self.name
        if self.value is None:
            return self.node_label()
        return (f'{self.measure_string} {self.value.normalize():f} / '
            f'{self.period_string} ({self.node_label()})')


class LimitCategory(ModelSQL):
    __name__ = 'assistance.limit-product.category'
    limit = fields.Many2One(
        'assistance.limit', "Limit", required=True, ondelete='CASCADE')
    category = fields.Many2One(
        'product.category', "Category", required=True, ondelete='CASCADE')


class Deductible(CoverageNodeMixin, ServiceFilterMixin, ModelSQL, ModelView):
    __name__ = 'assistance.deductible'
    name = fields.Char("Name")
    kind = fields.Selection([
            ('fixed', "Fixed Amount"),
            ('percentage', "Percentage"),
            ], "Kind", required=True)
    value = fields.Numeric(
        "Value", digits=(16, 2), required=True,
        domain=[
            ('value', '>=', 0),
            If(Eval('kind') == 'percentage', ('value', '<=', 100), ()),
            ],
        help="The amount, or the percentage of each service line.")
    application = fields.Selection([
            ('line', "Each Service Line"),
            ('case', "Each Assistance Case"),
            ('period', "Each Period"),
            ], "Applies To", required=True,
        states={'invisible': Eval('kind') == 'percentage'})
    period = fields.Selection(
        [(None, "")] + PERIODS, "Period",
        states={
            'invisible': (Eval('kind') == 'percentage')
            | (Eval('application') != 'period'),
            'required': (Eval('kind') == 'fixed')
            & (Eval('application') == 'period'),
            })
    categories = fields.Many2Many(
        'assistance.deductible-product.category', 'deductible', 'category',
        "Service Categories",
        help="Apply only to the services of these categories "
        "(leave empty for every service of the node).")

    @staticmethod
    def default_kind():
        return 'fixed'

    @staticmethod
    def default_application():
        return 'line'

    def get_rec_name(self, name):
        if self.name:
            return self.name
        value = self.value.normalize() if self.value is not None else ''
        suffix = '%' if self.kind == 'percentage' else ''
        return f'{value:f}{suffix} ({self.node_label()})'

    @property
    def effective_application(self):
        return 'line' if self.kind == 'percentage' else self.application


class DeductibleCategory(ModelSQL):
    __name__ = 'assistance.deductible-product.category'
    deductible = fields.Many2One(
        'assistance.deductible', "Deductible", required=True,
        ondelete='CASCADE')
    category = fields.Many2One(
        'product.category', "Category", required=True, ondelete='CASCADE')


class Exclusion(ModelSQL, ModelView):
    __name__ = 'assistance.exclusion'
    company = fields.Many2One('company.company', "Company", required=True)
    contract = fields.Many2One(
        'assistance.contract', "Contract", ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))],
        help="Leave empty for a general exclusion "
        "that applies to every contract.")
    package = fields.Many2One(
        'assistance.package', "Package", ondelete='CASCADE',
        domain=[('contract', '=', Eval('contract', -1))],
        states={'invisible': ~Eval('contract')})
    kind = fields.Selection([
            ('service', "Service"),
            ('category', "Service Category"),
            ('diagnosis', "Diagnosis"),
            ], "Kind", required=True)
    service = fields.Many2One(
        'product.product', "Service",
        context={'company': Eval('company', -1)}, depends={'company'},
        states={
            'invisible': Eval('kind') != 'service',
            'required': Eval('kind') == 'service',
            })
    category = fields.Many2One(
        'product.category', "Service Category",
        context={'company': Eval('company', -1)}, depends={'company'},
        states={
            'invisible': Eval('kind') != 'category',
            'required': Eval('kind') == 'category',
            })
    diagnoses = fields.Char(
        "Diagnoses",
        states={
            'invisible': Eval('kind') != 'diagnosis',
            'required': Eval('kind') == 'diagnosis',
            },
        help="ICD-10 codes and ranges separated by commas, "
        "e.g. \"F00-F99, Z30.1\".")
    name = fields.Char("Description")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('contract', 'ASC NULLS FIRST'), ('id', 'ASC')]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_kind():
        return 'service'

    @fields.depends('contract', '_parent_contract.company')
    def on_change_contract(self):
        if self.contract:
            self.company = self.contract.company

    def get_rec_name(self, name):
        if self.kind == 'service' and self.service:
            subject = self.service.rec_name
        elif self.kind == 'category' and self.category:
            subject = self.category.rec_name
        else:
            subject = self.diagnoses or ''
        return f'{self.name} ({subject})' if self.name else subject

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('name',) + tuple(clause[1:])]

    @classmethod
    def validate_fields(cls, exclusions, field_names):
        super().validate_fields(exclusions, field_names)
        cls.check_diagnoses(exclusions, field_names)

    @classmethod
    def check_diagnoses(cls, exclusions, field_names=None):
        if field_names and not (field_names & {'diagnoses', 'kind'}):
            return
        for exclusion in exclusions:
            if (exclusion.kind == 'diagnosis'
                    and not rules.icd_ranges_valid(exclusion.diagnoses)):
                raise CoverageValidationError(gettext(
                        'assistance_policy.msg_exclusion_diagnoses',
                        diagnoses=exclusion.diagnoses or ''))


class Contract(metaclass=PoolMeta):
    __name__ = 'assistance.contract'
    limits = fields.One2Many('assistance.limit', 'contract', "Limits")
    deductibles = fields.One2Many(
        'assistance.deductible', 'contract', "Deductibles")
    exclusions = fields.One2Many(
        'assistance.exclusion', 'contract', "Exclusions")
