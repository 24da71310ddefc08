# This file is part of the member suite.  The COPYRIGHT file at the top
# level of this repository contains the full copyright notices and license
# terms.
"""Import of members from files exported by legacy systems.

A file (CSV or XLSX) is read whole and its header checked before anything
is written: an unreadable file or a missing required column raises a
UserError and writes nothing. Each data row is then checked on its own: a
row with bad data is reported as rejected with the reason and the other
rows are applied. The whole import runs in one transaction, so that the
report and the rows it lists as applied are committed together or not at
all.

Rows are matched to the active members of the programme on mobile phone
(E.164), email (lower case) and ID number hash, and to the earlier rows of
the same file. A row matching two different existing members is applied
to one of them and a merge of the other one is proposed.
"""
import csv
import datetime as dt
import io
import re
import zipfile
from email.headerregistry import Address

from sql import Column

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateAction, StateView, Wizard

from . import identity
from .exceptions import MemberError
from .party import GENDERS, IDENTITY_FIELDS, SOURCE_CHANNELS, normalize_phone

# Rows per INSERT and per create call: browsing n records costs O(n²)
# checks in trytond, 250 measured twice as fast as 1,000 on 10,000 rows.
CHUNK = 250
MAPPING_FIELDS = [
    (None, ""),
    ('name', "Name"),
    ('phone', "Mobile Phone"),
    ('email', "Email"),
    ('id_document_type', "ID Document Type"),
    ('id_number', "ID Number"),
    ('birthday', "Birthday"),
    ('gender', "Gender"),
    ('home_property', "Home Property Code"),
    ('source_channel', "Source Channel"),
    ('salesperson', "Salesperson Login"),
    ('join_date', "Join Date"),
    ('tags', "Tags"),
    ]
# Header names seen in front desk, website and WeChat exports
_SYNONYMS = {
    'name': [
        'name', 'full name', 'member name', 'customer name', 'guest name',
        'nickname', '姓名', '名字', '会员姓名', '客户姓名', '昵称'],
    'phone': [
        'phone', 'mobile', 'mobile phone', 'cell', 'cellphone', 'tel',
        'telephone', 'phone number', 'mobile number', '手机', '手机号',
        '手机号码', '电话', '联系电话'],
    'email': [
        'email', 'e-mail', 'mail', 'email address', '邮箱', '电子邮件',
        '电子邮箱'],
    'id_document_type': [
        'id type', 'id document type', 'document type', '证件类型'],
    'id_number': [
        'id number', 'id no', 'id', 'id card', 'id card number',
        'document number', 'identity number', '证件号', '证件号码',
        '身份证', '身份证号', '身份证号码'],
    'birthday': [
        'birthday', 'birth date', 'date of birth', 'dob', '生日',
        '出生日期'],
    'gender': ['gender', 'sex', '性别'],
    'home_property': [
        'property', 'property code', 'home property', 'home property code',
        'hotel', 'hotel code', 'store', '门店', '酒店', '门店代码',
        '酒店代码'],
    'source_channel': [
        'source', 'channel', 'source channel', '来源', '渠道'],
    'salesperson': [
        'salesperson', 'sales', 'salesperson login', 'sales login', '销售',
        '销售员', '销售顾问'],
    'join_date': [
        'join date', 'joined', 'registration date', 'signup date',
        'member since', '入会日期', '注册日期', '注册时间'],
    'tags': ['tags', 'tag', 'labels', 'categories', '标签'],
    }
_GENDER_WORDS = {
    'f': 'female', 'female': 'female', 'woman': 'female', '女': 'female',
    'm': 'male', 'male': 'male', 'man': 'male', '男': 'male',
    'other': 'other', '其他': 'other',
    }
_DOCUMENT_WORDS = {
    '身份证': 'cn_ric', '居民身份证': 'cn_ric', 'id card': 'cn_ric',
    '护照': 'passport', '港澳通行证': 'hk_macao_permit',
    '台胞证': 'taiwan_permit', '永久居留证': 'foreign_permanent',
    '其他': 'other',
    }
_CHANNEL_WORDS = {
    '前台': 'front_desk', '官网': 'website', '网站': 'website',
    '微信': 'wechat', '电话': 'phone', '导入': 'import',
    '推荐': 'referral',
    }
# Day first with dots is the European form; slashes are read year first
# only, as 01/02/2024 is ambiguous.
DATE_FORMATS = [
    '%Y-%m-%d', '%Y/%m/%d', '%Y.%m.%d', '%d.%m.%Y', '%Y%m%d',
    '%Y年%m月%d日']
ENCODINGS = ['utf-8-sig', 'gb18030']
# Fields the row fills in on the member, in report order
_MEMBER_FIELDS = [
    'name', 'member_phone', 'member_email', 'id_document_type',
    'id_number_hash', 'birthday', 'gender', 'home_property',
    'source_channel', 'salesperson', 'join_date']
_KEYS = [('phone', 'member_phone'), ('email', 'member_email'),
    ('id', 'id_number_hash')]
_APPROVED = {'member', 'suspended', 'terminated'}
# Samples shown in the mapping step are masked when they look like an ID
_ID_LIKE = re.compile(r'\d{15,17}[\dXx]')
_STATE_RANK = {'member': 0, 'suspended': 1, 'terminated': 2, 'prospect': 3}


