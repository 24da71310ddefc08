"""Helpers of the agent tests: configuration files and HTTP calls."""
import http.client
import json
import os
import time

from member_iot_agent.config import load

KEY = "test-agent-key"
ORIGIN = "http://pos.example.com"


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}"
            for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def write_config(directory, devices=(), server=None, **agent):
    "Write box.toml in directory and return the loaded Config"
    agent = {
        "name": "test-box", "listen": "127.0.0.1:0", "key": KEY,
        "allowed_origins": [ORIGIN], "spool_dir": "spool",
        "retry_min": 0.05, "retry_max": 0.2, **agent}
    lines = ["[agent]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in agent.items()]
    if server:
        lines.append("[server]")
        lines += [f"{k} = {toml_value(v)}" for k, v in server.items()]
    for device in devices:
        lines.append("[[device]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in device.items()]
    path = os.path.join(directory, "box.toml")
    with open(path, "w") as file:
        file.write("\n".join(lines) + "\n")
    return load(path)


def call(agent, method, path, body=None, key=KEY, headers=None,
        data=None):
    "Return (status, decoded JSON or None, headers) of a request to agent"
    host, port = agent.address
    connection = http.client.HTTPConnection(host, port, timeout=40)
    headers = dict(headers or {})
    if key is not None:
        headers["X-Agent-Key"] = key
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        answer = json.loads(raw) if raw else None
        return response.status, answer, response.headers
    finally:
        connection.close()


def wait_for(predicate, timeout=5):
    "Poll predicate until it is true or timeout; return its last value"
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def receipt(**values):
    document = {
        "language": "zh_CN",
        "header": ["Shanghai Bund Hotel", "Lobby Shop"],
        "title": "Sales Receipt",
        "meta": [["Receipt", "POS/0042"], ["Cashier", "Li Na"]],
        "lines": [{"name": "Green tea 龙井", "quantity": "2",
                "unit_price": "38.00", "amount": "76.00",
                "note": "Member price -10%"}],
        "totals": [["Subtotal", "84.44"], ["Member discount", "-8.44"],
            ["Total", "76.00"]],
        "payments": [["Cash", "76.00"]],
        "member": {"number": "****5678", "name": "王*", "tier": "Gold",
            "lines": [["Points balance", "5,320"]]},
        "footer": ["Thank you", "谢谢惠顾"],
        "qr": "https://example.com/m/ABC",
        }
    document.update(values)
    return document
