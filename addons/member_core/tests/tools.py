# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Helpers for scenarios of member_core and the modules above it."""
from proteus import Model
from proteus import config as proteus_config
from trytond.modules.company.tests.tools import get_company
from trytond.tests import tools as trytond_tools
from trytond.tests.test_tryton import (
    activate_module,
    backup_db_cache,
    drop_db,
    restore_db_cache,
)

# Valid PRC resident identity numbers (check digit included)
ID_NUMBERS = [
    '11010519491231002X', '110105199003077577', '310101198506151238',
    '440304199211304560', '110101197802147899', '440106199501011231',
    '110102197005053212',
    ]


def activate_modules(modules, *setup):
    """trytond.tests.tools.activate_modules, built on the cached activation
    of the modules alone

    trytond activates the modules from scratch for every new list of set-up
    functions, which takes minutes on PostgreSQL; the unit tests have
    already cached the bare activation, so the set-up runs on a copy of it.
    """
    if isinstance(modules, str):
        modules = [modules]
    if not setup:
        return trytond_tools.activate_modules(modules)
    cache_name = '-'.join(sorted(modules)) + '--' + '|'.join(
        trytond_tools._func_name(f) for f in setup)
    if restore_db_cache(cache_name):
        return proteus_config.set_trytond()
    drop_db()
    activate_module(modules)
    config = proteus_config.set_trytond()
    for func in setup:
        func(config=config)
    backup_db_cache(cache_name)
    return config


def create_programme(
        name="Grand Hotels Club", code='GHC', properties=None,
        company=None, config=None):
    "Create a programme with its properties, return the programme"
    Programme = Model.get('member.programme', config=config)
    Property = Model.get('member.property', config=config)
    Sequence = Model.get('ir.sequence', config=config)
    SequenceType = Model.get('ir.sequence.type', config=config)
    if company is None:
        company = get_company(config=config)
    sequence_type, = SequenceType.find([('name', '=', "Member")])
    sequence = Sequence(
        name=f"{name} Members", sequence_type=sequence_type,
        prefix='M', padding=8, company=company)
    sequence.save()
    programme = Programme(
        name=name, code=code, company=company, member_sequence=sequence)
    programme.save()
    if properties is None:
        properties = [('SH', "Shanghai Bund Hotel"), ('BJ', "Beijing Hotel")]
    for prop_code, prop_name in properties:
        Property(programme=programme, code=prop_code, name=prop_name).save()
    programme.reload()
    return programme


def get_property(programme, code, config=None):
    "Return the property of the programme with the code"
    Property = Model.get('member.property', config=config)
    property_, = Property.find([
            ('programme', '=', programme.id),
            ('code', '=', code),
            ])
    return property_
