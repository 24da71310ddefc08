# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError


class PostingError(UserError):
    "A posting request is invalid; nothing was written."
    pass


class IdempotencyError(PostingError):
    "The key was already used for another request."
    pass


class InsufficientBalance(PostingError):
    pass


class LedgerAccessError(AccessError):
    pass


class PointTypeValidationError(ValidationError):
    pass


class RequestError(UserError):
    "A point request (adjustment, conversion, transfer) is refused."
    pass


class RequestAccessError(AccessError):
    pass


class RequestValidationError(ValidationError):
    pass


class RuleError(UserError):
    "An earn event is invalid; nothing was written."
    pass


class RuleValidationError(ValidationError):
    pass


class StatementError(UserError):
    "A points statement is asked for an invalid period."
    pass
