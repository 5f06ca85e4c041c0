# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError


class OrderValidationError(ValidationError):
    pass


class OrderAccessError(AccessError):
    pass


class OrderCoverageError(UserError):
    pass


class ProviderValidationError(ValidationError):
    pass


class RefusalValidationError(ValidationError):
    pass


class ProviderAccessError(AccessError):
    pass


class ProviderSuspendedError(UserError):
    pass


class PriceListImportError(UserError):
    pass


class ProviderSelectionError(UserError):
    pass


class SmsValidationError(ValidationError):
    pass


class OrderLetterError(UserError):
    pass
