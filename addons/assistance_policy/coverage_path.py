# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"""The coverage structure of a contract as plain values, cached.

Every check needs the same structure (packages, options and their service
categories, limits, deductibles, exclusions); reading it through the ORM
costs tens of queries, so it is read once per contract and language and kept
in a Tryton cache that any change of these models clears (in every process,
through the cache's synchronisation)."""
from collections import namedtuple

from trytond.cache import Cache
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

_cache = Cache('assistance_policy.coverage_path', context=False)

Rule = namedtuple('Rule', [
        'id', 'label', 'package', 'program', 'option', 'categories',
        'node_options', 'services', 'values'])
ExclusionRule = namedtuple('ExclusionRule', [
        'label', 'package', 'kind', 'service', 'category', 'diagnoses'])
Structure = namedtuple('Structure', [
        'packages', 'options', 'programs', 'limits', 'deductibles',
        'exclusions'])


def clear():
    _cache.clear()


def _key(*args):
    return (Transaction().database.name, Transaction().language) + args


def service_ancestors(service_id):
    "Return the ids of the service's categories and of their parents"
    key = _key('service', service_id)
    ancestors = _cache.get(key)
    if ancestors is None:
        Product = Pool().get('product.product')
        ids = set()
        for category in Product(service_id).categories_all:
            while category and category.id not in ids:
                ids.add(category.id)
                category = category.parent
        ancestors = _cache.set(key, frozenset(ids))
    return ancestors


def _rule(record, **values):
    return Rule(
        record.id, record.rec_name,
        record.package.id if record.package else None,
        record.program.id if record.program else None,
        record.option.id if record.option else None,
        frozenset(record.category_ids()), record.node_options(),
        record.service_ids(), values)


def contract_structure(contract_id):
    "Return the coverage structure of the contract"
    key = _key('contract', contract_id)
    structure = _cache.get(key)
    if structure is None:
        structure = _cache.set(key, _read_structure(contract_id))
    return structure


def _read_structure(contract_id):
    pool = Pool()
    Contract = pool.get('assistance.contract')
    Package = pool.get('assistance.package')
    contract = Contract(contract_id)
    programs, options = {}, {}
    for program in contract.programs:
        programs[program.id] = (program.rec_name, program.sum_insured,
            tuple(o.id for o in program.options))
        for option in program.options:
            options[option.id] = (
                program.id, frozenset(c.id for c in option.categories))
    with Transaction().set_context(active_test=False):
        packages = {
            package.id: tuple(o
                for program in sorted(package.programs,
                    key=lambda p: (p.code or '', p.id))
                for o in programs[program.id][2])
            for package in Package.search([('contract', '=', contract_id)])}
    limits = tuple(_rule(l, measure=l.measure, value=l.value,
            period=l.period, scope=l.scope) for l in contract.limits)
    deductibles = tuple(_rule(d, kind=d.kind, value=d.value,
            application=d.effective_application, period=d.period)
        for d in contract.deductibles)
    return Structure(packages, options, programs, limits, deductibles,
        _exclusions(contract.exclusions))


def _exclusions(records):
    return tuple(ExclusionRule(
            e.rec_name, e.package.id if e.package else None, e.kind,
            e.service.id if e.service else None,
            e.category.id if e.category else None, e.diagnoses)
        for e in records)


def general_exclusions(company_id):
    "Return the exclusions of the company that apply to every contract"
    key = _key('general', company_id)
    exclusions = _cache.get(key)
    if exclusions is None:
        Model = Pool().get('assistance.exclusion')
        exclusions = _cache.set(key, _exclusions(Model.search([
                        ('company', '=', company_id),
                        ('contract', '=', None),
                        ])))
    return exclusions


def rule_applies(rule, package_id, option_id, program_id, ancestors):
    "Tell whether the rule is on the path of the option for the service"
    return ((rule.package is None or rule.package == package_id)
        and (rule.program is None or rule.program == program_id)
        and (rule.option is None or rule.option == option_id)
        and (not rule.categories or bool(rule.categories & ancestors)))


class CoveragePathCacheMixin:
    "Clear the cached structures when the record changes"
    __slots__ = ()

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        clear()


# The models whose changes alter a coverage structure.


class Contract(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'assistance.contract'


class Package(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'assistance.package'


class Program(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'assistance.program'


class PackageProgram(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'assistance.package-assistance.program'


class Option(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'assistance.option'


class OptionCategory(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'assistance.option-product.category'


class Limit(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'assistance.limit'


class LimitCategory(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'assistance.limit-product.category'


class Deductible(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'assistance.deductible'


class DeductibleCategory(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'assistance.deductible-product.category'


class Exclusion(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'assistance.exclusion'


class ProductCategory(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'product.category'


class Template(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'product.template'


class Product(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'product.product'


class TemplateCategory(CoveragePathCacheMixin, metaclass=PoolMeta):
    __name__ = 'product.template-product.category'
