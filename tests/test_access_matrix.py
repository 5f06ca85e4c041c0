"""Access by need (issue #12): who may read, create, write, delete and copy
every model of our modules, which insurer's records insurer staff see, and
who reads the medical data.

One declarative table, ACCESS, says for every model of the assistance_*
modules what each role may do; a model missing from it fails the test, so a
new model cannot be added without deciding its access.  The calls go through
proteus as the role's user, i.e. through trytond's RPC layer with
`_check_access` in the context (trytond/rpc.py), as the web client's do."""
import datetime as dt
from decimal import Decimal

import pytest
from proteus import Model

from trytond.model.exceptions import AccessError
from trytond.tests.test_tryton import DB_NAME, drop_db
from trytond.tests.tools import set_user

from coverage_tools import build_contract

ROLES = {
    'operator': 'assistance_policy.group_operator',
    'manager': 'assistance_policy.group_contract_manager',
    'accountant': 'assistance_policy.group_accountant',
    'head': 'assistance_policy.group_department_head',
    }
MODES = {'r': 'read', 'c': 'create', 'w': 'write', 'd': 'delete'}

# Model -> {role: the letters of what it may do: r(ead) w(rite) c(reate)
# d(elete)}; a role left out may do nothing.  Copy needs read and create.
CONTRACT = {'operator': 'r', 'manager': 'rwcd', 'accountant': 'r',
    'head': 'r'}
CASE = {'operator': 'rwcd', 'manager': 'r', 'accountant': 'r', 'head': 'rwcd'}
SETTING = {'operator': 'r', 'manager': 'r', 'accountant': 'r',
    'head': 'rwcd'}
LEDGER = {'operator': 'rwcd', 'manager': 'r', 'accountant': 'r',
    'head': 'rwcd'}
PRICE_LIST = {'operator': 'r', 'manager': 'rwcd', 'accountant': 'r',
    'head': 'rwcd'}
REPORT = {'operator': 'r', 'manager': 'r', 'head': 'r'}
ACCESS = {
    # assistance_policy
    'assistance.contract': CONTRACT,
    'assistance.package': CONTRACT,
    'assistance.package-assistance.program': CONTRACT,
    'assistance.program': CONTRACT,
    'assistance.option': CONTRACT,
    'assistance.option-product.category': CONTRACT,
    'assistance.limit': CONTRACT,
    'assistance.limit-product.category': CONTRACT,
    'assistance.deductible': CONTRACT,
    'assistance.deductible-product.category': CONTRACT,
    'assistance.exclusion': CONTRACT,
    'assistance.policy': CONTRACT,
    # the lists belong to their contract (__access__): who reads the
    # contract reads its imports
    'assistance.policy.import': CONTRACT,
    'assistance.policy.import.line': CONTRACT,
    'assistance.policy.import.template': {'manager': 'rwcd'},
    'assistance.policy.import.template.line': {'manager': 'rwcd'},
    'assistance.expense': LEDGER,
    'assistance.expense.line': LEDGER,
    # an index of the parties' names for identification, kept by the server
    'assistance.party.name_word': {role: 'r' for role in ROLES},
    # assistance_case
    'assistance.case': CASE,
    'assistance.case.event': CASE,
    'assistance.task': CASE,
    'assistance.survey': CASE,
    'assistance.case.configuration': SETTING,
    'assistance.case.type': SETTING,
    'assistance.department': SETTING,
    'assistance.diagnosis': SETTING,
    'assistance.survey.nps': REPORT,
    'assistance.survey.nps.time_series': REPORT,
    # 152-FZ: read by department heads only, written by nobody through RPC
    'assistance.case.access_log': {'head': 'r'},
    # assistance_order
    'assistance.order': CASE,
    'assistance.order.line': CASE,
    'assistance.refusal': CASE,
    'assistance.refusal.report': REPORT,
    'assistance.sms': {'operator': 'rc', 'head': 'r'},
    'assistance.provider.price_list': PRICE_LIST,
    'assistance.provider.price_list.line': PRICE_LIST,
    'assistance.provider.specialty': PRICE_LIST,
    'assistance.provider.specialty-party.party': PRICE_LIST,
    # who may change the user (administrators) sets his insurers
    'res.user-assistance.insurer': {role: 'r' for role in ROLES},
    # assistance_billing: the accounts of the accrual, the accountants' own
    # (a singleton: created on first use, never deleted)
    'assistance.billing.configuration': {'accountant': 'rwc'},
    'assistance.billing.configuration.accrual': {'accountant': 'rwc'},
    # the insurer billing's revenue accounts, the accountants' own too
    'assistance.billing.configuration.insurer': {'accountant': 'rwc'},
    # the providers' registers and their removal reasons, the accountants'
    'assistance.billing.removal_reason': {'accountant': 'rwcd'},
    'assistance.billing.register': {'accountant': 'rwcd'},
    'assistance.billing.register.line': {'accountant': 'rwcd'},
    'assistance.billing.register.error': {'accountant': 'rwcd'},
    'assistance.billing.register.template': {'accountant': 'rwcd'},
    'assistance.billing.register.template.line': {'accountant': 'rwcd'},
    # assistance_reports: the loss level (P9), its thresholds and alerts
    'assistance.loss_level': {'manager': 'r', 'accountant': 'r', 'head': 'r'},
    'assistance.loss_level.control': {
        'manager': 'rwcd', 'accountant': 'r', 'head': 'rwcd'},
    'assistance.loss_level.alert': {
        'manager': 'r', 'accountant': 'r', 'head': 'r'},
    # the allocation control report (BIL-3): the accountants' only
    'assistance.billing.allocation.control': {'accountant': 'r'},
    # assistance_reports: the report configurator's saved variants (record
    # rules: one reads his own and the shared, changes his own)
    'assistance.report.variant': {role: 'rwcd' for role in ROLES},
    # the debt to providers from the ledger (REP-3): read by the accountants
    # and the department heads
    'assistance.billing.debt': {'accountant': 'r', 'head': 'r'},
    # manager performance (REP-2): an operator reads his own row (record
    # rule), heads and contract managers every operator's
    'assistance.reporting.performance': REPORT,
    }


