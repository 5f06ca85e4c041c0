# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

CHART = 'assistance_billing.account_template_ru_root'
# The billing configuration's accounts in the Russian chart.
DEFAULT_ACCOUNTS = {
    'claims_expense_account': 'assistance_billing.account_template_ru_20',
    'accrual_account': 'assistance_billing.account_template_ru_76_05',
    }


class Move(metaclass=PoolMeta):
    __name__ = 'account.move'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['assistance.expense.line']


class CreateChart(metaclass=PoolMeta):
    __name__ = 'account.create_chart'

    def transition_create_account(self):
        state = super().transition_create_account()
        ModelData = Pool().get('ir.model.data')
        if self.account.account_template.id == ModelData.get_id(CHART):
            self.set_billing_defaults()
        return state

    def set_billing_defaults(self):
        "Point the company's billing configuration at the Russian chart"
        Configuration = Pool().get('assistance.billing.configuration')
        company = self.account.company
        with Transaction().set_context(company=company.id):
            config = Configuration(1)
            for name, template in DEFAULT_ACCOUNTS.items():
                if not getattr(config, name):
                    setattr(config, name, self.get_account(template))
            # A singleton without its row reads only the defaults.
            config.save()
