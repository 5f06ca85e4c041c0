# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError


class AccrualError(UserError):
    pass


class AllocationError(UserError):
    pass
