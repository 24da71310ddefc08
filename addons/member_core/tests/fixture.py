# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Fixtures built once per test class and committed.

A company with its chart of accounts takes seconds to build (tens of
seconds on PostgreSQL); building it in every test made the suites slow.
A test class mixing in ``CommittedFixture`` sets ``module`` (to activate)
and builds its fixture once in the classmethod ``setUpFixture``, which
returns a ``SimpleNamespace`` of records, lists and dicts of them; each
test, still in its own rolled back transaction, gets the same records
back from ``self.fixture()``. The database is dropped before and after
the class, so no other class sees the committed records.
"""
from types import SimpleNamespace

from trytond.model import Model
from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
from trytond.transaction import Transaction, TransactionError


class CommittedFixture:
    "Mixin of unittest.TestCase: a fixture committed once for the class"
    module = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        drop_db()
        activate_module(cls.module)
        extras = {}
        while True:
            with Transaction().start(DB_NAME, 1, **extras) as transaction:
                try:
                    cls._fixture = _freeze(cls.setUpFixture())
                    transaction.commit()
                    break
                except TransactionError as error:
                    # creating a chart locks tables: the transaction
                    # restarts as the dispatcher would
                    transaction.rollback()
                    error.fix(extras)

    @classmethod
    def tearDownClass(cls):
        drop_db()
        super().tearDownClass()

    def fixture(self):
        "The namespace of setUpFixture, read in the current transaction"
        return _thaw(self._fixture)


class _Record:
    __slots__ = ('model', 'id')

    def __init__(self, model, id_):
        self.model, self.id = model, id_


def _freeze(value):
    "Replace records by (model, id) so they outlive their transaction"
    return _walk(value, lambda v: _Record(v.__name__, v.id)
        if isinstance(v, Model) else v)


def _thaw(value):
    return _walk(value, lambda v: Pool().get(v.model)(v.id)
        if isinstance(v, _Record) else v)


def _walk(value, convert):
    "Apply convert to the leaves of nested namespaces, dicts and lists"
    if isinstance(value, SimpleNamespace):
        return SimpleNamespace(**_walk(vars(value), convert))
    elif isinstance(value, dict):
        return {k: _walk(v, convert) for k, v in value.items()}
    elif isinstance(value, (list, tuple)):
        return type(value)(_walk(v, convert) for v in value)
    return convert(value)
