"""Currencies donations can be counted in: the active ISO 4217 codes (list of 2025, SIX Group),
without precious metals, testing codes and fund units, which nobody gives in."""

from __future__ import annotations

CURRENCY_CODES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
    BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
    KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD
    NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS
    VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()
)


def currency_refusal(code: str) -> str | None:
    """Why this is not a currency code (with the likely one), or None."""
    if code in CURRENCY_CODES:
        return None
    if code.upper() in CURRENCY_CODES:
        return f"Currency codes are written in capitals: {code.upper()}."
    return f"“{code}” is not an ISO 4217 currency code: use e.g. USD, EUR, GBP, CAD or AUD."
