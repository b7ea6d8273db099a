"""What the Daraja side sends: acknowledgements, errors, and the bodies POSTed to merchants.

The acknowledgements and the error envelope are generated from the pydantic models that write
them (``server.daraja.models``, ``server.flows.initiator_wire``, ``server.flows.c2b.wire``). The
STK callback, the C2B validation and confirmation bodies and the initiator Result are rendered
by hand-written functions with no model behind them, so they are described here, in one place,
as ``shared/spec/daraja.md`` §3 and ``daraja-more.md`` §8.4, §10 and §12-§15 give them:
Safaricom's spellings kept (``OriginatorCoversationID``), and the string ``"0"`` told apart from
the number ``0`` wherever the wire does.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from .daraja.models import ErrorEnvelope, StkPushAck, StkQueryResult, TokenResponse
from .flows.c2b import wire as c2b
from .flows.initiator_wire import InitiatorAck
from .openapi_requests import REF

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": REF.format(model=name)}


def _strings(*keys: str, optional: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "required": [key for key in keys if key not in optional],
        "properties": {key: {"type": "string"} for key in keys},
    }


_CODE: Schema = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "description": "a JSON number, except the alphanumeric codes (SFC_IC0003, R000001, R000002), which are strings",
}

# Both forms of an item: a ``Value`` key, or none at all (STK's Balance, Status's CreditPartyCharges).
_NAMED_ITEM: Schema = {
    "type": "object",
    "required": ["Name"],
    "properties": {"Name": {"type": "string"}, "Value": {"type": ["string", "number"]}},
}
_KEYED_ITEM: Schema = {
    "type": "object",
    "required": ["Key"],
    "properties": {"Key": {"type": "string"}, "Value": {"type": ["string", "number"]}},
}

_HAND_WRITTEN: dict[str, Schema] = {
    "StkCallback": {
        "description": "POSTed to CallBackURL when the prompt settles (spec §3). ResultCode is a number "
        "(SFC_IC0003 a string); a failure has no CallbackMetadata; Amount carries two decimals, "
        "Balance has no Value, TransactionDate and PhoneNumber are numbers.",
        "type": "object",
        "required": ["Body"],
        "properties": {
            "Body": {
                "type": "object",
                "required": ["stkCallback"],
                "properties": {
                    "stkCallback": {
                        "type": "object",
                        "required": ["MerchantRequestID", "CheckoutRequestID", "ResultCode", "ResultDesc"],
                        "properties": {
                            "MerchantRequestID": {"type": "string"},
                            "CheckoutRequestID": {"type": "string"},
                            "ResultCode": _CODE,
                            "ResultDesc": {"type": "string"},
                            "CallbackMetadata": {
                                "type": "object",
                                "required": ["Item"],
                                "properties": {"Item": {"type": "array", "items": _NAMED_ITEM}},
                            },
                        },
                    }
                },
            }
        },
    },
    "C2BCallback": {
        **_strings(
            "TransactionType",
            "TransID",
            "TransTime",
            "TransAmount",
            "BusinessShortCode",
            "BillRefNumber",
            "InvoiceNumber",
            "OrgAccountBalance",
            "ThirdPartyTransID",
            "MSISDN",
            "FirstName",
            "MiddleName",
            "LastName",
            optional=("MiddleName", "LastName"),
        ),
        "description": "POSTed to ValidationURL and ConfirmationURL (spec §10.2). Every value is a string: "
        'TransAmount "10.00"; OrgAccountBalance is "" on the validation call and the balance after the '
        'payment on the confirmation; MSISDN is masked ("2547 ***** 149") for v2 registrations and a '
        "SHA-256 hex for v1; MiddleName and LastName are left out unless c2b_names says otherwise.",
    },
    "C2BValidationAnswer": {
        "description": 'What the merchant answers a validation call with (spec §10.4): ResultCode 0 or "0" '
        "completes the payment, any other value (C2B00011 to C2B00016) cancels it. A non-2xx status, a "
        "body that is not a JSON object, or no ResultCode is no answer: the registered ResponseType decides.",
        "type": "object",
        "required": ["ResultCode"],
        "properties": {
            "ResultCode": {"type": ["string", "integer"]},
            "ResultDesc": {"type": "string"},
            "ThirdPartyTransID": {"type": ["string", "integer"]},
        },
    },
    "InitiatorResult": {
        "description": "POSTed to ResultURL a little after the ack (spec §8.4, result_delay). ResultType "
        'and ResultCode are numbers, or strings with result_codes = "strings"; a failure has no '
        "ResultParameters key; ReferenceItem is one object (QueueTimeoutURL, or Transaction Status's "
        "Occasion). Slashes are written \\/ unless result_escape_slashes is off.",
        "type": "object",
        "required": ["Result"],
        "properties": {
            "Result": {
                "type": "object",
                "required": [
                    "ResultType",
                    "ResultCode",
                    "ResultDesc",
                    "OriginatorConversationID",
                    "ConversationID",
                    "TransactionID",
                    "ReferenceData",
                ],
                "properties": {
                    "ResultType": {"anyOf": [{"const": 0}, {"const": "0"}]},
                    "ResultCode": _CODE,
                    "ResultDesc": {"type": "string"},
                    "OriginatorConversationID": {"type": "string"},
                    "ConversationID": {"type": "string"},
                    "TransactionID": {"type": "string"},
                    "ResultParameters": {
                        "type": "object",
                        "required": ["ResultParameter"],
                        "properties": {"ResultParameter": {"type": "array", "items": _KEYED_ITEM}},
                    },
                    "ReferenceData": {
                        "type": "object",
                        "required": ["ReferenceItem"],
                        "properties": {"ReferenceItem": _KEYED_ITEM},
                    },
                },
            }
        },
    },
    "QueueTimeoutNotice": {
        "description": "POSTed to QueueTimeOutURL only when a queue time-out is chosen (control API or a "
        "payout rule; never by default): the merchant's request echoed back as it was sent (spec §8.5).",
        "type": "object",
    },
    "MerchantAnswer": {
        "description": "Any 2xx answer counts as delivered; the body is logged, not read "
        "(a validation call's answer is, see C2BValidationAnswer)."
    },
}


def daraja_wire_schemas() -> dict[str, Schema]:
    """Component schemas of everything the Daraja side answers or sends."""
    _, generated = models_json_schema(
        [
            (ErrorEnvelope, "serialization"),
            (TokenResponse, "serialization"),
            (StkPushAck, "serialization"),
            (StkQueryResult, "serialization"),
            (InitiatorAck, "serialization"),
            (c2b.RegisterUrlAck, "serialization"),
            (c2b.SimulateAck, "serialization"),
        ],
        by_alias=True,
        ref_template=REF,
    )
    schemas: dict[str, Schema] = {name: _untitled(schema) for name, schema in generated["$defs"].items()}
    # Written with exclude_none: an absent key, never a null (the 2026 bare form has neither id nor code).
    register = schemas["RegisterUrlAck"]
    for key in ("OriginatorCoversationID", "ResponseCode"):
        register["properties"][key] = {"type": "string"}
    schemas["ErrorEnvelope"]["description"] = (
        "Every gateway error (spec §0): all three values strings; errorCode like 400.002.02."
    )
    schemas["TokenResponse"]["description"] = "expires_in is a string (spec §1): typed clients break on a number."
    schemas["StkPushAck"]["description"] = 'ResponseCode is the string "0".'
    schemas["StkQueryResult"]["description"] = (
        'ResultCode is a string here, unlike the callback: "4999" while the prompt is live, then the final code. '
        "ResponseDescription keeps Safaricom's spelling (successsfully)."
    )
    schemas["InitiatorAck"]["description"] = (
        'The ack of B2C, Pochi, Transaction Status, Account Balance and Reversal (spec §8.3): ResponseCode "0". '
        "The Account Balance description has no final period."
    )
    register["description"] = (
        "OriginatorCoversationID is Safaricom's spelling. ResponseDescription is success (v1) or Success (v2); "
        'with c2b_register_ack = "bare" the body is {"ResponseDescription": "Success"} alone (spec §9).'
    )
    schemas["SimulateAck"]["description"] = "OriginatorCoversationID is Safaricom's spelling (spec §11)."
    schemas.update(_HAND_WRITTEN)
    return schemas


def _untitled(schema: Schema) -> Schema:
    """Without pydantic's generated titles ("Responsecode"): the keys say it better."""
    properties = {key: {k: v for k, v in value.items() if k != "title"} for key, value in schema["properties"].items()}
    return {**{k: v for k, v in schema.items() if k != "title"}, "properties": properties}
