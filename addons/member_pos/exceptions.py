# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class HandoverError(UserError):
    pass


class ReceiptError(UserError):
    pass


class CommissionValidationError(ValidationError):
    pass


class MemberSaleError(UserError):
    pass


class MemberPaymentError(UserError):
    pass