def _clean_header(value):
    return re.sub(r'[\s_\-.:：]+', ' ', str(value or '')).strip().lower()


def _text(value):
    "Return the cell value as stripped text"
    if value is None:
        return ''
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def propose_mapping(header):
    "Return the member field proposed for each column of header"
    lookup = {}
    for field, _ in MAPPING_FIELDS[1:]:
        lookup.setdefault(_clean_header(field), field)
    for field, words in _SYNONYMS.items():
        for word in words:
            lookup.setdefault(_clean_header(word), field)
    for field, label in MAPPING_FIELDS[1:]:
        lookup.setdefault(_clean_header(label), field)
    mapping, used = [], set()
    for column in header:
        field = lookup.get(_clean_header(column))
        if field in used:
            field = None
        used.add(field)
        mapping.append(field)
    return mapping


def detect_format(file_name):
    "Return 'csv' or 'xlsx' from the extension of file_name, or None"
    name = (file_name or '').lower()
    if name.endswith(('.csv', '.txt')):
        return 'csv'
    if name.endswith('.xlsx'):
        return 'xlsx'
    return None


def decode(data, file_name):
    "Return (text, encoding) of CSV data, trying UTF-8 then GB18030"
    error = None
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exception:
            error = exception
    raise MemberError(gettext(
            'member_core.msg_import_file_undecodable',
            file=file_name, row=data[:error.start].count(b'\n') + 1))


def read_file(data, file_name):
    """Return (header, rows, file_format, encoding) of the file

    rows is a list of (row number, cell values); the header is row 1 and
    empty rows are skipped.
    """
    file_format = detect_format(file_name)
    if not file_format:
        raise MemberError(gettext(
                'member_core.msg_import_file_format', file=file_name))
    data = bytes(data or b'')
    if file_format == 'csv':
        text, encoding = decode(data, file_name)
        first = text.split('\n', 1)[0]
        try:
            dialect = csv.Sniffer().sniff(first, delimiters=',;\t|')
            delimiter = dialect.delimiter
        except csv.Error:
            delimiter = ','
        try:
            table = list(csv.reader(io.StringIO(text), delimiter=delimiter))
        except csv.Error as exception:
            raise MemberError(gettext(
                    'member_core.msg_import_file_csv', file=file_name,
                    error=str(exception)))
    else:
        from openpyxl import load_workbook
        encoding = None
        try:
            workbook = load_workbook(
                io.BytesIO(data), read_only=True, data_only=True)
            table = [list(r) for r in workbook.worksheets[0].iter_rows(
                    values_only=True)]
            workbook.close()
        except (zipfile.BadZipFile, KeyError, OSError, ValueError,
                IndexError):
            raise MemberError(gettext(
                    'member_core.msg_import_file_xlsx', file=file_name))
    header = [_text(c) for c in table[0]] if table else []
    while header and not header[-1]:
        header.pop()
    if not any(header):
        raise MemberError(gettext(
                'member_core.msg_import_file_empty', file=file_name))
    rows = []
    for number, cells in enumerate(table[1:], 2):
        if any(_text(c) for c in cells):
            cells = list(cells[:len(header)])
            cells += [None] * (len(header) - len(cells))
            rows.append((number, cells))
    return header, rows, file_format, encoding


def parse_date(value):
    "Return the date of a cell or None if it is not a date"
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # A spreadsheet date cell without date format: days since 1899-12-30
        if 1 <= value < 2958466:
            from openpyxl.utils.datetime import from_excel
            return from_excel(value).date()
        return None
    text = _text(value)
    text = re.split(r'[\sT]', text, maxsplit=1)[0] if text else text
    for format_ in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, format_).date()
        except ValueError:
            continue
    return None


def valid_email(email):
    try:
        address = Address(addr_spec=email)
        return bool(address.username and '.' in address.domain)
    except (ValueError, IndexError):
        return False


class _Reject(Exception):
    "The row is rejected; the message says why"


class _Target:
    "A member the file creates or updates"

    def __init__(self, member=None, current=None):
        self.member = member
        self.current = current or {}
        self.values = {}
        self.number = None
        self.tags = set()
        self.rows = []
        self.into = None

    @property
    def locked(self):
        return self.current.get('member_state') in _APPROVED

    def get(self, name):
        if name in self.values:
            return self.values[name]
        return self.current.get(name)

    def resolve(self):
        target = self
        while target.into:
            target = target.into
        return target


class _Row:
    def __init__(self, number):
        self.number = number
        self.values = {}
        self.number_clear = None
        self.tags = set()
        self.applied = []
        self.kept = []
        self.target = None
        self.action = None
        self.message = None


