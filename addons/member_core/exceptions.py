# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond.exceptions import UserError, UserWarning
from trytond.model.exceptions import AccessError, ValidationError


class MemberError(UserError):
    pass


class MemberWarning(UserWarning):
    pass


class MemberValidationError(ValidationError):
    pass


class MemberAccessError(AccessError):
    pass


class IdentityKeyError(UserError):
    pass


class CardRefused(UserError):
    "A card or member may not be used; the message says why."
    pass


class LookupRefused(UserError):
    "A lookup found nothing usable; the message says why."
    pass
