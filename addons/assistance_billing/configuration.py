# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"Where the accruals of actual expenses are posted, per company (ACC-1)"
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.modules.company.model import (
    CompanyMultiValueMixin, CompanyValueMixin)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval

# The accounts' domains, on the configuration (company from the context) and
# on its per-company values (company of the record).
_CLAIMS_EXPENSE = [
    ('closed', '!=', True),
    ('type.expense', '=', True),
    ]
_ACCRUAL = [
    ('closed', '!=', True),
    ('type.statement', '=', 'balance'),
    ('reconcile', '=', True),
    ('party_required', '=', True),
    ]
_JOURNAL = [
    ('type', 'in', ['general', 'expense']),
    ]


class Configuration(ModelSingleton, ModelSQL, ModelView, CompanyMultiValueMixin):
    "Billing Configuration"
    __name__ = 'assistance.billing.configuration'
    claims_expense_account = fields.MultiValue(fields.Many2One(
            'account.account', "Claims Expense Account",
            domain=_CLAIMS_EXPENSE + [
                ('company', '=', Eval('context', {}).get('company', -1)),
                ],
            help="Debited with the covered amount of each actual expense "
            "line (e.g. 20 «Основное производство»)."))
    accrual_account = fields.MultiValue(fields.Many2One(
            'account.account', "Accrual Account",
            domain=_ACCRUAL + [
                ('company', '=', Eval('context', {}).get('company', -1)),
                ],
            help="The liability for services received but not invoiced yet, "
            "credited per payee (e.g. 76.05)."))
    accrual_journal = fields.MultiValue(fields.Many2One(
            'account.journal', "Accrual Journal", domain=_JOURNAL,
            help="The journal of the accrual moves and their storno."))

    @classmethod
    def multivalue_model(cls, field):
        pool = Pool()
        if field in {
                'claims_expense_account', 'accrual_account',
                'accrual_journal'}:
            return pool.get('assistance.billing.configuration.accrual')
        return super().multivalue_model(field)

    @classmethod
    def default_accrual_journal(cls, **pattern):
        return cls.multivalue_model(
            'accrual_journal').default_accrual_journal()


class ConfigurationAccrual(ModelSQL, CompanyValueMixin):
    "Billing Configuration Accrual"
    __name__ = 'assistance.billing.configuration.accrual'
    claims_expense_account = fields.Many2One(
        'account.account', "Claims Expense Account",
        domain=_CLAIMS_EXPENSE + [('company', '=', Eval('company', -1))])
    accrual_account = fields.Many2One(
        'account.account', "Accrual Account",
        domain=_ACCRUAL + [('company', '=', Eval('company', -1))])
    accrual_journal = fields.Many2One(
        'account.journal', "Accrual Journal", domain=_JOURNAL,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})

    @classmethod
    def default_accrual_journal(cls):
        ModelData = Pool().get('ir.model.data')
        try:
            return ModelData.get_id('account', 'journal_miscellaneous')
        except KeyError:
            return None


# Insurer billing (issue 13 step 6): the revenue accounts of the customer
# invoices that bill the insurers their losses and the assistance fee.
_INSURER_REVENUE = [
    ('closed', '!=', True),
    ('type.revenue', '=', True),
    ]


class ConfigurationInsurer(metaclass=PoolMeta):
    __name__ = 'assistance.billing.configuration'
    insurer_losses_account = fields.MultiValue(fields.Many2One(
            'account.account', "Insurer Losses Account",
            domain=_INSURER_REVENUE + [
                ('company', '=', Eval('context', {}).get('company', -1)),
                ],
            help="Credited with the losses billed to the insurers "
            "(e.g. 90.01 «Выручка»)."))
    insurer_fee_account = fields.MultiValue(fields.Many2One(
            'account.account', "Assistance Fee Account",
            domain=_INSURER_REVENUE + [
                ('company', '=', Eval('context', {}).get('company', -1)),
                ],
            help="Credited with the assistance fee billed to the insurers "
            "(e.g. 90.01 «Выручка»)."))

    @classmethod
    def multivalue_model(cls, field):
        if field in {'insurer_losses_account', 'insurer_fee_account'}:
            return Pool().get('assistance.billing.configuration.insurer')
        return super().multivalue_model(field)


class ConfigurationInsurerAccount(ModelSQL, CompanyValueMixin):
    "Billing Configuration Insurer Account"
    __name__ = 'assistance.billing.configuration.insurer'
    insurer_losses_account = fields.Many2One(
        'account.account', "Insurer Losses Account",
        domain=_INSURER_REVENUE + [('company', '=', Eval('company', -1))])
    insurer_fee_account = fields.Many2One(
        'account.account', "Assistance Fee Account",
        domain=_INSURER_REVENUE + [('company', '=', Eval('company', -1))])