class Importer:
    "Match, merge and write the rows of one import"

    def __init__(self, programme, header, mapping, file_name,
            home_property=None, source_channel='import', approve=False):
        self.programme = programme
        # Plain copies: record attributes cost a cache lookup on every row
        self.programme_id = programme.id
        self.phone_region = programme.phone_region
        self.header = header
        self.mapping = mapping
        self.file_name = file_name
        self.home_property = home_property
        self.source_channel = source_channel
        self.approve = approve
        self.index = {}
        self.targets = []
        self.existing_targets = {}
        self.duplicates = {}
        self.rows = []
        self.columns = None

    def prefetch(self, rows):
        "Read in a few queries what the rows need"
        pool = Pool()
        Party = pool.get('party.party')
        Property = pool.get('member.property')
        User = pool.get('res.user')
        cursor = Transaction().connection.cursor()
        party = Party.__table__()
        columns = ['id', 'active', 'replaced_by', 'member_state'] + [
            f for f in _MEMBER_FIELDS]
        cursor.execute(*party.select(
                *[getattr(party, c) for c in columns],
                where=party.programme == self.programme_id))
        self.members = {}
        self.by_key = {k: {} for k, _ in _KEYS}
        for values in cursor:
            record = dict(zip(columns, values))
            self.members[record['id']] = record
        for record in self.members.values():
            for kind, name in _KEYS:
                if record[name]:
                    index = self.by_key[kind]
                    # Active members win over replaced ones
                    if record['active'] or record[name] not in index:
                        index[record[name]] = record['id']
        property_ = Property.__table__()
        cursor.execute(*property_.select(
                property_.code, property_.id,
                where=(property_.programme == self.programme_id)
                & (property_.active == True)))  # noqa: E712
        self.properties = {c.strip().lower(): i for c, i in cursor}
        logins = set()
        if 'salesperson' in self.mapping:
            column = self.mapping.index('salesperson')
            logins = {_text(c[column]) for _, c in rows} - {''}
        self.users = {}
        if logins:
            user = User.__table__()
            logins = sorted(logins)
            for start in range(0, len(logins), CHUNK):
                cursor.execute(*user.select(user.login, user.id,
                        where=user.login.in_(logins[start:start + CHUNK])))
                self.users.update(cursor)

    def existing(self, member_id):
        "Return the target of the active member or None if replaced away"
        seen = set()
        while member_id and member_id not in seen:
            seen.add(member_id)
            record = self.members.get(member_id)
            if record is None:
                return None
            if record['active']:
                break
            member_id = record['replaced_by']
        else:
            return None
        if member_id not in self.existing_targets:
            target = _Target(member_id, self.members[member_id])
            self.existing_targets[member_id] = target
            self.targets.append(target)
        return self.existing_targets[member_id]

    def column(self, field):
        return self.header[self.mapping.index(field)]

    def parse(self, number, cells):
        "Return the _Row of the cells or raise _Reject"
        row = _Row(number)
        raw = {f: cells[i] for i, f in enumerate(self.mapping) if f}
        texts = {f: _text(v) for f, v in raw.items()}
        values = row.values

        def reject(message, field, value=None, **kwargs):
            raise _Reject(gettext(
                    f'member_core.{message}', column=self.column(field),
                    value=texts[field] if value is None else value,
                    **kwargs))

        if texts.get('name'):
            values['name'] = texts['name']
        if texts.get('phone'):
            phone = normalize_phone(
                texts['phone'], self.phone_region)
            if not phone:
                reject('msg_import_row_phone', 'phone')
            values['member_phone'] = phone
        if texts.get('email'):
            email = texts['email'].lower()
            if not valid_email(email):
                reject('msg_import_row_email', 'email')
            values['member_email'] = email
        document_type = None
        if texts.get('id_document_type'):
            document_type = self.selection(
                texts['id_document_type'], identity.DOCUMENT_TYPES,
                _DOCUMENT_WORDS)
            if not document_type:
                reject('msg_import_row_selection', 'id_document_type')
        if texts.get('id_number'):
            number = identity.normalize_id_number(texts['id_number'])
            document_type = document_type or 'cn_ric'
            if not identity.validate_id_number(document_type, number):
                reject('msg_import_row_id_number', 'id_number',
                    value=identity.mask(number))
            values['id_number_hash'] = identity.hash_number(number)
            row.number_clear = number
        if document_type:
            values['id_document_type'] = document_type
        for field in ['birthday', 'join_date']:
            if texts.get(field):
                date = parse_date(raw[field])
                if not date:
                    reject('msg_import_row_date', field)
                values[field] = date
        if texts.get('gender'):
            gender = self.selection(texts['gender'], GENDERS, _GENDER_WORDS)
            if not gender:
                reject('msg_import_row_selection', 'gender')
            values['gender'] = gender
        if texts.get('home_property'):
            property_ = self.properties.get(texts['home_property'].lower())
            if not property_:
                reject('msg_import_row_property', 'home_property')
            values['home_property'] = property_
        if texts.get('source_channel'):
            channel = self.selection(
                texts['source_channel'], SOURCE_CHANNELS, _CHANNEL_WORDS)
            if not channel:
                reject('msg_import_row_selection', 'source_channel')
            values['source_channel'] = channel
        if texts.get('salesperson'):
            user = self.users.get(texts['salesperson'])
            if not user:
                reject('msg_import_row_salesperson', 'salesperson')
            values['salesperson'] = user
        if texts.get('tags'):
            row.tags = {t.strip()
                for t in re.split(r'[,;，；、|]', texts['tags']) if t.strip()}
        if not any(values.get(n) for _, n in _KEYS):
            raise _Reject(gettext('member_core.msg_import_row_no_key'))
        phone = values.get('member_phone')
        if phone and phone in self.by_key['phone'] and not self.existing(
                self.by_key['phone'][phone]):
            reject('msg_import_row_phone_replaced', 'phone', value=phone)
        return row

    @staticmethod
    def selection(text, selection, words):
        key = text.strip().lower()
        for value, label in selection:
            if value and key in {value, label.lower()}:
                return value
        return words.get(key)

    def find(self, row):
        "Return the targets the row matches with the key kinds of each"
        found = {}
        for kind, name in _KEYS:
            key = row.values.get(name)
            if not key:
                continue
            target = self.index.get((kind, key))
            if target is None and key in self.by_key[kind]:
                target = self.existing(self.by_key[kind][key])
            if target is not None:
                target = target.resolve()
                found.setdefault(target, []).append(kind)
        return found

    def absorb(self, target, values, number=None, tags=(), skip=()):
        "Fill the empty fields of target, return (applied, kept)"
        applied, kept = [], []
        for name in _MEMBER_FIELDS:
            value = values.get(name)
            if value is None or name in skip:
                continue
            current = target.get(name)
            if current == value:
                continue
            if name == 'member_phone' and self.by_key['phone'].get(
                    value, target.member) != target.member:
                # Held by a replaced member: the phone is unique
                kept.append(name)
                continue
            if (current is None or current == '') and not (
                    target.locked and name in IDENTITY_FIELDS):
                target.values[name] = value
                if name == 'id_number_hash':
                    target.number = number
                applied.append(name)
            else:
                kept.append(name)
        new_tags = set(tags) - target.tags
        if new_tags:
            target.tags |= new_tags
            applied.append('tags')
        for kind, name in _KEYS:
            if target.get(name):
                self.index[(kind, target.get(name))] = target
        return applied, kept

    def fold(self, source, target):
        "Merge the file target source into target"
        self.absorb(target, source.values, source.number, source.tags)
        source.into = target
        target.rows.extend(source.rows)
        target.rows.sort(key=lambda r: r.number)

    def add(self, row):
        found = self.find(row)
        existing = [t for t in found if t.member]
        new = [t for t in found if not t.member]
        skip = set()
        if len(existing) > 1:
            existing.sort(key=lambda t: (
                    _STATE_RANK.get(t.current.get('member_state'), 9),
                    t.member))
            kept, others = existing[0], existing[1:]
            for other in others:
                kinds = found[kept] + found[other]
                self.duplicates.setdefault(
                    (kept.member, other.member), (row, kinds))
                skip |= {n for k, n in _KEYS if k in found[other]}
            if 'id_number_hash' in skip:
                skip.add('id_document_type')
            row.action = 'duplicate'
            target = kept
        elif existing:
            target = existing[0]
        elif new:
            target = new[0]
            new = new[1:]
        else:
            if not row.values.get('name'):
                raise _Reject(gettext(
                        'member_core.msg_import_row_name',
                        column=self.column('name')))
            if not (row.values.get('home_property') or self.home_property):
                raise _Reject(gettext(
                        'member_core.msg_import_row_property_missing'))
            target = _Target()
            self.targets.append(target)
            new = []
        for other in new:
            if other is not target:
                self.fold(other, target)
        row.applied, row.kept = self.absorb(
            target, row.values, row.number_clear, row.tags, skip=skip)
        row.target = target
        target.rows.append(row)

    def run(self, rows):
        "Match every row, return the rejected (row number, message)"
        self.prefetch(rows)
        rejected = []
        for number, cells in rows:
            try:
                row = self.parse(number, cells)
                self.add(row)
            except _Reject as exception:
                rejected.append((number, str(exception)))
                continue
            self.rows.append(row)
        return rejected

    def approvable(self, target):
        values = target.values
        return bool(self.approve and values.get('id_number_hash')
            and values.get('id_document_type')
            and (values.get('member_phone') or values.get('member_email'))
            and values.get('home_property'))

    def write(self):
        "Create and update the members, return the approved targets"
        pool = Pool()
        Party = pool.get('party.party')
        targets = [t for t in self.targets if not t.into]
        tags = self.categories(targets)
        to_create = [t for t in targets if not t.member]
        approved = []
        code_sequence = Party._code_sequence()
        for start in range(0, len(to_create), CHUNK):
            chunk = to_create[start:start + CHUNK]
            # One sequence update per chunk instead of one per member
            numbers = self.programme.member_sequence.get_many(len(chunk))
            codes = (code_sequence.get_many(len(chunk)) if code_sequence
                else [None] * len(chunk))
            vlist = []
            for target, number, code in zip(chunk, numbers, codes):
                values = target.values
                values.setdefault('home_property', self.home_property)
                values.setdefault('source_channel', self.source_channel)
                values = self.member_values(target, tags)
                values['member_number'] = number
                if code:
                    values['code'] = code
                vlist.append(values)
            members = self.insert(vlist)
            for target, member in zip(chunk, members):
                target.member = member.id
            to_approve = [m for t, m in zip(chunk, members)
                if self.approvable(t)]
            if to_approve:
                Party.approve_member(to_approve)
                approved.extend(t for t in chunk if self.approvable(t))
        to_write = []
        for target in targets:
            if target.current and (target.values or target.tags):
                values = self.member_values(target, tags)
                if values:
                    to_write.extend(([Party(target.member)], values))
        for start in range(0, len(to_write), 2 * CHUNK):
            Party.write(*to_write[start:start + 2 * CHUNK])
        return set(approved)

    def insert(self, vlist):
        """Insert the members of vlist with one INSERT, return them

        The rows were validated by parse() against the same rules as
        Party.validate_fields, so the per-record validation of
        Party.create, which computes every function field of each new
        party, is replaced by this set-based insert; the hooks
        (preprocess_values, check_modification, on_modification, triggers)
        still run.
        """
        pool = Pool()
        Party = pool.get('party.party')
        PartyCategory = pool.get('party.party-party.category')
        Trigger = pool.get('ir.trigger')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        if self.columns is None:
            self.columns = {
                n for n, f in Party._fields.items()
                if not isinstance(f, fields.Function)
                and f._type not in {'one2many', 'many2many'}
                and n not in {'id', 'create_uid', 'create_date',
                    'write_uid', 'write_date'}}
            self.defaults = {
                n: v for n, v in Party.default_get(
                    list(self.columns), with_rec_name=False).items()
                if n in self.columns and v is not None}
        now = dt.datetime.now()
        rows, categories = [], []
        for values in vlist:
            categories.append(values.pop('categories', [('add', [])]))
            values = Party.preprocess_values(
                'create', {**self.defaults, **values})
            code = values.get('code')
            values['code_alnum'] = re.sub(r'[\W_]', '', code or '') or None
            digits = re.sub(r'\D', '', code or '')[-18:]
            values['code_digit'] = int(digits) if digits else None
            rows.append({n: v for n, v in values.items() if n in self.columns})
        names = sorted(set().union(*rows))
        table = Party.__table__()
        cursor.execute(*table.insert(
                [Column(table, n) for n in names]
                + [table.create_uid, table.create_date],
                [[r.get(n) for n in names] + [transaction.user, now]
                    for r in rows]))
        number_ids = {}
        numbers = [r['member_number'] for r in rows]
        cursor.execute(*table.select(
                table.member_number, table.id,
                where=(table.programme == self.programme_id)
                & table.member_number.in_(numbers)))
        number_ids.update(cursor)
        ids = [number_ids[n] for n in numbers]
        relation = PartyCategory.__table__()
        links = [[i, c, transaction.user, now]
            for i, actions in zip(ids, categories)
            for _, category_ids in actions for c in category_ids]
        if links:
            cursor.execute(*relation.insert(
                    [relation.party, relation.category, relation.create_uid,
                        relation.create_date], links))
        Party._insert_history(ids)
        members = Party.browse(ids)
        Party.check_modification('create', members)
        Party.on_modification('create', members)
        for trigger in Trigger.get_triggers(Party.__name__, 'create'):
            trigger.queue_trigger_action(members)
        transaction.create_records[Party.__name__].extend(ids)
        return members

    def member_values(self, target, tags):
        values = {
            n: v for n, v in target.values.items() if n != 'id_number_hash'}
        if target.number:
            values['id_number_hash'] = target.values['id_number_hash']
            values['id_number_cipher'] = identity.encrypt(target.number)
            values.setdefault('id_document_type', target.get(
                    'id_document_type') or 'cn_ric')
        if not target.member:
            values['programme'] = self.programme_id
        if target.tags:
            values['categories'] = [
                ('add', sorted(tags[t] for t in target.tags))]
        return values

    def categories(self, targets):
        "Return the category id of each tag name, creating missing ones"
        pool = Pool()
        Category = pool.get('party.category')
        names = sorted({n for t in targets for n in t.tags})
        if not names:
            return {}
        result = {}
        for start in range(0, len(names), CHUNK):
            for category in Category.search([
                        ('name', 'in', names[start:start + CHUNK]),
                        ('parent', '=', None),
                        ]):
                result.setdefault(category.name, category.id)
        missing = [n for n in names if n not in result]
        if missing:
            for category in Category.create([{'name': n} for n in missing]):
                result[category.name] = category.id
        return result


