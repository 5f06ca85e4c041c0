# This file is part of «Ассистанс».  The COPYRIGHT file at the top level of
# this repository contains the full copyright notices and license terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError


class CaseValidationError(ValidationError):
    pass


class CaseStateError(UserError):
    pass


class TaskAccessError(AccessError):
    pass


class SurveyValidationError(ValidationError):
    pass


class AccessLogError(AccessError):
    pass


class DiagnosisImportError(UserError):
    pass
