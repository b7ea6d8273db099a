"""Every string, code and constant that Daraja puts on the wire, in one place.

Views, the engine and the UI read from here so that a typo is fixed once. The
texts follow ``shared/spec/daraja.md``; the spelling mistakes are Safaricom's
and are kept on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
SANDBOX_MERCHANT_NAME = "Daraja-Sandbox"
SANDBOX_TEST_MSISDN = "254708374149"
# The sandbox's initiator for B2C, Transaction Status, Account Balance and Reversal, with its
# current password and the older one clients still carry (spec §8.2).
SANDBOX_INITIATOR = "testapi"
SANDBOX_INITIATOR_PASSWORDS = ("Safaricom123!!", "Safaricom999!*!")
# The C2B/B2C test shortcodes a merchant is most likely to hold (spec §8.2, and the public
# examples), with the names Daraja's own samples give them.
SANDBOX_ORGANISATIONS = (
    ("600000", "saf test org"),
    ("600984", "Safaricom Daraja 984"),
    ("600992", "Safaricom Daraja 992"),
    ("600977", "Safaricom Daraja 977"),
    ("600988", "Safaricom Daraja 988"),
    ("600996", "Safaricom Daraja 996"),
    ("600998", "Safaricom Daraja 998"),
)
SANDBOX_TILL = ("600101", "Sandbox Till")

PAYBILL = "CustomerPayBillOnline"
BUY_GOODS = "CustomerBuyGoodsOnline"
TRANSACTION_TYPES = (PAYBILL, BUY_GOODS)

MAX_AMOUNT = 250_000
DAILY_LIMIT = 500_000
MAX_PROMPT_CHARS = 182
ACCOUNT_REFERENCE_MAX = 12
TRANSACTION_DESC_MAX = 13

CALLBACK_CONTENT_TYPE = "application/json;charset=UTF-8"

# --- acknowledgements -------------------------------------------------------
ACK_DESCRIPTION = "Success. Request accepted for processing"
QUERY_ACCEPTED = "The service request has been accepted successsfully"  # sic
QUERY_PENDING_CODE = "4999"
QUERY_PENDING_DESC = "The transaction is still under processing"


@dataclass(frozen=True)
class GatewayError:
    """One row of Daraja's error catalogue: HTTP status, errorCode, errorMessage."""

    status: int
    code: str
    message: str


INVALID_ACCESS_TOKEN = GatewayError(404, "404.001.03", "Invalid Access Token")
RESOURCE_NOT_FOUND = GatewayError(404, "404.001.01", "Resource not found")
METHOD_NOT_ALLOWED = GatewayError(405, "405.001", "Method Not Allowed")
INVALID_GRANT_TYPE = GatewayError(400, "400.008.02", "Invalid grant type passed")
INVALID_AUTH_TYPE = GatewayError(400, "400.008.01", "Invalid authentication type passed")
INVALID_PAYLOAD = GatewayError(400, "400.002.05", "Invalid Request Payload")
MERCHANT_DOES_NOT_EXIST = GatewayError(500, "500.001.1001", "Merchant does not exist")
WRONG_CREDENTIALS = GatewayError(500, "500.001.1001", "Wrong credentials")
UNABLE_TO_LOCK = GatewayError(
    500,
    "500.001.1001",
    "Unable to lock subscriber, a transaction is already in process for the current subscriber",
)
TRANSACTION_NOT_FOUND = GatewayError(500, "500.001.1001", "The transaction does not exist")
STILL_PROCESSING = GatewayError(500, "500.001.1001", "The transaction is being processed")
INTERNAL_ERROR = GatewayError(500, "500.003.02", "Internal Server Error")
# Not Daraja's: what duplicate_push = "reject" answers (Daraja itself accepts double submits).
DUPLICATE_PUSH_CODE = "409.001.01"


def bad_request(field: str) -> GatewayError:
    """The 400.002.02 error Daraja returns for a field it rejects."""
    return GatewayError(400, "400.002.02", f"Bad Request - Invalid {field}")


# --- result codes -----------------------------------------------------------
# ResultCode -> ResultDesc. Codes are ints on the wire except the string ones.
RESULT_DESCRIPTIONS: dict[int | str, str] = {
    0: "The service request is processed successfully.",
    1: "The balance is insufficient for the transaction.",
    17: "Rule limited.",
    1001: "Unable to lock subscriber, a transaction is already in process for the current subscriber",
    1019: "Transaction has expired",
    1025: "An error occurred while sending a push request.",
    1032: "Request cancelled by user",
    1037: "DS timeout user cannot be reached",
    2001: "The initiator information is invalid.",
    2028: "The request is not permitted according to product assignment.",
    8006: "The security credential is locked.",
    9999: "Internal error occurred while executing the transaction.",
    "SFC_IC0003": "The operator does not exist.",
}

# The codes a person (or a rule) may settle a prompt with, as spec §4 lists them.
PROMPT_CODES: tuple[int | str, ...] = (0, 1, 17, 1001, 1019, 1025, 1032, 1037, 2001, 2028, 9999, "SFC_IC0003")

# Older traffic prefixed failure descriptions; the "legacy" description style reproduces it.
LEGACY_DESC_PREFIX = "[STK_CB - ]"
LEGACY_TIMEOUT_DESC = "DS timeout."

SUCCESS = 0
INSUFFICIENT_FUNDS = 1
RULE_LIMITED = 17
PHONE_BUSY = 1001
PUSH_FAILED = 1025
CANCELLED = 1032
TIMED_OUT = 1037
WRONG_PIN = 2001
PIN_LOCKED = 8006
WRONG_PINS_BEFORE_LOCK = 3

# What each code means to a person watching the emulator (UI, logs).
RESULT_PLAIN_WORDS: dict[int | str, str] = {
    0: "paid",
    1: "insufficient funds",
    17: "rule limited (same amount, same customer, within 2 minutes)",
    1001: "phone busy with another prompt",
    1019: "request expired",
    1025: "push could not be sent",
    1032: "cancelled by the customer",
    1037: "timed out: no answer from the phone",
    2001: "wrong PIN",
    2028: "not permitted for this product",
    8006: "PIN locked after three wrong PINs",
    9999: "internal error",
    "SFC_IC0003": "operator does not exist",
}


def parse_result_code(stored: str) -> int | str:
    """Turn a stored result code back into its wire type (int, or the string codes)."""
    digits = stored.lstrip("-")
    return int(stored) if digits.isascii() and digits.isdigit() else stored


def result_desc(code: int | str, style: str = "current") -> str:
    """The ResultDesc Daraja sends with ``code``, in the current or the legacy style."""
    desc = RESULT_DESCRIPTIONS.get(code, RESULT_DESCRIPTIONS[9999])
    if style == "legacy" and code != SUCCESS:
        return LEGACY_DESC_PREFIX + (LEGACY_TIMEOUT_DESC if code == TIMED_OUT else desc)
    return desc