class Profile(ModelSQL, ModelView):
    __name__ = 'member.import.profile'
    __string__ = "Member Import Profile"

    name = fields.Char("Name", required=True)
    programme = fields.Many2One(
        'member.programme', "Programme", ondelete='CASCADE',
        help="Leave empty to use the profile for every programme.")
    lines = fields.One2Many(
        'member.import.profile.line', 'profile', "Columns")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))

    def get_mapping(self, header, file_name):
        """Return the field of each column of header

        Raise MemberError if a column of the profile is not in the header.
        """
        columns = {_clean_header(c): i for i, c in enumerate(header)}
        mapping = [None] * len(header)
        for line in self.lines:
            index = columns.get(_clean_header(line.column))
            if index is None:
                raise MemberError(gettext(
                        'member_core.msg_import_profile_column',
                        file=file_name, column=line.column,
                        profile=self.rec_name))
            mapping[index] = line.field
        return mapping

    @classmethod
    def save_mapping(cls, profile, name, programme, header, mapping):
        "Store the mapping in profile or in a new one named name"
        pool = Pool()
        Line = pool.get('member.import.profile.line')
        if profile:
            Line.delete(list(profile.lines))
        else:
            profile, = cls.create([{
                        'name': name,
                        'programme': programme.id if programme else None,
                        }])
        Line.create([{
                    'profile': profile.id,
                    'column': column,
                    'field': field,
                    } for column, field in zip(header, mapping) if field])
        return profile


