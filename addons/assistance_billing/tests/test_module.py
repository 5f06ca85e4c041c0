# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase


class AssistanceBillingTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Assistance Billing module"
    module = 'assistance_billing'


del ModuleTestCase
