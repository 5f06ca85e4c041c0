# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.model.exceptions import AccessError, ValidationError


class ContractValidationError(ValidationError):
    pass


class ContractAccessError(AccessError):
    pass


class PolicyValidationError(ValidationError):
    pass


class CoverageValidationError(ValidationError):
    pass


class ExpenseAccessError(AccessError):
    pass


class ExpenseValidationError(ValidationError):
    pass


class RPCAccessError(AccessError):
    pass


class PartyValidationError(ValidationError):
    pass
