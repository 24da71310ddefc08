"""Load and check box.toml; every error names the offending key."""
import os
import tomllib
from dataclasses import dataclass, field

KINDS = ("card_reader", "printer", "drawer", "display")
CONNECTIONS = {
    "card_reader": ("serial",),
    "printer": ("serial", "usb", "network", "file", "dummy"),
    "drawer": (),
    "display": ("serial",),
    }
LINE_ENDINGS = {"": "", "cr": "\r", "lf": "\n", "crlf": "\r\n"}
UID_FORMATS = ("hex", "decimal", "text")
BYTE_ORDERS = ("msb", "lsb")
MAPPINGS = ("as_is", "hex_to_decimal", "table")
PARITIES = ("N", "E", "O", "M", "S")
WIDTHS = (58, 80)
MAX_BUFFER = 100_000


class ConfigError(Exception):
    "A one-line reason naming the key of box.toml"


@dataclass
class AgentConfig:
    name: str = "iot-box"
    host: str = "127.0.0.1"
    port: int = 8765
    key: str = ""
    allowed_origins: tuple = ()
    spool_dir: str = "/var/lib/member-iot-agent"
    log_file: str = ""
    log_level: str = "INFO"
    log_max_bytes: int = 1_048_576
    log_backups: int = 5
    event_buffer: int = 1000
    retry_min: float = 1.0
    retry_max: float = 30.0


@dataclass
class ServerConfig:
    url: str = ""
    database: str = ""
    token: str = ""
    key_file: str = ""
    heartbeat_interval: float = 30.0
    poll_interval: float = 5.0
    timeout: float = 10.0
    verify_tls: bool = True


@dataclass
class DeviceConfig:
    name: str
    kind: str
    connection: str = ""
    port: str = ""
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    vendor_id: int = 0
    product_id: int = 0
    host: str = ""
    tcp_port: int = 9100
    path: str = ""
    width: int = 80
    code_page: str = "cp437"
    profile: str = ""
    printer: str = ""
    prefix: str = ""
    suffix: str = ""
    line_ending: str = "\r\n"
    uid_format: str = "text"
    byte_order: str = "msb"
    mapping: str = "as_is"
    strip_prefix: str = ""
    pad_digits: int = 0
    table: dict = field(default_factory=dict)
    debounce_ms: int = 1000


@dataclass
class Config:
    agent: AgentConfig
    server: ServerConfig
    devices: list

    def device(self, name):
        for device in self.devices:
            if device.name == name:
                return device

    def of_kind(self, kind):
        return [d for d in self.devices if d.kind == kind]


def _get(table, key, where, types, default):
    value = table.get(key, default)
    if not isinstance(value, types) or (
            isinstance(value, bool) and bool not in _tuple(types)):
        raise ConfigError(f"{where}.{key}: expected {_names(types)}, "
            f"got {value!r}")
    return value


def _tuple(types):
    return types if isinstance(types, tuple) else (types,)


def _names(types):
    return " or ".join(t.__name__ for t in _tuple(types))


def _choice(value, choices, where):
    if value not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of "
            f"{', '.join(repr(c) for c in choices)}")
    return value


def _unknown(table, allowed, where):
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key")


def _section(data, key, cls):
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{key}: expected a table")
    defaults = cls()
    allowed = {f for f in cls.__dataclass_fields__}
    return table, defaults, allowed


