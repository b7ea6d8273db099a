"""The OpenAPI document against the server it describes.

Every route the application serves is documented and nothing else is; the document is valid
OpenAPI 3.1; bodies the real server accepts validate against the documented request schemas and
bodies it refuses for their types do not; and the table of what the Daraja validators accept
(``server.openapi_requests.SHAPES``) agrees with the models on every field, value by value.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from pydantic import ValidationError

from server import json_body
from server.daraja.models import StkPushRequest, StkQueryRequest
from server.flows.b2c import wire as b2c
from server.flows.balance import wire as balance
from server.flows.c2b import wire as c2b
from server.flows.checks import WireError, wire_names
from server.flows.reversal import wire as reversal
from server.flows.status import wire as status
from server.http_app import build_app
from server.openapi import openapi_document
from server.openapi_requests import SHAPES
from server.rules import Unattended
from server.runner import Emulator
from tests.daraja_client import Daraja, push_body
from tests.receiver import CallbackReceiver

Body = dict[str, Any]
DOCUMENT = openapi_document()
CREDENTIAL = base64.b64encode(b"an RSA-encrypted password, in the sandbox's eyes").decode()


def _validator(component: str) -> Draft202012Validator:
    """A validator for one component schema, with the document's components to resolve its $refs."""
    root = {"$ref": f"#/components/schemas/{component}", "components": DOCUMENT["components"]}
    return Draft202012Validator(root)


def _documented(validator: Draft202012Validator, body: Any) -> bool:
    return validator.is_valid(body)


# --- (a) every route, and only the routes -----------------------------------------------------------
async def test_every_route_is_documented_and_every_documented_route_exists(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    # build_app is what the runner serves; built again here to read its router.
    app = build_app(emulator.simulator)
    served = {
        (route.method.lower(), resource.canonical)
        for resource in app.router.resources()
        for route in resource
        if route.method != "HEAD"
    }
    document = (await http.get("/openapi.json")).json()
    documented = {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "options", "head", "patch", "trace")
    }
    missing = sorted(served - documented)
    invented = sorted(documented - served)
    assert not missing, f"served but not documented: {missing}"
    assert not invented, f"documented but not served: {invented}"


