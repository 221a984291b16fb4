"""Money as organizers and donors read it: "$1,234.50" from exact decimal text. Pure Python: the
pages (dashboard/templatetags) and the admin (fundraiser) format with the same rules."""

from __future__ import annotations

import re

DECIMAL_TEXT = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")

# Intl.NumberFormat("en", {style: "currency"}) symbols; other codes show as "CHF 1,234.50".
CURRENCY_SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CAD": "CA$",
    "AUD": "A$",
    "NZD": "NZ$",
    "INR": "₹",
    "CNY": "CN¥",
    "HKD": "HK$",
    "MXN": "MX$",
    "BRL": "R$",
    "ILS": "₪",
    "KRW": "₩",
    "TWD": "NT$",
    "VND": "₫",
    "PHP": "₱",
}


def format_amount(value: str, currency: str = "", *, trim_zero_fraction: bool = False) -> str:
    """Format "1234.50" as "$1,234.50" (or "1,234.50" without a currency), keeping its places.

    Digit strings are grouped as they are: formatting a Decimal with a precision would round it to
    the context's 28 digits.
    """
    text = str(value).strip()
    match = DECIMAL_TEXT.fullmatch(text)
    if match is None:
        return text
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    if trim_zero_fraction and not fraction.strip("0"):
        fraction = ""
    digits = f"{int(whole):,}" + (f".{fraction}" if fraction else "")
    if not currency:
        return sign + digits
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{currency.upper()}\u00a0{digits}"
