"""The rule-based lead extractor on English and Arabic conversations."""

from __future__ import annotations

from decimal import Decimal

from chatflow.leads.extraction import extract
from chatflow.leads.model import LeadData


def test_english_conversation() -> None:
    data = extract([
        "Hi, my name is Sarah Johnson and I work at Acme Trading.",
        "I am interested in the 3-bedroom villa at Palm Jumeirah. Budget around AED 2.5m,"
        " we want to move within 3 months.",
        "Email sarah.j@acme.ae, phone 050 123 4567",
    ])  # fmt: skip
    assert data == LeadData(
        name="Sarah Johnson", email="sarah.j@acme.ae", phone="+971501234567",
        company="Acme Trading", interest="3-bedroom villa at Palm Jumeirah",
        budget_amount=Decimal("2500000"), budget_currency="AED", timeline="within 3 months",
    )  # fmt: skip


def test_arabic_conversation_with_arabic_indic_digits() -> None:
    data = extract([
        "مرحبا، اسمي أحمد المنصوري من شركة النور للتجارة",
        "أنا مهتم بشقة غرفتين في دبي مارينا، ميزانيتي ١٥٠٬٠٠٠ درهم",
        "رقمي ٠٥٠١٢٣٤٥٦٧ وأريد الانتقال خلال شهرين",
    ])  # fmt: skip
    assert data.name == "أحمد المنصوري"
    assert data.company == "النور للتجارة"
    assert data.interest == "شقة غرفتين في دبي مارينا"  # a weak "أريد" does not override it
    assert (data.budget_amount, data.budget_currency) == (Decimal("150000"), "AED")
    assert data.phone == "+971501234567"
    assert data.timeline == "خلال شهرين"
    assert data.email is None


def test_currencies_multipliers_and_corrections() -> None:
    assert extract(["ميزانيتي ٥٠ ألف ريال"]).budget_currency == "SAR"
    assert extract(["ميزانيتي ٥٠ ألف ريال"]).budget_amount == Decimal("50000")
    assert extract(["حوالي ٣٠٠٠ دولار"]).budget_currency == "USD"
    assert extract(["budget is $5,000"]).budget_amount == Decimal("5000")
    assert extract(["around 20k dirhams, next month"]).timeline == "next month"
    assert extract(["KSA office, 10000 SAR"]).budget_currency == "SAR"
    # A later message corrects an earlier one; a saudi number keeps its country code.
    data = extract(["budget 10000 AED", "sorry, make it 12000 AED", "call +966 55 123 4567"])
    assert (data.budget_amount, data.phone) == (Decimal("12000"), "+966551234567")


def test_nothing_is_guessed_without_a_cue() -> None:
    data = extract(["Hello", "What are your opening hours?", "I'm from Dubai", "شكرا"])
    assert data == LeadData()