# --- (b) valid OpenAPI 3.1 -----------------------------------------------------------------------
async def test_the_served_document_is_valid_openapi_3_1(http: httpx.AsyncClient) -> None:
    document = (await http.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    validate_openapi(document)
    assert document == DOCUMENT


def test_callback_state_and_delivery_states_are_complete() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    states = schemas["Transaction"]["properties"]["callback_state"]["enum"]
    assert states == ["none", "due", "delivered", "failed", "dropped"]
    assert schemas["Delivery"]["properties"]["state"]["enum"] == ["due", "delivered", "failed", "dropped"]
    rules = schemas["UnattendedRequest"]["properties"]
    assert {"rules", "payout_rules"} <= set(rules)


# --- (c) bodies the real server takes, and bodies it refuses --------------------------------------
async def _token(http: httpx.AsyncClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {await Daraja(http).token()}"}


def _b2c_body(receiver: CallbackReceiver, originator: str, **overrides: Any) -> Body:
    body: Body = {
        "OriginatorConversationID": originator,
        "InitiatorName": "testapi",
        "SecurityCredential": CREDENTIAL,
        "CommandID": "BusinessPayment",
        "Amount": "10",
        "PartyA": "600992",
        "PartyB": "254708374149",
        "Remarks": "remarked",
        "QueueTimeOutURL": receiver.url_for("/timeout"),
        "ResultURL": receiver.url_for("/result"),
    }
    body.update(overrides)
    return body


async def _server_and_document_agree(
    http: httpx.AsyncClient,
    path: str,
    schema: Draft202012Validator,
    headers: dict[str, str],
    accepted: list[Body],
    refused: list[Body],
) -> None:
    """The server takes (200) every body of ``accepted`` and refuses (400) every one of ``refused``,
    and the document says the same of each."""
    for body in accepted:
        answer = await http.post(path, json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert _documented(schema, body), body
    for body in refused:
        answer = await http.post(path, json=body, headers=headers)
        assert answer.status_code == 400, (body, answer.text)
        assert not _documented(schema, body), body


async def test_stk_push_bodies(http: httpx.AsyncClient, receiver: CallbackReceiver) -> None:
    schema = _validator("StkPushRequest")
    headers = await _token(http)
    url = receiver.url_for("/stk")
    accepted = [
        push_body(url),
        push_body(url, Amount="100", PartyA="254708374149", PartyB="174379", PhoneNumber=254712345678),
        push_body(url, Amount=100.0, BusinessShortCode=" 174379", AccountReference=12345, PhoneNumber=254722000111),
    ]
    refused = [
        push_body(url, Amount=True),
        push_body(url, Amount="1e2"),
        push_body(url, PhoneNumber=[254708374149]),
        push_body(url, BusinessShortCode={"code": 174379}),
        push_body(url, CallBackURL=42),
        push_body(url, TransactionDesc=None),
    ]
    await _server_and_document_agree(http, "/mpesa/stkpush/v1/processrequest", schema, headers, accepted, refused)


async def test_b2c_bodies(http: httpx.AsyncClient, receiver: CallbackReceiver) -> None:
    schema = _validator("B2CRequest")
    headers = await _token(http)
    accepted = [
        _b2c_body(receiver, "a-1"),
        _b2c_body(receiver, "a-2", Amount=10, PartyA=600992, PartyB=254708374149, Remarks=12345),
        _b2c_body(receiver, "a-3", Amount="5.00", Occasion="Christmas", IDType="01", IDNumber=1234),
        _b2c_body(receiver, 4, Amount=300000, Occassion=None),  # the amount limits are Results, not refusals
    ]
    refused = [
        _b2c_body(receiver, "r-1", Amount="ten"),
        _b2c_body(receiver, "r-2", Amount=10.5),
        _b2c_body(receiver, "r-3", PartyB=True),
        _b2c_body(receiver, "r-4", Remarks=5.5),
        _b2c_body(receiver, "r-5", SecurityCredential=["x"]),
        _b2c_body(receiver, "r-6", ResultURL={"url": "https://shop.example"}),
        _b2c_body(receiver, None),  # type: ignore[arg-type]
    ]
    await _server_and_document_agree(http, "/mpesa/b2c/v3/paymentrequest", schema, headers, accepted, refused)


async def test_c2b_register_bodies(http: httpx.AsyncClient) -> None:
    schema = _validator("RegisterUrlRequest")
    headers = await _token(http)
    urls = {"ConfirmationURL": "https://shop.example/confirm", "ValidationURL": "http://shop.example:8080/validate"}
    accepted = [
        {"ShortCode": "600984", "ResponseType": "Completed", **urls},
        {"ShortCode": 600984, "ResponseType": "Cancelled", **urls, "Extra": [1]},
    ]
    refused = [
        {"ShortCode": True, "ResponseType": "Completed", **urls},
        {"ShortCode": 600984.5, "ResponseType": "Completed", **urls},
        {"ShortCode": "600984", "ResponseType": "completed", **urls},
        {"ShortCode": "600984", "ResponseType": "Completed", **urls, "ValidationURL": 8080},
        {"ShortCode": "600984", "ResponseType": "Completed", **urls, "ConfirmationURL": "https://MPesa.example/c"},
    ]
    await _server_and_document_agree(http, "/mpesa/c2b/v1/registerurl", schema, headers, accepted, refused)


async def test_rules_bodies(http: httpx.AsyncClient) -> None:
    schema = _validator("UnattendedRequest")
    answer_schema = _validator("Unattended")
    accepted: list[Body] = [
        {},
        {"mode": "approve", "think_time": 1.5, "seed": 7, "magic_numbers": False},
        {
            "rules": [
                {"msisdn": "254708374149", "outcome": "1032"},
                {"min_amount": 500, "outcome": "SFC_IC0003", "callback": {"mode": "delay", "seconds": 5}},
                {"amount": 7, "outcome": 2001, "think_time": None},
            ],
            "payout_rules": [
                {"amount": 10, "result_code": "2001"},
                {"msisdn": "254712345678", "queue_timeout": True},
                {"max_amount": 50, "delay": 30, "result_code": "R000001"},
            ],
        },
    ]
    refused: list[Body] = [
        {"mode": "sometimes"},
        {"think_time": "soon"},
        {"seed": None},
        {"magic_numbers": [True]},
        {"rules": {"msisdn": "254708374149"}},
        {"rules": [{"outcome": "approve"}]},  # no condition
        {"rules": [{"amount": 5, "outcome": "1033"}]},
        {"payout_rules": [{"amount": 10}]},  # no effect
        {"payout_rules": [{"amount": 10, "result_code": True}]},
        {"callback": {"mode": "drop"}},
    ]
    for body in accepted:
        answer = await http.put("/simulator/rules", json=body)
        assert answer.status_code == 200, answer.text
        assert _documented(schema, body), body
        assert _documented(answer_schema, answer.json()), answer.json()
    for body in refused:
        answer = await http.put("/simulator/rules", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert not _documented(schema, body), body


async def test_control_bodies_read_by_hand(emulator: Emulator, http: httpx.AsyncClient) -> None:
    """The documentation models of server.control_models against the handlers that read these bodies."""
    cases: list[tuple[str, str, str, Body, int]] = [
        ("post", "/simulator/handsets", "NewHandset", {"msisdn": "254700000001", "balance": 12.5}, 201),
        ("post", "/simulator/handsets", "NewHandset", {"msisdn": 254700000002}, 400),
        ("post", "/simulator/handsets", "NewHandset", {"msisdn": "254700000003", "pin": 1234}, 400),
        ("post", "/simulator/handsets", "NewHandset", {"msisdn": "254700000004", "name": None}, 400),
        ("post", "/simulator/handsets", "NewHandset", {"msisdn": "254700000005", "pin": ""}, 400),
        ("post", "/simulator/handsets", "NewHandset", {"msisdn": "254700000006", "balance": -1}, 400),
        ("post", "/simulator/handsets", "NewHandset", {"msisdn": "254700000007", "name": " "}, 400),
        ("patch", "/simulator/handsets/254708374149", "HandsetChange", {"online": False, "name": "Wanjiku"}, 200),
        ("patch", "/simulator/handsets/254708374149", "HandsetChange", {"online": "no"}, 400),
        ("patch", "/simulator/handsets/254708374149", "HandsetChange", {"balance": "100"}, 400),
        ("patch", "/simulator/handsets/254708374149", "HandsetChange", {"colour": "red"}, 400),
        ("post", "/simulator/initiator/next", "NextOutcome", {"result_code": 2001, "delay": 2}, 201),
        ("post", "/simulator/initiator/next", "NextOutcome", {"result_code": "R000002", "queue_timeout": True}, 201),
        ("post", "/simulator/initiator/next", "NextOutcome", {"queue_timeout": "yes"}, 400),
        ("post", "/simulator/initiator/next", "NextOutcome", {"delay": True}, 400),
        ("post", "/simulator/initiator/next", "NextOutcome", {"result_code": "2001"}, 400),
        ("patch", "/simulator/settings", "RuntimeSettingsChange", {"result_delay": 0.5, "c2b_names": "empty"}, 200),
        ("patch", "/simulator/settings", "RuntimeSettingsChange", {"b2c_insufficient_code": 4001}, 200),
        ("patch", "/simulator/settings", "RuntimeSettingsChange", {"b2c_insufficient_code": 2}, 400),
        ("patch", "/simulator/settings", "RuntimeSettingsChange", {"result_codes": 1}, 400),
        ("patch", "/simulator/settings", "RuntimeSettingsChange", {"port": 9000}, 400),
        ("patch", "/simulator/settings", "RuntimeSettingsChange", {"security_credential": "check"}, 200),
        ("patch", "/simulator/settings", "RuntimeSettingsChange", {"security_credential": "rsa"}, 400),
        ("post", "/simulator/handsets/254712345678/send-money", "MoneyToSend", {"to": "0708374149", "amount": 5}, 201),
        (
            "post",
            "/simulator/handsets/254712345678/send-money",
            "MoneyToSend",
            {"to": "+254722000111", "amount": 5},
            201,
        ),
        ("post", "/simulator/handsets/254712345678/send-money", "MoneyToSend", {"to": "0708 374149", "amount": 5}, 400),
        ("post", "/simulator/handsets/254712345678/send-money", "MoneyToSend", {"to": "0708374149", "amount": 0}, 400),
        ("post", "/simulator/handsets/254712345678/send-money", "MoneyToSend", {"to": "0708374149"}, 400),
        ("post", "/simulator/security-credential", "PasswordToEncrypt", {"password": "Safaricom123!!"}, 200),
        ("post", "/simulator/security-credential", "PasswordToEncrypt", {"password": "é" * 60}, 200),
        ("post", "/simulator/security-credential", "PasswordToEncrypt", {"password": "x" * 61}, 400),
        ("post", "/simulator/security-credential", "PasswordToEncrypt", {"password": ""}, 400),
        ("post", "/simulator/security-credential", "PasswordToEncrypt", {"password": 5}, 400),
        ("post", "/simulator/security-credential", "PasswordToEncrypt", {"secret": "x"}, 400),
        ("post", "/simulator/c2b/payments", "CustomerPays", {"msisdn": "254708374149", "shortcode": 600000}, 400),
        (
            "post",
            "/simulator/c2b/payments",
            "CustomerPays",
            {"msisdn": "254708374149", "shortcode": "600000", "amount": "10"},
            400,
        ),
    ]
    for method, path, component, body, expected in cases:
        answer = await http.request(method, path, json=body)
        assert answer.status_code == expected, (path, body, answer.text)
        assert _documented(_validator(component), body) == (expected < 300), (component, body)


# --- the table of what the Daraja validators accept, against the models --------------------------
Parser = Callable[[Body], object]

PARSERS: dict[str, Parser] = {
    # The contexts the views and flows pass, with the default settings.
    "StkPushRequest": lambda body: StkPushRequest.model_validate(body, context={"strict_reference": True}),
    "StkQueryRequest": lambda body: StkQueryRequest.model_validate(body),
    "RegisterUrlRequest": lambda body: c2b.parse_register_url(body, strict_words=False),
    "SimulateRequest": c2b.parse_simulate,
    "B2CRequest": lambda body: b2c.parse_b2c(body, version=3),
    "B2CV1Request": lambda body: b2c.parse_b2c(body, version=1),
    "PochiRequest": lambda body: b2c.parse_b2c(body, pochi=True),
    "StatusRequest": status.parse_status,
    "BalanceRequest": balance.parse_balance,
    "ReversalRequest": reversal.parse_reversal,
}

_URLS = {"QueueTimeOutURL": "https://shop.example/timeout", "ResultURL": "https://shop.example/result"}
_INITIATOR = {"Initiator": "testapi", "SecurityCredential": CREDENTIAL, "Remarks": "ok ok", **_URLS}
_B2C = {
    "InitiatorName": "testapi",
    "SecurityCredential": CREDENTIAL,
    "Amount": 10,
    "PartyA": "600992",
    "PartyB": "254708374149",
    "Remarks": "remarked",
    **_URLS,
}
VALID: dict[str, Body] = {
    "StkPushRequest": push_body("https://shop.example/stk"),
    "StkQueryRequest": {k: v for k, v in push_body("x").items() if k in ("BusinessShortCode", "Password", "Timestamp")}
    | {"CheckoutRequestID": "ws_CO_1"},
    "RegisterUrlRequest": {
        "ShortCode": "600984",
        "ResponseType": "Completed",
        "ConfirmationURL": "https://shop.example/c",
        "ValidationURL": "https://shop.example/v",
    },
    "SimulateRequest": {"ShortCode": 600984, "CommandID": "CustomerPayBillOnline", "Amount": 1, "Msisdn": 254708374149},
    "B2CRequest": {"OriginatorConversationID": "o-1", "CommandID": "BusinessPayment", **_B2C},
    "B2CV1Request": {"CommandID": "SalaryPayment", **_B2C},
    "PochiRequest": {"OriginatorConversationID": "o-1", "CommandID": "BusinessPayToPochi", **_B2C},
    "StatusRequest": {
        **_INITIATOR,
        "CommandID": "TransactionStatusQuery",
        "TransactionID": "UGC030DL5G",
        "PartyA": "600000",
        "IdentifierType": "4",
    },
    "BalanceRequest": {**_INITIATOR, "CommandID": "AccountBalance", "PartyA": 600000, "IdentifierType": 4},
    "ReversalRequest": {
        **_INITIATOR,
        "CommandID": "TransactionReversal",
        "TransactionID": "UGC030DL5G",
        "Amount": "200",
        "ReceiverParty": "600000",
        "RecieverIdentifierType": "11",
    },
}

ABSENT = object()
PROBES: list[Any] = [
    ABSENT,
    None,
    True,
    False,
    0,
    1,
    4,
    10,
    11,
    -5,
    10.0,
    10.5,
    600000,
    600000.0,
    254708374149,
    20261127185000,
    10**20,
    2**64 - 1,
    2**64,
    -(2**63) - 1,
    "",
    " ",
    "4",
    " 4 ",
    "11",
    "10",
    "10.0",
    "10.00",
    "10.000",
    "010",
    "10.5",
    "-10",
    "1e3",
    "250000",
    "250001",
    "600000",
    " 600000 ",
    "6000000000",
    "254708374149",
    "254708374149 ",
    "+254708374149",
    "0708374149",
    "20261127185000",
    "abc",
    "a",
    "ab",
    "x" * 13,
    "x" * 21,
    "x" * 101,
    "UGC030DL5G",
    "ugc030dl5g",
    "https://shop.example/x",
    "http://shop.example:8080/x",
    "ftp://shop.example/x",
    "https://shop.example/MPESA/x",
    "https:///nohost",
    "Completed",
    "Cancelled",
    "CustomerPayBillOnline",
    "CustomerBuyGoodsOnline",
    "BusinessPayment",
    "BusinessPayToPochi",
    "TransactionStatusQuery",
    "AccountBalance",
    "TransactionReversal",
    [],
    {},
    ["10"],
]


def _accepted(parse: Parser, body: Body) -> bool:
    """Whether the model takes ``body`` as it arrives: written as JSON and read by the server's parser."""
    try:
        parse(json_body.loads(json.dumps(body)))
    except (WireError, ValidationError):
        return False
    return True


def _integral_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def test_every_field_a_validator_widens_is_in_the_table() -> None:
    for name, shape in SHAPES.items():
        decorators = shape.model.__pydantic_decorators__.field_validators.values()
        # A validator inherited from a shared base (InitiatorTail) names fields some models lack.
        widened = {
            field
            for d in decorators
            if d.info.mode == "before"
            for field in d.info.fields
            if field in shape.model.model_fields
        }
        keys = wire_names(shape.model)
        for field in widened:
            assert keys[field] in shape.fields, (name, keys[field])
        assert set(PARSERS) == set(SHAPES) == set(VALID)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_table_agrees_with_the_model_on_every_field(name: str) -> None:
    """For each field, each probe value: the model takes it if and only if the schema does.

    One disagreement is allowed, and said in the schema's description: JSON Schema counts 10.0 as
    an integer, while a validator that takes integers only (Remarks, AccountReference) does not.
    """
    schema = _validator(name)
    parse = PARSERS[name]
    base = VALID[name]
    assert _accepted(parse, base) and _documented(schema, base), name
    shape = SHAPES[name]
    disagreements = []
    for key in [*shape.fields, *shape.also]:
        for probe in PROBES:
            body = {k: v for k, v in base.items() if k != key}
            if probe is not ABSENT:
                body[key] = probe
            model, documented = _accepted(parse, body), _documented(schema, body)
            if model != documented and not (documented and _integral_float(probe)):
                disagreements.append((key, probe, "model takes it" if model else "model refuses it"))
    assert not disagreements, "\n".join(map(repr, disagreements))


CODE_PROBES: list[Any] = [
    None,
    True,
    0,
    1,
    2,
    1032,
    1032.0,
    2001,
    4001,
    9999,
    "0",
    "00",
    "1032",
    "01032",
    "2001",
    " 2001",
    "1033",
    "4001",
    "approve",
    "human",
    "Approve",
    "SFC_IC0003",
    "R000001",
    "sfc_ic0003",
    "",
    [],
    {},
]


@pytest.mark.parametrize(
    ("key", "rule"),
    [("rules", {"amount": 5, "outcome": ABSENT}), ("payout_rules", {"amount": 5, "result_code": ABSENT})],
)
def test_rule_codes_are_documented_as_the_rules_read_them(key: str, rule: Body) -> None:
    """The outcome of an STK rule and the result_code of a payout rule take codes as strings too."""
    schema = _validator("UnattendedRequest")
    field = next(name for name, value in rule.items() if value is ABSENT)
    disagreements = []
    for probe in CODE_PROBES:
        body = {key: [{**rule, field: probe}]}
        try:
            Unattended.model_validate(body)
            model = True
        except ValidationError:
            model = False
        documented = _documented(schema, body)
        if model != documented and not (documented and _integral_float(probe)):
            disagreements.append((field, probe, "model takes it" if model else "model refuses it"))
    assert not disagreements, "\n".join(map(repr, disagreements))


async def test_a_next_outcome_of_the_wrong_type_is_refused(http: httpx.AsyncClient) -> None:
    for code in ({}, [], True, False):
        body = {"result_code": code}
        assert not _documented(_validator("NextOutcome"), body)
        answer = await http.post("/simulator/initiator/next", json=body)
        assert answer.status_code == 400, answer.text
