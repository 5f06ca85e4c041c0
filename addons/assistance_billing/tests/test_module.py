# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
import pathlib
import unittest
import xml.etree.ElementTree as ET

import polib

from trytond.modules.company.tests import CompanyTestMixin
from trytond.tests.test_tryton import ModuleTestCase

FOLDER = pathlib.Path(__file__).resolve().parent.parent


class AssistanceBillingTestCase(CompanyTestMixin, ModuleTestCase):
    "Test Assistance Billing module"
    module = 'assistance_billing'
    extras = ['account_budget']


class RussianTestCase(unittest.TestCase):
    "Every string of the module has its Russian"

    def test_messages_translated(self):
        "Each error message has a Russian text"
        russian = {e.msgctxt: e.msgstr
            for e in polib.pofile(str(FOLDER / 'locale' / 'ru.po'))
            if not e.fuzzy}
        ids = [r.get('id')
            for r in ET.parse(FOLDER / 'message.xml').iter('record')]
        self.assertTrue(ids)
        for id_ in ids:
            with self.subTest(message=id_):
                self.assertTrue(russian.get(f'model:ir.message,text:{id_}'))

    def test_no_gap(self):
        "No entry is empty or fuzzy"
        for entry in polib.pofile(str(FOLDER / 'locale' / 'ru.po')):
            with self.subTest(msgctxt=entry.msgctxt):
                self.assertTrue(entry.msgstr)
                self.assertFalse(entry.fuzzy)


del ModuleTestCase
