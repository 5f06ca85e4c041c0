"""Install each addons/<name>/ (a Tryton module) as trytond.modules.<name>."""
import pathlib

from setuptools import setup

ADDONS = sorted(
    p.parent.name for p in pathlib.Path(__file__).parent.glob(
        'addons/*/tryton.cfg'))
PACKAGE_DATA = [
    'tryton.cfg', '*.xml', 'view/*.xml', 'locale/*.po', 'locale/override/*.po',
    'tests/*.rst', 'tests/*.json', 'icons/*.svg', '*.html', '*.css']

setup(
    packages=[f'trytond.modules.{n}{s}' for n in ADDONS for s in ('', '.tests')],
    package_dir={f'trytond.modules.{n}': f'addons/{n}' for n in ADDONS},
    package_data={f'trytond.modules.{n}': PACKAGE_DATA for n in ADDONS},
    entry_points={'trytond.modules': [
            f'{n} = trytond.modules.{n}' for n in ADDONS]},
    )
