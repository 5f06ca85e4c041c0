# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
"Set up the Russian chart of accounts through proteus (tests and demo)"
from proteus import Model, Wizard
from proteus.config import get_config

CHART = 'assistance_billing.account_template_ru_root'


def create_chart_ru(company=None, config=None):
    """Create the Russian chart for company with Tryton's «Create Chart»
    wizard, its receivable 62 and payable 60 as the defaults"""
    from trytond.modules.company.tests.tools import get_company
    if config is None:
        config = get_config()
    if company is None:
        company = get_company(config=config)
    ModelData = Model.get('ir.model.data', config=config)
    AccountTemplate = Model.get('account.account.template', config=config)
    template = AccountTemplate(ModelData.get_id(CHART, config.context))
    wizard = Wizard('account.create_chart', config=config)
    wizard.execute('account')
    wizard.form.account_template = template
    wizard.form.company = company
    wizard.execute('create_account')
    # The chart has one receivable and one payable account: the wizard
    # proposes them.
    wizard.execute('create_properties')
    return get_accounts_ru(company, config=config)


def get_accounts_ru(company, config=None):
    "Return the company's accounts of the Russian chart by code"
    if config is None:
        config = get_config()
    Account = Model.get('account.account', config=config)
    return {a.code: a for a in Account.find([
                ('company', '=', company.id),
                ('code', '!=', None),
                ])}


def create_payment_journal_ru(company=None, config=None):
    """Create the payment journal of the settlement account: processed by
    hand, a succeeded payment posts Dt 60 Ct 51 in the cash journal"""
    from trytond.modules.company.tests.tools import get_company
    if config is None:
        config = get_config()
    if company is None:
        company = get_company(config=config)
    PaymentJournal = Model.get('account.payment.journal', config=config)
    Journal = Model.get('account.journal', config=config)
    cash, = Journal.find([('code', '=', 'CASH')])
    accounts = get_accounts_ru(company, config=config)
    journal = PaymentJournal(name="Платежи с расчётного счёта",
        process_method='manual', currency=company.currency,
        clearing_account=accounts['51'], clearing_journal=cash)
    journal.save()
    return journal
