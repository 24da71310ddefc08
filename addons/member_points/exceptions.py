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
