"""ISO 4217 currency codes and the number of their minor units (digits after the decimal point).

The active codes of ISO 4217 list one, less the precious metals, the testing codes and the units
of account that have no minor unit (XAU, XAG, XDR, XTS, XXX, ...).
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["ALIASES", "MINOR_UNITS"]

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL
MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK
PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS
TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG
"""

MINOR_UNITS: MappingProxyType[str, int] = MappingProxyType(
    {
        code: digits
        for codes, digits in ((_TWO, 2), (_ZERO, 0), (_THREE, 3), (_FOUR, 4))
        for code in codes.split()
    }
)

ALIASES: MappingProxyType[str, str] = MappingProxyType(
    {
        "RMB": "CNY",  # renminbi, the name of the currency whose unit is the yuan
        "CNH": "CNY",  # offshore yuan: a market name, not an ISO 4217 code
        "NTD": "TWD",
        "YEN": "JPY",
        "EURO": "EUR",
    }
)
"""Names people write for a currency, with the ISO 4217 code to write instead."""
