"""Phone numbers (E.164) and email addresses: validated value objects.

Both have a cheap constructor that takes the canonical form (what storage holds) and checks its
shape, and a `parse` that takes what a person typed and does the full validation: phone numbers
with Google's libphonenumber data, email addresses with ``email-validator`` (syntax only, no DNS).
"""

from __future__ import annotations

import re
from typing import Self

import attrs

from crmkit._validation import shown
from crmkit.errors import ValidationError

__all__ = ["EmailAddress", "PhoneNumber"]

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# Unpaired surrogates cannot be encoded as UTF-8: no store or driver would take them.
_EMAIL_SHAPE = re.compile(r"[^\s@\x00-\x1f\x7f\ud800-\udfff]+@[^\s@\x00-\x1f\x7f\ud800-\udfff]+")


def check_region(region: object, path: str) -> None:
    """Refuse `region` unless it is ``None`` or a region libphonenumber knows (``"CN"``)."""
    import phonenumbers

    if region is None:
        return
    if not isinstance(region, str):
        raise ValidationError.of(
            path, f"must be an ISO 3166 region such as 'CN', not {type(region).__name__}"
        )
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError.of(path, f"{shown(region)} is not a region with phone numbers")


@attrs.frozen(repr=False)
class PhoneNumber:
    """A phone number in E.164 form, e.g. ``+8613800138000``.

    Build one from what a person typed with `PhoneNumber.parse`, which validates the number
    against the numbering plan of its country; the constructor takes only the E.164 text.

    Examples:
        >>> PhoneNumber.parse("138 0013 8000", region="CN")
        PhoneNumber('+8613800138000')
        >>> PhoneNumber.parse("+1 650-253-0000").e164
        '+16502530000'
    """

    e164: str

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.e164, str) or not _E164.fullmatch(self.e164):
            raise ValidationError.of(
                "", f"{shown(self.e164)} is not an E.164 phone number (+8613800138000)"
            )

    @classmethod
    def parse(cls, text: str, *, region: str | None = None) -> Self:
        """Parse and validate a phone number as written, normalising it to E.164.

        Args:
            text: the number, with or without spaces, dashes and a ``+`` country code.
            region: ISO 3166 country (``"CN"``) whose national format `text` may be in; without
                it, `text` must start with ``+`` and the country code.

        Raises:
            ValidationError: the text is not a valid number for the region.
        """
        import phonenumbers

        if not isinstance(text, str):
            raise ValidationError.of("", f"must be a string, not {type(text).__name__}")
        check_region(region, "region")
        where = f"for region {region}" if region else "(no default region; start with +)"
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            raise ValidationError.of("", f"not a valid phone number {where}") from None
        if not phonenumbers.is_valid_number(number):
            raise ValidationError.of("", f"not a valid phone number {where}")
        return cls(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))

    @property
    def region(self) -> str | None:
        """The ISO 3166 country the number belongs to (``"CN"``), if its plan says."""
        import phonenumbers

        return phonenumbers.region_code_for_number(phonenumbers.parse(self.e164))

    def __str__(self) -> str:
        return self.e164

    def __repr__(self) -> str:
        return f"PhoneNumber({self.e164!r})"


@attrs.frozen(repr=False)
class EmailAddress:
    """A syntactically valid email address, with its domain in lower case.

    Examples:
        >>> EmailAddress.parse("Li.Wei@Example.COM")
        EmailAddress('Li.Wei@example.com')
    """

    address: str

    def __attrs_post_init__(self) -> None:
        a = self.address
        # At most 254 characters (RFC 3696 errata 1690), one @ with text on both sides, and no
        # whitespace or control characters.
        if not isinstance(a, str) or len(a) > 254 or not _EMAIL_SHAPE.fullmatch(a):  # noqa: PLR2004
            raise ValidationError.of("", f"{shown(a)} is not an email address")

    @classmethod
    def parse(cls, text: str) -> Self:
        """Validate an email address as written and normalise it.

        Raises:
            ValidationError: the syntax is not that of an email address.
        """
        import email_validator

        if not isinstance(text, str):
            raise ValidationError.of("", f"must be a string, not {type(text).__name__}")
        try:
            valid = email_validator.validate_email(text, check_deliverability=False)
        except email_validator.EmailNotValidError as e:
            raise ValidationError.of("", f"not a valid email address ({e})") from None
        return cls(valid.normalized)

    def __str__(self) -> str:
        return self.address

    def __repr__(self) -> str:
        return f"EmailAddress({self.address!r})"
