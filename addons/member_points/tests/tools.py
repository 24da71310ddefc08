# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Fixtures of the unit tests of member_points (inside a transaction)."""
from decimal import Decimal

from trytond.modules.company.tests.test_module import create_company
from trytond.pool import Pool


def create_programme(code='C'):
    "Create a company and a programme with its member sequence"
    pool = Pool()
    Programme = pool.get('member.programme')
    Sequence = pool.get('ir.sequence')
    ModelData = pool.get('ir.model.data')
    company = create_company()
    sequence = Sequence(name="Members", sequence_type=ModelData.get_id(
            'member_core', 'sequence_type_member'))
    sequence.save()
    programme = Programme(
        name="Club", code=code, company=company, member_sequence=sequence)
    programme.save()
    return programme


def create_members(programme, names, property_=None, **values):
    "Create approved members of the programme (and a property if none)"
    pool = Pool()
    Property = pool.get('member.property')
    Party = pool.get('party.party')
    if property_ is None:
        property_ = Property(programme=programme, code='H', name="Hotel")
        property_.save()
    return Party.create([{
                'name': name, 'programme': programme.id,
                'home_property': property_.id,
                'member_state': 'member',
                **values,
                } for name in names])


def create_point_types(programme):
    """Create the programme's points (no digits) and stored value (its
    company's currency, 2 digits, worth 1); return them"""
    PointType = Pool().get('member.point.type')
    points = PointType(programme=programme, name="Points", code='P')
    points.save()
    stored = PointType(
        programme=programme, name="Stored Value", code='SV',
        kind='stored_value', currency=programme.company.currency, digits=2,
        point_value=Decimal(1))
    stored.save()
    return points, stored