def parse(data, base_dir="."):
    "Return a Config from the decoded TOML dictionary"
    _unknown(data, {"agent", "server", "device"}, "box.toml")
    table, defaults, allowed = _section(data, "agent", AgentConfig)
    _unknown(table, (allowed - {"host", "port"}) | {"listen"}, "agent")
    values = {}
    for key in allowed - {"host", "port", "allowed_origins"}:
        default = getattr(defaults, key)
        types = (int, float) if isinstance(default, float) else type(default)
        values[key] = _get(table, key, "agent", types, default)
    listen = _get(table, "listen", "agent", str, "127.0.0.1:8765")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"agent.listen: expected host:port, got {listen!r}")
    values["host"], values["port"] = host, int(port)
    origins = _get(table, "allowed_origins", "agent", list, [])
    for i, origin in enumerate(origins):
        if not isinstance(origin, str) or not origin.startswith(
                ("http://", "https://")):
            raise ConfigError(f"agent.allowed_origins[{i}]: expected an "
                "origin like https://pos.example.com")
    values["allowed_origins"] = tuple(o.rstrip("/") for o in origins)
    if not values["key"]:
        raise ConfigError("agent.key: required (the shared key of the "
            "cashier page)")
    values["spool_dir"] = os.path.join(base_dir, values["spool_dir"])
    if values["log_file"]:
        values["log_file"] = os.path.join(base_dir, values["log_file"])
    _choice(values["log_level"].upper(),
        ("DEBUG", "INFO", "WARNING", "ERROR"), "agent.log_level")
    if not 1 <= values["event_buffer"] <= MAX_BUFFER:
        raise ConfigError("agent.event_buffer: expected 1 to "
            f"{MAX_BUFFER}")
    agent = AgentConfig(**values)

    table, defaults, allowed = _section(data, "server", ServerConfig)
    _unknown(table, allowed, "server")
    values = {}
    for key in allowed:
        default = getattr(defaults, key)
        types = (int, float) if isinstance(default, float) else type(default)
        values[key] = _get(table, key, "server", types, default)
    if values["url"] and not values["database"]:
        raise ConfigError("server.database: required with server.url")
    if values["url"] and not values["url"].startswith(
            ("http://", "https://")):
        raise ConfigError("server.url: expected an http(s) URL")
    if values["key_file"]:
        values["key_file"] = os.path.join(base_dir, values["key_file"])
    server = ServerConfig(**values)

    devices = data.get("device", [])
    if not isinstance(devices, list):
        raise ConfigError("device: expected [[device]] tables")
    devices = [_device(t, i) for i, t in enumerate(devices)]
    for device in devices:
        if device.path:
            device.path = os.path.join(base_dir, device.path)
    names = set()
    for i, device in enumerate(devices):
        if device.name in names:
            raise ConfigError(f"device[{i}].name: duplicate {device.name!r}")
        names.add(device.name)
    for i, device in enumerate(devices):
        if device.kind == "drawer":
            target = next(
                (d for d in devices if d.name == device.printer), None)
            if not target or target.kind != "printer":
                raise ConfigError(f"device[{i}] ({device.name}).printer: "
                    "expected the name of a printer device")
    return Config(agent, server, devices)


def _device(table, index):
    where = f"device[{index}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    defaults = DeviceConfig(name="", kind="")
    allowed = set(DeviceConfig.__dataclass_fields__)
    _unknown(table, allowed, where)
    values = {}
    for key in allowed:
        default = getattr(defaults, key)
        types = {float: (int, float), int: int}.get(
            type(default), type(default))
        values[key] = _get(table, key, where, types, default)
    if not values["name"]:
        raise ConfigError(f"{where}.name: required")
    where = f"device[{index}] ({values['name']})"
    _choice(values["kind"], KINDS, f"{where}.kind")
    connections = CONNECTIONS[values["kind"]]
    if connections:
        _choice(values["connection"], connections, f"{where}.connection")
    connection = values["connection"]
    required = {
        "serial": ("port",), "usb": ("vendor_id", "product_id"),
        "network": ("host",), "file": ("path",),
        }.get(connection, ())
    for key in required:
        if not values[key]:
            raise ConfigError(f"{where}.{key}: required for a {connection} "
                "connection")
    _choice(values["parity"], PARITIES, f"{where}.parity")
    _choice(values["bytesize"], (5, 6, 7, 8), f"{where}.bytesize")
    _choice(values["stopbits"], (1, 1.5, 2), f"{where}.stopbits")
    _choice(values["width"], WIDTHS, f"{where}.width")
    if values["kind"] == "printer":
        try:
            "".encode(values["code_page"])
        except LookupError:
            raise ConfigError(f"{where}.code_page: unknown code page "
                f"{values['code_page']!r}")
    values["line_ending"] = LINE_ENDINGS.get(
        values["line_ending"], values["line_ending"])
    _choice(values["line_ending"], tuple(LINE_ENDINGS.values()),
        f"{where}.line_ending")
    _choice(values["uid_format"], UID_FORMATS, f"{where}.uid_format")
    _choice(values["byte_order"], BYTE_ORDERS, f"{where}.byte_order")
    _choice(values["mapping"], MAPPINGS, f"{where}.mapping")
    if values["kind"] == "card_reader":
        if not values["suffix"] + values["line_ending"]:
            raise ConfigError(f"{where}.suffix: a suffix or line_ending is "
                "required to end a frame")
        if values["mapping"] == "hex_to_decimal" and (
                values["uid_format"] != "hex"):
            raise ConfigError(f"{where}.mapping: hex_to_decimal needs "
                "uid_format = \"hex\"")
        if values["mapping"] == "table" and not values["table"]:
            raise ConfigError(f"{where}.table: required for mapping = "
                "\"table\"")
    for uid, code in values["table"].items():
        if not isinstance(code, str):
            raise ConfigError(f"{where}.table.{uid}: expected a string")
    if not 0 <= values["pad_digits"] <= 32:
        raise ConfigError(f"{where}.pad_digits: expected 0 to 32")
    if values["debounce_ms"] < 0:
        raise ConfigError(f"{where}.debounce_ms: expected >= 0")
    return DeviceConfig(**values)


def load(path):
    "Return the Config of the TOML file at path"
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exception:
        raise ConfigError(f"{path}: {exception.strerror}")
    except tomllib.TOMLDecodeError as exception:
        raise ConfigError(f"{path}: {exception}")
    return parse(data, os.path.dirname(os.path.abspath(path)))