class ProfileLine(ModelSQL, ModelView):
    __name__ = 'member.import.profile.line'
    __string__ = "Member Import Profile Column"

    profile = fields.Many2One(
        'member.import.profile', "Profile", required=True,
        ondelete='CASCADE')
    column = fields.Char("Column", required=True,
        help="The header of the column in the file.")
    field = fields.Selection(
        MAPPING_FIELDS[1:], "Member Field", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('profile')


class MemberImport(ModelSQL, ModelView):
    __name__ = 'member.import'
    __string__ = "Member Import"

    programme = fields.Many2One(
        'member.programme', "Programme", required=True, readonly=True,
        ondelete='RESTRICT')
    file_name = fields.Char("File Name", readonly=True)
    file_format = fields.Selection([
            ('csv', "CSV"),
            ('xlsx', "XLSX"),
            ], "File Format", readonly=True)
    encoding = fields.Char("Encoding", readonly=True)
    home_property = fields.Many2One(
        'member.property', "Default Home Property", readonly=True,
        ondelete='RESTRICT')
    source_channel = fields.Selection(
        SOURCE_CHANNELS, "Source Channel", readonly=True)
    state = fields.Selection([
            ('done', "Done"),
            ('partial', "Partially Done"),
            ], "State", readonly=True,
        help="Partially done when rows were rejected.")
    user = fields.Many2One('res.user', "User", readonly=True)
    date = fields.Timestamp("Date", readonly=True)
    created = fields.Integer("Created", readonly=True)
    updated = fields.Integer("Updated", readonly=True)
    merged = fields.Integer(
        "Merged", readonly=True,
        help="Rows merged into the member of another row of the file.")
    proposed = fields.Integer("Duplicates Proposed", readonly=True)
    rejected = fields.Integer("Rejected", readonly=True)
    lines = fields.One2Many(
        'member.import.line', 'import_', "Lines", readonly=True)
    duplicates = fields.One2Many(
        'member.import.duplicate', 'import_', "Duplicates", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('date', 'DESC'))
        cls._order.insert(1, ('id', 'DESC'))

    def get_rec_name(self, name):
        return f'{self.file_name} ({self.date:%Y-%m-%d %H:%M})'

    @classmethod
    def check_mapping(cls, header, mapping, file_name):
        "Raise MemberError if the mapping cannot import members"
        seen = {}
        labels = dict(MAPPING_FIELDS)
        for column, field in zip(header, mapping):
            if not field:
                continue
            if field in seen:
                raise MemberError(gettext(
                        'member_core.msg_import_mapping_twice',
                        file=file_name, column=column, other=seen[field],
                        field=labels[field]))
            seen[field] = column
        if 'name' not in seen:
            raise MemberError(gettext(
                    'member_core.msg_import_column_missing',
                    file=file_name, field=labels['name']))
        if not seen.keys() & {'phone', 'email', 'id_number'}:
            raise MemberError(gettext(
                    'member_core.msg_import_key_missing', file=file_name))

    @classmethod
    def import_file(cls, programme, data, file_name, mapping=None,
            profile=None, home_property=None, source_channel='import',
            approve=False):
        """Import the members of the file into the programme

        mapping gives the member field (or None) of each column of the
        header; without it the profile's or the proposed one is used.
        Return the member.import record. Raise MemberError, writing
        nothing, if the file cannot be read or its header lacks a column.
        """
        header, rows, file_format, encoding = read_file(data, file_name)
        if mapping is None:
            mapping = (profile.get_mapping(header, file_name) if profile
                else propose_mapping(header))
        return cls.import_rows(
            programme, header, rows, mapping, file_name,
            file_format=file_format, encoding=encoding,
            home_property=home_property, source_channel=source_channel,
            approve=approve)

    @classmethod
    def import_rows(cls, programme, header, rows, mapping, file_name,
            file_format=None, encoding=None, home_property=None,
            source_channel='import', approve=False):
        "Import rows [(row number, cells)] read by read_file"
        pool = Pool()
        Line = pool.get('member.import.line')
        Duplicate = pool.get('member.import.duplicate')
        mapping = list(mapping) + [None] * (len(header) - len(mapping))
        cls.check_mapping(header, mapping, file_name)
        home_property = home_property.id if home_property else None
        importer = Importer(
            programme, header, mapping, file_name,
            home_property=home_property, source_channel=source_channel,
            approve=approve)
        rejected = importer.run(rows)
        approved = importer.write()

        lines = [{
                'row': n, 'action': 'rejected', 'message': m,
                } for n, m in rejected]
        counts = dict.fromkeys(
            ['created', 'updated', 'merged', 'duplicate', 'rejected'], 0)
        counts['rejected'] = len(rejected)
        for row in importer.rows:
            lines.append(cls._line_values(row, approved))
            if lines[-1]['action'] in counts:
                counts[lines[-1]['action']] += 1
        lines.sort(key=lambda line: line['row'])
        record, = cls.create([{
                    'programme': programme.id,
                    'file_name': file_name,
                    'file_format': file_format,
                    'encoding': encoding,
                    'home_property': home_property,
                    'source_channel': source_channel,
                    'state': 'partial' if rejected else 'done',
                    'user': Transaction().user,
                    'date': dt.datetime.now(),
                    'created': counts['created'],
                    'updated': counts['updated'],
                    'merged': counts['merged'],
                    'proposed': counts['duplicate'],
                    'rejected': counts['rejected'],
                    }])
        for start in range(0, len(lines), CHUNK):
            chunk = lines[start:start + CHUNK]
            for line in chunk:
                line['import_'] = record.id
            Line.create(chunk)
        Duplicate.create([{
                    'import_': record.id,
                    'row': row.number,
                    'member': kept,
                    'duplicate': other,
                    'matched_on': ', '.join(sorted(set(kinds))),
                    } for (kept, other), (row, kinds)
                in importer.duplicates.items()])
        return record

    @classmethod
    def _line_values(cls, row, approved):
        pool = Pool()
        Party = pool.get('party.party')
        target = row.target.resolve()
        first = target.rows[0]
        names = {}

        def label(field):
            if field == 'tags':
                return gettext('member_core.msg_import_tags')
            if field not in names:
                names[field] = Party.__names__(
                    'id_number' if field == 'id_number_hash' else field
                    )['field']
            return names[field]

        messages = []
        if row.action == 'duplicate':
            action = 'duplicate'
            messages.append(gettext('member_core.msg_import_line_duplicate'))
        elif first is not row:
            action = 'merged'
            messages.append(gettext(
                    'member_core.msg_import_line_merged', row=first.number))
        elif target.current:
            action = 'updated' if row.applied else 'unchanged'
        else:
            action = 'created'
            if target in approved:
                messages.append(
                    gettext('member_core.msg_import_line_approved'))
        if row.applied and action != 'created':
            messages.append(gettext(
                    'member_core.msg_import_line_applied',
                    fields=', '.join(label(f) for f in row.applied)))
        if row.kept:
            messages.append(gettext(
                    'member_core.msg_import_line_kept',
                    fields=', '.join(label(f) for f in row.kept)))
        return {
            'row': row.number,
            'action': action,
            'member': target.member,
            'message': ' '.join(messages) or None,
            }


class MemberImportLine(ModelSQL, ModelView):
    __name__ = 'member.import.line'
    __string__ = "Member Import Line"

    import_ = fields.Many2One(
        'member.import', "Import", required=True, ondelete='CASCADE')
    row = fields.Integer("Row", readonly=True)
    action = fields.Selection([
            ('created', "Created"),
            ('updated', "Updated"),
            ('unchanged', "Unchanged"),
            ('merged', "Merged"),
            ('duplicate', "Duplicate Proposed"),
            ('rejected', "Rejected"),
            ], "Action", readonly=True)
    member = fields.Many2One(
        'party.party', "Member", readonly=True, ondelete='SET NULL')
    message = fields.Text("Message", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('import_')
        cls._order = [('import_', 'DESC'), ('row', 'ASC'), ('id', 'ASC')]


class MemberImportDuplicate(Workflow, ModelSQL, ModelView):
    __name__ = 'member.import.duplicate'
    __string__ = "Member Import Duplicate"

    import_ = fields.Many2One(
        'member.import', "Import", required=True, ondelete='CASCADE')
    row = fields.Integer("Row", readonly=True)
    member = fields.Many2One(
        'party.party', "Member Kept", required=True, readonly=True,
        ondelete='CASCADE')
    duplicate = fields.Many2One(
        'party.party', "Duplicate", required=True, readonly=True,
        ondelete='CASCADE')
    matched_on = fields.Char("Matched On", readonly=True,
        help="The keys of the row found on the two members.")
    state = fields.Selection([
            ('proposed', "Proposed"),
            ('merged', "Merged"),
            ('ignored', "Ignored"),
            ], "State", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('import_')
        cls._transitions |= {
            ('proposed', 'merged'),
            ('proposed', 'ignored'),
            }
        cls._buttons.update({
                'merge': {
                    'invisible': Eval('state') != 'proposed',
                    'depends': ['state'],
                    },
                'ignore': {
                    'invisible': Eval('state') != 'proposed',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'proposed'

    @classmethod
    @ModelView.button
    @Workflow.transition('merged')
    def merge(cls, duplicates):
        for duplicate in duplicates:
            cls.merge_members(duplicate.member, duplicate.duplicate)

    @classmethod
    @ModelView.button
    @Workflow.transition('ignored')
    def ignore(cls, duplicates):
        pass

    @classmethod
    def merge_members(cls, kept, duplicate):
        """Replace duplicate by kept with the party replace wizard

        The empty fields of kept are first filled from duplicate (identity
        fields only if kept is not approved); then every reference moves
        to kept and duplicate is deactivated with replaced_by = kept.
        """
        pool = Pool()
        Party = pool.get('party.party')
        Session = pool.get('ir.session.wizard')
        Replace = pool.get('party.replace', type='wizard')
        if not duplicate.active or kept == duplicate:
            raise MemberError(gettext(
                    'member_core.msg_import_duplicate_inactive',
                    duplicate=duplicate.rec_name))
        locked = kept.member_state in _APPROVED
        values = {}
        for name in _MEMBER_FIELDS + ['id_number_cipher']:
            if locked and name in IDENTITY_FIELDS:
                continue
            if not getattr(kept, name) and getattr(duplicate, name):
                value = getattr(duplicate, name)
                values[name] = getattr(value, 'id', value)
        if values.get('member_phone'):
            Party.write([duplicate], {'member_phone': None})
        if values:
            Party.write([kept], values)
        # The Merge button is the access check: no party.replace action
        session, = Session.create([{}])
        try:
            replace = Replace(session.id)
            replace.ask.source = duplicate
            replace.ask.destination = kept
            replace.transition_replace()
        finally:
            Session.delete([session])


class PartyReplace(metaclass=PoolMeta):
    __name__ = 'party.replace'

    @classmethod
    def fields_to_replace(cls):
        """Add the member references of the member.* models

        The proposals keep pointing to both members as a record of the merge.
        """
        pool = Pool()
        result = super().fields_to_replace()
        for name, Model in pool.iterobject():
            if (not name.startswith('member.')
                    or name == 'member.import.duplicate'
                    or not issubclass(Model, ModelSQL)
                    or Model._is_table_query()):
                continue
            for field_name, field in Model._fields.items():
                if (field._type == 'many2one'
                        and not isinstance(field, fields.Function)
                        and field.model_name == 'party.party'):
                    result.append((name, field_name))
        return result


class ImportMembers(Wizard):
    "Import Members"
    __name__ = 'member.import.wizard'

    start = StateView(
        'member.import.wizard.start',
        'member_core.member_import_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Next", 'mapping', 'tryton-forward', default=True),
            ])
    mapping = StateView(
        'member.import.wizard.mapping',
        'member_core.member_import_mapping_view_form', [
            Button("Back", 'start', 'tryton-back'),
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Import", 'import_', 'tryton-ok', default=True),
            ])
    import_ = StateAction('member_core.act_member_import_form')

    def default_mapping(self, fields):
        header, rows, _, _ = read_file(self.start.file, self.start.file_name)
        if self.start.profile:
            mapping = self.start.profile.get_mapping(
                header, self.start.file_name)
        else:
            mapping = propose_mapping(header)
        sample = rows[0][1] if rows else [None] * len(header)
        lines = []
        for index, (column, field) in enumerate(zip(header, mapping)):
            value = _text(sample[index])
            if field == 'id_number' or _ID_LIKE.fullmatch(value):
                value = identity.mask(value)
            lines.append({
                    'index': index,
                    'column': column,
                    'field': field,
                    'sample': value,
                    })
        return {
            'lines': lines,
            'profile': self.start.profile.id if self.start.profile else None,
            }

    def do_import_(self, action):
        pool = Pool()
        Import = pool.get('member.import')
        Profile = pool.get('member.import.profile')
        start = self.start
        header, rows, file_format, encoding = read_file(
            start.file, start.file_name)
        mapping = [None] * len(header)
        for line in self.mapping.lines:
            if line.index is not None and line.index < len(header):
                mapping[line.index] = line.field
        Import.check_mapping(header, mapping, start.file_name)
        if self.mapping.save_profile:
            Profile.save_mapping(
                self.mapping.profile, self.mapping.profile_name,
                start.programme, header, mapping)
        record = Import.import_rows(
            start.programme, header, rows, mapping, start.file_name,
            file_format=file_format, encoding=encoding,
            home_property=start.home_property,
            source_channel=start.source_channel,
            approve=start.approve_complete)
        action['res_id'] = [record.id]
        action['views'].reverse()
        return action, {}


class ImportMembersStart(ModelView):
    __name__ = 'member.import.wizard.start'
    __string__ = "Import Members"

    programme = fields.Many2One(
        'member.programme', "Programme", required=True)
    home_property = fields.Many2One(
        'member.property', "Default Home Property",
        domain=[('programme', '=', Eval('programme', -1))],
        help="Given to new members whose row has no property code.")
    source_channel = fields.Selection(
        SOURCE_CHANNELS, "Source Channel",
        help="Given to new members whose row has no source.")
    file = fields.Binary("File", required=True, filename='file_name')
    file_name = fields.Char("File Name", required=True)
    profile = fields.Many2One(
        'member.import.profile', "Mapping Profile",
        domain=[('programme', 'in', [None, Eval('programme', -1)])],
        help="The columns of a previous export of the same system.")
    approve_complete = fields.Boolean(
        "Approve Complete Rows",
        help="Approve new members whose row has a valid ID number and "
        "a mobile phone or email.")

    @classmethod
    def default_source_channel(cls):
        return 'import'

    @classmethod
    def default_approve_complete(cls):
        return False

    @classmethod
    def default_programme(cls):
        pool = Pool()
        Programme = pool.get('member.programme')
        programmes = Programme.search([], limit=2)
        if len(programmes) == 1:
            return programmes[0].id

    @fields.depends('programme', 'home_property')
    def on_change_programme(self):
        if self.home_property and self.home_property.programme != (
                self.programme):
            self.home_property = None


class ImportMembersMapping(ModelView):
    __name__ = 'member.import.wizard.mapping'
    __string__ = "Import Members Mapping"

    lines = fields.One2Many(
        'member.import.wizard.mapping.line', None, "Columns")
    profile = fields.Many2One(
        'member.import.profile', "Mapping Profile", readonly=True)
    save_profile = fields.Boolean(
        "Save Mapping",
        help="Store the mapping in the profile, or in a new profile.")
    profile_name = fields.Char(
        "Profile Name",
        states={
            'invisible': ~Eval('save_profile') | Eval('profile'),
            'required': Eval('save_profile') & ~Eval('profile'),
            })


class ImportMembersMappingLine(ModelView):
    __name__ = 'member.import.wizard.mapping.line'
    __string__ = "Import Members Column"

    index = fields.Integer("Index", readonly=True)
    column = fields.Char("Column", readonly=True)
    field = fields.Selection(MAPPING_FIELDS, "Member Field")
    sample = fields.Char("First Row", readonly=True)

