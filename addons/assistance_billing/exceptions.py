# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError


class AccrualError(UserError):
    pass


class RegisterError(UserError):
    pass


class RegisterAccessError(AccessError):
    pass


class AllocationError(UserError):
    pass


class InsurerBillingError(UserError):
    pass


class InsurerBillingAccessError(AccessError):
    pass