@pytest.fixture(scope='module')
def database():
    from trytond.modules.company.tests.tools import create_company
    from trytond.tests.tools import activate_modules
    config = activate_modules('assistance_reports', create_company)
    admin = config.user
    data = build_data(config)
    yield config, admin, data
    drop_db()


def build_data(config):
    "Two insurers' contracts with a policy, a case and an expense line each"
    Contract = Model.get('assistance.contract')
    CaseType = Model.get('assistance.case.type')
    contracts = [build_contract(1, name=name, config=config)
        for name in ('a', 'b')]
    case_type = CaseType(name="Медицинская помощь")
    case_type.save()
    cases, lines = zip(*(case_and_line(setup, case_type)
            for setup in contracts))
    return {
        'users': role_users(Contract(contracts[0]['contract']).insurer),
        'contracts': [c['contract'] for c in contracts],
        'policies': [c['policies'][0] for c in contracts],
        'cases': list(cases),
        'lines': list(lines),
        }


def case_and_line(setup, case_type):
    "A case with its medical data and an expense line on the contract"
    Case = Model.get('assistance.case')
    Diagnosis = Model.get('assistance.diagnosis')
    Policy = Model.get('assistance.policy')
    Line = Model.get('assistance.expense.line')
    Product = Model.get('product.product')
    diagnosis, = Diagnosis.find([('code', '=', 'J06.9')])
    policy = Policy(setup['policies'][0])
    # the test's contracts are not in force today: no policy proposed
    case = Case(insured=policy.insured, type=case_type, policy=policy,
        policy_reason="Полис прошлого года",
        description="Высокая температура", diagnosis=diagnosis,
        diagnosis_text="простуда")
    case.save()
    line = Line(policy=policy, service=Product(setup['service']),
        date=setup['start'] + dt.timedelta(5), quantity=Decimal(1),
        unit_price=Decimal(1000), diagnosis="J06.9")
    line.save()
    return case.id, line.id


def role_users(insurer):
    """One user per role, the manager serving the insurer, and a 'lonely
    manager' whose insurers nobody has set yet; return their ids"""
    User = Model.get('res.user')
    Group = Model.get('res.group')
    ModelData = Model.get('ir.model.data')
    Company = Model.get('company.company')
    company, = Company.find()
    users = {}
    for login, ref in [*ROLES.items(),
            ('lonely manager', ROLES['manager'])]:
        user = User(login=login.replace(' ', '_'), name=login)
        user.groups.append(Group(ModelData.get_id(*ref.split('.'), {})))
        user.companies.append(Company(company.id))
        user.company = Company(company.id)
        if login == 'manager':
            user.assistance_insurers.append(insurer)
        user.save()
        users[login] = user.id
    return users


def allowed(name, proxy, mode, context):
    "Whether the RPC call of this mode passes the access checks"
    if mode in {'create', 'delete'} and is_singleton(name):
        # a singleton creates its record on its first write and deletes
        # nothing: the client asks get_access, as for the relation tables
        # below
        return granted(name, mode, context)
    calls = {
        'read': lambda: proxy.search([], 0, 1, None, context),
        'create': lambda: proxy.create([], context),
        'write': lambda: proxy.write([], {}, context),
        'delete': lambda: proxy.delete([], context),
        }
    try:
        calls[mode]()
    except AccessError:
        return False
    except TypeError:
        # a relation table (Many2Many) has no RPC of its own: it is
        # changed through its parent's form, which asks get_access
        return granted(name, mode, context)
    except NotImplementedError:  # a report (table_query) stores nothing
        return False
    return True


