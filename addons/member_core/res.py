# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
from trytond.cache import Cache
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction


class User(metaclass=PoolMeta):
    __name__ = 'res.user'

    member_properties = fields.Many2Many(
        'member.property-res.user', 'user', 'property', "Member Properties",
        help="The properties whose members the user may see.")
    _get_member_properties_cache = Cache(
        __name__ + '.get_member_properties', context=False)

    @classmethod
    def get_member_properties(cls):
        "Return the ids of the properties of the current user"
        user_id = Transaction().user
        properties = cls._get_member_properties_cache.get(user_id)
        if properties is not None:
            return properties
        properties = tuple(p.id for p in cls(user_id).member_properties)
        return cls._get_member_properties_cache.set(user_id, properties)

    @classmethod
    def in_group(cls, xml_id, module='member_core'):
        "Tell if the current user belongs to the group with the XML id"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        transaction = Transaction()
        if transaction.user == 0:
            return True
        group_id = ModelData.get_id(module, xml_id)
        return group_id in cls.get_groups()

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        if field_names and 'member_properties' in field_names:
            cls._get_member_properties_cache.clear()