def our_models(config):
    IrModel = Model.get('ir.model')
    return {m.name: m for m in IrModel.find(
            [('module', 'like', 'assistance_%')])}


def test_every_model_is_in_the_table(database):
    config, admin, _ = database
    set_user(admin, config)
    missing = sorted(
        name for name, model in our_models(config).items()
        if model_storage(name) and name not in ACCESS)
    assert not missing, f"decide the access of {missing} in ACCESS"


def model_storage(name):
    "Whether the model stores records (wizard forms have no access)"
    from trytond.model import ModelStorage
    return issubclass(pool_class(name), ModelStorage)


def is_singleton(name):
    from trytond.model import ModelSingleton
    return issubclass(pool_class(name), ModelSingleton)


def pool_class(name):
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    with Transaction().start(DB_NAME, 0, readonly=True):
        return Pool().get(name)


@pytest.mark.parametrize('role', list(ROLES))
def test_model_access_matrix(database, role):
    config, admin, data = database
    set_user(admin, config)
    wrong = []
    set_user(data['users'][role], config)
    try:
        context = config.context
        for name, rights in sorted(ACCESS.items()):
            proxy = Model.get(name)._proxy
            expected = {MODES[c] for c in rights.get(role, '')}
            actual = {mode for mode in MODES.values()
                if allowed(name, proxy, mode, context)}
            if actual != expected:
                wrong.append((name, ''.join(sorted(c for c, m in
                                MODES.items() if m in actual))))
            # copy reads the records and creates their copies
            if ({'read', 'create'} <= expected) != allowed_copy(
                    name, proxy, context):
                wrong.append((name, 'copy'))
    finally:
        set_user(admin, config)
    assert not wrong, f"{role}: differs from ACCESS: {wrong}"


def granted(name, mode, context):
    "What ir.model.access grants, asked as the client asks it"
    Access = Model.get('ir.model.access')._proxy
    return bool(Access.get_access([name], context)[name][mode])


def allowed_copy(name, proxy, context):
    try:
        proxy.copy([], {}, context)
    except TypeError:
        pass  # no RPC: as read and create
    except (AccessError, NotImplementedError):
        return False
    return all(allowed(name, proxy, mode, context)
        for mode in ['read', 'create'])


@pytest.mark.parametrize('model, key', [
        ('assistance.contract', 'contracts'),
        ('assistance.policy', 'policies'),
        ('assistance.case', 'cases'),
        ('assistance.expense.line', 'lines'),
        ])
def test_insurer_staff_see_only_their_insurer(database, model, key):
    config, admin, data = database
    mine, other = data[key]
    seen = {}
    try:
        for who in ['manager', 'lonely manager', 'operator', 'accountant',
                'head']:
            set_user(data['users'][who], config)
            Records = Model.get(model)
            seen[who] = {r.id for r in Records.find([])} & {mine, other}
        set_user(data['users']['manager'], config)
        with pytest.raises(AccessError):
            Model.get(model)._proxy.read([other], ['id'], config.context)
    finally:
        set_user(admin, config)
    assert seen['manager'] == {mine}
    assert seen['lonely manager'] == set()
    for who in ['operator', 'accountant', 'head']:
        assert seen[who] == {mine, other}, who


@pytest.mark.parametrize('model, key, field', [
        ('assistance.case', 'cases', 'description'),
        ('assistance.case', 'cases', 'diagnosis'),
        ('assistance.case', 'cases', 'diagnosis_text'),
        ('assistance.expense.line', 'lines', 'diagnosis'),
        ])
def test_medical_data_only_for_who_handles_the_case(
        database, model, key, field):
    config, admin, data = database
    record = data[key][0]
    readable = {}
    try:
        for who in ROLES:
            set_user(data['users'][who], config)
            proxy = Model.get(model)._proxy
            try:
                values, = proxy.read([record], [field], config.context)
                readable[who] = values[field] is not None
            except AccessError:
                readable[who] = False
            # searching on the field would tell its value too
            try:
                proxy.search([(field, '!=', None)], 0, None, None,
                    config.context)
                searchable = True
            except AccessError:
                searchable = False
            assert searchable == readable[who], (who, 'search')
            # the forms still open, without the field
            view = proxy.fields_view_get(None, 'form', config.context)
            assert (field in view['fields']) == readable[who], (who, 'view')
    finally:
        set_user(admin, config)
    assert readable == {
        'operator': True, 'head': True, 'manager': False,
        'accountant': False}
